import { describe, expect, it } from 'vitest';
import type { AgentSession } from './agent-store.js';
import type { BeadEvent } from './bead.js';
import {
  holdersOf,
  isClosed,
  mergeOutcomes,
  mergeRequestsOf,
  pathEnd,
  planBeadTrace,
  type BeadPath,
  type SpanPlan,
} from './bead-trace.js';

const T0 = Date.parse('2026-12-02T01:58:35.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();
const TOAST = 'gastown/polecats/toast';
const MR = 'ga-mr90d3';

let nextId = 100;
function ev(
  ms: number,
  issue: string,
  type: string,
  field: string | null = null,
  oldValue: string | null = null,
  newValue: string | null = null,
): BeadEvent {
  return {
    event_id: nextId++,
    issue_id: issue,
    event_type: type,
    actor: 'x',
    field,
    old_value: oldValue,
    new_value: newValue,
    created_at: iso(ms),
  };
}

const mrMeta = (extra: Record<string, unknown>): string =>
  JSON.stringify({ branch: 'polecat/toast/hq-1@1', target: 'main', source_bead: 'hq-1', rig: 'gastown', ...extra });

function session(id: string, startMs: number, endMs: number | null, reason: AgentSession['end_reason'] = null) {
  return {
    session_id: id,
    agent: TOAST,
    bead_id: 'hq-1',
    runtime: 'sim',
    runtime_session_id: null,
    started_at: iso(startMs),
    ended_at: endMs === null ? null : iso(endMs),
    end_reason: reason,
  } satisfies AgentSession;
}

/** The path a real town records: slung, worked in one session, gt done, landed by the refinery. */
function landedPath(): BeadPath {
  nextId = 100;
  const hooked = ev(193, 'hq-1', 'hooked', 'hook', null, TOAST);
  const agentHooked = ev(194, TOAST, 'hooked', 'hook_bead', null, 'hq-1');
  const filed = ev(543, MR, 'created', null, null, 'Merge hq-1: part');
  const done = ev(
    545,
    'hq-1',
    'updated',
    'metadata',
    '{}',
    JSON.stringify({ gt_done: 'gt done COMPLETED 90d3', gt_merge_request: MR }),
  );
  const unhooked = ev(547, TOAST, 'unhooked', 'hook_bead', 'hq-1', null);
  const testing = ev(1902, MR, 'updated', 'metadata', mrMeta({}), mrMeta({ mq_state: 'testing' }));
  const landed = ev(
    1981,
    MR,
    'updated',
    'metadata',
    mrMeta({ mq_state: 'testing' }),
    mrMeta({ mq_state: 'landed', mq_landed_in: '216fae' }),
  );
  const closed = ev(1983, 'hq-1', 'closed', 'status', 'in_progress', 'closed');
  const reason = ev(1983, 'hq-1', 'updated', 'close_reason', '', `merged as ${MR} in main at 216fae`);
  const mrClosed = ev(1998, MR, 'closed', 'status', 'open', 'closed');
  return {
    bead: 'hq-1',
    events: [ev(50, 'hq-1', 'created'), hooked, done, closed, reason],
    agentEvents: [agentHooked, unhooked],
    sessions: [session('s-1', 208, null)],
    mergeRequests: [{ id: MR, events: [filed, testing, landed, mrClosed] }],
  };
}

/** The tree as [name, start, end, depth] rows, relative to T0: what a reader of the trace sees. */
function rows(plan: SpanPlan, depth = 0): [string, number, number, number][] {
  return [[plan.name, plan.startMs - T0, plan.endMs - T0, depth], ...plan.children.flatMap((c) => rows(c, depth + 1))];
}

describe('planBeadTrace', () => {
  it('makes one tree of a landed bead: sling, hook (session, done), merge request (merge)', () => {
    const plan = planBeadTrace(landedPath());
    expect(plan).toBeDefined();
    if (plan === undefined) return;
    expect(rows(plan)).toEqual([
      ['gt.bead', 193, 1998, 0],
      ['gt.sling', 193, 193, 1],
      ['gt.hook', 193, 547, 1],
      ['gt.session', 208, 547, 2],
      ['gt.done', 543, 547, 2],
      ['gt.merge_request', 543, 1998, 1],
      ['gt.merge', 1902, 1981, 2],
    ]);
    expect(plan.attributes).toEqual({
      'gt.bead.id': 'hq-1',
      'gt.agent': TOAST,
      'gt.rig': 'gastown',
      'gt.outcome': 'landed',
      'gt.merge_request.id': MR,
      'gt.close_reason': `merged as ${MR} in main at 216fae`,
    });
    const [, hook, request] = plan.children;
    expect(hook?.attributes).toMatchObject({ 'gt.agent': TOAST, 'gt.rig': 'gastown', 'gt.hook.ended_by': 'unhooked' });
    expect(hook?.children[0]?.attributes).toMatchObject({
      'gt.session.id': 's-1',
      'gt.runtime': 'sim',
      'gt.session.outlived_hook': true,
    });
    expect(hook?.children[1]?.attributes).toMatchObject({ 'gt.done.status': 'COMPLETED', 'gt.merge_request.id': MR });
    expect(request?.attributes).toEqual({
      'gt.merge_request.id': MR,
      'gt.outcome': 'landed',
      'gt.rig': 'gastown',
      'gt.landed_in': '216fae',
    });
    expect(request?.children[0]?.attributes).toMatchObject({ 'gt.outcome': 'landed' });
    expect(request?.children[0]?.error).toBe(false);
  });

  it('has no trace before the bead closes, nor for a bead never on a hook', () => {
    const p = landedPath();
    expect(planBeadTrace({ ...p, events: p.events.filter((e) => e.event_type !== 'closed') })).toBeUndefined();
    expect(planBeadTrace({ ...p, events: p.events.filter((e) => e.event_type !== 'hooked') })).toBeUndefined();
  });

  it('ends a path again when a closed bead is reopened and closed later, not before', () => {
    const p = landedPath();
    const reopened = ev(3000, 'hq-1', 'reopened', 'status', 'closed', 'open');
    expect(pathEnd([...p.events, reopened])).toBeUndefined();
    const again = ev(4000, 'hq-1', 'closed', 'status', 'open', 'closed');
    expect(pathEnd([...p.events, reopened, again])).toBe(again);
  });

  it('shows a queued sling waiting, a crashed session, a second hook and a merge attempt sent back', () => {
    nextId = 100;
    const queued = ev(0, 'hq-1', 'sling_queued', 'target', null, 'gastown');
    const hooked = ev(1000, 'hq-1', 'hooked', 'hook', null, TOAST);
    const released = ev(5000, 'hq-1', 'unhooked', 'hook', TOAST, null);
    const again = ev(6000, 'hq-1', 'hooked', 'hook', null, TOAST);
    const done = ev(
      9000,
      'hq-1',
      'updated',
      'metadata',
      '{}',
      JSON.stringify({ gt_done: 'gt done COMPLETED c', gt_merge_request: MR }),
    );
    const unhooked = ev(9100, TOAST, 'unhooked', 'hook_bead', 'hq-1', null);
    const filed = ev(8900, MR, 'created');
    const t1 = ev(10_000, MR, 'updated', 'metadata', mrMeta({}), mrMeta({ mq_state: 'testing' }));
    const back = ev(
      11_000,
      MR,
      'updated',
      'metadata',
      mrMeta({ mq_state: 'testing' }),
      mrMeta({ mq_state: 'returned' }),
    );
    const requeued = ev(
      20_000,
      MR,
      'updated',
      'metadata',
      mrMeta({ mq_state: 'returned' }),
      mrMeta({ mq_state: 'queued' }),
    );
    const t2 = ev(21_000, MR, 'updated', 'metadata', mrMeta({ mq_state: 'queued' }), mrMeta({ mq_state: 'testing' }));
    const landed = ev(
      22_000,
      MR,
      'updated',
      'metadata',
      mrMeta({ mq_state: 'testing' }),
      mrMeta({ mq_state: 'landed' }),
    );
    const closed = ev(22_001, 'hq-1', 'closed', 'status', 'in_progress', 'closed');
    const mrClosed = ev(22_002, MR, 'closed', 'status', 'open', 'closed');
    const plan = planBeadTrace({
      bead: 'hq-1',
      events: [queued, hooked, released, again, done, closed],
      agentEvents: [unhooked],
      sessions: [
        session('s-1', 1100, 3000, 'crashed'),
        session('s-2', 3500, 4900, 'killed'),
        session('s-3', 6100, null),
      ],
      mergeRequests: [{ id: MR, events: [filed, t1, back, requeued, t2, landed, mrClosed] }],
    });
    if (plan === undefined) throw new Error('no plan');
    expect(rows(plan)).toEqual([
      ['gt.bead', 0, 22_002, 0],
      ['gt.sling', 0, 1000, 1],
      ['gt.hook', 1000, 5000, 1],
      ['gt.session', 1100, 3000, 2],
      ['gt.session', 3500, 4900, 2],
      ['gt.sling', 6000, 6000, 1],
      ['gt.hook', 6000, 9100, 1],
      ['gt.session', 6100, 9100, 2],
      ['gt.done', 8900, 9100, 2],
      ['gt.merge_request', 8900, 22_002, 1],
      ['gt.merge', 10_000, 11_000, 2],
      ['gt.merge', 21_000, 22_000, 2],
    ]);
    const [sling1, hook1, sling2, hook2, request] = plan.children;
    expect(sling1?.attributes).toMatchObject({ 'gt.sling.queued': true, 'gt.sling.target': 'gastown' });
    expect(sling2?.attributes).toMatchObject({ 'gt.sling.queued': false });
    expect(hook1?.attributes['gt.hook.ended_by']).toBe('released');
    expect(hook1?.children.map((c) => [c.attributes['gt.session.end_reason'], c.error])).toEqual([
      ['crashed', true],
      ['killed', false],
    ]);
    expect(hook2?.attributes['gt.hook.ended_by']).toBe('unhooked');
    expect(request?.children.map((c) => [c.attributes['gt.outcome'], c.error])).toEqual([
      ['returned', true],
      ['landed', false],
    ]);
    expect(plan.attributes['gt.outcome']).toBe('landed');
  });

  it('closes a bead worked without a merge request as closed, and a request closed by hand as escalated', () => {
    nextId = 100;
    const hooked = ev(0, 'hq-1', 'hooked', 'hook', null, 'mayor');
    const closed = ev(500, 'hq-1', 'closed', 'status', 'hooked', 'closed');
    const plain = planBeadTrace({
      bead: 'hq-1',
      events: [hooked, closed],
      agentEvents: [],
      sessions: [],
      mergeRequests: [],
    });
    expect(plain === undefined ? [] : rows(plain)).toEqual([
      ['gt.bead', 0, 500, 0],
      ['gt.sling', 0, 0, 1],
      ['gt.hook', 0, 500, 1],
    ]);
    expect(plain?.attributes).toEqual({ 'gt.bead.id': 'hq-1', 'gt.agent': 'mayor', 'gt.outcome': 'closed' });
    expect(plain?.children[1]?.attributes['gt.hook.ended_by']).toBe('closed');

    const filed = ev(100, MR, 'created');
    const queued = ev(110, MR, 'updated', 'metadata', '{}', mrMeta({ mq_state: 'queued' }));
    const byHand = ev(400, MR, 'closed', 'status', 'open', 'closed');
    const plan = planBeadTrace({
      bead: 'hq-1',
      events: [hooked, closed],
      agentEvents: [],
      sessions: [],
      mergeRequests: [{ id: MR, events: [filed, queued, byHand] }],
    });
    const request = plan?.children[2];
    expect(request?.attributes).toMatchObject({ 'gt.outcome': 'escalated', 'gt.rig': 'gastown' });
    expect(request?.error).toBe(true);
    expect(plan?.attributes).toMatchObject({ 'gt.outcome': 'closed', 'gt.merge_request.id': MR, 'gt.rig': 'gastown' });
  });
});

describe('what the follower reads off the events', () => {
  it('names the holders and the merge requests, and tells a closed request', () => {
    const p = landedPath();
    expect(holdersOf(p.events)).toEqual([TOAST]);
    expect(mergeRequestsOf(p.events)).toEqual([MR]);
    expect(isClosed(p.mergeRequests[0]?.events ?? [])).toBe(true);
    expect(isClosed((p.mergeRequests[0]?.events ?? []).slice(0, -1))).toBe(false);
  });

  it('counts merge attempts that ended, with the rig and when the request was enqueued', () => {
    nextId = 100;
    const events = [
      ev(0, MR, 'updated', 'metadata', mrMeta({}), mrMeta({ mq_state: 'testing' })),
      ev(10, MR, 'updated', 'metadata', mrMeta({ mq_state: 'testing' }), mrMeta({ mq_state: 'returned' })),
      ev(20, MR, 'updated', 'metadata', mrMeta({ mq_state: 'returned' }), mrMeta({ mq_state: 'returned', x: 1 })),
      ev(30, MR, 'updated', 'metadata', mrMeta({}), mrMeta({ mq_state: 'landed', mq_enqueued_at: iso(-5000) })),
      ev(40, 'hq-2', 'updated', 'metadata', '{}', '{"gt_done":"x"}'),
      ev(50, MR, 'updated', 'title', 'a', 'b'),
      ev(60, MR, 'updated', 'metadata', 'not json', mrMeta({ mq_state: 'rejected' })),
    ];
    expect(mergeOutcomes(events)).toEqual([
      { mergeRequest: MR, rig: 'gastown', outcome: 'returned', atMs: T0 + 10, enqueuedMs: null },
      { mergeRequest: MR, rig: 'gastown', outcome: 'landed', atMs: T0 + 30, enqueuedMs: T0 - 5000 },
      { mergeRequest: MR, rig: 'gastown', outcome: 'rejected', atMs: T0 + 60, enqueuedMs: null },
    ]);
  });
});
