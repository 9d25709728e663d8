import type { Bead } from './bead.js';

/**
 * A merge request as the refinery sees it: a bead of type merge-request (filed by `gt done`) whose metadata
 * names the branch, the commit the polecat submitted, the target and the source bead, plus the queue's own
 * bookkeeping under `mq_*` keys. Pure: read from a bead, never from git.
 */

export const MQ_STATES = ['queued', 'testing', 'landed', 'returned', 'escalated'] as const;
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
  const state: MqState = bead.status === 'closed' ? (rawState === 'landed' ? 'landed' : 'escalated') : 'queued';
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
    state: bead.status === 'closed' ? state : isState(rawState) ? rawState : 'queued',
    enqueuedMs: Number.isNaN(enqueued) ? 0 : enqueued,
    attempts: num(m[MQ_KEYS.attempts]),
    boost: num(m[MQ_KEYS.boost]),
    waitingOn: str(m[MQ_KEYS.waitingOn]) ?? null,
    cause: readCause(m[MQ_KEYS.cause]),
    landedIn: str(m[MQ_KEYS.landedIn]) ?? null,
  };
}
