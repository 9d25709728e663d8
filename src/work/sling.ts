import type { Agent } from '../core/agent-store.js';
import type { Bead } from '../core/bead.js';
import {
  AtCapacityError,
  ConflictError,
  errorMessage,
  GtError,
  NotFoundError,
  TownDownError,
  ValidationError,
} from '../core/errors.js';
import { isPatrolActor, refusePatrol } from '../core/guard.js';
import { agentAddress } from '../core/identity.js';
import type { PolecatLimits } from '../core/scheduler.js';
import type { QueuedSling } from '../core/sling-queue.js';
import { parseSlingTarget, type SlingTarget } from '../core/target.js';
import { fetchOrigin } from '../git/git.js';
import type { TownStore } from '../core/town-store.js';
import {
  discardNewSandbox,
  makePolecatSandbox,
  planPolecat,
  readyIdlePolecat,
  reusablePolecats,
  type PolecatPlan,
} from '../town/polecat.js';
import { rigPaths } from '../town/rig.js';
import { nudgeAgent } from './nudge.js';
import { resolveAgent } from '../runtime/launch.js';
import { agentRunning, startAgentSession, type TownContext } from './sessions.js';
import { admission, polecatLimits, wakeDispatcher } from './capacity.js';
import { checkRelease } from './guard.js';
import { openBlockersOf } from './blockers.js';
import { convoysTracking, createConvoy } from './convoy.js';
import { budgetHold } from './budget.js';
import { FEED_KEYS, slingConvoyName, slingConvoyPlan } from '../core/convoy.js';

/**
 * `gt sling`: puts a bead on an agent's hook and gets the agent going. The hook is written first, in one
 * transaction, so the agent's first prime already sees it; then the session starts (or, if it runs, the agent
 * is nudged). Of any number of concurrent slings of one bead exactly one wins; the others fail before they
 * make anything. A sling that fails part-way undoes its hook and any sandbox it made.
 *
 * A sling that makes a polecat busy — to a rig, or to a polecat it makes — counts against the caps
 * (`scheduler.max_polecats`): beyond them, or while the scheduler is paused or earlier slings wait for the same
 * room, it is queued in the store instead, and the scheduler dispatches it when a polecat frees up. An idle
 * polecat of the rig is reused first, even while its session is still open (it is told the new bead).
 *
 * A bead that open beads block is not started: it is queued too, saying which beads it waits for, and the
 * scheduler dispatches it once they close. While a daily budget holds dispatch (src/work/budget.ts), work for a
 * polecat is queued as well, saying which budget, and goes once the day turns or the budget is raised — hooked
 * without a start (`gt hook`) too, since the daemon starts a polecat that has work on its hook. Several
 * beads slung together go with a convoy (src/work/convoy.ts):
 * the open one that tracks them all, else one made for them, unless `convoy: false`.
 */

export type SlingContext = TownContext & { store: TownStore };

export type SlingOptions = {
  /** Agent CLI for the session (a preset or a custom agent). */
  agent?: string;
  /** Instructions for this assignment, shown by prime. */
  args?: string;
  /** Take the bead from an agent that is still working on it. */
  force?: boolean;
  dryRun?: boolean;
  /** Hook only (`gt hook <bead> <target>`): do not start or nudge the agent. */
  noStart?: boolean;
  /** Wait for the started session to be ready (default true). */
  wait?: boolean;
  /** A polecat address that names no polecat yet: make it (without this, such a sling is refused). */
  create?: boolean;
  /**
   * The scheduler dispatching a queued sling: it already decided, so nothing is queued again; at capacity (a
   * race for the last slot) it fails with AtCapacityError and the sling stays queued.
   */
  dispatching?: boolean;
  /** false (`--no-convoy`): several beads slung together get no convoy of their own. */
  convoy?: boolean;
};

export type SlingResult = {
  bead: string;
  title: string;
  agent: string;
  session: string;
  /** A polecat made for this bead. */
  created: boolean;
  /** The previous holder the bead was taken from (its session was gone, or --force). */
  took_over_from: string | null;
  /**
   * started: a new session; nudged: the running agent was told; none: hook only or dry run; deferred: the
   * town is down (gt down), so the work waits on the hook and starts on gt up; queued: no room for another
   * busy polecat (or the scheduler is paused), so it waits in the store for the scheduler (a dry run: would).
   */
  action: 'started' | 'nudged' | 'none' | 'deferred' | 'queued';
  dry_run: boolean;
  /** The town is down: nothing was started, and the hook stays for gt up. */
  town_down: boolean;
  /** Queued: its place in the dispatch order (1 goes next), and why it waits. */
  position: number | null;
  queue_reason: string | null;
  /** The open convoy that tracks it: the one this sling made for its beads, or one that tracked them already. */
  convoy: string | null;
};

