import type { SessionEndReason } from './agent-store.js';
import type { DerivedState } from './derive.js';
import type { Role } from './identity.js';

/**
 * The daemon's decisions: a pure function of what was observed, the thresholds and the time. Mechanical rules
 * only — anything that needs judgment is reported to an agent (the rig's witness), never decided here. Every
 * action carries its reason.
 */

export type ReconcileAgent = {
  address: string;
  role: Role;
  state: DerivedState;
  hook: string | null;
  sessionAlive: boolean;
  /** The open record of its session, if any. */
  openSessionId: string | null;
  /** Recent session endings, newest first. */
  endings: readonly { endedAtMs: number; reason: SessionEndReason }[];
  /** When an idle agent last showed activity. */
  lastProgressMs: number | null;
  /** When its current session record was opened or its hook last changed: a session still being started. */
  startingSinceMs: number | null;
  /** When the hooked bead was closed (done by someone, yet still on the hook); null or absent: it is not. */
  hookClosedAtMs?: number | null;
  /** What it waits at (state needs-input). */
  question?: string | null;
  /** The daemon already told the witness about this very question. */
  questionReported?: boolean;
  /** When it was last brought back from stuck (`gt agent revive`): deaths before that no longer count. */
  revivedAtMs?: number | null;
  /** The daemon reported it stalled on its current hook, and has not said since that it moves again. */
  stallReported?: boolean;
};

/** A bead on somebody's hook, with whether that somebody is an agent holding it. */
export type ReconcileWork = {
  bead: string;
  assignee: string | null;
  /** Some agent's hook names this bead. */
  held: boolean;
  updatedAtMs: number;
};

export type ReconcileConfig = {
  backoffInitialMs: number;
  backoffMaxMs: number;
  quarantineAfter: number;
  quarantineWindowMs: number;
  /** Roles kept running whenever the daemon runs (e.g. deacon, witness, refinery). */
  standingRoles: readonly Role[];
  /** Idle polecat sessions are ended after this long (their sandboxes stay); 0 = never. */
  idlePolecatMs: number;
  /** A hook or session this young with no tmux session yet is a start in flight (a sling), not a death. */
  inFlightMs: number;
  /** Several agents died at once (a mass death): no restart until then; deaths are still recorded. */
  restartsPausedUntilMs?: number | null;
  /** Agents whose restart is left to a patrol agent for now (the deacon, while boot triages it). */
  leftToPatrol?: ReadonlySet<string>;
};

export type Action =
  | { kind: 'record-death'; address: string; sessionId: string; reason: 'crashed' | 'lost'; why: string }
  | { kind: 'restart'; address: string; why: string }
  | { kind: 'quarantine'; address: string; crashes: number; why: string }
  | { kind: 'report-stalled'; address: string; bead: string; why: string }
  /** An agent reported stalled works again: its supervisor (and every view) learns that the stall is over. */
  | { kind: 'report-moving'; address: string; bead: string; why: string }
  | { kind: 'stop'; address: string; endReason: SessionEndReason; why: string }
  | { kind: 'release-work'; address: string; bead: string; why: string }
  /** Take a closed bead off the agent's hook (nobody needs to run it any more). */
  | { kind: 'clear-hook'; address: string; bead: string; why: string }
  /** Tell the witness the agent waits at a question (once per question). */
  | { kind: 'report-needs-input'; address: string; question: string; why: string }
  /** Nothing to do yet; look again at `untilMs` (a start in flight, a back-off), not only at the next tick. */
  | { kind: 'wait'; address: string; untilMs: number; why: string };

const DEATHS: ReadonlySet<SessionEndReason> = new Set(['crashed', 'lost']);

/** The wait before restart number `k` in the window: none for the first, then doubling, capped. */
export function backoffMs(k: number, config: Pick<ReconcileConfig, 'backoffInitialMs' | 'backoffMaxMs'>): number {
  if (k <= 1) return 0;
  return Math.min(config.backoffInitialMs * 2 ** (k - 2), config.backoffMaxMs);
}

