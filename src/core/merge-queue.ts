/**
 * The merge queue's planner: which requests to batch, what to test after a red batch, what to land. Pure: the
 * refinery's executor (src/refinery/) brings the queue, the predicted conflicts, the gate results and the time,
 * and does the git work these functions ask for.
 *
 * A batch of n requests is stacked on the target branch in order; prefix k is the target plus r1..rk (prefix 0
 * is the target alone). The executor tests prefixes and asks `decideBatch` again after each round until it
 * answers `land` or `target-broken`.
 */

const HOUR_MS = 3_600_000;

/** The gate named in a decision when the executor reported a failure without naming the gate. */
export const UNNAMED_GATE = 'unnamed';

// ---------------------------------------------------------------------------------------------------------
// Ordering

export type QueuedRequest = {
  id: string;
  /** 0 (most urgent) .. 4, the beads convention. */
  priority: number;
  /** When it entered the queue (first come, first served within a priority). */
  enqueuedMs: number;
  /** Extra urgency in priority levels (e.g. 1 for a request returned, fixed and re-queued). */
  boost?: number;
};

export type OrderOptions = {
  nowMs: number;
  /** Priority levels gained per hour waited (e.g. 1): nothing starves behind a stream of urgent work. */
  ageBoostPerHour: number;
};

/** Urgency scaled by an hour, so that whole priorities, whole-millisecond ages and whole rates stay exact. */
function urgencyKey(r: QueuedRequest, options: OrderOptions): number {
  const waitedMs = Math.max(0, options.nowMs - r.enqueuedMs);
  return (r.priority - (r.boost ?? 0)) * HOUR_MS - waitedMs * options.ageBoostPerHour;
}

function checkOrderOptions(options: OrderOptions): void {
  if (!Number.isFinite(options.ageBoostPerHour) || options.ageBoostPerHour < 0) {
    throw new RangeError(`ageBoostPerHour must be a finite number ≥ 0, not ${options.ageBoostPerHour}`);
  }
}

/**
 * A request's effective urgency in priority levels (lower goes first): priority − boost − hours waited × the
 * age boost. A clock that runs behind a request's enqueue time counts as no wait, never as a penalty.
 */
export function effectiveUrgency(r: QueuedRequest, options: OrderOptions): number {
  checkOrderOptions(options);
  return urgencyKey(r, options) / HOUR_MS;
}

/** Plain code-unit order: the same on every machine and locale. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The queue in the order to batch it: by effective urgency, then enqueue time, then id. A new array. */
export function orderQueue<T extends QueuedRequest>(requests: readonly T[], options: OrderOptions): T[] {
  checkOrderOptions(options);
  const keyed = requests.map((r) => ({ r, key: urgencyKey(r, options) }));
  keyed.sort((a, b) => a.key - b.key || a.r.enqueuedMs - b.r.enqueuedMs || compareIds(a.r.id, b.r.id));
  return keyed.map((k) => k.r);
}

// ---------------------------------------------------------------------------------------------------------
// Picking a batch

export type ConflictFacts = {
  /** Requests whose merge onto the target alone conflicts (predicted with git merge-tree). */
  withTarget: ReadonlySet<string>;
  /** Pairs of requests that conflict with each other, keyed by `pairKey(a, b)`. */
  pairs: ReadonlySet<string>;
};

/** The key of an unordered pair of requests in `ConflictFacts.pairs`: `${a}\u0000${b}` with a < b. */
export function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

export type BatchPick = {
  /** The batch, in stack order. */
  batch: string[];
  /** Conflict with the target: return these to their authors now. */
  conflicts: string[];
  /** Conflict with an earlier pick: they wait for the next batch. */
  deferred: string[];
};

/**
 * Greedy in queue order: a request that conflicts with the target goes to `conflicts`, one that conflicts with a
 * request already picked goes to `deferred`, the others are picked until the batch has `size`. Target conflicts
 * are reported for the whole queue (they are known now, and waiting cannot fix them); once the batch is full
 * the rest simply stay queued. A repeated id counts once.
 */
