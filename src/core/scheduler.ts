import type { Role } from './identity.js';

/**
 * The scheduler's decisions, pure: how many polecats are busy, how many more a rig may have, and which queued
 * slings go next. A polecat is busy while work is on its hook; `gt done` empties the hook, so an idle polecat
 * (even one whose session is still open) does not count. `scheduler.max_polecats` caps the busy polecats of
 * the whole town and of each rig; both caps apply. Slings beyond them wait in the store, and go in priority
 * order (0 first), then first come first served. The store counts in the same transaction as the hook, so
 * concurrent slings never overshoot a cap; this module only says what the numbers mean.
 */

/** The caps: the town's, and each rig's; null is no cap. A rig missing from `rigs` has none of its own. */
export type PolecatLimits = { town: number | null; rigs: Readonly<Record<string, number | null>> };

/** Busy polecats, in the town and per rig. */
export type BusyPolecats = { town: number; rigs: Readonly<Record<string, number>> };

export const NO_LIMITS: PolecatLimits = { town: null, rigs: {} };

/** Whether any cap is set at all (none: capacity never holds a sling back). */
export function hasLimits(limits: PolecatLimits): boolean {
  return limits.town !== null || Object.values(limits.rigs).some((v) => v !== null);
}

/** A polecat counts against capacity while it has work on its hook. */
export function isBusyPolecat(agent: { role: Role; hook_bead: string | null }): boolean {
  return agent.role === 'polecat' && agent.hook_bead !== null;
}

export function countBusy(
  agents: readonly { role: Role; rig: string | null; hook_bead: string | null }[],
): BusyPolecats {
  const rigs: Record<string, number> = {};
  let town = 0;
  for (const a of agents) {
    if (!isBusyPolecat(a)) continue;
    town++;
    if (a.rig !== null) rigs[a.rig] = (rigs[a.rig] ?? 0) + 1;
  }
  return { town, rigs };
}

/** How many more polecats of `rig` may become busy now (Infinity when nothing caps it). */
export function freeSlots(limits: PolecatLimits, busy: BusyPolecats, rig: string): number {
  const town = limits.town === null ? Infinity : limits.town - busy.town;
  const cap = limits.rigs[rig] ?? null;
  const own = cap === null ? Infinity : cap - (busy.rigs[rig] ?? 0);
  return Math.max(0, Math.min(town, own));
}

/** Why `rig` has no room, in words (which cap is full, and how full). */
export function fullBecause(limits: PolecatLimits, busy: BusyPolecats, rig: string): string {
  const cap = limits.rigs[rig] ?? null;
  if (cap !== null && (busy.rigs[rig] ?? 0) >= cap)
    return `${rig} is at capacity (its scheduler.max_polecats is ${cap}; ${busy.rigs[rig] ?? 0} busy)`;
  if (limits.town !== null && busy.town >= limits.town)
    return `the town is at capacity (its scheduler.max_polecats is ${limits.town}; ${busy.town} busy)`;
  return `${rig} has room`;
}

/** A sling waiting in the store, as the planner sees it. */
export type PendingSling = {
  id: number;
  bead: string;
  rig: string;
  /** The bead's priority now (0 highest). */
  priority: number;
  queuedAtMs: number;
  /** queued: waits; dispatching: a dispatcher claimed it and is slinging it. */
  state: 'queued' | 'dispatching';
  claimant: string | null;
  claimedAtMs: number | null;
  /** Dispatches of it that failed so far, and when the last one did. */
  attempts: number;
  failedAtMs: number | null;
  /** Open beads that block its bead: it waits for them, holding no room. */
  blockedBy?: readonly string[];
};

/** Priority first (0 before 4), then first come first served. */
export function compareSlings(
  a: Pick<PendingSling, 'priority' | 'queuedAtMs' | 'id'>,
  b: Pick<PendingSling, 'priority' | 'queuedAtMs' | 'id'>,
): number {
  return a.priority - b.priority || a.queuedAtMs - b.queuedAtMs || a.id - b.id;
}

/** A claim older than this is taken over: its dispatcher has surely died. */
export const CLAIM_LEASE_MS = 10 * 60_000;

/** The wait after a failed dispatch before the next try: 5 s, doubling, at most 5 minutes. */
export function retryDelayMs(attempts: number): number {
  if (attempts <= 0) return 0;
  return Math.min(5_000 * 2 ** (attempts - 1), 300_000);
}

/** A claim whose dispatcher is gone (its process ended) or that outlived the lease. */
export function isStaleClaim(
  s: Pick<PendingSling, 'state' | 'claimant' | 'claimedAtMs'>,
  nowMs: number,
  gone: ReadonlySet<string>,
  leaseMs = CLAIM_LEASE_MS,
): boolean {
  if (s.state !== 'dispatching') return false;
  if (s.claimant !== null && gone.has(s.claimant)) return true;
  return s.claimedAtMs === null || nowMs - s.claimedAtMs >= leaseMs;
}

