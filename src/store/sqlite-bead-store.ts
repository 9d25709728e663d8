import type { Bead, BeadDetails, BeadEvent, Comment, Dependency } from '../core/bead.js';
import { beadWith, NON_WORK_TYPES } from '../core/bead.js';
import type {
  BeadSummary,
  BlockedBead,
  BlockedFilter,
  CloseOptions,
  CloseReport,
  CreateInput,
  DeleteOptions,
  DeleteReport,
  DependencyChange,
  DependencyView,
  Direction,
  EventFilter,
  ExportOptions,
  ExportResult,
  ImportReport,
  LabelChange,
  LabelCount,
  ListFilter,
  ReadyFilter,
  StaleFilter,
  Stats,
  StoreHealth,
  TreeNode,
  UpdateChanges,
} from '../core/bead-store.js';
import type {
  Agent,
  AgentChanges,
  AgentSession,
  HookOptions,
  QueuedNudge,
  QueueNudgeInput,
  RegisterAgentInput,
  SessionEndReason,
  StartSessionInput,
  TownHold,
} from '../core/agent-store.js';
import type { Clock } from '../core/clock.js';
import { agentAddress, type Role } from '../core/identity.js';
import type { Rig } from '../core/rig-registry.js';
import { AgentRepo } from './agent-repo.js';
import { AtCapacityError, ConflictError, ValidationError } from '../core/errors.js';
import { countBusy, freeSlots, fullBecause, type PolecatLimits } from '../core/scheduler.js';
import type { QueuedSling, QueueSlingInput, SchedulerPause } from '../core/sling-queue.js';
import { SlingQueueRepo } from './sling-queue-repo.js';
import type {
  DecisionInput,
  PatrolDecision,
  Problem,
  ProblemDraft,
  ProblemKind,
  ProblemQuery,
} from '../core/problem.js';
import { ProblemRepo } from './problem-repo.js';
import type { UsageEntry, UsageGroup } from '../core/costs.js';
import type { UsageFilter, UsageSource, UsageSourceInput, UsageSourceRead } from '../core/usage-store.js';
import { UsageRepo } from './usage-repo.js';
import { notFound } from './not-found.js';
import { settle } from '../core/promise.js';
import { formatTimestamp, normalizeTimestamp } from '../core/time.js';
import { staleBefore } from '../core/bead-dates.js';
import {
  cachedStatement,
  closeDatabase,
  databaseHealth,
  openDatabase,
  storeError,
  writeTransaction,
  changeMark,
  type Db,
  type OpenOptions,
  type Statement,
} from './db.js';
import { parseLedger, serializeRecord } from './jsonl.js';
import * as q from './queries.js';
import { toBead, toComment, toDependency, toEvent, toIntValue, toStringValue } from './rows.js';
import { StoreWriter, type WriterReads } from './store-writer.js';
import type { TownStore } from '../core/town-store.js';

export const systemClock: Clock = { nowMs: () => Date.now() };

export type SqliteStoreOptions = OpenOptions & { clock?: Clock };

/** Opens the store at `path` (a `.beads/beads.db` file, or `:memory:`). */
export function openSqliteBeadStore(path: string, options: SqliteStoreOptions = {}): SqliteBeadStore {
  const db = openDatabase(path, options);
  return new SqliteBeadStore(db, options.clock ?? systemClock, path);
}

/** Default limits, as beads has them. */
export const DEFAULT_LIST_LIMIT = 50;
export const DEFAULT_READY_LIMIT = 100;

/**
 * The store over SQLite: beads (BeadStore) and agents (AgentStore) in one database. Reads are plain
 * statements; every write is one immediate transaction.
 */
export class SqliteBeadStore implements TownStore, WriterReads {
  readonly #db: Db;
  readonly #clock: Clock;
  #lastMs = 0;
  /** The database file, for saying which one is damaged. */
  readonly #path: string;
  readonly #writer: StoreWriter;
  readonly #agents: AgentRepo;
  readonly #slings: SlingQueueRepo;
  readonly #problems: ProblemRepo;
  readonly #usage: UsageRepo;

