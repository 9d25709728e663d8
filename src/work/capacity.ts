import { errorMessage } from '../core/errors.js';
import { admitSling, countBusy, hasLimits, type PendingSling, type PolecatLimits } from '../core/scheduler.js';
import type { QueuedSling } from '../core/sling-queue.js';
import type { TownStore } from '../core/town-store.js';
import { loadRigSettings } from '../town/rig.js';
import { openBlockersOf } from './blockers.js';
import type { TownContext } from './sessions.js';

/**
 * Capacity as sling and the scheduler need it: the caps read from settings, the queue as the planner sees it,
 * and whether a new sling may go now. The decisions themselves are in core/scheduler.ts.
 */

type Ctx = Pick<TownContext, 'town' | 'settings' | 'now'> & { store: TownStore };

/** The caps for these rigs: the town's `scheduler.max_polecats`, and each rig's own. A broken file throws. */
export function polecatLimits(ctx: Pick<TownContext, 'town' | 'settings'>, rigs: Iterable<string>): PolecatLimits {
  const own: Record<string, number | null> = {};
  for (const rig of new Set(rigs)) own[rig] = loadRigSettings(ctx.town.root, rig).scheduler.max_polecats;
  return { town: ctx.settings.scheduler.max_polecats, rigs: own };
}

/**
 * The caps for the rigs of these slings, and the rigs whose settings cannot be read now (their slings wait,
 * and say why, rather than stopping everyone else's).
 */
export function queueLimits(
  ctx: Pick<TownContext, 'town' | 'settings'>,
  rigs: Iterable<string>,
): { limits: PolecatLimits; broken: Map<string, string> } {
  const own: Record<string, number | null> = {};
  const broken = new Map<string, string>();
  for (const rig of new Set(rigs)) {
    try {
      own[rig] = loadRigSettings(ctx.town.root, rig).scheduler.max_polecats;
    } catch (err) {
      broken.set(rig, errorMessage(err));
    }
  }
  return { limits: { town: ctx.settings.scheduler.max_polecats, rigs: own }, broken };
}

/** A stored sling as the planner sees it. */
export function toPending(s: QueuedSling): PendingSling {
  return {
    id: s.id,
    bead: s.bead,
    rig: s.rig,
    priority: s.priority,
    queuedAtMs: Date.parse(s.queued_at),
    state: s.state === 'dispatching' ? 'dispatching' : 'queued',
    claimant: s.claimed_by,
    claimedAtMs: s.claimed_at === null ? null : Date.parse(s.claimed_at),
    attempts: s.attempts,
    failedAtMs: s.failed_at === null ? null : Date.parse(s.failed_at),
  };
}

/** The queue as the planner sees it, each queued sling with the open beads that block its bead. */
export async function toPendingAll(store: TownStore, slings: readonly QueuedSling[]): Promise<PendingSling[]> {
  const waiting = slings.filter((s) => s.state === 'queued').map((s) => s.bead);
  const blockers = await openBlockersOf(store, waiting);
  return slings.map((s) => {
    const p = toPending(s);
    const by = s.state === 'queued' ? blockers.get(s.bead) : undefined;
    return by === undefined ? p : { ...p, blockedBy: by };
  });
}

/**
 * Whether a new sling of a bead with `priority` to `rig` may go now: no cap holds it back, the scheduler is not
 * paused, and no sling waiting for the same room comes before it. (The hook counts again, in its transaction.)
 */
export async function admission(
  ctx: Ctx,
  rig: string,
  priority: number,
  limits: PolecatLimits,
): Promise<{ admit: true } | { admit: false; why: string }> {
  const [pending, pause] = await Promise.all([ctx.store.pendingSlings(), ctx.store.schedulerPause()]);
  if (pause === null && pending.length === 0 && !hasLimits(limits)) return { admit: true };
  const others = queueLimits(
    ctx,
    pending.map((p) => p.rig).filter((r) => r !== rig),
  );
  const waiting = await toPendingAll(
    ctx.store,
    pending.filter((p) => !others.broken.has(p.rig)),
  );
  return admitSling(
    {
      pending: waiting,
      limits: { town: limits.town, rigs: { ...others.limits.rigs, ...limits.rigs } },
      busy: countBusy(await ctx.store.agents({ role: 'polecat' })),
      paused: pause !== null,
      nowMs: ctx.now(),
    },
    { rig, priority },
  );
}

/** Tells the daemon to look at the queue now (a sling queued, a polecat freed, the scheduler resumed). */
export async function wakeDispatcher(ctx: Pick<TownContext, 'provider'>): Promise<void> {
  await ctx.provider.signalChange().catch(() => undefined);
}
