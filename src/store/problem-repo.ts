import { ConflictError, InternalError, isRecord, NotFoundError, ValidationError } from '../core/errors.js';
import {
  DECISION_OUTCOMES,
  isPatrolAction,
  isProblemKind,
  PATROL_ACTIONS,
  PROBLEM_STATES,
  stateAfter,
  SUBJECT_TYPES,
  type DecisionInput,
  type DecisionOutcome,
  type Evidence,
  type PatrolDecision,
  type Problem,
  type ProblemDraft,
  type ProblemKind,
  type ProblemQuery,
  type ProblemState,
  type SubjectType,
} from '../core/problem.js';
import { formatTimestamp, normalizeTimestamp } from '../core/time.js';
import { cachedStatement, type Db } from './db.js';
import { toIntValue, toNullableStringValue, toStringValue } from './rows.js';

/**
 * A live problem seen again with the same summary and evidence is written only when its last_seen is at least
 * this old: the daemon syncs every pass, and a pass that saw nothing new must not write the database.
 */
export const LAST_SEEN_GRANULARITY_MS = 300_000;
/** Evidence is small by contract (pane excerpts are cut to a few lines); this bounds a detector's mistake. */
const MAX_EVIDENCE_CHARS = 65_536;
const MAX_TEXT = 2_000;
/** How much of a text an event keeps. */
const EVENT_TEXT = 500;

const COLUMNS =
  'id, kind, subject, subject_type, rig, owner, summary, evidence, state, first_seen, last_seen, woken_at, ' +
  'resolved_at, resolution, escalation';
const SELECT = `SELECT ${COLUMNS} FROM problems`;
const LIVE = "state <> 'resolved'";
/** The live problems of some kinds (a JSON array): what every sync reads, through the problems_live index. */
export const LIVE_PROBLEMS_OF_KINDS_SQL = `${SELECT} WHERE ${LIVE} AND kind IN (SELECT value FROM json_each(?)) ORDER BY id`;
const DECISION_SELECT = /* sql */ `SELECT d.id, d.problem_id, p.kind, p.subject, d.actor, d.action, d.reason, d.evidence,
    d.decided_at, d.outcome, d.outcome_at FROM patrol_decisions d JOIN problems p ON p.id = d.problem_id`;

function oneOf<T extends string>(values: readonly T[], v: string, what: string): T {
  const found = values.find((x) => x === v);
  if (found === undefined) throw new InternalError(`${what} ${v} in the store`);
  return found;
}

function evidenceOf(row: unknown, key: string): Evidence {
  const parsed: unknown = JSON.parse(toStringValue(row, key));
  if (!isRecord(parsed)) throw new InternalError(`column ${key}: expected a JSON object`);
  return parsed;
}

function toProblem(row: unknown): Problem {
  const kind = toStringValue(row, 'kind');
  if (!isProblemKind(kind)) throw new InternalError(`problem of unknown kind ${kind} in the store`);
  return {
    id: toIntValue(row, 'id'),
    kind,
    subject: toStringValue(row, 'subject'),
    subject_type: oneOf<SubjectType>(SUBJECT_TYPES, toStringValue(row, 'subject_type'), 'subject type'),
    rig: toNullableStringValue(row, 'rig'),
    owner: toStringValue(row, 'owner'),
    summary: toStringValue(row, 'summary'),
    evidence: evidenceOf(row, 'evidence'),
    state: oneOf<ProblemState>(PROBLEM_STATES, toStringValue(row, 'state'), 'problem state'),
    first_seen: toStringValue(row, 'first_seen'),
    last_seen: toStringValue(row, 'last_seen'),
    woken_at: toNullableStringValue(row, 'woken_at'),
    resolved_at: toNullableStringValue(row, 'resolved_at'),
    resolution: toNullableStringValue(row, 'resolution'),
    escalation: toNullableStringValue(row, 'escalation'),
  };
}

