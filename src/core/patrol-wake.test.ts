import { describe, expect, it } from 'vitest';
import { planWakes, wakeText, type LiveProblem } from './patrol-wake.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const at = (agoMs: number): string => new Date(NOW - agoMs).toISOString();
const base: LiveProblem = {
  id: 1,
  kind: 'stalled',
  subject: 'g/polecats/toast',
  subject_type: 'agent',
  rig: 'g',
  owner: 'g/witness',
  summary: 'no progress',
  evidence: {},
  state: 'open',
  first_seen: at(1_000),
  last_seen: at(0),
  woken_at: null,
  resolved_at: null,
  resolution: null,
  escalation: null,
  decidedAtMs: null,
};
const config = { recheckMs: 60_000, mechanicalGraceMs: 30_000 };

describe('planWakes', () => {
  const table: [string, Partial<LiveProblem>, boolean, number | null][] = [
    ['a new problem wakes its owner at once', {}, true, null],
    ['woken and not answered: no second wake', { woken_at: at(500) }, false, null],
    [
      'answered, still there, recheck not yet due: later',
      { woken_at: at(20_000), decidedAtMs: NOW - 10_000, state: 'handling' },
      false,
      NOW + 50_000,
    ],
    [
      'answered, still there after the recheck time: woken again',
      { woken_at: at(90_000), decidedAtMs: NOW - 61_000, state: 'handling' },
      true,
      null,
    ],
    ['escalated: a person has it', { state: 'escalated' }, false, null],
    ['a kind the daemon repairs, just seen: not yet', { kind: 'dead-with-work' }, false, NOW - 1_000 + 30_000],
    ['a kind the daemon repairs, outlasting the grace: woken', { kind: 'zombie', first_seen: at(31_000) }, true, null],
  ];
  for (const [name, changes, woken, next] of table) {
    it(name, () => {
      const plan = planWakes([{ ...base, ...changes }], NOW, config);
      expect(plan.wake.get('g/witness') !== undefined).toBe(woken);
      expect(plan.nextDueMs).toBe(next);
    });
  }

  it('groups the problems by owner', () => {
    const plan = planWakes(
      [base, { ...base, id: 2, subject: 'g/polecats/nux' }, { ...base, id: 3, owner: 'deacon', kind: 'mass-death' }],
      NOW,
      config,
    );
    expect(plan.wake.get('g/witness')?.map((p) => p.id)).toEqual([1, 2]);
    expect(plan.wake.get('deacon')?.map((p) => p.id)).toEqual([3]);
  });

  it('names the problems in the wake text, a few at most', () => {
    const many = Array.from({ length: 7 }, (_, i) => ({ id: i + 1, kind: 'stalled' as const, subject: `s${i}` }));
    const text = wakeText(many);
    expect(text).toContain('7 problem(s)');
    expect(text).toContain('#1 stalled s0');
    expect(text).not.toContain('#6');
    expect(text).toContain('and 2 more');
    expect(text).toContain('gt patrol scan');
  });
});
