import { AtCapacityError, errorMessage } from '../core/errors.js';
import {
  countBusy,
  freeSlots,
  planDispatch,
  type BusyPolecats,
  type DispatchPlan,
  type PolecatLimits,
} from '../core/scheduler.js';
import type { QueuedSling, SchedulerPause } from '../core/sling-queue.js';
import { processAlive } from '../exec/exec.js';
import { queueLimits, toPending, toPendingAll, wakeDispatcher } from './capacity.js';
import { sling, type SlingContext } from './sling.js';
import { budgetHold, type BudgetHold } from './budget.js';

/**
 * The scheduler's executor: dispatches queued slings as polecats free up, in the order core/scheduler.ts
 * decides. The daemon runs it after every pass (a polecat's gt done, a session ending and the tick all wake
 * it); `gt scheduler run` runs it by hand. Each sling is claimed by compare-and-set first, so two dispatchers
 * never start the same one; a dispatch that fails part-way gives it back to the queue (counted, with a
 * back-off), and one whose dispatcher died is taken over once its claim is seen to be stale.
 */

export type DispatchOutcome = {
  id: number;
  bead: string;
  rig: string;
  /** dispatched: on a polecat's hook; dropped: nothing to do any more; failed: back in the queue. */
  result: 'dispatched' | 'dropped' | 'failed';
  agent: string | null;
  action: string | null;
  why: string;
};

export type DispatchReport = {
  outcomes: DispatchOutcome[];
  /** What still waits, in order, with why. */
  waiting: { bead: string; rig: string; why: string }[];
  paused: boolean;
  /** A daily budget reached holds every dispatch (src/work/budget.ts), or null. */
  budget: BudgetHold | null;
  /** When a waiting sling becomes due by itself (a back-off ends), or null. */
  recheckAtMs: number | null;
};

/** The claimant token of this process: `<actor>:<pid>`, so that a dead dispatcher's claims can be recognised. */
export function claimantOf(actor: string): string {
  return `${actor.replace(/[^A-Za-z0-9_./@-]/g, '_')}:${process.pid}`;
}

function pidOf(claimant: string | null): number | undefined {
  const m = claimant === null ? null : /:(\d+)$/.exec(claimant);
  return m === null ? undefined : Number(m[1]);
}

/** Dispatches what may go now, one at a time, looking afresh before each (other slings and dispatchers move too). */
export async function dispatchQueued(ctx: SlingContext, options: { claimant?: string } = {}): Promise<DispatchReport> {
  const claimant = options.claimant ?? claimantOf(ctx.actor);
  const outcomes: DispatchOutcome[] = [];
  const tried = new Set<number>();
  for (;;) {
    const { plan, entries, paused, down, budget } = await currentPlan(ctx);
    const next = down ? undefined : plan.next.find((n) => !tried.has(n.sling.id));
    const seen = next === undefined ? undefined : entries.get(next.sling.id);
    if (next === undefined || seen === undefined)
      return {
        outcomes,
        waiting: plan.waiting.map((w) => ({
          bead: w.sling.bead,
          rig: w.sling.rig,
          why: down ? 'the town is down ("gt up" starts it again)' : w.why,
        })),
        paused,
        budget,
        recheckAtMs: plan.recheckAtMs,
      };
    tried.add(next.sling.id);
    const claimed = await ctx.store.claimSling(
      seen.id,
      claimant,
      ctx.actor,
      next.takeOver ? { claimed_by: seen.claimed_by, claimed_at: seen.claimed_at } : undefined,
    );
    if (claimed === null) continue; // another dispatcher got it first
    outcomes.push(await dispatchOne(ctx, claimed, claimant));
  }
}

async function currentPlan(ctx: SlingContext): Promise<{
  plan: DispatchPlan;
  entries: Map<number, QueuedSling>;
  paused: boolean;
  down: boolean;
  budget: BudgetHold | null;
}> {
  const [pending, pause, hold, polecats] = await Promise.all([
    ctx.store.pendingSlings(),
    ctx.store.schedulerPause(),
    ctx.store.townHold(),
    ctx.store.agents({ role: 'polecat' }),
  ]);
  // Read only when something waits: a reached budget holds what would go next.
  const budget = pending.length === 0 ? null : await budgetHold(ctx);
  const { limits, broken } = queueLimits(
    ctx,
    pending.map((p) => p.rig),
  );
  // Claims of dispatchers whose process has ended are taken over at once (not only after the lease).
  const gone = new Set(
    pending.flatMap((p) => {
      const pid = pidOf(p.claimed_by);
      return p.state === 'dispatching' && p.claimed_by !== null && pid !== undefined && !processAlive(pid)
        ? [p.claimed_by]
        : [];
    }),
  );
  const plan = planDispatch({
    pending: await toPendingAll(
      ctx.store,
      pending.filter((p) => !broken.has(p.rig)),
    ),
    limits,
    busy: countBusy(polecats),
    paused: pause !== null,
    nowMs: ctx.now(),
    goneClaimants: gone,
  });
  for (const p of pending)
    if (broken.has(p.rig))
      plan.waiting.push({ sling: toPending(p), why: `its rig's settings cannot be read: ${broken.get(p.rig) ?? ''}` });
  if (budget !== null) {
    plan.waiting.unshift(...plan.next.map((n) => ({ sling: n.sling, why: budget.why })));
    plan.next = [];
  }
  return {
    plan,
    entries: new Map(pending.map((p) => [p.id, p])),
    paused: pause !== null,
    down: hold !== null,
    budget,
  };
}

