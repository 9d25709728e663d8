import { startOfLocalDay } from '../core/time.js';
import type { Agent } from '../core/agent-store.js';
import type { BeadEvent } from '../core/bead.js';
import type { ConvoyView } from '../core/convoy.js';
import type { DerivedState } from '../core/derive.js';
import { SEVERITIES, type Severity } from '../core/escalation.js';
import { OVERSEER } from '../core/identity.js';
import { queueRows, type MergedToday, type QueueRow, type QueueStats } from '../core/merge-queue-stats.js';
import { LIVE_PROBLEM_STATES, PROBLEM_SEVERITY } from '../core/problem.js';
import type { TownStore } from '../core/town-store.js';
import { daemonPid } from '../daemon/daemon.js';
import { mergedToday } from '../observe/merged.js';
import { observe, type AgentView, type PaneWatch } from '../observe/snapshot.js';
import { listEscalations } from '../patrol/escalation.js';
import { mergeRequests } from '../refinery/refinery.js';
import { readQueueStats } from '../refinery/stats.js';
import { loadRigSettings } from '../town/rig.js';
import { listConvoys } from '../work/convoy.js';
import { showExisting } from '../work/blockers.js';
import { inbox } from '../work/mail.js';
import type { TownContext } from '../work/sessions.js';
import { describeEvent, isNews, type EventBead, type FeedEvent } from './events.js';

/**
 * The one model every view renders (`gt feed`, `gt dashboard`): what needs a person first, then the agents
 * one row each, the merge queue, the convoys with their progress, what landed today and the event stream.
 * Built from the store and one observe of the town's tmux server; nothing is kept but what a watcher passes
 * back in (its PaneWatch, and since when it has seen each agent in its state).
 */

export type ViewContext = TownContext & { store: TownStore };

/** Token counts are raw first; money is null where a model has no price (shown as unpriced, never as 0). */
export type UsageTotals = {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** The priced models' money; null when none of its models has a price. */
  usd: number | null;
  /** Models in it with no price (their tokens are counted, their money is not). */
  unpriced_models?: readonly string[];
  /** The model of its latest usage, if known. */
  model: string | null;
};

/** Usage per agent address since a time: what the costs module reads from the agent CLIs' records. */
export type UsageSource = (sinceIso: string) => Promise<ReadonlyMap<string, UsageTotals>>;

export type NeedKind = 'problem' | 'escalation' | 'agent' | 'mail';

/** Something a person should look at, most severe and oldest first. */
export type Need = {
  kind: NeedKind;
  /** The problem's number, the escalation's or mail's bead id, or the agent's address. */
  id: string;
  severity: Severity;
  /** What it is about: an agent address, a bead, a rig. */
  subject: string;
  summary: string;
  since: string;
  /** The problem's state (open, handling, escalated) or the agent's derived state. */
  state: string;
  /** Who is on it: the patrol agent that owns the problem, or null when only a person can act. */
  owner: string | null;
  /** The agent to act on from here (attach, peek, nudge, restart), when there is one. */
  agent: string | null;
};

export type AgentRow = {
  address: string;
  role: AgentView['role'];
  rig: string | null;
  session: string;
  state: DerivedState;
  /** Since when it is in that state, as far as the record or this viewer saw; null when unknown. */
  since: string | null;
  cli: string;
  model: string | null;
  bead: { id: string; title: string; status: string } | null;
  branch: string | null;
  /** When it last did anything that shows: its pane moving, or progress on its work. */
  activity: string | null;
  question: string | null;
  tokens: number | null;
  usage: UsageTotals | null;
};

export type QueueView = {
  rig: string;
  stats: QueueStats;
  rows: Pick<QueueRow, 'id' | 'title' | 'source' | 'state' | 'cause' | 'position' | 'age_ms' | 'attempts'>[];
};

export type ConvoyRow = Pick<ConvoyView, 'id' | 'name' | 'status' | 'owner' | 'request' | 'landed_at' | 'progress'> & {
  beads: { id: string; title: string; state: string; assignee: string | null }[];
};

