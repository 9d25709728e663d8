import { isRecord } from './errors.js';
import type { MergeRequest } from './merge-request.js';

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