type SlungOne = Omit<SlingResult, 'convoy'>;

/** Who holds the bead now (a hooked or claimed bead's assignee). */
function holderOf(bead: Bead): string | null {
  return bead.status === 'hooked' || bead.status === 'in_progress' ? bead.assignee : null;
}

/** A hook or session younger than this, with no tmux session yet, belongs to a sling still in flight. */
const IN_FLIGHT_MS = 60_000;

/**
 * Whether the holder of a bead is still on it. A person (not an agent) always is. An agent is when its agent
 * process runs, or when its hook or session record is moments old and its tmux session is still being
 * started (a concurrent sling in flight). An agent whose pane shows its CLI dead, or whose session never
 * came, has let go.
 */
async function holderIsWorking(ctx: SlingContext, holder: string, beadId: string): Promise<boolean> {
  let agent: Agent;
  try {
    agent = await ctx.store.agent(holder);
  } catch {
    return true; // not an agent: a person claimed it
  }
  if (await ctx.provider.isAlive(agent.session_name)) return agentRunning(ctx, agent);
  const open = await ctx.store.openSession(agent.address);
  const hooked = (await ctx.store.events({ issueId: beadId, eventType: 'hooked' })).at(-1);
  const latest = Math.max(
    open === null ? 0 : Date.parse(open.started_at),
    hooked === undefined ? 0 : Date.parse(hooked.created_at),
  );
  return ctx.now() - latest < IN_FLIGHT_MS;
}

export type UnslingResult = { agent: string; unhooked: string | null };

/**
 * `gt unsling`: takes the bead off an agent's hook (back to open, unassigned). Releasing another agent's work
 * is refused while its session still runs (a live claim) or its sandbox holds uncommitted or unpushed changes,
 * unless `force`; a patrol agent never forces (src/core/guard.ts). The sandbox itself is never touched.
 */
export async function unsling(
  ctx: SlingContext,
  agent: Agent,
  options: { force?: boolean } = {},
): Promise<UnslingResult> {
  const had = agent.hook_bead;
  if (had !== null) await checkRelease(ctx, agent, had, options.force === true);
  await ctx.store.unhook(agent.address, ctx.actor);
  // Taken back on purpose: a convoy's feed must not sling it straight out again (a sling clears this).
  if (had !== null)
    await ctx.store.update(
      [had],
      { metadata: { [FEED_KEYS.unslung]: { by: ctx.actor, at: new Date(ctx.now()).toISOString() } } },
      ctx.actor,
    );
  if (had !== null) await wakeDispatcher(ctx); // a polecat may have freed up
  return { agent: agent.address, unhooked: had };
}

export async function sling(
  ctx: SlingContext,
  beadIds: readonly string[],
  targetText: string,
  options: SlingOptions = {},
): Promise<SlingResult[]> {
  if (beadIds.length === 0) throw new ValidationError('nothing to sling', { hint: 'gt sling <bead>... <target>' });
  const target = parseSlingTarget(targetText);
  if (target.kind === 'agent' && beadIds.length > 1) {
    throw new ValidationError(`an agent holds one bead at a time; ${beadIds.length} beads need a rig target`, {
      hint: `gt sling ${beadIds.join(' ')} <rig>`,
    });
  }
  await checkTarget(ctx, target, options.create === true);
  // An unknown agent CLI is refused before anything is hooked.
  if (options.agent !== undefined)
    resolveAgent(ctx.settings, target.kind === 'rig' ? 'polecat' : target.identity.role, options.agent);
  const beads = await ctx.store.show([...new Set(beadIds)]);
  // What is refused for any bead is refused before anything is made for all of them (a convoy among them).
  refuseClosed(beads);
  const convoy = await slingConvoy(ctx, beads, target, options);
  const results: SlingResult[] = [];
  for (const bead of beads) {
    results.push({
      ...(await slingOne(ctx, bead, target, options)),
      convoy: convoy ?? (beads.length === 1 ? ((await convoysTracking(ctx.store, bead.id))[0] ?? null) : null),
    });
    // Slung again on purpose: a convoy's feed may take it once more.
    if (bead.metadata[FEED_KEYS.unslung] != null && options.dryRun !== true)
      await ctx.store.update([bead.id], { metadata: { [FEED_KEYS.unslung]: null } }, ctx.actor);
  }
  return results;
}

