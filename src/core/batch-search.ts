/**
 * The red-batch search: what to test of a batch, and what to land and send back once enough is known. Pure:
 * the refinery's executor stacks the sets this asks for onto the target, runs the gates, and asks again with
 * the results until the answer is `land` or `target-broken`.
 *
 * A test is of a set of the batch's requests merged onto the target. Requests that merge cleanly with each
 * other (conflicts are predicted and kept out of a batch) give the same tree in any order, so a result is
 * known by its set, whatever order it was stacked in.
 *
 * The search keeps an accepted set A (known to pass: it lands) and the pending requests P, in batch order:
 *
 *   1. Test A ∪ P. A pass lands A ∪ P.
 *   2. A failure: find the first request c of P whose addition fails, by testing prefixes of P on top of A
 *      (all slots at once, cutting the unknown span into slots + 1 parts). The requests the failure's output
 *      points at (its suspects: the files they change are named in it) go to the end of P first, so that the
 *      first cut, A plus everything else, tells at once whether the suspects are the cause.
 *   3. c is a culprit: proven by a passing A ∪ P[..c) and a failing A ∪ P[..c]. A takes P[..c), and the search
 *      goes on with the rest of P, in the same pass: an innocent after a culprit is not sent to wait for the
 *      next batch.
 *
 * Flakes: the batch's first failure is re-run once (its failing gate alone), beside the first search round. A
 * re-run that passes overrules it. Later failures are trusted; a pass beats a failure of the same set.
 * The target: presumed to pass (`targetPasses` says it was tested) until the search narrows a failure down
 * to A empty and the first request; then the target alone is tested, and a failing target is `target-broken`:
 * nothing is blamed.
 */

/** The gate named in a decision when the executor reported a failure without naming the gate. */
export const UNNAMED_GATE = 'unnamed';

export type SetResult = {
  /** The requests stacked on the target (a set: order does not matter; empty is the target alone). */
  members: readonly string[];
  outcome: 'pass' | 'fail';
  failedGate?: string;
  /** This result is the flake re-run (of `failedGate` alone) of the batch's first failure. */
  rerun?: boolean;
  /** Of a failure: the requests its output points at. */
  suspects?: readonly string[];
};

/** One test to run: the gates on the target plus `members` merged in this order; only `gate` for a re-run. */
export type SetRun = { members: string[]; gate?: string };

export type SearchState = {
  /** r1..rn, in stack order. */
  batch: readonly string[];
  /** Everything learned so far, in the order learned. */
  results: readonly SetResult[];
  /** How many tests may run at once (cores); ≥ 1. */
  slots: number;
  /** The gates in the order they run: a re-run of the last one that passes means every gate passed. */
  gates?: readonly string[];
  /** Test prefixes of the batch beside its first test, when slots allow (a red batch is likely). */
  speculate?: boolean;
  /** The target alone is known to pass (it is what the refinery last landed after testing it). */
  targetPasses?: boolean;
};

/** A request sent back; `named`: the failure's output pointed at it (its files), so finding it was cheap. */
export type Culprit = { id: string; gate: string; named: boolean };

export type SearchDecision =
  /** Run these (at most `slots`, all at once), then ask again with their results. */
  | { kind: 'test'; runs: SetRun[] }
  /** Land `landed` (in this order; it passed as a whole), send back `culprits`; `flaky`: a failure was overruled. */
  | { kind: 'land'; landed: string[]; culprits: Culprit[]; flaky: boolean }
  /** The target alone fails: do not blame the batch; file a bug, hold the queue. */
  | { kind: 'target-broken'; gate: string };

export type FinalSearchDecision = Exclude<SearchDecision, { kind: 'test' }>;

/** The key of a set of requests: its members sorted, NUL between. */
export function setKey(members: Iterable<string>): string {
  return [...new Set(members)].sort().join('\u0000');
}

type Known = { passed: boolean; failed: boolean; gate: string; suspects: readonly string[] };

