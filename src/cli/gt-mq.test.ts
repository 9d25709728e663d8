import { describe, expect, it } from 'vitest';
import { queueStats } from '../core/merge-queue-stats.js';
import { renderQueueStats } from './gt-mq.js';

describe('renderQueueStats (gt mq status, and the summary of gt demo)', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  const passes = [
    {
      atMs: now - 9_000,
      batch: 3,
      landed: 2,
      returned: ['fix-needed'],
      gate_runs: 4,
      rounds: 2,
      red: true,
      flaky: false,
    },
    {
      atMs: now - 4_000,
      batch: 1,
      landed: 1,
      returned: ['conflict'],
      gate_runs: 1,
      rounds: 1,
      red: false,
      flaky: false,
    },
  ];
  const landed = [
    { enqueuedMs: now - 12_000, landedMs: now - 9_000 },
    { enqueuedMs: now - 11_000, landedMs: now - 9_000 },
    { enqueuedMs: now - 6_000, landedMs: now - 4_000 },
  ];

  it('says the window in hours, or in seconds when it is shorter than one', () => {
    const day = renderQueueStats(
      'widgets',
      queueStats([], landed, passes, { nowMs: now, windowMs: 24 * 3_600_000 }),
      now,
    );
    expect(day).toContain('last 24 h: 3 landed (0.1/h), queue time p50 2s p95 3s');
    const short = renderQueueStats('widgets', queueStats([], landed, passes, { nowMs: now, windowMs: 15_000 }), now);
    expect(short).toContain('last 15 s: 3 landed (720.0/h)');
  });

  it('shows the batches, gate runs, isolation rounds and returns by cause', () => {
    const text = renderQueueStats('widgets', queueStats([], landed, passes, { nowMs: now, windowMs: 60_000 }), now);
    expect(text.split('\n')).toEqual([
      'widgets: 0 queued, 0 testing, 0 returned, 0 escalated; oldest wait -',
      'last 60 s: 3 landed (180.0/h), queue time p50 2s p95 3s',
      '  2 batch(es) of 2.0 on average, 1.67 gate runs per landed request, 1.0 isolation rounds per red batch',
      '  returns: fix-needed 1, conflict 1; flakes 0',
      '',
    ]);
  });
});
