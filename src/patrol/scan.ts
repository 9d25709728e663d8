import { ConflictError, ValidationError } from '../core/errors.js';
import { isPatrolActor } from '../core/guard.js';
import { parseAddress } from '../core/identity.js';
import {
  decisionStats,
  isPatrolAction,
  LIVE_PROBLEM_STATES,
  PATROL_ACTIONS,
  type DecisionStats,
  type PatrolDecision,
  type Problem,
  type ProblemQuery,
} from '../core/problem.js';
import type { PatrolScan, ScanProblem } from '../core/patrol-scan.js';
import { observeAgents } from '../observe/snapshot.js';
import type { PatrolContext } from './problems.js';

/**
 * `gt patrol scan | report | history`: the open problems and the facts behind them, in the form a patrol agent
 * reads; its decision, kept with the problem's evidence; and how often each kind of decision was followed by
 * recovery.
 */

export type { ScanProblem } from '../core/patrol-scan.js';

/** What `gt patrol scan --json` prints: the shape core/patrol-scan.ts defines, which the sim policy reads. */
export type PatrolScanReport = PatrolScan;

export type ScanScope = { rig?: string; role?: 'witness' | 'deacon' | 'boot'; all?: boolean };

/** The owner a scan is for: a patrol agent asking sees its own problems; a person, every one (or a rig's). */
export function scanOwner(actor: string, scope: ScanScope): { owner: string | null; rig: string | null } {
  if (scope.role !== undefined) {
    if (scope.role === 'witness') {
      const rig = scope.rig ?? rigOfActor(actor);
      if (rig === null)
        throw new ValidationError('--role witness needs a rig', { hint: 'gt patrol scan --role witness --rig <rig>' });
      return { owner: `${rig}/witness`, rig };
    }
    return { owner: scope.role === 'deacon' ? 'deacon' : 'deacon/boot', rig: scope.rig ?? null };
  }
  if (scope.rig !== undefined) return { owner: null, rig: scope.rig };
  if (scope.all !== true && isPatrolActor(actor)) return { owner: actor, rig: rigOfActor(actor) };
  return { owner: null, rig: null };
}

function rigOfActor(actor: string): string | null {
  try {
    const id = parseAddress(actor);
    return 'rig' in id ? id.rig : null;
  } catch {
    return null;
  }
}

export async function patrolScan(ctx: PatrolContext, scope: ScanScope = {}): Promise<PatrolScanReport> {
  const { owner, rig } = scanOwner(ctx.actor, scope);
  const query: ProblemQuery = { states: LIVE_PROBLEM_STATES };
  if (owner !== null) query.owner = owner;
  if (rig !== null && owner === null) query.rig = rig;
  const problems = await ctx.store.problems(query);
  const withDecisions: ScanProblem[] = [];
  const recurMs = ctx.settings.patrol.recur_window_seconds * 1000;
  const shown = (ds: readonly PatrolDecision[]): ScanProblem['decisions'] =>
    ds
      .map((d) => ({ action: d.action, reason: d.reason, actor: d.actor, at: d.decided_at }))
      .sort((a, b) => a.at.localeCompare(b.at));
  for (const p of problems) {
    const decisions = await ctx.store.decisions({ problem: p.id, limit: 0 });
    // The same problem before it came back (resolved within the recur window of this one's opening).
    const before = await ctx.store.problems({ kinds: [p.kind], subject: p.subject, states: ['resolved'], limit: 5 });
    const earlier: PatrolDecision[] = [];
    for (const b of before)
      if (b.resolved_at !== null && Date.parse(p.first_seen) - Date.parse(b.resolved_at) <= recurMs)
        earlier.push(...(await ctx.store.decisions({ problem: b.id, limit: 0 })));
    withDecisions.push({ ...p, decisions: shown(decisions), earlier_decisions: shown(earlier) });
  }
  const views = await observeAgents(ctx, { git: true });
  const inScope = views.filter((a) =>
    owner === 'deacon' || owner === 'deacon/boot'
      ? a.rig === null || a.role === 'witness'
      : rig === null
        ? true
        : a.rig === rig,
  );
  return {
    at: new Date(ctx.now()).toISOString(),
    owner,
    rig,
    problems: withDecisions,
    agents: inScope.map((a) => ({
      address: a.address,
      role: a.role,
      state: a.state,
      hook: a.hook?.id ?? null,
      session_alive: a.session_alive,
    })),
  };
}

export type ReportInput = { action: string; reason: string; escalation?: string };

/**
 * Records a patrol agent's decision on a problem. The owner reports on its own problems; the deacon on any
 * (it handles what witnesses escalated); a person on any. Another patrol agent is refused.
 */
export async function patrolReport(
  ctx: PatrolContext,
  id: number,
  input: ReportInput,
): Promise<{ problem: Problem; decision: PatrolDecision }> {
  if (!isPatrolAction(input.action))
    throw new ValidationError(`unknown action "${input.action}"`, { hint: `use one of: ${PATROL_ACTIONS.join(', ')}` });
  if (input.reason.trim() === '')
    throw new ValidationError('a decision needs its reason', {
      hint: `gt patrol report ${id} --action ${input.action} --reason "why"`,
    });
  const problem = await ctx.store.problem(id);
  if (isPatrolActor(ctx.actor) && ctx.actor !== problem.owner && ctx.actor !== 'deacon')
    throw new ConflictError(`problem ${id} is ${problem.owner}'s to judge, not ${ctx.actor}'s`, {
      hint: `"gt patrol scan" lists yours; escalate this one with gt escalate if it needs you`,
    });
  const decided = await ctx.store.decide(
    id,
    {
      action: input.action,
      reason: input.reason.trim(),
      ...(input.escalation === undefined ? {} : { escalation: input.escalation }),
    },
    ctx.actor,
  );
  // A decision is news to the daemon: a lifted pause restarts agents now, a recheck is scheduled from it.
  await ctx.provider.signalChange().catch(() => undefined);
  return decided;
}

export type PatrolHistory = { decisions: PatrolDecision[]; stats: DecisionStats[] };

export async function patrolHistory(ctx: PatrolContext, options: { limit?: number } = {}): Promise<PatrolHistory> {
  const all = await ctx.store.decisions({ limit: 0 });
  const shown = options.limit === undefined || options.limit === 0 ? all : all.slice(0, options.limit);
  return { decisions: shown, stats: decisionStats(all) };
}
