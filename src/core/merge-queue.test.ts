import { describe, expect, it } from 'vitest';
import {
  countRounds,
  decideBatch,
  effectiveUrgency,
  maxBatchRounds,
  nextBatchSize,
  orderQueue,
  pairKey,
  pickBatch,
  simulateBatch,
  splitPoints,
  summarizeBatch,
  UNNAMED_GATE,
  type BatchDecision,
  type ConflictFacts,
  type FinalBatchDecision,
  type GateOracle,
  type PrefixResult,
  type QueuedRequest,
  type TestRun,
} from './merge-queue.js';

const HOUR = 3_600_000;
const NOW = 100 * HOUR;

function req(id: string, priority: number, enqueuedMs: number, boost?: number): QueuedRequest {
  return boost === undefined ? { id, priority, enqueuedMs } : { id, priority, enqueuedMs, boost };
}

describe('orderQueue', () => {
  const cases: { name: string; queue: QueuedRequest[]; rate?: number; order: string[] }[] = [
    {
      name: 'most urgent priority first',
      queue: [req('a', 3, NOW), req('b', 0, NOW), req('c', 2, NOW), req('d', 4, NOW), req('e', 1, NOW)],
      rate: 0,
      order: ['b', 'e', 'c', 'a', 'd'],
    },
    {
      name: 'first come, first served within a priority',
      queue: [req('a', 2, NOW - 1_000), req('b', 2, NOW - 3_000), req('c', 2, NOW - 2_000)],
      order: ['b', 'c', 'a'],
    },
    {
      name: 'id breaks a full tie',
      queue: [req('z', 2, NOW), req('m', 2, NOW), req('a', 2, NOW)],
      order: ['a', 'm', 'z'],
    },
    {
      name: 'a boost counts as priority levels',
      queue: [req('plain', 1, NOW), req('requeued', 2, NOW, 1.5)],
      rate: 0,
      order: ['requeued', 'plain'],
    },
    {
      name: 'waiting raises urgency: a P3 waiting 2.5 h goes before a fresh P1',
      queue: [req('fresh', 1, NOW), req('old', 3, NOW - 2.5 * HOUR)],
      order: ['old', 'fresh'],
    },
    {
      name: 'but not before its time: a P3 waiting 1.5 h stays behind a fresh P1',
      queue: [req('fresh', 1, NOW), req('old', 3, NOW - 1.5 * HOUR)],
      order: ['fresh', 'old'],
    },
    {
      name: 'equal urgency exactly (P2 an hour older than P1): the earlier one first',
      queue: [req('p1', 1, NOW - 7 * HOUR), req('p2', 2, NOW - 8 * HOUR)],
      order: ['p2', 'p1'],
    },
    {
      name: 'the rate scales the boost',
      queue: [req('fresh', 0, NOW), req('old', 4, NOW - 1.1 * HOUR)],
      rate: 4,
      order: ['old', 'fresh'],
    },
    {
      name: 'a clock behind the enqueue time is no penalty',
      queue: [req('future', 1, NOW + 5 * HOUR), req('now', 2, NOW)],
      order: ['future', 'now'],
    },
    { name: 'empty', queue: [], order: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ordered = orderQueue(c.queue, { nowMs: NOW, ageBoostPerHour: c.rate ?? 1 });
      expect(ordered.map((r) => r.id)).toEqual(c.order);
    });
  }

  it('returns a new array, keeps the caller’s fields and does not depend on input order', () => {
    const queue = [
      { ...req('a', 2, NOW - HOUR), title: 'A' },
      { ...req('b', 0, NOW), title: 'B' },
      { ...req('c', 2, NOW - HOUR), title: 'C' },
    ];
    const copy = [...queue];
    const ordered = orderQueue(queue, { nowMs: NOW, ageBoostPerHour: 1 });
    expect(queue).toEqual(copy);
    expect(ordered.map((r) => r.title)).toEqual(['B', 'A', 'C']);
    const reversed = orderQueue([...queue].reverse(), { nowMs: NOW, ageBoostPerHour: 1 });
    expect(reversed.map((r) => r.id)).toEqual(['b', 'a', 'c']);
  });

  it('explains the urgency it sorts by, and refuses a nonsense rate', () => {
    expect(effectiveUrgency(req('x', 3, NOW - 2 * HOUR, 1), { nowMs: NOW, ageBoostPerHour: 0.5 })).toBe(1);
    expect(effectiveUrgency(req('x', 3, NOW + HOUR), { nowMs: NOW, ageBoostPerHour: 1 })).toBe(3);
    expect(() => orderQueue([], { nowMs: NOW, ageBoostPerHour: -1 })).toThrow(RangeError);
    expect(() => orderQueue([], { nowMs: NOW, ageBoostPerHour: Number.NaN })).toThrow(RangeError);
  });
});

