import { existsSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Agent, AgentSession, SessionEndReason } from '../core/agent-store.js';
import { formatBeacon } from '../core/beacon.js';
import { ConflictError, GtError, NotFoundError, TownDownError, ValidationError } from '../core/errors.js';
import { parseAddress } from '../core/identity.js';
import type { PaneState } from '../core/pane.js';
import type { TownSettings } from '../core/settings.js';
import { writeClaudeSettings } from '../runtime/claude-settings.js';
import { agentCli, buildLaunch, passthroughEnv, type ResolvedAgent } from '../runtime/launch.js';
import { paneProfile } from '../runtime/presets.js';
import { typeNudge } from '../session/nudge.js';
import type { AgentLiveness, SessionProvider } from '../session/provider.js';
import { lookAtSession } from '../session/look.js';
import { waitReady, type ReadyResult } from '../session/readiness.js';
import { finishPolecat } from '../town/polecat.js';
import { checkSessionChange } from './guard.js';
import type { Town } from '../town/town.js';
import type { TownStore } from '../core/town-store.js';

/**
 * Agent sessions by address: start (launch the agent CLI in its sandbox, answer its dialogs, wait for it),
 * stop, restart, status, list. Every start and end is recorded in the agent's chain of sessions; whether a
 * session is alive is always asked of tmux, never remembered.
 */

export type TownContext = {
  town: Town;
  settings: TownSettings;
  store: TownStore;
  provider: SessionProvider;
  /** The environment of whoever asks (credentials pass through from here). */
  env: Readonly<Record<string, string | undefined>>;
  /** How to run gt: argv prefix for the sim agent, and an executable for hooks. */
  gtCommand: readonly string[];
  gtBin: string;
  actor: string;
  now: () => number;
  progress?: (line: string) => void;
  /** Starts a background `gt` (e.g. a watcher that delivers queued nudges once an agent is idle). */
  spawnGt?: (args: readonly string[]) => void;
};

/** Per-session private files (settings for the agent CLI, the nudge lock). */
export function sessionRuntimeDir(town: Town, session: string): string {
  return join(town.root, '.runtime', 'sessions', session);
}

export function nudgeLockPath(town: Town, session: string): string {
  return join(sessionRuntimeDir(town, session), 'nudge.lock');
}

/** Whether the agent's CLI runs (its session exists and the agent process in it is alive). */
export async function agentRunning(ctx: Pick<TownContext, 'settings' | 'provider'>, agent: Agent): Promise<boolean> {
  return (
    (await ctx.provider.agentLiveness(agent.session_name, agentCli(ctx.settings, agent).preset.processNames)) !== 'dead'
  );
}

/** `<town>/.runtime/bin`, holding `gt` and `bd` links to this installation. */
export function agentBinDir(ctx: Pick<TownContext, 'town' | 'gtBin'>): string {
  const dir = join(ctx.town.root, '.runtime', 'bin');
  mkdirSync(dir, { recursive: true });
  const links: [string, string][] = [['gt', ctx.gtBin]];
  const bd = join(dirname(ctx.gtBin), 'bd.cjs');
  if (existsSync(bd)) links.push(['bd', bd]);
  for (const [name, target] of links) {
    const link = join(dir, name);
    let current: string | undefined;
    try {
      current = readlinkSync(link);
    } catch {
      current = undefined;
    }
    if (current === target) continue;
    // Replace atomically: another gt may be starting a session at this moment.
    const tmp = `${link}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    symlinkSync(target, tmp);
    renameSync(tmp, link);
  }
  return dir;
}

export type StartOptions = {
  agent?: string;
  /** Wait for readiness (default true). */
  wait?: boolean;
  readyTimeoutMs?: number;
  sender?: string;
  topic?: string;
  /** Resume the agent CLI's previous session (its id from the sessions chain) instead of a fresh one. */
  resume?: boolean;
};

export type StartResult = {
  address: string;
  session: string;
  agent: string;
  session_id: string;
  ready: ReadyResult | null;
  /** Session ended before this start (a dead pane, or a record with no tmux session behind it). */
  replaced: { session_id: string; reason: SessionEndReason } | null;
};

/** The session is up but its agent never showed it was ready (a dialog nobody answered, a hang). */
export class AgentNotReadyError extends GtError {
  constructor(address: string, state: string) {
    super('agent_not_ready', 9, `${address}'s agent did not become ready (its pane shows: ${state})`, {
      hint: `look with "gt peek ${address}", answer it with "gt session attach ${address}", or restart it`,
    });
  }
}

