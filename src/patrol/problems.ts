import type { SessionEndReason } from '../core/agent-store.js';
import { errorMessage } from '../core/errors.js';
import { readMergeRequest } from '../core/merge-request.js';
import { planWakes, wakeText, type LiveProblem } from '../core/patrol-wake.js';
import {
  LIVE_PROBLEM_STATES,
  PROBLEM_KINDS,
  type Problem,
  type ProblemDraft,
  type ProblemStore,
} from '../core/problem.js';
import {
  agentRunning as programRuns,
  detectProblems,
  resolutionOf,
  type DetectAgent,
  type DetectConfig,
  type DetectInput,
} from '../core/problems-detect.js';
import type { TownStore } from '../core/town-store.js';
import type { AgentView } from '../observe/snapshot.js';
import { nudgeAgent } from '../work/nudge.js';
import { agentRunning, startAgentSession, stopAgentSession, type TownContext } from '../work/sessions.js';

/**
 * The daemon's patrol pass: detect what may need judgment (core/problems-detect.ts, pure), record it in the
 * store (one problem per subject and kind; what went away resolves itself, with the reason), and wake the
 * owners of problems that are due (core/patrol-wake.ts): a nudge into a running patrol agent, or a fresh
 * session. Boot is started fresh for the deacon and stopped once it has answered. Nothing here judges.
 */

export type PatrolContext = TownContext & { store: TownStore & ProblemStore };

/** What the pass tells the reconcile that follows it. */
export type PatrolPassResult = {
  opened: Problem[];
  resolved: Problem[];
  woken: { owner: string; problems: number[]; how: 'nudged' | 'started' | 'failed'; error?: string }[];
  stopped: string[];
  /** Restarts wait until then (a mass death), or null. */
  restartsPausedUntilMs: number | null;
  /** Agents whose restart the patrol has for now (the deacon while boot triages it). */
  leftToPatrol: Set<string>;
  /** When the next wake falls due if nothing happens before, or null. */
  nextDueMs: number | null;
  /** Agents whose session this pass started: the reconcile, which looked before, leaves them alone this pass. */
  started: Set<string>;
};

/** One agent as the reconcile saw it: its endings and open session, next to the observed view. */
export type PatrolAgentInput = {
  view: AgentView;
  endings: readonly { endedAtMs: number; reason: SessionEndReason }[];
  openSessionId: string | null;
  hookClosed: boolean;
};

const DEATHS: ReadonlySet<SessionEndReason> = new Set(['crashed', 'lost']);
const PANE_LINES = 15;
const PANE_CHARS = 1_500;

export function detectConfig(ctx: Pick<TownContext, 'settings'>): DetectConfig {
  const p = ctx.settings.patrol;
  const d = ctx.settings.daemon;
  return {
    stalledAfterMs: d.stalled_after_seconds * 1000,
    inFlightMs: d.start_grace_seconds * 1000,
    massDeathCount: p.mass_death_count,
    massDeathWindowMs: p.mass_death_window_seconds * 1000,
    massDeathPauseMs: p.mass_death_pause_seconds * 1000,
    refineryStuckMs: p.refinery_stuck_seconds * 1000,
    respondMs: p.respond_seconds * 1000,
    standingRoles: d.standing_roles,
    // The agents run on this machine: a reset time their screens show without a zone is in its zone.
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  };
}

/** Live problems with the time of each one's latest decision. */
export async function liveProblems(
  store: ProblemStore,
  query: { owner?: string; rig?: string } = {},
): Promise<LiveProblem[]> {
  const live = await store.problems({ states: LIVE_PROBLEM_STATES, ...query });
  const out: LiveProblem[] = [];
  for (const p of live) {
    const decisions =
      p.state === 'open' && p.woken_at === null ? [] : await store.decisions({ problem: p.id, limit: 0 });
    const latest = decisions[0];
    out.push({
      ...p,
      decidedAtMs: latest === undefined ? null : Date.parse(latest.decided_at),
      lastAction: latest?.action ?? null,
      decisions: decisions.length,
    });
  }
  return out;
}

