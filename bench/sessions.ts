// Part of `npm run bench` (bundled and run by bench/sessions.mjs): how fast agent sessions start and how
// fast nudges arrive, with real tmux, the built gt, the sim agent, and the real Claude Code CLI against the
// scripted model server. Results go to bench/SESSIONS.md and bench/sessions.json.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { addPolecat } from '../src/town/polecat.js';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { cleanEnv } from '../test/helpers/bd.js';
import { CLAUDE_BIN, claudeAvailable, makeClaudeHome } from '../test/helpers/claude-home.js';
import { townWithRig } from '../test/helpers/town-fixture.js';
import { lastUserPrompt, startScriptedModel } from '../test/helpers/scripted-model.js';

const ROOT = process.env.GT_BENCH_ROOT ?? process.cwd();
const GT = join(ROOT, 'dist', 'gt.cjs');
const ROUNDS = Number(process.env.BENCH_SESSION_ROUNDS ?? 10);
const TOAST = 'gastown/polecats/toast';

const quantile = (values: number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const progress = (t: string): void => void process.stderr.write(`bench: ${t}\n`);

/** Runs gt without blocking this process: the scripted model server lives in it and must keep answering. */
function gt(env: Record<string, string>, cwd: string, ...args: string[]): Promise<{ ms: number; stdout: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GT, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (status !== 0) reject(new Error(`gt ${args.join(' ')} failed: ${stderr}`));
      else resolve({ ms, stdout });
    });
  });
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Row = { what: string; n: number; p50: number; p95: number; max: number };
const row = (what: string, values: number[]): Row => ({
  what,
  n: values.length,
  p50: quantile(values, 0.5),
  p95: quantile(values, 0.95),
  max: Math.max(...values),
});

