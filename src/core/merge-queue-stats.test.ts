import { describe, expect, it } from 'vitest';
import type { MergeRequest } from './merge-request.js';
import { queueStats, readPassFacts, type PassFacts } from './merge-queue-stats.js';

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
