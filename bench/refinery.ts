// Part of `npm run bench` (bundled and run by bench/refinery.mjs): the refinery's merge queue against a
// one-at-a-time baseline, on a generated repository with a real test suite whose run time T is a parameter.
// Results go to bench/REFINERY.md and bench/refinery.json.
//
// The workload: 40 merge requests filed at time 0, all branched from the same main. 4 break the test suite
// (their own module returns a wrong value), 4 conflict (each edits the line of a shared file that an earlier,
// clean request also edits, so it conflicts once that one has landed), the other 32 are clean. Which is
// which is placed by a seeded generator. Both sides run in this process one after the other, on identical
// copies of the same remote, with the same gate program, and nothing is fixed: returned requests stay returned.
//
//   refinery   runPass (src/refinery) in a loop until no request is queued.
//   baseline   in FIFO order, one request at a time: fetch, rebase onto main (a failed rebase returns it as
//              a conflict), run the test suite, fast-forward push to main if green (else return it), delete
//              the landed branch. The way the Go refinery lands work.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { simulateSearch } from '../src/core/batch-search.js';
import { nextBatchSize, pairKey, pickBatch, type BatchSizing } from '../src/core/merge-queue.js';
import type { TownStore } from '../src/core/town-store.js';
import { runGate } from '../src/exec/gate.js';
import { mergeRequests, runPass, type PassReport } from '../src/refinery/refinery.js';
import { openTownStore } from '../src/store/open.js';
import { addRig } from '../src/town/rig.js';
import { installTown, type Town } from '../src/town/town.js';
import { GIT_ENV, git, townWithRig } from '../test/helpers/town-fixture.js';

const ROOT = process.env.GT_BENCH_ROOT ?? process.cwd();
/** Nominal run time of the test suite, in seconds. */
const T = Number(process.env.BENCH_REFINERY_T ?? 2);
/** cpu: the suite does a fixed amount of hashing calibrated to T on an idle core (it slows down when cores are
 * busy, like a real suite); sleep: it waits T whatever the load. */
const LOAD = process.env.BENCH_REFINERY_LOAD === 'sleep' ? 'sleep' : 'cpu';
const SEED = Number(process.env.BENCH_REFINERY_SEED ?? 13);
const REQUESTS = 40;
const BROKEN = 4;
const CONFLICTS = 4;
const MODULES = Number(process.env.BENCH_REFINERY_FILES ?? 48);
const RIG = 'gastown';
const GOALS = { ratio: 3, gateRunsPerLanded: 0.6, isolationRounds: 2, innocent: 0 };

const progress = (t: string): void => void process.stderr.write(`bench: ${t}\n`);
const quantile = (values: number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------------------------------------------------
// The workload

type Kind = 'clean' | 'broken' | 'conflict';
type Plan = {
  index: number;
  name: string;
  kind: Kind;
  /** The module it changes (every request has its own). */
  module: number;
  /** The shared file whose line it edits: the clean partner first, the conflicting request after it. */
  shared?: number;
};

/** mulberry32: a small seeded generator, so the placement is the same on every run and machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

function plan(seed: number): Plan[] {
  const random = rng(seed);
  const order = shuffled(
    Array.from({ length: REQUESTS }, (_, i) => i),
    random,
  );
  const broken = new Set(order.slice(0, BROKEN));
  // Pairs (clean partner, conflicting request): the earlier of two positions is the partner.
  const paired = order.slice(BROKEN, BROKEN + 2 * CONFLICTS);
  const shared = new Map<number, { file: number; kind: Kind }>();
  for (let k = 0; k < CONFLICTS; k++) {
    const [a = 0, b = 0] = paired.slice(2 * k, 2 * k + 2);
    shared.set(Math.min(a, b), { file: k, kind: 'clean' });
    shared.set(Math.max(a, b), { file: k, kind: 'conflict' });
  }
  return Array.from({ length: REQUESTS }, (_, index) => {
    const s = shared.get(index);
    const kind: Kind = broken.has(index) ? 'broken' : (s?.kind ?? 'clean');
    return {
      index,
      name: `r${String(index).padStart(2, '0')}`,
      kind,
      module: index,
      ...(s !== undefined ? { shared: s.file } : {}),
    };
  });
}

const moduleText = (m: number, body: string): string =>
  [
    `// Module ${m} of the generated project.`,
    `export const id = ${m};`,
    '',
    'export function add(x) {',
    body,
    '}',
    '',
  ].join('\n');

/** Each shared file has one line per conflict pair, far enough apart that edits of different lines merge. */
const sharedText = (owner: string): string =>
  ['// A file two requests edit.', '', `export const owner = '${owner}';`, '', '// end', ''].join('\n');

/** Hashes per second of one core, measured here, so that the cpu-bound suite takes about T when alone. */
function calibrate(): number {
  let h = Buffer.alloc(32);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 500) {
    for (let i = 0; i < 1000; i++) h = createHash('sha256').update(h).digest();
    n += 1000;
  }
  return n / ((performance.now() - start) / 1000);
}