export class AgentExitedError extends GtError {
  constructor(address: string, tail: string) {
    super(
      'agent_exited',
      9,
      `${address}'s agent exited while starting${tail.trim() === '' ? '' : `; its pane ends with:\n${tail}`}`,
      {
        hint: `check the agent command ("gt config agent list"), then "gt peek ${address}"`,
      },
    );
  }
}

/** The agent at an address: the address is checked first, so a malformed one is a usage error, not "not found". */
export async function agentAt(ctx: Pick<TownContext, 'store'>, address: string): Promise<Agent> {
  parseAddress(address);
  return ctx.store.agent(address);
}

export async function startAgentSession(
  ctx: TownContext,
  address: string,
  options: StartOptions = {},
): Promise<StartResult> {
  const identity = parseAddress(address);
  await refuseWhileDown(ctx);
  // A polecat whose making was cut short (its maker killed) gets its sandbox first: no session starts in half.
  const agent = await finishPolecat(ctx.town, ctx.store, await ctx.store.agent(address), ctx.actor);
  const resolved = agentCli(ctx.settings, agent, options.agent);
  const preset = resolved.preset;
  const name = agent.session_name;
  if (!existsSync(agent.sandbox_path)) {
    throw new NotFoundError(`${address}'s sandbox ${agent.sandbox_path} is missing`, {
      hint: identity.role === 'polecat' ? 'recreate it with "gt polecat add"' : 'recreate the rig or crew member',
    });
  }

  let replaced: StartResult['replaced'] = null;
  const open = await ctx.store.openSession(address);
  if (await ctx.provider.isAlive(name)) {
    if ((await ctx.provider.agentLiveness(name, preset.processNames)) !== 'dead') {
      throw new ConflictError(`${address} is already running in session ${name}`, {
        hint: `use "gt session restart ${address}" for a fresh one`,
      });
    }
    await ctx.provider.stop(name);
    if (open !== null)
      replaced = {
        session_id: (await ctx.store.endSession(open.session_id, 'crashed', ctx.actor)).session_id,
        reason: 'crashed',
      };
  } else if (open !== null) {
    replaced = {
      session_id: (await ctx.store.endSession(open.session_id, 'lost', ctx.actor)).session_id,
      reason: 'lost',
    };
  }
  const resume = options.resume === true ? await sessionToResume(ctx, address, resolved) : undefined;
  if (options.agent !== undefined && options.agent !== agent.runtime)
    await ctx.store.updateAgent(address, { runtime: options.agent }, ctx.actor);

  const beacon = formatBeacon({
    recipient: identity,
    sender: options.sender ?? ctx.actor,
    atMs: ctx.now(),
    topic: options.topic ?? (resume !== undefined ? 'resume' : agent.hook_bead !== null ? 'assigned' : 'start'),
    bead: agent.hook_bead,
  });
  const settingsFile =
    preset.hooks === 'claude'
      ? writeClaudeSettings(join(sessionRuntimeDir(ctx.town, name), 'claude-settings.json'), agent.role)
      : undefined;
  const launch = buildLaunch({
    agent: resolved,
    identity,
    sessionName: name,
    townRoot: ctx.town.root,
    sandboxPath: agent.sandbox_path,
    beacon,
    settingsFile,
    passthrough: passthroughEnv(ctx.env),
    gtCommand: ctx.gtCommand,
    gtBin: ctx.gtBin,
    resume,
  });

  // gt and bd on the agent's PATH: prime tells it to run `gt done`, `bd show`, `gt mail read`.
  launch.env.PATH = [agentBinDir(ctx), launch.env.PATH].filter((p) => p !== undefined && p !== '').join(':');

  // Recorded first, so the agent's start-up hook finds its session and can name it. The record is refused
  // once the town is down; one made before that is seen by gt down, which waits for its tmux session and
  // stops it — or the check below, after the tmux session exists, sees down (or the record ended) and this
  // start stops it itself. Either way nothing of it runs once gt down has returned.
  const record = await ctx.store.startSession(
    { agent: address, runtime: resolved.name, bead_id: agent.hook_bead },
    ctx.actor,
  );
  const pauseMs = testPauseMs(ctx.env);
  try {
    await pause(pauseMs);
    await ctx.provider.start({ name, argv: launch.argv, cwd: launch.cwd, env: launch.env });
  } catch (err) {
    await ctx.store.endSession(record.session_id, 'crashed', ctx.actor);
    throw err;
  }
  await pause(pauseMs);
  if (!(await ctx.store.sessionMayRun(record.session_id))) {
    await ctx.provider.stop(name);
    await ctx.store.endSession(record.session_id, 'killed', ctx.actor);
    const hold = await ctx.store.townHold();
    if (hold !== null) throw new TownDownError(hold);
    throw new ConflictError(`${address}'s session was stopped while it started`, {
      hint: `"gt session start ${address}" starts it again`,
    });
  }
  ctx.progress?.(`launched ${name} (${resolved.name}) in ${agent.sandbox_path}`);
  const result: StartResult = {
    address,
    session: name,
    agent: resolved.name,
    session_id: record.session_id,
    ready: null,
    replaced,
  };
  if (options.wait === false) return result;

  const profile = paneProfile(preset);
  const ready = await waitReady(ctx.provider, name, {
    profile,
    processNames: preset.processNames,
    timeoutMs:
      options.readyTimeoutMs ??
      Math.max(preset.readiness.kind === 'prompt' ? preset.readiness.fallbackMs : preset.readiness.ms, 10_000) * 3,
    delayMs: preset.readiness.kind === 'delay' ? preset.readiness.ms : 0,
    onDialog: (d) => ctx.progress?.(`answered the ${d} dialog`),
  });
  result.ready = ready;
  if (ready.state === 'exited') {
    await ctx.store.endSession(record.session_id, 'crashed', ctx.actor);
    throw new AgentExitedError(address, ready.tail);
  }
  if (ready.ready && launch.typedPrompt !== undefined) {
    const typed = await typeNudge(ctx.provider, name, launch.typedPrompt, {
      profile,
      lockPath: nudgeLockPath(ctx.town, name),
      waitIdleMs: 30_000,
    });
    ctx.progress?.(`typed the beacon: ${typed.outcome}`);
  }
  return result;
}

