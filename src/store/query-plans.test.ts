import { describe, expect, it } from 'vitest';
import { NON_WORK_TYPES } from '../core/bead.js';
import { openDatabase } from './db.js';
import { LIVE_PROBLEMS_OF_KINDS_SQL } from './problem-repo.js';
import * as q from './queries.js';
import { USAGE_GROUPS_SQL } from './usage-repo.js';

/**
 * Query plans, not timings: a hot query that loses its index turns a 10 ms `bd ready` into a 700 ms one
 * (it happened while this was written). These assertions fail the moment a plan regresses that way.
 */
function plan(sql: string, params: Record<string, unknown>): string[] {
  const db = openDatabase(':memory:', { create: true });
  try {
    return db
      .prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .all(params)
      .map((r) => String((r as { detail: unknown }).detail));
  } finally {
    db.close();
  }
}

const readyParams = {
  types: null,
  nonWorkTypes: JSON.stringify(NON_WORK_TYPES),
  parent: null,
  assignee: null,
  unassigned: 0,
  priorities: null,
  labels: null,
  now: '2026-01-01T00:00:00.000Z',
  limit: 100,
};

describe('query plans', () => {
  it('ready walks the ready index in priority order instead of sorting every open bead', () => {
    const lines = plan(q.READY_SQL.priority, readyParams);
    expect(lines).toContain('SEARCH issues USING INDEX issues_ready (status=? AND ephemeral=?)');
    const outer = lines.slice(0, lines.findIndex((l) => l.startsWith('SEARCH issues USING INDEX issues_ready')) + 2);
    expect(outer.join('\n')).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
  });

  it('never scans the dependency table inside a recursive step', () => {
    for (const [name, sql] of Object.entries({
      ready: q.READY_SQL.priority,
      blocked: q.BLOCKED_SQL,
      cycle: q.WOULD_CYCLE_SQL,
    })) {
      const lines = plan(sql, { ...readyParams, from: 'a', to: 'b' });
      const steps = lines.flatMap((l, i) => (l === 'RECURSIVE STEP' ? lines.slice(i + 1, i + 3) : []));
      expect(steps.length, name).toBeGreaterThan(0);
      expect(
        steps.filter((l) => /^SCAN (d|dependencies)\b/.test(l) || /dependencies_type|\(type=\?\)/.test(l)),
        name,
      ).toEqual([]);
    }
  });

  it('answers "who depends on X" from the covering target index', () => {
    const lines = plan(q.DEPENDENT_COUNTS_SQL.replace('?', "'[]'"), {});
    expect(lines.some((l) => /COVERING INDEX dependencies_target \(depends_on_id=\? AND type=\?\)/.test(l))).toBe(true);
  });

  it("reads the live problems of the daemon's every-pass sync from the live index, not the whole history", () => {
    const lines = plan(LIVE_PROBLEMS_OF_KINDS_SQL.replace('?', `'["stalled"]'`), {});
    expect(lines).toContain('SEARCH problems USING INDEX problems_live (kind=?)');
  });

  it.each([
    [{ newest: true }, 'SCAN events'],
    [{ after: 10 }, 'SEARCH events USING INTEGER PRIMARY KEY (rowid>?)'],
    [
      { issueId: 'gastown/refinery', eventType: 'mq_pass', since: 'x' },
      'SEARCH events USING INDEX events_issue (issue_id=?)',
    ],
    [{ issueId: 'ga-1', after: 3 }, 'SEARCH events USING INDEX events_issue (issue_id=? AND event_id>?)'],
  ])('events %o walks the key or the index in order, with no sort', (filter, expected) => {
    const lines = plan(q.eventsSql(filter), {
      issueId: 'ga-1',
      eventType: 'mq_pass',
      after: 3,
      since: '2026-01-01T00:00:00.000Z',
      limit: 10,
    });
    expect(lines).toContain(expected);
    expect(lines.join('\n')).not.toMatch(/TEMP B-TREE/);
  });

  it.each([
    [{ since: '2026-01-01T00:00:00.000Z' }, 'SEARCH usage USING INDEX usage_at (at>?)'],
    [
      { since: '2026-01-01T00:00:00.000Z', agent: 'gastown/polecats/toast' },
      'SEARCH usage USING INDEX usage_agent (agent=? AND at>?)',
    ],
  ])('usage totals %o read the window through an index, not the whole table', (filter, expected) => {
    const lines = plan(USAGE_GROUPS_SQL(filter), {
      since: '2026-01-01T00:00:00.000Z',
      agent: 'gastown/polecats/toast',
    });
    expect(lines).toContain(expected);
    expect(lines.join('\n')).not.toMatch(/SCAN usage/);
  });
});
