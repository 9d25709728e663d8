import { describe, expect, it } from 'vitest';
import {
  admitSling,
  CLAIM_LEASE_MS,
  compareSlings,
  countBusy,
  freeSlots,
  fullBecause,
  hasLimits,
  isStaleClaim,
  NO_LIMITS,
  planDispatch,
  retryDelayMs,
  type BusyPolecats,
  type PendingSling,
  type PolecatLimits,
} from './scheduler.js';

const NOW = Date.UTC(2026, 11, 1, 12);

function sling(id: number, over: Partial<PendingSling> = {}): PendingSling {
  return {
    id,
    bead: `ga-${id}`,
    rig: 'gastown',
    priority: 2,
    queuedAtMs: NOW - 60_000 + id,
    state: 'queued',
    claimant: null,
    claimedAtMs: null,
    attempts: 0,
    failedAtMs: null,
    ...over,
  };
}

const busy = (town: number, rigs: Record<string, number> = {}): BusyPolecats => ({ town, rigs });
const limits = (town: number | null, rigs: Record<string, number | null> = {}): PolecatLimits => ({ town, rigs });

describe('busy polecats', () => {
  it('counts polecats with work on their hook, per rig and in the town; idle ones and other roles do not count', () => {
    expect(
      countBusy([
        { role: 'polecat', rig: 'gastown', hook_bead: 'ga-1' },
        { role: 'polecat', rig: 'gastown', hook_bead: null }, // idle (its session may well be open)
        { role: 'polecat', rig: 'beads', hook_bead: 'be-2' },
        { role: 'crew', rig: 'gastown', hook_bead: 'ga-3' },
        { role: 'witness', rig: 'gastown', hook_bead: 'ga-4' },
        { role: 'mayor', rig: null, hook_bead: 'hq-5' },
      ]),
    ).toEqual({ town: 2, rigs: { gastown: 1, beads: 1 } });
    expect(countBusy([])).toEqual({ town: 0, rigs: {} });
  });
});

describe('capacity arithmetic', () => {
  it.each([
    ['no caps', limits(null), busy(40, { gastown: 40 }), 'gastown', Infinity],
    ['rig cap with room', limits(null, { gastown: 8 }), busy(5, { gastown: 5 }), 'gastown', 3],
    ['rig cap full', limits(null, { gastown: 8 }), busy(8, { gastown: 8 }), 'gastown', 0],
    ['rig cap overshot by named slings', limits(null, { gastown: 2 }), busy(3, { gastown: 3 }), 'gastown', 0],
    ['another rig is full, not this one', limits(null, { beads: 1 }), busy(1, { beads: 1 }), 'gastown', Infinity],
    ['town cap counts every rig', limits(4), busy(4, { beads: 4 }), 'gastown', 0],
    ['the tighter cap wins (town)', limits(3, { gastown: 8 }), busy(1, { gastown: 1 }), 'gastown', 2],
    ['the tighter cap wins (rig)', limits(10, { gastown: 2 }), busy(1, { gastown: 1 }), 'gastown', 1],
    ['a rig with no cap of its own under a town cap', limits(10, { beads: 1 }), busy(6), 'gastown', 4],
  ])('%s', (_what, l, b, rig, free) => {
    expect(freeSlots(l, b, rig)).toBe(free);
  });

  it('says which cap is full', () => {
    expect(fullBecause(limits(10, { gastown: 2 }), busy(2, { gastown: 2 }), 'gastown')).toBe(
      'gastown is at capacity (its scheduler.max_polecats is 2; 2 busy)',
    );
    expect(fullBecause(limits(3), busy(3, { beads: 3 }), 'gastown')).toBe(
      'the town is at capacity (its scheduler.max_polecats is 3; 3 busy)',
    );
  });

  it('knows when nothing is capped', () => {
    expect(hasLimits(NO_LIMITS)).toBe(false);
    expect(hasLimits(limits(null, { gastown: null }))).toBe(false);
    expect(hasLimits(limits(null, { gastown: 1 }))).toBe(true);
    expect(hasLimits(limits(2))).toBe(true);
  });
});

