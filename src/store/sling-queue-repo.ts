import { ConflictError, InternalError, NotFoundError, ValidationError } from '../core/errors.js';
import {
  QUEUED_SLING_STATES,
  type QueuedSling,
  type QueuedSlingState,
  type QueueSlingInput,
  type SchedulerPause,
} from '../core/sling-queue.js';
import { cachedStatement, type Db } from './db.js';
import { toIntValue, toNullableStringValue, toStringValue } from './rows.js';

const COLUMNS =
  'q.id, q.bead_id, q.rig, q.target, q.create_new, q.args, q.agent_cli, q.queued_by, q.queued_at, q.state, ' +
  'q.claimed_by, q.claimed_at, q.attempts, q.last_error, q.failed_at, q.finished_at, q.outcome';
/** A pending sling goes by its bead's priority now (a bead re-prioritised while it waits moves in the queue). */
const SELECT = `SELECT ${COLUMNS}, COALESCE(i.priority, q.priority) AS priority FROM sling_queue q LEFT JOIN issues i ON i.id = q.bead_id`;
const PENDING = "q.state IN ('queued', 'dispatching')";

function isState(v: string): v is QueuedSlingState {
  return (QUEUED_SLING_STATES as readonly string[]).includes(v);
}

function toQueuedSling(row: unknown): QueuedSling {
  const state = toStringValue(row, 'state');
  if (!isState(state)) throw new InternalError(`sling_queue row with state ${state}`);
  return {
    id: toIntValue(row, 'id'),
    bead: toStringValue(row, 'bead_id'),
    rig: toStringValue(row, 'rig'),
    target: toStringValue(row, 'target'),
    create: toIntValue(row, 'create_new') === 1,
    args: toNullableStringValue(row, 'args'),
    agent: toNullableStringValue(row, 'agent_cli'),
    priority: toIntValue(row, 'priority'),
    queued_by: toStringValue(row, 'queued_by'),
    queued_at: toStringValue(row, 'queued_at'),
    state,
    claimed_by: toNullableStringValue(row, 'claimed_by'),
    claimed_at: toNullableStringValue(row, 'claimed_at'),
    attempts: toIntValue(row, 'attempts'),
    last_error: toNullableStringValue(row, 'last_error'),
    failed_at: toNullableStringValue(row, 'failed_at'),
    finished_at: toNullableStringValue(row, 'finished_at'),
    outcome: toNullableStringValue(row, 'outcome'),
  };
}

/** Claimants are `<actor>:<pid>`-like tokens; targets are rigs or addresses. */
const CLAIMANT = /^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,120}$/;
const TARGET = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,200}$/;
const SCHEDULER_SUBJECT = 'scheduler';

/**
 * The sling_queue and scheduler_pause tables. Methods run inside the caller's transaction (reads may run
 * alone) and append events: a sling's subject is its bead, the pause's is `scheduler`.
 */
export class SlingQueueRepo {
  constructor(
    private readonly db: Db,
    private readonly now: () => string,
    private readonly event: (
      subject: string,
      type: string,
      actor: string,
      field: string | null,
      old: string | null,
      value: string | null,
    ) => void,
  ) {}