export type TownView = {
  at: string;
  town: { name: string; root: string };
  /** Set when the view is of one rig. */
  rig: string | null;
  rigs: { name: string; prefix: string; default_branch: string }[];
  daemon: { running: boolean; pid: number | null };
  /** gt down is in force: nothing starts until gt up. */
  down: boolean;
  needs: Need[];
  agents: AgentRow[];
  work: { open: number; ready: number; in_progress: number; hooked: number; blocked: number };
  queue: QueueView[];
  convoys: ConvoyRow[];
  landed: MergedToday;
  /** Today's usage, town-wide (null without a usage source). */
  costs: { since: string; totals: UsageTotals; agents: number } | null;
  /** The newest events, oldest first; `cursor` is the last one's id (follow with eventsAfter). */
  events: FeedEvent[];
  cursor: number;
};

export type ViewOptions = {
  /** Only this rig's agents, queue and needs (town-wide needs stay). */
  rig?: string;
  /** How many of the newest events (default 40; 0: none). */
  events?: number;
  /** A watcher's memory of panes (no re-capture of a pane that has not moved). */
  watch?: PaneWatch;
  /** A watcher's memory of since when each agent has been in its state. */
  states?: StateMemory;
  usage?: UsageSource;
};

/**
 * Since when a watcher has seen each agent in its current state (in memory only). At first sight that is what
 * the record says, or unknown (null) where it says nothing: a watcher opened a minute ago does not claim that an
 * agent stopped a minute ago. A change it sees happen starts the clock then.
 */
export class StateMemory {
  readonly #seen = new Map<string, { state: string; sinceMs: number | null }>();

  since(address: string, state: string, recordMs: number | null, nowMs: number): number | null {
    const before = this.#seen.get(address);
    if (before !== undefined && before.state === state) return before.sinceMs;
    const sinceMs = before === undefined ? (recordMs === null ? null : Math.min(recordMs, nowMs)) : nowMs;
    this.#seen.set(address, { state, sinceMs });
    return sinceMs;
  }

  keepOnly(addresses: ReadonlySet<string>): void {
    for (const a of this.#seen.keys()) if (!addresses.has(a)) this.#seen.delete(a);
  }
}

const ms = (iso: string | null | undefined): number | null => {
  if (iso === null || iso === undefined) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
};

/** What the record says about since when an agent is in its state (a first look; a watcher refines it). */
function recordedSince(a: AgentView): number | null {
  switch (a.state) {
    case 'working':
      return ms(a.last_progress) ?? ms(a.open_session?.started_at);
    case 'stalled':
      return ms(a.last_progress) ?? ms(a.hook?.updated_at);
    case 'needs-input':
      return ms(a.pane_moved_at);
    case 'idle':
      return ms(a.open_session?.started_at);
    case 'dead-with-work':
      return ms(a.hook?.updated_at);
    case 'stopped':
    case 'zombie':
    case 'stuck':
      return null;
  }
}

const SEVERITY_RANK = (s: Severity): number => SEVERITIES.indexOf(s);

/** Most severe first, then the oldest. */
export function compareNeeds(a: Need, b: Need): number {
  return (
    SEVERITY_RANK(a.severity) - SEVERITY_RANK(b.severity) || a.since.localeCompare(b.since) || a.id.localeCompare(b.id)
  );
}

/** Agent states that need someone, with how badly, when no problem of the patrol covers the agent already. */
const AGENT_NEEDS: Partial<Record<DerivedState, Severity>> = {
  'needs-input': 'high',
  stuck: 'high',
  'dead-with-work': 'medium',
  stalled: 'medium',
  zombie: 'low',
};

const MAIL_SEVERITY: Record<string, Severity> = { urgent: 'high', high: 'medium', normal: 'low', low: 'low' };

const zero = (): UsageTotals => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  usd: null,
  unpriced_models: [],
  model: null,
});

/** Adds b into a: money is the priced parts' (null only while no part has a price), and the unpriced are named. */
export function addUsage(a: UsageTotals, b: UsageTotals): UsageTotals {
  const unpriced = [...new Set([...(a.unpriced_models ?? []), ...(b.unpriced_models ?? [])])];
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    cache_read_tokens: a.cache_read_tokens + b.cache_read_tokens,
    cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
    usd: a.usd === null && b.usd === null ? null : (a.usd ?? 0) + (b.usd ?? 0),
    unpriced_models: unpriced,
    model: b.model ?? a.model,
  };
}