export function pickBatch(ordered: readonly QueuedRequest[], size: number, conflicts: ConflictFacts): BatchPick {
  const batch: string[] = [];
  const withTarget: string[] = [];
  const deferred: string[] = [];
  const seen = new Set<string>();
  for (const { id } of ordered) {
    if (seen.has(id)) continue;
    seen.add(id);
    if (conflicts.withTarget.has(id)) withTarget.push(id);
    else if (batch.length >= size) continue;
    else if (batch.some((picked) => conflicts.pairs.has(pairKey(picked, id)))) deferred.push(id);
    else batch.push(id);
  }
  return { batch, conflicts: withTarget, deferred };
}

// ---------------------------------------------------------------------------------------------------------
// Adaptive batch size

export type BatchSizing = { size: number; min: number; max: number };

/**
 * The next batch size, additive increase and multiplicative decrease (as Zuul's window and bors do): a green
 * batch grows it by one up to `max`, a red one halves it (rounded down) to no less than `min` and never below 1.
 * A batch stopped because the target itself is broken says nothing about the size: keep it.
 */
export function nextBatchSize(s: BatchSizing, outcome: 'green' | 'red'): BatchSizing {
  const lowest = Math.max(1, Math.floor(s.min));
  const highest = Math.max(lowest, Math.floor(s.max));
  const size = outcome === 'green' ? s.size + 1 : Math.floor(s.size / 2);
  return { size: Math.min(highest, Math.max(lowest, size)), min: s.min, max: s.max };
}

// ---------------------------------------------------------------------------------------------------------
// The red-batch state machine

export type PrefixResult = {
  prefix: number;
  outcome: 'pass' | 'fail';
  failedGate?: string;
  /** This result is the flake re-run of the failed gate. */
  rerun?: boolean;
};

export type BatchState = {
  /** r1..rn, in stack order. */
  batch: readonly string[];
  /** Everything learned so far, in the order learned. */
  results: readonly PrefixResult[];
  /** How many tests may run at once (cores); ≥ 1. */
  slots: number;
};

/** One test to run: the full gates on a prefix, or only `gate` (the flake re-run of the tip). */
export type TestRun = { prefix: number; gate?: string };

export type BatchDecision =
  /** Run these (at most `slots`, all at once), then ask again with their results. */
  | { kind: 'test'; runs: TestRun[] }
  /**
   * Land prefix `prefix` (r1..r_prefix; prefix 0 lands nothing), return `culprits` to their authors, put
   * `requeue` back in the queue for the next batch (innocent until shown otherwise). `flaky`: some result was
   * overruled as a flake on the way.
   */
  | {
      kind: 'land';
      prefix: number;
      landed: string[];
      culprits: { id: string; gate: string }[];
      requeue: string[];
      flaky: boolean;
    }
  /** The target alone fails: do not blame the batch; file a bug, hold the queue. */
  | { kind: 'target-broken'; gate: string };

export type FinalBatchDecision = Exclude<BatchDecision, { kind: 'test' }>;

type TipVerdict =
  { kind: 'pending'; run: TestRun } | { kind: 'pass'; flaky: boolean } | { kind: 'fail'; gate: string; flaky: boolean };

/**
 * What the tip (prefix n) is known to be. The flake rule: a first full test that fails with gate G is followed
 * by one re-run of G alone. If the re-run fails too, the tip is red. If it passes, the first failure was a
 * flake, but the gates after G never ran on this commit, so a second full test decides: pass lands everything
 * (flaky), fail is red with no further re-run. A failure that names no gate cannot be re-run alone, so the
 * second full test is its re-run. The tip is thus tested at most three times, and no other prefix is repeated.
 */
function tipVerdict(n: number, results: readonly PrefixResult[]): TipVerdict {
  const full = results.filter((r) => r.prefix === n && r.rerun !== true);
  const reruns = results.filter((r) => r.prefix === n && r.rerun === true);
  const first = full[0];
  if (first === undefined) return { kind: 'pending', run: { prefix: n } };
  if (first.outcome === 'pass') return { kind: 'pass', flaky: false };
  const gate = first.failedGate;
  let second = full[1];
  if (gate !== undefined) {
    const rerun = reruns[0];
    if (rerun === undefined) return { kind: 'pending', run: { prefix: n, gate } };
    if (rerun.outcome === 'fail') return { kind: 'fail', gate: rerun.failedGate ?? gate, flaky: false };
  } else {
    second ??= reruns[0];
  }
  if (second === undefined) return { kind: 'pending', run: { prefix: n } };
  if (second.outcome === 'pass') return { kind: 'pass', flaky: true };
  return { kind: 'fail', gate: second.failedGate ?? UNNAMED_GATE, flaky: gate !== undefined };
}

