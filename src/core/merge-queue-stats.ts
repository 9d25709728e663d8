import { isRecord } from './errors.js';
import { orderQueue } from './merge-queue.js';
import type { MergeRequest, MqState } from './merge-request.js';

/**
 * The merge queue's numbers (gt mq status), from the requests and the refinery's pass records. Pure: the
 * caller reads the store and gives the time.
 */

export type PassFacts = {
  atMs: number;
  batch: number;
  landed: number;
  returned: readonly string[];
  gate_runs: number;
  rounds: number;
  red: boolean;
  flaky: boolean;
};

/** A pass record as stored (JSON), read defensively: what is missing counts as nothing. */
export function readPassFacts(text: string | null, atMs: number): PassFacts | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
  if (!isRecord(raw)) return undefined;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    atMs,
    batch: n(raw.batch),
    landed: n(raw.landed),
    returned: Array.isArray(raw.returned) ? raw.returned.filter((c): c is string => typeof c === 'string') : [],
    gate_runs: n(raw.gate_runs),
    rounds: n(raw.rounds),
    red: raw.red === true,
    flaky: raw.flaky === true,
  };
}

export type LandedFacts = { enqueuedMs: number; landedMs: number };

export type QueueStats = {
  queued: number;
  testing: number;
  returned: number;
  escalated: number;
  /** Age of the request that has waited longest in the queue (ms), or null when none waits. */
  oldest_wait_ms: number | null;
  /** Over the window: */
  window_hours: number;
  landed: number;
  merges_per_hour: number;
  queue_ms_p50: number | null;
  queue_ms_p95: number | null;
  gate_runs_per_landed: number | null;
  batches: number;
  batch_size_mean: number | null;
  /** Test rounds after the first, per red batch (how long it took to isolate a culprit). */
  isolation_rounds_per_red: number | null;
  returns: Record<string, number>;
  flakes: number;
};

function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? null;
}

export function queueStats(
  open: readonly MergeRequest[],
  landed: readonly LandedFacts[],
  passes: readonly PassFacts[],
  options: { nowMs: number; windowMs: number },
): QueueStats {
  const since = options.nowMs - options.windowMs;
  const recent = passes.filter((p) => p.atMs >= since);
  const landedRecent = landed.filter((l) => l.landedMs >= since);
  const waiting = open.filter((mr) => mr.state === 'queued' || mr.state === 'testing');
  const count = (state: MergeRequest['state']): number => open.filter((mr) => mr.state === state).length;
  const waits = landedRecent.map((l) => Math.max(0, l.landedMs - l.enqueuedMs));
  const gateRuns = recent.reduce((n, p) => n + p.gate_runs, 0);
  const batches = recent.filter((p) => p.batch > 0);
  const red = batches.filter((p) => p.red);
  const returns: Record<string, number> = {};
  for (const p of recent) for (const c of p.returned) returns[c] = (returns[c] ?? 0) + 1;
  const hours = options.windowMs / 3_600_000;
  return {
    queued: count('queued'),
    testing: count('testing'),
    returned: count('returned'),
    escalated: count('escalated'),
    oldest_wait_ms:
      waiting.length === 0 ? null : Math.max(...waiting.map((mr) => Math.max(0, options.nowMs - mr.enqueuedMs))),
    window_hours: hours,
    landed: landedRecent.length,
    merges_per_hour: hours > 0 ? landedRecent.length / hours : 0,
    queue_ms_p50: quantile(waits, 0.5),
    queue_ms_p95: quantile(waits, 0.95),
    gate_runs_per_landed: landedRecent.length === 0 ? null : gateRuns / landedRecent.length,
    batches: batches.length,
    batch_size_mean: batches.length === 0 ? null : batches.reduce((n, p) => n + p.batch, 0) / batches.length,
    isolation_rounds_per_red:
      red.length === 0 ? null : red.reduce((n, p) => n + Math.max(0, p.rounds - 1), 0) / red.length,
    returns,
    flakes: recent.filter((p) => p.flaky).length,
  };
}

/** A request as `gt mq list` shows it: its place in the queue (1 is tested next) and how long it has waited. */
export type QueueRow = MergeRequest & {
  /** Its place in queue order among the requests waiting (queued or testing); null for the others. */
  position: number | null;
  /** Since it (last) entered the queue. */
  age_ms: number;
};

/** Where the others follow the waiting ones: went back, went up, then the ended ones. */
const AFTER_QUEUE: readonly MqState[] = ['returned', 'escalated', 'landed', 'rejected'];

/**
 * The rows of `gt mq list`: the waiting requests in the order the refinery will batch them (core/merge-queue's
 * orderQueue, with the rig's age boost), numbered; then the returned, escalated, landed and rejected ones, each
 * by priority and then first come. The cause is kept only while it explains the state (returned or escalated).
 */
export function queueRows(
  list: readonly MergeRequest[],
  options: { nowMs: number; ageBoostPerHour: number },
): QueueRow[] {
  const row = (mr: MergeRequest, position: number | null): QueueRow => ({
    ...mr,
    cause: mr.state === 'returned' || mr.state === 'escalated' ? mr.cause : null,
    position,
    age_ms: Math.max(0, options.nowMs - mr.enqueuedMs),
  });
  const waiting = list.filter((mr) => mr.state === 'queued' || mr.state === 'testing');
  const ordered = orderQueue(waiting, options).map((mr, i) => row(mr, i + 1));
  const rest = list
    .filter((mr) => mr.state !== 'queued' && mr.state !== 'testing')
    .sort(
      (a, b) =>
        AFTER_QUEUE.indexOf(a.state) - AFTER_QUEUE.indexOf(b.state) ||
        a.priority - b.priority ||
        a.enqueuedMs - b.enqueuedMs ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    )
    .map((mr) => row(mr, null));
  return [...ordered, ...rest];
}

export type MergedRequest = {
  id: string;
  title: string;
  rig: string;
  source: string;
  /** The target commit it landed in. */
  landed_in: string | null;
  landed_at: string;
};

export type MergedToday = {
  /** The start of the day counted (local midnight), ISO. */
  since: string;
  count: number;
  /** The newest first, at most `keep`. */
  recent: MergedRequest[];
};

/**
 * What landed since `sinceMs` (gt status: merged today): how many, and the newest few. `landed` are landed
 * requests with the time each was closed; others, and those closed before, are not counted.
 */
export function mergedSince(
  landed: readonly { mr: MergeRequest; closedMs: number }[],
  sinceMs: number,
  keep = 3,
): MergedToday {
  const today = landed
    .filter((l) => l.mr.state === 'landed' && Number.isFinite(l.closedMs) && l.closedMs >= sinceMs)
    .sort((a, b) => b.closedMs - a.closedMs || (a.mr.id < b.mr.id ? -1 : a.mr.id > b.mr.id ? 1 : 0));
  return {
    since: new Date(sinceMs).toISOString(),
    count: today.length,
    recent: today.slice(0, Math.max(0, keep)).map(({ mr, closedMs }) => ({
      id: mr.id,
      title: mr.title,
      rig: mr.rig,
      source: mr.source,
      landed_in: mr.landedIn,
      landed_at: new Date(closedMs).toISOString(),
    })),
  };
}
