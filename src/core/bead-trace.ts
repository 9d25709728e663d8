import type { AgentSession } from './agent-store.js';
import type { BeadEvent } from './bead.js';
import { isRecord } from './errors.js';
import { parseAddress } from './identity.js';

/**
 * A bead's path through the town as one trace: slung, on an agent's hook (its sessions, its gt done), filed as
 * merge requests, merged. Pure: the caller reads the recorded events (the bead's, its holders', its requests')
 * and the holders' sessions; this turns them into a tree of spans with explicit start and end times, ready to
 * be exported. Nothing here knows about OpenTelemetry.
 */

export type SpanAttributes = Record<string, string | number | boolean>;

export type SpanPlan = {
  name: string;
  startMs: number;
  endMs: number;
  attributes: SpanAttributes;
  /** The stage failed (a merge attempt sent back, a request escalated or rejected). */
  error: boolean;
  children: SpanPlan[];
};

/** Span names, one per stage. */
export const SPAN_NAMES = {
  bead: 'gt.bead',
  sling: 'gt.sling',
  hook: 'gt.hook',
  session: 'gt.session',
  done: 'gt.done',
  mergeRequest: 'gt.merge_request',
  merge: 'gt.merge',
} as const;

/** Attribute keys the spans (and the metrics) share. */
export const ATTR = {
  bead: 'gt.bead.id',
  rig: 'gt.rig',
  agent: 'gt.agent',
  mergeRequest: 'gt.merge_request.id',
  outcome: 'gt.outcome',
} as const;

export type MergeRequestPath = { id: string; events: readonly BeadEvent[] };

export type BeadPath = {
  bead: string;
  /** The bead's own events, oldest first. */
  events: readonly BeadEvent[];
  /** Events recorded on the addresses of the agents that held it (their hooked and unhooked events among them). */
  agentEvents: readonly BeadEvent[];
  /** The sessions of those agents (any order). */
  sessions: readonly AgentSession[];
  /** The merge requests filed for it, each with its own events. */
  mergeRequests: readonly MergeRequestPath[];
};

const MQ_ENDS = new Set(['landed', 'returned', 'escalated', 'rejected']);
const MQ_FAILURES = new Set(['returned', 'escalated', 'rejected']);

const at = (e: BeadEvent): number => Date.parse(e.created_at);

function json(text: string | null): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text ?? '');
    return isRecord(v) ? v : {};
  } catch {
    return {};
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function rigOf(address: string): string | undefined {
  try {
    const id = parseAddress(address);
    return 'rig' in id ? id.rig : undefined;
  } catch {
    return undefined;
  }
}

const clip = (text: string, n: number): string => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** The event that ended the bead's path: its last close, unless it was reopened after. */
export function pathEnd(events: readonly BeadEvent[]): BeadEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e?.event_type === 'closed') return e;
    if (e?.event_type === 'reopened') return undefined;
  }
  return undefined;
}

/** The agents that held the bead on their hook, in the order they took it. */
export function holdersOf(events: readonly BeadEvent[]): string[] {
  const out: string[] = [];
  for (const e of events)
    if (e.event_type === 'hooked' && e.new_value !== null && !out.includes(e.new_value)) out.push(e.new_value);
  return out;
}

/** The merge requests gt done filed for the bead (named in its metadata), in the order filed. */
export function mergeRequestsOf(events: readonly BeadEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.event_type !== 'updated' || e.field !== 'metadata') continue;
    const mr = str(json(e.new_value).gt_merge_request);
    if (mr !== undefined && !out.includes(mr)) out.push(mr);
  }
  return out;
}

/** Whether a request's own events say it is closed (and not reopened since). */
export function isClosed(events: readonly BeadEvent[]): boolean {
  return pathEnd(events) !== undefined;
}

/**
 * The trace of a bead whose path has ended (closed after being on a hook), or undefined while it has not, or
 * when it never was on a hook (mail, a bead closed by hand before anyone worked on it).
 */
export function planBeadTrace(path: BeadPath): SpanPlan | undefined {
  const end = pathEnd(path.events);
  const hooks = path.events.filter((e) => e.event_type === 'hooked' && e.new_value !== null);
  if (end === undefined || hooks.length === 0) return undefined;
  const endMs = at(end);
  const requests = path.mergeRequests.map((mr) => planMergeRequest(mr));
  const children: SpanPlan[] = [];
  let previousHookId = 0;
  for (const hook of hooks) {
    const { sling, span } = planHook(path, hook, previousHookId, endMs);
    children.push(sling, span);
    previousHookId = hook.event_id;
  }
  children.push(...requests.map((r) => r.span));
  const lastHolder = hooks[hooks.length - 1]?.new_value ?? '';
  const rig = requests.map((r) => r.rig).find((r) => r !== undefined) ?? rigOf(lastHolder);
  const landed = requests.find((r) => r.outcome === 'landed');
  const lastRequest = path.mergeRequests[path.mergeRequests.length - 1];
  const reason = path.events.find(
    (e) => e.event_id >= end.event_id && e.event_type === 'updated' && e.field === 'close_reason',
  )?.new_value;
  const attributes: SpanAttributes = {
    [ATTR.bead]: path.bead,
    [ATTR.agent]: lastHolder,
    [ATTR.outcome]: landed !== undefined ? 'landed' : 'closed',
  };
  if (rig !== undefined) attributes[ATTR.rig] = rig;
  const mr = landed?.id ?? lastRequest?.id;
  if (mr !== undefined) attributes[ATTR.mergeRequest] = mr;
  if (reason !== undefined && reason !== null && reason !== '') attributes['gt.close_reason'] = clip(reason, 200);
  return {
    name: SPAN_NAMES.bead,
    startMs: Math.min(...children.map((c) => c.startMs)),
    endMs: Math.max(endMs, ...children.map((c) => c.endMs)),
    attributes,
    error: false,
    children,
  };
}