function detectAgent(a: PatrolAgentInput, nowMs: number, restartGraceMs: number): DetectAgent {
  const v = a.view;
  // A death seen now, as the reconcile will record it this pass: an open record with no live program, past the
  // start grace, of an agent the daemon looks after (never a person's crew).
  // (A record with no tmux session yet, a moment old, is a start in flight; a pane whose program died is a death.)
  const starting =
    !v.session_alive && v.open_session !== null && nowMs - Date.parse(v.open_session.started_at) < restartGraceMs;
  const deadNow =
    a.openSessionId !== null && !(v.session_alive && v.liveness !== 'dead') && v.role !== 'crew' && !starting;
  const deaths = a.endings.filter((e) => DEATHS.has(e.reason)).map((e) => e.endedAtMs);
  const last = a.endings[0];
  return {
    address: v.address,
    role: v.role,
    rig: v.rig,
    state: v.state,
    hook: v.hook?.id ?? null,
    hookClosed: a.hookClosed,
    question: v.question,
    questionKind: v.question_kind,
    sessionAlive: v.session_alive,
    lastProgressMs: v.last_progress === null ? null : Date.parse(v.last_progress),
    // A death seen now is a death now, though the reconcile records it only after this pass.
    deathsMs: deadNow ? [nowMs, ...deaths] : deaths,
    diedLast: deadNow || (last !== undefined && DEATHS.has(last.reason) && !(v.session_alive && v.liveness !== 'dead')),
    sandbox: v.sandbox === null ? null : { uncommitted: v.sandbox.uncommitted, unpushed: v.sandbox.unpushed },
    restarting: !v.session_alive && last?.reason === 'replaced' && nowMs - last.endedAtMs < restartGraceMs,
  };
}

async function rigQueues(ctx: PatrolContext): Promise<DetectInput['rigs']> {
  const open = await ctx.store.list({ types: ['merge-request'], statuses: ['open', 'in_progress'], limit: 0 });
  const by = new Map<string, { waiting: number; oldest: number | null; moved: number | null }>();
  for (const bead of open) {
    const mr = readMergeRequest(bead);
    if (mr === undefined || (mr.state !== 'queued' && mr.state !== 'testing')) continue;
    const r = by.get(mr.rig) ?? { waiting: 0, oldest: null, moved: null };
    r.waiting++;
    const filed = Date.parse(bead.created_at);
    const updated = Date.parse(bead.updated_at);
    r.oldest = r.oldest === null ? filed : Math.min(r.oldest, filed);
    r.moved = r.moved === null ? updated : Math.max(r.moved, updated);
    by.set(mr.rig, r);
  }
  return [...by].map(([name, r]) => ({ name, waiting: r.waiting, oldestWaitingMs: r.oldest, lastMovedMs: r.moved }));
}

/** The last lines of an agent's pane, for a new problem's evidence. */
async function paneTail(ctx: PatrolContext, view: AgentView): Promise<string | null> {
  if (!view.session_alive) return null;
  const text = await ctx.provider.capture(view.session).catch(() => '');
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
  const tail = lines.slice(-PANE_LINES).join('\n');
  return tail === '' ? null : tail.slice(-PANE_CHARS);
}