describe('dispatch order', () => {
  it('priority first, then first come first served, then id', () => {
    const list = [
      sling(1, { priority: 3, queuedAtMs: 1 }),
      sling(2, { priority: 0, queuedAtMs: 9 }),
      sling(3, { priority: 2, queuedAtMs: 5 }),
      sling(4, { priority: 2, queuedAtMs: 4 }),
      sling(5, { priority: 2, queuedAtMs: 4 }),
    ];
    expect([...list].sort(compareSlings).map((s) => s.id)).toEqual([2, 4, 5, 3, 1]);
  });

  it('backs off after failures: 5 s, doubling, at most 5 minutes', () => {
    expect([0, 1, 2, 3, 7, 50].map(retryDelayMs)).toEqual([0, 5_000, 10_000, 20_000, 300_000, 300_000]);
  });

  it.each<[string, PendingSling, ReadonlySet<string>, boolean]>([
    ['queued', sling(1), new Set<string>(), false],
    [
      'a fresh claim',
      sling(1, { state: 'dispatching', claimant: 'daemon:1', claimedAtMs: NOW - 1000 }),
      new Set(),
      false,
    ],
    [
      'a claim whose dispatcher is gone',
      sling(1, { state: 'dispatching', claimant: 'daemon:1', claimedAtMs: NOW - 1000 }),
      new Set(['daemon:1']),
      true,
    ],
    [
      'a claim past the lease',
      sling(1, { state: 'dispatching', claimant: 'daemon:1', claimedAtMs: NOW - CLAIM_LEASE_MS }),
      new Set(),
      true,
    ],
  ])('a stale claim: %s', (_what, s, gone, stale) => {
    expect(isStaleClaim(s, NOW, gone)).toBe(stale);
  });
});

describe('planDispatch', () => {
  const ids = (plan: ReturnType<typeof planDispatch>): number[] => plan.next.map((n) => n.sling.id);

  it.each<[string, PendingSling[], PolecatLimits, BusyPolecats, number[]]>([
    ['nothing queued', [], limits(null, { gastown: 8 }), busy(0), []],
    ['everything when nothing is capped', [sling(1), sling(2), sling(3)], NO_LIMITS, busy(30), [1, 2, 3]],
    [
      'as many as there is room for, in order',
      [sling(3), sling(1), sling(2)],
      limits(null, { gastown: 8 }),
      busy(6, { gastown: 6 }),
      [1, 2],
    ],
    ['nothing when full', [sling(1)], limits(null, { gastown: 2 }), busy(2, { gastown: 2 }), []],
    [
      'the highest priority first',
      [sling(1, { priority: 3 }), sling(2, { priority: 1 }), sling(3, { priority: 1 })],
      limits(null, { gastown: 2 }),
      busy(0),
      [2, 3],
    ],
    [
      'a full rig does not hold back another rig',
      [sling(1), sling(2, { rig: 'beads' }), sling(3)],
      limits(null, { gastown: 1 }),
      busy(1, { gastown: 1 }),
      [2],
    ],
    [
      'the town cap across rigs',
      [sling(1), sling(2, { rig: 'beads' }), sling(3, { rig: 'beads' })],
      limits(2),
      busy(0),
      [1, 2],
    ],
    [
      'a live claim holds a slot and is not dispatched twice',
      [sling(1, { state: 'dispatching', claimant: 'daemon:7', claimedAtMs: NOW - 100 }), sling(2), sling(3)],
      limits(null, { gastown: 2 }),
      busy(0),
      [2],
    ],
    [
      "a stale claim is taken over (its dispatcher's lease ran out)",
      [sling(1, { state: 'dispatching', claimant: 'daemon:7', claimedAtMs: NOW - CLAIM_LEASE_MS - 1 }), sling(2)],
      limits(null, { gastown: 1 }),
      busy(0),
      [1],
    ],
    [
      'a failed sling waits out its back-off; the next one goes meanwhile',
      [sling(1, { attempts: 2, failedAtMs: NOW - 3_000 }), sling(2)],
      limits(null, { gastown: 1 }),
      busy(0),
      [2],
    ],
    [
      'a failed sling whose back-off is over goes again',
      [sling(1, { attempts: 1, failedAtMs: NOW - 6_000 }), sling(2)],
      limits(null, { gastown: 1 }),
      busy(0),
      [1],
    ],
    [
      'a blocked sling waits for its blockers and holds no room',
      [sling(1, { blockedBy: ['gt-a'] }), sling(2)],
      limits(null, { gastown: 1 }),
      busy(0),
      [2],
    ],
    ['a sling whose blockers closed goes', [sling(1, { blockedBy: [] })], limits(null, { gastown: 1 }), busy(0), [1]],
  ])('%s', (_what, pending, l, b, expected) => {
    expect(ids(planDispatch({ pending, limits: l, busy: b, paused: false, nowMs: NOW }))).toEqual(expected);
  });

  it('says which beads block a waiting sling', () => {
    const plan = planDispatch({
      pending: [sling(1, { blockedBy: ['gt-a', 'gt-b'] })],
      limits: NO_LIMITS,
      busy: busy(0),
      paused: true,
      nowMs: NOW,
    });
    expect(plan.waiting.map((w) => w.why)).toEqual(['blocked by gt-a, gt-b (not closed yet)']);
  });

  it('dispatches nothing while paused, and says so for each', () => {
    const plan = planDispatch({
      pending: [sling(1), sling(2)],
      limits: NO_LIMITS,
      busy: busy(0),
      paused: true,
      nowMs: NOW,
    });
    expect(plan.next).toEqual([]);
    expect(plan.waiting.map((w) => w.why)).toEqual([
      'the scheduler is paused ("gt scheduler resume" resumes it)',
      'the scheduler is paused ("gt scheduler resume" resumes it)',
    ]);
  });

  it('takes over the claim of a dispatcher that is gone, marked as a take-over', () => {
    const claimed = sling(1, { state: 'dispatching', claimant: 'daemon:7', claimedAtMs: NOW - 100 });
    const plan = planDispatch({
      pending: [claimed],
      limits: NO_LIMITS,
      busy: busy(0),
      paused: false,
      nowMs: NOW,
      goneClaimants: new Set(['daemon:7']),
    });
    expect(plan.next).toEqual([{ sling: claimed, takeOver: true }]);
  });

  it('says why each waits, and when to look again', () => {
    const plan = planDispatch({
      pending: [
        sling(1, { state: 'dispatching', claimant: 'daemon:7', claimedAtMs: NOW - 100 }),
        sling(2, { attempts: 1, failedAtMs: NOW - 1_000 }),
        sling(3),
      ],
      limits: limits(null, { gastown: 1 }),
      busy: busy(0),
      paused: false,
      nowMs: NOW,
    });
    expect(plan.waiting.map((w) => [w.sling.id, w.why])).toEqual([
      [1, 'being dispatched by daemon:7'],
      [2, 'its last dispatch failed; tried again in 4 s'],
      [3, 'gastown is at capacity (its scheduler.max_polecats is 1; 1 busy)'],
    ]);
    expect(plan.recheckAtMs).toBe(NOW + 4_000);
  });
});

