import type { Bead, BeadDetails, Comment, Dependency } from '../core/bead.js';
import {
  BLOCKING_DEPENDENCY_TYPES,
  DEFAULT_PRIORITY,
  parseCommaList,
  parseDependencyType,
  parseIssueType,
  parsePriority,
  parseStatus,
  validateLabel,
  validateTitle,
} from '../core/bead.js';
import type {
  CloseFailure,
  CloseOptions,
  CloseReport,
  CreateInput,
  DeleteOptions,
  DeleteReport,
  DependencyChange,
  ImportReport,
  LabelChange,
  UpdateChanges,
  UpdateExpectation,
} from '../core/bead-store.js';
import { isDeferred } from '../core/bead-dates.js';
import { applyScalarChanges, decideClaim, diffBeads, withStatus, type FieldChange } from '../core/bead-rules.js';
import {
  ConflictError,
  CycleError,
  type GtError,
  InternalError,
  NotFoundError,
  ValidationError,
} from '../core/errors.js';
import {
  adaptiveHashLength,
  childId,
  directChildNumber,
  hashId,
  isValidId,
  isValidPrefix,
  MAX_HASH_LENGTH,
} from '../core/ids.js';
import { compareTimestamps, normalizeTimestamp } from '../core/time.js';
import { serializeRecord, type ParsedLedger } from './jsonl.js';
import * as q from './queries.js';
import { notFound } from './not-found.js';
import { beadParams, toComment, toDependency, toIntValue, toStringValue } from './rows.js';
import type { Statement } from './db.js';

const INSERT_BEAD_SQL = /* sql */ `
  INSERT INTO issues (id, title, description, design, acceptance_criteria, notes, status, priority, issue_type,
    assignee, created_by, created_at, updated_at, started_at, closed_at, close_reason, external_ref, ephemeral,
    metadata, extra, estimated_minutes, due_at, defer_until, spec_id)
  VALUES (@id, @title, @description, @design, @acceptance_criteria, @notes, @status, @priority, @issue_type,
    @assignee, @created_by, @created_at, @updated_at, @started_at, @closed_at, @close_reason, @external_ref,
    @ephemeral, @metadata, @extra, @estimated_minutes, @due_at, @defer_until, @spec_id)`;

const UPDATE_BEAD_SQL = /* sql */ `
  UPDATE issues SET title = @title, description = @description, design = @design,
    acceptance_criteria = @acceptance_criteria, notes = @notes, status = @status, priority = @priority,
    issue_type = @issue_type, assignee = @assignee, created_by = @created_by, created_at = @created_at,
    updated_at = @updated_at, started_at = @started_at, closed_at = @closed_at, close_reason = @close_reason,
    external_ref = @external_ref, ephemeral = @ephemeral, metadata = @metadata, extra = @extra,
    estimated_minutes = @estimated_minutes, due_at = @due_at, defer_until = @defer_until, spec_id = @spec_id
  WHERE id = @id`;

const INSERT_EVENT_SQL = /* sql */ `
  INSERT INTO events (issue_id, event_type, actor, field, old_value, new_value, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)`;

const INSERT_DEPENDENCY_SQL = /* sql */ `
  INSERT INTO dependencies (issue_id, depends_on_id, type, created_at, created_by, metadata)
  VALUES (@issue_id, @depends_on_id, @type, @created_at, @created_by, @metadata)`;

const CONFIG_KEY_PATTERN = /^[a-z][a-z0-9_.-]{0,99}$/;

/**
 * The synchronous reads the writer needs inside its transactions. The store passes itself; naming only these
 * keeps the writer from depending on the store class (and the two modules from importing each other).
 */
export type WriterReads = {
  readonly prefix: string;
  stmt(sql: string): Statement;
  configValue(key: string): string | undefined;
  getBead(id: string): Bead | undefined;
  requireBead(id: string): Bead;
  beadsByIds(ids: readonly string[]): Bead[];
  details(beads: readonly Bead[]): BeadDetails[];
  openBlockers(ids: readonly string[]): Map<string, string[]>;
};

/**
 * Every write of the SQLite store. Methods run inside the caller's immediate transaction, validate all their
 * input before the first write, and append audit events as they go: an error anywhere rolls everything back.
 */
export class StoreWriter {
  constructor(
    private readonly store: WriterReads,
    private readonly now: () => string,
    private readonly nowNs: () => bigint,
  ) {}

