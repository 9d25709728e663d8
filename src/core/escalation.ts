import type { Bead } from './bead.js';
import { isRecord, ValidationError } from './errors.js';

/**
 * Escalations: what an agent, the daemon or the refinery asks a person to look at. Each is a bead of type
 * `escalation` with a severity; the town's settings say, per severity, where it is routed (the bead itself,
 * mail to an agent, a command given the escalation as JSON on stdin). One that nobody acknowledges is raised a
 * level after `escalation.stale_after`, at most `escalation.max_raises` times. The decisions are here (pure);
 * patrol/escalation.ts does the writing and the routing.
 */

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const DEFAULT_SEVERITY: Severity = 'medium';

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

export function parseSeverity(value: string): Severity {
  const v = value.trim().toLowerCase();
  if (isSeverity(v)) return v;
  throw new ValidationError(`unknown severity "${value}": expected critical, high, medium or low`, {
    hint: 'e.g. gt escalate "<what>" -s high',
  });
}

/** A severity as a bead priority: critical P0, high P1, medium P2, low P3. */
export const SEVERITY_PRIORITY: Readonly<Record<Severity, number>> = { critical: 0, high: 1, medium: 2, low: 3 };

/** The severity a priority stands for (an escalation filed without one, by priority only); P4 counts as low. */
export function severityOfPriority(priority: number): Severity {
  return SEVERITIES[Math.max(0, Math.min(3, Math.trunc(priority)))] ?? 'low';
}

/** One level up; null for critical, which has nothing above it. */
export function raiseOf(severity: Severity): Severity | null {
  const i = SEVERITIES.indexOf(severity);
  return i <= 0 ? null : (SEVERITIES[i - 1] ?? null);
}

/** Orders by severity (critical first), then by age (oldest first), then by id. */
export function compareEscalations(
  a: Pick<Escalation, 'severity' | 'created_at' | 'id'>,
  b: Pick<Escalation, 'severity' | 'created_at' | 'id'>,
): number {
  return (
    SEVERITY_PRIORITY[a.severity] - SEVERITY_PRIORITY[b.severity] ||
    a.created_at.localeCompare(b.created_at) ||
    a.id.localeCompare(b.id)
  );
}

// ---------------------------------------------------------------------------------------------------------
// Routes, in the form settings.json holds them.

/** `"bead"`, `"mail:<address>"` (an agent, `overseer` or a mail group), or `{"command": [argv0, ...]}` (an argv, never a shell string). */
export type EscalationRoute = 'bead' | `mail:${string}` | { command: string[] };

export type ParsedRoute = { kind: 'bead' } | { kind: 'mail'; to: string } | { kind: 'command'; argv: string[] };

export function parseRoute(route: EscalationRoute): ParsedRoute {
  if (typeof route !== 'string') return { kind: 'command', argv: route.command };
  if (route === 'bead') return { kind: 'bead' };
  return { kind: 'mail', to: route.slice('mail:'.length) };
}

/** How a route is named in results and comments: `bead`, `mail:mayor`, `command:notify-send`. */
export function routeLabel(route: EscalationRoute): string {
  const r = parseRoute(route);
  return r.kind === 'bead' ? 'bead' : r.kind === 'mail' ? `mail:${r.to}` : `command:${r.argv[0] ?? ''}`;
}

/** By default the person hears of critical and high at once (their inbox, `gt status`); the mayor of all but low. */
export const DEFAULT_ESCALATION_ROUTES: Readonly<Record<Severity, readonly EscalationRoute[]>> = {
  critical: ['bead', 'mail:mayor', 'mail:overseer'],
  high: ['bead', 'mail:mayor', 'mail:overseer'],
  medium: ['bead', 'mail:mayor'],
  low: ['bead'],
};

// ---------------------------------------------------------------------------------------------------------
// The escalation as read from its bead.

export const ESCALATION_TYPE = 'escalation';
export const ESCALATION_LABEL = 'gt:escalation';
export const severityLabel = (s: Severity): string => `severity:${s}`;

/** What one route did, once: when, for which severity, and what came of it (a mail id, an exit status). */
export type RouteResult = { route: string; severity: Severity; ok: boolean; detail: string; at: string };

export type Escalation = {
  id: string;
  title: string;
  description: string;
  severity: Severity;
  /** The severity it was filed with (before any raise). */
  original_severity: Severity;
  priority: number;
  /** Who or what raised it: an agent's address, `daemon`, `refinery`, a plugin. */
  source: string;
  /** The bead it is about, if any. */
  related: string | null;
  status: 'open' | 'closed';
  created_at: string;
  created_by: string;
  /** Times it was raised a level for want of an acknowledgement, and when last. */
  raised_count: number;
  raised_at: string | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  closed_at: string | null;
  close_reason: string | null;
  /** Every route run for it, oldest first (the latest few). */
  routes: RouteResult[];
};