/**
 * Fault injection for the tests: GT_TEST_START_PAUSE_MS in the caller's environment widens the moments
 * between a start's record and its tmux session, and between that and its check, so that a concurrent
 * gt down lands in them.
 */
function testPauseMs(env: TownContext['env']): number {
  const ms = Number(env.GT_TEST_START_PAUSE_MS ?? 0);
  return Number.isInteger(ms) && ms > 0 ? ms : 0;
}

function pause(ms: number): Promise<void> {
  return ms === 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}

/** While the town is down (gt down) no session starts: refused before anything is touched. */
async function refuseWhileDown(ctx: Pick<TownContext, 'store'>): Promise<void> {
  const hold = await ctx.store.townHold();
  if (hold !== null) throw new TownDownError(hold);
}

/** The agent CLI's own id of the agent's last session, to continue it; refused when there is none to continue. */
async function sessionToResume(ctx: TownContext, address: string, resolved: ResolvedAgent): Promise<string> {
  if (resolved.preset.resume === undefined)
    throw new ValidationError(`${resolved.name} cannot resume a previous session`, {
      hint: 'start or restart it without --resume',
    });
  const previous = (await ctx.store.sessions(address)).find(
    (s) => s.runtime_session_id !== null && s.runtime === resolved.name,
  );
  if (previous?.runtime_session_id === undefined || previous.runtime_session_id === null) {
    throw new NotFoundError(`${address} has no earlier ${resolved.name} session to resume`, {
      hint: 'start it without --resume',
    });
  }
  return previous.runtime_session_id;
}

export type StopResult = { address: string; session: string; was_running: boolean; ended: AgentSession | null };

/**
 * Ends an agent's session. A patrol agent may not stop crew, the mayor, or an agent whose sandbox holds
 * uncommitted changes (src/core/guard.ts); it restarts those in place or escalates.
 */
export async function stopAgentSession(
  ctx: TownContext,
  address: string,
  reason: SessionEndReason = 'killed',
): Promise<StopResult> {
  const agent = await agentAt(ctx, address);
  await checkSessionChange(ctx, agent, 'stop');
  return endAgentSession(ctx, agent, reason);
}

async function endAgentSession(ctx: TownContext, agent: Agent, reason: SessionEndReason): Promise<StopResult> {
  const address = agent.address;
  const wasRunning = await ctx.provider.isAlive(agent.session_name);
  // A replacement is recorded before the session goes: a daemon looking in between sees a restart in flight
  // (a session just replaced), not a death to record and restart itself.
  const before = reason === 'replaced' ? await ctx.store.openSession(address) : null;
  const replaced = before === null ? null : await ctx.store.endSession(before.session_id, reason, ctx.actor);
  await ctx.provider.stop(agent.session_name);
  const open = replaced === null ? await ctx.store.openSession(address) : null;
  const ended = replaced ?? (open === null ? null : await ctx.store.endSession(open.session_id, reason, ctx.actor));
  if (wasRunning) ctx.progress?.(`stopped ${agent.session_name}`);
  return { address, session: agent.session_name, was_running: wasRunning, ended };
}