/** One time on an agent's hook: the sling that put it there, and the hook span with its sessions and done. */
function planHook(
  path: BeadPath,
  hook: BeadEvent,
  previousHookId: number,
  pathEndMs: number,
): { sling: SpanPlan; span: SpanPlan } {
  const agent = hook.new_value ?? '';
  const startMs = at(hook);
  // The hook ends when the agent lets go of it (unhooked, or another bead put on its hook), when it is
  // released from the bead's side, or when the bead closes: whichever was recorded first.
  const ends = [
    ...path.agentEvents.filter(
      (e) =>
        e.issue_id === agent &&
        e.event_id > hook.event_id &&
        (e.event_type === 'unhooked' || e.event_type === 'hooked') &&
        e.old_value === path.bead,
    ),
    ...path.events.filter(
      (e) =>
        e.event_id > hook.event_id &&
        (e.event_type === 'unhooked' || e.event_type === 'hooked' || e.event_type === 'closed'),
    ),
  ].sort((a, b) => a.event_id - b.event_id);
  const endEvent = ends[0];
  const endMs = endEvent === undefined ? pathEndMs : Math.max(startMs, at(endEvent));
  const endedBy =
    endEvent === undefined
      ? 'open'
      : endEvent.event_type === 'closed'
        ? 'closed'
        : endEvent.issue_id === agent
          ? endEvent.event_type === 'hooked'
            ? 'replaced'
            : 'unhooked'
          : 'released';
  const within = (e: BeadEvent): boolean =>
    e.event_id > hook.event_id && (endEvent === undefined || e.event_id <= endEvent.event_id);

  const queued = [...path.events]
    .reverse()
    .find((e) => e.event_type === 'sling_queued' && e.event_id < hook.event_id && e.event_id > previousHookId);
  const rig = rigOf(agent);
  const slingAttrs: SpanAttributes = { [ATTR.bead]: path.bead, [ATTR.agent]: agent, 'gt.sling.queued': !!queued };
  if (rig !== undefined) slingAttrs[ATTR.rig] = rig;
  if (queued?.new_value) slingAttrs['gt.sling.target'] = queued.new_value;
  const sling: SpanPlan = {
    name: SPAN_NAMES.sling,
    startMs: queued === undefined ? startMs : Math.min(at(queued), startMs),
    endMs: startMs,
    attributes: slingAttrs,
    error: false,
    children: [],
  };

  const children: SpanPlan[] = [];
  for (const s of [...path.sessions].sort((a, b) => a.started_at.localeCompare(b.started_at))) {
    if (s.agent !== agent) continue;
    const sStart = Date.parse(s.started_at);
    const sEnd = s.ended_at === null ? Infinity : Date.parse(s.ended_at);
    if (sStart > endMs || sEnd < startMs || (sEnd === startMs && sStart < startMs)) continue;
    const attributes: SpanAttributes = {
      [ATTR.bead]: path.bead,
      [ATTR.agent]: agent,
      'gt.session.id': s.session_id,
      'gt.runtime': s.runtime,
    };
    if (s.end_reason !== null && sEnd <= endMs) attributes['gt.session.end_reason'] = s.end_reason;
    else attributes['gt.session.outlived_hook'] = true;
    children.push({
      name: SPAN_NAMES.session,
      startMs: Math.max(sStart, startMs),
      endMs: Math.min(sEnd, endMs),
      attributes,
      error: s.end_reason === 'crashed' || s.end_reason === 'lost',
      children: [],
    });
  }

  const done = path.events.find(
    (e) =>
      within(e) &&
      e.event_type === 'updated' &&
      e.field === 'metadata' &&
      str(json(e.new_value).gt_done) !== undefined &&
      json(e.new_value).gt_done !== json(e.old_value).gt_done,
  );
  if (done !== undefined) {
    const meta = json(done.new_value);
    const mr = str(meta.gt_merge_request);
    const filed = path.mergeRequests
      .find((r) => r.id === mr)
      ?.events.find((e) => e.event_type === 'created' && e.event_id > hook.event_id);
    const doneStart = Math.min(at(done), filed === undefined ? Infinity : at(filed));
    const attributes: SpanAttributes = { [ATTR.bead]: path.bead, [ATTR.agent]: agent };
    const status = /^gt done (\S+)/.exec(str(meta.gt_done) ?? '')?.[1];
    if (status !== undefined) attributes['gt.done.status'] = status;
    if (mr !== undefined) attributes[ATTR.mergeRequest] = mr;
    children.push({
      name: SPAN_NAMES.done,
      startMs: Math.max(startMs, doneStart),
      endMs: Math.max(startMs, doneStart, endMs),
      attributes,
      error: false,
      children: [],
    });
  }

  const attributes: SpanAttributes = { [ATTR.bead]: path.bead, [ATTR.agent]: agent, 'gt.hook.ended_by': endedBy };
  if (rig !== undefined) attributes[ATTR.rig] = rig;
  return {
    sling,
    span: { name: SPAN_NAMES.hook, startMs, endMs, attributes, error: false, children },
  };
}

