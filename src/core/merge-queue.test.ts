import { describe, expect, it } from 'vitest';
import {
  effectiveUrgency,
  nextBatchSize,
  orderQueue,
  pairKey,
  pickBatch,
  type ConflictFacts,
  type QueuedRequest,
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
  const cases: { from: [number, number, number]; outcome: 'green' | 'red' | 'named'; size: number }[] = [
    { from: [4, 1, 8], outcome: 'green', size: 5 },
    { from: [8, 4, 16], outcome: 'named', size: 8 },
    { from: [20, 4, 16], outcome: 'named', size: 16 },
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