describe('admitSling (a new sling: now, or into the queue)', () => {
  const input = (pending: PendingSling[], l: PolecatLimits, b: BusyPolecats, paused = false) => ({
    pending,
    limits: l,
    busy: b,
    paused,
    nowMs: NOW,
  });

  it.each<[string, ReturnType<typeof input>, number, boolean]>([
    ['room and nobody waiting', input([], limits(null, { gastown: 2 }), busy(1, { gastown: 1 })), 2, true],
    ['no caps at all', input([], NO_LIMITS, busy(99)), 2, true],
    ['full', input([], limits(null, { gastown: 2 }), busy(2, { gastown: 2 })), 2, false],
    ['town full', input([], limits(2), busy(2, { beads: 2 })), 2, false],
    ['paused, even with room', input([], NO_LIMITS, busy(0), true), 2, false],
    [
      'room, but an earlier sling of the same priority waits for it',
      input([sling(1)], limits(null, { gastown: 2 }), busy(1, { gastown: 1 })),
      2,
      false,
    ],
    [
      'room, and the waiting sling has a lower priority',
      input([sling(1, { priority: 3 })], limits(null, { gastown: 2 }), busy(1, { gastown: 1 })),
      1,
      true,
    ],
    [
      'room, and the waiting sling is for a full rig',
      input([sling(1, { rig: 'beads' })], limits(null, { gastown: 2, beads: 1 }), busy(1, { beads: 1 })),
      2,
      true,
    ],
    [
      'room while the only waiting sling backs off',
      input([sling(1, { attempts: 3, failedAtMs: NOW })], limits(null, { gastown: 2 }), busy(1, { gastown: 1 })),
      2,
      true,
    ],
  ])('%s', (_what, i, priority, admit) => {
    expect(admitSling(i, { rig: 'gastown', priority }).admit).toBe(admit);
  });

  it('says why it queues', () => {
    const full = admitSling(input([], limits(null, { gastown: 1 }), busy(1, { gastown: 1 })), {
      rig: 'gastown',
      priority: 2,
    });
    expect(full).toEqual({
      admit: false,
      why: 'gastown is at capacity (its scheduler.max_polecats is 1; 1 busy)',
    });
    const behind = admitSling(input([sling(1)], limits(null, { gastown: 2 }), busy(1, { gastown: 1 })), {
      rig: 'gastown',
      priority: 2,
    });
    expect(behind).toEqual({ admit: false, why: 'slings queued before it wait for the same room' });
    expect(admitSling(input([], NO_LIMITS, busy(0), true), { rig: 'gastown', priority: 2 })).toEqual({
      admit: false,
      why: 'the scheduler is paused ("gt scheduler resume" resumes it)',
    });
  });
});
