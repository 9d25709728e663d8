import type { Agent } from '../core/agent-store.js';
import type { Bead } from '../core/bead.js';
import { ConflictError, errorMessage, GtError, NotFoundError, ValidationError } from '../core/errors.js';
import { agentAddress } from '../core/identity.js';
import { parseSlingTarget, type SlingTarget } from '../core/target.js';
import { fetchOrigin } from '../git/git.js';
import type { TownStore } from '../core/town-store.js';
import {
  discardNewSandbox,
  makePolecatSandbox,
  freshBranch,
  planPolecat,
  reusablePolecats,
  type PolecatPlan,
} from '../town/polecat.js';
import { rigPaths } from '../town/rig.js';
import { nudgeAgent } from './nudge.js';
import { resolveAgent } from '../runtime/launch.js';
import { agentRunning, startAgentSession, type TownContext } from './sessions.js';

/**
 * `gt sling`: puts a bead on an agent's hook and gets the agent going. The hook is written first, in one
 * transaction, so the agent's first prime already sees it; then the session starts (or, if it runs, the agent
 * is nudged). Of any number of concurrent slings of one bead exactly one wins; the others fail before they
 * make anything. A sling that fails part-way undoes its hook and any sandbox it made.
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
  /** started: a new session; nudged: the running agent was told; none: hook only or dry run. */
  action: 'started' | 'nudged' | 'none';
  dry_run: boolean;
};

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
  const results: SlingResult[] = [];
  for (const bead of beads) results.push(await slingOne(ctx, bead, target, options));
  return results;
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

async function slingOne(
  ctx: SlingContext,
  bead: Bead,
  target: SlingTarget,
  options: SlingOptions,
): Promise<SlingResult> {
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
  };

  if (options.dryRun === true) {
    const address = targetAddress ?? `${target.kind === 'rig' ? target.rig : ''}/polecats/<idle or new>`;
    return { ...base, agent: address, session: '', created: false, action: 'none' };
  }

  // 1. The hook, before anything starts.
  let agent: Agent;
  let plan: PolecatPlan | undefined;
  if (target.kind === 'rig') {
    ({ agent, plan } = await hookRigPolecat(ctx, bead, target.rig, hookOptions));
  } else {
    const id = target.identity;
    const existing = await ctx.store.agent(target.address).catch((err: unknown) => {
      if (err instanceof NotFoundError && id.role === 'polecat') return undefined;
      throw err;
    });
    if (existing === undefined) {
      if (id.role !== 'polecat') throw new NotFoundError(`no agent ${target.address}`);
      ({ agent, plan } = await hookNewPolecat(ctx, bead, id.rig, id.name, hookOptions));
    } else {
      agent = await ctx.store.hook(existing.address, bead.id, ctx.actor, hookOptions);
    }
  }
  ctx.progress?.(`${bead.id} is on ${agent.address}'s hook`);

  // 2. The agent: a new session, or a nudge to the running one.
  try {
    if (options.noStart === true)
      return {
        ...base,
        agent: agent.address,
        session: agent.session_name,
        created: plan !== undefined,
        action: 'none',
      };
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
    await rollback(ctx, agent.address, plan);
    if (err instanceof GtError) throw err;
    throw new ValidationError(`slinging ${bead.id} to ${agent.address} failed: ${errorMessage(err)}`, { cause: err });
  }
}

/** Undoes a sling's hook and the sandbox it made; a started session has already ended itself on failure. */
async function rollback(ctx: SlingContext, address: string, plan: PolecatPlan | undefined): Promise<void> {
  await ctx.provider.stop((await ctx.store.agent(address)).session_name).catch(() => undefined);
  const open = await ctx.store.openSession(address).catch(() => null);
  if (open !== null) await ctx.store.endSession(open.session_id, 'crashed', ctx.actor).catch(() => undefined);
  await ctx.store.unhook(address, ctx.actor).catch(() => undefined);
  if (plan !== undefined) {
    await ctx.store.removeAgent(address, ctx.actor).catch(() => undefined);
    await discardNewSandbox(ctx.town, plan);
  }
}

type HookOpts = { takeOver: boolean; fresh: boolean; args?: string };

/** An idle polecat of the rig whose old work is safe gets the bead; else a new polecat. */
async function hookRigPolecat(
  ctx: SlingContext,
  bead: Bead,
  rigName: string,
  hookOptions: HookOpts,
): Promise<{ agent: Agent; plan?: PolecatPlan }> {
  const rig = await ctx.store.rig(rigName);
  const candidates = await reusablePolecats(ctx.store, rigName);
  let fetched = false;
  for (const candidate of candidates) {
    // Hook first: that reserves the polecat (and the bead) before its branch is touched.
    try {
      await ctx.store.hook(candidate.address, bead.id, ctx.actor, hookOptions);
    } catch (err) {
      if (err instanceof ConflictError && (await ctx.store.agent(candidate.address)).hook_bead !== null) continue; // someone else got this polecat
      throw err; // the bead itself was taken
    }
    if (!fetched) {
      await fetchOrigin(rigPaths(ctx.town.root, rigName).repo);
      fetched = true;
    }
    const fresh = await freshBranch(ctx.town, ctx.store, candidate, rig, {
      bead: bead.id,
      nowMs: ctx.now(),
      actor: ctx.actor,
    }).catch(() => undefined);
    if (fresh !== undefined) return { agent: await ctx.store.agent(candidate.address) };
    await ctx.store.unhook(candidate.address, ctx.actor); // its sandbox holds unsaved work: leave it be
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
