import type { Bead } from './bead.js';

/**
 * A merge request as the refinery sees it: a bead of type merge-request (filed by `gt done`) whose metadata
 * names the branch, the commit the polecat submitted, the target and the source bead, plus the queue's own
 * bookkeeping under `mq_*` keys. Pure: read from a bead, never from git.
 */

export const MQ_STATES = ['queued', 'testing', 'landed', 'returned', 'escalated', 'rejected'] as const;
export type MqState = (typeof MQ_STATES)[number];

/** Why a request went back to who can fix it. */
export type ReturnCause = 'conflict' | 'fix-needed' | 'branch-missing';

/** The queue's metadata keys on a merge-request bead. */
export const MQ_KEYS = {
  state: 'mq_state',
  /** When the request (last) entered the queue: first come, first served within a priority. */
  enqueuedAt: 'mq_enqueued_at',
  /** Times it went back (conflict or fix needed); at refinery.max_attempts it is escalated instead. */
  attempts: 'mq_attempts',
  /** Extra urgency in priority levels, given when it comes back fixed. */
  boost: 'mq_boost',
  /** The task bead it waits on while returned. */
  waitingOn: 'mq_waiting_on',
  cause: 'mq_cause',
  /** The target commit that contains it, once landed. */
  landedIn: 'mq_landed_in',
  /**
   * The commit on which the polecat's own run of the rig's gates all passed (`gt gates`), recorded by gt done
   * when it is the commit submitted: while the target has not moved since, the refinery need not test it again.
   */
  gatesPassedOn: 'mq_gates_passed_on',
  /** Times a person put it back in the queue by hand (`gt mq retry`): each later escalation is a new bead. */
  retries: 'mq_retries',
} as const;

export type MergeRequest = {
  id: string;
  title: string;
  priority: number;
  status: string;
  rig: string;
  branch: string;
  /** The commit the polecat submitted (what is merged, whatever the branch holds by then). */
  commit: string;
  target: string;
  source: string;
  worker: string;
  state: MqState;
  enqueuedMs: number;
  attempts: number;
  boost: number;
  waitingOn: string | null;
  cause: ReturnCause | null;
  landedIn: string | null;
  gatesPassedOn: string | null;
  retries: number;
};

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function isState(v: unknown): v is MqState {
  return typeof v === 'string' && (MQ_STATES as readonly string[]).includes(v);
}

function readCause(v: unknown): ReturnCause | null {
  return v === 'conflict' || v === 'fix-needed' || v === 'branch-missing' ? v : null;
}

/** The merge request a bead holds, or undefined when it is not one (or lacks what the queue needs). */
export function readMergeRequest(bead: Bead): MergeRequest | undefined {
  if (bead.issue_type !== 'merge-request') return undefined;
  const m = bead.metadata;
  const branch = str(m.branch);
  const commit = str(m.commit);
  const target = str(m.target);
  const rig = str(m.rig);
  if (branch === undefined || commit === undefined || target === undefined || rig === undefined) return undefined;
  const rawState: unknown = m[MQ_KEYS.state];
  // Closed, it is landed, rejected, or taken out some other way (closed by hand), which counts as escalated.
  const closedState: MqState = rawState === 'landed' || rawState === 'rejected' ? rawState : 'escalated';
  const enqueued = Date.parse(str(m[MQ_KEYS.enqueuedAt]) ?? bead.created_at);
  return {
    id: bead.id,
    title: bead.title,
    priority: bead.priority,
    status: bead.status,
    rig,
    branch,
    commit,
    target,
    source: str(m.source_bead) ?? '',
    worker: str(m.worker) ?? '',
    state: bead.status === 'closed' ? closedState : isState(rawState) ? rawState : 'queued',
    enqueuedMs: Number.isNaN(enqueued) ? 0 : enqueued,
    attempts: num(m[MQ_KEYS.attempts]),
    boost: num(m[MQ_KEYS.boost]),
    waitingOn: str(m[MQ_KEYS.waitingOn]) ?? null,
    cause: readCause(m[MQ_KEYS.cause]),
    landedIn: str(m[MQ_KEYS.landedIn]) ?? null,
    gatesPassedOn: str(m[MQ_KEYS.gatesPassedOn]) ?? null,
    retries: num(m[MQ_KEYS.retries]),
  };
}

/** What a person can do to a request by hand: put it back in the queue, or take it out for good. */
export type ByHand = 'retry' | 'reject';

/**
 * Why `gt mq retry` or `gt mq reject` refuses this request, or null when it may. Retry takes a request that went
 * back (returned) or up (escalated) and is still open; reject takes any request that has not landed and is not
 * being tested. Rejecting a rejected request again is not refused (it finishes what a killed reject left).
 */
export function byHandRefusal(mr: MergeRequest, action: ByHand): { why: string; hint: string } | null {
  if (mr.state === 'landed')
    return {
      why: `it has landed${mr.landedIn !== null ? ` in ${mr.target} at ${mr.landedIn.slice(0, 12)}` : ''}`,
      hint: `to undo it, revert its merge on ${mr.target} with a new bead of work`,
    };
  if (mr.state === 'testing')
    return { why: 'it is being tested by a refinery pass', hint: 'try again once the pass is over' };
  if (action === 'reject') return null;
  if (mr.state === 'rejected')
    return {
      why: 'it was rejected for good',
      hint: 'new commits on its branch and gt done file a new merge request',
    };
  if (mr.state === 'queued') return { why: 'it is queued already', hint: `see its place with "gt mq list ${mr.rig}"` };
  if (mr.status === 'closed')
    return {
      why: 'it is closed (not by the refinery)',
      hint: `reopen it first with "bd reopen ${mr.id}", or file the work again with gt done`,
    };
  return null;
}

/** What a merge request's title says of the work, without gt done's "Merge <bead>: " before it. */
export function workTitle(title: string): string {
  return title.replace(/^Merge [^:]+: /u, '');
}
