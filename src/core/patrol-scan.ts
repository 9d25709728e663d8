import { isRecord, ValidationError } from './errors.js';
import {
  isPatrolAction,
  isProblemKind,
  PROBLEM_STATES,
  SUBJECT_TYPES,
  type PatrolAction,
  type Problem,
  type ProblemState,
  type SubjectType,
} from './problem.js';

/**
 * What `gt patrol scan --json` prints: the live problems a patrol agent owns, each with the decisions already
 * made about it, and the agents in its scope. It is all a patrol agent (or the sim policy) needs to decide; the
 * eval's fact packets have the same shape.
 */

/** A decision as the scan shows it (the store keeps more: the evidence it was based on, the outcome). */
export type ScanDecision = { action: PatrolAction; reason: string; actor: string; at: string };

export type ScanProblem = Problem & {
  /** The decisions made about this problem, in any order (readers sort by `at`). */
  decisions: ScanDecision[];
  /**
   * Decisions about the same kind of problem with the same subject that went away and came back (resolved
   * within the recur window before this one opened): what was tried already, so that a fix that does not hold
   * is not tried forever.
   */
  earlier_decisions?: ScanDecision[];
};

export type ScanAgent = {
  address: string;
  role: string;
  /** The derived state (core/derive.ts): working, stalled, idle, … */
  state: string;
  hook: string | null;
  session_alive: boolean;
};

export type PatrolScan = {
  at: string;
  /** Whose problems these are (`<rig>/witness`, `deacon`, `deacon/boot`), or null for a scope given by flags. */
  owner: string | null;
  rig: string | null;
  problems: ScanProblem[];
  agents: ScanAgent[];
};

/** Parses the JSON of `gt patrol scan --json`, refusing anything that is not that shape (naming the field). */
export function parsePatrolScan(json: unknown): PatrolScan {
  const root = record(json, 'the scan');
  return {
    at: str(root.at, 'at'),
    owner: strOrNull(root.owner, 'owner'),
    rig: strOrNull(root.rig, 'rig'),
    problems: list(root.problems, 'problems').map((p, i) => parseProblem(p, `problems[${i}]`)),
    agents: list(root.agents, 'agents').map((a, i) => parseAgent(a, `agents[${i}]`)),
  };
}

function parseProblem(value: unknown, path: string): ScanProblem {
  const p = record(value, path);
  const kind = str(p.kind, `${path}.kind`);
  if (!isProblemKind(kind)) fail(`${path}.kind`, `is not a problem kind: ${JSON.stringify(kind)}`);
  const state = oneOf<ProblemState>(p.state, PROBLEM_STATES, `${path}.state`);
  const subjectType = oneOf<SubjectType>(p.subject_type, SUBJECT_TYPES, `${path}.subject_type`);
  if (typeof p.id !== 'number' || !Number.isInteger(p.id)) fail(`${path}.id`, 'must be a whole number');
  return {
    id: p.id,
    kind,
    subject: str(p.subject, `${path}.subject`),
    subject_type: subjectType,
    rig: strOrNull(p.rig, `${path}.rig`),
    owner: str(p.owner, `${path}.owner`),
    summary: typeof p.summary === 'string' ? p.summary : '',
    evidence: p.evidence === undefined ? {} : record(p.evidence, `${path}.evidence`),
    state,
    first_seen: str(p.first_seen, `${path}.first_seen`),
    last_seen: str(p.last_seen, `${path}.last_seen`),
    woken_at: strOrNull(p.woken_at ?? null, `${path}.woken_at`),
    resolved_at: strOrNull(p.resolved_at ?? null, `${path}.resolved_at`),
    resolution: strOrNull(p.resolution ?? null, `${path}.resolution`),
    escalation: strOrNull(p.escalation ?? null, `${path}.escalation`),
    decisions: parseDecisions(p.decisions, `${path}.decisions`),
    earlier_decisions: parseDecisions(p.earlier_decisions, `${path}.earlier_decisions`),
  };
}

function parseDecisions(value: unknown, path: string): ScanDecision[] {
  return list(value ?? [], path).map((d, i) => {
    const dp = `${path}[${i}]`;
    const r = record(d, dp);
    const action = str(r.action, `${dp}.action`);
    if (!isPatrolAction(action)) fail(`${dp}.action`, `is not a patrol action: ${JSON.stringify(action)}`);
    return {
      action,
      reason: typeof r.reason === 'string' ? r.reason : '',
      actor: str(r.actor, `${dp}.actor`),
      at: str(r.at, `${dp}.at`),
    };
  });
}

function parseAgent(value: unknown, path: string): ScanAgent {
  const a = record(value, path);
  return {
    address: str(a.address, `${path}.address`),
    role: str(a.role, `${path}.role`),
    state: str(a.state, `${path}.state`),
    hook: strOrNull(a.hook ?? null, `${path}.hook`),
    session_alive: a.session_alive === true,
  };
}

function fail(path: string, message: string): never {
  throw new ValidationError(`patrol scan: ${path} ${message}`, {
    hint: 'read it from "gt patrol scan --json" of the same gt version',
  });
}

function record(v: unknown, path: string): Record<string, unknown> {
  return isRecord(v) ? v : fail(path, 'must be an object');
}

function list(v: unknown, path: string): unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : fail(path, 'must be an array');
}

function str(v: unknown, path: string): string {
  return typeof v === 'string' && v !== '' ? v : fail(path, 'must be a non-empty string');
}

function strOrNull(v: unknown, path: string): string | null {
  return v === null ? null : str(v, path);
}

function oneOf<T extends string>(v: unknown, values: readonly T[], path: string): T {
  const found = values.find((x) => x === v);
  return found ?? fail(path, `must be one of ${values.join(', ')}`);
}
