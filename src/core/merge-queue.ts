/**
 * The merge queue's planner: the order of the queue, which requests to batch, how big the next batch is. Pure:
 * the refinery's executor (src/refinery/) brings the queue, the predicted conflicts and the time, and does the
 * git work. What to test of a batch, and what to land, is the search's (batch-search.ts).
 */

const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------------------
// Ordering

export type QueuedRequest = {
  id: string;
  /** 0 (most urgent) .. 4, the beads convention. */
  priority: number;
  /** When it entered the queue (first come, first served within a priority). */
  enqueuedMs: number;
  /** Extra urgency in priority levels (e.g. 1 for a request returned, fixed and re-queued). */
  boost?: number;
};

export type OrderOptions = {
  nowMs: number;
  /** Priority levels gained per hour waited (e.g. 1): nothing starves behind a stream of urgent work. */
  ageBoostPerHour: number;
};

/** Urgency scaled by an hour, so that whole priorities, whole-millisecond ages and whole rates stay exact. */
function urgencyKey(r: QueuedRequest, options: OrderOptions): number {
  const waitedMs = Math.max(0, options.nowMs - r.enqueuedMs);
  return (r.priority - (r.boost ?? 0)) * HOUR_MS - waitedMs * options.ageBoostPerHour;
}

function checkOrderOptions(options: OrderOptions): void {
  if (!Number.isFinite(options.ageBoostPerHour) || options.ageBoostPerHour < 0) {
    throw new RangeError(`ageBoostPerHour must be a finite number ≥ 0, not ${options.ageBoostPerHour}`);
  }
}

/**
 * A request's effective urgency in priority levels (lower goes first): priority − boost − hours waited × the
 * age boost. A clock that runs behind a request's enqueue time counts as no wait, never as a penalty.
 */
export function effectiveUrgency(r: QueuedRequest, options: OrderOptions): number {
  checkOrderOptions(options);
  return urgencyKey(r, options) / HOUR_MS;
}

/** Plain code-unit order: the same on every machine and locale. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The queue in the order to batch it: by effective urgency, then enqueue time, then id. A new array. */
export function orderQueue<T extends QueuedRequest>(requests: readonly T[], options: OrderOptions): T[] {
  checkOrderOptions(options);
  const keyed = requests.map((r) => ({ r, key: urgencyKey(r, options) }));
  keyed.sort((a, b) => a.key - b.key || a.r.enqueuedMs - b.r.enqueuedMs || compareIds(a.r.id, b.r.id));
  return keyed.map((k) => k.r);
}

// ---------------------------------------------------------------------------------------------------------
// Picking a batch

export type ConflictFacts = {
  /** Requests whose merge onto the target alone conflicts (predicted with git merge-tree). */
  withTarget: ReadonlySet<string>;
  /** Pairs of requests that conflict with each other, keyed by `pairKey(a, b)`. */
  pairs: ReadonlySet<string>;
};

/** The key of an unordered pair of requests in `ConflictFacts.pairs`: `${a}\u0000${b}` with a < b. */
export function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

export type BatchPick = {
  /** The batch, in stack order. */
  batch: string[];
  /** Conflict with the target: return these to their authors now. */
  conflicts: string[];
  /** Conflict with an earlier pick: they wait for the next batch. */
  deferred: string[];
};

/**
 * Greedy in queue order: a request that conflicts with the target goes to `conflicts`, one that conflicts with a
 * request already picked goes to `deferred`, the others are picked until the batch has `size`. Target conflicts
 * are reported for the whole queue (they are known now, and waiting cannot fix them); once the batch is full
 * the rest simply stay queued. A repeated id counts once.
 */
export function pickBatch(ordered: readonly QueuedRequest[], size: number, conflicts: ConflictFacts): BatchPick {
  const batch: string[] = [];
  const withTarget: string[] = [];
  const deferred: string[] = [];
  const seen = new Set<string>();
  for (const { id } of ordered) {
    if (seen.has(id)) continue;
    seen.add(id);
    if (conflicts.withTarget.has(id)) withTarget.push(id);
    else if (batch.length >= size) continue;
    else if (batch.some((picked) => conflicts.pairs.has(pairKey(picked, id)))) deferred.push(id);
    else batch.push(id);
  }
  return { batch, conflicts: withTarget, deferred };
}

// ---------------------------------------------------------------------------------------------------------
// Adaptive batch size

export type BatchSizing = { size: number; min: number; max: number };

/**
 * The next batch size, additive increase and multiplicative decrease (as Zuul's window and bors do): a green
 * batch grows it by one up to `max`, a red one halves it (rounded down) to no less than `min` and never below 1.
 * `named` is a red batch whose gate output named every culprit: finding them cost a round whatever the size, so
 * the size stays (it is bisection's cost, which grows with the batch, that halving bounds). A batch stopped
 * because the target itself is broken says nothing about the size: the caller keeps it.
 */
export function nextBatchSize(s: BatchSizing, outcome: 'green' | 'red' | 'named'): BatchSizing {
  const lowest = Math.max(1, Math.floor(s.min));
  const highest = Math.max(lowest, Math.floor(s.max));
  const size = outcome === 'green' ? s.size + 1 : outcome === 'named' ? s.size : Math.floor(s.size / 2);
  return { size: Math.min(highest, Math.max(lowest, size)), min: s.min, max: s.max };
}
