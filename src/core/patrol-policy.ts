import { isRecord } from './errors.js';
import type { PatrolScan, ScanDecision, ScanProblem } from './patrol-scan.js';
import type { PatrolAction } from './problem.js';

/**
 * The sim patrol policy: fixed rules over `gt patrol scan --json`, so that the demo and the tests run the whole
 * patrol without a model. It is the mechanical judgment every eval case must accept (a test checks that), not a
 * substitute for a model's: it cannot read a pane, and it escalates whatever it cannot answer safely.
 *
 * Pure: the scan and the time in, one step per problem that waits for an answer out. The caller runs `argv`
 * (a gt command without the leading "gt"), then `gt patrol report <problem> --action <action> --reason <reason>`.
 *
 * Evidence it reads, when the detector gives it (every field optional):
 *  - `hook` (string | null): the work on the subject's hook; null means none, and an idle agent is left alone;
 *  - `session_alive`, `agent_running` (boolean): for patrol-unresponsive, whether the patrol agent's session,
 *    and its program in it, run at all;
 *  - `pane_moved_at` (ISO): when the pane's text last changed; an agent whose pane moved within
 *    RECENT_PANE_MS is working, not stuck, and is never restarted;
 *  - `reset_at` (ISO | null): when a usage limit resets (also for a patrol agent that does not answer);
 *  - `quarantined` (boolean) or `state: "stuck"`: the daemon stopped restarting it;
 *  - `escalation` (string | null): an escalation already filed for it (as `problem.escalation` is);
 *  - `rig`, `bead`, `previous_agent`, `sandbox: {uncommitted, unpushed}`: for orphan work;
 *  - `paused_until` (ISO), or `last_death` (ISO) with `pause_window_seconds`: for mass death.
 */

export type PatrolStep = {
  problem: number;
  action: PatrolAction;
  reason: string;
  /** The gt command that carries the decision out, without the leading "gt"; null when the report is all. */
  argv: string[] | null;
  /** An escalation already filed for the problem, for the report to name (`gt patrol report --escalation`). */
  escalation?: string;
};

/** A stalled agent whose pane changed this recently is producing output: left to work. */
export const RECENT_PANE_MS = 5 * 60_000;

export function simPatrolDecisions(scan: PatrolScan, nowMs: number): PatrolStep[] {
  const steps: PatrolStep[] = [];
  for (const problem of scan.problems) {
    if (!awaitsAnswer(problem)) continue;
    steps.push({ problem: problem.id, ...decide(problem, scan, nowMs) });
  }
  return steps;
}

/**
 * Whether a problem waits for its owner's answer: it is open or being handled, and nothing was decided about it
 * since its owner was last woken for it (a decision newer than the wake has answered that wake).
 */
export function awaitsAnswer(problem: ScanProblem): boolean {
  if (problem.state !== 'open' && problem.state !== 'handling') return false;
  const latest = sortedDecisions(problem).at(-1);
  if (latest === undefined) return true;
  if (problem.woken_at === null) return false;
  return !(ms(latest.at) > ms(problem.woken_at));
}

type Decision = Omit<PatrolStep, 'problem'>;