  constructor(db: Db, clock: Clock, path = ':memory:') {
    this.#db = db;
    this.#clock = clock;
    this.#path = path;
    this.#writer = new StoreWriter(
      this,
      () => this.#now(),
      () => this.#nowNs(),
    );
    this.#agents = new AgentRepo(
      db,
      () => this.#now(),
      () => `s-${this.#clock.nowMs().toString(36)}-${Math.random().toString(36).slice(2, 10)}`,
    );
    this.#slings = new SlingQueueRepo(
      db,
      () => this.#now(),
      (subject, type, actor, field, old, value) => this.#agents.bookEvent(subject, type, actor, field, old, value),
    );
    this.#usage = new UsageRepo(db, () => this.#now());
    this.#problems = new ProblemRepo(
      db,
      () => this.#clock.nowMs(),
      (subject, type, actor, field, old, value) => this.#agents.bookEvent(subject, type, actor, field, old, value),
    );
  }

  get prefix(): string {
    return this.configValue('issue_prefix') ?? 'bd';
  }

  /** Sets the id prefix; `init` uses it before anything else can run. */
  setPrefixSync(prefix: string): void {
    writeTransaction(this.#db, () => this.#writer.setConfig('issue_prefix', prefix, ''));
  }

  /** Every operation behind the port: a damaged file is said to be one (DamagedStoreError), not a bug. */
  #settle<T>(fn: () => T): Promise<T> {
    return settle(() => {
      try {
        return fn();
      } catch (err) {
        throw storeError(err, this.#path);
      }
    });
  }

  dispose(): void {
    closeDatabase(this.#db);
  }

  #now(): string {
    // Strictly increasing within this connection: two writes in one millisecond still sort in the order they
    // were made (a convoy's beads in the order given, two mails from one sender in the order sent).
    const ms = Math.max(this.#clock.nowMs(), this.#lastMs + 1);
    this.#lastMs = ms;
    return formatTimestamp(ms);
  }

  #nowNs(): bigint {
    // Sub-millisecond jitter: two creates in the same millisecond still hash differently.
    return BigInt(this.#clock.nowMs()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
  }

  /** Prepared statements are cached: a CLI call prepares each query once, the daemon reuses them forever. */
  stmt(sql: string): Statement {
    return cachedStatement(this.#db, sql);
  }

  // ------------------------------------------------------------------------------------------------------
  // Reads (synchronous helpers are used by the writer inside its transactions)

  configValue(key: string): string | undefined {
    const row: unknown = this.stmt('SELECT value FROM config WHERE key = ?').get(key);
    return row === undefined ? undefined : toStringValue(row, 'value');
  }

  getBead(id: string): Bead | undefined {
    const row: unknown = this.stmt(q.GET_BEAD_SQL).get(id);
    return row === undefined ? undefined : toBead(row);
  }

  requireBead(id: string): Bead {
    const bead = this.getBead(id);
    if (bead === undefined) throw notFound([id]);
    return bead;
  }

  beadsByIds(ids: readonly string[]): Bead[] {
    const rows = this.stmt(q.BEADS_BY_IDS_SQL).all(JSON.stringify(ids));
    const byId = new Map(rows.map((r) => toBead(r)).map((b) => [b.id, b]));
    const missing = ids.filter((id) => !byId.has(id));
    if (missing.length > 0) throw notFound(missing);
    return ids.map((id) => byId.get(id)).filter((b): b is Bead => b !== undefined);
  }

  /** Labels and outgoing edges of the beads in the JSON array `ids`, by bead id. */
  #relations(ids: string): { labels: (id: string) => string[]; edges: (id: string) => Dependency[] } {
    const labels = groupBy(this.stmt(q.LABELS_FOR_IDS_SQL).all(ids), (r) => toStringValue(r, 'issue_id'));
    const deps = groupBy(this.stmt(q.DEPENDENCIES_FOR_IDS_SQL).all(ids), (r) => toStringValue(r, 'issue_id'));
    return {
      labels: (id) => (labels.get(id) ?? []).map((r) => toStringValue(r, 'label')),
      edges: (id) => (deps.get(id) ?? []).map(toDependency),
    };
  }

  details(beads: readonly Bead[]): BeadDetails[] {
    const ids = JSON.stringify(beads.map((b) => b.id));
    const rel = this.#relations(ids);
    const comments = groupBy(this.stmt(q.COMMENTS_FOR_IDS_SQL).all(ids), (r) => toStringValue(r, 'issue_id'));
    return beads.map((b) =>
      beadWith(b, {
        labels: rel.labels(b.id),
        dependencies: rel.edges(b.id),
        comments: (comments.get(b.id) ?? []).map(toComment),
      }),
    );
  }

  summaries(beads: readonly Bead[]): BeadSummary[] {
    if (beads.length === 0) return [];
    const ids = JSON.stringify(beads.map((b) => b.id));
    const rel = this.#relations(ids);
    const counts = (sql: string): Map<string, number> =>
      new Map(
        this.stmt(sql)
          .all(ids)
          .map((r) => [toStringValue(r, 'id'), toIntValue(r, 'n')] as const),
      );
    const dependents = counts(q.DEPENDENT_COUNTS_SQL);
    const comments = counts(q.COMMENT_COUNTS_SQL);
    return beads.map((b) => {
      const edges = rel.edges(b.id);
      // beads' counts: dependency_count is this bead's own blocks edges, parent the first parent-child target.
      const parents = edges.filter((e) => e.type === 'parent-child').map((e) => e.depends_on_id);
      return beadWith(b, {
        labels: rel.labels(b.id),
        dependencies: edges,
        dependency_count: edges.filter((e) => e.type === 'blocks').length,
        dependent_count: dependents.get(b.id) ?? 0,
        comment_count: comments.get(b.id) ?? 0,
        parent: parents.length === 0 ? null : parents.reduce((min, p) => (p < min ? p : min)),
      });
    });
  }

  readyBeads(filter: ReadyFilter): Bead[] {
    const rows = this.stmt(q.READY_SQL[filter.sort ?? 'priority']).all({
      types: jsonOrNull(filter.types),
      nonWorkTypes: JSON.stringify(NON_WORK_TYPES),
      parent: filter.parent ?? null,
      now: this.#now(),
      ...commonParams(filter),
      limit: limitParam(filter.limit, DEFAULT_READY_LIMIT),
    });
    return rows.map(toBead);
  }

  openBlockers(ids: readonly string[]): Map<string, string[]> {
    const rows = this.stmt(q.OPEN_BLOCKERS_SQL).all({ ids: JSON.stringify(ids) });
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const id = toStringValue(r, 'issue_id');
      out.set(id, [...(out.get(id) ?? []), toStringValue(r, 'blocker_id')]);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------------
  // BeadStore: reads

  show(ids: readonly string[]): Promise<BeadDetails[]> {
    return this.#settle(() => this.details(this.beadsByIds(ids)));
  }

  list(filter: ListFilter): Promise<BeadSummary[]> {
    return this.#settle(() => this.summaries(this.#listBeads(filter, null)));
  }

  search(query: string, filter: ListFilter): Promise<BeadSummary[]> {
    return this.#settle(() => this.summaries(this.#listBeads(filter, query)));
  }

  #listBeads(filter: ListFilter, query: string | null): Bead[] {
    const rows = this.stmt(q.LIST_SQL[filter.sort ?? 'priority']).all({
      statuses: jsonOrNull(filter.statuses),
      types: jsonOrNull(filter.types),
      includeEphemeral: filter.includeEphemeral === true ? 1 : 0,
      updatedSince: filter.updatedSince === undefined ? null : normalizeTimestamp(filter.updatedSince),
      parent: filter.parent ?? null,
      query,
      ...commonParams(filter),
      limit: limitParam(filter.limit, DEFAULT_LIST_LIMIT),
    });
    return rows.map(toBead);
  }

  ready(filter: ReadyFilter): Promise<BeadSummary[]> {
    return this.#settle(() => this.summaries(this.readyBeads(filter)));
  }

  blocked(filter: BlockedFilter): Promise<BlockedBead[]> {
    return this.#settle(() => {
      const beads = this.stmt(q.BLOCKED_SQL)
        .all({ parent: filter.parent ?? null, limit: limitParam(filter.limit, 0) })
        .map(toBead);
      const blockers = this.openBlockers(beads.map((b) => b.id));
      return this.summaries(beads).map((s) => {
        const direct = blockers.get(s.id) ?? [];
        const blockedBy = direct.length > 0 ? direct : s.parent !== null && s.status !== 'blocked' ? [s.parent] : [];
        return Object.assign(s, { blocked_by: blockedBy, blocked_by_count: blockedBy.length });
      });
    });
  }

  dependencies(id: string, direction: Direction): Promise<DependencyView[]> {
    return this.#settle(() => this.#edges(id, direction));
  }

  #edges(id: string, direction: Direction): DependencyView[] {
    this.requireBead(id);
    const rows = this.stmt(direction === 'down' ? q.DEPENDS_ON_SQL : q.DEPENDENTS_SQL).all(id);
    return rows.map((r) => Object.assign(toBead(r), { dependency_type: toStringValue(r, 'dependency_type') }));
  }

  dependencyTree(id: string, direction: Direction, maxDepth: number): Promise<TreeNode[]> {
    return this.#settle(() => {
      const root = this.requireBead(id);
      const out: TreeNode[] = [beadWith(root, { depth: 0, parent_id: null, dependency_type: null, truncated: false })];
      const seen = new Set<string>([root.id]);
      const walk = (nodeId: string, depth: number): void => {
        if (depth > maxDepth) return;
        for (const edge of this.#edges(nodeId, direction)) {
          const repeated = seen.has(edge.id);
          out.push(
            beadWith(edge, { depth, parent_id: nodeId, dependency_type: edge.dependency_type, truncated: repeated }),
          );
          if (!repeated) {
            seen.add(edge.id);
            walk(edge.id, depth + 1);
          }
        }
      };
      walk(root.id, 1);
      return out;
    });
  }

  labels(id: string): Promise<string[]> {
    return this.#settle(() => {
      this.requireBead(id);
      return this.stmt('SELECT label FROM labels WHERE issue_id = ? ORDER BY label')
        .all(id)
        .map((r) => toStringValue(r, 'label'));
    });
  }

  allLabels(): Promise<LabelCount[]> {
    return this.#settle(() =>
      this.stmt('SELECT label, COUNT(*) AS count FROM labels GROUP BY label ORDER BY label')
        .all()
        .map((r) => ({ label: toStringValue(r, 'label'), count: toIntValue(r, 'count') })),
    );
  }

  comments(id: string): Promise<Comment[]> {
    return this.#settle(() => {
      this.requireBead(id);
      return this.stmt(q.COMMENTS_FOR_IDS_SQL)
        .all(JSON.stringify([id]))
        .map(toComment);
    });
  }

  events(filter: EventFilter): Promise<BeadEvent[]> {
    return this.#settle(() => {
      const rows = this.stmt(q.eventsSql(filter))
        .all({
          ...(filter.issueId === undefined ? {} : { issueId: filter.issueId }),
          ...(filter.eventType === undefined ? {} : { eventType: filter.eventType }),
          ...(filter.actor === undefined ? {} : { actor: filter.actor }),
          ...(filter.after === undefined ? {} : { after: filter.after }),
          ...(filter.since === undefined ? {} : { since: normalizeTimestamp(filter.since) }),
          limit: limitParam(filter.limit, 0),
        })
        .map(toEvent);
      return filter.newest === true ? rows.reverse() : rows;
    });
  }

  changeMark(): Promise<string> {
    return this.#settle(() => changeMark(this.#db));
  }

  /** What `gt doctor` looks at: SQLite's own quick check, the schema version and the journal mode. */
  health(): Promise<StoreHealth> {
    return this.#settle(() => databaseHealth(this.#db));
  }

  stale(filter: StaleFilter): Promise<BeadSummary[]> {
    return this.#settle(() => {
      const before = staleBefore(filter.days, this.#clock.nowMs());
      const rows = this.stmt(q.STALE_SQL).all({
        before,
        statuses: jsonOrNull(filter.statuses),
        limit: limitParam(filter.limit, DEFAULT_LIST_LIMIT),
      });
      return this.summaries(rows.map(toBead));
    });
  }

  stats(): Promise<Stats> {
    return this.#settle(() => {
      const byStatus = new Map(
        this.stmt('SELECT status, COUNT(*) AS n FROM issues WHERE ephemeral = 0 GROUP BY status')
          .all()
          .map((r) => [toStringValue(r, 'status'), toIntValue(r, 'n')] as const),
      );
      const byType: Record<string, number> = {};
      for (const r of this.stmt(
        'SELECT issue_type, COUNT(*) AS n FROM issues WHERE ephemeral = 0 GROUP BY issue_type ORDER BY issue_type',
      ).all()) {
        byType[toStringValue(r, 'issue_type')] = toIntValue(r, 'n');
      }
      const count = (s: string): number => byStatus.get(s) ?? 0;
      const total = [...byStatus.values()].reduce((a, b) => a + b, 0);
      const ready = toIntValue(
        this.stmt(q.READY_COUNT_SQL).get({ nonWorkTypes: JSON.stringify(NON_WORK_TYPES), now: this.#now() }),
        'n',
      );
      const graphBlocked = this.stmt(q.BLOCKED_SQL).all({ parent: null, limit: -1 }).length;
      return {
        total_issues: total,
        open_issues: count('open'),
        in_progress_issues: count('in_progress'),
        blocked_issues: graphBlocked,
        deferred_issues: count('deferred'),
        hooked_issues: count('hooked'),
        pinned_issues: count('pinned'),
        closed_issues: count('closed'),
        ready_issues: ready,
        by_type: byType,
      };
    });
  }

  getConfig(key: string): Promise<string | undefined> {
    return this.#settle(() => this.configValue(key));
  }

  listConfig(): Promise<Record<string, string>> {
    return this.#settle(() => {
      const out: Record<string, string> = {};
      for (const r of this.stmt('SELECT key, value FROM config ORDER BY key').all()) {
        out[toStringValue(r, 'key')] = toStringValue(r, 'value');
      }
      return out;
    });
  }

  exportJsonl(options: ExportOptions): Promise<ExportResult> {
    return this.#settle(() => {
      const beads = this.stmt(/* sql */ `SELECT id FROM issues WHERE (@all = 1 OR ephemeral = 0) ORDER BY id`)
        .all({ all: options.includeEphemeral === true ? 1 : 0 })
        .map((r) => toStringValue(r, 'id'));
      const lines: string[] = [];
      // Chunks keep the json_each arrays small while the whole export stays one consistent read.
      this.#db.exec('BEGIN');
      try {
        for (let i = 0; i < beads.length; i += 500) {
          for (const d of this.details(this.beadsByIds(beads.slice(i, i + 500)))) lines.push(serializeRecord(d));
        }
      } finally {
        this.#db.exec('COMMIT');
      }
      return { text: lines.length === 0 ? '' : `${lines.join('\n')}\n`, count: lines.length };
    });
  }

  // ------------------------------------------------------------------------------------------------------
  // BeadStore: writes (each one immediate transaction, see StoreWriter)

  create(input: CreateInput, actor: string): Promise<BeadDetails> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.create(input, actor)));
  }

  update(ids: readonly string[], changes: UpdateChanges, actor: string): Promise<BeadDetails[]> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.update(ids, changes, actor)));
  }

  claim(id: string, actor: string): Promise<BeadDetails> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.claim(id, actor)));
  }

  claimReady(filter: ReadyFilter, actor: string): Promise<BeadDetails | null> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => {
        const first = this.readyBeads({ ...filter, limit: 1 })[0];
        return first === undefined ? null : this.#writer.claim(first.id, actor);
      }),
    );
  }

  close(ids: readonly string[], options: CloseOptions, actor: string): Promise<BeadDetails[]> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.close(ids, options, actor)));
  }

  closeEach(ids: readonly string[], options: CloseOptions, actor: string): Promise<CloseReport> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.closeEach(ids, options, actor)));
  }

  defer(ids: readonly string[], until: string | null, actor: string): Promise<BeadDetails[]> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.defer(ids, until, actor)));
  }

  undefer(ids: readonly string[], actor: string): Promise<BeadDetails[]> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.undefer(ids, actor)));
  }

  supersede(id: string, by: string, actor: string): Promise<BeadDetails> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.supersede(id, by, actor)));
  }

  delete(id: string, options: DeleteOptions, actor: string): Promise<DeleteReport> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.delete(id, options, actor)));
  }

  reopen(ids: readonly string[], reason: string | undefined, actor: string): Promise<BeadDetails[]> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.reopen(ids, reason, actor)));
  }

  addDependency(issueId: string, dependsOnId: string, type: string, actor: string): Promise<DependencyChange> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => this.#writer.addDependency(issueId, dependsOnId, type, actor)),
    );
  }

  removeDependency(issueId: string, dependsOnId: string, actor: string): Promise<DependencyChange> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => this.#writer.removeDependency(issueId, dependsOnId, actor)),
    );
  }

  addLabels(ids: readonly string[], labels: readonly string[], actor: string): Promise<LabelChange[]> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.changeLabels(ids, labels, 'add', actor)));
  }

  removeLabels(ids: readonly string[], labels: readonly string[], actor: string): Promise<LabelChange[]> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => this.#writer.changeLabels(ids, labels, 'remove', actor)),
    );
  }

  addComment(id: string, text: string, actor: string): Promise<Comment> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.addComment(id, text, actor)));
  }

  setConfig(key: string, value: string, actor: string): Promise<void> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#writer.setConfig(key, value, actor)));
  }

  importJsonl(text: string, actor: string, onProgress?: (done: number, total: number) => void): Promise<ImportReport> {
    return this.#settle(() => {
      const ledger = parseLedger(text);
      return writeTransaction(this.#db, () => this.#writer.importLedger(ledger, actor, onProgress));
    });
  }
  // ------------------------------------------------------------------------------------------------------
  // AgentStore

  registerAgent(input: RegisterAgentInput, actor: string, options: { fresh?: boolean } = {}): Promise<Agent> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => {
        const address = agentAddress(input.identity);
        if (options.fresh === true && this.#agents.find(address) !== undefined)
          throw new ConflictError(`agent ${address} already exists`, { hint: 'pick another name' });
        return this.#agents.register(input, actor);
      }),
    );
  }

  agent(address: string): Promise<Agent> {
    return this.#settle(() => this.#agents.require(address));
  }

  agents(filter: { rig?: string; role?: Role }): Promise<Agent[]> {
    return this.#settle(() => this.#agents.list(filter));
  }

  updateAgent(address: string, changes: AgentChanges, actor: string): Promise<Agent> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.update(address, changes, actor)));
  }

  removeAgent(address: string, actor: string): Promise<void> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.remove(address, actor)));
  }

  startSession(input: StartSessionInput, actor: string): Promise<AgentSession> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.startSession(input, actor)));
  }

  endSession(sessionId: string, reason: SessionEndReason, actor: string): Promise<AgentSession> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.endSession(sessionId, reason, actor)));
  }

  sessionMayRun(sessionId: string): Promise<boolean> {
    return this.#settle(() => this.#agents.sessionMayRun(sessionId));
  }

  townHold(): Promise<TownHold | null> {
    return this.#settle(() => this.#agents.townHold());
  }

  recordActivity(subject: string, type: string, value: string, actor: string): Promise<void> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => this.#agents.recordActivity(subject, type, value, actor)),
    );
  }

  setTownDown(down: boolean, actor: string): Promise<TownHold | null> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.setTownDown(down, actor)));
  }

  openSession(agent: string): Promise<AgentSession | null> {
    return this.#settle(() => this.#agents.openSession(agent));
  }

  setRuntimeSessionId(sessionId: string, runtimeSessionId: string, actor: string): Promise<AgentSession> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => this.#agents.setRuntimeSessionId(sessionId, runtimeSessionId, actor)),
    );
  }

  hook(address: string, beadId: string, actor: string, options: HookOptions = {}): Promise<Agent> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#hook(address, beadId, actor, options)));
  }

  registerAndHook(input: RegisterAgentInput, beadId: string, actor: string, options: HookOptions = {}): Promise<Agent> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => {
        // The bead first: a sling that lost the race creates nothing.
        const address = agentAddress(input.identity);
        this.#checkHookable(address, beadId, options);
        if (this.#agents.find(address) !== undefined)
          throw new ConflictError(`agent ${address} already exists`, { hint: 'pick another name' });
        if (options.capacity !== undefined && input.identity.role === 'polecat')
          this.#checkCapacity(input.identity.rig, options.capacity);
        const agent = this.#agents.register(input, actor);
        return this.#hook(agent.address, beadId, actor, options);
      }),
    );
  }

  /** Throws unless the bead may go on `address`'s hook; returns who holds it now (to take it from). */
  #checkHookable(address: string, beadId: string, options: HookOptions): string | undefined {
    const bead = this.requireBead(beadId);
    if (bead.status === 'closed') throw new ValidationError(`${beadId} is closed`, { hint: 'reopen it first' });
    const holder =
      this.#agents.hookHolder(beadId) ??
      (bead.status === 'hooked' || bead.status === 'in_progress' ? (bead.assignee ?? undefined) : undefined);
    if (holder !== undefined && holder !== address && options.takeOver !== true) {
      throw new ConflictError(`${beadId} is already on ${holder}'s hook`, {
        hint: 'it is being worked on; --force takes it over',
      });
    }
    return holder === address ? undefined : holder;
  }

  #hook(address: string, beadId: string, actor: string, options: HookOptions): Agent {
    const agent = this.#agents.require(address);
    const bead = this.requireBead(beadId);
    if (options.fresh === true && agent.hook_bead === beadId)
      throw new ConflictError(`${beadId} is already on ${address}'s hook`, {
        hint: 'another sling put it there a moment ago',
      });
    if (
      agent.hook_bead === beadId &&
      bead.status === 'hooked' &&
      bead.assignee === address &&
      options.args === undefined
    )
      return agent;
    if (agent.hook_bead !== null && agent.hook_bead !== beadId) {
      throw new ConflictError(`${address} already has ${agent.hook_bead} on its hook`, {
        hint: 'finish it, or unhook it first',
      });
    }
    const previous = this.#checkHookable(address, beadId, options);
    // An idle polecat becoming busy takes a slot: counted in this transaction, so no two slings share one.
    if (options.capacity !== undefined && agent.role === 'polecat' && agent.hook_bead === null && agent.rig !== null)
      this.#checkCapacity(agent.rig, options.capacity);
    if (previous !== undefined && this.#agents.find(previous)?.hook_bead === beadId)
      this.#agents.setHook(previous, null, actor);
    const metadata = options.args === undefined ? undefined : { ...bead.metadata, gt_args: options.args };
    this.#writer.update(
      [beadId],
      metadata === undefined
        ? { status: 'hooked', assignee: address }
        : { status: 'hooked', assignee: address, metadata },
      actor,
    );
    this.#agents.bookEvent(beadId, 'hooked', actor, 'hook', previous ?? null, address);
    return this.#agents.setHook(address, beadId, actor);
  }

  /** Throws AtCapacityError unless one more polecat of `rig` may be busy under `limits`. */
  #checkCapacity(rig: string, limits: PolecatLimits): void {
    const busy = countBusy(this.#agents.list({ role: 'polecat' }));
    if (freeSlots(limits, busy, rig) <= 0) throw new AtCapacityError(fullBecause(limits, busy, rig));
  }

  unhook(address: string, actor: string): Promise<Agent> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => {
        const agent = this.#agents.require(address);
        if (agent.hook_bead === null) return agent;
        const bead = this.getBead(agent.hook_bead);
        if (bead !== undefined && bead.status === 'hooked')
          this.#writer.update([bead.id], { status: 'open', assignee: null }, actor);
        return this.#agents.setHook(address, null, actor);
      }),
    );
  }

  releaseUnheldHook(beadId: string, assignee: string | null, actor: string): Promise<boolean> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => {
        const bead = this.getBead(beadId);
        if (
          bead === undefined ||
          bead.status !== 'hooked' ||
          bead.assignee !== assignee ||
          this.#agents.hookHolder(beadId) !== undefined
        )
          return false;
        this.#writer.update([beadId], { status: 'open', assignee: null }, actor);
        this.#agents.bookEvent(beadId, 'unhooked', actor, 'hook', assignee, null);
        return true;
      }),
    );
  }

  queueNudge(input: QueueNudgeInput, actor: string): Promise<QueuedNudge> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.queueNudge(input, actor)));
  }

  pendingNudges(recipient: string): Promise<QueuedNudge[]> {
    return this.#settle(() => this.#agents.pendingNudges(recipient));
  }

  takeNudges(recipient: string, deliveredBy: string): Promise<QueuedNudge[]> {
    return this.#settle(() =>
      writeTransaction(this.#db, () => this.#agents.takeNudges(recipient, deliveredBy, deliveredBy)),
    );
  }

  // ------------------------------------------------------------------------------------------------------
  // SlingQueueStore

  queueSling(input: QueueSlingInput, actor: string): Promise<{ sling: QueuedSling; created: boolean }> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#slings.queue(input, actor)));
  }

  pendingSlings(): Promise<QueuedSling[]> {
    return this.#settle(() => this.#slings.pending());
  }

  finishedSlings(limit: number): Promise<QueuedSling[]> {
    return this.#settle(() => this.#slings.finished(limit));
  }

  claimSling(
    id: number,
    claimant: string,
    actor: string,
    takeOver?: { claimed_by: string | null; claimed_at: string | null },
  ): Promise<QueuedSling | null> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#slings.claim(id, claimant, actor, takeOver)));
  }

  finishSling(
    id: number,
    claimant: string,
    result: { state: 'dispatched' | 'dropped'; outcome: string },
    actor: string,
  ): Promise<boolean> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#slings.finish(id, claimant, result, actor)));
  }

  releaseSling(id: number, claimant: string, error: string | null, actor: string): Promise<boolean> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#slings.release(id, claimant, error, actor)));
  }

  cancelSling(bead: string, actor: string): Promise<QueuedSling | null> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#slings.cancel(bead, actor)));
  }

  schedulerPause(): Promise<SchedulerPause | null> {
    return this.#settle(() => this.#slings.pause());
  }

  setSchedulerPaused(paused: boolean, actor: string): Promise<SchedulerPause | null> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#slings.setPaused(paused, actor)));
  }

  // ------------------------------------------------------------------------------------------------------
  // UsageStore

  recordUsage(entries: readonly UsageEntry[]): Promise<{ added: number; updated: number }> {
    return this.#settle(() =>
      entries.length === 0 ? { added: 0, updated: 0 } : writeTransaction(this.#db, () => this.#usage.record(entries)),
    );
  }

  usageGroups(filter: UsageFilter = {}): Promise<UsageGroup[]> {
    return this.#settle(() => this.#usage.groups(filter));
  }

  usageEntries(filter: UsageFilter & { limit?: number } = {}): Promise<UsageEntry[]> {
    return this.#settle(() => this.#usage.entries(filter));
  }

  recordUsageSource(source: UsageSourceInput): Promise<UsageSource> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#usage.recordSource(source)));
  }

  usageSources(): Promise<UsageSource[]> {
    return this.#settle(() => this.#usage.sources());
  }

  recordUsageReads(reads: readonly UsageSourceRead[]): Promise<void> {
    return this.#settle(() =>
      reads.length === 0 ? undefined : writeTransaction(this.#db, () => this.#usage.recordReads(reads)),
    );
  }

  // ------------------------------------------------------------------------------------------------------
  // ProblemStore

  syncProblems(
    drafts: readonly ProblemDraft[],
    options: {
      scope: readonly ProblemKind[];
      resolveReasons?: Readonly<Record<number, string>>;
      recurWithinMs: number;
    },
    actor: string,
  ): Promise<{ opened: Problem[]; resolved: Problem[] }> {
    return this.#settle(() =>
      // The daemon syncs every pass: one that saw nothing new reads, and takes no write lock.
      this.#problems.syncWouldWrite(drafts, options)
        ? writeTransaction(this.#db, () => this.#problems.sync(drafts, options, actor))
        : { opened: [], resolved: [] },
    );
  }

  problems(query: ProblemQuery = {}): Promise<Problem[]> {
    return this.#settle(() => this.#problems.list(query));
  }

  problem(id: number): Promise<Problem> {
    return this.#settle(() => this.#problems.require(id));
  }

  decide(id: number, input: DecisionInput, actor: string): Promise<{ problem: Problem; decision: PatrolDecision }> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#problems.decide(id, input, actor)));
  }

  markWoken(ids: readonly number[], actor: string): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#settle(() => writeTransaction(this.#db, () => this.#problems.markWoken(ids, actor)));
  }

  resolveProblem(id: number, resolution: string, actor: string): Promise<Problem> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#problems.resolve(id, resolution, actor)));
  }

  decisions(query: { problem?: number; since?: string; limit?: number } = {}): Promise<PatrolDecision[]> {
    return this.#settle(() => this.#problems.decisions(query));
  }

  sessions(agent: string, limit = 0): Promise<AgentSession[]> {
    return this.#settle(() => this.#agents.sessions(agent, limit));
  }

  // ------------------------------------------------------------------------------------------------------
  // RigRegistry

  registerRig(rig: Omit<Rig, 'created_at'>, agents: readonly RegisterAgentInput[], actor: string): Promise<Rig> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.registerRig(rig, agents, actor)));
  }

  rig(name: string): Promise<Rig> {
    return this.#settle(() => this.#agents.rig(name));
  }

  rigs(): Promise<Rig[]> {
    return this.#settle(() => this.#agents.rigs());
  }

  unregisterRig(name: string, actor: string): Promise<void> {
    return this.#settle(() => writeTransaction(this.#db, () => this.#agents.unregisterRig(name, actor)));
  }
}

function groupBy(rows: unknown[], key: (row: unknown) => string): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list === undefined) out.set(k, [r]);
    else list.push(r);
  }
  return out;
}

function jsonOrNull(values: readonly unknown[] | undefined): string | null {
  return values === undefined || values.length === 0 ? null : JSON.stringify(values);
}

function commonParams(filter: ListFilter | ReadyFilter): Record<string, string | number | null> {
  return {
    assignee: filter.assignee ?? null,
    unassigned: filter.unassigned === true ? 1 : 0,
    priorities: jsonOrNull(filter.priorities),
    labels: jsonOrNull(filter.labels),
  };
}

/** `undefined` takes the default; 0 means unlimited (SQLite's LIMIT -1). */
function limitParam(limit: number | undefined, fallback: number): number {
  const l = limit ?? fallback;
  return l <= 0 ? -1 : l;
}