describe('pairKey', () => {
  it('is the same for both orders, smaller id first, NUL between', () => {
    expect(pairKey('b', 'a')).toBe('a\u0000b');
    expect(pairKey('a', 'b')).toBe('a\u0000b');
    expect(pairKey('gt-10', 'gt-9')).toBe('gt-10\u0000gt-9');
  });
});

describe('pickBatch', () => {
  const queue = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => req(id, 2, i));
  const facts = (withTarget: string[], pairs: [string, string][]): ConflictFacts => ({
    withTarget: new Set(withTarget),
    pairs: new Set(pairs.map(([x, y]) => pairKey(x, y))),
  });
  const cases: {
    name: string;
    size: number;
    conflicts: ConflictFacts;
    pick: { batch: string[]; conflicts: string[]; deferred: string[] };
  }[] = [
    {
      name: 'no conflicts: the first `size` in order',
      size: 3,
      conflicts: facts([], []),
      pick: { batch: ['a', 'b', 'c'], conflicts: [], deferred: [] },
    },
    {
      name: 'a target conflict is returned and the next one takes its place',
      size: 3,
      conflicts: facts(['b'], []),
      pick: { batch: ['a', 'c', 'd'], conflicts: ['b'], deferred: [] },
    },
    {
      name: 'a conflict with an earlier pick waits for the next batch',
      size: 3,
      conflicts: facts([], [['c', 'a']]),
      pick: { batch: ['a', 'b', 'd'], conflicts: [], deferred: ['c'] },
    },
    {
      name: 'a pair conflict with a request that was not picked does not matter',
      size: 3,
      conflicts: facts(['a'], [['a', 'b']]),
      pick: { batch: ['b', 'c', 'd'], conflicts: ['a'], deferred: [] },
    },
    {
      name: 'target conflicts are reported for the whole queue, deferral only until the batch is full',
      size: 2,
      conflicts: facts(['f'], [['a', 'e']]),
      pick: { batch: ['a', 'b'], conflicts: ['f'], deferred: [] },
    },
    {
      name: 'a queue shorter than the batch',
      size: 10,
      conflicts: facts(['d'], [['b', 'e']]),
      pick: { batch: ['a', 'b', 'c', 'f'], conflicts: ['d'], deferred: ['e'] },
    },
    {
      name: 'size 0 picks nothing',
      size: 0,
      conflicts: facts(['c'], []),
      pick: { batch: [], conflicts: ['c'], deferred: [] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(pickBatch(queue, c.size, c.conflicts)).toEqual(c.pick);
    });
  }

  it('counts a repeated id once', () => {
    expect(pickBatch([req('a', 1, 0), req('a', 1, 0), req('b', 1, 1)], 3, facts([], [])).batch).toEqual(['a', 'b']);
  });
});

describe('nextBatchSize', () => {
  const cases: { from: [number, number, number]; outcome: 'green' | 'red'; size: number }[] = [
    { from: [4, 1, 8], outcome: 'green', size: 5 },
    { from: [8, 1, 8], outcome: 'green', size: 8 },
    { from: [8, 1, 8], outcome: 'red', size: 4 },
    { from: [5, 1, 8], outcome: 'red', size: 2 },
    { from: [1, 1, 8], outcome: 'red', size: 1 },
    { from: [5, 3, 8], outcome: 'red', size: 3 },
    { from: [1, 0, 8], outcome: 'red', size: 1 },
    { from: [12, 1, 8], outcome: 'green', size: 8 },
  ];
  for (const c of cases) {
    it(`${c.outcome} at ${c.from[0]} (min ${c.from[1]}, max ${c.from[2]}) → ${c.size}`, () => {
      const [size, min, max] = c.from;
      expect(nextBatchSize({ size, min, max }, c.outcome)).toEqual({ size: c.size, min, max });
    });
  }
});