/** The metadata keys an escalation bead carries. */
export const ESCALATION_KEYS = {
  severity: 'severity',
  original_severity: 'original_severity',
  source: 'source',
  related: 'related',
  raised_count: 'raised_count',
  raised_at: 'raised_at',
  acknowledged_at: 'acknowledged_at',
  acknowledged_by: 'acknowledged_by',
  routes: 'routes',
} as const;

/** Route results kept on the bead: the latest this many. */
export const KEPT_ROUTE_RESULTS = 30;

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const severityIn = (v: unknown): Severity | null => (typeof v === 'string' && isSeverity(v) ? v : null);

function routeResults(v: unknown): RouteResult[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((r): RouteResult[] => {
    if (!isRecord(r)) return [];
    const severity = severityIn(r.severity);
    const route = text(r.route);
    const at = text(r.at);
    if (severity === null || route === null || at === null || typeof r.ok !== 'boolean') return [];
    return [{ route, severity, ok: r.ok, detail: typeof r.detail === 'string' ? r.detail : '', at }];
  });
}

/**
 * Reads an escalation bead. One filed without metadata (by an older gt, or by hand with bd) takes its severity
 * from its severity label, else from its priority; its source from who created it.
 */
export function escalationOf(bead: Bead & { labels: readonly string[] }): Escalation {
  const m = bead.metadata;
  const labelled = bead.labels.find((l) => l.startsWith('severity:'))?.slice('severity:'.length) ?? '';
  const severity = severityIn(m[ESCALATION_KEYS.severity]) ?? severityIn(labelled) ?? severityOfPriority(bead.priority);
  const raised = m[ESCALATION_KEYS.raised_count];
  return {
    id: bead.id,
    title: bead.title,
    description: bead.description,
    severity,
    original_severity: severityIn(m[ESCALATION_KEYS.original_severity]) ?? severity,
    priority: bead.priority,
    source: text(m[ESCALATION_KEYS.source]) ?? bead.created_by,
    related: text(m[ESCALATION_KEYS.related]),
    status: bead.status === 'closed' ? 'closed' : 'open',
    created_at: bead.created_at,
    created_by: bead.created_by,
    raised_count: typeof raised === 'number' && Number.isInteger(raised) && raised > 0 ? raised : 0,
    raised_at: text(m[ESCALATION_KEYS.raised_at]),
    acknowledged_at: text(m[ESCALATION_KEYS.acknowledged_at]),
    acknowledged_by: text(m[ESCALATION_KEYS.acknowledged_by]),
    closed_at: bead.closed_at,
    close_reason: bead.status === 'closed' ? bead.close_reason : null,
    routes: routeResults(m[ESCALATION_KEYS.routes]),
  };
}

/** What a command route is given on stdin. */
export function routePayload(e: Escalation, town: string): Record<string, unknown> {
  return {
    id: e.id,
    title: e.title,
    description: e.description,
    severity: e.severity,
    original_severity: e.original_severity,
    source: e.source,
    related: e.related,
    created_at: e.created_at,
    raised_count: e.raised_count,
    town,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Raising what nobody acknowledged.

export type StaleInput = Pick<
  Escalation,
  'id' | 'severity' | 'status' | 'acknowledged_at' | 'created_at' | 'raised_at' | 'raised_count'
>;

export type Raise = { id: string; from: Severity; to: Severity; raised_count: number };

/**
 * Which open, unacknowledged escalations are raised now, and when the next one falls due (null: none will).
 * An escalation is due `staleAfterMs` after it was filed, or after its last raise (each raise restarts the
 * clock); it is raised at most `maxRaises` times, and never above critical. One raised now that can be raised
 * again falls due `staleAfterMs` from now.
 */
export function staleRaises(
  escalations: readonly StaleInput[],
  nowMs: number,
  staleAfterMs: number,
  maxRaises: number,
): { raises: Raise[]; nextDueMs: number | null } {
  const raises: Raise[] = [];
  let next: number | null = null;
  const later = (ms: number): void => {
    next = next === null ? ms : Math.min(next, ms);
  };
  for (const e of escalations) {
    if (e.status !== 'open' || e.acknowledged_at !== null || e.raised_count >= maxRaises) continue;
    const to = raiseOf(e.severity);
    if (to === null) continue;
    const since = Date.parse(e.raised_at ?? e.created_at);
    if (Number.isNaN(since)) continue;
    const due = since + staleAfterMs;
    if (due > nowMs) {
      later(due);
      continue;
    }
    const count = e.raised_count + 1;
    raises.push({ id: e.id, from: e.severity, to, raised_count: count });
    if (count < maxRaises && raiseOf(to) !== null) later(nowMs + staleAfterMs);
  }
  return { raises, nextDueMs: next };
}