function toDecision(row: unknown): PatrolDecision {
  const kind = toStringValue(row, 'kind');
  const action = toStringValue(row, 'action');
  if (!isProblemKind(kind)) throw new InternalError(`problem of unknown kind ${kind} in the store`);
  if (!isPatrolAction(action)) throw new InternalError(`decision with unknown action ${action} in the store`);
  return {
    id: toIntValue(row, 'id'),
    problem_id: toIntValue(row, 'problem_id'),
    kind,
    subject: toStringValue(row, 'subject'),
    actor: toStringValue(row, 'actor'),
    action,
    reason: toStringValue(row, 'reason'),
    evidence: evidenceOf(row, 'evidence'),
    decided_at: toStringValue(row, 'decided_at'),
    outcome: oneOf<DecisionOutcome>(DECISION_OUTCOMES, toStringValue(row, 'outcome'), 'decision outcome'),
    outcome_at: toNullableStringValue(row, 'outcome_at'),
  };
}

/** The evidence as stored: JSON text of an object, within the size bound. */
function evidenceText(evidence: unknown, what: string): string {
  if (!isRecord(evidence)) throw new ValidationError(`${what}: evidence must be a JSON object`);
  let text: string;
  try {
    text = JSON.stringify(evidence);
  } catch (cause) {
    throw new ValidationError(`${what}: evidence is not JSON`, { cause });
  }
  if (text.length > MAX_EVIDENCE_CHARS)
    throw new ValidationError(`${what}: evidence is ${text.length} characters, at most ${MAX_EVIDENCE_CHARS}`, {
      hint: 'cut pane excerpts to a few lines',
    });
  return text;
}

function requiredText(value: unknown, what: string, hint?: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError(`${what} is empty`, hint === undefined ? undefined : { hint });
  if (value.length > MAX_TEXT)
    throw new ValidationError(`${what} is ${value.length} characters, at most ${MAX_TEXT}`, {
      hint: 'say it in a sentence or two',
    });
  return value;
}

type CheckedDraft = ProblemDraft & { evidenceText: string };
type SyncOptions = {
  scope: readonly ProblemKind[];
  resolveReasons?: Readonly<Record<number, string>>;
  recurWithinMs: number;
};
type SyncPlan = {
  nowMs: number;
  open: CheckedDraft[];
  refresh: { problem: Problem; draft: CheckedDraft }[];
  resolve: { problem: Problem; resolution: string }[];
};

function checkDraft(d: ProblemDraft, scope: ReadonlySet<string>): CheckedDraft {
  const what = `problem ${String(d.kind)} of ${String(d.subject)}`;
  if (!isProblemKind(d.kind)) throw new ValidationError(`unknown problem kind "${String(d.kind)}"`);
  if (!scope.has(d.kind))
    throw new ValidationError(`${what}: kind ${d.kind} is outside this sync's scope`, {
      hint: 'add the kind to the scope, or sync it with its own detector',
    });
  requiredText(d.subject, `${what}: subject`);
  if (!(SUBJECT_TYPES as readonly string[]).includes(d.subject_type))
    throw new ValidationError(`${what}: unknown subject type "${String(d.subject_type)}"`);
  if (d.rig !== null && (typeof d.rig !== 'string' || d.rig === ''))
    throw new ValidationError(`${what}: rig must be a name or null`);
  requiredText(d.owner, `${what}: owner`);
  requiredText(d.summary, `${what}: summary`);
  return { ...d, evidenceText: evidenceText(d.evidence, what) };
}

function limitOf(limit: number | undefined): number {
  const l = limit ?? 0;
  if (!Number.isSafeInteger(l) || l < 0) throw new ValidationError(`invalid limit ${String(limit)}`);
  return l;
}

function keyOf(kind: string, subject: string): string {
  return `${kind}\u0000${subject}`;
}

/**
 * The problems and patrol_decisions tables. Methods run inside the caller's transaction (reads may run alone)
 * and append events with subject `problem:<id>`.
 */
export class ProblemRepo {
  constructor(
    private readonly db: Db,
    private readonly nowMs: () => number,
    private readonly event: (
      subject: string,
      type: string,
      actor: string,
      field: string | null,
      old: string | null,
      value: string | null,
    ) => void,
  ) {}