/** The test suite: imports every module and checks it, then does the rest of T's worth of work. */
function testSuite(hashesPerSecond: number): string {
  const work =
    LOAD === 'sleep'
      ? `await new Promise((r) => setTimeout(r, ${Math.round(T * 1000)}));`
      : [
          `let h = Buffer.alloc(32);`,
          `for (let i = 0; i < ${Math.round(hashesPerSecond * T)}; i++) h = createHash('sha256').update(h).digest();`,
        ].join('\n');
  return `// The project's test suite (generated by bench/refinery.ts): ${LOAD === 'sleep' ? `waits ${T} s` : `about ${T} s of hashing on an idle core`}.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';

const failures = [];
let checked = 0;
for (const f of readdirSync(new URL('../src/', import.meta.url)).sort()) {
  const m = await import(new URL('../src/' + f, import.meta.url).href);
  checked++;
  if (f.startsWith('m') && m.add(1) !== m.id + 1) failures.push(f + ': add(1) is ' + m.add(1) + ', not ' + (m.id + 1));
  if (f.startsWith('shared') && typeof m.owner !== 'string') failures.push(f + ': no owner');
}
${work}
if (failures.length > 0) {
  console.error('FAIL\\n' + failures.join('\\n'));
  process.exit(1);
}
console.log('ok: ' + checked + ' modules');
`;
}

const branchOf = (p: Plan): string => `polecat/${p.name}/job@1`;

/**
 * The project on main and one branch per request, pushed to `remote` from the work clone `work` (which has
 * main with app.txt from the fixture). Returns each request's commit.
 */
function generate(work: string, remote: string, plans: Plan[], hashesPerSecond: number): Map<string, string> {
  mkdirSync(join(work, 'src'), { recursive: true });
  mkdirSync(join(work, 'test'), { recursive: true });
  for (let m = 0; m < MODULES; m++)
    writeFileSync(join(work, 'src', `m${String(m).padStart(2, '0')}.mjs`), moduleText(m, `  return x + ${m};`));
  for (let k = 0; k < CONFLICTS; k++) writeFileSync(join(work, 'src', `shared${k}.mjs`), sharedText('base'));
  writeFileSync(join(work, 'test', 'run.mjs'), testSuite(hashesPerSecond));
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '-m', 'the generated project and its test suite');
  git(work, 'push', '--quiet', remote, 'main');
  const commits = new Map<string, string>();
  for (const p of plans) {
    git(work, 'checkout', '--quiet', '-B', branchOf(p), 'main');
    const file = join(work, 'src', `m${String(p.module).padStart(2, '0')}.mjs`);
    const body =
      p.kind === 'broken'
        ? `  // ${p.name}: a faster add\n  return x - ${p.module};`
        : `  // ${p.name}: the same sum, written out\n  const sum = x + ${p.module};\n  return sum;`;
    writeFileSync(file, moduleText(p.module, body));
    if (p.shared !== undefined) writeFileSync(join(work, 'src', `shared${p.shared}.mjs`), sharedText(p.name));
    git(work, 'commit', '--quiet', '-am', `${p.name}: ${p.kind === 'broken' ? 'a faster add' : 'a clearer add'}`);
    commits.set(p.name, git(work, 'rev-parse', 'HEAD').trim());
  }
  git(work, 'checkout', '--quiet', 'main');
  git(work, 'push', '--quiet', remote, ...plans.map((p) => `${branchOf(p)}:refs/heads/${branchOf(p)}`));
  return commits;
}

async function fileRequests(
  store: TownStore,
  plans: Plan[],
  commits: Map<string, string>,
  t0Ms: number,
): Promise<Map<string, Plan>> {
  const byId = new Map<string, Plan>();
  for (const p of plans) {
    const source = await store.create({ title: `${p.name}'s job` }, 'mayor');
    await store.update([source.id], { status: 'in_progress', assignee: `${RIG}/polecats/${p.name}` }, 'mayor');
    const mr = await store.create(
      {
        id: `ga-mr${p.name}`,
        title: `Merge ${source.id}: ${p.name}'s job`,
        issue_type: 'merge-request',
        metadata: {
          branch: branchOf(p),
          target: 'main',
          source_bead: source.id,
          rig: RIG,
          worker: `${RIG}/polecats/${p.name}`,
          commit: commits.get(p.name),
          // All at time 0, in filing order (a millisecond apart so first come, first served is exact).
          mq_enqueued_at: new Date(t0Ms + p.index).toISOString(),
        },
      },
      `${RIG}/polecats/${p.name}`,
    );
    byId.set(mr.id, p);
  }
  return byId;
}

