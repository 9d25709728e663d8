import type { AgentState } from './agent-store.js';

/**
 * An agent's state as users and the daemon see it, derived from observations only — never stored.
 *
 * - working: hooked work, a live agent, recent progress (or a busy pane)
 * - stalled: hooked work, a live agent, no progress for longer than the threshold
 * - dead-with-work: hooked work and no live agent (no session, or its CLI has exited)
 * - idle: no hooked work, a live agent
 * - stopped: no hooked work and no session (normal for a sandbox between jobs)
 * - zombie: a session with no agent process in it and no work, or a session whose sandbox is gone
 * - stuck: the agent said so
 */
export const DERIVED_STATES = ['working', 'stalled', 'dead-with-work', 'idle', 'stopped', 'zombie', 'stuck'] as const;
export type DerivedState = (typeof DERIVED_STATES)[number];

export type AgentFacts = {
  hooked: boolean;
  reported: AgentState;
  sessionAlive: boolean;
  /** The agent process in the session (unknown when the probe failed). */
  liveness: 'alive' | 'dead' | 'unknown';
  paneBusy: boolean;
  sandboxExists: boolean;
  /** Newest sign of progress (pane activity, the agent's own updates, its hooked bead's updates), ms. */
  lastProgressMs: number | null;
};

export function deriveState(f: AgentFacts, nowMs: number, stalledAfterMs: number): DerivedState {
  if (f.sessionAlive && !f.sandboxExists) return 'zombie';
  if (f.reported === 'stuck') return 'stuck';
  const live = f.sessionAlive && f.liveness !== 'dead';
  if (f.hooked) {
    if (!live) return 'dead-with-work';
    if (f.paneBusy) return 'working';
    if (f.lastProgressMs !== null && nowMs - f.lastProgressMs > stalledAfterMs) return 'stalled';
    return 'working';
  }
  if (f.sessionAlive && f.liveness === 'dead') return 'zombie';
  return live ? 'idle' : 'stopped';
}