export type DispatchInput = {
  pending: readonly PendingSling[];
  limits: PolecatLimits;
  busy: BusyPolecats;
  paused: boolean;
  nowMs: number;
  /** Claimants known to have ended: their claims are taken over at once. */
  goneClaimants?: ReadonlySet<string>;
  leaseMs?: number;
};

export type DispatchPlan = {
  /** What to dispatch now, in order; `takeOver` when it is a stale claim to take from its dead dispatcher. */
  next: { sling: PendingSling; takeOver: boolean }[];
  /** What waits, with why. */
  waiting: { sling: PendingSling; why: string }[];
  /** When to look again even if nothing else happens (a back-off ends, a lease runs out), or null. */
  recheckAtMs: number | null;
};

/**
 * Which queued slings go now. Live claims hold a slot (their polecat is about to be busy); the rest go in
 * order while their rig and the town have room. A full rig does not hold back another rig's slings, and a
 * sling whose bead is blocked waits for its blockers without holding anyone back.
 */
export function planDispatch(input: DispatchInput): DispatchPlan {
  const gone = input.goneClaimants ?? new Set<string>();
  const lease = input.leaseMs ?? CLAIM_LEASE_MS;
  const rigs: Record<string, number> = { ...input.busy.rigs };
  let town = input.busy.town;
  const busy = (): BusyPolecats => ({ town, rigs });
  const take = (rig: string): void => {
    town++;
    rigs[rig] = (rigs[rig] ?? 0) + 1;
  };
  const sorted = [...input.pending].sort(compareSlings);
  const plan: DispatchPlan = { next: [], waiting: [], recheckAtMs: null };
  const recheck = (at: number): void => {
    plan.recheckAtMs = plan.recheckAtMs === null ? at : Math.min(plan.recheckAtMs, at);
  };
  const live = sorted.filter((s) => s.state === 'dispatching' && !isStaleClaim(s, input.nowMs, gone, lease));
  for (const s of live) {
    take(s.rig);
    plan.waiting.push({ sling: s, why: `being dispatched by ${s.claimant ?? 'someone'}` });
    if (s.claimedAtMs !== null) recheck(s.claimedAtMs + lease);
  }
  for (const s of sorted) {
    if (live.includes(s)) continue;
    if (s.blockedBy !== undefined && s.blockedBy.length > 0) {
      plan.waiting.push({ sling: s, why: `blocked by ${s.blockedBy.join(', ')} (not closed yet)` });
      continue;
    }
    if (input.paused) {
      plan.waiting.push({ sling: s, why: 'the scheduler is paused ("gt scheduler resume" resumes it)' });
      continue;
    }
    const due = s.failedAtMs === null ? input.nowMs : s.failedAtMs + retryDelayMs(s.attempts);
    if (due > input.nowMs) {
      plan.waiting.push({
        sling: s,
        why: `its last dispatch failed; tried again in ${Math.ceil((due - input.nowMs) / 1000)} s`,
      });
      recheck(due);
      continue;
    }
    if (freeSlots(input.limits, busy(), s.rig) <= 0) {
      plan.waiting.push({ sling: s, why: fullBecause(input.limits, busy(), s.rig) });
      continue;
    }
    take(s.rig);
    plan.next.push({ sling: s, takeOver: s.state === 'dispatching' });
  }
  return plan;
}

/**
 * Whether a new sling of a bead with `priority` to `rig` may go now, or must queue: it goes only where the
 * planner would dispatch it as the newest entry of the queue (so it never jumps ahead of slings waiting for
 * the same room, and never goes while the scheduler is paused).
 */
export function admitSling(
  input: DispatchInput,
  candidate: { rig: string; priority: number },
): { admit: true } | { admit: false; why: string } {
  const self: PendingSling = {
    id: Number.MAX_SAFE_INTEGER,
    bead: '',
    rig: candidate.rig,
    priority: candidate.priority,
    queuedAtMs: input.nowMs,
    state: 'queued',
    claimant: null,
    claimedAtMs: null,
    attempts: 0,
    failedAtMs: null,
  };
  // Only slings waiting for this room can hold it back: a failed one in back-off does not.
  const plan = planDispatch({ ...input, pending: [...input.pending, self] });
  if (plan.next.some((n) => n.sling === self)) return { admit: true };
  const why = plan.waiting.find((w) => w.sling === self)?.why ?? 'it waits its turn';
  return {
    admit: false,
    why:
      freeSlots(input.limits, input.busy, candidate.rig) > 0 && !input.paused
        ? 'slings queued before it wait for the same room'
        : why,
  };
}