async function main(): Promise<void> {
  // The same town the integration tests use: rig "gastown" from a bare remote, in a clean environment.
  const fixture = await townWithRig('bench-sessions');
  const { town, base } = fixture;
  const env = cleanEnv(join(base, 'home'), { BD_ACTOR: 'bench' });
  await addPolecat(town, 'gastown', { name: 'toast', actor: 'bench', ownerEmail: town.owner, nowMs: Date.now() });
  saveSettings(town, { ...loadSettings(town), default_agent: 'sim' });
  const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
  const store = openSqliteBeadStore(town.dbPath);
  const rows: Row[] = [];
  const cpuRows: { what: string; value: string }[] = [];
  const status = async (): Promise<{ pane: string | null }> =>
    JSON.parse((await gt(env, town.root, 'session', 'status', TOAST, '--json')).stdout) as { pane: string | null };
  const traceFile = join(town.root, '.runtime', 'sim', 'ga-toast.jsonl');
  const traceHas = (text: string): boolean => {
    try {
      return readFileSync(traceFile, 'utf8').includes(text);
    } catch {
      return false;
    }
  };
  try {
    const only = process.env.BENCH_ONLY;
    progress(`sim: ${ROUNDS} starts and stops`);
    const starts: number[] = [];
    const stops: number[] = [];
    // BENCH_ONLY: daemon (recovery and CPU), cpu, or recovery (the kill -9 rounds alone).
    const skip = only === 'daemon' || only === 'cpu' || only === 'recovery';
    for (let i = 0; i < (skip ? 0 : ROUNDS); i++) {
      starts.push((await gt(env, town.root, 'session', 'start', TOAST)).ms);
      stops.push((await gt(env, town.root, 'session', 'stop', TOAST)).ms);
    }
    rows.push(row('sim: `gt session start` until ready', starts), row('`gt session stop` (whole process tree)', stops));

    progress(`sim: ${ROUNDS * 2} nudges into an idle session`);
    await gt(env, town.root, 'session', 'start', TOAST);
    const typed: number[] = [];
    const seen: number[] = [];
    for (let i = 0; i < (skip ? 0 : ROUNDS * 2); i++) {
      await until(async () => (await status()).pane === 'idle', 'idle');
      const t0 = Date.now();
      typed.push((await gt(env, town.root, 'nudge', TOAST, `bench-${i}-x`)).ms);
      await until(() => traceHas(`bench-${i}-x`), 'the nudge in the trace');
      seen.push(Date.now() - t0);
    }
    rows.push(
      row('sim: `gt nudge` to an idle agent (typed, submitted, verified)', typed),
      row('sim: nudge sent until the agent has it', seen),
    );

    progress(`sim: ${ROUNDS * 2} nudges queued while busy, handed over at the next turn`);
    const handed: number[] = [];
    for (let i = 0; i < (skip ? 0 : ROUNDS * 2); i++) {
      await gt(env, town.root, 'nudge', TOAST, `queued-${i}-x`, '--mode', 'queue');
      const t0 = Date.now();
      await gt(env, town.root, 'nudge', TOAST, `turn-${i}`);
      await until(() => traceHas(`queued-${i}-x`), 'the queued nudge in the trace');
      handed.push(Date.now() - t0);
    }
    rows.push(row('sim: queued nudge until handed over at the next turn', handed));
    await gt(env, town.root, 'session', 'stop', TOAST);

    if (only !== 'cpu') {
      progress(`daemon: ${ROUNDS} kill -9s of a working agent`);
      const settings = loadSettings(town);
      // Each kill measured as a first death: repeated deaths of one agent within the window are backed off
      // on purpose (10 s, 20 s, …), which is not what this measures.
      saveSettings(town, { ...settings, daemon: { ...settings.daemon, quarantine_window_seconds: 1 } });
      const bead = await store.create({ title: 'long job', description: '```sh\nsleep 600\n```' }, 'bench');
      await gt(env, town.root, 'sling', bead.id, TOAST);
      await gt(env, town.root, 'daemon', 'start');
      const count = (step: string): number => {
        try {
          return readFileSync(traceFile, 'utf8')
            .split('\n')
            .filter((l) => l.includes(`"step":"${step}"`)).length;
        } catch {
          return 0;
        }
      };
      const primes = (): number => count('prime');
      await until(() => count('running') >= 1, 'the slung agent to be working');
      const base = primes(); // the slung session has primed
      let kills = 0;
      const recoveryRounds = async (): Promise<number[]> => {
        const recovery: number[] = [];
        for (let r = 0; r < ROUNDS; r++, kills++) {
          const i = kills;
          await until(() => count('running') >= i + 1, 'the agent to be working');
          // Past the 1 s death window of the previous kill, so that this one is a first death as well.
          await new Promise((res) => setTimeout(res, 1_100));
          const pid = await provider.programPid('ga-toast');
          if (pid === undefined) throw new Error('no agent process in ga-toast');
          const t0 = Date.now();
          process.kill(pid, 'SIGKILL');
          await until(() => primes() >= base + i + 1, 'the successor to prime').catch(async (err: unknown) => {
            progress(
              `round ${i}: primes ${primes()} base ${base}; daemon log:\n${(await gt(env, town.root, 'daemon', 'status', '--lines', '30')).stdout}`,
            );
            progress((await gt(env, town.root, 'session', 'status', TOAST)).stdout);
            progress((await gt(env, town.root, 'peek', TOAST, '-n', '15')).stdout);
            throw err;
          });
          recovery.push(Date.now() - t0);
          progress(`round ${i}: ${recovery.at(-1)} ms`);
        }
        return recovery;
      };
      const quiet = await recoveryRounds();
      rows.push(row('daemon: `kill -9` of a working agent until its successor runs `gt prime`', quiet));

      // The same, while the rig is busy the way the fault tests make it busy: slings that each make or renew a
      // polecat (fetch, worktree, branch, under the shared clone's lock), LOAD of them at once, without pause.
      const LOAD = Number(process.env.BENCH_RECOVERY_LOAD ?? 3);
      progress(`daemon: ${ROUNDS} kill -9s while ${LOAD} slings at a time make polecats`);
      let loading = true;
      let slung = 0;
      const loadLoop = async (): Promise<void> => {
        while (loading) {
          const job = await store.create({ title: `load ${slung}` }, 'bench');
          const hooked = JSON.parse((await gt(env, town.root, 'hook', job.id, 'gastown', '--json')).stdout) as {
            agent: string;
          };
          slung++;
          // Off the hook again at once, so that the daemon has no new work to start (and the polecat is reused).
          await gt(env, town.root, 'unsling', hooked.agent);
        }
      };
      const loops = Array.from({ length: LOAD }, () => loadLoop());
      let loaded: number[];
      try {
        loaded = await recoveryRounds();
      } finally {
        loading = false;
        await Promise.all(loops);
      }
      rows.push(
        row(
          `daemon: the same, while ${LOAD} slings at a time make or renew polecats (${slung} slings in the window)`,
          loaded,
        ),
      );
      const GOAL_MS = 480;
      const p50 = (v: number[]): number => quantile(v, 0.5);
      const holds = p50(quiet) <= GOAL_MS && p50(loaded) <= GOAL_MS;
      cpuRows.push({
        what: `recovery goal: successor primed within ${GOAL_MS} ms p50, quiet and under load`,
        value: `${holds ? 'holds' : 'does NOT hold'}: p50 ${Math.round(p50(quiet))} ms quiet, ${Math.round(p50(loaded))} ms under load (${(p50(loaded) / p50(quiet)).toFixed(2)}× the quiet run)`,
      });
      await gt(env, town.root, 'daemon', 'stop');
      await gt(env, town.root, 'session', 'stop', TOAST);
      await store.unhook(TOAST, 'bench');
    }

    if (only === undefined || only === 'daemon' || only === 'cpu') {
      const AGENTS = Number(process.env.BENCH_IDLE_AGENTS ?? 30);
      const WINDOW_S = Number(process.env.BENCH_DAEMON_WINDOW_S ?? 180);
      progress(
        `daemon: CPU over ${WINDOW_S} s with ${AGENTS} idle agents (tick ${loadSettings(town).daemon.heartbeat_seconds} s)`,
      );
      const names: string[] = [];
      for (let i = 0; i < AGENTS; i++) {
        const a = await addPolecat(town, 'gastown', {
          name: `idle${i}`,
          actor: 'bench',
          ownerEmail: town.owner,
          nowMs: Date.now(),
        });
        names.push(a.address);
      }
      // Started in parallel, a few at a time (each start waits for its agent to be ready).
      for (let i = 0; i < names.length; i += 6)
        await Promise.all(names.slice(i, i + 6).map((n) => gt(env, town.root, 'session', 'start', n)));
      const ticksPerS = 100; // Linux USER_HZ
      const cpuMs = (pid: number): number => {
        // utime, stime, cutime, cstime: the process and its reaped children (its tmux clients, ps).
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
          .replace(/^.*\) /s, '')
          .split(' ');
        return ([11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0) * 1000) / ticksPerS;
      };
      const daemon = JSON.parse((await gt(env, town.root, 'daemon', 'start', '--json')).stdout) as { pid: number };
      await new Promise((r) => setTimeout(r, 10_000)); // past its first pass
      const c0 = cpuMs(daemon.pid);
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
      const used = cpuMs(daemon.pid) - c0;
      const perHourS = (used / (Date.now() - t0)) * 3600;
      const alive = (await provider.list()).filter((n) => n.startsWith('ga-idle')).length;
      cpuRows.push({
        what: `daemon CPU (incl. its tmux and ps children) with ${AGENTS} idle agents, ${WINDOW_S} s window`,
        value: `${perHourS.toFixed(1)} s per hour (${(perHourS / 36).toFixed(2)} % of one core); ${alive}/${AGENTS} sessions still running`,
      });
      await gt(env, town.root, 'daemon', 'stop');
      for (let i = 0; i < names.length; i += 6)
        await Promise.all(names.slice(i, i + 6).map((n) => gt(env, town.root, 'session', 'stop', n)));
    }

    if (claudeAvailable() && only === undefined) {
      progress(`claude: ${ROUNDS} starts against the scripted model`);
      const model = await startScriptedModel((req) => (lastUserPrompt(req).includes('PING') ? 'pong' : 'ok'));
      try {
        const claudeHome = makeClaudeHome(join(base, 'claude'), [town.root]);
        const cenv = { ...env, ...claudeHome.env(model.url) };
        await gt(
          cenv,
          town.root,
          'config',
          'agent',
          'set',
          'claude-bench',
          '--preset',
          'claude',
          '--command',
          CLAUDE_BIN,
          '--env',
          `XDG_DATA_HOME=${join(base, 'claude', 'xdg')}`,
        );
        const cstarts: number[] = [];
        const cnudges: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          cstarts.push((await gt(cenv, town.root, 'session', 'start', TOAST, '--agent', 'claude-bench')).ms);
          await until(async () => (await status()).pane === 'idle', 'claude idle');
          const t0 = Date.now();
          await gt(cenv, town.root, 'nudge', TOAST, `PING ${i}`);
          await model.waitForConversation((r) => lastUserPrompt(r) === `[from bench] PING ${i}`);
          cnudges.push(Date.now() - t0);
          await gt(cenv, town.root, 'session', 'stop', TOAST);
        }
        rows.push(
          row('claude: `gt session start` until ready', cstarts),
          row('claude: nudge sent until the model has it', cnudges),
        );
      } finally {
        await model.close();
      }
    }
  } finally {
    await gt(env, town.root, 'daemon', 'stop').catch(() => undefined);
    store.dispose();
    await provider.killServer();
    fixture.cleanup();
  }
  const when = new Date().toISOString();
  writeFileSync(
    join(ROOT, 'bench', 'sessions.json'),
    `${JSON.stringify({ when, node: process.version, rows, cpu: cpuRows }, null, 2)}\n`,
  );
  const fmt = (n: number): string => `${Math.round(n)} ms`;
  const md = [
    '# Sessions and nudges',
    '',
    `Measured ${when} with Node ${process.version}, real tmux, the built gt in a clean environment (every gt call is a`,
    'new process, so start-up is included), the sim agent, and the real Claude Code CLI against the scripted',
    'Messages API server. Wall-clock times per operation.',
    '',
    '| operation | n | p50 | p95 | max |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.what} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${fmt(r.max)} |`),
    '',
    ...(cpuRows.length === 0
      ? []
      : ['| cost | measured |', '|---|---|', ...cpuRows.map((c) => `| ${c.what} | ${c.value} |`), '']),
  ].join('\n');
  writeFileSync(join(ROOT, 'bench', 'SESSIONS.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
