import type { AgentState } from './agent-store.js';

/**
 * An agent's state as users and the daemon see it, derived from observations only — never stored. Every view
 * (`gt status`, `gt agents`, `gt town`, `gt session list`, `gt polecat list`) and the daemon use these names.
 *
 * - working: hooked work, a live agent, and progress: a moving pane, or recent updates
 * - needs-input: a live agent waiting at a question it cannot answer itself (a permission question, a dialog,
 *   a usage limit, a request for help)
 * - stalled: hooked work, a live agent, no progress for longer than the threshold (a busy pane that has not
 *   moved counts as no progress)
 * - dead-with-work: hooked work and no live agent (no session, or its CLI has exited)
 * - idle: no hooked work, a live agent
 * - stopped: no hooked work and no session (normal for a sandbox between jobs)
 * - zombie: a session with no agent process in it and no work, or a session whose sandbox is gone
 * - stuck: quarantined by the daemon, or the agent said so; `gt agent revive` brings it back
 */
export const DERIVED_STATES = [
  'working',
  'needs-input',
  'stalled',
  'dead-with-work',
  'idle',
  'stopped',
  'zombie',
  'stuck',
] as const;
export type DerivedState = (typeof DERIVED_STATES)[number];

export type AgentFacts = {
  hooked: boolean;
  reported: AgentState;
  sessionAlive: boolean;
  /** The agent process in the session (unknown when the probe failed). */
  liveness: 'alive' | 'dead' | 'unknown';
  paneBusy: boolean;
  /** The question the pane shows (a permission question, a dialog, a usage limit), or null. */
  question: string | null;
  sandboxExists: boolean;
  /** Newest sign of progress (pane activity, the agent's own updates, its hooked bead's updates), ms. */
  lastProgressMs: number | null;
  /** Newest update of the work itself (the agent's record, its hooked bead, its commits), ms: no pane. */
  lastWorkMs: number | null;
  /** Since when the pane's text (busy line and spinner aside) has not changed, as far as a watcher saw; ms. */
  paneStillSinceMs: number | null;
  /** When a watcher last saw that text change (null: never saw it move, or nobody watched). */
  paneMovedMs?: number | null;
  /** When the daemon last reported this agent stalled on its current hook (for views that did not watch). */
  stallReportedMs: number | null;
};

export function deriveState(f: AgentFacts, nowMs: number, stalledAfterMs: number): DerivedState {
  if (f.sessionAlive && !f.sandboxExists) return 'zombie';
  if (f.reported === 'stuck') return 'stuck';
  const live = f.sessionAlive && f.liveness !== 'dead';
  if (live && f.question !== null) return 'needs-input';
  if (f.hooked) {
    if (!live) return 'dead-with-work';
    if (f.paneBusy) {
      const work = f.lastWorkMs ?? 0;
      const quiet = f.paneStillSinceMs !== null && nowMs - Math.max(f.paneStillSinceMs, work) > stalledAfterMs;
      // The daemon watched it and reported it after the last update of the work, and nobody has seen the pane
      // move since.
      const moved = f.paneMovedMs ?? null;
      const reported =
        f.stallReportedMs !== null && f.stallReportedMs > work && (moved === null || f.stallReportedMs > moved);
      return quiet || reported ? 'stalled' : 'working';
    }
    if (f.lastProgressMs !== null && nowMs - f.lastProgressMs > stalledAfterMs) return 'stalled';
    return 'working';
  }
  if (f.sessionAlive && f.liveness === 'dead') return 'zombie';
  return live ? 'idle' : 'stopped';
}
