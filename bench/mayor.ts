// Part of `npm run bench` (bundled and run by bench/mayor.mjs): the person's side of the town. The wall time of
// the commands the Mayor, the overseer and every agent's hooks run, in one town with 30 idle sim polecats, 200
// work beads, 20 convoys and open mail, as a ratio to `node -e 0` measured in the same rounds. Results go to
// bench/MAYOR.md and bench/mayor.json.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { addPolecat } from '../src/town/polecat.js';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { cleanEnv } from '../test/helpers/bd.js';
import { townWithRig } from '../test/helpers/town-fixture.js';

const ROOT = process.env.GT_BENCH_ROOT ?? process.cwd();
const GT = join(ROOT, 'dist', 'gt.cjs');
const ROUNDS = Number(process.env.BENCH_MAYOR_ROUNDS ?? 21);
const WARMUP = 2;
const POLECATS = Number(process.env.BENCH_MAYOR_POLECATS ?? 30);
const BEADS = 200;
const CONVOYS = 20;
const PER_CONVOY = 5;
const MAILS = 10;

const quantile = (values: number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const median = (v: number[]): number => quantile(v, 0.5);
const progress = (t: string): void => void process.stderr.write(`bench: ${t}\n`);

type Env = Record<string, string>;

/** gt without blocking this process (used to set the town up, several at a time). */
function gtAsync(env: Env, cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GT, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) reject(new Error(`gt ${args.join(' ')} failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * One timed run: node with these arguments, stdin empty. A command that printed to stderr counts as failed
 * too (`gt mail check --inject` never exits non-zero; it reports its trouble there).
 */
function timed(argv: string[], cwd: string, env: Env): { ms: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { cwd, env, input: '', encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 || r.stderr !== '') throw new Error(`${argv.slice(1).join(' ')} failed: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

type Command = { name: string; what: string; argv: string[]; cwd: string; env: Env };
type Row = { command: string; what: string; median_ms: number; p95_ms: number; ratio_to_node: number };
type Results = {
  date: string;
  node: string;
  cpus: number;
  cpu_model: string;
  rounds: number;
  warmup_rounds: number;
  town: {
    polecats: number;
    live_sessions: number;
    work_beads: number;
    blocked_beads: number;
    convoys: number;
    beads_per_convoy: number;
    mails_to_mayor: number;
    mails_to_overseer: number;
    setup_ms: number;
  };
  rows: Row[];
  mayor_prime_to_polecat_prime: number;
  mayor_prime_bytes: number;
  polecat_prime_bytes: number;
};

function report(r: Results): string {
  const ms = (n: number): string => `${n.toFixed(1)} ms`;
  const rows = r.rows
    .map(
      (x) => `| \`${x.command}\` | ${x.what} | ${ms(x.median_ms)} | ${ms(x.p95_ms)} | ${x.ratio_to_node.toFixed(2)}× |`,
    )
    .join('\n');
  return `# The Mayor, mail, convoys and formulas: start-up of one call

Measured ${r.date} with Node ${r.node} on ${r.cpus} × ${r.cpu_model}: the built gt in a clean environment (every
call a new process, so start-up is included), real tmux, the store.

The town: rig gastown with ${r.town.polecats} polecats, each with a live idle session running the sim agent
(${r.town.live_sessions} sessions in the town's tmux server while measuring); ${r.town.work_beads} work beads in the rig's prefix,
${r.town.blocked_beads} of them blocked by another; ${r.town.convoys} convoys of ${r.town.beads_per_convoy} beads each; ${r.town.mails_to_mayor} open mails from the
overseer to the Mayor and ${r.town.mails_to_overseer} from the Mayor to the overseer (so that the overseer's inbox is not
empty); one bead carrying the polecat-work molecule. Set up in ${(r.town.setup_ms / 1000).toFixed(1)} s.

Wall time of one call, ${r.rounds} rounds interleaved (after ${r.warmup_rounds} warm-up rounds), so drift in machine
load hits every command alike. The floor is \`node -e 0\` in the same rounds: no Node CLI starts faster.

| command | run as | median | p95 | median ÷ floor |
|---|---|---:|---:|---:|
${rows}

The Mayor's prime ÷ a polecat's prime (medians): ${r.mayor_prime_to_polecat_prime.toFixed(2)}× (its text
${r.mayor_prime_bytes.toLocaleString('en')} bytes against ${r.polecat_prime_bytes.toLocaleString('en')}).

## Notes

- Where the Mayor's prime goes: its glance observes the town the way \`gt status\` and \`gt agents\` do,
  which reads every live agent's pane (a \`tmux capture-pane\` each, 32 tmux calls and one \`ps\` per prime with
  30 live sessions, where a polecat's prime runs no subprocess). When this section was first measured the
  panes were read one after another: 383 ms, 5.1× a polecat's prime; with the town's tmux server stopped the
  same prime took ~145 ms. The agents are now looked at 8 at once (src/observe/snapshot.ts, which speeds
  \`gt status\`, \`gt agents\` and the daemon's look alike). The rest over a polecat's prime is the glance's
  store queries (ready and blocked work, convoys, mail) and the longer text.
- Wall times on a shared 2-core VM move by ±15 % between runs; the ratio to the floor measured in the same
  rounds is the number to compare.
`;
}

async function main(): Promise<void> {
  const setup0 = performance.now();
  const fixture = await townWithRig('bench-mayor');
  const { town, base } = fixture;
  const env = cleanEnv(join(base, 'home'), { BD_ACTOR: 'bench' });
  saveSettings(town, { ...loadSettings(town), default_agent: 'sim' });
  const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
  const store = openSqliteBeadStore(town.dbPath);
  try {
    progress(`${POLECATS} polecats, each with an idle sim session`);
    const polecats: { address: string; sandbox: string }[] = [];
    for (let i = 0; i < POLECATS; i++) {
      const a = await addPolecat(town, 'gastown', {
        name: `cat${i}`,
        actor: 'bench',
        ownerEmail: town.owner,
        nowMs: Date.now(),
      });
      polecats.push({ address: a.address, sandbox: a.sandbox_path });
    }
    // Started a few at a time (each start waits for its agent to be ready).
    for (let i = 0; i < polecats.length; i += 6)
      await Promise.all(
        polecats.slice(i, i + 6).map((p) => gtAsync(env, town.root, 'session', 'start', p.address, '--json')),
      );

    progress(`${BEADS} work beads, ${CONVOYS} convoys, ${MAILS} mails each way`);
    const prefix = (await store.rig('gastown')).prefix;
    const ids: string[] = [];
    let blocked = 0;
    for (let i = 0; i < BEADS; i++) {
      // Every fourth bead waits for the one before it.
      const after = i % 4 === 3 ? [ids[i - 1] ?? ''] : [];
      if (after.length > 0) blocked++;
      const b = await store.create(
        { title: `work item ${i}`, prefix, description: `Part ${i} of the bench's work.`, depends_on: after },
        'bench',
      );
      ids.push(b.id);
    }
    const convoys: string[] = [];
    for (let c = 0; c < CONVOYS; c++) {
      const tracked = ids.slice(c * PER_CONVOY, (c + 1) * PER_CONVOY);
      const made = JSON.parse(
        await gtAsync(env, town.root, 'convoy', 'create', `feature ${c}`, ...tracked, '--json'),
      ) as { id: string };
      convoys.push(made.id);
    }
    const mayorEnv = { ...env, GT_ROLE: 'mayor' };
    for (let m = 0; m < MAILS; m++) {
      await gtAsync(env, town.root, 'mail', 'send', 'mayor', '-s', `Request ${m}`, '-m', `Please do thing ${m}.`);
      await gtAsync(mayorEnv, town.root, 'mail', 'send', 'overseer', '-s', `Report ${m}`, '-m', `Thing ${m} filed.`);
    }
    const run = JSON.parse(
      await gtAsync(env, town.root, 'formula', 'run', 'polecat-work', '--rig', 'gastown', '--json'),
    ) as { bead: string };
    const setupMs = performance.now() - setup0;

    const cat = polecats[0] ?? { address: '', sandbox: '' };
    const catEnv = { ...env, GT_ROLE: cat.address };
    const g = (...args: string[]): string[] => [GT, ...args];
    const commands: Command[] = [
      { name: 'node -e 0', what: 'the floor', argv: ['-e', '0'], cwd: town.root, env },
      {
        name: 'gt prime',
        what: `a polecat (${cat.address}), in its sandbox`,
        argv: g('prime'),
        cwd: cat.sandbox,
        env: catEnv,
      },
      { name: 'gt prime', what: 'the Mayor, in the town root', argv: g('prime'), cwd: town.root, env: mayorEnv },
      {
        name: 'gt mail check --inject',
        what: 'a polecat, in its sandbox (the prompt hook, every turn)',
        argv: g('mail', 'check', '--inject'),
        cwd: cat.sandbox,
        env: catEnv,
      },
      {
        name: 'gt mail inbox --json',
        what: 'the overseer, in the town root',
        argv: g('mail', 'inbox', '--json'),
        cwd: town.root,
        env,
      },
      { name: 'gt convoy list --json', what: 'the overseer', argv: g('convoy', 'list', '--json'), cwd: town.root, env },
      {
        name: 'gt convoy status <id> --json',
        what: 'the overseer',
        argv: g('convoy', 'status', convoys[0] ?? '', '--json'),
        cwd: town.root,
        env,
      },
      {
        name: 'gt formula list --json',
        what: 'the overseer',
        argv: g('formula', 'list', '--json'),
        cwd: town.root,
        env,
      },
      {
        name: 'gt mol status <bead> --json',
        what: 'the overseer, a bead carrying polecat-work',
        argv: g('mol', 'status', run.bead, '--json'),
        cwd: town.root,
        env,
      },
    ];
    const live = (await provider.list()).length;
    const samples = commands.map(() => [] as number[]);
    const bytes = commands.map(() => 0);
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      if (round % 5 === 0) progress(`round ${round + 1}/${WARMUP + ROUNDS}`);
      commands.forEach((c, i) => {
        const r = timed(c.argv, c.cwd, c.env);
        bytes[i] = r.stdout.length;
        if (round >= WARMUP) samples[i]?.push(r.ms);
      });
    }
    const floor = median(samples[0] ?? []);
    const rows: Row[] = commands.map((c, i) => ({
      command: c.name,
      what: c.what,
      median_ms: median(samples[i] ?? []),
      p95_ms: quantile(samples[i] ?? [], 0.95),
      ratio_to_node: median(samples[i] ?? []) / floor,
    }));
    const results: Results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      rounds: ROUNDS,
      warmup_rounds: WARMUP,
      town: {
        polecats: POLECATS,
        live_sessions: live,
        work_beads: BEADS,
        blocked_beads: blocked,
        convoys: CONVOYS,
        beads_per_convoy: PER_CONVOY,
        mails_to_mayor: MAILS,
        mails_to_overseer: MAILS,
        setup_ms: setupMs,
      },
      rows,
      mayor_prime_to_polecat_prime: (rows[2]?.median_ms ?? NaN) / (rows[1]?.median_ms ?? NaN),
      mayor_prime_bytes: bytes[2] ?? 0,
      polecat_prime_bytes: bytes[1] ?? 0,
    };
    writeFileSync(join(ROOT, 'bench', 'mayor.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = report(results);
    writeFileSync(join(ROOT, 'bench', 'MAYOR.md'), md);
    process.stdout.write(md);
  } finally {
    store.dispose();
    await provider.killServer();
    fixture.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