/** A merge request's span, with one child per attempt to merge it (testing until it landed or went back). */
function planMergeRequest(mr: MergeRequestPath): {
  id: string;
  rig: string | undefined;
  outcome: string;
  span: SpanPlan;
} {
  const first = mr.events[0];
  const created = mr.events.find((e) => e.event_type === 'created') ?? first;
  const startMs = created === undefined ? 0 : at(created);
  let rig: string | undefined;
  let state = 'queued';
  let landedIn: string | undefined;
  let open: { startMs: number } | undefined;
  const attempts: SpanPlan[] = [];
  const attempt = (fromMs: number, toMs: number, outcome: string): SpanPlan => ({
    name: SPAN_NAMES.merge,
    startMs: fromMs,
    endMs: Math.max(fromMs, toMs),
    attributes: {
      [ATTR.mergeRequest]: mr.id,
      [ATTR.outcome]: outcome,
      ...(rig === undefined ? {} : { [ATTR.rig]: rig }),
    },
    error: MQ_FAILURES.has(outcome),
    children: [],
  });
  for (const e of mr.events) {
    if (e.event_type !== 'updated' || e.field !== 'metadata') continue;
    const meta = json(e.new_value);
    rig = str(meta.rig) ?? rig;
    landedIn = str(meta.mq_landed_in) ?? landedIn;
    const next = str(meta.mq_state) ?? state;
    if (next === state) continue;
    if (next === 'testing') open = { startMs: at(e) };
    else if (open !== undefined) {
      attempts.push(attempt(open.startMs, at(e), MQ_ENDS.has(next) ? next : 'requeued'));
      open = undefined;
    } else if (MQ_ENDS.has(next)) attempts.push(attempt(at(e), at(e), next));
    state = next;
  }
  const closed = pathEnd(mr.events);
  const last = mr.events[mr.events.length - 1];
  const endMs = closed !== undefined ? at(closed) : last === undefined ? startMs : at(last);
  if (open !== undefined) attempts.push(attempt(open.startMs, endMs, 'testing'));
  // Closed by any other way than landing or a rejection counts as escalated (as the queue itself reads it).
  const outcome = closed === undefined ? state : state === 'landed' || state === 'rejected' ? state : 'escalated';
  const attributes: SpanAttributes = { [ATTR.mergeRequest]: mr.id, [ATTR.outcome]: outcome };
  if (rig !== undefined) attributes[ATTR.rig] = rig;
  if (landedIn !== undefined) attributes['gt.landed_in'] = landedIn;
  if (closed === undefined) attributes['gt.merge_request.open'] = true;
  return {
    id: mr.id,
    rig,
    outcome,
    span: {
      name: SPAN_NAMES.mergeRequest,
      startMs,
      endMs: Math.max(startMs, endMs, ...attempts.map((a) => a.endMs)),
      attributes,
      error: closed !== undefined && MQ_FAILURES.has(outcome),
      children: attempts,
    },
  };
}

export type MergeOutcome = {
  mergeRequest: string;
  rig: string | null;
  outcome: 'landed' | 'returned' | 'escalated' | 'rejected';
  atMs: number;
  /** When it entered the queue, if its metadata says (else the caller takes the request's creation). */
  enqueuedMs: number | null;
};

/** The merge attempts that ended in these events (a request's queue state moving to an end), for the metrics. */
export function mergeOutcomes(events: readonly BeadEvent[]): MergeOutcome[] {
  const out: MergeOutcome[] = [];
  for (const e of events) {
    if (e.event_type !== 'updated' || e.field !== 'metadata') continue;
    const before = json(e.old_value);
    const after = json(e.new_value);
    const state = str(after.mq_state);
    if (state === undefined || state === str(before.mq_state)) continue;
    if (state !== 'landed' && state !== 'returned' && state !== 'escalated' && state !== 'rejected') continue;
    const enqueued = Date.parse(str(after.mq_enqueued_at) ?? '');
    out.push({
      mergeRequest: e.issue_id,
      rig: str(after.rig) ?? null,
      outcome: state,
      atMs: at(e),
      enqueuedMs: Number.isNaN(enqueued) ? null : enqueued,
    });
  }
  return out;
}
