import type { Bead, BeadDetails, BeadEvent, Comment, Dependency } from './bead.js';
import type { ScalarChanges } from './bead-rules.js';
import type { ErrorCode } from './errors.js';

/**
 * The bead store port. Every operation is atomic on its own (one transaction), validates its input before
 * writing anything, appends its audit events in the same transaction, and returns a Promise even where the
 * backend answers synchronously, so that a networked backend can pass the same conformance suite.
 * Callers never open or hold transactions.
 */
export type BeadStore = {
  readonly prefix: string;

  create(input: CreateInput, actor: string): Promise<BeadDetails>;
  /** Beads by id, in the order asked. Rejects with NotFoundError naming every id that is missing. */
  show(ids: readonly string[]): Promise<BeadDetails[]>;
  list(filter: ListFilter): Promise<BeadSummary[]>;
  ready(filter: ReadyFilter): Promise<BeadSummary[]>;
  blocked(filter: BlockedFilter): Promise<BlockedBead[]>;
  search(query: string, filter: ListFilter): Promise<BeadSummary[]>;

  /** Applies the same changes to every id, all or nothing. */
  update(ids: readonly string[], changes: UpdateChanges, actor: string): Promise<BeadDetails[]>;
  /**
   * Compare-and-set claim: open and unassigned (or already ours) becomes in_progress and assigned to `actor`.
   * Claiming a bead the actor already holds succeeds without change. Anything else rejects with ConflictError.
   */
  claim(id: string, actor: string): Promise<BeadDetails>;
  /** Claims the first ready bead matching `filter`; resolves null when nothing is ready. */
  claimReady(filter: ReadyFilter, actor: string): Promise<BeadDetails | null>;
  close(ids: readonly string[], options: CloseOptions, actor: string): Promise<BeadDetails[]>;
  /**
   * Closes every bead it can, each with the same guards as `close` (a bead blocked only by others of `ids` that
   * close too may close), and reports the rest instead of failing: nothing is written for a bead that failed.
   */
  closeEach(ids: readonly string[], options: CloseOptions, actor: string): Promise<CloseReport>;
  reopen(ids: readonly string[], reason: string | undefined, actor: string): Promise<BeadDetails[]>;

  /**
   * Defers beads: with `until`, they stay as they are but are not ready work before that time; without, their
   * status becomes `deferred` (on ice until undeferred).
   */
  defer(ids: readonly string[], until: string | null, actor: string): Promise<BeadDetails[]>;
  /** Clears deferral (status back to open, defer_until cleared); a ValidationError if any bead is not deferred. */
  undefer(ids: readonly string[], actor: string): Promise<BeadDetails[]>;
  /** Closes `id` as superseded by `by` and records the edge (`id` supersedes-edge to `by`), in one transaction. */
  supersede(id: string, by: string, actor: string): Promise<BeadDetails>;
  /**
   * Removes a bead with its labels and comments and every dependency edge naming it. Refuses (ConflictError)
   * when other beads depend on it unless `force`; `dryRun` reports what would go and writes nothing.
   */
  delete(id: string, options: DeleteOptions, actor: string): Promise<DeleteReport>;

  addDependency(issueId: string, dependsOnId: string, type: string, actor: string): Promise<DependencyChange>;
  removeDependency(issueId: string, dependsOnId: string, actor: string): Promise<DependencyChange>;
  /** `down`: what the bead depends on; `up`: what depends on it. */
  dependencies(id: string, direction: Direction): Promise<DependencyView[]>;
  dependencyTree(id: string, direction: Direction, maxDepth: number): Promise<TreeNode[]>;

  addLabels(ids: readonly string[], labels: readonly string[], actor: string): Promise<LabelChange[]>;
  removeLabels(ids: readonly string[], labels: readonly string[], actor: string): Promise<LabelChange[]>;
  labels(id: string): Promise<string[]>;
  allLabels(): Promise<LabelCount[]>;

  addComment(id: string, text: string, actor: string): Promise<Comment>;
  comments(id: string): Promise<Comment[]>;

  events(filter: EventFilter): Promise<BeadEvent[]>;
  stats(): Promise<Stats>;
  /** Beads not closed whose last update is older than `days` days (a positive whole number), oldest first. */
  stale(filter: StaleFilter): Promise<BeadSummary[]>;
  /** A health check of the backend: its own integrity check and schema version. */
  health(): Promise<StoreHealth>;

  getConfig(key: string): Promise<string | undefined>;
  setConfig(key: string, value: string, actor: string): Promise<void>;
  listConfig(): Promise<Record<string, string>>;

  /** The whole ledger as JSONL text: deterministic, one bead per line, sorted by id. */
  exportJsonl(options: ExportOptions): Promise<ExportResult>;
  /** Upserts beads from JSONL text in one transaction; never overwrites a newer local change. */
  importJsonl(text: string, actor: string, onProgress?: (done: number, total: number) => void): Promise<ImportReport>;

  /** Releases the database handle. The store must not be used afterwards. */
  dispose(): void;
};

