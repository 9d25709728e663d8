import { readMergeRequest, type MqState } from '../core/merge-request.js';
import { existsSync } from 'node:fs';
import type { Agent, AgentSession, AgentStore } from '../core/agent-store.js';
import type { BeadStore } from '../core/bead-store.js';
import { deriveState, type DerivedState } from '../core/derive.js';
import { classifyPane, progressText, type PaneState } from '../core/pane.js';
import { NON_WORK_TYPES, PUSH_REFUSED_KEY } from '../core/bead.js';
import { mapLimit } from '../core/promise.js';
import type { Role } from '../core/identity.js';
import type { Rig } from '../core/rig-registry.js';
import type { TownSettings } from '../core/settings.js';
import { lastCommitMs, worktreeSafety } from '../git/git.js';
import { agentCli, type ResolvedAgent } from '../runtime/launch.js';
import { paneProfile } from '../runtime/presets.js';
import type { AgentLiveness, SessionProvider, SessionSurvey } from '../session/provider.js';
import type { Town } from '../town/town.js';

/**
 * One look at reality: the town's tmux sessions and the agent processes in them, each agent's row and hook,
 * open work, and each sandbox's git state. Everything `gt status` shows and everything the daemon decides is
 * derived from a snapshot. Nothing is stored between two; a watcher that looks again and again (the daemon,
 * `gt status --watch`) may keep a PaneWatch in memory to tell how long a pane has not moved.
 */

type Seen = {
  activityMs: number;
  capturedAtMs: number;
  state: PaneState;
  progress: string;
  stillSinceMs: number;
  /** When this watcher saw the text change (null: not since its first look). */
  movedAtMs: number | null;
};

/**
 * What a watcher remembers of each pane between its looks, in memory only: the last capture, and since when
 * the pane's text (busy line and spinner aside) has not changed. A pane whose tmux activity has not moved
 * since it was captured is not captured again: a town of idle agents costs no captures.
 */
export class PaneWatch {
  readonly #seen = new Map<string, Seen>();

  /** The remembered look, if the pane cannot have changed since (no tmux activity after the capture's second). */
  unchanged(session: string, activityMs: number | null): Seen | undefined {
    const s = this.#seen.get(session);
    if (s === undefined || activityMs === null || activityMs !== s.activityMs) return undefined;
    return activityMs < s.capturedAtMs - 1_000 ? s : undefined;
  }

  record(session: string, activityMs: number | null, state: PaneState, progress: string, nowMs: number): Seen {
    const before = this.#seen.get(session);
    const same = before !== undefined && before.progress === progress;
    const seen: Seen = {
      activityMs: activityMs ?? 0,
      capturedAtMs: nowMs,
      state,
      progress,
      // Seen for the first time: still since tmux last saw it print (a spinner keeps that fresh), not since now.
      stillSinceMs: same
        ? before.stillSinceMs
        : before === undefined && activityMs !== null
          ? Math.min(activityMs, nowMs)
          : nowMs,
      movedAtMs: same ? before.movedAtMs : before === undefined ? null : nowMs,
    };
    this.#seen.set(session, seen);
    return seen;
  }

  /** Forgets sessions that are gone (a new session of the same name starts afresh). */
  keepOnly(sessions: ReadonlySet<string>): void {
    for (const name of this.#seen.keys()) if (!sessions.has(name)) this.#seen.delete(name);
  }
}

/** The subject of the daemon's report of a stalled agent (its mail to the witness). */
export function stalledSubject(address: string, bead: string): string {
  return `Stalled: ${address} on ${bead}`;
}

/** The subject of the daemon's word that an agent it reported stalled makes progress again. */
export function movingSubject(address: string, bead: string): string {
  return `Moving again: ${address} on ${bead}`;
}

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
  /** What it waits for when its state is needs-input: the question as its pane shows it. */
  question: string | null;
  /** What kind of screen that is: the preset's question name (permission, usage-limit, …) or `dialog`. */
  question_kind: string | null;
  session_alive: boolean;
  liveness: AgentLiveness;
  pane: PaneState['kind'] | null;
  /** The hooked bead; `push_refused`: what the remote said when it last refused this work's push, if it did. */
  hook: { id: string; title: string; status: string; updated_at: string; push_refused: string | null } | null;
  open_session: Pick<AgentSession, 'session_id' | 'started_at'> | null;
  last_progress: string | null;
  /** Working on its hook: when it will count as stalled if nothing moves before (for a watcher's next look). */
  stall_due: string | null;
  /** When a watcher last saw its pane's text change (busy line and spinner aside), if it did. */
  pane_moved_at: string | null;
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
  /** Open merge requests, with their place in the rig's merge queue. */
  merge_requests: { id: string; title: string; source: string | null; rig: string | null; state: MqState }[];
};

