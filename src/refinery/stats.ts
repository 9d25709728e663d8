import { queueStats, readPassFacts, type QueueStats } from '../core/merge-queue-stats.js';
import type { BeadSummary } from '../core/bead-store.js';
import { readMergeRequest } from '../core/merge-request.js';
import type { TownStore } from '../core/town-store.js';
import { mergeRequests, PASS_EVENT } from './refinery.js';

/**
 * A rig's merge-queue numbers (what gt mq status shows), read from the store: its requests, when the landed
 * ones closed, and the refinery's pass records over the window.
 */
export async function readQueueStats(
  store: TownStore,
  rig: string,
  options: { nowMs: number; windowMs: number },
): Promise<QueueStats> {
  const sinceMs = options.nowMs - options.windowMs;
  const since = new Date(sinceMs).toISOString();
  // Only what the window can hold: the open requests, those closed since it began, its pass records. A town
  // that has run for weeks reads a day's worth, not its whole history (views rebuild this on every change).
  const [open, closed, events] = await Promise.all([
    mergeRequests(store, rig, false),
    closedSince(store, sinceMs),
    store.events({ issueId: `${rig}/refinery`, eventType: PASS_EVENT, since, limit: 0 }),
  ]);
  const landed = closed.flatMap((b) => {
    const mr = readMergeRequest(b);
    const at = b.closed_at === null ? NaN : Date.parse(b.closed_at);
    return mr === undefined || mr.rig !== rig || mr.state !== 'landed' || Number.isNaN(at)
      ? []
      : [{ enqueuedMs: mr.enqueuedMs, landedMs: at }];
  });
  const passes = events.flatMap((e) => readPassFacts(e.new_value, Date.parse(e.created_at)) ?? []);
  return queueStats(
    open.filter((m) => m.state !== 'landed'),
    landed,
    passes,
    options,
  );
}

/** Closed merge requests updated since `sinceMs` (any rig): those that can have landed in the window. */
function closedSince(store: TownStore, sinceMs: number): Promise<BeadSummary[]> {
  return store.list({
    types: ['merge-request'],
    statuses: ['closed'],
    updatedSince: new Date(sinceMs).toISOString(),
    limit: 0,
  });
}