function refuseClosed(beads: readonly Bead[]): void {
  const closed = beads.find((b) => b.status === 'closed');
  if (closed !== undefined)
    throw new ValidationError(`${closed.id} is closed`, { hint: `reopen it first: bd reopen ${closed.id}` });
}

/**
 * Checks what `sling` would check first, before anything is attached to the beads (`gt sling <formula> --on`):
 * the target exists (or `create` may make it), and no bead is closed.
 */
export async function checkSling(
  ctx: SlingContext,
  beadIds: readonly string[],
  targetText: string,
  options: { create?: boolean } = {},
): Promise<void> {
  await checkTarget(ctx, parseSlingTarget(targetText), options.create === true);
  refuseClosed(await ctx.store.show([...new Set(beadIds)]));
}

/**
 * Several beads slung together go with a convoy: the open one that tracks them all, else a new one ("Work:
 * <title> (+N more)"), made before any of them is slung so that the daemon feeds what a failed sling left.
 */
async function slingConvoy(
  ctx: SlingContext,
  beads: readonly Bead[],
  target: SlingTarget,
  options: SlingOptions,
): Promise<string | null> {
  if (beads.length < 2 || options.convoy === false) return null;
  const tracking = new Map<string, string[]>();
  for (const b of beads) tracking.set(b.id, await convoysTracking(ctx.store, b.id));
  const plan = slingConvoyPlan(
    beads.map((b) => b.id),
    tracking,
    false,
  );
  if (plan.kind === 'existing') return plan.convoy;
  if (plan.kind === 'none' || options.dryRun === true) return null;
  const made = await createConvoy(ctx, {
    name: slingConvoyName(beads.map((b) => b.title)),
    beads: beads.map((b) => b.id),
    bySling: true,
    ...(target.kind === 'rig' ? { rig: target.rig } : {}),
  });
  ctx.progress?.(`convoy ${made.id} (${made.name}) tracks the ${beads.length} beads`);
  return made.id;
}

/**
 * A bad target is reported as a bad target, before anything about the beads: the rig must exist, and so must
 * the agent, except a polecat that `create` asks for.
 */
async function checkTarget(ctx: SlingContext, target: SlingTarget, create: boolean): Promise<void> {
  if (target.kind === 'rig') {
    await ctx.store.rig(target.rig);
    return;
  }
  const found = await ctx.store.agent(target.address).then(
    () => true,
    (err: unknown) => {
      if (err instanceof NotFoundError) return false;
      throw err;
    },
  );
  if (found) return;
  const id = target.identity;
  if (id.role !== 'polecat')
    throw new NotFoundError(`no agent ${target.address}`, { hint: 'list the agents with "gt agents"' });
  await ctx.store.rig(id.rig);
  if (create) return;
  const names = (await ctx.store.agents({ rig: id.rig, role: 'polecat' })).map((a) => a.name ?? a.address);
  throw new NotFoundError(`${id.rig} has no polecat ${id.name}`, {
    hint:
      `${names.length === 0 ? `${id.rig} has no polecats yet` : `its polecats: ${names.join(', ')}`}; ` +
      `sling to the rig (gt sling <bead> ${id.rig}) to use an idle one or make one, or add --create to make ${id.name}`,
  });
}