  // ------------------------------------------------------------------------------------------------------
  // create

  create(input: CreateInput, actor: string): BeadDetails {
    const now = this.now();
    const title = validateTitle(input.title);
    const issueType = parseIssueType(input.issue_type ?? 'task', this.#custom('types.custom'));
    const priority = input.priority === undefined ? DEFAULT_PRIORITY : parsePriority(input.priority);
    const status = input.status === undefined ? 'open' : parseStatus(input.status, this.#custom('status.custom'));
    const labels = [...new Set((input.labels ?? []).map(validateLabel))];
    validateScheduling(input);
    if (input.prefix !== undefined && !isValidPrefix(input.prefix)) {
      throw new ValidationError(
        `invalid prefix "${input.prefix}": start with a letter; use a-z, 0-9, "_" and inner "-"`,
      );
    }
    if (input.parent !== undefined) this.store.requireBead(input.parent);
    const dependsOn = [...new Set(input.depends_on ?? [])];
    const missing = dependsOn.filter((id) => this.store.getBead(id) === undefined);
    if (missing.length > 0) throw notFound(missing);

    const id = this.#newId(input, actor, title);
    const base: Bead = {
      id,
      title,
      description: input.description ?? '',
      design: input.design ?? '',
      acceptance_criteria: input.acceptance_criteria ?? '',
      notes: input.notes ?? '',
      status: 'open',
      priority,
      issue_type: issueType,
      assignee: input.assignee === undefined || input.assignee === '' ? null : input.assignee,
      created_by: actor,
      created_at: now,
      updated_at: now,
      started_at: null,
      closed_at: null,
      close_reason: '',
      external_ref: input.external_ref ?? null,
      estimated_minutes: input.estimated_minutes ?? null,
      due_at: input.due_at ?? null,
      defer_until: input.defer_until ?? null,
      spec_id: input.spec_id === undefined || input.spec_id === '' ? null : input.spec_id,
      ephemeral: input.ephemeral === true,
      metadata: input.metadata ?? {},
      extra: {},
    };
    const bead = withStatus(base, status, now);
    this.store.stmt(INSERT_BEAD_SQL).run(beadParams(bead));
    this.#event(id, 'created', actor, null, null, title, now);
    for (const label of labels) this.#insertLabel(id, label);
    if (input.parent !== undefined)
      this.#insertDependency({
        issue_id: id,
        depends_on_id: input.parent,
        type: 'parent-child',
        created_at: now,
        created_by: actor,
      });
    for (const target of dependsOn) {
      if (target === input.parent) continue;
      this.#insertDependency({
        issue_id: id,
        depends_on_id: target,
        type: 'blocks',
        created_at: now,
        created_by: actor,
      });
    }
    return this.#details(id);
  }

  #newId(input: CreateInput, actor: string, title: string): string {
    if (input.id !== undefined) {
      if (!isValidId(input.id)) {
        throw new ValidationError(
          `invalid id "${input.id}": use letters, digits, "-", "_" and "." (e.g. gt-abc or gt-abc.1)`,
        );
      }
      if (this.store.getBead(input.id) !== undefined)
        throw new ConflictError(`a bead with id ${input.id} already exists`);
      return input.id;
    }
    if (input.parent !== undefined) return this.#nextChildId(input.parent);
    const base = input.prefix ?? this.store.prefix;
    const prefix = input.ephemeral === true ? `${base}-wisp` : base;
    const count = toIntValue(this.store.stmt(q.COUNT_TOP_LEVEL_SQL).get({ prefix }), 'n');
    for (let length = adaptiveHashLength(count); length <= MAX_HASH_LENGTH; length++) {
      for (let nonce = 0; nonce < 10; nonce++) {
        const id = hashId({
          prefix,
          title,
          description: input.description ?? '',
          creator: actor,
          createdAtNs: this.nowNs(),
          nonce,
          length,
        });
        if (this.store.getBead(id) === undefined) return id;
      }
    }
    throw new InternalError(`could not generate a unique id with prefix ${prefix}`);
  }

  #nextChildId(parent: string): string {
    let max = 0;
    const counter: unknown = this.store.stmt('SELECT last_child FROM child_counters WHERE parent_id = ?').get(parent);
    if (counter !== undefined) max = toIntValue(counter, 'last_child');
    for (const row of this.store.stmt(q.CHILD_IDS_SQL).all({ parent })) {
      const n = directChildNumber(parent, toStringValue(row, 'id'));
      if (n !== undefined && n > max) max = n;
    }
    const next = max + 1;
    this.store
      .stmt(
        'INSERT INTO child_counters (parent_id, last_child) VALUES (?, ?) ON CONFLICT (parent_id) DO UPDATE SET last_child = excluded.last_child',
      )
      .run(parent, next);
    return childId(parent, next);
  }

  // ------------------------------------------------------------------------------------------------------
  // update, claim, close, reopen

  update(ids: readonly string[], changes: UpdateChanges, actor: string): BeadDetails[] {
    const now = this.now();
    if (changes.claim === true && changes.status !== undefined) {
      throw new ValidationError('--claim sets the status to in_progress; do not combine it with --status');
    }
    const scalar = {
      ...changes,
      title: changes.title === undefined ? undefined : validateTitle(changes.title),
      status: changes.status === undefined ? undefined : parseStatus(changes.status, this.#custom('status.custom')),
      issue_type:
        changes.issue_type === undefined ? undefined : parseIssueType(changes.issue_type, this.#custom('types.custom')),
      priority: changes.priority === undefined ? undefined : parsePriority(changes.priority),
    };
    validateScheduling(changes);
    const addLabels = (changes.add_labels ?? []).map(validateLabel);
    const removeLabels = (changes.remove_labels ?? []).map(validateLabel);
    if (typeof changes.parent === 'string') this.store.requireBead(changes.parent);
    const beads = this.store.beadsByIds([...new Set(ids)]);
    if (changes.expect !== undefined) for (const bead of beads) checkExpectation(bead, changes.expect);

    for (const bead of beads) {
      let changed: FieldChange[] = [];
      let next = bead;
      if (changes.claim === true) {
        const decision = decideClaim(bead, actor);
        if (decision.kind === 'conflict')
          throw new ConflictError(decision.reason, { hint: 'pick other work with "bd ready"' });
        if (decision.kind === 'claim') {
          next = withStatus({ ...next, assignee: actor }, 'in_progress', now);
          changed = diffBeads(bead, next).map((c) => (c.field === 'assignee' ? { ...c, eventType: 'claimed' } : c));
        }
      }
      const applied = applyScalarChanges(next, scalar, now);
      changed = [...changed, ...applied.changed];
      next = applied.next;
      let touched = changed.length > 0;
      for (const label of addLabels) touched = this.#addLabel(bead.id, label, actor, now) || touched;
      for (const label of removeLabels) touched = this.#removeLabel(bead.id, label, actor, now) || touched;
      if (changes.parent !== undefined) touched = this.#reparent(bead.id, changes.parent, actor, now) || touched;
      if (touched) this.#write({ ...next, updated_at: now }, changed, actor, now);
    }
    return beads.map((b) => this.#details(b.id));
  }

  claim(id: string, actor: string): BeadDetails {
    const [bead] = this.update([id], { claim: true }, actor);
    if (bead === undefined) throw new InternalError(`claim of ${id} returned nothing`);
    return bead;
  }

  close(ids: readonly string[], options: CloseOptions, actor: string): BeadDetails[] {
    const now = this.now();
    const beads = this.store.beadsByIds([...new Set(ids)]);
    const closing = new Set(beads.map((b) => b.id));
    const open = beads.filter((b) => b.status !== 'closed');
    if (options.force !== true) {
      for (const bead of open) {
        const refusal = this.#closeRefusal(bead.id, closing);
        if (refusal !== undefined) throw refusal;
      }
    }
    for (const bead of open) this.#closeOne(bead, options.reason, actor, now);
    return beads.map((b) => this.#details(b.id));
  }

  /**
   * Closes what it can. A bead blocked only by beads that close in the same call closes too; the candidates
   * shrink until every remaining one passes the guards, so a refusal of one never closes its dependents.
   */
  closeEach(ids: readonly string[], options: CloseOptions, actor: string): CloseReport {
    const now = this.now();
    const wanted = [...new Set(ids)];
    const failed: CloseFailure[] = [];
    const found: Bead[] = [];
    for (const id of wanted) {
      const bead = this.store.getBead(id);
      if (bead === undefined) {
        const err = notFound([id]);
        failed.push(closeFailure(id, err));
      } else found.push(bead);
    }
    const candidates = new Set(found.filter((b) => b.status !== 'closed').map((b) => b.id));
    if (options.force !== true) {
      for (let changed = true; changed;) {
        changed = false;
        for (const id of [...candidates]) {
          const refusal = this.#closeRefusal(id, candidates);
          if (refusal === undefined) continue;
          candidates.delete(id);
          failed.push(closeFailure(id, refusal));
          changed = true;
        }
      }
    }
    const closed: BeadDetails[] = [];
    for (const bead of found) {
      if (candidates.has(bead.id)) this.#closeOne(bead, options.reason, actor, now);
      if (candidates.has(bead.id) || bead.status === 'closed') closed.push(this.#details(bead.id));
    }
    const order = new Map(wanted.map((id, i) => [id, i]));
    failed.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    return { closed, failed };
  }

  /** Why `id` may not close while the beads in `closing` close with it, or undefined when it may. */
  #closeRefusal(id: string, closing: ReadonlySet<string>): ConflictError | undefined {
    const still = (this.store.openBlockers([id]).get(id) ?? []).filter((b) => !closing.has(b));
    if (still.length > 0) {
      return new ConflictError(`cannot close ${id}: blocked by open issue(s) ${still.join(', ')}`, {
        hint: 'close the blockers first, or pass --force to close anyway',
      });
    }
    const children = this.#openChildren(id).filter((c) => !closing.has(c));
    if (children.length > 0) {
      return new ConflictError(`cannot close ${id}: ${children.length} open child issue(s): ${children.join(', ')}`, {
        hint: 'close the children first, or pass --force to close anyway',
      });
    }
    return undefined;
  }

  #closeOne(bead: Bead, reason: string | undefined, actor: string, now: string): void {
    const next = withStatus(bead, 'closed', now, reason ?? 'Closed');
    this.#write({ ...next, updated_at: now }, diffBeads(bead, next), actor, now);
  }

  // ------------------------------------------------------------------------------------------------------
  // defer, undefer, supersede, delete

  defer(ids: readonly string[], until: string | null, actor: string): BeadDetails[] {
    const beads = this.store.beadsByIds([...new Set(ids)]);
    const closed = beads.find((b) => b.status === 'closed');
    if (closed !== undefined)
      throw new ValidationError(`${closed.id} is closed; only open work can be deferred`, {
        hint: `reopen it first: bd reopen ${closed.id}`,
      });
    return this.update(ids, until === null ? { status: 'deferred' } : { defer_until: until }, actor);
  }

  undefer(ids: readonly string[], actor: string): BeadDetails[] {
    const now = this.now();
    const beads = this.store.beadsByIds([...new Set(ids)]);
    const notDeferred = beads.find((b) => !isDeferred(b, now));
    if (notDeferred !== undefined) {
      throw new ValidationError(`${notDeferred.id} is not deferred`, {
        hint: 'only issues deferred with bd defer (or update --defer) can be undeferred',
      });
    }
    for (const bead of beads) {
      const changes: UpdateChanges =
        bead.status === 'deferred' ? { status: 'open', defer_until: null } : { defer_until: null };
      this.update([bead.id], changes, actor);
    }
    return beads.map((b) => this.#details(b.id));
  }

  supersede(id: string, by: string, actor: string): BeadDetails {
    if (id === by)
      throw new ValidationError(`${id} cannot supersede itself`, { hint: 'name the newer issue with --with' });
    const bead = this.store.requireBead(id);
    this.store.requireBead(by);
    const existing = this.#dependencyType(id, by);
    if (existing === undefined) this.addDependency(id, by, 'supersedes', actor);
    else if (existing !== 'supersedes') {
      throw new ConflictError(`${id} already depends on ${by} (type ${existing})`, {
        hint: `remove that edge first: bd dep remove ${id} ${by}`,
      });
    }
    if (bead.status !== 'closed') this.#closeOne(this.store.requireBead(id), `Superseded by ${by}`, actor, this.now());
    return this.#details(id);
  }

  delete(id: string, options: DeleteOptions, actor: string): DeleteReport {
    const bead = this.store.requireBead(id);
    const edges = this.store
      .stmt(
        /* sql */ `SELECT issue_id, depends_on_id, type, created_at, created_by, metadata FROM dependencies
          WHERE issue_id = @id OR depends_on_id = @id ORDER BY issue_id, depends_on_id`,
      )
      .all({ id })
      .map(toDependency);
    const dependents = [...new Set(edges.filter((e) => e.depends_on_id === id).map((e) => e.issue_id))];
    const report: DeleteReport = { id, title: bead.title, deleted: false, dependencies: edges, dependents };
    if (dependents.length > 0 && options.force !== true && options.dryRun !== true) {
      throw new ConflictError(
        `cannot delete ${id}: ${dependents.length} issue(s) depend on it: ${dependents.join(', ')}`,
        {
          hint: `pass --force to delete it and remove those dependency edges`,
        },
      );
    }
    // Work on an agent's hook is work in progress: deleting it takes it from the agent, so only with --force.
    const holders = this.store
      .stmt('SELECT address FROM agents WHERE hook_bead = ? ORDER BY address')
      .all(id)
      .map((r) => toStringValue(r, 'address'));
    if (holders.length > 0 && options.force !== true && options.dryRun !== true) {
      throw new ConflictError(`cannot delete ${id}: it is on ${holders.join(', ')}'s hook`, {
        hint: `take it off first (gt unsling ${holders[0] ?? ''}), or pass --force`,
      });
    }
    if (options.dryRun === true) return report;
    const now = this.now();
    for (const address of holders) this.#event(address, 'unhooked', actor, 'hook_bead', id, null, now);
    for (const e of edges.filter((d) => d.depends_on_id === id)) {
      this.#event(e.issue_id, 'dependency_removed', actor, e.type, id, null, now);
      this.#touch(e.issue_id, now);
    }
    this.store.stmt('DELETE FROM dependencies WHERE depends_on_id = ?').run(id);
    this.store.stmt('DELETE FROM child_counters WHERE parent_id = ?').run(id);
    // Labels, comments and the bead's own edges go with it (ON DELETE CASCADE); a hook on it is cleared.
    this.store.stmt('DELETE FROM issues WHERE id = ?').run(id);
    this.#event(id, 'deleted', actor, null, bead.title, null, now);
    return { ...report, deleted: true };
  }

  reopen(ids: readonly string[], reason: string | undefined, actor: string): BeadDetails[] {
    const now = this.now();
    const beads = this.store.beadsByIds([...new Set(ids)]);
    for (const bead of beads) {
      if (bead.status !== 'closed') continue;
      const next = withStatus(bead, 'open', now);
      this.#write({ ...next, updated_at: now }, diffBeads(bead, next), actor, now);
      if (reason !== undefined && reason !== '') this.#insertComment(bead.id, actor, `Reopened: ${reason}`, now, null);
    }
    return beads.map((b) => this.#details(b.id));
  }

  #openChildren(id: string): string[] {
    return this.store
      .stmt(
        /* sql */ `SELECT d.issue_id AS id FROM dependencies d JOIN issues c ON c.id = d.issue_id
          WHERE d.depends_on_id = ? AND d.type = 'parent-child' AND c.status NOT IN ('closed', 'pinned') ORDER BY d.issue_id`,
      )
      .all(id)
      .map((r) => toStringValue(r, 'id'));
  }

  // ------------------------------------------------------------------------------------------------------
  // dependencies

  addDependency(issueId: string, dependsOnId: string, rawType: string, actor: string): DependencyChange {
    const type = parseDependencyType(rawType);
    if (issueId === dependsOnId) throw new ValidationError(`${issueId} cannot depend on itself`);
    this.store.requireBead(issueId);
    if (!dependsOnId.startsWith('external:')) this.store.requireBead(dependsOnId);
    const now = this.now();
    const existing = this.#dependencyType(issueId, dependsOnId);
    if (existing === type) return { status: 'unchanged', issue_id: issueId, depends_on_id: dependsOnId, type };
    if (existing !== undefined) {
      throw new ConflictError(`${issueId} already depends on ${dependsOnId} (type ${existing}, asked for ${type})`, {
        hint: `remove it first: bd dep remove ${issueId} ${dependsOnId}`,
      });
    }
    if (type === 'parent-child') {
      const parent = this.#parentOf(issueId);
      if (parent !== undefined) {
        throw new ConflictError(`${issueId} already has parent ${parent}`, {
          hint: `move it with: bd update ${issueId} --parent ${dependsOnId}`,
        });
      }
    }
    this.#checkCycle(issueId, dependsOnId, type);
    this.#insertDependency({ issue_id: issueId, depends_on_id: dependsOnId, type, created_at: now, created_by: actor });
    this.#event(issueId, 'dependency_added', actor, type, null, dependsOnId, now);
    this.#touch(issueId, now);
    return { status: 'added', issue_id: issueId, depends_on_id: dependsOnId, type };
  }

  removeDependency(issueId: string, dependsOnId: string, actor: string): DependencyChange {
    this.store.requireBead(issueId);
    const type = this.#dependencyType(issueId, dependsOnId);
    if (type === undefined) throw new NotFoundError(`${issueId} does not depend on ${dependsOnId}`);
    const now = this.now();
    this.store.stmt('DELETE FROM dependencies WHERE issue_id = ? AND depends_on_id = ?').run(issueId, dependsOnId);
    this.#event(issueId, 'dependency_removed', actor, type, dependsOnId, null, now);
    this.#touch(issueId, now);
    return { status: 'removed', issue_id: issueId, depends_on_id: dependsOnId, type };
  }

  #checkCycle(issueId: string, dependsOnId: string, type: string): void {
    if (!BLOCKING_DEPENDENCY_TYPES.includes(type) && type !== 'parent-child') return;
    const hit: unknown = this.store.stmt(q.WOULD_CYCLE_SQL).get({ from: issueId, to: dependsOnId });
    if (hit !== undefined) {
      throw new CycleError(`adding ${issueId} → ${dependsOnId} (${type}) would create a dependency cycle`, {
        hint: `see the existing chain with: bd dep tree ${dependsOnId}`,
      });
    }
  }

  #dependencyType(issueId: string, dependsOnId: string): string | undefined {
    const row: unknown = this.store
      .stmt('SELECT type FROM dependencies WHERE issue_id = ? AND depends_on_id = ?')
      .get(issueId, dependsOnId);
    return row === undefined ? undefined : toStringValue(row, 'type');
  }

  #parentOf(issueId: string): string | undefined {
    const row: unknown = this.store
      .stmt(
        `SELECT depends_on_id FROM dependencies WHERE issue_id = ? AND type = 'parent-child' ORDER BY depends_on_id LIMIT 1`,
      )
      .get(issueId);
    return row === undefined ? undefined : toStringValue(row, 'depends_on_id');
  }

  /** Moves a bead under a new parent (or none). Returns whether anything changed. */
  #reparent(issueId: string, parent: string | null, actor: string, now: string): boolean {
    const current = this.#parentOf(issueId);
    if ((current ?? null) === parent) return false;
    if (parent === issueId) throw new ValidationError(`${issueId} cannot be its own parent`);
    if (current !== undefined) {
      this.store.stmt(`DELETE FROM dependencies WHERE issue_id = ? AND type = 'parent-child'`).run(issueId);
      this.#event(issueId, 'dependency_removed', actor, 'parent-child', current, null, now);
    }
    if (parent !== null) {
      const existing = this.#dependencyType(issueId, parent);
      if (existing !== undefined) {
        throw new ConflictError(`${issueId} already depends on ${parent} (type ${existing})`, {
          hint: `remove that edge first: bd dep remove ${issueId} ${parent}`,
        });
      }
      this.#checkCycle(issueId, parent, 'parent-child');
      this.#insertDependency({
        issue_id: issueId,
        depends_on_id: parent,
        type: 'parent-child',
        created_at: now,
        created_by: actor,
      });
      this.#event(issueId, 'dependency_added', actor, 'parent-child', null, parent, now);
    }
    return true;
  }

  #insertDependency(d: Dependency): void {
    this.store.stmt(INSERT_DEPENDENCY_SQL).run({ ...d, metadata: d.metadata ?? null });
  }

  // ------------------------------------------------------------------------------------------------------
  // labels, comments, config

  changeLabels(
    ids: readonly string[],
    labels: readonly string[],
    mode: 'add' | 'remove',
    actor: string,
  ): LabelChange[] {
    const valid = [...new Set(labels.map(validateLabel))];
    if (valid.length === 0) throw new ValidationError('no label given');
    const beads = this.store.beadsByIds([...new Set(ids)]);
    const now = this.now();
    const out: LabelChange[] = [];
    for (const bead of beads) {
      let touched = false;
      for (const label of valid) {
        const changed =
          mode === 'add' ? this.#addLabel(bead.id, label, actor, now) : this.#removeLabel(bead.id, label, actor, now);
        touched = touched || changed;
        out.push({ status: changed ? (mode === 'add' ? 'added' : 'removed') : 'unchanged', issue_id: bead.id, label });
      }
      if (touched) this.#touch(bead.id, now);
    }
    return out;
  }

  #addLabel(id: string, label: string, actor: string, now: string): boolean {
    if (!this.#insertLabel(id, label)) return false;
    this.#event(id, 'label_added', actor, 'labels', null, label, now);
    return true;
  }

  #removeLabel(id: string, label: string, actor: string, now: string): boolean {
    const info = this.store.stmt('DELETE FROM labels WHERE issue_id = ? AND label = ?').run(id, label);
    if (info.changes === 0) return false;
    this.#event(id, 'label_removed', actor, 'labels', label, null, now);
    return true;
  }

  #insertLabel(id: string, label: string): boolean {
    return this.store.stmt('INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?, ?)').run(id, label).changes > 0;
  }

  addComment(id: string, text: string, actor: string): Comment {
    if (text.trim() === '') throw new ValidationError('comment text cannot be empty');
    this.store.requireBead(id);
    const now = this.now();
    const comment = this.#insertComment(id, actor, text, now, null);
    this.#touch(id, now);
    return comment;
  }

  #insertComment(id: string, author: string, text: string, now: string, wantedId: number | null): Comment {
    const free =
      wantedId !== null && this.store.stmt('SELECT 1 FROM comments WHERE id = ?').get(wantedId) === undefined;
    const info = this.store
      .stmt('INSERT INTO comments (id, issue_id, author, text, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(free ? wantedId : null, id, author, text, now);
    this.#event(id, 'commented', author, 'comments', null, text, now);
    return toComment(
      this.store
        .stmt('SELECT id, issue_id, author, text, created_at FROM comments WHERE id = ?')
        .get(info.lastInsertRowid),
    );
  }

  setConfig(key: string, value: string, _actor: string): void {
    if (!CONFIG_KEY_PATTERN.test(key))
      throw new ValidationError(`invalid config key "${key}": lower-case letters, digits, ".", "_" and "-"`);
    if (key === 'issue_prefix' && !isValidPrefix(value)) {
      throw new ValidationError(`invalid prefix "${value}": start with a letter; use a-z, 0-9, "_" and inner "-"`);
    }
    if (key === 'types.custom') parseCommaList(value).forEach((t) => validateLabel(t));
    this.store
      .stmt('INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  // ------------------------------------------------------------------------------------------------------
  // import

  importLedger(ledger: ParsedLedger, actor: string, onProgress?: (done: number, total: number) => void): ImportReport {
    const report: ImportReport = {
      created: 0,
      updated: 0,
      unchanged: 0,
      kept_local: 0,
      skipped: ledger.skipped,
      total_lines: ledger.totalLines,
    };
    const now = this.now();
    const total = ledger.entries.length;
    ledger.entries.forEach((entry, index) => {
      const incoming = entry.bead;
      const local = this.store.getBead(incoming.id);
      const progress = (): void => {
        if (onProgress !== undefined && ((index + 1) % 250 === 0 || index + 1 === total)) onProgress(index + 1, total);
      };
      if (local === undefined && this.#deletedSince(incoming.id, incoming.updated_at)) {
        // Deleted here after the file's copy last changed: the deletion is the newer change, as with any field.
        report.kept_local++;
        progress();
        return;
      }
      if (local === undefined) {
        this.store.stmt(INSERT_BEAD_SQL).run(beadParams(incoming));
        for (const label of entry.labels) this.#insertLabel(incoming.id, label);
        for (const dep of entry.dependencies) this.#insertDependency(dep);
        this.#event(incoming.id, 'imported', actor, null, null, 'created', now);
        report.created++;
      } else {
        const localDetails = this.#details(local.id);
        const same =
          serializeRecord({ ...localDetails, comments: [] }) ===
          serializeRecord({ ...incoming, labels: entry.labels, dependencies: entry.dependencies, comments: [] });
        if (same) {
          report.unchanged++;
        } else if (compareTimestamps(incoming.updated_at, local.updated_at) > 0) {
          this.store.stmt(UPDATE_BEAD_SQL).run(beadParams(incoming));
          this.store.stmt('DELETE FROM labels WHERE issue_id = ?').run(incoming.id);
          this.store.stmt('DELETE FROM dependencies WHERE issue_id = ?').run(incoming.id);
          for (const label of entry.labels) this.#insertLabel(incoming.id, label);
          for (const dep of entry.dependencies) this.#insertDependency(dep);
          for (const c of diffBeads(local, incoming))
            this.#event(incoming.id, 'imported', actor, c.field, c.old, c.new, now);
          report.updated++;
        } else {
          report.kept_local++;
        }
      }
      // Comments are append-only: the union of both sides is always kept.
      const known = new Set(this.#commentKeys(incoming.id));
      for (const c of entry.comments) {
        const key = commentKey(c.author, c.text, c.created_at);
        if (known.has(key)) continue;
        known.add(key);
        this.#insertComment(incoming.id, c.author, c.text, c.created_at, c.id);
      }
      progress();
    });
    return report;
  }

  /** Whether the bead was deleted here at or after `updatedAt` (its newest `deleted` event). */
  #deletedSince(id: string, updatedAt: string): boolean {
    const row: unknown = this.store
      .stmt(
        `SELECT created_at FROM events WHERE issue_id = ? AND event_type = 'deleted' ORDER BY event_id DESC LIMIT 1`,
      )
      .get(id);
    return row !== undefined && compareTimestamps(updatedAt, toStringValue(row, 'created_at')) <= 0;
  }

  #commentKeys(id: string): string[] {
    return this.store
      .stmt('SELECT author, text, created_at FROM comments WHERE issue_id = ?')
      .all(id)
      .map((r) => commentKey(toStringValue(r, 'author'), toStringValue(r, 'text'), toStringValue(r, 'created_at')));
  }

  // ------------------------------------------------------------------------------------------------------
  // helpers

  #custom(key: string): string[] {
    return parseCommaList(this.store.configValue(key));
  }

  #write(bead: Bead, changed: readonly FieldChange[], actor: string, now: string): void {
    this.store.stmt(UPDATE_BEAD_SQL).run(beadParams(bead));
    for (const c of changed) this.#event(bead.id, c.eventType, actor, c.field, c.old, c.new, now);
  }

  #touch(id: string, now: string): void {
    this.store.stmt('UPDATE issues SET updated_at = ? WHERE id = ?').run(now, id);
  }

  #event(
    issueId: string,
    type: string,
    actor: string,
    field: string | null,
    old: string | null,
    value: string | null,
    now: string,
  ): void {
    this.store.stmt(INSERT_EVENT_SQL).run(issueId, type, actor, field, old, value, now);
  }

  #details(id: string): BeadDetails {
    const [d] = this.store.details([this.store.requireBead(id)]);
    if (d === undefined) throw new InternalError(`bead ${id} vanished inside its own transaction`);
    return d;
  }
}

