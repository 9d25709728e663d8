import type { AgentModelTokens } from '../core/costs.js';
import { NON_WORK_TYPES, type BeadEvent } from '../core/bead.js';
import {
  ATTR,
  holdersOf,
  isClosed,
  mergeOutcomes,
  mergeRequestsOf,
  pathEnd,
  planBeadTrace,
  type BeadPath,
  type MergeRequestPath,
} from '../core/bead-trace.js';
import { DERIVED_STATES } from '../core/derive.js';
import { errorMessage } from '../core/errors.js';
import { parseAddress } from '../core/identity.js';
import type { TownStore } from '../core/town-store.js';
import { loggableUrl, telemetryConfig, type TelemetryConfig } from './config.js';
import { startOtel, type Meter, type Otel } from './otel.js';

/**
 * The daemon's OpenTelemetry export. Opt-in by the standard OTEL_* variables (config.ts): without them
 * `startTelemetry` returns undefined at once and nothing of OpenTelemetry is loaded.
 *
 * Traces come from what the store records, not from the short-lived gt processes that did the work: the daemon
 * follows the events table, and when a bead's path ends (the bead closed, its merge requests closed) it reads
 * that bead's events, its holders' and its requests', and exports the path as one trace (core/bead-trace.ts).
 * Only paths that end while this daemon runs are exported, each once, so a restarted daemon sends no old trace
 * again. Metrics: agents by state (from the daemon's own look at the town), merges and their queue wait (from
 * the events), restarts and problems (from the daemon's passes), tokens (fed by the cost readers).
 */

declare const __GT_VERSION__: string | undefined;
const VERSION: string = typeof __GT_VERSION__ === 'string' ? __GT_VERSION__ : 'dev';

/** What the gauge of agents needs of each agent the daemon observed. */
export type AgentSample = { state: string; role: string; rig: string | null };

/** What one daemon pass did that the metrics count. */
export type PassFacts = {
  agents: readonly AgentSample[];
  /** Addresses of the agents the pass restarted. */
  restarts: readonly string[];
  /** Kinds of the problems the pass opened. */
  problemsOpened: readonly string[];
};

export type Telemetry = {
  afterPass(facts: PassFacts): void;
  /** Adds token usage (each agent on each model since the last report; raw counts) to the `gt.tokens` counter. */
  recordTokens(usage: readonly AgentModelTokens[]): void;
  /** Follows the events now, as the timer does every `followMs` (never two at once). */
  follow(): Promise<void>;
  /** Follows the events once more, exports what ended, flushes; bounded by the stop budget. */
  stop(): Promise<void>;
};

export type TelemetryDeps = {
  store: TownStore;
  /** The town's name, a resource attribute (`gt.town`) beside the service's. */
  town: string;
  env: Readonly<Record<string, string | undefined>>;
  now: () => number;
  log: (entry: Record<string, unknown>) => void;
};

export type TelemetryOptions = {
  /** How often the events are followed (default 5 s). */
  followMs?: number;
  /** How long a closed bead waits for its merge requests to close before its trace goes anyway (default 10 min). */
  graceMs?: number;
  /** The most stop may take, following and flushing (default 3 s). */
  stopBudgetMs?: number;
  /** The most beads kept waiting for their merge requests (default 1000); past it a closed bead goes at once. */
  maxWaiting?: number;
};

/** Metric names. `gastown.*` where Gas Town has one (so its dashboards work), `gt.*` otherwise. */
export const METRICS = {
  agents: 'gt.agents',
  merges: 'gt.merges',
  queueWait: 'gt.merge_queue.wait',
  restarts: 'gastown.daemon.agent_restarts.total',
  problems: 'gt.problems.opened',
  tokens: 'gt.tokens',
} as const;

const PAGE = 500;
const MAX_PAGES_PER_FOLLOW = 20;
const MAX_WAITING = 1000;
const NOT_WORK: ReadonlySet<string> = new Set(NON_WORK_TYPES);
const MAX_REMEMBERED = 10_000;

/**
 * The store's events after `cursor`, oldest first, at most `limit`. The one place telemetry reads the events
 * table: a follower's cursor over ids that only grow.
 */
export async function readEventsAfter(store: TownStore, cursor: number, limit: number): Promise<BeadEvent[]> {
  return store.events({ after: cursor, limit });
}

