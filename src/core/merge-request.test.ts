import { describe, expect, it } from 'vitest';
import type { Bead } from './bead.js';
import { byHandRefusal, readMergeRequest, workTitle, type MergeRequest } from './merge-request.js';

function bead(status: string, metadata: Record<string, unknown>, type = 'merge-request'): Bead {
  return {
    id: 'ga-mr1',
    title: 'Merge ga-1: a job',
    description: '',
    design: '',
    acceptance_criteria: '',
    notes: '',
    status,
    priority: 2,
    issue_type: type,
    assignee: null,
    created_by: 't',
    created_at: '2026-11-23T10:00:00.000Z',
    updated_at: '2026-11-23T10:00:00.000Z',
    started_at: null,
    closed_at: null,
    close_reason: '',
    external_ref: null,
    estimated_minutes: null,
    due_at: null,
    defer_until: null,
    spec_id: null,
    ephemeral: false,
    metadata: { branch: 'polecat/a/ga-1@1', commit: 'c1', target: 'main', rig: 'gastown', ...metadata },
    extra: {},
  };
}

describe('readMergeRequest', () => {
  it.each([
    ['open', undefined, 'queued'],
    ['open', 'queued', 'queued'],
    ['open', 'returned', 'returned'],
    ['open', 'escalated', 'escalated'],
    ['open', 'nonsense', 'queued'],
    // a pass killed between writing landed and closing: it says landed until the next pass closes it
    ['open', 'landed', 'landed'],
    ['closed', 'landed', 'landed'],
    ['closed', 'rejected', 'rejected'],
    // closed some other way (by hand, or a reject killed before it wrote its state): out of the queue
    ['closed', 'returned', 'escalated'],
    ['closed', undefined, 'escalated'],
  ] as const)('%s with mq_state %j reads as %s', (status, state, expected) => {
    expect(readMergeRequest(bead(status, state === undefined ? {} : { mq_state: state }))?.state).toBe(expected);
  });

  it('reads the gates commit and the retries, and defaults them', () => {
    expect(readMergeRequest(bead('open', { mq_gates_passed_on: 'c1', mq_retries: 2 }))).toMatchObject({
      gatesPassedOn: 'c1',
      retries: 2,
    });
    expect(readMergeRequest(bead('open', { mq_gates_passed_on: '', mq_retries: 'x' }))).toMatchObject({
      gatesPassedOn: null,
      retries: 0,
    });
  });

  it('is not a request without its branch, commit, target and rig, or of another type', () => {
    expect(readMergeRequest(bead('open', {}, 'task'))).toBeUndefined();
    expect(readMergeRequest({ ...bead('open', {}), metadata: { branch: 'b', commit: 'c', target: 'main' } })).toBe(
      undefined,
    );
  });
});

describe('byHandRefusal', () => {
  const mr = (state: MergeRequest['state'], status = 'open'): MergeRequest => {
    const read = readMergeRequest(bead(status, { mq_state: state, mq_landed_in: 'abcdef1234567890' }));
    if (read === undefined) throw new Error('not a request');
    return read;
  };
  it.each([
    // state, bead status, retry refused with, reject refused with (null: allowed)
    ['queued', 'open', /queued already/, null],
    ['testing', 'open', /being tested/, /being tested/],
    ['returned', 'open', null, null],
    ['escalated', 'open', null, null],
    ['escalated', 'closed', /closed \(not by the refinery\)/, null],
    ['landed', 'closed', /has landed in main at abcdef123456/, /has landed/],
    ['rejected', 'closed', /rejected for good/, null],
  ] as const)('%s (%s): retry %s, reject %s', (state, status, retry, reject) => {
    const m = mr(state, status);
    expect(m.state).toBe(state);
    const r = byHandRefusal(m, 'retry');
    if (retry === null) expect(r).toBeNull();
    else expect(r?.why).toMatch(retry);
    const j = byHandRefusal(m, 'reject');
    if (reject === null) expect(j).toBeNull();
    else expect(j?.why).toMatch(reject);
    if (r !== null) expect(r.hint).not.toBe('');
  });
});

describe('workTitle', () => {
  it("drops gt done's leading 'Merge <bead>: ' and nothing else", () => {
    expect(workTitle('Merge hq-1ab: Paint the widgets green')).toBe('Paint the widgets green');
    expect(workTitle('Paint: the widgets')).toBe('Paint: the widgets');
    expect(workTitle('Merge hq-1: Merge hq-2: twice')).toBe('Merge hq-2: twice');
  });
});
