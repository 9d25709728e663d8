import type { BeadStore } from '../core/bead-store.js';
import { mergedSince, type MergedToday } from '../core/merge-queue-stats.js';
import { readMergeRequest } from '../core/merge-request.js';

/** Closed requests read per look: a day's landings usually fit, and the look reads more only when they do not. */
const PAGE = 100;

/**
 * What landed since `sinceMs` across the town's rigs (gt status: merged today). Closed requests are read newest
 * update first, so a look stops at the page boundary unless the whole page is from the day.
 */
export async function mergedToday(store: BeadStore, sinceMs: number, keep = 3): Promise<MergedToday> {
  const look = (limit: number) =>
    store.list({ types: ['merge-request'], statuses: ['closed'], sort: 'updated', limit });
  let closed = await look(PAGE);
  const oldest = closed.at(-1);
  if (closed.length === PAGE && oldest !== undefined && Date.parse(oldest.updated_at) >= sinceMs)
    closed = await look(0);
  const landed = closed.flatMap((b) => {
    const mr = readMergeRequest(b);
    return mr === undefined || b.closed_at === null ? [] : [{ mr, closedMs: Date.parse(b.closed_at) }];
  });
  return mergedSince(landed, sinceMs, keep);
}