export type ObserveOptions = {
  git?: boolean;
  /** Remembered panes of a watcher that looks repeatedly (the daemon); without one every live pane is read. */
  watch?: PaneWatch;
  /** Read the daemon's stall reports (default true; the daemon itself, which made them, does not). */
  reports?: boolean;
};

/** How many agents are looked at at once: enough to overlap their tmux captures, few enough for two cores. */
const OBSERVE_CONCURRENCY = 8;

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
  options.watch?.keepOnly(alive);
  // The daemon's stall reports, for views that did not watch the panes themselves (one query).
  const reports = new Map<string, number>();
  if (options.reports !== false && agents.some((a) => a.hook_bead !== null && alive.has(a.session_name))) {
    const sent = await ctx.store.list({
      types: ['message'],
      labels: ['from:daemon'],
      statuses: ['open', 'in_progress', 'closed'],
      limit: 0,
    });
    for (const m of sent) reports.set(m.title, Math.max(reports.get(m.title) ?? 0, Date.parse(m.created_at)));
  }
  // Several at once: each live pane is one tmux capture (a process to wait for), and 30 of them in turn are
  // most of a look at the town. The order of the result is the agents' order all the same.
  return mapLimit(withCli, OBSERVE_CONCURRENCY, ({ agent, cli }) =>
    observeAgent(
      ctx,
      agent,
      cli,
      alive.has(agent.session_name),
      surveyed.get(agent.session_name),
      now,
      rigByName.get(agent.rig ?? ''),
      options,
      agent.hook_bead === null ? null : stallReport(reports, agent.address, agent.hook_bead),
    ),
  );
}

const stringOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** When the daemon reported the agent stalled on this bead, unless it has said since that it moves again. */
export function stallReport(reports: ReadonlyMap<string, number>, address: string, bead: string): number | null {
  const stalled = reports.get(stalledSubject(address, bead));
  const moving = reports.get(movingSubject(address, bead));
  return stalled === undefined || (moving !== undefined && moving >= stalled) ? null : stalled;
}