export const totalTokens = (u: UsageTotals): number =>
  u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens;

const EVENT_BEAD_ID = /^[a-z][a-z0-9]*-[A-Za-z0-9.-]+$/u;

/** Events as the stream shows them: the news among the store's events, their beads looked up in one read. */
export async function feedEvents(store: TownStore, events: readonly BeadEvent[]): Promise<FeedEvent[]> {
  const ids = [...new Set(events.map((e) => e.issue_id).filter((id) => EVENT_BEAD_ID.test(id) && !id.includes('/')))];
  const beads = new Map<string, EventBead>();
  for (const b of await showExisting(store, ids)) beads.set(b.id, { issue_type: b.issue_type, title: b.title });
  return events.filter((e) => isNews(e, beads)).map((e) => describeEvent(e, beads));
}

/** The events after a cursor (a follower's next read), as the stream shows them, and the new cursor. */
export async function eventsAfter(
  store: TownStore,
  cursor: number,
  limit = 500,
): Promise<{ events: FeedEvent[]; cursor: number }> {
  const raw = await store.events({ after: cursor, limit });
  return { events: await feedEvents(store, raw), cursor: raw.at(-1)?.event_id ?? cursor };
}

function convoyRow(c: ConvoyView): ConvoyRow {
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    owner: c.owner,
    request: c.request,
    landed_at: c.landed_at,
    progress: c.progress,
    beads: c.beads.map((b) => ({ id: b.id, title: b.title, state: b.state, assignee: b.assignee })),
  };
}