function knownResults(state: SearchState): Map<string, Known> {
  const inBatch = new Set(state.batch);
  const known = new Map<string, Known>();
  for (const r of state.results) {
    for (const m of r.members)
      if (!inBatch.has(m)) throw new RangeError(`a result for ${JSON.stringify(m)}, which is not in the batch`);
    if (r.rerun === true) continue;
    const key = setKey(r.members);
    const k = known.get(key) ?? { passed: false, failed: false, gate: UNNAMED_GATE, suspects: [] };
    if (r.outcome === 'pass') k.passed = true;
    else if (!k.failed) {
      k.failed = true;
      k.gate = r.failedGate ?? UNNAMED_GATE;
      k.suspects = r.suspects ?? [];
    }
    known.set(key, k);
  }
  return known;
}

type Verdict = 'pass' | 'fail' | 'unknown';

/** The flake rule on the batch's first failure: its re-run (the failed gate alone), then the rest of the gates. */
function firstFailureVerdict(
  state: SearchState,
  batch: readonly string[],
  k: Known,
): { verdict: Verdict; run?: SetRun; flaky: boolean } {
  const all = setKey(batch);
  const reruns = state.results.filter((r) => r.rerun === true && setKey(r.members) === all);
  const fulls = state.results.filter((r) => r.rerun !== true && setKey(r.members) === all);
  const members = [...batch];
  const rerun = reruns[0];
  if (k.gate === UNNAMED_GATE) {
    // Nothing to re-run alone: a second full test is the re-run.
    const second = fulls[1];
    if (second === undefined) return { verdict: 'unknown', run: { members }, flaky: false };
    return second.outcome === 'pass' ? { verdict: 'pass', flaky: true } : { verdict: 'fail', flaky: false };
  }
  if (rerun === undefined) return { verdict: 'unknown', run: { members, gate: k.gate }, flaky: false };
  if (rerun.outcome === 'fail') return { verdict: 'fail', flaky: false };
  // The re-run passed: the first failure was a flake. The gates after it never ran on this set.
  const gates = state.gates ?? [];
  if (gates.length > 0 && gates.at(-1) === k.gate) return { verdict: 'pass', flaky: true };
  const second = fulls[1];
  if (second === undefined) return { verdict: 'unknown', run: { members }, flaky: true };
  return second.outcome === 'pass' ? { verdict: 'pass', flaky: true } : { verdict: 'fail', flaky: true };
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

/** What to do next with a batch, from everything learned so far (see the top of this file). */
export function decideSearch(state: SearchState): SearchDecision {
  const slots = Math.max(1, Math.floor(state.slots));
  const known = knownResults(state);
  const verdictOf = (members: readonly string[]): Verdict => {
    const k = known.get(setKey(members));
    return k === undefined ? 'unknown' : k.passed ? 'pass' : 'fail';
  };
  const culprits: Culprit[] = [];
  let accepted: string[] = [];
  const batch = [...new Set(state.batch)];
  let pending: string[] = [...batch];
  // A failure overruled: the same set passed too, or a set holding it passed (a culprit's set never passes).
  const failedSets = [...known.entries()].filter(([, k]) => k.failed).map(([key]) => key.split('\u0000'));
  const passedSets = [...known.entries()].filter(([, k]) => k.passed).map(([key]) => new Set(key.split('\u0000')));
  let flaky = failedSets.some((f) => passedSets.some((p) => f.every((m) => m === '' || p.has(m))));
  const land = (): FinalSearchDecision => ({ kind: 'land', landed: accepted, culprits, flaky });

  // Each turn either lands or moves a culprit out of `pending`, so this ends within n + 1 turns.
  for (;;) {
    if (pending.length === 0) return land();
    const full = [...accepted, ...pending];
    const k = known.get(setKey(full));
    if (k === undefined) {
      // The batch's first test: with more slots and `speculate`, its prefixes beside it, so that a failure
      // already points at a part.
      const first = accepted.length === 0 && pending.length === batch.length && state.speculate === true;
      const extra = first
        ? splitPoints(0, pending.length, slots - 1).map((m) => ({ members: pending.slice(0, m) }))
        : [];
      return { kind: 'test', runs: [{ members: full }, ...extra] };
    }
    const runs: SetRun[] = [];
    if (!k.passed && accepted.length === 0 && pending.length === batch.length) {
      const first = firstFailureVerdict(state, batch, k);
      flaky ||= first.flaky;
      if (first.verdict === 'pass') {
        accepted = full;
        return land();
      }
      if (first.run !== undefined) runs.push(first.run);
    } else if (k.passed) {
      accepted = full;
      return land();
    }

    // The search for the first failing addition, suspects last.
    const suspects = new Set(k.suspects.filter((s) => pending.includes(s)));
    if (suspects.size > 0 && suspects.size < pending.length)
      pending = [...pending.filter((p) => !suspects.has(p)), ...pending.filter((p) => suspects.has(p))];
    const prefix = (m: number): string[] => [...accepted, ...pending.slice(0, m)];
    const targetOnly = accepted.length === 0;
    let lo = 0;
    let hi = pending.length;
    for (let m = pending.length - 1; m >= 1; m--)
      if (verdictOf(prefix(m)) === 'pass') {
        lo = m;
        break;
      }
    for (let m = lo + 1; m < pending.length; m++)
      if (verdictOf(prefix(m)) === 'fail') {
        hi = m;
        break;
      }
    // Proven culprits beyond a passing base: the base plus that one request alone fails.
    const baseKnown = lo > 0 || !targetOnly || state.targetPasses === true || known.get(setKey([]))?.passed === true;
    const single = (p: string): string[] => [...prefix(lo), p];
    if (baseKnown && runs.length === 0) {
      const found = pending.slice(lo).find((p) => verdictOf(single(p)) === 'fail');
      if (found !== undefined) {
        culprits.push({
          id: found,
          gate: known.get(setKey(single(found)))?.gate ?? UNNAMED_GATE,
          named: suspects.has(found),
        });
        accepted = prefix(lo);
        pending = pending.slice(lo).filter((p) => p !== found);
        continue;
      }
    }
    if (hi === lo + 1) {
      if (lo === 0 && targetOnly && state.targetPasses !== true) {
        const target = known.get(setKey([]));
        if (target === undefined) {
          if (runs.length === 0) return { kind: 'test', runs: [{ members: [] }] };
          // the re-run is pending: test the target beside it
          return { kind: 'test', runs: [...runs, { members: [] }].slice(0, Math.max(slots, 1)) };
        }
        if (!target.passed) return { kind: 'target-broken', gate: target.gate };
      }
      if (runs.length > 0) return { kind: 'test', runs }; // the culprit stands once the re-run fails too
      const gate = known.get(setKey(prefix(hi)))?.gate ?? UNNAMED_GATE;
      const culprit = pending[hi - 1];
      if (culprit === undefined) throw new RangeError('no request at the failing cut');
      culprits.push({ id: culprit, gate, named: suspects.has(culprit) });
      accepted = prefix(lo);
      pending = pending.slice(hi);
      continue;
    }
    const free = slots - runs.length;
    // Once everything but the suspects passed, each suspect is tried alone on that base, side by side.
    const suspectCut = pending.length - suspects.size;
    if (baseKnown && suspects.size > 1 && lo >= suspectCut && free > 0) {
      const untried = pending.slice(lo, hi).filter((p) => verdictOf(single(p)) === 'unknown');
      for (const p of untried.slice(0, free)) runs.push({ members: single(p) });
      if (runs.length > 0) return { kind: 'test', runs };
    }
    // With suspects the first cut is "everything but them"; further slots split the suspects, then the rest.
    const cuts =
      suspects.size > 0 && suspectCut > lo && suspectCut < hi && free > 0
        ? [suspectCut, ...splitPoints(suspectCut, hi, free - 1)]
        : splitPoints(lo, hi, free);
    if (cuts.length > 0 && cuts[0] === suspectCut && cuts.length < free)
      cuts.push(...splitPoints(lo, suspectCut, free - cuts.length));
    for (const c of cuts) runs.push({ members: prefix(c) });
    if (runs.length === 0) throw new RangeError('the search has nothing to test');
    return { kind: 'test', runs };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Simulation (benchmarks, tests)

/** What a gate run answers, in a simulation. */
export type SetOracle = (run: SetRun) => { outcome: 'pass' | 'fail'; failedGate?: string; suspects?: string[] };

/** The most rounds a batch of n may take: per culprit a search of ceil(log2 n) + 2, and one to test the rest. */
export function maxSearchRounds(n: number): number {
  const search = Math.ceil(Math.log2(Math.max(2, n))) + 3;
  return 1 + Math.max(1, n) * search;
}

/**
 * Drives `decideSearch` to its end against a synchronous oracle. Throws if it takes more than `maxRounds`
 * rounds or a round asks for more runs than slots.
 */
export function simulateSearch(
  batch: readonly string[],
  slots: number,
  oracle: SetOracle,
  options: { gates?: readonly string[]; targetPasses?: boolean; speculate?: boolean; maxRounds?: number } = {},
): { decision: FinalSearchDecision; rounds: number; results: SetResult[] } {
  const results: SetResult[] = [];
  const maxRounds = options.maxRounds ?? maxSearchRounds(batch.length);
  for (let rounds = 0; ; rounds++) {
    const decision = decideSearch({
      batch,
      results,
      slots,
      ...(options.gates !== undefined ? { gates: options.gates } : {}),
      ...(options.targetPasses !== undefined ? { targetPasses: options.targetPasses } : {}),
      ...(options.speculate !== undefined ? { speculate: options.speculate } : {}),
    });
    if (decision.kind !== 'test') return { decision, rounds, results };
    if (rounds >= maxRounds) throw new RangeError(`the batch is undecided after ${maxRounds} rounds`);
    if (decision.runs.length > Math.max(1, slots))
      throw new RangeError(`a round of ${decision.runs.length} runs with ${slots} slots`);
    for (const run of decision.runs) {
      const answer = oracle(run);
      results.push({ members: run.members, ...answer, ...(run.gate === undefined ? {} : { rerun: true }) });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Evidence

const PATHISH = /[A-Za-z0-9_@][A-Za-z0-9_@.\-/\\]*\.[A-Za-z0-9]+/gu;

function baseName(path: string): string {
  return path.split(/[/\\]/u).at(-1) ?? path;
}

/** A file name up to its first dot: `foo` of foo.ts and of foo.test.ts. */
function stem(name: string): string {
  const dot = name.indexOf('.');
  return dot <= 0 ? name : name.slice(0, dot);
}

/**
 * The requests a failure's output points at: those that change a file it names, by path or file name, or whose
 * file shares its stem with a file it names (src/foo.ts with a failing test/foo.test.ts). Stems shorter than
 * three characters count only by full name. In the order of `changed`.
 */
export function suspectsOf(output: string, changed: ReadonlyMap<string, readonly string[]>): string[] {
  const names = new Set<string>();
  const stems = new Set<string>();
  for (const token of output.match(PATHISH) ?? []) {
    const name = baseName(token);
    names.add(name);
    if (stem(name).length >= 3) stems.add(stem(name));
  }
  const out: string[] = [];
  for (const [id, files] of changed) {
    const hit = files.some((f) => {
      const name = baseName(f);
      return output.includes(f) || names.has(name) || (stem(name).length >= 3 && stems.has(stem(name)));
    });
    if (hit) out.push(id);
  }
  return out;
}