/** Stops an agent's session and starts a fresh one in the same sandbox (its files and hook stay). */
export async function restartAgentSession(
  ctx: TownContext,
  address: string,
  options: StartOptions & { endReason?: SessionEndReason } = {},
): Promise<StartResult & { stopped: StopResult }> {
  // What would refuse the new session is checked before the running one is stopped.
  const agent = await agentAt(ctx, address);
  await checkSessionChange(ctx, agent, 'restart');
  await refuseWhileDown(ctx);
  if (options.resume === true) await sessionToResume(ctx, address, agentCli(ctx.settings, agent, options.agent));
  const stopped = await endAgentSession(ctx, agent, options.endReason ?? 'replaced');
  const started = await startAgentSession(ctx, address, {
    topic: options.resume === true ? 'resume' : 'restart',
    ...options,
  });
  return { ...started, stopped };
}

export type SessionStatus = {
  address: string;
  role: string;
  session: string;
  agent: string;
  /** tmux has the session. */
  running: boolean;
  /** The agent program inside it. */
  liveness: AgentLiveness;
  /** What its pane shows, for CLIs whose pane can be read. */
  pane: PaneState['kind'] | null;
  hook_bead: string | null;
  session_id: string | null;
  runtime_session_id: string | null;
  started_at: string | null;
  last_activity: string | null;
};

export async function sessionStatus(ctx: TownContext, agent: Agent): Promise<SessionStatus> {
  const resolved = agentCli(ctx.settings, agent);
  const running = await ctx.provider.isAlive(agent.session_name);
  const { liveness, pane, activityMs } = await lookAtSession(
    ctx.provider,
    agent.session_name,
    running,
    resolved.preset.processNames,
    paneProfile(resolved.preset),
  );
  const open = await ctx.store.openSession(agent.address);
  return {
    address: agent.address,
    role: agent.role,
    session: agent.session_name,
    agent: resolved.name,
    running,
    liveness,
    pane,
    hook_bead: agent.hook_bead,
    session_id: open?.session_id ?? null,
    runtime_session_id: open?.runtime_session_id ?? null,
    started_at: open?.started_at ?? null,
    last_activity: activityMs !== null ? new Date(activityMs).toISOString() : agent.last_activity,
  };
}

export async function statusOf(ctx: TownContext, address: string): Promise<SessionStatus> {
  return sessionStatus(ctx, await agentAt(ctx, address));
}

export type SessionList = {
  sessions: SessionStatus[];
  /** tmux sessions on the town's server that belong to no agent. */ strays: string[];
};

export async function listSessions(ctx: TownContext, all = false): Promise<SessionList> {
  const agents = await ctx.store.agents({});
  const live = new Set(await ctx.provider.list());
  const sessions: SessionStatus[] = [];
  for (const agent of agents) {
    if (!all && !live.has(agent.session_name)) continue;
    sessions.push(await sessionStatus(ctx, agent));
  }
  const known = new Set(agents.map((a) => a.session_name));
  return { sessions, strays: [...live].filter((s) => !known.has(s)) };
}

/**
 * Puts the caller's terminal on an agent's session until they detach (Ctrl-b d) or the session ends.
 * `before` hears the session's name once it is known to be running, before the terminal is handed over.
 */
export async function attachAgent(
  ctx: TownContext,
  address: string,
  options: { readOnly?: boolean; before?: (session: string) => void } = {},
): Promise<{ address: string; session: string; exit: number | null }> {
  const agent = await agentAt(ctx, address);
  if (!(await ctx.provider.isAlive(agent.session_name))) {
    throw new NotFoundError(`${address} has no session running`, {
      hint: `start one with "gt session start ${address}", or read its last session with "gt seance --agent ${address}"`,
    });
  }
  options.before?.(agent.session_name);
  const exit = await ctx.provider.attach(agent.session_name, { readOnly: options.readOnly === true });
  return { address, session: agent.session_name, exit };
}

export async function peek(
  ctx: TownContext,
  address: string,
  lines: number,
): Promise<{ address: string; session: string; text: string }> {
  const agent = await agentAt(ctx, address);
  const text = await ctx.provider.capture(agent.session_name, Math.max(0, lines));
  const all = text.replace(/\s+$/u, '').split('\n');
  return { address, session: agent.session_name, text: all.slice(-Math.max(1, lines)).join('\n') };
}