  #find(id: number): Problem | undefined {
    if (!Number.isSafeInteger(id)) return undefined;
    const row: unknown = cachedStatement(this.db, `${SELECT} WHERE id = ?`).get(id);
    return row === undefined ? undefined : toProblem(row);
  }

  require(id: number): Problem {
    const p = this.#find(id);
    if (p === undefined) throw new NotFoundError(`no problem ${id}`, { hint: 'list them with "gt patrol scan"' });
    return p;
  }

  #requireLive(id: number): Problem {
    const p = this.require(id);
    if (p.state === 'resolved')
      throw new ConflictError(`problem ${id} is resolved (${p.resolution ?? 'no reason kept'})`, {
        hint: '"gt patrol scan" lists the live ones',
      });
    return p;
  }

  /** What a sync would do, read in one statement; validates everything first. */
  #plan(drafts: readonly ProblemDraft[], options: SyncOptions): SyncPlan {
    for (const k of options.scope)
      if (!isProblemKind(k)) throw new ValidationError(`unknown problem kind "${String(k)}" in the scope`);
    if (!Number.isFinite(options.recurWithinMs) || options.recurWithinMs < 0)
      throw new ValidationError(`invalid recurrence window ${String(options.recurWithinMs)} ms`);
    const scope = new Set<string>(options.scope);
    // Of two drafts for one subject and kind the later one counts.
    const wanted = new Map<string, CheckedDraft>();
    for (const d of drafts) {
      const c = checkDraft(d, scope);
      wanted.delete(keyOf(c.kind, c.subject));
      wanted.set(keyOf(c.kind, c.subject), c);
    }
    const reasons = new Map<number, string>();
    for (const [id, reason] of Object.entries(options.resolveReasons ?? {}))
      reasons.set(Number(id), requiredText(reason, `the resolution of problem ${id}`));
    const nowMs = this.nowMs();
    const live = new Map(
      cachedStatement(this.db, LIVE_PROBLEMS_OF_KINDS_SQL)
        .all(JSON.stringify([...scope]))
        .map(toProblem)
        .map((p) => [keyOf(p.kind, p.subject), p] as const),
    );
    const plan: SyncPlan = { nowMs, open: [], refresh: [], resolve: [] };
    for (const [key, d] of wanted) {
      const current = live.get(key);
      if (current === undefined) plan.open.push(d);
      else if (
        current.summary !== d.summary ||
        JSON.stringify(current.evidence) !== d.evidenceText ||
        nowMs - Date.parse(current.last_seen) >= LAST_SEEN_GRANULARITY_MS
      )
        plan.refresh.push({ problem: current, draft: d });
    }
    for (const [key, p] of live)
      if (!wanted.has(key)) plan.resolve.push({ problem: p, resolution: reasons.get(p.id) ?? 'no longer seen' });
    return plan;
  }

  /**
   * Whether syncing these drafts would write anything: a plain read, so that the daemon's pass that saw
   * nothing new takes no write lock at all. (A change after this read is as if it came after the sync.)
   */
  syncWouldWrite(drafts: readonly ProblemDraft[], options: SyncOptions): boolean {
    const plan = this.#plan(drafts, options);
    return plan.open.length + plan.refresh.length + plan.resolve.length > 0;
  }

  sync(
    drafts: readonly ProblemDraft[],
    options: SyncOptions,
    actor: string,
  ): { opened: Problem[]; resolved: Problem[] } {
    const plan = this.#plan(drafts, options);
    const now = formatTimestamp(plan.nowMs);
    const opened = plan.open.map((d) => this.#open(d, now, plan.nowMs - options.recurWithinMs, actor));
    for (const { problem, draft } of plan.refresh) this.#refresh(problem, draft, now, actor);
    const resolved = plan.resolve.map(({ problem, resolution }) => this.#resolve(problem, resolution, now, actor));
    return { opened: opened.map((id) => this.require(id)), resolved };
  }

  #open(d: CheckedDraft, now: string, recurSinceMs: number, actor: string): number {
    const info = cachedStatement(
      this.db,
      `INSERT INTO problems (kind, subject, subject_type, rig, owner, summary, evidence, state, first_seen, last_seen)
       VALUES (@kind, @subject, @subject_type, @rig, @owner, @summary, @evidence, 'open', @now, @now)`,
    ).run({
      kind: d.kind,
      subject: d.subject,
      subject_type: d.subject_type,
      rig: d.rig,
      owner: d.owner,
      summary: d.summary,
      evidence: d.evidenceText,
      now,
    });
    const id = Number(info.lastInsertRowid);
    this.event(`problem:${id}`, 'problem_opened', actor, 'summary', null, d.summary.slice(0, EVENT_TEXT));
    // It came back soon after it went away: what looked like a recovery was not one.
    const previous: unknown = cachedStatement(
      this.db,
      `SELECT id FROM problems WHERE kind = ? AND subject = ? AND state = 'resolved' AND resolved_at >= ?
        ORDER BY resolved_at DESC, id DESC LIMIT 1`,
    ).get(d.kind, d.subject, formatTimestamp(recurSinceMs));
    if (previous !== undefined) {
      const before = toIntValue(previous, 'id');
      cachedStatement(
        this.db,
        `UPDATE patrol_decisions SET outcome = 'recurred', outcome_at = ? WHERE problem_id = ? AND outcome = 'recovered'`,
      ).run(now, before);
      this.event(`problem:${before}`, 'problem_recurred', actor, 'recurred_as', null, `problem:${id}`);
    }
    return id;
  }

  #refresh(p: Problem, d: CheckedDraft, now: string, actor: string): void {
    cachedStatement(this.db, 'UPDATE problems SET last_seen = ?, summary = ?, evidence = ? WHERE id = ?').run(
      now,
      d.summary,
      d.evidenceText,
      p.id,
    );
    // Evidence and last_seen live in the row; only a new summary is worth an event (the daemon refreshes often).
    if (p.summary !== d.summary)
      this.event(
        `problem:${p.id}`,
        'problem_updated',
        actor,
        'summary',
        p.summary.slice(0, EVENT_TEXT),
        d.summary.slice(0, EVENT_TEXT),
      );
  }

  /** Resolves a live problem; its pending decisions are followed by recovery. */
  #resolve(p: Problem, resolution: string, now: string, actor: string): Problem {
    cachedStatement(
      this.db,
      `UPDATE problems SET state = 'resolved', resolved_at = ?, resolution = ? WHERE id = ? AND ${LIVE}`,
    ).run(now, resolution, p.id);
    cachedStatement(
      this.db,
      `UPDATE patrol_decisions SET outcome = 'recovered', outcome_at = ? WHERE problem_id = ? AND outcome = 'pending'`,
    ).run(now, p.id);
    this.event(`problem:${p.id}`, 'problem_resolved', actor, 'state', p.state, resolution.slice(0, EVENT_TEXT));
    return this.require(p.id);
  }

  resolve(id: number, resolution: string, actor: string): Problem {
    const text = requiredText(resolution, 'the resolution', 'say why it is resolved');
    return this.#resolve(this.#requireLive(id), text, formatTimestamp(this.nowMs()), actor);
  }

  decide(id: number, input: DecisionInput, actor: string): { problem: Problem; decision: PatrolDecision } {
    if (typeof input.action !== 'string' || !isPatrolAction(input.action))
      throw new ValidationError(`unknown patrol action "${String(input.action)}"`, {
        hint: `one of: ${PATROL_ACTIONS.join(', ')}`,
      });
    const reason = requiredText(input.reason, 'the reason for the decision', 'say why in a sentence: --reason "…"');
    if (input.state !== undefined && !(PROBLEM_STATES as readonly string[]).includes(input.state))
      throw new ValidationError(`unknown problem state "${String(input.state)}"`, {
        hint: `one of: ${PROBLEM_STATES.join(', ')}`,
      });
    if (input.escalation !== undefined && input.escalation !== null) requiredText(input.escalation, 'the escalation');
    const p = this.#requireLive(id);
    const now = formatTimestamp(this.nowMs());
    const escalated = input.action === 'escalate';
    const info = cachedStatement(
      this.db,
      `INSERT INTO patrol_decisions (problem_id, actor, action, reason, evidence, decided_at, outcome, outcome_at)
       SELECT id, @actor, @action, @reason, evidence, @now, @outcome, @outcomeAt FROM problems WHERE id = @id`,
    ).run({
      id,
      actor,
      action: input.action,
      reason,
      now,
      outcome: escalated ? 'escalated' : 'pending',
      outcomeAt: escalated ? now : null,
    });
    const decisionId = Number(info.lastInsertRowid);
    const next = input.state ?? stateAfter(input.action);
    this.event(
      `problem:${id}`,
      'problem_decided',
      actor,
      'decision',
      p.state,
      `${input.action}: ${reason}`.slice(0, EVENT_TEXT),
    );
    if (input.escalation !== undefined && input.escalation !== p.escalation) {
      cachedStatement(this.db, 'UPDATE problems SET escalation = ? WHERE id = ?').run(input.escalation, id);
      this.event(`problem:${id}`, 'problem_escalation', actor, 'escalation', p.escalation, input.escalation);
    }
    let problem: Problem;
    if (next === 'resolved') {
      problem = this.#resolve(p, `${input.action} by ${actor}: ${reason}`.slice(0, MAX_TEXT), now, actor);
    } else {
      if (next !== p.state) cachedStatement(this.db, 'UPDATE problems SET state = ? WHERE id = ?').run(next, id);
      problem = this.require(id);
    }
    return { problem, decision: this.#decision(decisionId) };
  }

  #decision(id: number): PatrolDecision {
    const row: unknown = cachedStatement(this.db, `${DECISION_SELECT} WHERE d.id = ?`).get(id);
    if (row === undefined) throw new InternalError(`decision ${id} vanished`);
    return toDecision(row);
  }

  markWoken(ids: readonly number[], actor: string): void {
    const unique = [...new Set(ids)];
    const missing = unique.filter((id) => this.#find(id) === undefined);
    if (missing.length > 0)
      throw new NotFoundError(`no problem ${missing.join(', ')}`, { hint: 'list them with "gt patrol scan"' });
    const now = formatTimestamp(this.nowMs());
    for (const id of unique) {
      cachedStatement(this.db, 'UPDATE problems SET woken_at = ? WHERE id = ?').run(now, id);
      this.event(`problem:${id}`, 'problem_woken', actor, 'woken_at', null, now);
    }
  }

  list(query: ProblemQuery = {}): Problem[] {
    const limit = limitOf(query.limit);
    // Only the filters given go into the statement, so that each combination can use its index.
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    const inList = (column: string, name: string, values: readonly (string | number)[] | undefined): void => {
      if (values === undefined) return;
      where.push(`${column} IN (SELECT value FROM json_each(@${name}))`);
      params[name] = JSON.stringify(values);
    };
    const equal = (column: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.push(`${column} = @${column}`);
      params[column] = value;
    };
    inList('state', 'states', query.states);
    inList('kind', 'kinds', query.kinds);
    inList('id', 'ids', query.ids);
    equal('owner', query.owner);
    equal('rig', query.rig);
    equal('subject', query.subject);
    const sql =
      `${SELECT}${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`}` +
      (limit === 0 ? ' ORDER BY id' : ' ORDER BY id DESC LIMIT @limit');
    if (limit > 0) params.limit = limit;
    return cachedStatement(this.db, sql).all(params).map(toProblem);
  }

  decisions(query: { problem?: number; since?: string; limit?: number } = {}): PatrolDecision[] {
    const limit = limitOf(query.limit);
    return cachedStatement(
      this.db,
      `${DECISION_SELECT}
        WHERE (@problem IS NULL OR d.problem_id = @problem)
          AND (@since IS NULL OR d.decided_at >= strftime('%Y-%m-%dT%H:%M:%fZ', @since))
        ORDER BY d.id DESC LIMIT @limit`,
    )
      .all({
        problem: query.problem ?? null,
        since: query.since === undefined ? null : normalizeTimestamp(query.since),
        limit: limit === 0 ? -1 : limit,
      })
      .map(toDecision);
  }
}