type Known = { outcome: 'pass' | 'fail'; gate: string; mixed: boolean };

/** What is known of each prefix below the tip. A pass beats a failure of the same prefix (which was a flake). */
function knownBelowTip(n: number, results: readonly PrefixResult[]): Map<number, Known> {
  const known = new Map<number, Known>();
  for (const r of results) {
    if (!Number.isInteger(r.prefix) || r.prefix < 0 || r.prefix > n) {
      throw new RangeError(`a result for prefix ${r.prefix} of a batch of ${n}`);
    }
    if (r.prefix === n || r.rerun === true) continue;
    const before = known.get(r.prefix);
    const gate = r.failedGate ?? UNNAMED_GATE;
    if (before === undefined) known.set(r.prefix, { outcome: r.outcome, gate, mixed: false });
    else if (before.outcome !== r.outcome) known.set(r.prefix, { outcome: 'pass', gate: before.gate, mixed: true });
  }
  return known;
}

/**
 * Up to `count` prefixes strictly between lo and hi that cut it into `count + 1` near-equal parts; every
 * prefix in between when there are no more of them than `count`.
 */
export function splitPoints(lo: number, hi: number, count: number): number[] {
  const between = hi - lo - 1;
  if (count <= 0 || between <= 0) return [];
  if (count >= between) return Array.from({ length: between }, (_, i) => lo + 1 + i);
  const span = hi - lo;
  const parts = count + 1;
  return Array.from({ length: count }, (_, i) => lo + Math.floor(((i + 1) * span + parts - 1) / parts));
}

function landing(
  batch: readonly string[],
  prefix: number,
  culprit: { at: number; gate: string } | undefined,
  flaky: boolean,
): FinalBatchDecision {
  return {
    kind: 'land',
    prefix,
    landed: batch.slice(0, prefix),
    culprits:
      culprit === undefined ? [] : batch.slice(culprit.at - 1, culprit.at).map((id) => ({ id, gate: culprit.gate })),
    requeue: culprit === undefined ? [] : batch.slice(culprit.at),
    flaky,
  };
}

/**
 * What to do next with a batch, from everything learned so far.
 *
 * - Nothing known: test the tip and, with more slots, prefixes evenly spaced below it (ceil(n/2) with two).
 * - Tip green: land everything. Tip red: the flake rule of the tip (see above) first.
 * - Red tip: binary search for the smallest failing prefix between lo (the longest passing prefix) and hi (the
 *   shortest failing one above lo), all free slots at once, cutting (lo, hi) into slots + 1 parts. Free slots
 *   are used for the search while the tip's re-run is still pending, too.
 * - Prefix 0 is tested only when it matters: when the search narrows down to r1, or in a slot nothing else
 *   needs. Until then lo = 0 is presumed, because a passing longer prefix already shows the target is fine. A
 *   failing prefix 0 with nothing passing and a red tip is `target-broken`.
 * - hi = lo + 1: r_hi is the culprit; land r1..r_lo, requeue r_hi+1..r_n.
 * - Results that contradict monotonicity (a longer prefix passes, a shorter one failed) trust the longest
 *   passing prefix; the shorter failure was a flake (`flaky`).
 *
 * Rounds: one for the tip, one for its re-run, ceil(log2 n) for the search (fewer with more slots), and one
 * for prefix 0 when the culprit is r1: at most ceil(log2 n) + 3, and one more when the tip flaked
 * (`maxBatchRounds`). Each search round tests only prefixes strictly inside (lo, hi), so whatever they answer
 * the next (lo, hi) lies between two neighbouring points: it at least halves, flakes or not.
 */