async function slingOne(ctx: SlingContext, bead: Bead, target: SlingTarget, options: SlingOptions): Promise<SlungOne> {
  if (bead.status === 'closed')
    throw new ValidationError(`${bead.id} is closed`, { hint: `reopen it first: bd reopen ${bead.id}` });
  const holder = holderOf(bead);
  const targetAddress = target.kind === 'agent' ? target.address : undefined;
  // Already on the target's hook: a second sling of it (concurrent, or while the first one's agent works) loses
  // before it makes anything; only an agent that has let go of it (its session died) is started again.
  if (holder !== null && holder === targetAddress && (await holderIsWorking(ctx, holder, bead.id)))
    throw new ConflictError(`${bead.id} is already on ${holder}'s hook, and ${holder} is on it`, {
      hint: `"gt nudge ${holder}" to remind it, or "gt session restart ${holder}"`,
    });
  let takeOver = false;
  if (holder !== null && holder !== targetAddress) {
    // A patrol agent slinging work on to another agent releases it: the same guardrails as gt unsling.
    if (isPatrolActor(ctx.actor)) {
      const from = await ctx.store.agent(holder).catch(() => undefined);
      if (from !== undefined) await checkRelease(ctx, from, bead.id, options.force === true);
      else if (options.force === true) refusePatrol(ctx.actor, 'force-release');
    }
    if (!options.force && (await holderIsWorking(ctx, holder, bead.id))) {
      throw new ConflictError(`${bead.id} is already on ${holder}'s hook, and ${holder} is on it`, {
        hint: 'let it finish, or take it over with --force',
      });
    }
    takeOver = true;
  }
  // The hook is a compare-and-set unless the bead is already ours (an agent whose session died, started again).
  const hookOptions = {
    takeOver,
    fresh: holder === null || holder !== targetAddress,
    ...(options.args !== undefined ? { args: options.args } : {}),
  };
  const base = {
    bead: bead.id,
    title: bead.title,
    took_over_from: takeOver ? holder : null,
    dry_run: options.dryRun === true,
    town_down: false,
    position: null,
    queue_reason: null,
  };

  // 0. Blockers: a bead that open beads block is not started; it waits in the queue until they close.
  if (options.dispatching !== true && options.noStart !== true) {
    const blockers = (await openBlockersOf(ctx.store, [bead.id])).get(bead.id) ?? [];
    if (blockers.length > 0) {
      const why = `blocked by ${blockers.join(', ')} (not closed yet); it goes when they close`;
      const rig = target.kind === 'rig' ? target.rig : 'rig' in target.identity ? target.identity.rig : undefined;
      if (rig === undefined)
        throw new ConflictError(`${bead.id} is blocked by ${blockers.join(', ')}`, {
          hint: `sling it once they are closed, or sling it to a rig, where it waits for them`,
        });
      return enqueue(ctx, bead, target, rig, options, base, why);
    }
  }

  // 0b. A daily budget reached: work for a polecat waits in the queue (running agents finish their turn). Hooking
  // it without a start (`gt hook`) waits too: the daemon would start a polecat with work on its hook at once.
  if (options.dispatching !== true) {
    const rig = polecatRig(target);
    const hold = rig === undefined ? null : await budgetHold(ctx);
    if (rig !== undefined && hold !== null) return enqueue(ctx, bead, target, rig, options, base, hold.why);
  }

  // 1. Capacity: a sling that makes a polecat busy goes now only if there is room and it is its turn.
  const capped = await cappedRig(ctx, target);
  let limits: PolecatLimits | undefined;
  const queuedBefore = options.dispatching === true ? undefined : await pendingSlingOf(ctx, bead.id);
  if (capped !== undefined) {
    limits = polecatLimits(ctx, [capped]); // a broken settings file is reported before anything is written
    if (options.dispatching !== true) {
      const admitted = await admission(ctx, capped, bead.priority, limits);
      if (!admitted.admit) return enqueue(ctx, bead, target, capped, options, base, admitted.why);
    }
  }

  if (options.dryRun === true) {
    const address = targetAddress ?? `${target.kind === 'rig' ? target.rig : ''}/polecats/<idle or new>`;
    return {
      ...base,
      agent: address,
      session: '',
      created: false,
      action: 'none',
      town_down: (await ctx.store.townHold()) !== null,
    };
  }

  // 2. The hook, before anything starts (counting busy polecats against the caps in the same transaction).
  let agent: Agent;
  let plan: PolecatPlan | undefined;
  const hookWith: HookOpts = limits === undefined ? hookOptions : { ...hookOptions, capacity: limits };
  try {
    if (target.kind === 'rig') {
      ({ agent, plan } = await hookRigPolecat(ctx, bead, target.rig, hookWith));
    } else {
      const id = target.identity;
      const existing = await ctx.store.agent(target.address).catch((err: unknown) => {
        if (err instanceof NotFoundError && id.role === 'polecat') return undefined;
        throw err;
      });
      if (existing === undefined) {
        if (id.role !== 'polecat') throw new NotFoundError(`no agent ${target.address}`);
        ({ agent, plan } = await hookNewPolecat(ctx, bead, id.rig, id.name, hookWith));
      } else {
        agent = await ctx.store.hook(existing.address, bead.id, ctx.actor, hookOptions);
      }
    }
  } catch (err) {
    // Another sling took the last slot a moment ago: this one waits its turn (the scheduler's own try fails).
    if (err instanceof AtCapacityError && capped !== undefined && options.dispatching !== true)
      return enqueue(ctx, bead, target, capped, options, base, err.message);
    throw err;
  }
  ctx.progress?.(`${bead.id} is on ${agent.address}'s hook`);
  // Slung straight to an agent while it waited in the queue: it waits no more.
  if (queuedBefore !== undefined) await ctx.store.cancelSling(bead.id, ctx.actor).catch(() => null);

  // 3. The agent: a new session, or a nudge to the running one.
  const deferred: SlungOne = {
    ...base,
    agent: agent.address,
    session: agent.session_name,
    created: plan !== undefined,
    action: 'deferred',
    town_down: true,
  };
  try {
    const down = (await ctx.store.townHold()) !== null;
    if (options.noStart === true)
      return {
        ...base,
        agent: agent.address,
        session: agent.session_name,
        created: plan !== undefined,
        action: 'none',
        town_down: down,
      };
    // The town is down: the work waits on the hook (the start would be refused anyway).
    if (down) return deferred;
    if (await agentRunning(ctx, agent)) {
      await nudgeAgent(ctx, {
        to: agent.address,
        from: ctx.actor,
        message: `Work slung to you: ${bead.id} (${bead.title}). Run \`gt prime\` and start on it now.`,
        mode: 'wait-idle',
      });
      return {
        ...base,
        agent: agent.address,
        session: agent.session_name,
        created: plan !== undefined,
        action: 'nudged',
      };
    }
    await startAgentSession(ctx, agent.address, {
      ...(options.agent !== undefined ? { agent: options.agent } : {}),
      topic: 'assigned',
      sender: ctx.actor,
      wait: options.wait !== false,
    });
    return {
      ...base,
      agent: agent.address,
      session: agent.session_name,
      created: plan !== undefined,
      action: 'started',
    };
  } catch (err) {
    // gt down came while this started (refused, or its session stopped): the work stays on the hook, whole,
    // for gt up — nothing half-started is left, and nothing runs.
    if (err instanceof TownDownError || (await ctx.store.townHold().catch(() => null)) !== null) {
      ctx.progress?.(`the town went down while ${agent.address} started; ${bead.id} stays on its hook`);
      await endStart(ctx, agent.address, 'killed');
      return deferred;
    }
    await rollback(ctx, agent.address, plan);
    if (err instanceof GtError) throw err;
    throw new ValidationError(`slinging ${bead.id} to ${agent.address} failed: ${errorMessage(err)}`, { cause: err });
  }
}

