import { existsSync } from 'node:fs';
import type { Agent, AgentSession, AgentStore } from '../core/agent-store.js';
import type { BeadStore } from '../core/bead-store.js';
import { deriveState, type DerivedState } from '../core/derive.js';
import { classifyPane, type PaneState } from '../core/pane.js';
import type { Role } from '../core/identity.js';
import type { Rig } from '../core/rig-registry.js';
import type { TownSettings } from '../core/settings.js';
import { worktreeSafety } from '../git/git.js';
import { agentCli, type ResolvedAgent } from '../runtime/launch.js';
import { paneProfile } from '../runtime/presets.js';
import type { AgentLiveness, SessionProvider, SessionSurvey } from '../session/provider.js';
import type { Town } from '../town/town.js';

/**
 * One look at reality: the town's tmux sessions and the agent processes in them, each agent's row and hook,
 * open work, and each sandbox's git state. Everything `gt status` shows and everything the daemon decides is
 * derived from a snapshot; nothing is remembered between two.
 */

export type ObserveContext = {
  town: Town;
  settings: TownSettings;
  store: AgentStore & BeadStore & { rigs(): Promise<Rig[]> };
  provider: SessionProvider;
  now: () => number;
};

export type SandboxState = {
  exists: boolean;
  branch: string | null;
  uncommitted: number;
  unpushed: number;
  unmerged: number;
} | null;

export type AgentView = {
  address: string;
  role: Role;
  rig: string | null;
  session: string;
  agent_cli: string;
  state: DerivedState;
  session_alive: boolean;
  liveness: AgentLiveness;
  pane: PaneState['kind'] | null;
  hook: { id: string; title: string; status: string; updated_at: string } | null;
  open_session: Pick<AgentSession, 'session_id' | 'started_at'> | null;
  last_progress: string | null;
  sandbox_path: string;
  sandbox: SandboxState;
};

export type Snapshot = {
  at: string;
  town: { name: string; root: string; tmux_socket: string };
  rigs: { name: string; prefix: string; default_branch: string }[];
  agents: AgentView[];
  /** Sessions on the town's server that belong to no agent. */
  strays: string[];
  work: { open: number; ready: number; in_progress: number; hooked: number; blocked: number };
  merge_requests: { id: string; title: string; source: string | null }[];
};

export type ObserveOptions = {
  git?: boolean;
  /** Read every live agent's pane (what `gt agents` shows); otherwise only where the state depends on it. */
  panes?: boolean;
};

/** Every agent as observed now (what the daemon decides from, and `gt agents` shows). */
export async function observeAgents(
  ctx: ObserveContext,
  options: ObserveOptions = {},
  sessions?: readonly string[],
): Promise<AgentView[]> {
  const now = ctx.now();
  const [agents, rigs, live] = await Promise.all([
    ctx.store.agents({}),
    options.git === true ? ctx.store.rigs() : [],
    sessions ?? ctx.provider.list(),
  ]);
  const alive = new Set(live);
  const rigByName = new Map(rigs.map((r) => [r.name, r]));
  const withCli = agents.map((agent) => ({ agent, cli: agentCli(ctx.settings, agent) }));
  // Every live session at one look (one tmux call, one process table), however many agents.
  const surveyed = await ctx.provider.survey(
    new Map(
      withCli
        .filter(({ agent }) => alive.has(agent.session_name))
        .map(({ agent, cli }) => [agent.session_name, cli.preset.processNames]),
    ),
  );
  const views: AgentView[] = [];
  for (const { agent, cli } of withCli) {
    views.push(
      await observeAgent(
        ctx,
        agent,
        cli,
        alive.has(agent.session_name),
        surveyed.get(agent.session_name),
        now,
        rigByName.get(agent.rig ?? ''),
        options,
      ),
    );
  }
  return views;
}