export type CreateInput = {
  title: string;
  description?: string;
  design?: string;
  acceptance_criteria?: string;
  notes?: string;
  issue_type?: string;
  priority?: number;
  status?: string;
  assignee?: string | null;
  external_ref?: string | null;
  estimated_minutes?: number | null;
  due_at?: string | null;
  defer_until?: string | null;
  spec_id?: string | null;
  labels?: readonly string[];
  /** Parent bead: the new bead gets the id `<parent>.<n>` and a parent-child edge. */
  parent?: string;
  /** Ids the new bead depends on (blocks edges). */
  depends_on?: readonly string[];
  /** An explicit id instead of a generated one. */
  id?: string;
  /** The prefix of the generated id (a rig's, say) instead of the store's own; ignored with `id` or `parent`. */
  prefix?: string;
  ephemeral?: boolean;
  metadata?: Record<string, unknown>;
};

/** Scalar changes (see ScalarChanges) plus labels, parent and claim, applied to every bead of an update. */
export type UpdateChanges = Omit<ScalarChanges, 'close_reason'> & {
  add_labels?: readonly string[];
  remove_labels?: readonly string[];
  /** New parent; null removes the parent. */
  parent?: string | null;
  /** Claim (compare-and-set) in the same transaction as the other changes. */
  claim?: boolean;
  /** With `status: 'closed'`: the close reason recorded. */
  close_reason?: string;
  /**
   * Compare-and-set: the changes apply only while every bead still has this status and these metadata values
   * (a key expected `null` must be absent or null); otherwise nothing is written and it rejects with ConflictError.
   */
  expect?: UpdateExpectation;
};

export type UpdateExpectation = { status?: string; metadata?: Record<string, unknown> };

export type CloseOptions = { reason?: string; force?: boolean };

export type CloseFailure = { id: string; code: ErrorCode; error: string; hint?: string };
export type CloseReport = { closed: BeadDetails[]; failed: CloseFailure[] };

export type DeleteOptions = { force?: boolean; dryRun?: boolean };
export type DeleteReport = {
  id: string;
  title: string;
  deleted: boolean;
  /** Every edge that named the bead, either way. */
  dependencies: Dependency[];
  /** Beads that depend on it (any edge type). */
  dependents: string[];
};

export type StaleFilter = { days: number; statuses?: readonly string[]; limit?: number };

export type StoreHealth = { integrity: string; schema_version: number; journal_mode: string };

export type Direction = 'down' | 'up';

export const SORT_POLICIES = ['priority', 'oldest', 'newest', 'updated'] as const;
export type SortPolicy = (typeof SORT_POLICIES)[number];

/** Filters list, search and ready share. */
type BeadFilter = {
  assignee?: string;
  unassigned?: boolean;
  /** Every label must be present. */
  labels?: readonly string[];
  priorities?: readonly number[];
  sort?: SortPolicy;
  /** 0 means no limit. */
  limit?: number;
};

export type ListFilter = BeadFilter & {
  /** Statuses to include; undefined means every status but closed. */
  statuses?: readonly string[];
  types?: readonly string[];
  /** Direct children of this bead. */
  parent?: string;
  includeEphemeral?: boolean;
  /** Only beads updated at or after this time (RFC 3339). */
  updatedSince?: string;
};

export type ReadyFilter = BeadFilter & {
  /** Replaces the default exclusion of non-work types. */
  types?: readonly string[];
  /** Descendants of this bead, at any depth. */
  parent?: string;
};

export type BlockedFilter = { parent?: string; limit?: number };

export type EventFilter = {
  issueId?: string;
  eventType?: string;
  actor?: string;
  /** Only events after this event_id (a follower's cursor: ids only grow, across every writer). */
  after?: number;
  /** Only events at or after this time (ISO). */
  since?: string;
  /** With a limit: the newest `limit` events (still in order, oldest first) instead of the oldest. */
  newest?: boolean;
  limit?: number;
};

export type BeadSummary = Bead & {
  labels: string[];
  dependencies: Dependency[];
  dependency_count: number;
  dependent_count: number;
  comment_count: number;
  parent: string | null;
};

export type BlockedBead = BeadSummary & { blocked_by: string[]; blocked_by_count: number };

export type DependencyView = Bead & { dependency_type: string };

export type TreeNode = Bead & {
  depth: number;
  parent_id: string | null;
  dependency_type: string | null;
  /** The node was seen earlier in the tree; its subtree is not repeated. */
  truncated: boolean;
};

export type DependencyChange = {
  status: 'added' | 'removed' | 'unchanged';
  issue_id: string;
  depends_on_id: string;
  type: string;
};

export type LabelChange = { status: 'added' | 'removed' | 'unchanged'; issue_id: string; label: string };

export type LabelCount = { label: string; count: number };

export type Stats = {
  total_issues: number;
  open_issues: number;
  in_progress_issues: number;
  blocked_issues: number;
  deferred_issues: number;
  hooked_issues: number;
  pinned_issues: number;
  closed_issues: number;
  ready_issues: number;
  by_type: Record<string, number>;
};

export type ExportOptions = { includeEphemeral?: boolean };
export type ExportResult = { text: string; count: number };

export type ImportReport = {
  created: number;
  updated: number;
  unchanged: number;
  /** Beads whose local copy is newer than the file's: left as they are. */
  kept_local: number;
  /** Tombstones and other lines a ledger carries that are not beads. */
  skipped: number;
  total_lines: number;
};