// ---------------------------------------------------------------------------------------------------------
// The planner alone (src/core/merge-queue.ts) on the same workload, with no git and no clock: how many rounds
// of T it needs for given settings. Rounds × T is what the refinery would take if everything but the gates
// were free, so 36 ÷ rounds (the baseline runs the suite 36 times) is the ratio the planner allows at most.

type Model = {
  batch_min: number;
  batch_max: number;
  parallel: number;
  rounds: number;
  gateRuns: number;
  passes: number;
};

function modelQueue(plans: Plan[], s: Settings): Model {
  const queue = [...plans];
  const landed = new Set<string>();
  const partnerOf = new Map<string, string>();
  for (const p of plans)
    if (p.kind === 'conflict') {
      const partner = plans.find((q) => q.shared === p.shared && q.kind === 'clean');
      if (partner !== undefined) partnerOf.set(p.name, partner.name);
    }
  let sizing: BatchSizing = { size: s.batch_max, min: s.batch_min, max: s.batch_max };
  let targetPasses = false;
  let lastRed = false;
  let rounds = 0;
  let gateRuns = 0;
  let passes = 0;
  while (queue.length > 0) {
    passes++;
    const window = queue.slice(0, sizing.size * 2).map((p) => ({ id: p.name, priority: 2, enqueuedMs: p.index }));
    const withTarget = new Set(window.filter((r) => landed.has(partnerOf.get(r.id) ?? '\u0000')).map((r) => r.id));
    const pairs = new Set<string>();
    for (const r of window) {
      const partner = partnerOf.get(r.id);
      if (partner !== undefined && !withTarget.has(r.id)) pairs.add(pairKey(r.id, partner));
    }
    const pick = pickBatch(window, sizing.size, { withTarget, pairs });
    const remove = (ids: Iterable<string>): void => {
      for (const id of ids)
        queue.splice(
          queue.findIndex((p) => p.name === id),
          1,
        );
    };
    remove(pick.conflicts);
    if (pick.batch.length === 0) continue;
    const broken = (id: string): boolean => plans.find((p) => p.name === id)?.kind === 'broken';
    // The suite's output names the module that fails, which is the broken request's own file.
    const sim = simulateSearch(
      pick.batch,
      s.parallel,
      (run) => {
        const bad = run.members.filter(broken);
        return bad.length > 0 ? { outcome: 'fail', failedGate: 'test', suspects: bad } : { outcome: 'pass' };
      },
      { gates: ['test'], targetPasses, speculate: lastRed },
    );
    rounds += sim.rounds;
    gateRuns += sim.results.length;
    if (sim.decision.kind !== 'land') throw new Error('the model saw a broken target');
    for (const id of sim.decision.landed) landed.add(id);
    remove(sim.decision.landed);
    remove(sim.decision.culprits.map((c) => c.id));
    const culprits = sim.decision.culprits;
    const outcome = culprits.length === 0 ? 'green' : culprits.every((c) => c.named) ? 'named' : 'red';
    lastRed = outcome === 'red';
    if (sim.decision.landed.length > 0) targetPasses = true;
    sizing = nextBatchSize(sizing, outcome);
  }
  return { ...s, rounds, gateRuns, passes };
}

const MODEL_SETTINGS = [
  { batch_min: 2, batch_max: 8, parallel: 2 },
  { batch_min: 1, batch_max: 8, parallel: 2 },
  { batch_min: 4, batch_max: 8, parallel: 2 },
  { batch_min: 8, batch_max: 8, parallel: 2 },
  { batch_min: 4, batch_max: 16, parallel: 2 },
  { batch_min: 1, batch_max: 16, parallel: 2 },
  { batch_min: 16, batch_max: 16, parallel: 2 },
  { batch_min: 2, batch_max: 8, parallel: 1 },
  { batch_min: 4, batch_max: 8, parallel: 1 },
  { batch_min: 8, batch_max: 8, parallel: 1 },
];

// ---------------------------------------------------------------------------------------------------------
// Results

type Outcome = { name: string; kind: Kind; verdict: 'landed' | 'conflict' | 'fix-needed' | 'other'; atMs: number };
type PassRow = {
  pass: number;
  ms: number;
  /** From the start of the pass until its batch was picked (fetch, queue, conflict prediction). */
  pickMs: number;
  batch: number;
  rounds: number;
  gateRuns: number;
  landed: number;
  culprits: number;
  conflicts: number;
  requeued: number;
  red: boolean;
};
type Side = {
  wallMs: number;
  outcomes: Outcome[];
  gateRuns: number;
  gateMs: number[];
  passes: PassRow[];
};