/** The whole town: agents, rigs, open work, merge requests waiting, sessions that belong to no agent. */
export async function observe(ctx: ObserveContext, options: ObserveOptions = {}): Promise<Snapshot> {
  const now = ctx.now();
  const [rigs, sessions] = await Promise.all([ctx.store.rigs(), ctx.provider.list()]);
  const views = await observeAgents(ctx, options, sessions);
  const known = new Set(views.map((a) => a.session));
  const stats = await ctx.store.stats();
  const mrs = await ctx.store.list({ types: ['merge-request'], statuses: ['open', 'in_progress'], limit: 0 });
  return {
    at: new Date(now).toISOString(),
    town: { name: ctx.town.name, root: ctx.town.root, tmux_socket: ctx.town.tmuxSocket },
    rigs: rigs.map((r) => ({ name: r.name, prefix: r.prefix, default_branch: r.default_branch })),
    agents: views,
    strays: sessions.filter((s) => !known.has(s)),
    work: {
      open: stats.open_issues,
      ready: stats.ready_issues,
      in_progress: stats.in_progress_issues,
      hooked: stats.hooked_issues,
      blocked: stats.blocked_issues,
    },
    merge_requests: mrs.map((m) => ({
      id: m.id,
      title: m.title,
      source: typeof m.metadata.source_bead === 'string' ? m.metadata.source_bead : null,
    })),
  };
}

async function observeAgent(
  ctx: ObserveContext,
  agent: Agent,
  resolved: ResolvedAgent,
  alive: boolean,
  look: SessionSurvey | undefined,
  now: number,
  rig: Rig | undefined,
  options: ObserveOptions,
): Promise<AgentView> {
  const liveness: AgentLiveness = !alive ? 'dead' : (look?.liveness ?? 'unknown');
  const activity = alive ? (look?.activityMs ?? null) : null;
  const bead = agent.hook_bead === null ? undefined : (await ctx.store.show([agent.hook_bead]).catch(() => []))[0];
  const open = await ctx.store.openSession(agent.address);
  const progress = Math.max(
    activity ?? 0,
    agent.last_activity === null ? 0 : Date.parse(agent.last_activity),
    bead === undefined ? 0 : Date.parse(bead.updated_at),
  );
  // The pane matters to the state only for hooked work with no recent progress (busy = working, else stalled).
  const stalledAfterMs = ctx.settings.daemon.stalled_after_seconds * 1000;
  const paneMatters = agent.hook_bead !== null && liveness !== 'dead' && now - progress > stalledAfterMs;
  const pane =
    alive && (options.panes === true || paneMatters)
      ? classifyPane(await ctx.provider.capture(agent.session_name).catch(() => ''), paneProfile(resolved.preset)).kind
      : null;
  const exists = existsSync(agent.sandbox_path);
  let sandbox: SandboxState = null;
  if (rig !== undefined && exists && agent.role !== 'crew') {
    const s = await worktreeSafety(agent.sandbox_path, rig.default_branch).catch(() => undefined);
    sandbox =
      s === undefined
        ? { exists, branch: null, uncommitted: 0, unpushed: 0, unmerged: 0 }
        : { exists, branch: s.branch, uncommitted: s.uncommitted.length, unpushed: s.unpushed, unmerged: s.unmerged };
  }
  const state = deriveState(
    {
      hooked: agent.hook_bead !== null,
      reported: agent.agent_state,
      sessionAlive: alive,
      liveness,
      paneBusy: pane === 'busy',
      sandboxExists: exists,
      lastProgressMs: progress > 0 ? progress : null,
    },
    now,
    stalledAfterMs,
  );
  return {
    address: agent.address,
    role: agent.role,
    rig: agent.rig,
    session: agent.session_name,
    agent_cli: resolved.name,
    state,
    session_alive: alive,
    liveness,
    pane,
    hook:
      bead === undefined ? null : { id: bead.id, title: bead.title, status: bead.status, updated_at: bead.updated_at },
    open_session: open === null ? null : { session_id: open.session_id, started_at: open.started_at },
    last_progress: progress > 0 ? new Date(progress).toISOString() : null,
    sandbox_path: agent.sandbox_path,
    sandbox,
  };
}