export async function patrolPass(
  ctx: PatrolContext,
  agents: readonly PatrolAgentInput[],
  orphans: DetectInput['orphans'],
): Promise<PatrolPassResult> {
  const nowMs = ctx.now();
  const patrol = ctx.settings.patrol;
  const result: PatrolPassResult = {
    opened: [],
    resolved: [],
    woken: [],
    stopped: [],
    restartsPausedUntilMs: null,
    leftToPatrol: new Set(),
    nextDueMs: null,
    started: new Set(),
  };
  const before = await liveProblems(ctx.store);
  const [judged] = await ctx.store.problems({ kinds: ['mass-death'], states: ['resolved'], limit: 1 });
  const lastDeath = judged?.evidence.last_death;
  const handledMs = typeof lastDeath === 'string' ? Date.parse(lastDeath) : NaN;
  const detected = agents.map((a) => detectAgent(a, nowMs, ctx.settings.daemon.start_grace_seconds * 1000));
  const input: DetectInput = {
    nowMs,
    agents: detected,
    orphans,
    rigs: await rigQueues(ctx),
    live: before,
    massDeathHandledMs: Number.isNaN(handledMs) ? null : handledMs,
  };
  const drafts: ProblemDraft[] = patrol.enabled ? detectProblems(input, detectConfig(ctx)) : [];
  const key = (p: { kind: string; subject: string }): string => `${p.kind}\u0000${p.subject}`;
  const liveByKey = new Map(before.map((p) => [key(p), p]));
  const views = new Map(agents.map((a) => [a.view.address, a.view]));
  for (const d of drafts) {
    const known = liveByKey.get(key(d));
    if (known !== undefined) {
      // The pane as it was when the problem was first seen stays its evidence (a busy pane would churn).
      if (known.evidence.pane !== undefined) d.evidence = { ...d.evidence, pane: known.evidence.pane };
      continue;
    }
    const view = d.subject_type === 'agent' ? views.get(d.subject) : undefined;
    if (view !== undefined) {
      const pane = await paneTail(ctx, view);
      if (pane !== null) d.evidence = { ...d.evidence, pane };
    }
  }
  // A crash loop the daemon escalated when it quarantined the agent: the escalation is part of the facts.
  if (drafts.some((d) => d.kind === 'crash-loop')) {
    const open = await ctx.store.list({ types: ['escalation'], limit: 0 });
    for (const d of drafts.filter((x) => x.kind === 'crash-loop')) {
      const filed = open.find((e) => e.title.startsWith(`Quarantined: ${d.subject} `));
      if (filed !== undefined) d.evidence = { ...d.evidence, escalation: filed.id };
    }
  }
  const seen = new Set(drafts.map(key));
  const resolveReasons: Record<number, string> = {};
  for (const p of before) if (!seen.has(key(p))) resolveReasons[p.id] = resolutionOf(p, input);
  const synced = await ctx.store.syncProblems(
    drafts,
    { scope: PROBLEM_KINDS, resolveReasons, recurWithinMs: patrol.recur_window_seconds * 1000 },
    'daemon',
  );
  result.opened = synced.opened;
  result.resolved = synced.resolved;

  const live = await liveProblems(ctx.store);
  const mass = live.find((p) => p.kind === 'mass-death');
  if (mass !== undefined) {
    const paused = mass.evidence.paused_until;
    const until = typeof paused === 'string' ? Date.parse(paused) : NaN;
    result.restartsPausedUntilMs = Number.isNaN(until) ? nowMs + patrol.mass_death_pause_seconds * 1000 : until;
  }
  const deaconDown = live.find((p) => p.kind === 'patrol-unresponsive' && p.subject === 'deacon');
  const bootHasIt =
    deaconDown !== undefined && nowMs - Date.parse(deaconDown.first_seen) < patrol.boot_timeout_seconds * 1000;
  if (bootHasIt) result.leftToPatrol.add('deacon');

  if (patrol.enabled) {
    const plan = planWakes(live, nowMs, {
      recheckMs: patrol.recheck_seconds * 1000,
      mechanicalGraceMs: patrol.mechanical_grace_seconds * 1000,
    });
    result.nextDueMs = plan.nextDueMs;
    // A working agent becomes stalled at a known time if nothing moves: look then, not at the next tick.
    for (const a of agents) {
      const due = a.view.stall_due === null ? NaN : Date.parse(a.view.stall_due);
      if (!Number.isNaN(due) && due > nowMs) result.nextDueMs = Math.min(result.nextDueMs ?? due, due + 50);
    }
    for (const [owner, problems] of plan.wake) {
      // The deacon's own problems wait while boot brings it back.
      if (owner === 'deacon' && bootHasIt) continue;
      const woke = await wake(ctx, owner, problems, true);
      result.woken.push(woke);
      if (woke.how === 'started') result.started.add(owner);
    }
    // A witness that died with problems it was woken for and never answered is started again (after the start
    // grace since its last session ended): the open problems are in the store, and its prime shows them. Not
    // marked woken again, so that one dying again and again still becomes its supervisor's problem once the
    // respond time has passed; and not after it died three times within that time.
    const grace = ctx.settings.daemon.start_grace_seconds * 1000;
    const respondMs = patrol.respond_seconds * 1000;
    for (const input of agents) {
      const a = detected.find((d) => d.address === input.view.address);
      if (a === undefined || a.role !== 'witness' || plan.wake.has(a.address) || programRuns(a)) continue;
      const ended = input.endings[0]?.endedAtMs ?? 0;
      const deaths = a.deathsMs.filter((ms) => nowMs - ms < respondMs).length;
      if (input.openSessionId !== null || nowMs - ended < grace || deaths >= 3) continue;
      const unanswered = live.filter(
        (p) =>
          p.owner === a.address &&
          p.state !== 'escalated' &&
          p.woken_at !== null &&
          (p.decidedAtMs === null || p.decidedAtMs < Date.parse(p.woken_at)),
      );
      if (unanswered.length === 0) continue;
      const woke = await wake(ctx, a.address, unanswered, false);
      result.woken.push(woke);
      if (woke.how === 'started') result.started.add(a.address);
    }
  }
  // Boot is short-lived: once nothing of its own waits for an answer and it has had the time to carry its
  // decisions out (it records them first) and sits at its prompt, its session ends.
  const boot = views.get('deacon/boot');
  if (boot !== undefined && boot.session_alive && boot.pane !== 'busy') {
    const mine = live.filter((p) => p.owner === 'deacon/boot');
    const waiting = mine.filter(
      (p) => p.decidedAtMs === null || (p.woken_at !== null && p.decidedAtMs < Date.parse(p.woken_at)),
    );
    const lastAnswer = Math.max(0, ...mine.map((p) => p.decidedAtMs ?? 0));
    const settled = nowMs - lastAnswer >= ctx.settings.daemon.start_grace_seconds * 1000;
    if (waiting.length === 0 && settled) {
      await stopAgentSession(ctx, 'deacon/boot', 'exited').catch(() => undefined);
      result.stopped.push('deacon/boot');
    }
  }
  return result;
}