export function reconcile(
  agents: readonly ReconcileAgent[],
  config: ReconcileConfig,
  nowMs: number,
  work: readonly ReconcileWork[] = [],
): Action[] {
  const actions: Action[] = [];
  for (const w of work) {
    // Hooked to nobody who holds it (the agent was removed, or its hook moved on): nobody will ever do it.
    if (w.held) continue;
    if (nowMs - w.updatedAtMs < config.inFlightMs) {
      actions.push({
        kind: 'wait',
        address: w.assignee ?? '',
        untilMs: w.updatedAtMs + config.inFlightMs,
        why: `${w.bead} was hooked a moment ago: maybe a sling in flight`,
      });
      continue;
    }
    actions.push({
      kind: 'release-work',
      address: w.assignee ?? '',
      bead: w.bead,
      why:
        w.assignee === null
          ? `${w.bead} is hooked but assigned to nobody`
          : `${w.bead} is hooked to ${w.assignee}, which no longer exists or no longer holds it`,
    });
  }
  for (const a of agents) {
    const closedAt = a.hookClosedAtMs ?? null;
    // A live agent may have just closed it itself and be handing in (gt done): it gets the start grace first.
    const handingIn = a.sessionAlive && closedAt !== null && nowMs - closedAt < config.inFlightMs;
    if (a.hook !== null && closedAt !== null && handingIn) {
      actions.push({
        kind: 'wait',
        address: a.address,
        untilMs: closedAt + config.inFlightMs,
        why: `${a.hook} was closed a moment ago: maybe its agent is handing it in`,
      });
      continue;
    }
    if (a.hook !== null && closedAt !== null) {
      // Whatever else is true, nobody must run it again; what the agent needs next is decided next pass.
      actions.push({
        kind: 'clear-hook',
        address: a.address,
        bead: a.hook,
        why: `${a.hook} is closed but still on its hook`,
      });
      continue;
    }
    if (a.state === 'stuck') continue; // said so itself, or quarantined: a human or the witness decides
    if (a.role === 'crew') continue; // a person's sandbox: the daemon never starts, restarts or stops it
    if (a.state === 'needs-input') {
      const settled = a.startingSinceMs === null || nowMs - a.startingSinceMs >= config.inFlightMs;
      if (a.questionReported !== true && settled)
        actions.push({
          kind: 'report-needs-input',
          address: a.address,
          question: a.question ?? 'a question',
          why: `it waits at "${a.question ?? 'a question'}" and cannot go on by itself`,
        });
      continue;
    }
    const standing = config.standingRoles.includes(a.role);
    const needsAgent = a.state === 'dead-with-work' || (standing && (a.state === 'stopped' || a.state === 'zombie'));
    if (needsAgent) {
      if (!a.sessionAlive && a.startingSinceMs !== null && nowMs - a.startingSinceMs < config.inFlightMs) {
        actions.push({
          kind: 'wait',
          address: a.address,
          untilMs: a.startingSinceMs + config.inFlightMs,
          why: 'hooked or started a moment ago and no session yet: maybe a start in flight',
        });
        continue;
      }
      const deadNow = a.openSessionId !== null;
      if (deadNow && a.openSessionId !== null) {
        actions.push({
          kind: 'record-death',
          address: a.address,
          sessionId: a.openSessionId,
          reason: a.sessionAlive ? 'crashed' : 'lost',
          why: a.sessionAlive ? 'its agent process has exited' : 'its tmux session is gone',
        });
      }
      const inWindow = a.endings.filter(
        (e) =>
          DEATHS.has(e.reason) &&
          nowMs - e.endedAtMs <= config.quarantineWindowMs &&
          (a.revivedAtMs === undefined || a.revivedAtMs === null || e.endedAtMs > a.revivedAtMs),
      );
      const deaths = inWindow.length + (deadNow ? 1 : 0);
      if (deaths >= config.quarantineAfter) {
        actions.push({
          kind: 'quarantine',
          address: a.address,
          crashes: deaths,
          why: `${deaths} deaths within ${Math.round(config.quarantineWindowMs / 60_000)} min: restarting again would only repeat it`,
        });
        continue;
      }
      const lastDeath = deadNow ? nowMs : (inWindow[0]?.endedAtMs ?? 0);
      const wait = backoffMs(deaths, config);
      const pausedUntil = config.restartsPausedUntilMs ?? null;
      if (pausedUntil !== null && pausedUntil > nowMs) {
        actions.push({
          kind: 'wait',
          address: a.address,
          untilMs: pausedUntil,
          why: 'restarts are paused after a mass death: the deacon looks first',
        });
      } else if (config.leftToPatrol?.has(a.address) === true) {
        actions.push({
          kind: 'wait',
          address: a.address,
          untilMs: nowMs + config.inFlightMs,
          why: 'left to the patrol for now (boot triages it)',
        });
      } else if (nowMs - lastDeath >= wait) {
        const what =
          a.state === 'dead-with-work'
            ? `${a.hook ?? 'its work'} is on its hook and no agent is running`
            : `${a.role} is a standing role and is not running`;
        actions.push({
          kind: 'restart',
          address: a.address,
          why: `${what}${deaths > 1 ? ` (death ${deaths} in the window, after ${Math.round(wait / 1000)} s back-off)` : ''}`,
        });
      } else {
        actions.push({
          kind: 'wait',
          address: a.address,
          untilMs: lastDeath + wait,
          why: `back-off after death ${deaths} in the window`,
        });
      }
      continue;
    }
    if (a.state === 'stalled' && a.hook !== null) {
      actions.push({
        kind: 'report-stalled',
        address: a.address,
        bead: a.hook,
        why: `no progress on ${a.hook} for too long; the witness should look`,
      });
    } else if (a.state === 'working' && a.hook !== null && a.stallReported === true) {
      actions.push({
        kind: 'report-moving',
        address: a.address,
        bead: a.hook,
        why: `reported stalled on ${a.hook}, and it makes progress again`,
      });
    } else if (
      a.state === 'stopped' &&
      a.openSessionId !== null &&
      !a.sessionAlive &&
      (a.startingSinceMs === null || nowMs - a.startingSinceMs >= config.inFlightMs)
    ) {
      // No work, no session, and a record that says one runs (its tmux session went, e.g. with the server): the
      // record is closed, once. Nothing to restart.
      actions.push({
        kind: 'record-death',
        address: a.address,
        sessionId: a.openSessionId,
        reason: 'lost',
        why: 'its tmux session is gone (no work on its hook: nothing to restart)',
      });
    } else if (a.state === 'zombie') {
      actions.push({
        kind: 'stop',
        address: a.address,
        endReason: 'crashed',
        why: 'its session holds no live agent and no work',
      });
    } else if (
      a.role === 'polecat' &&
      a.state === 'idle' &&
      config.idlePolecatMs > 0 &&
      a.lastProgressMs !== null &&
      nowMs - a.lastProgressMs > config.idlePolecatMs
    ) {
      actions.push({
        kind: 'stop',
        address: a.address,
        endReason: 'exited',
        why: 'an idle polecat session past the idle time (its sandbox stays)',
      });
    }
  }
  return actions;
}