  #byId(id: number): QueuedSling {
    const row: unknown = cachedStatement(this.db, `${SELECT} WHERE q.id = ?`).get(id);
    if (row === undefined) throw new NotFoundError(`no queued sling ${id}`);
    return toQueuedSling(row);
  }

  #pendingOf(bead: string): QueuedSling | undefined {
    const row: unknown = cachedStatement(this.db, `${SELECT} WHERE q.bead_id = ? AND ${PENDING}`).get(bead);
    return row === undefined ? undefined : toQueuedSling(row);
  }

  queue(input: QueueSlingInput, actor: string): { sling: QueuedSling; created: boolean } {
    if (!TARGET.test(input.target)) throw new ValidationError(`invalid sling target "${input.target}"`);
    if (input.args !== undefined && input.args.length > 16_384)
      throw new ValidationError('--args is at most 16384 characters');
    if (input.agent !== undefined && !/^[a-z][a-z0-9_-]{0,39}$/.test(input.agent))
      throw new ValidationError(`invalid agent "${input.agent}"`);
    const bead: unknown = cachedStatement(this.db, 'SELECT status, priority FROM issues WHERE id = ?').get(input.bead);
    if (bead === undefined) throw new NotFoundError(`no bead ${input.bead}`);
    if (toStringValue(bead, 'status') === 'closed')
      throw new ValidationError(`${input.bead} is closed`, { hint: `reopen it first: bd reopen ${input.bead}` });
    const rig: unknown = cachedStatement(this.db, 'SELECT name FROM rigs WHERE name = ?').get(input.rig);
    if (rig === undefined) throw new NotFoundError(`no rig ${input.rig}`, { hint: 'list rigs with "gt rig list"' });
    const existing = this.#pendingOf(input.bead);
    if (existing !== undefined) {
      if (existing.target === input.target) return { sling: existing, created: false };
      throw new ConflictError(`${input.bead} is already queued for ${existing.target}`, {
        hint: `"gt scheduler cancel ${input.bead}" first to sling it elsewhere`,
      });
    }
    const now = this.now();
    const info = cachedStatement(
      this.db,
      `INSERT INTO sling_queue (bead_id, rig, target, create_new, args, agent_cli, priority, queued_by, queued_at)
       VALUES (@bead, @rig, @target, @create, @args, @agent, @priority, @actor, @now)`,
    ).run({
      bead: input.bead,
      rig: input.rig,
      target: input.target,
      create: input.create === true ? 1 : 0,
      args: input.args ?? null,
      agent: input.agent ?? null,
      priority: toIntValue(bead, 'priority'),
      actor,
      now,
    });
    this.event(input.bead, 'sling_queued', actor, 'target', null, input.target);
    return { sling: this.#byId(Number(info.lastInsertRowid)), created: true };
  }

  pending(): QueuedSling[] {
    return cachedStatement(this.db, `${SELECT} WHERE ${PENDING} ORDER BY priority, q.queued_at, q.id`)
      .all()
      .map(toQueuedSling);
  }

  finished(limit: number): QueuedSling[] {
    return cachedStatement(this.db, `${SELECT} WHERE NOT (${PENDING}) ORDER BY q.finished_at DESC, q.id DESC LIMIT ?`)
      .all(limit <= 0 ? -1 : limit)
      .map(toQueuedSling);
  }

  claim(
    id: number,
    claimant: string,
    actor: string,
    takeOver?: { claimed_by: string | null; claimed_at: string | null },
  ): QueuedSling | null {
    if (!CLAIMANT.test(claimant)) throw new ValidationError(`invalid claimant "${claimant}"`);
    const now = this.now();
    const changed =
      takeOver === undefined
        ? cachedStatement(
            this.db,
            "UPDATE sling_queue SET state = 'dispatching', claimed_by = ?, claimed_at = ? WHERE id = ? AND state = 'queued'",
          ).run(claimant, now, id).changes
        : cachedStatement(
            this.db,
            `UPDATE sling_queue SET claimed_by = @claimant, claimed_at = @now
              WHERE id = @id AND state = 'dispatching' AND claimed_by IS @by AND claimed_at IS @at`,
          ).run({ claimant, now, id, by: takeOver.claimed_by, at: takeOver.claimed_at }).changes;
    if (changed === 0) return null;
    const s = this.#byId(id);
    this.event(s.bead, 'sling_claimed', actor, 'claimed_by', takeOver?.claimed_by ?? null, claimant);
    return s;
  }

  finish(
    id: number,
    claimant: string,
    result: { state: 'dispatched' | 'dropped'; outcome: string },
    actor: string,
  ): boolean {
    if (result.state !== 'dispatched' && result.state !== 'dropped')
      throw new ValidationError(`a sling ends dispatched or dropped, not ${String(result.state)}`);
    const changed = cachedStatement(
      this.db,
      `UPDATE sling_queue SET state = @state, outcome = @outcome, finished_at = @now, claimed_by = NULL
        WHERE id = @id AND state = 'dispatching' AND claimed_by = @claimant`,
    ).run({ state: result.state, outcome: result.outcome.slice(0, 2_000), now: this.now(), id, claimant }).changes;
    if (changed === 0) return false;
    this.event(
      this.#byId(id).bead,
      `sling_${result.state}`,
      actor,
      'state',
      'dispatching',
      result.outcome.slice(0, 500),
    );
    return true;
  }

  release(id: number, claimant: string, error: string | null, actor: string): boolean {
    const changed = cachedStatement(
      this.db,
      `UPDATE sling_queue SET state = 'queued', claimed_by = NULL, claimed_at = NULL,
              attempts = attempts + @failed, last_error = COALESCE(@error, last_error),
              failed_at = CASE WHEN @failed = 1 THEN @now ELSE failed_at END
        WHERE id = @id AND state = 'dispatching' AND claimed_by = @claimant`,
    ).run({
      id,
      claimant,
      error: error?.slice(0, 2_000) ?? null,
      failed: error === null ? 0 : 1,
      now: this.now(),
    }).changes;
    if (changed === 0) return false;
    this.event(this.#byId(id).bead, 'sling_released', actor, 'state', 'dispatching', error?.slice(0, 500) ?? 'queued');
    return true;
  }

  cancel(bead: string, actor: string): QueuedSling | null {
    const s = this.#pendingOf(bead);
    if (s === undefined) return null;
    if (s.state === 'dispatching')
      throw new ConflictError(`${bead} is being dispatched right now (by ${s.claimed_by ?? 'someone'})`, {
        hint: `it will be on a polecat's hook in a moment: "gt unsling <polecat>" takes it off`,
      });
    cachedStatement(
      this.db,
      "UPDATE sling_queue SET state = 'cancelled', finished_at = ?, outcome = ? WHERE id = ? AND state = 'queued'",
    ).run(this.now(), `cancelled by ${actor}`, s.id);
    this.event(bead, 'sling_cancelled', actor, 'state', 'queued', 'cancelled');
    return this.#byId(s.id);
  }

  pause(): SchedulerPause | null {
    const row: unknown = cachedStatement(this.db, 'SELECT since, actor FROM scheduler_pause WHERE id = 1').get();
    return row === undefined ? null : { since: toStringValue(row, 'since'), by: toStringValue(row, 'actor') };
  }

  setPaused(paused: boolean, actor: string): SchedulerPause | null {
    const current = this.pause();
    if (paused === (current !== null)) return current;
    const now = this.now();
    if (paused) {
      cachedStatement(this.db, 'INSERT INTO scheduler_pause (id, since, actor) VALUES (1, ?, ?)').run(now, actor);
      this.event(SCHEDULER_SUBJECT, 'scheduler_paused', actor, null, null, null);
      return { since: now, by: actor };
    }
    cachedStatement(this.db, 'DELETE FROM scheduler_pause WHERE id = 1').run();
    this.event(SCHEDULER_SUBJECT, 'scheduler_resumed', actor, null, current?.since ?? null, null);
    return null;
  }
}
