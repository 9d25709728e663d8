import { queueStats, readPassFacts, type QueueStats } from '../core/merge-queue-stats.js';
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
  const all = await mergeRequests(store, rig, true);
  const [beads, events] = await Promise.all([
    store.show(all.filter((m) => m.state === 'landed').map((m) => m.id)),
    store.events({ issueId: `${rig}/refinery`, eventType: PASS_EVENT, limit: 0 }),
  ]);
  const landed = beads.flatMap((b) => {
    const mr = all.find((m) => m.id === b.id);
    const at = b.closed_at === null ? NaN : Date.parse(b.closed_at);
    return mr === undefined || Number.isNaN(at) ? [] : [{ enqueuedMs: mr.enqueuedMs, landedMs: at }];
  });
  const passes = events.flatMap((e) => readPassFacts(e.new_value, Date.parse(e.created_at)) ?? []);
  return queueStats(
    all.filter((m) => m.state !== 'landed' && m.status !== 'closed'),
    landed,
    passes,
    options,
  );
}
