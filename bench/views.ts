// Part of `npm run bench` (bundled and run by bench/views.mjs): what watching the town costs. The town's CPU
// per hour with 30 idle sim agents and the daemon, (a) with no viewer, (b) with one dashboard tab and one
// gt feed open, (c) with ten dashboard tabs; and the time from an event in the store to the open page showing
// it. The tabs are pages of a real headless Chromium; the browser's own CPU is not the town's and is not
// counted. Results go to bench/VIEWS.md and bench/views.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { addPolecat } from '../src/town/polecat.js';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { cleanEnv } from '../test/helpers/bd.js';
import { townWithRig } from '../test/helpers/town-fixture.js';

const ROOT = process.env.GT_BENCH_ROOT ?? process.cwd();
const GT = join(ROOT, 'dist', 'gt.cjs');
const AGENTS = Number(process.env.BENCH_VIEWS_AGENTS ?? 30);
const WINDOW_S = Number(process.env.BENCH_VIEWS_WINDOW_S ?? 120);
const LATENCY_ROUNDS = Number(process.env.BENCH_VIEWS_ROUNDS ?? 15);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

type Env = Record<string, string>;
const progress = (t: string): void => void process.stderr.write(`bench: ${t}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const load1 = (): number => Number((loadavg()[0] ?? 0).toFixed(2));
const quantile = (values: readonly number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};

function gt(env: Env, cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GT, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) =>
      status === 0 ? resolve(stdout) : reject(new Error(`gt ${args[0] ?? ''}: ${stderr}`)),
    );
  });
}

/** CPU ms of a process and its reaped children (utime, stime, cutime, cstime; Linux USER_HZ is 100). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  return ([11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0) * 1000) / 100;
}

/** Starts `gt dashboard` on a free port and waits for its JSON line. */
async function startDashboard(env: Env, cwd: string): Promise<{ child: ChildProcess; url: string; pid: number }> {
  const child = spawn(process.execPath, [GT, 'dashboard', '--port', '0', '--json'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gt dashboard printed no URL in 20 s')), 20_000);
    child.stdout?.on('data', (d: string) => {
      out += d;
      let parsed: { url?: unknown };
      try {
        parsed = JSON.parse(out) as { url?: unknown };
      } catch {
        return; // not all of it yet
      }
      clearTimeout(timer);
      if (typeof parsed.url === 'string') resolve(parsed.url);
      else reject(new Error(`gt dashboard printed no url: ${out}`));
    });
    child.on('exit', (code) => reject(new Error(`gt dashboard exited (${code ?? 'signal'})`)));
  });
  return { child, url, pid: child.pid ?? 0 };
}

const summary = (v: readonly number[]): Latency => ({
  median: quantile(v, 0.5),
  p95: quantile(v, 0.95),
  max: Math.max(...v),
  rounds: v.length,
});

type Latency = { median: number; p95: number; max: number; rounds: number };

/** `gt feed --plain --follow --json` running; for each event filed, the time until its line is printed. */
async function followLatencies(env: Env, cwd: string, file: (title: string) => Promise<string>): Promise<number[]> {
  const child = spawn(process.execPath, [GT, 'feed', '--plain', '--follow', '--json', '--last', '0'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { title: string; resolve: (ms: number) => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    const now = Date.now();
    for (const w of waiters.splice(0)) {
      if (out.includes(w.title)) w.resolve(now);
      else waiters.push(w);
    }
  });
  try {
    await sleep(2_000); // started, following
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_ROUNDS; i++) {
      const title = `bench follow ${i} ${Date.now().toString(36)}`;
      const printed = new Promise<number>((resolve, reject) => {
        waiters.push({ title, resolve });
        setTimeout(() => reject(new Error(`gt feed --follow printed no "${title}" in 30 s`)), 30_000).unref();
      });
      const at = await file(title);
      latencies.push((await printed) - Date.parse(at));
      await sleep(300);
    }
    return latencies;
  } finally {
    child.kill('SIGTERM');
  }
}

type Scenario = { key: 'none' | 'one-tab-and-feed' | 'ten-tabs'; what: string; tabs: number; feed: boolean };
const SCENARIOS: Scenario[] = [
  { key: 'none', what: 'no viewer', tabs: 0, feed: false },
  { key: 'one-tab-and-feed', what: 'one dashboard tab and one gt feed', tabs: 1, feed: true },
  { key: 'ten-tabs', what: 'ten dashboard tabs (ten browser contexts)', tabs: 10, feed: false },
];

type Row = {
  scenario: Scenario['key'];
  what: string;
  window_s: number;
  daemon_cpu_s: number;
  viewers_cpu_s: number;
  /** The viewers' CPU (dashboard server, feed) per hour, in seconds. */
  viewers_per_hour_s: number;
  /** The viewers' CPU as a share of one core. */
  viewers_core_pct: number;
  town_per_hour_s: number;
  load: number;
};

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or CHROMIUM_PATH)`);
  const fixture = await townWithRig('bench-views');
  const { town, base } = fixture;
  const env = cleanEnv(join(base, 'home'), { BD_ACTOR: 'bench' });
  saveSettings(town, { ...loadSettings(town), default_agent: 'sim' });
  const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
  // The feed runs in a terminal of its own: a tmux server apart from the town's, so the town's is as measured.
  const feedTmux = new TmuxSessionProvider(`${town.tmuxSocket}-feed`, join(base, 'feed-tmux'));
  const store = openSqliteBeadStore(town.dbPath);
  let browser: Browser | undefined;
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
  try {
    progress(`${AGENTS} polecats, each with an idle sim session`);
    const names: string[] = [];
    for (let i = 0; i < AGENTS; i++)
      names.push(
        (
          await addPolecat(town, 'gastown', {
            name: `idle${i}`,
            actor: 'bench',
            ownerEmail: town.owner,
            nowMs: Date.now(),
          })
        ).address,
      );
    for (let i = 0; i < names.length; i += 6)
      await Promise.all(names.slice(i, i + 6).map((n) => gt(env, town.root, 'session', 'start', n)));
    const daemon = JSON.parse(await gt(env, town.root, 'daemon', 'start', '--json')) as { pid: number };
    await sleep(10_000); // past its first passes
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      protocolTimeout: 60_000,
      userDataDir: join(base, 'chromium-profile'),
      args: [
        ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--no-default-browser-check',
      ],
    });
    const rows: Row[] = [];
    for (const s of SCENARIOS) {
      const pages: Page[] = [];
      let feedPid: number | undefined;
      if (s.tabs > 0) {
        dashboard = await startDashboard(env, town.root);
        // Each tab in a browser context of its own: ten viewers, ten streams (tabs of one browser share one).
        for (let i = 0; i < s.tabs; i++) {
          const context = await browser.createBrowserContext();
          const page = await context.newPage();
          await page.goto(dashboard.url, { waitUntil: 'load' });
          pages.push(page);
        }
      }
      if (s.feed) {
        await feedTmux.start({
          name: 'feed',
          cwd: town.root,
          argv: [process.execPath, GT, 'feed'],
          env: { ...env, TERM: 'xterm-256color' },
        });
        await sleep(2_000);
        feedPid = await feedTmux.programPid('feed');
      }
      progress(`${s.what}: CPU over ${WINDOW_S} s`);
      await sleep(5_000);
      const viewers = [dashboard?.pid, feedPid].filter((p): p is number => p !== undefined && p > 0);
      const d0 = cpuMs(daemon.pid);
      const v0 = viewers.map(cpuMs);
      const t0 = Date.now();
      await sleep(WINDOW_S * 1000);
      const windowMs = Date.now() - t0;
      const daemonS = (cpuMs(daemon.pid) - d0) / 1000;
      const viewersS = viewers.reduce((sum, p, i) => sum + cpuMs(p) - (v0[i] ?? 0), 0) / 1000;
      rows.push({
        scenario: s.key,
        what: s.what,
        window_s: Math.round(windowMs / 1000),
        daemon_cpu_s: daemonS,
        viewers_cpu_s: viewersS,
        viewers_per_hour_s: (viewersS / windowMs) * 3_600_000,
        viewers_core_pct: (viewersS / (windowMs / 1000)) * 100,
        town_per_hour_s: ((daemonS + viewersS) / windowMs) * 3_600_000,
        load: load1(),
      });
      progress(`${s.what}: viewers ${rows.at(-1)?.viewers_core_pct.toFixed(2)} % of a core`);
      for (const p of pages) await p.browserContext().close();
      if (s.feed) await feedTmux.stop('feed');
      if (dashboard !== undefined) {
        dashboard.child.kill('SIGTERM');
        await new Promise((r) => dashboard?.child.once('exit', r));
        dashboard = undefined;
      }
    }

    // From an event in the store to the open page showing it.
    progress(`event to page, ${LATENCY_ROUNDS} rounds`);
    dashboard = await startDashboard(env, town.root);
    const page = await browser.newPage();
    await page.goto(dashboard.url, { waitUntil: 'load' });
    await sleep(1_000);
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_ROUNDS; i++) {
      const title = `bench event ${i} ${Date.now().toString(36)}`;
      const shown = page.waitForFunction(`document.body.innerText.includes(${JSON.stringify(title)}) && Date.now()`, {
        polling: 'raf',
        timeout: 30_000,
      });
      const bead = await store.create({ title }, 'bench');
      const atMs = await (await shown).jsonValue();
      latencies.push(Number(atMs) - Date.parse(bead.created_at));
      await sleep(300);
    }
    await page.close();

    // From an event in the store to `gt feed --plain --follow` printing it.
    progress(`event to gt feed --plain --follow, ${LATENCY_ROUNDS} rounds`);
    const follow = await followLatencies(
      env,
      town.root,
      async (title) => (await store.create({ title }, 'bench')).created_at,
    );
    await gt(env, town.root, 'daemon', 'stop');

    const none = rows.find((r) => r.scenario === 'none');
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      agents: AGENTS,
      window_s: WINDOW_S,
      rows,
      daemon_baseline_per_hour_s: none === undefined ? NaN : (none.daemon_cpu_s / none.window_s) * 3600,
      event_to_page_ms: summary(latencies),
      event_to_follow_ms: summary(follow),
    };
    writeFileSync(join(ROOT, 'bench', 'views.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = report(results);
    writeFileSync(join(ROOT, 'bench', 'VIEWS.md'), md);
    process.stdout.write(md);
  } finally {
    await browser?.close().catch(() => undefined);
    dashboard?.child.kill('SIGTERM');
    await gt(env, town.root, 'daemon', 'stop').catch(() => undefined);
    await feedTmux.killServer().catch(() => undefined);
    store.dispose();
    await provider.killServer();
    fixture.cleanup();
  }
}