/** The whole town: agents, rigs, open work, merge requests waiting, sessions that belong to no agent. */
export async function observe(ctx: ObserveContext, options: ObserveOptions = {}): Promise<Snapshot> {
  const now = ctx.now();
  const [rigs, sessions] = await Promise.all([ctx.store.rigs(), ctx.provider.list()]);
  const views = await observeAgents(ctx, options, sessions);
  const known = new Set(views.map((a) => a.session));
  // Work is beads of work types: mail, merge requests, escalations and the like are not counted.
  const stats = await ctx.store.stats();
  const isWork = (b: { issue_type: string }): boolean => !NON_WORK_TYPES.includes(b.issue_type);
  const unresolved = (await ctx.store.list({ statuses: ['open', 'in_progress', 'hooked'], limit: 0 })).filter(isWork);
  const count = (status: string): number => unresolved.filter((b) => b.status === status).length;
  const blocked = (await ctx.store.blocked({ limit: 0 })).filter(isWork).length;
  const mrs = await ctx.store.list({ types: ['merge-request'], statuses: ['open', 'in_progress'], limit: 0 });
  return {
    at: new Date(now).toISOString(),
    town: { name: ctx.town.name, root: ctx.town.root, tmux_socket: ctx.town.tmuxSocket },
    rigs: rigs.map((r) => ({ name: r.name, prefix: r.prefix, default_branch: r.default_branch })),
    agents: views,
    strays: sessions.filter((s) => !known.has(s)),
    work: {
      open: count('open'),
      ready: stats.ready_issues,
      in_progress: count('in_progress'),
      hooked: count('hooked'),
      blocked,
    },
    merge_requests: mrs.map((m) => {
      const mr = readMergeRequest(m);
      return {
        id: m.id,
        title: m.title,
        source: typeof m.metadata.source_bead === 'string' ? m.metadata.source_bead : null,
        rig: mr?.rig ?? null,
        state: mr?.state ?? 'queued',
      };
    }),
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
  stallReportedMs: number | null,
): Promise<AgentView> {
  const liveness: AgentLiveness = !alive ? 'dead' : (look?.liveness ?? 'unknown');
  const activity = alive ? (look?.activityMs ?? null) : null;
  const bead = agent.hook_bead === null ? undefined : (await ctx.store.show([agent.hook_bead]).catch(() => []))[0];
  const open = await ctx.store.openSession(agent.address);
  let work = Math.max(
    agent.last_activity === null ? 0 : Date.parse(agent.last_activity),
    bead === undefined ? 0 : Date.parse(bead.updated_at),
  );
  const progress = Math.max(activity ?? 0, work);
  const stalledAfterMs = ctx.settings.daemon.stalled_after_seconds * 1000;
  // Every live pane is read (a question can appear at any time), except one a watcher saw and that has not
  // moved since.
  const profile = paneProfile(resolved.preset);
  let pane: PaneState | null = null;
  let stillSinceMs: number | null = null;
  let movedMs: number | null = null;
  if (alive && liveness !== 'dead') {
    let seen = options.watch?.unchanged(agent.session_name, activity);
    if (seen === undefined) {
      const text = await ctx.provider.capture(agent.session_name).catch(() => '');
      pane = classifyPane(text, profile);
      seen = options.watch?.record(agent.session_name, activity, pane, progressText(text, profile), now);
    }
    if (seen !== undefined) {
      pane = seen.state;
      stillSinceMs = seen.stillSinceMs;
      movedMs = seen.movedAtMs;
    }
  }
  const question =
    pane?.kind === 'question' ? pane.text : pane?.kind === 'dialog' ? `dialog: ${pane.dialog.name}` : null;
  const exists = existsSync(agent.sandbox_path);
  let sandbox: SandboxState = null;
  if (rig !== undefined && exists && agent.role !== 'crew') {
    const s = await worktreeSafety(agent.sandbox_path, rig.default_branch).catch(() => undefined);
    sandbox =
      s === undefined
        ? { exists, branch: null, uncommitted: 0, unpushed: 0, unmerged: 0 }
        : { exists, branch: s.branch, uncommitted: s.uncommitted.length, unpushed: s.unpushed, unmerged: s.unmerged };
  }
  const facts = (): Parameters<typeof deriveState>[0] => ({
    hooked: agent.hook_bead !== null,
    reported: agent.agent_state,
    sessionAlive: alive,
    liveness,
    paneBusy: pane?.kind === 'busy',
    question,
    sandboxExists: exists,
    lastProgressMs: Math.max(progress, work) > 0 ? Math.max(progress, work) : null,
    lastWorkMs: work > 0 ? work : null,
    paneStillSinceMs: stillSinceMs,
    paneMovedMs: movedMs,
    stallReportedMs,
  });
  let state = deriveState(facts(), now, stalledAfterMs);
  if (state === 'stalled' && exists) {
    // A commit is progress too; asked of git only when everything else says there was none.
    const committed = await lastCommitMs(agent.sandbox_path).catch(() => undefined);
    if (committed !== undefined && committed > work) {
      work = committed;
      state = deriveState(facts(), now, stalledAfterMs);
    }
  }
  const last = Math.max(progress, work);
  let stallDue: number | null = null;
  if (state === 'working' && agent.hook_bead !== null) {
    // A busy pane is quiet from when its text stopped changing; any other, from its last sign of progress.
    const since = pane?.kind === 'busy' ? (stillSinceMs === null ? null : Math.max(stillSinceMs, work)) : last;
    stallDue = since === null || since === 0 ? null : since + stalledAfterMs;
  }
  return {
    address: agent.address,
    role: agent.role,
    rig: agent.rig,
    session: agent.session_name,
    agent_cli: resolved.name,
    state,
    question: state === 'needs-input' ? question : null,
    question_kind:
      state !== 'needs-input'
        ? null
        : pane?.kind === 'question'
          ? pane.question
          : pane?.kind === 'dialog'
            ? 'dialog'
            : null,
    session_alive: alive,
    liveness,
    pane: pane?.kind ?? null,
    hook:
      bead === undefined
        ? null
        : {
            id: bead.id,
            title: bead.title,
            status: bead.status,
            updated_at: bead.updated_at,
            push_refused: stringOrNull(bead.metadata[PUSH_REFUSED_KEY]),
          },
    open_session: open === null ? null : { session_id: open.session_id, started_at: open.started_at },
    last_progress: last > 0 ? new Date(last).toISOString() : null,
    stall_due: stallDue === null ? null : new Date(stallDue).toISOString(),
    pane_moved_at: movedMs === null ? null : new Date(movedMs).toISOString(),
    sandbox_path: agent.sandbox_path,
    sandbox,
  };
}
