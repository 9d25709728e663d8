/**
 * The sling queue port: slings that waited for capacity (`scheduler.max_polecats`), kept in the store so that
 * they outlive every process, and dispatched exactly once. Same rules as the other ports: every operation is
 * atomic, validates before it writes, records its events (subject: the bead) in the same transaction, and
 * returns a Promise.
 *
 * A queued sling is `queued` until a dispatcher claims it (`dispatching`, by compare-and-set: of two racing
 * dispatchers one wins), then `dispatched` once its bead is on a polecat's hook, or back to `queued` when the
 * dispatch failed part-way. `dropped` (its bead was closed, deleted or slung elsewhere meanwhile) and
 * `cancelled` (`gt scheduler cancel`) end it too.
 */

export const QUEUED_SLING_STATES = ['queued', 'dispatching', 'dispatched', 'dropped', 'cancelled'] as const;
export type QueuedSlingState = (typeof QUEUED_SLING_STATES)[number];

export type QueuedSling = {
  id: number;
  bead: string;
  rig: string;
  /** What it was slung to: the rig, or the address of a polecat to make (`--create`). */
  target: string;
  create: boolean;
  /** The sling's `--args` and `--agent`, for when it is dispatched. */
  args: string | null;
  agent: string | null;
  /** The bead's priority (now, for pending slings; as queued, when the bead is gone). */
  priority: number;
  queued_by: string;
  queued_at: string;
  state: QueuedSlingState;
  /** The dispatcher that claimed it (`<actor>:<pid>`), and when. */
  claimed_by: string | null;
  claimed_at: string | null;
  /** Dispatches that failed part-way, the last one's error and time. */
  attempts: number;
  last_error: string | null;
  failed_at: string | null;
  finished_at: string | null;
  /** Dispatched: the agent it went to; dropped or cancelled: why. */
  outcome: string | null;
};

export type QueueSlingInput = {
  bead: string;
  rig: string;
  target: string;
  create?: boolean;
  args?: string;
  agent?: string;
};

/** The scheduler was paused (`gt scheduler pause`): nothing queued is dispatched until it is resumed. */
export type SchedulerPause = { since: string; by: string };

export type SlingQueueStore = {
  /**
   * Queues a sling, with the bead's priority. A bead has at most one pending sling: queueing it again to the
   * same target returns that one (`created: false`); to another target is a ConflictError. A closed bead is a
   * ValidationError, an unknown bead or rig a NotFoundError.
   */
  queueSling(input: QueueSlingInput, actor: string): Promise<{ sling: QueuedSling; created: boolean }>;
  /** Pending slings (queued and dispatching), in dispatch order: priority, then first come first served. */
  pendingSlings(): Promise<QueuedSling[]>;
  /** The latest slings that ended (dispatched, dropped, cancelled), newest first. */
  finishedSlings(limit: number): Promise<QueuedSling[]>;
  /**
   * Claims a queued sling for `claimant` (compare-and-set): null when it is not queued any more. With
   * `takeOver`, a sling still claimed exactly so (a dead dispatcher's claim) is claimed instead.
   */
  claimSling(
    id: number,
    claimant: string,
    actor: string,
    takeOver?: { claimed_by: string | null; claimed_at: string | null },
  ): Promise<QueuedSling | null>;
  /** Ends a sling `claimant` holds: dispatched (outcome: the agent) or dropped (outcome: why). False when not held. */
  finishSling(
    id: number,
    claimant: string,
    result: { state: 'dispatched' | 'dropped'; outcome: string },
    actor: string,
  ): Promise<boolean>;
  /**
   * Gives a claimed sling back to the queue. With an error, it was a failed dispatch (counted, and the next
   * try waits a back-off); without, it lost a race for room and simply waits again. False when not held.
   */
  releaseSling(id: number, claimant: string, error: string | null, actor: string): Promise<boolean>;
  /** Cancels the bead's queued sling; null when none is queued. A sling being dispatched is a ConflictError. */
  cancelSling(bead: string, actor: string): Promise<QueuedSling | null>;

  schedulerPause(): Promise<SchedulerPause | null>;
  /** Pauses (kept as it was when already paused) or resumes; events `scheduler_paused`, `scheduler_resumed`. */
  setSchedulerPaused(paused: boolean, actor: string): Promise<SchedulerPause | null>;
};
