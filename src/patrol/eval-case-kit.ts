import type { PatrolScan, ScanAgent, ScanDecision } from '../core/patrol-scan.js';
import type { Evidence, PatrolAction, ProblemKind, SubjectType } from '../core/problem.js';
import type { PatrolRole } from './formulas.js';

/**
 * What the patrol eval's cases are made of (the cases are in eval-cases.ts). The patrol eval's situations: each a fact packet (what `gt patrol scan --json` would print, with one problem,
 * and what looking closer would show) and the actions a good patrol agent may take, and must not take. The sim
 * policy passes every one (a test holds it to that), so a case here is also a rule the sim follows.
 */

export type EvalFacts = {
  /** The time the facts are as of. */
  now: string;
  scan: PatrolScan;
  /** What the commands an agent might run to look closer would print, keyed by the command. */
  looks: Record<string, string>;
};

export type EvalCase = {
  id: string;
  role: PatrolRole;
  title: string;
  facts: EvalFacts;
  /** The answers that pass. */
  allowed: readonly PatrolAction[];
  /** The answers that would do harm (a fail either way, counted apart). */
  forbidden: readonly PatrolAction[];
};

export function caseKind(c: EvalCase): ProblemKind {
  const p = c.facts.scan.problems[0];
  if (p === undefined) throw new Error(`eval case ${c.id} has no problem`);
  return p.kind;
}

const NOW_MS = Date.parse('2026-03-02T09:00:00.000Z');
export const ago = (minutes: number): string => new Date(NOW_MS - minutes * 60_000).toISOString();
export const ahead = (minutes: number): string => new Date(NOW_MS + minutes * 60_000).toISOString();

export const RIG = 'shop';
export const TOAST = 'shop/polecats/toast';
export const NUX = 'shop/polecats/nux';

function ownerOf(role: PatrolRole): string {
  return role === 'witness' ? `${RIG}/witness` : role === 'deacon' ? 'deacon' : 'deacon/boot';
}

type Spec = {
  id: string;
  role: PatrolRole;
  title: string;
  kind: ProblemKind;
  subject?: string;
  subjectType?: SubjectType;
  rig?: string | null;
  summary: string;
  evidence: Evidence;
  /** [action, minutes ago, reason] */
  decisions?: [PatrolAction, number, string][];
  escalation?: string;
  agents?: ScanAgent[];
  looks?: Record<string, string>;
  allowed: PatrolAction[];
  forbidden: PatrolAction[];
};

/** Problem ids: distinct over all cases, as in a store. */
let nextProblemId = 101;

export function make(s: Spec): EvalCase {
  const owner = ownerOf(s.role);
  const decisions: ScanDecision[] = (s.decisions ?? []).map(([action, minutes, reason]) => ({
    action,
    reason,
    actor: owner,
    at: ago(minutes),
  }));
  const rig = s.rig === undefined ? (s.role === 'witness' ? RIG : null) : s.rig;
  return {
    id: s.id,
    role: s.role,
    title: s.title,
    facts: {
      now: ago(0),
      looks: s.looks ?? {},
      scan: {
        at: ago(0),
        owner,
        rig: s.role === 'witness' ? RIG : null,
        problems: [
          {
            id: nextProblemId++,
            kind: s.kind,
            subject: s.subject ?? TOAST,
            subject_type: s.subjectType ?? 'agent',
            rig,
            owner,
            state: decisions.length > 0 ? 'handling' : 'open',
            summary: s.summary,
            evidence: s.evidence,
            first_seen: ago(40),
            last_seen: ago(0.5),
            woken_at: ago(0.5),
            resolved_at: null,
            resolution: null,
            escalation: s.escalation ?? null,
            decisions,
          },
        ],
        agents: s.agents ?? [],
      },
    },
    allowed: s.allowed,
    forbidden: s.forbidden,
  };
}

export const agent = (address: string, role: string, state: string, hook: string | null, alive = true): ScanAgent => ({
  address,
  role,
  state,
  hook,
  session_alive: alive,
});

export const BUSY_FROZEN = '✻ Running the test suite… (31m 12s · esc to interrupt)\n\n❯ ';
export const IDLE_PROMPT = '● Done. The tests pass.\n\n❯ ';
export const CLEAN = { uncommitted: 0, unpushed: 0 };
export const UNPUSHED = { uncommitted: 0, unpushed: 3 };
export const TOUCHES_WORK: PatrolAction[] = ['release', 'resling'];