describe('splitPoints', () => {
  it('cuts (lo, hi) into count + 1 near-equal parts, or takes everything in between', () => {
    expect(splitPoints(0, 8, 1)).toEqual([4]);
    expect(splitPoints(0, 5, 1)).toEqual([3]);
    expect(splitPoints(0, 8, 3)).toEqual([2, 4, 6]);
    expect(splitPoints(4, 8, 1)).toEqual([6]);
    expect(splitPoints(0, 10, 2)).toEqual([4, 7]);
    expect(splitPoints(2, 5, 5)).toEqual([3, 4]);
    expect(splitPoints(3, 4, 2)).toEqual([]);
    expect(splitPoints(0, 8, 0)).toEqual([]);
  });
});

const pass = (prefix: number): PrefixResult => ({ prefix, outcome: 'pass' });
const fail = (prefix: number, failedGate = 'test'): PrefixResult => ({ prefix, outcome: 'fail', failedGate });
const failUnnamed = (prefix: number): PrefixResult => ({ prefix, outcome: 'fail' });
const rerunPass = (prefix: number): PrefixResult => ({ prefix, outcome: 'pass', rerun: true });
const rerunFail = (prefix: number, failedGate = 'test'): PrefixResult => ({
  prefix,
  outcome: 'fail',
  failedGate,
  rerun: true,
});
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `r${i + 1}`);
const test = (...runs: TestRun[]): BatchDecision => ({ kind: 'test', runs });
function land(n: number, prefix: number, culprit?: { at: number; gate: string }, flaky = false): BatchDecision {
  const batch = ids(n);
  return {
    kind: 'land',
    prefix,
    landed: batch.slice(0, prefix),
    culprits: culprit === undefined ? [] : [{ id: `r${culprit.at}`, gate: culprit.gate }],
    requeue: culprit === undefined ? [] : batch.slice(culprit.at),
    flaky,
  };
}
/** The tip of a batch of 8 failed `test` and its re-run confirmed it. */
const red8 = [fail(8), rerunFail(8)];