/** Starts export when the environment asks for it; undefined (nothing loaded, nothing running) otherwise. */
export async function startTelemetry(
  deps: TelemetryDeps,
  options: TelemetryOptions = {},
): Promise<Telemetry | undefined> {
  const config = telemetryConfig(deps.env);
  if (config === null) return undefined;
  for (const note of config.notes) deps.log({ event: 'telemetry-note', message: note });
  if (config.traces === null && config.metrics === null) return undefined;
  let otel: Otel;
  try {
    otel = startOtel(
      { ...config, resource: { 'gt.town': deps.town, ...config.resource } },
      { version: VERSION, log: deps.log },
    );
  } catch (err) {
    deps.log({ event: 'telemetry-error', signal: 'all', kind: 'start', message: errorMessage(err) });
    return undefined;
  }
  // Only what happens from now on: the newest event at start is where the follower begins.
  const newest = await deps.store.events({ newest: true, limit: 1 });
  const t = new TownTelemetry(deps, otel, newest[0]?.event_id ?? 0, options);
  deps.log({ event: 'telemetry', ...describe(config) });
  return t;
}

function describe(config: TelemetryConfig): Record<string, unknown> {
  return {
    service: config.resource['service.name'],
    traces:
      config.traces === null ? null : { endpoint: loggableUrl(config.traces.url), protocol: config.traces.protocol },
    metrics:
      config.metrics === null
        ? null
        : {
            endpoint: loggableUrl(config.metrics.url),
            protocol: config.metrics.protocol,
            interval_ms: config.metrics.intervalMs,
          },
  };
}

function rigAndRole(address: string): { role: string; rig: string | null } {
  try {
    const id = parseAddress(address);
    return { role: id.role, rig: 'rig' in id ? id.rig : null };
  } catch {
    return { role: 'unknown', rig: null };
  }
}

type Instruments = {
  merges: ReturnType<Meter['createCounter']>;
  queueWait: ReturnType<Meter['createHistogram']>;
  restarts: ReturnType<Meter['createCounter']>;
  problems: ReturnType<Meter['createCounter']>;
  tokens: ReturnType<Meter['createCounter']>;
};

type Waiting = { since: number; requests: readonly string[] };

/** What looking at one bead's path came to; 'stopped' when stop's deadline passed before it was done. */
type PathOutcome = { kind: 'sent' | 'none' | 'stopped' } | { kind: 'waiting'; requests: readonly string[] };

class TownTelemetry implements Telemetry {
  readonly #deps: TelemetryDeps;
  readonly #otel: Otel;
  readonly #graceMs: number;
  readonly #stopBudgetMs: number;
  readonly #timer: NodeJS.Timeout;
  readonly #instruments: Instruments | null;
  #cursor: number;
  #agents: readonly AgentSample[] = [];
  /**
   * Work beads whose path ended while a merge request of theirs is still open. None is read again until an
   * event of the bead or of one of those requests is followed, or its grace runs out.
   */
  readonly #waiting = new Map<string, Waiting>();
  /** The open requests the waiting beads wait for: request → bead. */
  readonly #byRequest = new Map<string, string>();
  readonly #maxWaiting: number;
  /** Paths exported: `bead@closing event id`, oldest first. */
  readonly #exported = new Set<string>();
  #following: Promise<void> | null = null;
  #stopped = false;
  /** When stop's follow must give up (its reads go through microtasks, so no timer could cut them short). */
  #deadline = Infinity;
  readonly #failed = new Set<string>();

  constructor(deps: TelemetryDeps, otel: Otel, cursor: number, options: TelemetryOptions) {
    this.#deps = deps;
    this.#otel = otel;
    this.#cursor = cursor;
    this.#graceMs = options.graceMs ?? 600_000;
    this.#stopBudgetMs = options.stopBudgetMs ?? 3_000;
    this.#maxWaiting = options.maxWaiting ?? MAX_WAITING;
    this.#instruments = otel.meter === null ? null : this.#instrument(otel.meter);
    this.#timer = setInterval(() => void this.#follow(), options.followMs ?? 5_000);
    // The daemon's own loop keeps the process alive; this never does.
    this.#timer.unref();
  }