export function decideBatch(state: BatchState): BatchDecision {
  const { batch } = state;
  const n = batch.length;
  const slots = Math.max(1, Math.floor(state.slots));
  const known = knownBelowTip(n, state.results);
  if (n === 0) return landing(batch, 0, undefined, false);
  const tip = tipVerdict(n, state.results);

  let lo = -1;
  for (const [prefix, k] of known) if (k.outcome === 'pass' && prefix > lo) lo = prefix;
  const loKnown = lo >= 0;
  if (!loKnown) lo = 0;
  let hi = n;
  for (const [prefix, k] of known) if (k.outcome === 'fail' && prefix > lo && prefix < hi) hi = prefix;
  const overruled = (upTo: number): boolean =>
    [...known].some(([prefix, k]) => k.mixed || (k.outcome === 'fail' && prefix <= upTo));

  if (tip.kind === 'pass') return landing(batch, n, undefined, tip.flaky || overruled(n));
  const target = known.get(0);
  if (tip.kind === 'fail') {
    if (!loKnown && target?.outcome === 'fail') return { kind: 'target-broken', gate: target.gate };
    if (hi === lo + 1) {
      if (!loKnown) return { kind: 'test', runs: [{ prefix: 0 }] };
      const gate = hi === n ? tip.gate : (known.get(hi)?.gate ?? UNNAMED_GATE);
      return landing(batch, lo, { at: hi, gate }, tip.flaky || overruled(lo));
    }
  }

  const runs: TestRun[] = tip.kind === 'pending' ? [tip.run] : [];
  for (const prefix of splitPoints(lo, hi, slots - runs.length)) runs.push({ prefix });
  if (runs.length < slots && !loKnown && target === undefined) runs.push({ prefix: 0 });
  return { kind: 'test', runs };
}

// ---------------------------------------------------------------------------------------------------------
// Rounds and metrics

/** The most rounds `decideBatch` takes for a batch of n with one slot: ceil(log2 n) + 3, + 1 if the tip flaked. */
export function maxBatchRounds(n: number): number {
  return Math.ceil(Math.log2(Math.max(1, n))) + 4;
}

/**
 * How many rounds the results took, replaying the decisions: each round is one `test` decision whose runs the
 * next results answer (the executor runs a round's tests, then asks again).
 */
export function countRounds(state: BatchState): number {
  let learned = 0;
  let rounds = 0;
  while (learned < state.results.length) {
    const decision = decideBatch({ ...state, results: state.results.slice(0, learned) });
    if (decision.kind !== 'test') break;
    rounds += 1;
    learned += decision.runs.length;
  }
  return rounds;
}

/** One finished batch, for metrics and the feed. */
export type BatchSummary = {
  size: number;
  outcome: 'green' | 'red' | 'target-broken';
  rounds: number;
  runs: number;
  landed: number;
  culprits: number;
  requeued: number;
  flaky: boolean;
};

export function summarizeBatch(state: BatchState, decision: FinalBatchDecision): BatchSummary {
  const common = { size: state.batch.length, rounds: countRounds(state), runs: state.results.length };
  if (decision.kind === 'target-broken') {
    return { ...common, outcome: 'target-broken', landed: 0, culprits: 0, requeued: 0, flaky: false };
  }
  return {
    ...common,
    outcome: decision.culprits.length === 0 ? 'green' : 'red',
    landed: decision.landed.length,
    culprits: decision.culprits.length,
    requeued: decision.requeue.length,
    flaky: decision.flaky,
  };
}

/** What a gate run answers, in a simulation. */
export type GateOracle = (run: TestRun) => { outcome: 'pass' | 'fail'; failedGate?: string };

/**
 * Drive `decideBatch` to its end against a synchronous oracle (for benchmarks and tests; the real executor runs
 * git and the gates between decisions). Throws if it takes more than `maxRounds` rounds.
 */
export function simulateBatch(
  batch: readonly string[],
  slots: number,
  oracle: GateOracle,
  maxRounds: number = maxBatchRounds(batch.length),
): { decision: FinalBatchDecision; rounds: number; results: PrefixResult[] } {
  const results: PrefixResult[] = [];
  for (let rounds = 0; ; rounds++) {
    const decision = decideBatch({ batch, results, slots });
    if (decision.kind !== 'test') return { decision, rounds, results };
    if (rounds >= maxRounds) throw new RangeError(`the batch is undecided after ${maxRounds} rounds`);
    for (const run of decision.runs) {
      const answer = oracle(run);
      results.push({ prefix: run.prefix, ...answer, ...(run.gate === undefined ? {} : { rerun: true }) });
    }
  }
}