describe('decideBatch', () => {
  const cases: { name: string; n?: number; slots?: number; results: PrefixResult[]; decision: BatchDecision }[] = [
    // Nothing known yet.
    { name: 'first, the tip', results: [], decision: test({ prefix: 8 }) },
    {
      name: 'with two slots, the tip and its half',
      slots: 2,
      results: [],
      decision: test({ prefix: 8 }, { prefix: 4 }),
    },
    { name: 'the half rounds up', n: 5, slots: 2, results: [], decision: test({ prefix: 5 }, { prefix: 3 }) },
    {
      name: 'with four slots, three evenly spaced prefixes under the tip',
      slots: 4,
      results: [],
      decision: test({ prefix: 8 }, { prefix: 2 }, { prefix: 4 }, { prefix: 6 }),
    },
    {
      name: 'with slots for every prefix, all of them and the target, in one round',
      n: 3,
      slots: 8,
      results: [],
      decision: test({ prefix: 3 }, { prefix: 1 }, { prefix: 2 }, { prefix: 0 }),
    },
    { name: 'a batch of one', n: 1, results: [], decision: test({ prefix: 1 }) },
    { name: 'a batch of one, two slots', n: 1, slots: 2, results: [], decision: test({ prefix: 1 }, { prefix: 0 }) },
    { name: 'an empty batch lands nothing', n: 0, results: [], decision: land(0, 0) },
    { name: 'slots below one count as one', slots: 0, results: [], decision: test({ prefix: 8 }) },

    // A green tip.
    { name: 'the tip passes: land everything', results: [pass(8)], decision: land(8, 8) },
    { name: 'the tip passes with its half', slots: 2, results: [pass(8), pass(4)], decision: land(8, 8) },
    {
      name: 'the tip passes though its half failed: the half flaked',
      slots: 2,
      results: [pass(8), fail(4)],
      decision: land(8, 8, undefined, true),
    },

    // The tip's flake rule.
    {
      name: 'a red tip: re-run only its failed gate',
      results: [fail(8, 'lint')],
      decision: test({ prefix: 8, gate: 'lint' }),
    },
    {
      name: 'the re-run shares the round with the search',
      slots: 2,
      results: [fail(8), pass(4)],
      decision: test({ prefix: 8, gate: 'test' }, { prefix: 6 }),
    },
    {
      name: 'the re-run passes: a full test of the tip decides',
      results: [fail(8), rerunPass(8)],
      decision: test({ prefix: 8 }),
    },
    {
      name: 'and it passes: land everything, flaky',
      results: [fail(8), rerunPass(8), pass(8)],
      decision: land(8, 8, undefined, true),
    },
    {
      name: 'or it fails: red for good, no second re-run',
      results: [fail(8), rerunPass(8), fail(8, 'build')],
      decision: test({ prefix: 4 }),
    },
    {
      name: 'and its culprit carries the gate of that last failure, flaky',
      results: [fail(8), rerunPass(8), fail(8, 'build'), pass(4), pass(6), pass(7)],
      decision: land(8, 7, { at: 8, gate: 'build' }, true),
    },
    {
      name: 'a failure that names no gate is re-run in full',
      results: [failUnnamed(8)],
      decision: test({ prefix: 8 }),
    },
    {
      name: 'whose pass means a flake',
      results: [failUnnamed(8), pass(8)],
      decision: land(8, 8, undefined, true),
    },
    {
      name: 'and whose failure confirms it, without a gate name',
      n: 2,
      results: [failUnnamed(2), failUnnamed(2), pass(1)],
      decision: land(2, 1, { at: 2, gate: UNNAMED_GATE }),
    },

    // Bisection of a confirmed red tip.
    { name: 'a confirmed red tip: bisect, presuming the target passes', results: red8, decision: test({ prefix: 4 }) },
    { name: 'the half passed: look above it', results: [...red8, pass(4)], decision: test({ prefix: 6 }) },
    { name: 'the half failed: look below it', results: [...red8, fail(4)], decision: test({ prefix: 2 }) },
    { name: 'narrowing', results: [...red8, pass(4), fail(6)], decision: test({ prefix: 5 }) },
    {
      name: 'found: land the passing prefix, blame the next, requeue the rest',
      results: [...red8, pass(4), fail(6, 'build'), fail(5, 'typecheck')],
      decision: land(8, 4, { at: 5, gate: 'typecheck' }),
    },
    {
      name: 'the tip’s own request is the culprit with the tip’s gate',
      results: [fail(8, 'e2e'), rerunFail(8, 'e2e'), pass(4), pass(6), pass(7)],
      decision: land(8, 7, { at: 8, gate: 'e2e' }),
    },
    {
      name: 'three slots cut the range into four',
      slots: 3,
      results: red8,
      decision: test({ prefix: 2 }, { prefix: 4 }, { prefix: 6 }),
    },
    {
      name: 'a slot the search does not need goes to the target',
      slots: 3,
      results: [...red8, fail(2)],
      decision: test({ prefix: 1 }, { prefix: 0 }),
    },
    {
      name: 'down to r1: test the target alone',
      results: [...red8, fail(4), fail(2), fail(1)],
      decision: test({ prefix: 0 }),
    },
    {
      name: 'the target passes: r1 is the culprit and nothing lands',
      results: [...red8, fail(4), fail(2), fail(1, 'build'), pass(0)],
      decision: land(8, 0, { at: 1, gate: 'build' }),
    },
    {
      name: 'the target fails: it is broken, the batch is not blamed',
      results: [...red8, fail(4), fail(2), fail(1), fail(0, 'build')],
      decision: { kind: 'target-broken', gate: 'build' },
    },
    {
      name: 'a failing target is broken as soon as the tip is confirmed red',
      n: 3,
      slots: 8,
      results: [fail(3), fail(1), fail(2), fail(0, 'setup'), rerunFail(3)],
      decision: { kind: 'target-broken', gate: 'setup' },
    },
    {
      name: 'but not while the tip is unconfirmed',
      n: 3,
      slots: 8,
      results: [fail(3), fail(1), fail(2), fail(0, 'setup')],
      decision: test({ prefix: 3, gate: 'test' }),
    },

    // Results that contradict monotonicity.
    {
      name: 'a longer prefix passed: the shorter failure was a flake',
      results: [...red8, fail(4), pass(6)],
      decision: test({ prefix: 7 }),
    },
    {
      name: 'and the landing says so',
      results: [...red8, fail(4), pass(6), fail(7)],
      decision: land(8, 6, { at: 7, gate: 'test' }, true),
    },
    {
      name: 'a failing target with a passing prefix above it is no broken target',
      slots: 3,
      results: [...red8, fail(0, 'build'), pass(2), fail(4)],
      decision: test({ prefix: 3 }),
    },
    {
      name: 'a prefix that both passed and failed counts as passing, flaky',
      results: [...red8, fail(4), pass(4), pass(6), pass(7)],
      decision: land(8, 7, { at: 8, gate: 'test' }, true),
    },
    {
      name: 'a flake below the culprit is overruled, one above it is not a flake',
      n: 4,
      slots: 4,
      results: [fail(4), fail(3), pass(2), fail(1), rerunFail(4)],
      decision: land(4, 2, { at: 3, gate: 'test' }, true),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const n = c.n ?? 8;
      expect(decideBatch({ batch: ids(n), results: c.results, slots: c.slots ?? 1 })).toEqual(c.decision);
    });
  }

  it('refuses results for prefixes the batch does not have', () => {
    for (const prefix of [-1, 9, 1.5]) {
      expect(() => decideBatch({ batch: ids(8), results: [pass(prefix)], slots: 1 }), String(prefix)).toThrow(
        RangeError,
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Simulation: random batches, culprits and flakes against decideBatch.

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type World = { n: number; slots: number; culprits: Map<number, string>; targetBroken: boolean };

/**
 * The truth of a run: the target's own failure, or that of the first culprit the prefix contains. A re-run of
 * one gate fails only if that very gate is broken.
 */
function truth(world: World, run: TestRun): { outcome: 'pass' | 'fail'; failedGate?: string } {
  let failedGate: string | undefined = world.targetBroken ? 'env' : undefined;
  for (let i = 1; i <= run.prefix && failedGate === undefined; i++) failedGate = world.culprits.get(i);
  if (failedGate === undefined || (run.gate !== undefined && run.gate !== failedGate)) return { outcome: 'pass' };
  return { outcome: 'fail', failedGate };
}

function firstCulprit(world: World): number | undefined {
  const at = [...world.culprits.keys()];
  return at.length === 0 ? undefined : Math.min(...at);
}

function expected(world: World, flaky: boolean): FinalBatchDecision {
  if (world.targetBroken) return { kind: 'target-broken', gate: 'env' };
  const batch = ids(world.n);
  const c = firstCulprit(world);
  if (c === undefined) return { kind: 'land', prefix: world.n, landed: batch, culprits: [], requeue: [], flaky };
  const gate = world.culprits.get(c) ?? '';
  return {
    kind: 'land',
    prefix: c - 1,
    landed: batch.slice(0, c - 1),
    culprits: [{ id: `r${c}`, gate }],
    requeue: batch.slice(c),
    flaky,
  };
}

function randomWorld(next: () => number): World {
  const n = 1 + Math.floor(next() * 24);
  const slots = 1 + Math.floor(next() * 5);
  const density = next() * 0.3;
  const culprits = new Map<number, string>();
  for (let i = 1; i <= n; i++) if (next() < density) culprits.set(i, ['build', 'test', 'lint'][i % 3] ?? 'test');
  return { n, slots, culprits, targetBroken: next() < 0.05 };
}

/**
 * Drive decideBatch round by round, checking every proposal: within slots, prefixes in range and distinct, no
 * full test of a prefix repeated (the tip's flake rule aside: one gated re-run, one more full test).
 */
function drive(world: World, oracle: GateOracle): { decision: FinalBatchDecision; rounds: number } {
  const batch = ids(world.n);
  const results: PrefixResult[] = [];
  for (let rounds = 0; rounds <= maxBatchRounds(world.n) + 1; rounds++) {
    const decision = decideBatch({ batch, results, slots: world.slots });
    if (decision.kind !== 'test') {
      expect(countRounds({ batch, results, slots: world.slots })).toBe(rounds);
      return { decision, rounds };
    }
    expect(decision.runs.length).toBeGreaterThan(0);
    expect(decision.runs.length).toBeLessThanOrEqual(world.slots);
    expect(new Set(decision.runs.map((r) => r.prefix)).size).toBe(decision.runs.length);
    for (const run of decision.runs) {
      expect(run.prefix).toBeGreaterThanOrEqual(0);
      expect(run.prefix).toBeLessThanOrEqual(world.n);
      const before = results.filter((r) => r.prefix === run.prefix);
      if (run.gate !== undefined) {
        expect(run.prefix).toBe(world.n);
        expect(before.filter((r) => r.rerun === true)).toEqual([]);
      } else if (run.prefix === world.n) {
        expect(before.filter((r) => r.rerun !== true).length).toBeLessThan(2);
        if (before.length > 0) expect(before[0]?.outcome).toBe('fail');
      } else {
        expect(before).toEqual([]);
      }
      results.push({ prefix: run.prefix, ...oracle(run), ...(run.gate === undefined ? {} : { rerun: true }) });
    }
  }
  throw new Error(`no decision within ${maxBatchRounds(world.n) + 1} rounds`);
}

describe('decideBatch, simulated', () => {
  it('without flakes: always the exact answer, never an innocent blamed, within ceil(log2 n) + 3 rounds', () => {
    const next = random(1);
    const worst = new Map<number, number>();
    for (let trial = 0; trial < 1500; trial++) {
      const world = randomWorld(next);
      const { decision, rounds } = drive(world, (run) => truth(world, run));
      expect(decision, JSON.stringify({ trial, world: { ...world, culprits: [...world.culprits] } })).toEqual(
        expected(world, false),
      );
      const bound = Math.ceil(Math.log2(world.n)) + 3;
      expect(rounds).toBeLessThanOrEqual(bound);
      if (world.n >= 8) worst.set(world.slots, Math.max(worst.get(world.slots) ?? -bound, rounds - bound));
    }
    // More slots must buy something: with five, the search takes at least two rounds fewer than the bound.
    expect(worst.get(5)).toBeLessThanOrEqual(-2);
  });

  it('every batch size and culprit position, one slot: the bound is tight only where it must be', () => {
    for (let n = 1; n <= 33; n++) {
      for (let c = 0; c <= n; c++) {
        const world: World = { n, slots: 1, culprits: new Map(c === 0 ? [] : [[c, 'test']]), targetBroken: false };
        const { decision, rounds } = drive(world, (run) => truth(world, run));
        expect(decision).toEqual(expected(world, false));
        const log = Math.ceil(Math.log2(n));
        if (c === 0) expect(rounds).toBe(1);
        else if (c === 1) expect(rounds).toBe(log + 3);
        else expect(rounds).toBeLessThanOrEqual(log + 2);
      }
    }
  });

  it('a flake on the tip’s first run: still the exact answer, marked flaky, one round more at most', () => {
    const next = random(2);
    for (let trial = 0; trial < 1000; trial++) {
      const world = randomWorld(next);
      world.targetBroken = false;
      let tipRuns = 0;
      const { decision, rounds } = drive(world, (run) => {
        if (run.prefix === world.n && run.gate === undefined && tipRuns++ === 0) {
          return { outcome: 'fail', failedGate: 'flaky-test' };
        }
        return truth(world, run);
      });
      const exact = expected(world, true);
      expect(decision).toEqual(exact);
      expect(rounds).toBeLessThanOrEqual(Math.ceil(Math.log2(world.n)) + 4);
    }
  });

  it('with random flakes (a good prefix failing): terminates in bound, never lands a culprit, blames no later one', () => {
    const next = random(3);
    for (let trial = 0; trial < 1500; trial++) {
      const world = randomWorld(next);
      const flakeRate = next() * 0.4;
      const { decision, rounds } = drive(world, (run) =>
        next() < flakeRate ? { outcome: 'fail', failedGate: 'flake' } : truth(world, run),
      );
      expect(rounds).toBeLessThanOrEqual(maxBatchRounds(world.n));
      if (decision.kind === 'target-broken') continue;
      const c = firstCulprit(world) ?? world.n + 1;
      expect(decision.prefix).toBeLessThan(world.targetBroken ? 1 : c);
      expect([...decision.landed, ...decision.culprits.map((x) => x.id), ...decision.requeue]).toEqual(ids(world.n));
      expect(decision.culprits.length).toBeLessThanOrEqual(1);
    }
  });

  it('simulateBatch and summarizeBatch agree with the round-by-round drive', () => {
    const world: World = { n: 8, slots: 1, culprits: new Map([[5, 'test']]), targetBroken: false };
    const run = simulateBatch(ids(8), 1, (r) => truth(world, r));
    expect(run.decision).toEqual(expected(world, false));
    expect(run.rounds).toBe(drive(world, (r) => truth(world, r)).rounds);
    expect(summarizeBatch({ batch: ids(8), results: run.results, slots: 1 }, run.decision)).toEqual({
      size: 8,
      outcome: 'red',
      rounds: run.rounds,
      runs: run.results.length,
      landed: 4,
      culprits: 1,
      requeued: 3,
      flaky: false,
    });
    const broken = simulateBatch(ids(2), 1, () => ({ outcome: 'fail', failedGate: 'env' }));
    expect(broken.decision).toEqual({ kind: 'target-broken', gate: 'env' });
    expect(summarizeBatch({ batch: ids(2), results: broken.results, slots: 1 }, broken.decision)).toMatchObject({
      outcome: 'target-broken',
      landed: 0,
    });
    expect(() => simulateBatch(ids(8), 1, (r) => truth(world, r), 2)).toThrow(RangeError);
  });
});