function decide(p: ScanProblem, scan: PatrolScan, nowMs: number): Decision {
  const ev = p.evidence;
  // What was tried, on this problem and on the same one before it came back.
  const done = (action: PatrolAction): ScanDecision[] =>
    [...(p.earlier_decisions ?? []), ...sortedDecisions(p)].filter((d) => d.action === action);
  switch (p.kind) {
    case 'stalled': {
      if (hasNoWork(p, scan))
        return { action: 'dismiss', reason: `${p.subject} has no hooked work: an idle agent is healthy`, argv: null };
      if (movedRecently(ev, nowMs))
        return {
          action: 'wait',
          reason: `its pane changed ${ago(nowMs - (isoMs(ev.pane_moved_at) ?? nowMs))} ago: it is producing output, not stuck`,
          argv: null,
        };
      if (done('restart').length > 0)
        return escalate(
          p,
          'high',
          `${p.subject} is still stalled after a nudge and a restart${(p.earlier_decisions ?? []).length > 0 ? ' (it stalled again after the last one)' : ''}: ${p.summary}`,
        );
      if (done('nudge').length > 0)
        return {
          action: 'restart',
          reason: 'still no progress after a nudge: restarted in its sandbox, hook kept',
          argv: ['session', 'restart', p.subject],
        };
      return {
        action: 'nudge',
        reason: 'asked whether it is stuck',
        argv: ['nudge', p.subject, stalledQuestion(p)],
      };
    }
    case 'needs-input':
      return escalate(p, 'medium', `${p.subject} waits at a question the patrol cannot answer safely: ${p.summary}`);
    case 'usage-limit': {
      const reset = isoMs(ev.reset_at);
      const resetText = typeof ev.reset_at === 'string' ? ev.reset_at : null;
      if (reset === null)
        return { action: 'wait', reason: 'at its usage limit, the reset time not shown: waiting it out', argv: null };
      if (nowMs < reset)
        return {
          action: 'wait',
          reason: `at its usage limit until it resets at ${resetText ?? ''} (in ${ago(reset - nowMs)})`,
          argv: null,
        };
      if (done('nudge').some((d) => ms(d.at) >= reset))
        return { action: 'wait', reason: `told it to carry on after the reset at ${resetText ?? ''}`, argv: null };
      return {
        action: 'nudge',
        reason: `the usage limit reset at ${resetText ?? ''}: told it to carry on`,
        argv: ['nudge', p.subject, 'Your usage limit has reset. Carry on with the work on your hook.'],
      };
    }
    case 'dead-with-work':
      if (isQuarantined(ev)) return crashLoop(p, `${p.subject} is quarantined with work on its hook`);
      if (hasNoWork(p, scan))
        return { action: 'dismiss', reason: `${p.subject} has no hooked work: nothing to restart`, argv: null };
      return { action: 'wait', reason: 'the daemon restarts it with its hook', argv: null };
    case 'crash-loop':
      return crashLoop(p, `${p.subject} keeps dying and is quarantined: ${p.summary}`);
    case 'orphan-work': {
      const bead = p.subject_type === 'bead' ? p.subject : (text(ev.bead) ?? text(ev.hook));
      const rig = text(ev.rig) ?? p.rig;
      const previous = text(ev.previous_agent);
      if (bead !== null && previous !== null && holdsWork(ev.sandbox))
        return {
          action: 'resling',
          reason: `${previous}'s sandbox holds unpushed work for ${bead}: slung back to it`,
          argv: ['sling', bead, previous],
        };
      if (bead !== null && rig !== null)
        return { action: 'resling', reason: `nobody holds ${bead}: slung to ${rig} again`, argv: ['sling', bead, rig] };
      return escalate(p, 'medium', `${p.subject} is on a hook nobody holds, and no rig to sling it to is known`);
    }
    case 'closed-hooked':
      return { action: 'wait', reason: 'the daemon clears a closed bead from the hook', argv: null };
    case 'zombie':
      return { action: 'wait', reason: 'the daemon clears a zombie session', argv: null };
    case 'mass-death': {
      if (done('wait').length > 0)
        return { action: 'resume', reason: 'waited once and the deaths stopped: restarts resumed', argv: null };
      if (isQuiet(ev, nowMs))
        return { action: 'resume', reason: 'no deaths for the pause window: restarts resumed', argv: null };
      return { action: 'wait', reason: 'agents died together: restarts stay paused until it is quiet', argv: null };
    }
    case 'refinery-down': {
      const rig = p.rig ?? p.subject.split('/')[0] ?? p.subject;
      if (done('start').length > 0)
        return escalate(p, 'high', `${rig}'s refinery is still down after a start: ${p.summary}`);
      return {
        action: 'start',
        reason: 'requests wait and the refinery is not running: started it',
        argv: ['session', 'start', `${rig}/refinery`],
      };
    }
    case 'refinery-stuck':
      return escalate(p, 'high', `${p.rig ?? p.subject}'s merge queue has not moved: ${p.summary}`);
    case 'patrol-unresponsive': {
      const limitUntil = isoMs(ev.reset_at);
      if (ev.session_alive === false || ev.agent_running === false)
        return {
          action: 'start',
          reason: `${p.subject} ${ev.session_alive === false ? 'has no session' : 'has no agent running'}: started it`,
          argv: ['session', 'start', p.subject],
        };
      if (limitUntil !== null && nowMs < limitUntil)
        return {
          action: 'wait',
          reason: `${p.subject} is at a usage limit until ${text(ev.reset_at) ?? ''}: a restart would not help`,
          argv: null,
        };
      if (done('nudge').length === 0)
        return {
          action: 'nudge',
          reason: 'asked it to answer its open problems',
          argv: [
            'nudge',
            p.subject,
            'You have open problems with no answer. Run gt patrol scan and report a decision for each.',
          ],
        };
      if (movedRecently(ev, nowMs))
        return {
          action: 'wait',
          reason: 'its pane is moving: it is in a long turn and gets the nudge at its end',
          argv: null,
        };
      return {
        action: 'restart',
        reason: 'no answer after a nudge: restarted; it picks up its problems from gt patrol scan',
        argv: ['session', 'restart', p.subject],
      };
    }
  }
}

