import type { PatrolAction, Problem, ProblemKind } from './problem.js';

/**
 * When a patrol agent is woken: only when there is something for it. A problem wakes its owner once when it
 * is first seen; after the owner decided, again only if the problem is still there `recheckMs` later (the
 * nudge did not help: decide the next step), then after twice, four and eight times that. Kinds the daemon itself repairs wake nobody unless they outlast
 * `mechanicalGraceMs`. Escalated problems are a person's. Pure: the daemon wakes (nudge or start) and records.
 */

/** Kinds the daemon repairs by itself: the owner looks only if the repair did not take. */
export const MECHANICAL_KINDS: ReadonlySet<ProblemKind> = new Set([
  'dead-with-work',
  'orphan-work',
  'closed-hooked',
  'zombie',
  'refinery-down',
]);

export type WakeConfig = { recheckMs: number; mechanicalGraceMs: number };

/** A live problem with its decisions so far: the latest one's time and action, and how many there were. */
export type LiveProblem = Problem & {
  decidedAtMs: number | null;
  lastAction?: PatrolAction | null;
  decisions?: number;
};

export type WakePlan = {
  /** Owner → the problems it is woken for now. */
  wake: Map<string, LiveProblem[]>;
  /** The next time a wake becomes due if nothing changes (ms), or null. */
  nextDueMs: number | null;
};

export function planWakes(live: readonly LiveProblem[], nowMs: number, config: WakeConfig): WakePlan {
  const wake = new Map<string, LiveProblem[]>();
  let nextDueMs: number | null = null;
  const later = (ms: number): void => {
    nextDueMs = nextDueMs === null ? ms : Math.min(nextDueMs, ms);
  };
  for (const p of live) {
    if (p.state === 'escalated' || p.state === 'resolved') continue;
    const first = Date.parse(p.first_seen);
    let dueMs: number;
    if (p.woken_at === null) {
      dueMs = MECHANICAL_KINDS.has(p.kind) ? first + config.mechanicalGraceMs : first;
    } else {
      const woken = Date.parse(p.woken_at);
      // Woken and not answered yet: the owner's silence is its own problem (patrol-unresponsive), not a re-wake.
      if (p.decidedAtMs === null || p.decidedAtMs < woken) continue;
      // Each look that did not end it spaces the next one out (1, 2, 4, then 8 times the recheck time); a wait
      // for a usage limit's reset is looked at again when it resets, not before.
      const n = Math.max(1, p.decisions ?? 1);
      dueMs = p.decidedAtMs + config.recheckMs * 2 ** Math.min(n - 1, 3);
      const reset = typeof p.evidence.reset_at === 'string' ? Date.parse(p.evidence.reset_at) : NaN;
      if (p.kind === 'usage-limit' && p.lastAction === 'wait' && !Number.isNaN(reset)) dueMs = Math.max(dueMs, reset);
    }
    if (dueMs <= nowMs) {
      const list = wake.get(p.owner) ?? [];
      list.push(p);
      wake.set(p.owner, list);
    } else {
      later(dueMs);
    }
  }
  return { wake, nextDueMs };
}

/** The text typed into a patrol agent's session to wake it. */
export function wakeText(problems: readonly Pick<Problem, 'id' | 'kind' | 'subject'>[]): string {
  const shown = problems
    .slice(0, 5)
    .map((p) => `#${p.id} ${p.kind} ${p.subject}`)
    .join(', ');
  const more = problems.length > 5 ? ` and ${problems.length - 5} more` : '';
  return `Patrol: ${problems.length} problem(s) for you (${shown}${more}). Run gt patrol scan, decide, act, and gt patrol report each.`;
}