/** Stops what a failed start may have left: its tmux session and its open record. */
async function endStart(ctx: SlingContext, address: string, reason: 'crashed' | 'killed'): Promise<void> {
  await ctx.provider.stop((await ctx.store.agent(address)).session_name).catch(() => undefined);
  const open = await ctx.store.openSession(address).catch(() => null);
  if (open !== null) await ctx.store.endSession(open.session_id, reason, ctx.actor).catch(() => undefined);
}

/** Undoes a sling's hook and the sandbox it made; a started session has already ended itself on failure. */
async function rollback(ctx: SlingContext, address: string, plan: PolecatPlan | undefined): Promise<void> {
  await endStart(ctx, address, 'crashed');
  await ctx.store.unhook(address, ctx.actor).catch(() => undefined);
  if (plan !== undefined) {
    await ctx.store.removeAgent(address, ctx.actor).catch(() => undefined);
    await discardNewSandbox(ctx.town, plan);
  }
}

type HookOpts = { takeOver: boolean; fresh: boolean; args?: string; capacity?: PolecatLimits };

/** The rig of a sling that puts work on a polecat: a rig target, or a polecat's address. */
function polecatRig(target: SlingTarget): string | undefined {
  if (target.kind === 'rig') return target.rig;
  return target.identity.role === 'polecat' ? target.identity.rig : undefined;
}

/** The rig whose caps a sling counts against: a rig target, or a polecat address that names no polecat yet. */
async function cappedRig(ctx: SlingContext, target: SlingTarget): Promise<string | undefined> {
  if (target.kind === 'rig') return target.rig;
  if (target.identity.role !== 'polecat') return undefined;
  const exists = await ctx.store.agent(target.address).then(
    () => true,
    (err: unknown) => {
      if (err instanceof NotFoundError) return false;
      throw err;
    },
  );
  return exists ? undefined : target.identity.rig;
}

