import { FEED_KEYS, feedHoldsBack, readConvoy, idleWork, planFeed, type FeedCandidate } from '../core/convoy.js';
import { errorMessage } from '../core/errors.js';
import { countBusy } from '../core/scheduler.js';
import { queueLimits, toPendingAll } from './capacity.js';
import { checkConvoys, openConvoys, viewsOf, type CheckReport } from './convoy.js';
import { sling, type SlingContext } from './sling.js';
import { budgetHold } from './budget.js';

/**
 * The daemon's convoy pass: lands the open convoys that are complete, then feeds the ready beads of the
 * convoys it feeds (made by gt sling, or marked `--feed`) to free capacity: beads nobody has and nothing has
 * queued are slung to their rig, in order, while the scheduler's caps leave room and no daily budget holds
 * dispatch. One query when there are no convoys, and nothing more.
 */

export type FedBead = FeedCandidate & {
  result: 'slung' | 'failed';
  agent: string | null;
  action: string | null;
  error: string | null;
};

export type ConvoyPassReport = { check: CheckReport; fed: FedBead[] };

export async function convoyPass(ctx: SlingContext): Promise<ConvoyPassReport> {
  const check = await checkConvoys(ctx);
  if (check.open.length === 0) return { check, fed: [] };
  return { check, fed: await feedConvoys(ctx) };
}

/** Slings what the fed convoys have ready, as far as free capacity goes. */
export async function feedConvoys(ctx: SlingContext): Promise<FedBead[]> {
  const convoys = (await openConvoys(ctx.store)).filter((c) => readConvoy(c).feed);
  if (convoys.length === 0) return [];
  const views = await viewsOf(ctx.store, convoys);
  const candidates: FeedCandidate[] = views.flatMap((v, i) => {
    const c = convoys[i];
    if (c === undefined) return [];
    return idleWork(v, readConvoy(c).rig).flatMap((w) =>
      w.rig === null ? [] : [{ convoy: v.id, bead: w.bead.id, rig: w.rig, priority: w.bead.priority }],
    );
  });
  if (candidates.length === 0) return [];
  // Beads taken back by hand, and those whose last feed slings failed (until the back-off passes), stay.
  const now = ctx.now();
  const meta = new Map((await ctx.store.show(candidates.map((c) => c.bead))).map((b) => [b.id, b.metadata]));
  const free = candidates.filter((c) => !feedHoldsBack(meta.get(c.bead) ?? {}, now));
  if (free.length === 0) return [];
  const [pending, pause, hold, polecats] = await Promise.all([
    ctx.store.pendingSlings(),
    ctx.store.schedulerPause(),
    ctx.store.townHold(),
    ctx.store.agents({ role: 'polecat' }),
  ]);
  if (hold !== null) return [];
  // A daily budget reached: the convoys wait, fed again once the day turns or the budget is raised.
  if ((await budgetHold(ctx)) !== null) return [];
  const { limits, broken } = queueLimits(ctx, [...free.map((c) => c.rig), ...pending.map((p) => p.rig)]);
  const waiting: Record<string, number> = {};
  for (const p of await toPendingAll(ctx.store, pending))
    if ((p.blockedBy ?? []).length === 0) waiting[p.rig] = (waiting[p.rig] ?? 0) + 1;
  const plan = planFeed({
    candidates: free.filter((c) => !broken.has(c.rig)),
    limits,
    busy: countBusy(polecats),
    waiting,
    paused: pause !== null,
  });
  const fed: FedBead[] = [];
  for (const c of plan) {
    try {
      const [r] = await sling(ctx, [c.bead], c.rig, { wait: false });
      fed.push({ ...c, result: 'slung', agent: r?.agent ?? null, action: r?.action ?? null, error: null });
      if (meta.get(c.bead)?.[FEED_KEYS.failures] != null)
        await ctx.store.update(
          [c.bead],
          { metadata: { [FEED_KEYS.failures]: null, [FEED_KEYS.failedAt]: null } },
          ctx.actor,
        );
    } catch (err) {
      fed.push({ ...c, result: 'failed', agent: null, action: null, error: errorMessage(err) });
      // Counted on the bead: the next try waits (5 s, doubling), instead of failing again every pass.
      const failures = Number(meta.get(c.bead)?.[FEED_KEYS.failures] ?? 0) + 1;
      await ctx.store
        .update(
          [c.bead],
          { metadata: { [FEED_KEYS.failures]: failures, [FEED_KEYS.failedAt]: new Date(now).toISOString() } },
          ctx.actor,
        )
        .catch(() => undefined);
    }
  }
  return fed;
}