/** Wakes a patrol agent for problems: typed into its session if it runs, else a session started for it. */
async function wake(
  ctx: PatrolContext,
  owner: string,
  problems: readonly LiveProblem[],
  mark: boolean,
): Promise<PatrolPassResult['woken'][number]> {
  const ids = problems.map((p) => p.id);
  try {
    // Marked first: the agent may scan before this returns, and must see that it was woken for them.
    if (mark) await ctx.store.markWoken(ids, 'daemon');
    const agent = await ctx.store.agent(owner);
    let how: 'nudged' | 'started';
    if (await agentRunning(ctx, agent)) {
      await nudgeAgent(ctx, {
        to: owner,
        from: 'daemon',
        message: wakeText(problems),
        mode: 'wait-idle',
        waitIdleMs: 0,
      });
      how = 'nudged';
    } else {
      // The beacon's topic tells it why it starts; its prime lists the problems. Waited for: the start answers
      // the CLI's start-up dialogs (folder trust) while it waits, and a CLI with no prompt argument gets its
      // first prompt typed once ready.
      await startAgentSession(ctx, owner, { topic: 'patrol', sender: 'daemon' });
      how = 'started';
    }
    return { owner, problems: ids, how };
  } catch (err) {
    // Marked all the same: a patrol agent that cannot be woken is itself a problem (patrol-unresponsive) for
    // its supervisor, found after the respond time, instead of a start tried again every pass.
    if (mark) await ctx.store.markWoken(ids, 'daemon').catch(() => undefined);
    return { owner, problems: ids, how: 'failed', error: errorMessage(err) };
  }
}