  #instrument(meter: Meter): Instruments {
    meter
      .createObservableGauge(METRICS.agents, {
        description: 'Agents by derived state (as the daemon last observed them)',
        unit: '{agent}',
      })
      .addCallback((result) => {
        // Every state of each role and rig seen, zero where none: a state emptied reads 0, not stale.
        const counts = new Map<string, { role: string; rig: string | null; n: Map<string, number> }>();
        for (const a of this.#agents) {
          const key = `${a.role}\u0000${a.rig ?? ''}`;
          const group = counts.get(key) ?? { role: a.role, rig: a.rig, n: new Map<string, number>() };
          group.n.set(a.state, (group.n.get(a.state) ?? 0) + 1);
          counts.set(key, group);
        }
        for (const g of counts.values())
          for (const state of DERIVED_STATES)
            result.observe(g.n.get(state) ?? 0, {
              'gt.state': state,
              'gt.role': g.role,
              ...(g.rig === null ? {} : { [ATTR.rig]: g.rig }),
            });
      });
    return {
      merges: meter.createCounter(METRICS.merges, {
        description: 'Merge attempts that ended, by outcome (landed, returned, escalated, rejected)',
        unit: '{merge}',
      }),
      queueWait: meter.createHistogram(METRICS.queueWait, {
        description: 'Time from entering the merge queue to landing',
        unit: 's',
        advice: { explicitBucketBoundaries: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14_400] },
      }),
      restarts: meter.createCounter(METRICS.restarts, {
        description: 'Agent sessions the daemon restarted',
        unit: '{restart}',
      }),
      problems: meter.createCounter(METRICS.problems, { description: 'Problems opened, by kind', unit: '{problem}' }),
      tokens: meter.createCounter(METRICS.tokens, {
        description: 'Tokens used, by agent, model and type (input, output, cache_read, cache_write)',
        unit: '{token}',
      }),
    };
  }

  afterPass(facts: PassFacts): void {
    this.#agents = facts.agents;
    const m = this.#instruments;
    if (m === null) return;
    for (const address of facts.restarts) {
      const { role, rig } = rigAndRole(address);
      m.restarts.add(1, { [ATTR.agent]: address, 'gt.role': role, ...(rig === null ? {} : { [ATTR.rig]: rig }) });
    }
    for (const kind of facts.problemsOpened) m.problems.add(1, { 'gt.kind': kind });
  }

  recordTokens(usage: readonly AgentModelTokens[]): void {
    const m = this.#instruments;
    if (m === null) return;
    for (const u of usage) {
      const base = { [ATTR.agent]: u.agent, 'gt.model': u.model };
      const add = (n: number, type: string): void => {
        if (Number.isFinite(n) && n > 0) m.tokens.add(n, { ...base, 'gt.token.type': type });
      };
      add(u.input_tokens, 'input');
      add(u.output_tokens, 'output');
      add(u.cache_read_tokens, 'cache_read');
      add(u.cache_write_tokens, 'cache_write');
    }
  }

  follow(): Promise<void> {
    return this.#stopped ? Promise.resolve() : this.#follow();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    const started = this.#deps.now();
    // What ended since the last look goes out now; so do the paths still waiting for a request to close (a
    // later daemon would not send them), as far as half the budget allows: the follow checks the deadline
    // between reads and leaves the rest. (The timer only matters for a store that answers asynchronously.)
    this.#deadline = started + this.#stopBudgetMs / 2;
    await Promise.race([
      this.#follow(true).catch(() => undefined),
      new Promise((r) => setTimeout(r, this.#stopBudgetMs / 2).unref()),
    ]);
    const left = Math.max(500, this.#stopBudgetMs - (this.#deps.now() - started));
    await this.#otel.shutdown(left);
  }

  /** One look at the new events (never two at once); failures are logged once per kind, never thrown. */
  #follow(final = false): Promise<void> {
    if (this.#following !== null) return final ? this.#following.then(() => this.#follow(true)) : this.#following;
    this.#following = this.#followOnce(final)
      .catch((err: unknown) => this.#fail('follow', err))
      .finally(() => {
        this.#following = null;
      });
    return this.#following;
  }

  #fail(kind: string, err: unknown): void {
    this.#once(kind, `${errorMessage(err)} (said once)`);
  }

  #once(kind: string, message: string): void {
    if (this.#failed.has(kind)) return;
    this.#failed.add(kind);
    this.#deps.log({ event: 'telemetry-error', signal: 'traces', kind, message });
  }

  #pastDeadline(): boolean {
    return this.#deps.now() >= this.#deadline;
  }

  async #followOnce(final: boolean): Promise<void> {
    // The beads to look at in this follow: closed work beads, and waiting beads whose events or whose
    // requests' events came by (a request closed, the bead reopened or given another request).
    const due = new Set<string>();
    for (let page = 0; page < MAX_PAGES_PER_FOLLOW; page++) {
      if (this.#pastDeadline()) return;
      const events = await readEventsAfter(this.#deps.store, this.#cursor, PAGE);
      if (events.length === 0) break;
      this.#cursor = events[events.length - 1]?.event_id ?? this.#cursor;
      await this.#countMerges(events);
      const closed = new Set<string>();
      for (const e of events) {
        const waiting = this.#waiting.has(e.issue_id) ? e.issue_id : this.#byRequest.get(e.issue_id);
        if (waiting !== undefined) due.add(waiting);
        else if (e.event_type === 'closed' && !due.has(e.issue_id)) closed.add(e.issue_id);
      }
      for (const bead of await this.#workBeads([...closed])) due.add(bead);
      if (events.length < PAGE) break;
    }
    const now = this.#deps.now();
    const expired = (bead: string): boolean => {
      const w = this.#waiting.get(bead);
      return w !== undefined && now - w.since >= this.#graceMs;
    };
    for (const bead of this.#waiting.keys()) if (final || expired(bead)) due.add(bead);
    for (const bead of due) {
      if (this.#pastDeadline()) return;
      // Past the most kept waiting, a newly closed bead goes at once, its open requests shown as open.
      const full = !this.#waiting.has(bead) && this.#waiting.size >= this.#maxWaiting;
      if (full)
        this.#once(
          'waiting-full',
          `${this.#waiting.size} beads wait for their merge requests to close, the most kept; ` +
            'beads closed from now on are exported without waiting for theirs (said once)',
        );
      let outcome: PathOutcome;
      try {
        outcome = await this.#exportPath(bead, final || full || expired(bead));
      } catch (err) {
        this.#forget(bead);
        this.#fail('read-path', err);
        continue;
      }
      if (outcome.kind === 'stopped') return;
      if (outcome.kind === 'waiting') this.#wait(bead, outcome.requests, now);
      else this.#forget(bead);
    }
  }

  /** Of these closed beads, the ones of work types (not mail, requests, convoys, escalations, steps…). */
  async #workBeads(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const store = this.#deps.store;
    // One read for the page; a bead deleted since fails the batch, so then each alone.
    const beads = await store
      .show(ids)
      .catch(async () => (await Promise.all(ids.map((id) => store.show([id]).catch(() => [])))).flat());
    return beads.filter((b) => !NOT_WORK.has(b.issue_type)).map((b) => b.id);
  }

  #wait(bead: string, requests: readonly string[], now: number): void {
    const before = this.#waiting.get(bead);
    for (const r of before?.requests ?? []) this.#byRequest.delete(r);
    this.#waiting.set(bead, { since: before?.since ?? now, requests });
    for (const r of requests) this.#byRequest.set(r, bead);
  }

  #forget(bead: string): void {
    for (const r of this.#waiting.get(bead)?.requests ?? []) this.#byRequest.delete(r);
    this.#waiting.delete(bead);
  }

  async #countMerges(events: readonly BeadEvent[]): Promise<void> {
    const m = this.#instruments;
    if (m === null) return;
    for (const o of mergeOutcomes(events)) {
      const rig = o.rig === null ? {} : { [ATTR.rig]: o.rig };
      m.merges.add(1, { [ATTR.outcome]: o.outcome, ...rig });
      if (o.outcome !== 'landed') continue;
      let enqueued = o.enqueuedMs;
      if (enqueued === null) {
        const [bead] = await this.#deps.store.show([o.mergeRequest]).catch(() => []);
        enqueued = bead === undefined ? null : Date.parse(bead.created_at);
      }
      if (enqueued !== null && !Number.isNaN(enqueued) && o.atMs >= enqueued)
        m.queueWait.record((o.atMs - enqueued) / 1000, rig);
    }
  }

  /**
   * Exports the bead's path if it ended: 'sent'; 'none' (not a path, reopened, or sent before); 'waiting' with
   * the requests still open (unless `force`); 'stopped' when stop's deadline passed between its reads.
   */
  async #exportPath(bead: string, force: boolean): Promise<PathOutcome> {
    const store = this.#deps.store;
    const events = await store.events({ issueId: bead, limit: 0 });
    const end = pathEnd(events);
    const firstHook = events.find((e) => e.event_type === 'hooked');
    if (end === undefined || firstHook === undefined) return { kind: 'none' };
    const key = `${bead}@${end.event_id}`;
    if (this.#exported.has(key)) return { kind: 'none' };
    const mergeRequests: MergeRequestPath[] = [];
    for (const id of mergeRequestsOf(events)) {
      if (this.#pastDeadline()) return { kind: 'stopped' };
      mergeRequests.push({ id, events: await store.events({ issueId: id, limit: 0 }) });
    }
    const open = mergeRequests.filter((r) => !isClosed(r.events)).map((r) => r.id);
    if (!force && open.length > 0) return { kind: 'waiting', requests: open };
    const holders = holdersOf(events);
    const agentEvents: BeadEvent[] = [];
    const sessions: BeadPath['sessions'][number][] = [];
    for (const address of holders) {
      if (this.#pastDeadline()) return { kind: 'stopped' };
      agentEvents.push(...(await store.events({ issueId: address, after: firstHook.event_id, limit: 0 })));
      // (An agent removed since has no sessions left to show.)
      sessions.push(...(await store.sessions(address, 50).catch(() => [])));
    }
    const plan = planBeadTrace({ bead, events, agentEvents, sessions, mergeRequests });
    if (plan === undefined) return { kind: 'none' };
    this.#otel.emitTrace(plan);
    this.#exported.add(key);
    if (this.#exported.size > MAX_REMEMBERED) {
      const oldest = this.#exported.values().next();
      if (oldest.done !== true) this.#exported.delete(oldest.value);
    }
    return { kind: 'sent' };
  }
}
