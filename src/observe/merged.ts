import type { BeadStore } from '../core/bead-store.js';
import { mergedSince, type MergedToday } from '../core/merge-queue-stats.js';
import { readMergeRequest } from '../core/merge-request.js';

/** What landed since `sinceMs` across the town's rigs (gt status: merged today): the requests closed since then. */
export async function mergedToday(store: BeadStore, sinceMs: number, keep = 3): Promise<MergedToday> {
  const closed = await store.list({
    types: ['merge-request'],
    statuses: ['closed'],
    updatedSince: new Date(sinceMs).toISOString(),
    sort: 'updated',
    limit: 0,
  });
  const landed = closed.flatMap((b) => {
    const mr = readMergeRequest(b);
    return mr === undefined || b.closed_at === null ? [] : [{ mr, closedMs: Date.parse(b.closed_at) }];
  });
  return mergedSince(landed, sinceMs, keep);
}