function crashLoop(p: ScanProblem, what: string): Decision {
  const filed = p.escalation ?? text(p.evidence.escalation);
  if (filed !== null)
    return {
      action: 'escalate',
      reason: `already escalated as ${filed}: left to a person`,
      argv: null,
      escalation: filed,
    };
  return escalate(p, 'high', what);
}

function escalate(p: ScanProblem, severity: 'critical' | 'high' | 'medium' | 'low', what: string): Decision {
  const related = p.subject_type === 'bead' ? p.subject : text(p.evidence.hook);
  return {
    action: 'escalate',
    reason: `escalated (${severity}): ${what}`,
    argv: ['escalate', what, '-s', severity, ...(related === null ? [] : ['--related', related])],
  };
}

function stalledQuestion(p: ScanProblem): string {
  const hook = text(p.evidence.hook);
  const on = hook === null ? 'your work' : hook;
  return `No progress seen on ${on} for a while. Are you stuck? If you are working, carry on; if something blocks you, say what on the bead.`;
}

/** Evidence or the scan's agent list says the subject has nothing on its hook and is idle. */
function hasNoWork(p: ScanProblem, scan: PatrolScan): boolean {
  if (Object.hasOwn(p.evidence, 'hook')) return p.evidence.hook === null;
  const agent = scan.agents.find((a) => a.address === p.subject);
  return agent !== undefined && agent.hook === null && (agent.state === 'idle' || agent.state === 'stopped');
}

function movedRecently(ev: Record<string, unknown>, nowMs: number): boolean {
  const moved = isoMs(ev.pane_moved_at);
  return moved !== null && nowMs - moved < RECENT_PANE_MS;
}

function isQuarantined(ev: Record<string, unknown>): boolean {
  return ev.quarantined === true || ev.state === 'stuck';
}

function holdsWork(sandbox: unknown): boolean {
  if (!isRecord(sandbox)) return false;
  const s = sandbox;
  return (typeof s.unpushed === 'number' && s.unpushed > 0) || (typeof s.uncommitted === 'number' && s.uncommitted > 0);
}

function isQuiet(ev: Record<string, unknown>, nowMs: number): boolean {
  const until = isoMs(ev.paused_until);
  if (until !== null) return nowMs >= until;
  const last = isoMs(ev.last_death ?? ev.last_death_at);
  const window = ev.pause_window_seconds;
  return last !== null && typeof window === 'number' && nowMs - last >= window * 1000;
}

function sortedDecisions(p: ScanProblem): ScanDecision[] {
  return [...p.decisions].sort((a, b) => ms(a.at) - ms(b.at));
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function isoMs(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

function ms(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
}

/** A duration in words: "45 s", "12 min", "3 h". */
function ago(durationMs: number): string {
  const s = Math.max(0, Math.round(durationMs / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  return `${Math.round(m / 60)} h`;
}