/** The town now, as every view shows it. */
export async function buildTownView(ctx: ViewContext, options: ViewOptions = {}): Promise<TownView> {
  const nowMs = ctx.now();
  const today = startOfLocalDay(nowMs);
  const todayIso = new Date(today).toISOString();
  const rigFilter = options.rig;
  if (rigFilter !== undefined) await ctx.store.rig(rigFilter);
  const [snap, agents, hold, problems, escalations, mail, usage, raw] = await Promise.all([
    observe(ctx, { watch: options.watch }),
    ctx.store.agents({}),
    ctx.store.townHold(),
    ctx.store.problems({ states: LIVE_PROBLEM_STATES }),
    listEscalations(ctx),
    inbox(ctx.store, OVERSEER),
    options.usage === undefined ? Promise.resolve(undefined) : options.usage(todayIso),
    (options.events ?? 40) <= 0 ? Promise.resolve([]) : ctx.store.events({ newest: true, limit: options.events ?? 40 }),
  ]);
  const inRig = (rig: string | null): boolean => rigFilter === undefined || rig === rigFilter;
  const byAddress = new Map<string, Agent>(agents.map((a) => [a.address, a]));
  const shown = snap.agents.filter((a) => inRig(a.rig));
  options.states?.keepOnly(new Set(snap.agents.map((a) => a.address)));
  const rows: AgentRow[] = shown.map((a) => {
    const since =
      options.states === undefined
        ? recordedSince(a)
        : options.states.since(a.address, a.state, recordedSince(a), nowMs);
    const u = usage?.get(a.address) ?? null;
    return {
      address: a.address,
      role: a.role,
      rig: a.rig,
      session: a.session,
      state: a.state,
      since: since === null ? null : new Date(since).toISOString(),
      cli: a.agent_cli,
      model: u?.model ?? null,
      bead: a.hook === null ? null : { id: a.hook.id, title: a.hook.title, status: a.hook.status },
      branch: byAddress.get(a.address)?.branch ?? null,
      activity:
        [a.pane_moved_at, a.last_progress]
          .filter((x): x is string => x !== null)
          .sort()
          .at(-1) ?? null,
      question: a.question,
      tokens: u === null ? null : totalTokens(u),
      usage: u,
    };
  });

  // What needs a person: the patrol's live problems, open escalations, agents in a state that wants someone
  // (unless a problem covers them already), and the overseer's unread mail.
  const needs: Need[] = [];
  const covered = new Set<string>();
  for (const p of problems) {
    if (!inRig(p.rig)) continue;
    covered.add(p.subject);
    needs.push({
      kind: 'problem',
      id: `#${p.id}`,
      severity: PROBLEM_SEVERITY[p.kind],
      subject: p.subject,
      summary: `${p.kind}: ${p.summary}`,
      since: p.first_seen,
      state: p.state,
      owner: p.owner,
      agent: p.subject_type === 'agent' ? p.subject : null,
    });
  }
  for (const e of escalations) {
    if (e.status !== 'open') continue;
    needs.push({
      kind: 'escalation',
      id: e.id,
      severity: e.severity,
      subject: e.related ?? e.source,
      summary: `${e.title}${e.acknowledged_at === null ? '' : ` (acknowledged by ${e.acknowledged_by ?? '?'})`}`,
      since: e.created_at,
      state: e.acknowledged_at === null ? 'open' : 'acknowledged',
      owner: null,
      agent: byAddress.has(e.source) ? e.source : null,
    });
  }
  for (const r of rows) {
    const severity = AGENT_NEEDS[r.state];
    if (severity === undefined || covered.has(r.address)) continue;
    needs.push({
      kind: 'agent',
      id: r.address,
      severity,
      subject: r.address,
      summary: r.question ?? `${r.state}${r.bead === null ? '' : ` on ${r.bead.id}`}`,
      since: r.since ?? new Date(nowMs).toISOString(),
      state: r.state,
      owner: null,
      agent: r.address,
    });
  }
  // An escalation's own notice to the overseer is that escalation, listed once.
  const escalated = new Set(escalations.map((e) => e.id));
  for (const m of mail) {
    if (m.read || m.archived) continue;
    if (escalated.has(/^Escalation (\S+) /u.exec(m.subject)?.[1] ?? '')) continue;
    needs.push({
      kind: 'mail',
      id: m.id,
      severity: MAIL_SEVERITY[m.priority] ?? 'low',
      subject: m.from,
      summary: m.subject,
      since: m.sent_at,
      state: 'unread',
      owner: null,
      agent: null,
    });
  }
  needs.sort(compareNeeds);

  const rigs = snap.rigs.filter((r) => inRig(r.name));
  const queue = await Promise.all(
    rigs.map(async (r): Promise<QueueView> => {
      const boost = (() => {
        try {
          return loadRigSettings(ctx.town.root, r.name).refinery.age_boost_per_hour;
        } catch {
          return 1;
        }
      })();
      const [stats, open] = await Promise.all([
        readQueueStats(ctx.store, r.name, { nowMs, windowMs: nowMs - today }),
        mergeRequests(ctx.store, r.name, false),
      ]);
      return {
        rig: r.name,
        stats,
        rows: queueRows(open, { nowMs, ageBoostPerHour: boost }).map((q) => ({
          id: q.id,
          title: q.title,
          source: q.source,
          state: q.state,
          cause: q.cause,
          position: q.position,
          age_ms: q.age_ms,
          attempts: q.attempts,
        })),
      };
    }),
  );

  // Open convoys, and those that landed today.
  const convoys = (
    await listConvoys(ctx, {
      closedSinceMs: today,
      where: (c) => c.status === 'open' || (c.landedAt !== null && Date.parse(c.landedAt) >= today),
    })
  ).map(convoyRow);

  const landed = await mergedToday(ctx.store, today, 20);
  const events = await feedEvents(ctx.store, raw);
  let costs: TownView['costs'] = null;
  if (usage !== undefined) {
    let totals = zero();
    for (const u of usage.values()) totals = addUsage(totals, u);
    costs = { since: todayIso, totals, agents: usage.size };
  }
  const pid = daemonPid(ctx.town) ?? null;
  return {
    at: new Date(nowMs).toISOString(),
    town: { name: snap.town.name, root: snap.town.root },
    rig: rigFilter ?? null,
    rigs,
    daemon: { running: pid !== null, pid },
    down: hold !== null,
    needs,
    agents: rows,
    work: snap.work,
    queue,
    convoys,
    landed,
    costs,
    events,
    cursor: raw.at(-1)?.event_id ?? 0,
  };
}