/** One claimed sling: dropped if its bead needs nobody any more, else slung; a failure gives it back. */
async function dispatchOne(ctx: SlingContext, s: QueuedSling, claimant: string): Promise<DispatchOutcome> {
  const out = (
    result: DispatchOutcome['result'],
    why: string,
    agent: string | null = null,
    action: string | null = null,
  ) => ({
    id: s.id,
    bead: s.bead,
    rig: s.rig,
    result,
    agent,
    action,
    why,
  });
  const finish = async (state: 'dispatched' | 'dropped', outcome: string): Promise<void> => {
    await ctx.store.finishSling(s.id, claimant, { state, outcome }, ctx.actor);
  };
  const [bead] = await ctx.store.show([s.bead]).catch(() => []);
  if (bead === undefined) {
    await finish('dropped', 'the bead is gone');
    return out('dropped', 'the bead is gone');
  }
  if (bead.status === 'closed') {
    await finish('dropped', `${bead.id} was closed while it waited`);
    return out('dropped', `${bead.id} was closed while it waited`);
  }
  if ((bead.status === 'hooked' || bead.status === 'in_progress') && bead.assignee !== null) {
    // Slung by hand meanwhile — or by a dispatcher that died right after the hook: either way an agent holds
    // it (and the daemon starts an agent whose work has no session). A person's claim ends the sling too.
    const holder = await ctx.store.agent(bead.assignee).catch(() => undefined);
    if (holder?.hook_bead === bead.id) {
      const why = `${bead.id} is already on ${holder.address}'s hook`;
      await finish('dispatched', why);
      return out('dispatched', why, holder.address, 'none');
    }
    const why = `${bead.id} was claimed by ${bead.assignee} while it waited`;
    await finish('dropped', why);
    return out('dropped', why);
  }
  try {
    const [r] = await sling(ctx, [s.bead], s.target, {
      dispatching: true,
      wait: false,
      ...(s.create ? { create: true } : {}),
      ...(s.args !== null ? { args: s.args } : {}),
      ...(s.agent !== null ? { agent: s.agent } : {}),
    });
    const agent = r?.agent ?? s.target;
    await finish('dispatched', agent);
    return out('dispatched', `a polecat was free`, agent, r?.action ?? null);
  } catch (err) {
    // A lost race for the last slot is no failure: it simply waits again. Anything else counts.
    const lostRace = err instanceof AtCapacityError;
    await ctx.store.releaseSling(s.id, claimant, lostRace ? null : errorMessage(err), ctx.actor).catch(() => false);
    return out('failed', lostRace ? err.message : `dispatch failed, back in the queue: ${errorMessage(err)}`);
  }
}

export type SchedulerStatus = {
  paused: SchedulerPause | null;
  /** A daily budget reached holds dispatch (and new slings queue), or null. */
  budget: BudgetHold | null;
  town: { max_polecats: number | null; busy: number; free: number | null };
  rigs: { rig: string; max_polecats: number | null; busy: number; free: number | null }[];
  queued: (QueuedSling & { position: number; why: string })[];
};

function free(limits: PolecatLimits, busy: BusyPolecats, rig?: string): number | null {
  const n =
    rig === undefined
      ? limits.town === null
        ? Infinity
        : Math.max(0, limits.town - busy.town)
      : freeSlots(limits, busy, rig);
  return Number.isFinite(n) ? n : null;
}

/** `gt scheduler status`: the caps, how many polecats are busy, and the queue in dispatch order with why each waits. */
export async function schedulerStatus(ctx: SlingContext): Promise<SchedulerStatus> {
  const [rigs, pending] = await Promise.all([ctx.store.rigs(), ctx.store.pendingSlings()]);
  const { plan, paused } = await currentPlan(ctx);
  const budget = await budgetHold(ctx);
  const { limits, broken } = queueLimits(
    ctx,
    rigs.map((r) => r.name),
  );
  const busy = countBusy(await ctx.store.agents({ role: 'polecat' }));
  const why = new Map<number, string>([
    ...plan.waiting.map((w): [number, string] => [w.sling.id, w.why]),
    ...plan.next.map((n): [number, string] => [n.sling.id, 'goes next (the daemon dispatches it)']),
  ]);
  return {
    paused: paused ? await ctx.store.schedulerPause() : null,
    budget,
    town: { max_polecats: limits.town, busy: busy.town, free: free(limits, busy) },
    rigs: rigs.map((r) => ({
      rig: r.name,
      max_polecats: broken.has(r.name) ? null : (limits.rigs[r.name] ?? null),
      busy: busy.rigs[r.name] ?? 0,
      free: free(limits, busy, r.name),
    })),
    queued: pending.map((p, i) => ({ ...p, position: i + 1, why: why.get(p.id) ?? '' })),
  };
}

/** Pauses or resumes dispatching (slings still queue); resuming wakes the daemon. */
export async function setPaused(ctx: SlingContext, paused: boolean): Promise<SchedulerPause | null> {
  const r = await ctx.store.setSchedulerPaused(paused, ctx.actor);
  if (!paused) await wakeDispatcher(ctx);
  return r;
}
