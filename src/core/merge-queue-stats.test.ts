import { describe, expect, it } from 'vitest';
import type { MergeRequest } from './merge-request.js';
import { mergedSince, queueRows, queueStats, readPassFacts, type PassFacts } from './merge-queue-stats.js';

const H = 3_600_000;
const NOW = 10 * H;

function mr(id: string, state: MergeRequest['state'], enqueuedMs: number): MergeRequest {
  return {
    id,
    title: id,
    priority: 2,
    status: 'open',
    rig: 'gastown',
    branch: `polecat/${id}`,
    commit: 'c',
    target: 'main',
    source: 's',
    worker: 'w',
    state,
    enqueuedMs,
    attempts: 0,
    boost: 0,
    waitingOn: null,
    cause: null,
    landedIn: null,
    gatesPassedOn: null,
    retries: 0,
  };
}

const pass = (p: Partial<PassFacts>): PassFacts => ({
  atMs: NOW - H,
  batch: 0,
  landed: 0,
  returned: [],
  gate_runs: 0,
  rounds: 0,
  red: false,
  flaky: false,
  ...p,
});

describe('queueStats', () => {
  it('counts the queue, its oldest wait, and what passes in the window did', () => {
    const s = queueStats(
      [mr('a', 'queued', NOW - 2 * H), mr('b', 'queued', NOW - H), mr('c', 'returned', 0), mr('d', 'testing', NOW)],
      [
        { enqueuedMs: NOW - 3 * H, landedMs: NOW - 2 * H },
        { enqueuedMs: NOW - 3 * H, landedMs: NOW - H },
        { enqueuedMs: NOW - 3 * H, landedMs: NOW - 20 * H }, // before the window
      ],
      [
        pass({ batch: 3, landed: 1, returned: ['fix-needed'], gate_runs: 4, rounds: 2, red: true }),
        pass({ batch: 1, landed: 1, gate_runs: 2, rounds: 2, flaky: true }),
        pass({ returned: ['conflict'] }),
        pass({ atMs: 0, batch: 8, gate_runs: 100 }), // before the window
      ],
      { nowMs: NOW, windowMs: 4 * H },
    );
    expect(s).toMatchObject({
      queued: 2,
      testing: 1,
      returned: 1,
      oldest_wait_ms: 2 * H,
      landed: 2,
      merges_per_hour: 0.5,
      queue_ms_p50: H,
      queue_ms_p95: 2 * H,
      gate_runs_per_landed: 3,
      batches: 2,
      batch_size_mean: 2,
      isolation_rounds_per_red: 1,
      returns: { 'fix-needed': 1, conflict: 1 },
      flakes: 1,
    });
  });

  it('reads stored pass records defensively', () => {
    expect(readPassFacts('{"batch":3,"returned":["conflict",7],"red":true}', 5)).toEqual({
      atMs: 5,
      batch: 3,
      landed: 0,
      returned: ['conflict'],
      gate_runs: 0,
      rounds: 0,
      red: true,
      flaky: false,
    });
    expect(readPassFacts('not json', 5)).toBeUndefined();
    expect(readPassFacts('[1]', 5)).toBeUndefined();
  });

  it('has no averages of nothing', () => {
    expect(queueStats([], [], [], { nowMs: NOW, windowMs: H })).toMatchObject({
      oldest_wait_ms: null,
      queue_ms_p50: null,
      gate_runs_per_landed: null,
      batch_size_mean: null,
      isolation_rounds_per_red: null,
      merges_per_hour: 0,
    });
  });
});

describe('queueRows', () => {
  const at = (m: MergeRequest, patch: Partial<MergeRequest>): MergeRequest => ({ ...m, ...patch });
  it('numbers the waiting requests in queue order and puts the others after, each kind by priority', () => {
    const rows = queueRows(
      [
        at(mr('late-urgent', 'queued', NOW - H), { priority: 0 }),
        mr('early', 'queued', NOW - 3 * H),
        at(mr('returned', 'returned', NOW - 5 * H), { cause: 'conflict', waitingOn: 't' }),
        at(mr('landed', 'landed', NOW - 9 * H), { cause: 'fix-needed' }),
        at(mr('escalated', 'escalated', NOW - 2 * H), { cause: 'fix-needed' }),
        at(mr('boosted', 'queued', NOW - H), { boost: 1 }),
        mr('testing', 'testing', NOW - 4 * H),
        mr('rejected', 'rejected', NOW - 8 * H),
      ],
      { nowMs: NOW, ageBoostPerHour: 0 },
    );
    expect(rows.map((r) => [r.id, r.position])).toEqual([
      ['late-urgent', 1],
      ['boosted', 2],
      ['testing', 3],
      ['early', 4],
      ['returned', null],
      ['escalated', null],
      ['landed', null],
      ['rejected', null],
    ]);
    expect(rows.find((r) => r.id === 'early')?.age_ms).toBe(3 * H);
    // The cause stays only where it explains the state.
    expect(Object.fromEntries(rows.map((r) => [r.id, r.cause]))).toMatchObject({
      returned: 'conflict',
      escalated: 'fix-needed',
      landed: null,
    });
  });

  it('follows the age boost as the refinery does, and a clock behind the enqueue time is no age', () => {
    const rows = queueRows([at(mr('urgent', 'queued', NOW - H), { priority: 1 }), mr('old', 'queued', NOW - 3 * H)], {
      nowMs: NOW,
      ageBoostPerHour: 1,
    });
    expect(rows.map((r) => r.id)).toEqual(['old', 'urgent']);
    expect(queueRows([mr('future', 'queued', NOW + H)], { nowMs: NOW, ageBoostPerHour: 1 })[0]?.age_ms).toBe(0);
  });
});

describe('mergedSince', () => {
  it('counts what landed since the start of the day, the newest few first', () => {
    const landed = (id: string, closedMs: number, state: MergeRequest['state'] = 'landed') => ({
      mr: { ...mr(id, state, 0), title: `Merge s-${id}: job ${id}`, landedIn: `sha-${id}` },
      closedMs,
    });
    const m = mergedSince(
      [
        landed('a', NOW - H),
        landed('yesterday', NOW - 11 * H),
        landed('b', NOW - 2 * H),
        landed('c', NOW - 30_000),
        landed('rejected', NOW - H, 'rejected'),
        landed('d', NOW - 3 * H),
        landed('nan', Number.NaN),
      ],
      NOW - 10 * H,
      3,
    );
    expect(m.count).toBe(4);
    expect(m.recent.map((r) => r.id)).toEqual(['c', 'a', 'b']);
    expect(m.recent[0]).toMatchObject({ landed_in: 'sha-c', landed_at: new Date(NOW - 30_000).toISOString() });
    expect(m.since).toBe(new Date(NOW - 10 * H).toISOString());
    expect(mergedSince([], NOW, 3)).toMatchObject({ count: 0, recent: [] });
  });
});
