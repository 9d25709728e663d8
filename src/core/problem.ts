/**
 * Problems: the things the daemon saw that may need judgment, kept in the store with their evidence and the
 * patrol agents' decisions about them. Facts come from code (detection is pure, in core/problems-detect.ts);
 * judgment comes from the patrol agent that owns the problem (the rig's witness, the deacon, or boot), which
 * reads them with `gt patrol scan` and answers with `gt patrol report`. One problem per subject and kind is
 * open at a time; a problem that goes away by itself is resolved by code, with the reason.
 */

export const PROBLEM_KINDS = [
  /** Hooked work, a live agent, no progress for the threshold (busy pane or not). */
  'stalled',
  /** A question or dialog on the agent's screen that it cannot answer itself. */
  'needs-input',
  /** The agent's plan or API reached its usage or rate limit (with the reset time when the screen says it). */
  'usage-limit',
  /** Hooked work and no live agent (the daemon restarts it; the problem says so if it stays dead). */
  'dead-with-work',
  /** Died again and again: quarantined (state stuck), escalated. */
  'crash-loop',
  /** A bead on a hook that no agent holds. */
  'orphan-work',
  /** A closed bead still on an agent's hook. */
  'closed-hooked',
  /** A session with no live agent and no work, or whose sandbox is gone. */
  'zombie',
  /** Several agents died within seconds: restarts are paused and the deacon told. */
  'mass-death',
  /** The rig's refinery is not running while requests wait. */
  'refinery-down',
  /** The rig's refinery runs but its queue has not moved for too long. */
  'refinery-stuck',
  /** A patrol agent was woken for a problem and did not answer in time (or is dead). */
  'patrol-unresponsive',
] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

export function isProblemKind(v: string): v is ProblemKind {
  return (PROBLEM_KINDS as readonly string[]).includes(v);
}

/**
 * open: nobody has decided yet · handling: a patrol agent decided and acts (or waits) · escalated: a person
 * was asked · resolved: it went away (by code, with the reason) or was closed by a decision.
 */
export const PROBLEM_STATES = ['open', 'handling', 'escalated', 'resolved'] as const;
export type ProblemState = (typeof PROBLEM_STATES)[number];
/** The states of a problem that is still there. */
export const LIVE_PROBLEM_STATES: readonly ProblemState[] = ['open', 'handling', 'escalated'];

export const SUBJECT_TYPES = ['agent', 'bead', 'merge-request', 'rig', 'town'] as const;
export type SubjectType = (typeof SUBJECT_TYPES)[number];

/**
 * What a patrol agent may decide (`gt patrol report --action`). Each maps onto gt commands the agent ran itself:
 * nudge (`gt nudge`), wait (nothing), restart (`gt session restart`, same sandbox and hook), start
 * (`gt session start`), handoff (told the agent to hand off), resling (`gt unsling` then `gt sling`), release
 * (`gt unsling`), escalate (`gt escalate`), resume (lift a mass-death pause), dismiss (nothing is wrong).
 */
export const PATROL_ACTIONS = [
  'nudge',
  'wait',
  'restart',
  'start',
  'handoff',
  'resling',
  'release',
  'escalate',
  'resume',
  'dismiss',
] as const;
export type PatrolAction = (typeof PATROL_ACTIONS)[number];

export function isPatrolAction(v: string): v is PatrolAction {
  return (PATROL_ACTIONS as readonly string[]).includes(v);
}

/** Evidence is what the detector saw: small JSON values (pane excerpts are cut to a few lines). */
export type Evidence = Record<string, unknown>;

/** A problem as detected in one pass (before the store gives it an id). */
export type ProblemDraft = {
  kind: ProblemKind;
  subject: string;
  subject_type: SubjectType;
  rig: string | null;
  /** Who judges it: `<rig>/witness`, `deacon` or `deacon/boot`. */
  owner: string;
  summary: string;
  evidence: Evidence;
};

export type Problem = ProblemDraft & {
  id: number;
  state: ProblemState;
  first_seen: string;
  last_seen: string;
  /** When its owner was last woken for it (by a nudge or a session start). */
  woken_at: string | null;
  resolved_at: string | null;
  /** Why it was resolved (by code: the condition is gone; or by a decision). */
  resolution: string | null;
  /** The escalation bead filed for it, if any. */
  escalation: string | null;
};

/**
 * What happened after a decision: pending (the problem is still there), recovered (it went away after the
 * decision), recurred (it went away, then came back within the window), escalated (a person was asked).
 */
export const DECISION_OUTCOMES = ['pending', 'recovered', 'recurred', 'escalated'] as const;
export type DecisionOutcome = (typeof DECISION_OUTCOMES)[number];

export type PatrolDecision = {
  id: number;
  problem_id: number;
  kind: ProblemKind;
  subject: string;
  actor: string;
  action: PatrolAction;
  reason: string;
  /** The problem's evidence as it was when the decision was made. */
  evidence: Evidence;
  decided_at: string;
  outcome: DecisionOutcome;
  outcome_at: string | null;
};

/** Each filter given narrows the result; an empty list matches nothing. */
export type ProblemQuery = {
  states?: readonly ProblemState[];
  owner?: string;
  rig?: string;
  kinds?: readonly ProblemKind[];
  subject?: string;
  ids?: readonly number[];
  /** Without a limit (0, the default) every match, oldest first by id; with one, the newest `limit`, newest first. */
  limit?: number;
};