function summarize(side: Side, t: number) {
  const landed = side.outcomes.filter((o) => o.verdict === 'landed');
  const ttm = landed.map((o) => o.atMs);
  const red = side.passes.filter((p) => p.red);
  const isolation = red.map((p) => p.rounds - 1);
  return {
    wall_s: side.wallMs / 1000,
    landed: landed.length,
    returned_conflict: side.outcomes.filter((o) => o.verdict === 'conflict').length,
    returned_fix_needed: side.outcomes.filter((o) => o.verdict === 'fix-needed').length,
    other: side.outcomes.filter((o) => o.verdict === 'other').length,
    merges_per_hour: landed.length / (side.wallMs / 3_600_000),
    gate_runs: side.gateRuns,
    gate_runs_per_landed: side.gateRuns / Math.max(1, landed.length),
    gate_ms_p50: quantile(side.gateMs, 0.5),
    gate_ms_max: Math.max(...side.gateMs),
    ttm_p50_s: quantile(ttm, 0.5) / 1000,
    ttm_p50_T: quantile(ttm, 0.5) / 1000 / t,
    ttm_max_s: Math.max(...ttm) / 1000,
    oldest_wait_s: Math.max(...side.outcomes.map((o) => o.atMs)) / 1000,
    oldest_wait_T: Math.max(...side.outcomes.map((o) => o.atMs)) / 1000 / t,
    red_batches: red.length,
    isolation_rounds_mean: isolation.length === 0 ? 0 : sum(isolation) / isolation.length,
    isolation_rounds_max: isolation.length === 0 ? 0 : Math.max(...isolation),
    innocent_returned: side.outcomes.filter((o) => o.kind === 'clean' && o.verdict !== 'landed').length,
    wrong_landed: side.outcomes.filter((o) => o.kind !== 'clean' && o.verdict === 'landed').length,
    passes: side.passes.length,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The two sides

async function runRefinery(store: TownStore, town: Town, byId: Map<string, Plan>, t0: number): Promise<Side> {
  // The executor's one progress line comes once the batch is picked: fetch, listing and conflict prediction are done.
  let pickedAt = NaN;
  const ctx = {
    town,
    store,
    actor: `${RIG}/refinery`,
    now: () => Date.now(),
    progress: (line: string) => {
      if (line.startsWith('batch of ')) pickedAt = performance.now();
    },
  };
  const outcomes: Outcome[] = [];
  const passes: PassRow[] = [];
  const gateMs: number[] = [];
  let gateRuns = 0;
  let idle = 0;
  const record = (id: string, verdict: Outcome['verdict'], atMs: number): void => {
    const p = byId.get(id);
    if (p !== undefined) outcomes.push({ name: p.name, kind: p.kind, verdict, atMs });
  };
  for (let n = 1; n <= 200; n++) {
    const start = performance.now();
    pickedAt = NaN;
    const r: PassReport = await runPass(ctx, RIG);
    const at = performance.now() - t0;
    for (const id of r.landed) record(id, 'landed', at);
    for (const x of r.returned) record(x.id, x.cause === 'branch-missing' ? 'other' : x.cause, at);
    for (const id of r.escalated) record(id, 'other', at);
    gateRuns += r.gateRuns.length;
    gateMs.push(...r.gateRuns.map((g) => g.ms));
    const culprits = r.returned.filter((x) => x.cause === 'fix-needed').length;
    const row: PassRow = {
      pass: n,
      ms: performance.now() - start,
      pickMs: Number.isNaN(pickedAt) ? performance.now() - start : pickedAt - start,
      batch: r.batch.length,
      rounds: r.rounds,
      gateRuns: r.gateRuns.length,
      landed: r.landed.length,
      culprits,
      conflicts: r.returned.filter((x) => x.cause === 'conflict').length,
      requeued: r.requeued.length,
      red: culprits > 0,
    };
    passes.push(row);
    progress(
      `refinery pass ${n}: batch ${row.batch}, ${row.rounds} rounds, ${row.gateRuns} gate runs, landed ${row.landed}, culprits ${row.culprits}, conflicts ${row.conflicts} (${(row.ms / 1000).toFixed(1)} s, picked after ${(row.pickMs / 1000).toFixed(1)} s)`,
    );
    if (r.targetBroken !== null) throw new Error(`the target fails the gate ${r.targetBroken}`);
    const queued = (await mergeRequests(store, RIG)).filter((m) => m.state === 'queued').length;
    if (queued === 0) return { wallMs: performance.now() - t0, outcomes, gateRuns, gateMs, passes };
    const progressed = r.landed.length + r.returned.length + r.escalated.length > 0;
    idle = progressed ? 0 : idle + 1;
    if (idle >= 3) throw new Error(`the refinery made no progress in 3 passes with ${queued} queued`);
  }
  throw new Error('the refinery did not empty the queue in 200 passes');
}

function runGit(cwd: string, ...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

async function runBaseline(clone: string, plans: Plan[], commits: Map<string, string>, t0: number): Promise<Side> {
  const outcomes: Outcome[] = [];
  const gateMs: number[] = [];
  for (const p of plans) {
    const start = performance.now();
    runGit(clone, 'fetch', '--quiet', '--prune', 'origin');
    runGit(clone, 'checkout', '--quiet', '--detach', commits.get(p.name) ?? '');
    let verdict: Outcome['verdict'];
    if (!runGit(clone, 'rebase', '--quiet', 'origin/main').ok) {
      runGit(clone, 'rebase', '--abort');
      verdict = 'conflict';
    } else {
      const g = await runGate([process.execPath, 'test/run.mjs'], clone, 600_000);
      gateMs.push(g.ms);
      if (!g.ok) verdict = 'fix-needed';
      else {
        const pushed = runGit(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
        if (!pushed.ok) throw new Error(`baseline push failed: ${pushed.out}`);
        runGit(clone, 'push', '--quiet', 'origin', '--delete', branchOf(p));
        verdict = 'landed';
      }
    }
    const at = performance.now() - t0;
    outcomes.push({ name: p.name, kind: p.kind, verdict, atMs: at });
    progress(`baseline ${p.name} (${p.kind}): ${verdict} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
  }
  return {
    wallMs: performance.now() - t0,
    outcomes,
    gateRuns: gateMs.length,
    gateMs,
    passes: outcomes.map((o, i) => ({
      pass: i + 1,
      ms: 0,
      pickMs: 0,
      batch: 1,
      rounds: o.verdict === 'conflict' ? 0 : 1,
      gateRuns: o.verdict === 'conflict' ? 0 : 1,
      landed: o.verdict === 'landed' ? 1 : 0,
      culprits: o.verdict === 'fix-needed' ? 1 : 0,
      conflicts: o.verdict === 'conflict' ? 1 : 0,
      requeued: 0,
      red: o.verdict === 'fix-needed',
    })),
  };
}

/** The commits of `names` that the remote's main contains. */
function inMain(remote: string, names: string[], commits: Map<string, string>): string[] {
  return names.filter((n) => runGit(remote, 'merge-base', '--is-ancestor', commits.get(n) ?? '', 'main').ok);
}

// ---------------------------------------------------------------------------------------------------------

type Settings = { batch_min: number; batch_max: number; parallel: number };
/** The refinery settings measured, each on its own town: `min-max-parallel`, comma-separated. */
const CONFIGS: Settings[] = (process.env.BENCH_REFINERY_CONFIGS ?? '4-16-2,8-8-2').split(',').map((c) => {
  const [batch_min = NaN, batch_max = NaN, parallel = NaN] = c.split('-').map(Number);
  if (![batch_min, batch_max, parallel].every((n) => Number.isInteger(n) && n > 0))
    throw new Error(`BENCH_REFINERY_CONFIGS: "${c}" is not min-max-parallel`);
  return { batch_min, batch_max, parallel };
});
const label = (c: Settings): string => `batch ${c.batch_min}–${c.batch_max}, parallel ${c.parallel}`;

async function main(): Promise<void> {
  const plans = plan(SEED);
  const setupStart = performance.now();
  const hashesPerSecond = LOAD === 'cpu' ? calibrate() : 0;
  const fixture = await townWithRig('bench-refinery');
  const { base } = fixture;
  const stores: TownStore[] = [];
  try {
    const work = join(base, 'work');
    const commits = generate(work, fixture.remote, plans, hashesPerSecond);
    // Every side gets its own identical copy of the remote, taken before anything lands.
    const pristine = join(base, 'pristine.git');
    git(base, 'clone', '--quiet', '--mirror', fixture.remote, pristine);
    const baselineRemote = join(base, 'baseline.git');
    git(base, 'clone', '--quiet', '--mirror', pristine, baselineRemote);
    const clone = join(base, 'baseline-work');
    git(base, 'clone', '--quiet', baselineRemote, clone);
    // The suite alone, once, on main: a check that main is green.
    const probe = await runGate([process.execPath, 'test/run.mjs'], work, 600_000);
    if (!probe.ok) throw new Error(`the generated suite fails on main:\n${probe.tail}`);
    progress(
      `setup: ${REQUESTS} requests (${plans.filter((p) => p.kind === 'broken').length} break the suite, ${plans.filter((p) => p.kind === 'conflict').length} conflict), suite alone ${(probe.ms / 1000).toFixed(2)} s, ${((performance.now() - setupStart) / 1000).toFixed(1)} s`,
    );

    progress('baseline: one at a time, first come first served');
    const baseline = await runBaseline(clone, plans, commits, performance.now());
    progress(`baseline: done in ${(baseline.wallMs / 1000).toFixed(1)} s`);
    const t = quantile(baseline.gateMs, 0.5) / 1000;
    const bad = plans.filter((p) => p.kind !== 'clean').map((p) => p.name);

    const refineries: RefineryResult[] = [];
    for (const [i, config] of CONFIGS.entries()) {
      const remote = join(base, `refinery-${i}.git`);
      git(base, 'clone', '--quiet', '--mirror', pristine, remote);
      const { town } = await installTown(join(base, `town-${i}`), {
        owner: 'owner@example.com',
        actor: 'bench',
        nowIso: new Date().toISOString(),
      });
      await addRig(town, RIG, remote, { actor: 'bench' });
      mkdirSync(join(town.root, RIG), { recursive: true });
      writeFileSync(
        join(town.root, RIG, 'settings.json'),
        JSON.stringify({
          version: 1,
          refinery: { gates: { test: [process.execPath, 'test/run.mjs'] }, gate_timeout_seconds: 600, ...config },
        }),
      );
      const store = openTownStore(town.dbPath);
      stores.push(store);
      const byId = await fileRequests(store, plans, commits, Date.now());
      progress(`refinery (${label(config)}): ${byId.size} merge requests filed; passes until none is queued`);
      const side = await runRefinery(store, town, byId, performance.now());
      progress(`refinery (${label(config)}): done in ${(side.wallMs / 1000).toFixed(1)} s`);
      refineries.push({
        settings: config,
        ...summarize(side, t),
        bad_in_main: inMain(remote, bad, commits),
        per_pass: side.passes,
      });
    }

    const results: Results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      workload: {
        requests: REQUESTS,
        broken: BROKEN,
        conflicts: CONFLICTS,
        modules: MODULES,
        seed: SEED,
        load: LOAD,
        T_nominal_s: T,
        T_alone_s: probe.ms / 1000,
        T_measured_s: t,
        placement: plans.map((p) => `${p.name}:${p.kind}${p.shared !== undefined ? `@shared${p.shared}` : ''}`),
      },
      baseline: { ...summarize(baseline, t), bad_in_main: inMain(baselineRemote, bad, commits) },
      refineries,
      planner_model: [...CONFIGS, ...MODEL_SETTINGS.filter((m) => !CONFIGS.some((c) => sameSettings(c, m)))].map((m) =>
        modelQueue(plans, m),
      ),
    };
    writeFileSync(join(ROOT, 'bench', 'refinery.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = report(results);
    writeFileSync(join(ROOT, 'bench', 'REFINERY.md'), md);
    process.stdout.write(md);
    if (!refineries.every((r) => goalsOf(r, results.baseline).every((g) => g.ok)))
      progress('some refinery goals were missed (see REFINERY.md)');
    const leaks = [results.baseline, ...refineries].flatMap((r) => r.bad_in_main);
    if (leaks.length > 0) {
      process.exitCode = 1;
      progress(`a broken or conflicting request reached main: ${leaks.join(', ')}`);
    }
  } finally {
    for (const store of stores) store.dispose();
    fixture.cleanup();
  }
}

const sameSettings = (a: Settings, b: Settings): boolean =>
  a.batch_min === b.batch_min && a.batch_max === b.batch_max && a.parallel === b.parallel;

type SideSummary = ReturnType<typeof summarize> & { bad_in_main: string[] };
type RefineryResult = SideSummary & { settings: Settings; per_pass: PassRow[] };
type Results = {
  date: string;
  node: string;
  cpus: number;
  cpu_model: string;
  workload: {
    requests: number;
    broken: number;
    conflicts: number;
    modules: number;
    seed: number;
    load: string;
    T_nominal_s: number;
    T_alone_s: number;
    T_measured_s: number;
    placement: string[];
  };
  baseline: SideSummary;
  refineries: RefineryResult[];
  planner_model: Model[];
};

function goalsOf(r: RefineryResult, b: SideSummary): { what: string; value: string; ok: boolean }[] {
  const ratio = r.merges_per_hour / b.merges_per_hour;
  return [
    { what: `merges per hour ≥ ${GOALS.ratio}× the baseline`, value: `${ratio.toFixed(2)}×`, ok: ratio >= GOALS.ratio },
    {
      what: `gate runs per landed request ≤ ${GOALS.gateRunsPerLanded}`,
      value: r.gate_runs_per_landed.toFixed(2),
      ok: r.gate_runs_per_landed <= GOALS.gateRunsPerLanded,
    },
    {
      what: `culprit-isolation rounds per red batch ≤ ${GOALS.isolationRounds} (the worst batch)`,
      value: `${r.isolation_rounds_max} (mean ${r.isolation_rounds_mean.toFixed(2)})`,
      ok: r.isolation_rounds_max <= GOALS.isolationRounds,
    },
    {
      what: `innocent requests returned: ${GOALS.innocent}`,
      value: String(r.innocent_returned),
      ok: r.innocent_returned <= GOALS.innocent,
    },
  ];
}

function report(res: Results): string {
  const b = res.baseline;
  const rs = res.refineries;
  const goal = (ok: boolean): string => (ok ? 'met' : '**missed**');
  const s = (v: number): string => `${v.toFixed(1)} s`;
  const xT = (v: number): string => `${v.toFixed(1)} T`;
  const w = res.workload;
  const row = (what: string, f: (x: SideSummary) => string, base?: string): string =>
    `| ${what} | ${base ?? f(b)} | ${rs.map(f).join(' | ')} |`;
  const head = `| | baseline | ${rs.map((r) => `refinery, ${label(r.settings)}`).join(' | ')} |\n|---|---:|${rs.map(() => '---:|').join('')}`;
  const goalTable = rs.map((r) => goalsOf(r, b));
  const goalRows = (goalTable[0] ?? [])
    .map((g, i) => {
      const cells = goalTable.map((gs) => (gs[i] === undefined ? '' : `${gs[i].value}: ${goal(gs[i].ok)}`));
      return `| ${g.what} | ${cells.join(' | ')} |`;
    })
    .join('\n');
  const modelOf = (c: Settings): Model | undefined => res.planner_model.find((m) => sameSettings(m, c));
  const sections = rs
    .map((r) => {
      const gateS = r.gate_ms_p50 / 1000;
      const pickS = sum(r.per_pass.map((p) => p.pickMs / 1000));
      const roundsTotal = sum(r.per_pass.map((p) => p.rounds));
      const restS = r.wall_s - pickS - roundsTotal * gateS;
      const m = modelOf(r.settings);
      const passes = r.per_pass
        .map(
          (p) =>
            `| ${p.pass} | ${p.batch} | ${p.rounds} | ${p.gateRuns} | ${p.landed} | ${p.culprits} | ${p.conflicts} | ${p.requeued} | ${s(p.pickMs / 1000)} | ${s(p.ms / 1000)} |`,
        )
        .join('\n');
      return `### Refinery, ${label(r.settings)}

${r.passes} passes, ${roundsTotal} rounds of gates${m === undefined ? '' : ` (so at most ${(b.gate_runs / m.rounds).toFixed(2)}× the baseline even if git and the store cost nothing)`}.
Of ${s(r.wall_s)}: about ${s(roundsTotal * gateS)} in gates (rounds × this side's median gate run of ${s(gateS)}), ${s(pickS)} from the
start of each pass until its batch is picked (fetch, the queue, a commit check and an ancestry check per queued request,
git merge-tree against the target per request of the window and between every pair of it), and ${s(restS)} for the rest
(stacking, a scratch worktree per gate run, waiting for the slower gate of a round, landing, closing beads, deleting
branches).

| pass | batch | rounds | gate runs | landed | culprits | conflicts | requeued | picked after | time |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${passes}
`;
    })
    .join('\n');
  const same = rs.filter((r) => {
    const m = modelOf(r.settings);
    return (
      m !== undefined &&
      m.passes === r.passes &&
      m.rounds === sum(r.per_pass.map((p) => p.rounds)) &&
      m.gateRuns === r.gate_runs
    );
  });
  const matches =
    same.length === rs.length
      ? "the executor's passes, rounds and gate runs match the model's"
      : `the executor's passes, rounds or gate runs differ from the model's for ${rs.length - same.length} of the settings (see bench/refinery.json)`;
  const models = res.planner_model
    .map(
      (m) =>
        `| ${m.batch_min} | ${m.batch_max} | ${m.parallel} | ${m.passes} | ${m.rounds} | ${m.gateRuns} (${(m.gateRuns / (w.requests - w.broken - w.conflicts)).toFixed(2)}) | ${(b.gate_runs / m.rounds).toFixed(2)}× |`,
    )
    .join('\n');
  return `# Refinery: merge queue against one at a time

Measured ${res.date} with Node ${res.node} on ${res.cpus} × ${res.cpu_model}.

Workload: a generated project (${w.modules} modules, 4 shared files) whose test suite is a real program
(\`node test/run.mjs\`: imports and checks every module, then ${w.load === 'cpu' ? 'hashes for about T on an idle core, so it slows down when the cores are busy' : 'waits T'}).
T = ${w.T_nominal_s} s nominal; the suite alone took ${w.T_alone_s.toFixed(2)} s, and the baseline's median gate run, ${w.T_measured_s.toFixed(2)} s, is the T below.
${w.requests} merge requests filed at time 0, all branched from the same main: ${w.broken} break the suite, ${w.conflicts} conflict
(each edits the line of a shared file that an earlier clean request edits too), ${w.requests - w.broken - w.conflicts} are clean;
placed by seed ${w.seed}. Returned requests are not fixed. The sides run in this process one after the other
(baseline first), each on its own identical copy of the remote, with the same gate runner (src/exec/gate.ts).

- **baseline**: one request at a time in filing order: fetch, rebase onto main (a failed rebase returns it as a
  conflict), run the suite, fast-forward push if green (else return it), delete the branch. No store bookkeeping,
  which spares it a few milliseconds per request.
- **refinery**: a fresh town per setting, \`runPass\` (src/refinery/refinery.ts) in a loop until no request is queued.

${head}
${row('wall time until the queue is empty', (x) => s(x.wall_s))}
${row('landed / returned as conflict / returned to fix', (x) => `${x.landed} / ${x.returned_conflict} / ${x.returned_fix_needed}`)}
${row('merges per hour', (x) => x.merges_per_hour.toFixed(0))}
${row('gate runs (per landed request)', (x) => `${x.gate_runs} (${x.gate_runs_per_landed.toFixed(2)})`)}
${row('median gate run', (x) => s(x.gate_ms_p50 / 1000))}
${row('p50 time to merge', (x) => `${s(x.ttm_p50_s)} = ${xT(x.ttm_p50_T)}`)}
${row('last landing', (x) => s(x.ttm_max_s))}
${row("oldest request's wait (longest until landed or returned)", (x) => `${s(x.oldest_wait_s)} = ${xT(x.oldest_wait_T)}`)}
${row('red batches; culprit-isolation rounds per red batch, mean (max)', (x) => `${x.red_batches}; ${x.isolation_rounds_mean.toFixed(2)} (${x.isolation_rounds_max})`, `${b.red_batches}; 0 (batches of one)`)}
${row('innocent requests returned', (x) => String(x.innocent_returned))}
${row('broken or conflicting requests in main afterwards', (x) => String(x.bad_in_main.length))}

| goal | ${rs.map((r) => label(r.settings)).join(' | ')} |
|---|${rs.map(() => '---|').join('')}
${goalRows}

Definitions: time to merge is from time 0 (all filed) until the end of the pass that landed the request (the
baseline: until its push). Merges per hour = landed ÷ wall time. A red batch is a pass that returned a culprit
(fix needed); its culprit-isolation rounds are the pass's rounds minus the first (the round that tested the
whole batch). A round runs up to \`parallel\` gate runs at once.
Innocent = a clean request (the conflict partners included) returned for any cause.

## Where the refinery's time goes

${sections}
## The planner alone, by settings

\`decideSearch\` (src/core/batch-search.ts), \`pickBatch\` and \`nextBatchSize\` (src/core/merge-queue.ts) on the same ${w.requests} requests with no git and no
clock, the gate answered by whether a set holds a broken request (its output naming it). Rounds × T is what the refinery would take if
everything but the gates were free, so the baseline's ${b.gate_runs} suite runs ÷ rounds is the most the planner allows.
The measured settings come first; ${matches}.

| batch_min | batch_max | parallel | passes | rounds | gate runs (per landed) | at most × baseline |
|---:|---:|---:|---:|---:|---:|---:|
${models}

## Notes

- Wall times move between runs on a shared 2-core machine (other processes, and two CPU-bound gates at once on two
  cores); the planner table above is exact. \`BENCH_REFINERY_LOAD=sleep\` makes the suite wait instead of compute.
- What makes the refinery fast here: the suite's failure names the module that fails, which is the broken request's
  own file, so a red batch's second round tests everything but that suspect beside the flake re-run, and the culprit
  is found in one round whatever the batch size; the rest of the batch lands in the same pass; a red batch whose
  culprits were all named keeps its size; stacks are made without a worktree; conflict checks between requests run
  only where their changed paths meet. Without such evidence (a suite that fails without naming a file) the search
  falls back to prefix bisection, as the planner's tests cover.
- Knobs: BENCH_REFINERY_T (seconds), BENCH_REFINERY_CONFIGS (\`min-max-parallel,…\`), BENCH_REFINERY_SEED,
  BENCH_REFINERY_FILES, BENCH_REFINERY_LOAD (cpu or sleep).
`;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