function closeFailure(id: string, err: GtError): CloseFailure {
  return err.hint === undefined
    ? { id, code: err.code, error: err.message }
    : { id, code: err.code, error: err.message, hint: err.hint };
}

/** Estimates are whole minutes, never negative; dates are normalised timestamps. Checked before any write. */
function validateScheduling(input: {
  estimated_minutes?: number | null;
  due_at?: string | null;
  defer_until?: string | null;
}): void {
  const e = input.estimated_minutes;
  if (e !== undefined && e !== null && (!Number.isInteger(e) || e < 0)) {
    throw new ValidationError(`invalid estimate ${e}: expected a whole, non-negative number of minutes`);
  }
  for (const [field, value] of [
    ['due_at', input.due_at],
    ['defer_until', input.defer_until],
  ] as const) {
    if (value !== undefined && value !== null) normalizeTimestampFor(field, value);
  }
}

function normalizeTimestampFor(field: string, value: string): void {
  try {
    if (normalizeTimestamp(value) === value) return;
  } catch {
    // reported below
  }
  throw new ValidationError(`invalid ${field} "${value}": expected an RFC 3339 UTC time, e.g. 2026-01-02T03:04:05Z`);
}

function commentKey(author: string, text: string, createdAt: string): string {
  return JSON.stringify([author, text, createdAt]);
}

/** Rejects (ConflictError) unless the bead still has the expected status and metadata values. */
function checkExpectation(bead: Bead, expect: UpdateExpectation): void {
  const differs: string[] = [];
  if (expect.status !== undefined && bead.status !== expect.status) differs.push(`status is ${bead.status}`);
  for (const [key, want] of Object.entries(expect.metadata ?? {})) {
    const have: unknown = bead.metadata[key] ?? null;
    if (JSON.stringify(have) !== JSON.stringify(want ?? null)) differs.push(`${key} is ${JSON.stringify(have)}`);
  }
  if (differs.length > 0)
    throw new ConflictError(`${bead.id} changed meanwhile (${differs.join(', ')})`, {
      hint: 'look at it again and retry',
    });
}