export type DecisionInput = {
  action: PatrolAction;
  reason: string;
  /** The problem's next state (default: handling; escalate → escalated; resume → resolved). */
  state?: ProblemState;
  escalation?: string | null;
};

/**
 * The problems port. Same rules as the other ports: every operation is atomic, validates before it writes,
 * records its events (subject `problem:<id>`) in the same transaction, and returns a Promise.
 */
export type ProblemStore = {
  /**
   * Records what one detection pass saw, all in one transaction: a draft with no live problem of its kind and
   * subject opens one (a problem of the same kind and subject resolved within `recurWithinMs` marks that one's
   * recovered decisions recurred); a draft with one refreshes its last_seen, evidence and summary; each live
   * problem in `scope` with no draft is resolved with `resolveReasons[id]` (or "no longer seen"), and its pending
   * decisions become recovered. Problems outside `scope` (other owners' kinds) are not touched; a draft of a
   * kind outside it is a ValidationError. Of two drafts for one kind and subject the later counts. A refresh
   * that changes neither summary nor evidence writes nothing while last_seen is under 10 s old, so a pass that
   * saw nothing new does not write the database.
   */
  syncProblems(
    drafts: readonly ProblemDraft[],
    options: {
      scope: readonly ProblemKind[];
      resolveReasons?: Readonly<Record<number, string>>;
      recurWithinMs: number;
    },
    actor: string,
  ): Promise<{ opened: Problem[]; resolved: Problem[] }>;
  problems(query?: ProblemQuery): Promise<Problem[]>;
  /** One problem, live or resolved; an unknown id is a NotFoundError. */
  problem(id: number): Promise<Problem>;
  /**
   * Records a decision with the problem's current evidence, and moves the problem to its next state (a decision
   * that resolves it resolves it as resolveProblem does). An escalate decision's outcome is `escalated` at once.
   * An unknown action or an empty reason is a ValidationError, a resolved problem a ConflictError.
   */
  decide(id: number, input: DecisionInput, actor: string): Promise<{ problem: Problem; decision: PatrolDecision }>;
  /** Marks that the owner was woken for these problems now (an unknown id is a NotFoundError, nothing written). */
  markWoken(ids: readonly number[], actor: string): Promise<void>;
  /** Resolves one live problem by hand or by a rule outside a sync (its pending decisions become recovered). */
  resolveProblem(id: number, resolution: string, actor: string): Promise<Problem>;
  /** Decisions, newest first: of one problem, or all (0 = no limit). */
  decisions(query?: { problem?: number; since?: string; limit?: number }): Promise<PatrolDecision[]>;
};

/** How often each kind of decision was followed by recovery: the measure `gt patrol history` publishes. */
export type DecisionStats = {
  kind: ProblemKind;
  action: PatrolAction;
  decisions: number;
  recovered: number;
  recurred: number;
  escalated: number;
  pending: number;
  /** recovered / (recovered + recurred), null when nothing has settled yet. */
  recovery_rate: number | null;
};

export function decisionStats(decisions: readonly PatrolDecision[]): DecisionStats[] {
  const by = new Map<string, DecisionStats>();
  for (const d of decisions) {
    const key = `${d.kind}\u0000${d.action}`;
    let s = by.get(key);
    if (s === undefined) {
      s = {
        kind: d.kind,
        action: d.action,
        decisions: 0,
        recovered: 0,
        recurred: 0,
        escalated: 0,
        pending: 0,
        recovery_rate: null,
      };
      by.set(key, s);
    }
    s.decisions++;
    s[d.outcome]++;
  }
  const out = [...by.values()];
  for (const s of out) {
    const settled = s.recovered + s.recurred;
    s.recovery_rate = settled === 0 ? null : s.recovered / settled;
  }
  return out.sort((a, b) => a.kind.localeCompare(b.kind) || b.decisions - a.decisions);
}

/** A problem's state after a decision, unless the reporter names one. */
export function stateAfter(action: PatrolAction): ProblemState {
  if (action === 'escalate') return 'escalated';
  // A dismissed problem stays live (looked at again after the recheck time): resolved, it would reopen at the
  // next pass while the condition lasts, and wake its owner at once, again and again.
  if (action === 'resume') return 'resolved';
  return 'handling';
}

/** How urgent a kind of problem is for a person looking at the town (gt status orders them so). */
export const PROBLEM_SEVERITY: Readonly<Record<ProblemKind, 'critical' | 'high' | 'medium' | 'low'>> = {
  'mass-death': 'critical',
  'patrol-unresponsive': 'high',
  'crash-loop': 'high',
  'refinery-down': 'high',
  'refinery-stuck': 'high',
  'needs-input': 'medium',
  'usage-limit': 'medium',
  stalled: 'medium',
  'dead-with-work': 'medium',
  'orphan-work': 'low',
  'closed-hooked': 'low',
  zombie: 'low',
};

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 } as const;

/** Most urgent first, then oldest first. */
export function compareProblems(a: Problem, b: Problem): number {
  return (
    SEVERITY_RANK[PROBLEM_SEVERITY[a.kind]] - SEVERITY_RANK[PROBLEM_SEVERITY[b.kind]] ||
    a.first_seen.localeCompare(b.first_seen) ||
    a.id - b.id
  );
}