async function pendingSlingOf(ctx: SlingContext, beadId: string): Promise<QueuedSling | undefined> {
  return (await ctx.store.pendingSlings()).find((p) => p.bead === beadId);
}

/** Queues the sling in the store (once per bead) and wakes the dispatcher; says where it stands. */
async function enqueue(
  ctx: SlingContext,
  bead: Bead,
  target: SlingTarget,
  rig: string,
  options: SlingOptions,
  base: Omit<SlungOne, 'agent' | 'session' | 'created' | 'action'>,
  why: string,
): Promise<SlungOne> {
  const targetText = target.kind === 'rig' ? target.rig : target.address;
  const result = {
    ...base,
    agent: targetText,
    session: '',
    created: false,
    action: 'queued' as const,
    queue_reason: why,
  };
  if (options.dryRun === true) return result;
  const { sling: queued } = await ctx.store.queueSling(
    {
      bead: bead.id,
      rig,
      target: targetText,
      ...(target.kind === 'agent' ? { create: true } : {}),
      ...(options.args !== undefined ? { args: options.args } : {}),
      ...(options.agent !== undefined ? { agent: options.agent } : {}),
    },
    ctx.actor,
  );
  const position = (await ctx.store.pendingSlings()).findIndex((p) => p.id === queued.id) + 1;
  ctx.progress?.(`${bead.id} is queued for ${targetText}: ${why}`);
  await wakeDispatcher(ctx);
  return { ...result, position: position > 0 ? position : null };
}

/**
 * An idle polecat of the rig whose old work is safe gets the bead — readied on a fresh branch first, then
 * hooked (so an agent whose session is still open never sees the bead before its sandbox is ready); else a
 * new polecat.
 */
async function hookRigPolecat(
  ctx: SlingContext,
  bead: Bead,
  rigName: string,
  hookOptions: HookOpts,
): Promise<{ agent: Agent; plan?: PolecatPlan }> {
  const rig = await ctx.store.rig(rigName);
  // Idle polecats whose session is still open first: told the new bead, they start no new session.
  const candidates = await reusablePolecats(ctx.store, rigName, { openSessions: true });
  if (candidates.length > 0) await fetchOrigin(rigPaths(ctx.town.root, rigName).repo);
  for (const candidate of candidates) {
    try {
      const agent = await readyIdlePolecat(
        ctx.town,
        ctx.store,
        candidate,
        rig,
        { bead: bead.id, nowMs: ctx.now(), actor: ctx.actor },
        () => ctx.store.hook(candidate.address, bead.id, ctx.actor, hookOptions),
      );
      if (agent !== undefined) return { agent };
      // Taken meanwhile, or its sandbox holds unsaved work: leave it be.
    } catch (err) {
      if (err instanceof ConflictError && (await ctx.store.agent(candidate.address)).hook_bead !== null) continue; // someone else got this polecat
      throw err; // the bead itself was taken, or there is no room
    }
  }
  return hookNewPolecat(ctx, bead, rigName, undefined, hookOptions);
}

async function hookNewPolecat(
  ctx: SlingContext,
  bead: Bead,
  rigName: string,
  name: string | undefined,
  hookOptions: HookOpts,
): Promise<{ agent: Agent; plan: PolecatPlan }> {
  for (let attempt = 0; ; attempt++) {
    const plan = await planPolecat(ctx.town, ctx.store, rigName, {
      ...(name !== undefined ? { name } : {}),
      bead: bead.id,
      nowMs: ctx.now(),
    });
    let agent: Agent;
    try {
      agent = await ctx.store.registerAndHook(plan.registration, bead.id, ctx.actor, hookOptions);
    } catch (err) {
      // Another sling took this name a moment ago: pick again (the bead was still free, or we would know).
      if (
        name === undefined &&
        attempt < 5 &&
        err instanceof ConflictError &&
        /already uses|already exists|UNIQUE/u.test(err.message)
      )
        continue;
      throw err;
    }
    try {
      agent = await makePolecatSandbox(ctx.town, ctx.store, plan, ctx.town.owner, ctx.actor);
    } catch (err) {
      await ctx.store.unhook(agent.address, ctx.actor).catch(() => undefined);
      await ctx.store.removeAgent(agent.address, ctx.actor).catch(() => undefined);
      throw err;
    }
    ctx.progress?.(`made polecat ${agentAddress(plan.identity)} on ${plan.branch}`);
    return { agent, plan };
  }
}
