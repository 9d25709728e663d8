// Part of `npm run bench` (bundled and run by bench/scheduler.mjs): capacity. 50 beads slung to one rig with
// scheduler.max_polecats 8, worked by the sim agent in real tmux sessions, dispatched by the daemon as polecats
// hand their work in; the number of live polecat sessions sampled throughout. Then the refinery lands every
// merge request. Results go to bench/SCHEDULER.md and bench/scheduler.json.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { cleanEnv } from '../test/helpers/bd.js';
import { townWithRig } from '../test/helpers/town-fixture.js';

const ROOT = process.env.GT_BENCH_ROOT ?? process.cwd();
const GT = join(ROOT, 'dist', 'gt.cjs');
const SLINGS = Number(process.env.BENCH_SCHED_SLINGS ?? 50);
const MAX = Number(process.env.BENCH_SCHED_MAX ?? 8);
/** Each bead's script sleeps this long, so that polecats overlap the way real work does. */
const WORK_S = Number(process.env.BENCH_SCHED_WORK_S ?? 2);
const SAMPLE_MS = 100;
const TIMEOUT_MS = 170_000;

const progress = (t: string): void => void process.stderr.write(`bench: ${t}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function gt(env: Record<string, string>, cwd: string, ...args: string[]): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GT, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) reject(new Error(`gt ${args.join(' ')} failed: ${stderr}`));
      else resolve({ ms: performance.now() - t0, stdout });
    });
  });
}

type Results = {
  date: string;
  node: string;
  cpus: number;
  cpu_model: string;
  slings: number;
  max_polecats: number;
  work_seconds: number;
  sling_command_ms: number;
  queued_by_sling: number;
  started_by_sling: number;
  nudged_by_sling: number;
  max_live_polecat_sessions: number;
  max_busy_polecats: number;
  samples: number;
  polecats_made: number;
  sessions_started: number;
  dispatched_by_daemon: number;
  handed_in_ms: number;
  refinery_ms: number;
  wall_ms: number;
  beads_closed: number;
  holds: boolean;
};

function report(r: Results): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return `# Scheduler: capacity

Measured ${r.date} with Node ${r.node} on ${r.cpus} × ${r.cpu_model}: real tmux, git, the store, the built gt in a
clean environment, the daemon, and the sim agent.

Workload: ${r.slings} beads slung to one rig in one \`gt sling\` with \`scheduler.max_polecats\` ${r.max_polecats} in the
town's settings.json. Each bead's work is a script that sleeps ${r.work_seconds} s and writes its own file; the sim
commits it and runs \`gt done\`, which wakes the daemon, which dispatches the next queued sling (by priority, then
first come first served) to an idle polecat — told the new bead in its open session, on a fresh branch — or a new
one while there are fewer than ${r.max_polecats}. The live polecat sessions (tmux) and the busy polecats (work on
the hook) were sampled every ${SAMPLE_MS} ms (${r.samples} samples). When all were handed in,
\`gt refinery run <rig> --until-empty\` landed the merge requests.

| | measured |
|---|---:|
| live polecat sessions, most at any sample | ${r.max_live_polecat_sessions} (cap ${r.max_polecats}) |
| busy polecats, most at any sample | ${r.max_busy_polecats} |
| polecats made / sessions started | ${r.polecats_made} / ${r.sessions_started} |
| queued slings dispatched by the daemon | ${r.dispatched_by_daemon} of ${r.queued_by_sling} |
| \`gt sling\` of all ${r.slings}: ${r.started_by_sling} started, ${r.nudged_by_sling} told to an idle polecat that had already finished, ${r.queued_by_sling} queued | ${s(r.sling_command_ms)} |
| until every bead was handed in | ${s(r.handed_in_ms)} |
| \`gt refinery run --until-empty\` | ${s(r.refinery_ms)} |
| wall time | ${s(r.wall_ms)} |
| beads done (closed: landed on main) | ${r.beads_closed} / ${r.slings} |

| goal | result |
|---|---|
| at most ${r.max_polecats} polecat sessions at any time, and every bead landed | ${r.holds ? 'holds' : '**does NOT hold**'}: at most ${r.max_live_polecat_sessions} sessions, ${r.beads_closed}/${r.slings} landed |
`;
}