function report(r: {
  date: string;
  node: string;
  cpus: number;
  cpu_model: string;
  agents: number;
  window_s: number;
  rows: Row[];
  daemon_baseline_per_hour_s: number;
  event_to_page_ms: Latency;
  event_to_follow_ms: Latency;
}): string {
  const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');
  const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');
  const lines = [
    '# What watching the town costs',
    '',
    `Measured ${r.date} with Node ${r.node} on ${r.cpus} × ${r.cpu_model}: a town with ${r.agents} polecats, each`,
    'with a live idle session running the sim agent, and the daemon. Each scenario is measured over',
    `${r.window_s} s: the CPU (user and system, with reaped children) of the daemon and of the viewers' own`,
    'processes: the `gt dashboard` server (one watcher however many tabs, updates pushed over server-sent',
    'events) and `gt feed` (full screen, in a terminal of its own). The tabs are pages of a real headless',
    "Chromium, whose own CPU is the browser's, not the town's. Goal: the viewers' extra cost under 1 % of one",
    'core with ten tabs.',
    '',
    '| viewers | daemon CPU s | viewers CPU s | viewers per hour | viewers, % of a core | town per hour | load |',
    '|---|---|---|---|---|---|---|',
    ...r.rows.map(
      (x) =>
        `| ${x.what} | ${f1(x.daemon_cpu_s)} | ${f1(x.viewers_cpu_s)} | ${f1(x.viewers_per_hour_s)} s | ${f2(x.viewers_core_pct)} % | ${f1(x.town_per_hour_s)} s | ${f2(x.load)} |`,
    ),
    '',
    `The daemon alone: ${f1(r.daemon_baseline_per_hour_s)} s of CPU per hour.`,
    '',
    '## From an event to the open page',
    '',
    'A bead is filed in the store (by this process, as any gt or bd would); the time until the open tab shows',
    "its title, from the event's own timestamp to the page's clock at the frame that shows it (same machine):",
    `median ${f1(r.event_to_page_ms.median)} ms, p95 ${f1(r.event_to_page_ms.p95)} ms, worst ${f1(r.event_to_page_ms.max)} ms over ${r.event_to_page_ms.rounds} events (goal: under 1 s).`,
    '',
    '## From an event to `gt feed --plain --follow`',
    '',
    "The same, to the line `gt feed --plain --follow --json` prints, from the event's timestamp to this process",
    `reading the line: median ${f1(r.event_to_follow_ms.median)} ms, p95 ${f1(r.event_to_follow_ms.p95)} ms, worst ${f1(r.event_to_follow_ms.max)} ms over ${r.event_to_follow_ms.rounds} events (goal: under 1 s).`,
    '',
  ];
  return lines.join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
