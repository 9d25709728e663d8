import { describe, expect, it } from 'vitest';
import type { Bead } from './bead.js';
import { applyScalarChanges, decideClaim, diffBeads, statusEventType, withStatus } from './bead-rules.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';

function bead(overrides: Partial<Bead> = {}): Bead {
  return {
    id: 'gt-abc',
    title: 'A bead',
    description: '',
    design: '',
    acceptance_criteria: '',
    notes: '',
    status: 'open',
    priority: 2,
    issue_type: 'task',
    assignee: null,
    created_by: 'alice',
    created_at: T0,
    updated_at: T0,
    started_at: null,
    closed_at: null,
    close_reason: '',
    external_ref: null,
    estimated_minutes: null,
    due_at: null,
    defer_until: null,
    spec_id: null,
    ephemeral: false,
    metadata: {},
    extra: {},
    ...overrides,
  };
}

describe('withStatus', () => {
  it('stamps closed_at and the reason on close', () => {
    const closed = withStatus(bead(), 'closed', T1, 'done');
    expect(closed).toMatchObject({ status: 'closed', closed_at: T1, close_reason: 'done' });
  });
  it('clears closed_at and close_reason when leaving closed', () => {
    const reopened = withStatus(bead({ status: 'closed', closed_at: T0, close_reason: 'x' }), 'open', T1);
    expect(reopened).toMatchObject({ status: 'open', closed_at: null, close_reason: '' });
  });
  it('stamps started_at only the first time work starts', () => {
    const started = withStatus(bead(), 'in_progress', T1);
    expect(started.started_at).toBe(T1);
    const again = withStatus({ ...started, status: 'open' }, 'in_progress', '2026-02-01T00:00:00.000Z');
    expect(again.started_at).toBe(T1);
  });
  it('returns the same bead when nothing changes', () => {
    const b = bead();
    expect(withStatus(b, 'open', T1)).toBe(b);
  });
});

describe('decideClaim', () => {
  it.each<[string, Partial<Bead>, string, string]>([
    ['open and unassigned', {}, 'bob', 'claim'],
    ['open and assigned to the claimant', { assignee: 'bob' }, 'bob', 'claim'],
    ['hooked to the claimant', { status: 'hooked', assignee: 'bob' }, 'bob', 'claim'],
    ['already in progress by the claimant', { status: 'in_progress', assignee: 'bob' }, 'bob', 'already_yours'],
    ['in progress by someone else', { status: 'in_progress', assignee: 'alice' }, 'bob', 'conflict'],
    ['open but assigned to someone else', { assignee: 'alice' }, 'bob', 'conflict'],
    ['hooked to someone else', { status: 'hooked', assignee: 'alice' }, 'bob', 'conflict'],
    ['closed', { status: 'closed' }, 'bob', 'conflict'],
    ['blocked', { status: 'blocked' }, 'bob', 'conflict'],
    ['in progress with nobody assigned', { status: 'in_progress' }, 'bob', 'conflict'],
  ])('%s → %s', (_name, overrides, actor, kind) => {
    expect(decideClaim(bead(overrides), actor).kind).toBe(kind);
  });

  it('names the holder in a conflict', () => {
    const d = decideClaim(bead({ status: 'in_progress', assignee: 'alice' }), 'bob');
    expect(d).toEqual({ kind: 'conflict', reason: 'gt-abc is already claimed by alice (status in_progress)' });
  });
});

describe('applyScalarChanges and diffBeads', () => {
  it('records one change per field that really changed', () => {
    const { next, changed } = applyScalarChanges(bead(), { title: 'A bead', priority: 0, status: 'closed' }, T1);
    expect(next.priority).toBe(0);
    expect(changed.map((c) => [c.field, c.eventType])).toEqual([
      ['status', 'closed'],
      ['priority', 'updated'],
      ['closed_at', 'updated'],
    ]);
  });
  it('appends notes on a new line', () => {
    const once = applyScalarChanges(bead(), { append_notes: 'one' }, T1).next;
    expect(applyScalarChanges(once, { append_notes: 'two' }, T1).next.notes).toBe('one\ntwo');
  });
  it('treats an empty assignee as clearing it', () => {
    expect(applyScalarChanges(bead({ assignee: 'x' }), { assignee: '' }, T1).next.assignee).toBeNull();
  });
  it('merges metadata', () => {
    const { next, changed } = applyScalarChanges(bead({ metadata: { a: 1 } }), { metadata: { b: 2 } }, T1);
    expect(next.metadata).toEqual({ a: 1, b: 2 });
    expect(changed).toEqual([{ field: 'metadata', old: '{"a":1}', new: '{"a":1,"b":2}', eventType: 'updated' }]);
  });
  it('finds no differences between equal beads', () => {
    expect(diffBeads(bead(), bead())).toEqual([]);
  });
  it.each([
    ['open', 'closed', 'closed'],
    ['closed', 'open', 'reopened'],
    ['open', 'in_progress', 'status_changed'],
  ])('a move from %s to %s is a %s event', (from, to, type) => {
    expect(statusEventType(from, to)).toBe(type);
  });
});