async function main(): Promise<void> {
  const fixture = await townWithRig('bench-scheduler');
  const { town, base } = fixture;
  const env = cleanEnv(join(base, 'home'), { BD_ACTOR: 'bench' });
  saveSettings(town, { ...loadSettings(town), default_agent: 'sim', scheduler: { max_polecats: MAX } });
  const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
  const store = openSqliteBeadStore(town.dbPath);
  try {
    const ids: string[] = [];
    for (let i = 0; i < SLINGS; i++)
      ids.push(
        (
          await store.create(
            {
              title: `part ${i}`,
              description: `\`\`\`sh\nsleep ${WORK_S}\nprintf 'part ${i}\\n' > part${i}.txt\n\`\`\`\n`,
            },
            'bench',
          )
        ).id,
      );
    await gt(env, town.root, 'daemon', 'start', '--tick', '30');

    // The sampler: live tmux sessions of polecats, and polecats with work on their hook.
    let maxSessions = 0;
    let maxBusy = 0;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const polecats = await store.agents({ role: 'polecat' });
        const names = new Set(polecats.map((p) => p.session_name));
        const live = (await provider.list()).filter((n) => names.has(n)).length;
        maxSessions = Math.max(maxSessions, live);
        maxBusy = Math.max(maxBusy, polecats.filter((p) => p.hook_bead !== null).length);
        samples++;
        await sleep(SAMPLE_MS);
      }
    })();

    progress(`${SLINGS} slings to gastown, scheduler.max_polecats ${MAX}`);
    const t0 = performance.now();
    const slung = await gt(env, town.root, 'sling', ...ids, 'gastown', '--json');
    const actions = (JSON.parse(slung.stdout) as { action: string }[]).map((r) => r.action);
    progress(
      `sling: ${actions.filter((a) => a === 'queued').length} queued, ${actions.filter((a) => a === 'started').length} started`,
    );
    const deadline = Date.now() + TIMEOUT_MS;
    let handedIn = 0;
    while (Date.now() < deadline) {
      handedIn = (await store.show(ids)).filter((b) => typeof b.metadata.gt_merge_request === 'string').length;
      if (handedIn === SLINGS) break;
      await sleep(250);
    }
    const handedInMs = performance.now() - t0;
    progress(`${handedIn}/${SLINGS} handed in after ${(handedInMs / 1000).toFixed(1)} s`);
    sampling = false;
    await sampler;

    const r0 = performance.now();
    await gt(env, town.root, 'refinery', 'run', 'gastown', '--until-empty', '--json');
    const refineryMs = performance.now() - r0;
    const closed = (await store.show(ids)).filter((b) => b.status === 'closed').length;
    progress(`refinery: ${closed}/${SLINGS} closed after ${(refineryMs / 1000).toFixed(1)} s`);

    const polecats = await store.agents({ role: 'polecat' });
    let sessionsStarted = 0;
    for (const p of polecats) sessionsStarted += (await store.sessions(p.address)).length;
    const log = JSON.parse((await gt(env, town.root, 'daemon', 'status', '--lines', '100000', '--json')).stdout) as {
      log: { event?: string; result?: string }[];
    };
    await gt(env, town.root, 'daemon', 'stop');

    const results: Results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      slings: SLINGS,
      max_polecats: MAX,
      work_seconds: WORK_S,
      sling_command_ms: slung.ms,
      queued_by_sling: actions.filter((a) => a === 'queued').length,
      started_by_sling: actions.filter((a) => a === 'started').length,
      nudged_by_sling: actions.filter((a) => a === 'nudged').length,
      max_live_polecat_sessions: maxSessions,
      max_busy_polecats: maxBusy,
      samples,
      polecats_made: polecats.length,
      sessions_started: sessionsStarted,
      dispatched_by_daemon: log.log.filter((l) => l.event === 'dispatch' && l.result === 'dispatched').length,
      handed_in_ms: handedInMs,
      refinery_ms: refineryMs,
      wall_ms: performance.now() - t0,
      beads_closed: closed,
      holds: maxSessions <= MAX && closed === SLINGS,
    };
    writeFileSync(join(ROOT, 'bench', 'scheduler.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = report(results);
    writeFileSync(join(ROOT, 'bench', 'SCHEDULER.md'), md);
    process.stdout.write(md);
    if (!results.holds) {
      process.exitCode = 1;
      progress('the capacity goal was missed (see SCHEDULER.md)');
    }
  } finally {
    store.dispose();
    await gt(env, town.root, 'daemon', 'stop').catch(() => undefined);
    await provider.killServer();
    fixture.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
