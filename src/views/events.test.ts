import { describe, expect, it } from 'vitest';
import type { BeadEvent } from '../core/bead.js';
import { describeEvent, isNews, type EventBead } from './events.js';

const at = '2026-12-02T10:00:00.000Z';
let next = 1;
const ev = (e: Partial<BeadEvent> & Pick<BeadEvent, 'issue_id' | 'event_type'>): BeadEvent => ({
  event_id: next++,
  actor: 'gastown/polecats/toast',
  field: null,
  old_value: null,
  new_value: null,
  created_at: at,
  ...e,
});

const beads = new Map<string, EventBead>([
  ['ga-1', { issue_type: 'task', title: 'Add the health endpoint' }],
  ['hq-m1', { issue_type: 'message', title: 'Convoy landed: health (hq-c1)' }],
  ['ga-mr-1', { issue_type: 'merge-request', title: 'Merge ga-1' }],
  ['hq-e1', { issue_type: 'escalation', title: 'the disk is full' }],
]);

describe('describeEvent', () => {
  const cases: [string, BeadEvent, string, 'bad' | 'good' | 'info'][] = [
    [
      'a bead filed',
      ev({ issue_id: 'ga-1', event_type: 'created', new_value: 'Add the health endpoint' }),
      'ga-1 filed "Add the health endpoint"',
      'info',
    ],
    [
      'a bead gone since, filed',
      ev({ issue_id: 'ga-9', event_type: 'created', new_value: 'since deleted' }),
      'ga-9 filed "since deleted"',
      'info',
    ],
    [
      'mail',
      ev({ issue_id: 'hq-m1', event_type: 'created' }),
      'mail hq-m1 filed "Convoy landed: health (hq-c1)"',
      'info',
    ],
    [
      'an escalation',
      ev({ issue_id: 'hq-e1', event_type: 'created' }),
      'escalation hq-e1 filed "the disk is full"',
      'bad',
    ],
    [
      'a merge request closed',
      ev({ issue_id: 'ga-mr-1', event_type: 'closed', field: 'status', old_value: 'open', new_value: 'closed' }),
      'merge request ga-mr-1 "Merge ga-1" closed',
      'good',
    ],
    [
      'a status change',
      ev({ issue_id: 'ga-1', event_type: 'status_changed', field: 'status', old_value: 'open', new_value: 'hooked' }),
      'ga-1 "Add the health endpoint" open → hooked',
      'info',
    ],
    [
      'a claim',
      ev({
        issue_id: 'ga-1',
        event_type: 'claimed',
        field: 'assignee',
        old_value: null,
        new_value: 'gastown/polecats/toast',
      }),
      'ga-1 "Add the health endpoint" claimed by gastown/polecats/toast',
      'info',
    ],
    [
      'a release',
      ev({
        issue_id: 'ga-1',
        event_type: 'claimed',
        field: 'assignee',
        old_value: 'gastown/polecats/toast',
        new_value: '',
      }),
      'ga-1 "Add the health endpoint" released by gastown/polecats/toast',
      'info',
    ],
    [
      'a hook',
      ev({ issue_id: 'gastown/polecats/toast', event_type: 'hooked', field: 'hook_bead', new_value: 'ga-1' }),
      'gastown/polecats/toast hooked ga-1',
      'info',
    ],
    [
      'a crash',
      ev({ issue_id: 'gastown/polecats/toast', event_type: 'session_ended', new_value: 'crashed' }),
      'gastown/polecats/toast session ended (crashed)',
      'bad',
    ],
    [
      'a handoff',
      ev({ issue_id: 'gastown/polecats/toast', event_type: 'session_ended', new_value: 'handoff' }),
      'gastown/polecats/toast session ended (handoff)',
      'info',
    ],
    [
      'a problem',
      ev({ issue_id: 'problem:7', event_type: 'problem_opened', new_value: 'no progress for 20m' }),
      'problem #7 opened: no progress for 20m',
      'bad',
    ],
    [
      'a refinery pass that landed and sent one back',
      ev({
        issue_id: 'gastown/refinery',
        event_type: 'mq_pass',
        new_value: JSON.stringify({ batch: 3, landed: 2, returned: ['fix-needed'] }),
      }),
      'gastown/refinery tested a batch of 3, landed 2, sent back 1 (fix-needed)',
      'bad',
    ],
    [
      'an idle refinery pass',
      ev({ issue_id: 'gastown/refinery', event_type: 'mq_pass', new_value: '{}' }),
      'gastown/refinery looked, nothing to do',
      'info',
    ],
    [
      'red gates',
      ev({ issue_id: 'gastown/polecats/toast', event_type: 'gates_run', new_value: '{"ok":false}' }),
      'gastown/polecats/toast ran the gates: red',
      'bad',
    ],
    [
      'an event of a kind not known here',
      ev({ issue_id: 'gastown/witness', event_type: 'patrol_note', new_value: 'looked at toast' }),
      'gastown/witness patrol note: looked at toast',
      'info',
    ],
  ];
  it.each(cases)('%s', (_what, e, text, tone) => {
    expect(describeEvent(e, beads)).toMatchObject({ id: e.event_id, at, subject: e.issue_id, text, tone });
  });

  it('clips long values to one line', () => {
    const long = `first line\nsecond ${'x'.repeat(200)}`;
    const d = describeEvent(ev({ issue_id: 'ga-1', event_type: 'commented', new_value: long }), beads);
    expect(d.text).not.toContain('\n');
    expect(d.text.length).toBeLessThan(140);
    expect(d.text).toContain('…');
  });
});

describe('isNews', () => {
  it('leaves out mail plumbing, labels and metadata edits; keeps the rest', () => {
    expect(isNews(ev({ issue_id: 'hq-m1', event_type: 'created' }), beads)).toBe(true);
    expect(isNews(ev({ issue_id: 'hq-m1', event_type: 'updated', field: 'labels' }), beads)).toBe(false);
    expect(isNews(ev({ issue_id: 'ga-1', event_type: 'label_added', new_value: 'x' }), beads)).toBe(false);
    expect(isNews(ev({ issue_id: 'ga-1', event_type: 'updated', field: 'metadata' }), beads)).toBe(false);
    expect(isNews(ev({ issue_id: 'ga-1', event_type: 'updated', field: 'title' }), beads)).toBe(true);
    expect(isNews(ev({ issue_id: 'ga-1', event_type: 'updated', field: 'closed_at' }), beads)).toBe(false);
    expect(isNews(ev({ issue_id: 'ga-1', event_type: 'updated', field: 'close_reason' }), beads)).toBe(false);
    expect(isNews(ev({ issue_id: 'gastown/polecats/toast', event_type: 'session_started' }), beads)).toBe(true);
  });
});
