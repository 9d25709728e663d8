import { EVENT_TYPES } from '../core/bead.js';
import {
  AGENT_STATES,
  MAX_NUDGE_LENGTH,
  MAX_QUEUED_NUDGES,
  SESSION_END_REASONS,
  type Agent,
  type AgentChanges,
  type AgentSession,
  type AgentState,
  type QueuedNudge,
  type QueueNudgeInput,
  type RegisterAgentInput,
  type SessionEndReason,
  type StartSessionInput,
  type TownHold,
} from '../core/agent-store.js';
import { ConflictError, InternalError, NotFoundError, TownDownError, ValidationError } from '../core/errors.js';
import { agentAddress, isRole, ROLE_SPECS, TOWN_PREFIX, validateName, type Role } from '../core/identity.js';
import { isValidPrefix } from '../core/ids.js';
import type { Rig } from '../core/rig-registry.js';
import { cachedStatement, type Db } from './db.js';
import { toIntValue, toNullableStringValue, toStringValue } from './rows.js';

const AGENT_COLUMNS =
  'address, role, rig, name, hook_bead, agent_state, runtime, session_name, sandbox_path, branch, created_at, last_activity';
const NUDGE_COLUMNS = 'id, recipient, sender, body, urgent, created_at, delivered_at, delivered_by';
const SESSION_COLUMNS = 'session_id, agent, bead_id, runtime, runtime_session_id, started_at, ended_at, end_reason';

function isAgentState(v: string): v is AgentState {
  return (AGENT_STATES as readonly string[]).includes(v);
}

function isEndReason(v: string): v is SessionEndReason {
  return (SESSION_END_REASONS as readonly string[]).includes(v);
}

function toAgent(row: unknown): Agent {
  const role = toStringValue(row, 'role');
  const state = toStringValue(row, 'agent_state');
  if (!isRole(role) || !isAgentState(state)) throw new InternalError(`agent row with role ${role} and state ${state}`);
  return {
    address: toStringValue(row, 'address'),
    role,
    rig: toNullableStringValue(row, 'rig'),
    name: toNullableStringValue(row, 'name'),
    hook_bead: toNullableStringValue(row, 'hook_bead'),
    agent_state: state,
    runtime: toNullableStringValue(row, 'runtime'),
    session_name: toStringValue(row, 'session_name'),
    sandbox_path: toStringValue(row, 'sandbox_path'),
    branch: toNullableStringValue(row, 'branch'),
    created_at: toStringValue(row, 'created_at'),
    last_activity: toNullableStringValue(row, 'last_activity'),
  };
}

function toRig(row: unknown): Rig {
  return {
    name: toStringValue(row, 'name'),
    prefix: toStringValue(row, 'prefix'),
    url: toStringValue(row, 'url'),
    default_branch: toStringValue(row, 'default_branch'),
    path: toStringValue(row, 'path'),
    created_at: toStringValue(row, 'created_at'),
  };
}

function toSession(row: unknown): AgentSession {
  const reason = toNullableStringValue(row, 'end_reason');
  if (reason !== null && !isEndReason(reason)) throw new InternalError(`session row with end_reason ${reason}`);
  return {
    session_id: toStringValue(row, 'session_id'),
    agent: toStringValue(row, 'agent'),
    bead_id: toNullableStringValue(row, 'bead_id'),
    runtime: toStringValue(row, 'runtime'),
    runtime_session_id: toNullableStringValue(row, 'runtime_session_id'),
    started_at: toStringValue(row, 'started_at'),
    ended_at: toNullableStringValue(row, 'ended_at'),
    end_reason: reason,
  };
}

function toNudge(row: unknown): QueuedNudge {
  return {
    id: toIntValue(row, 'id'),
    recipient: toStringValue(row, 'recipient'),
    sender: toStringValue(row, 'sender'),
    body: toStringValue(row, 'body'),
    urgent: toIntValue(row, 'urgent') === 1,
    created_at: toStringValue(row, 'created_at'),
    delivered_at: toNullableStringValue(row, 'delivered_at'),
    delivered_by: toNullableStringValue(row, 'delivered_by'),
  };
}

/** The subject of the town's own events (down, up). */
const TOWN_SUBJECT = 'town';

/** Session names and runtimes become tmux targets and argv: the same allow-list as names, a little longer. */
const SESSION_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$/;
const RUNTIME_PATTERN = /^[a-z][a-z0-9_-]{0,39}$/;

/**
 * The agents and sessions tables. Methods run inside the caller's transaction (reads may run alone) and
 * append events whose subject is the agent's address.
 */
export class AgentRepo {
  constructor(
    private readonly db: Db,
    private readonly now: () => string,
    private readonly newId: () => string,
  ) {}

  find(address: string): Agent | undefined {
    const row: unknown = cachedStatement(this.db, `SELECT ${AGENT_COLUMNS} FROM agents WHERE address = ?`).get(address);
    return row === undefined ? undefined : toAgent(row);
  }

  require(address: string): Agent {
    const agent = this.find(address);
    if (agent === undefined)
      throw new NotFoundError(`no agent ${address}`, { hint: 'list agents with "gt agents" (or check the address)' });
    return agent;
  }

  list(filter: { rig?: string; role?: Role }): Agent[] {
    return cachedStatement(
      this.db,
      `SELECT ${AGENT_COLUMNS} FROM agents WHERE (@rig IS NULL OR rig = @rig) AND (@role IS NULL OR role = @role) ORDER BY address`,
    )
      .all({ rig: filter.rig ?? null, role: filter.role ?? null })
      .map(toAgent);
  }

  register(input: RegisterAgentInput, actor: string): Agent {
    const id = input.identity;
    if ('rig' in id) validateName('rig', id.rig);
    if ('name' in id) validateName(id.role === 'crew' ? 'crew' : 'polecat', id.name);
    if (!SESSION_NAME_PATTERN.test(input.session_name))
      throw new ValidationError(`invalid session name "${input.session_name}"`);
    if (input.sandbox_path === '' || !input.sandbox_path.startsWith('/'))
      throw new ValidationError(`sandbox path must be absolute, got "${input.sandbox_path}"`);
    if (input.runtime !== undefined && input.runtime !== null && !RUNTIME_PATTERN.test(input.runtime))
      throw new ValidationError(`invalid runtime "${input.runtime}"`);
    if (input.agent_state !== undefined && !isAgentState(input.agent_state))
      throw new ValidationError(
        `invalid agent state "${String(input.agent_state)}": expected one of ${AGENT_STATES.join(', ')}`,
      );
    const address = agentAddress(id);
    const existing = this.find(address);
    if (existing !== undefined) {
      if (existing.sandbox_path === input.sandbox_path && existing.session_name === input.session_name) return existing;
      throw new ConflictError(
        `agent ${address} already exists with sandbox ${existing.sandbox_path} and session ${existing.session_name}`,
      );
    }
    const clash: unknown = cachedStatement(
      this.db,
      'SELECT address FROM agents WHERE session_name = ? OR sandbox_path = ?',
    ).get(input.session_name, input.sandbox_path);
    if (clash !== undefined)
      throw new ConflictError(`agent ${toStringValue(clash, 'address')} already uses that session name or sandbox`);
    const now = this.now();
    cachedStatement(
      this.db,
      `INSERT INTO agents (${AGENT_COLUMNS}) VALUES (@address, @role, @rig, @name, NULL, @agent_state, @runtime, @session_name, @sandbox_path, @branch, @now, NULL)`,
    ).run({
      address,
      role: id.role,
      rig: 'rig' in id ? id.rig : null,
      name: 'name' in id ? id.name : null,
      runtime: input.runtime ?? null,
      session_name: input.session_name,
      sandbox_path: input.sandbox_path,
      branch: input.branch ?? null,
      agent_state: input.agent_state ?? 'idle',
      now,
    });
    this.#event(
      address,
      'agent_registered',
      actor,
      null,
      null,
      ROLE_SPECS[id.role].scope === 'town' ? id.role : `${id.role} of ${'rig' in id ? id.rig : ''}`,
      now,
    );
    return this.require(address);
  }

  update(address: string, changes: AgentChanges, actor: string): Agent {
    const before = this.require(address);
    if (changes.agent_state !== undefined && !isAgentState(changes.agent_state)) {
      throw new ValidationError(
        `invalid agent state "${String(changes.agent_state)}": expected one of ${AGENT_STATES.join(', ')}`,
      );
    }
    if (changes.runtime !== undefined && changes.runtime !== null && !RUNTIME_PATTERN.test(changes.runtime))
      throw new ValidationError(`invalid runtime "${changes.runtime}"`);
    if (changes.sandbox_path !== undefined && !changes.sandbox_path.startsWith('/'))
      throw new ValidationError(`sandbox path must be absolute, got "${changes.sandbox_path}"`);
    const after: Agent = {
      ...before,
      agent_state: changes.agent_state ?? before.agent_state,
      runtime: changes.runtime === undefined ? before.runtime : changes.runtime,
      branch: changes.branch === undefined ? before.branch : changes.branch,
      sandbox_path: changes.sandbox_path ?? before.sandbox_path,
    };
    const now = this.now();
    const fields = ['agent_state', 'runtime', 'branch', 'sandbox_path'] as const;
    const changed = fields.filter((f) => before[f] !== after[f]);
    if (changed.length === 0) return before;
    cachedStatement(
      this.db,
      'UPDATE agents SET agent_state = @agent_state, runtime = @runtime, branch = @branch, sandbox_path = @sandbox_path, last_activity = @now WHERE address = @address',
    ).run({
      agent_state: after.agent_state,
      runtime: after.runtime,
      branch: after.branch,
      sandbox_path: after.sandbox_path,
      now,
      address,
    });
    for (const f of changed) this.#event(address, 'agent_updated', actor, f, before[f], after[f], now);
    return this.require(address);
  }

  remove(address: string, actor: string): void {
    const agent = this.require(address);
    if (agent.hook_bead !== null)
      throw new ConflictError(`${address} has ${agent.hook_bead} on its hook`, {
        hint: 'finish or unhook the work first',
      });
    if (this.#openSession(address) !== undefined)
      throw new ConflictError(`${address} has an open session`, { hint: 'end the session first' });
    cachedStatement(this.db, 'DELETE FROM agents WHERE address = ?').run(address);
    this.#event(address, 'agent_removed', actor, null, null, null, this.now());
  }

  startSession(input: StartSessionInput, actor: string): AgentSession {
    this.require(input.agent);
    const hold = this.townHold();
    if (hold !== null) throw new TownDownError(hold);
    if (!RUNTIME_PATTERN.test(input.runtime)) throw new ValidationError(`invalid runtime "${input.runtime}"`);
    const open = this.#openSession(input.agent);
    if (open !== undefined)
      throw new ConflictError(`${input.agent} already has an open session (${open.session_id})`, {
        hint: 'end it first',
      });
    const now = this.now();
    const sessionId = this.newId();
    cachedStatement(
      this.db,
      `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (@session_id, @agent, @bead_id, @runtime, @runtime_session_id, @now, NULL, NULL)`,
    ).run({
      session_id: sessionId,
      agent: input.agent,
      bead_id: input.bead_id ?? null,
      runtime: input.runtime,
      runtime_session_id: input.runtime_session_id ?? null,
      now,
    });
    cachedStatement(this.db, 'UPDATE agents SET last_activity = ? WHERE address = ?').run(now, input.agent);
    this.#event(input.agent, 'session_started', actor, 'session', null, sessionId, now);
    return this.#session(sessionId);
  }

  endSession(sessionId: string, reason: SessionEndReason, actor: string): AgentSession {
    if (!isEndReason(reason))
      throw new ValidationError(
        `invalid end reason "${String(reason)}": expected one of ${SESSION_END_REASONS.join(', ')}`,
      );
    const session = this.#session(sessionId);
    if (session.ended_at !== null) return session;
    const now = this.now();
    cachedStatement(this.db, 'UPDATE sessions SET ended_at = ?, end_reason = ? WHERE session_id = ?').run(
      now,
      reason,
      sessionId,
    );
    cachedStatement(this.db, 'UPDATE agents SET last_activity = ? WHERE address = ?').run(now, session.agent);
    this.#event(session.agent, 'session_ended', actor, 'session', sessionId, reason, now);
    return this.#session(sessionId);
  }

  sessionMayRun(sessionId: string): boolean {
    return this.#session(sessionId).ended_at === null && this.townHold() === null;
  }

  townHold(): TownHold | null {
    const row: unknown = cachedStatement(this.db, 'SELECT since, actor FROM town_hold WHERE id = 1').get();
    return row === undefined ? null : { since: toStringValue(row, 'since'), by: toStringValue(row, 'actor') };
  }

  setTownDown(down: boolean, actor: string): TownHold | null {
    const hold = this.townHold();
    if (down === (hold !== null)) return hold;
    const now = this.now();
    if (down) {
      cachedStatement(this.db, 'INSERT INTO town_hold (id, since, actor) VALUES (1, ?, ?)').run(now, actor);
      this.#event(TOWN_SUBJECT, 'town_down', actor, null, null, null, now);
      return { since: now, by: actor };
    }
    cachedStatement(this.db, 'DELETE FROM town_hold WHERE id = 1').run();
    this.#event(TOWN_SUBJECT, 'town_up', actor, null, hold?.since ?? null, null, now);
    return null;
  }

  recordActivity(subject: string, type: string, value: string, actor: string): void {
    if (!/^[a-z][a-z0-9_]{1,39}$/.test(type) || (EVENT_TYPES as readonly string[]).includes(type))
      throw new ValidationError(`invalid activity type "${type}": a lower-case name of gt's own`);
    if (subject === '' || subject.length > 200) throw new ValidationError('an activity needs a subject');
    if (Buffer.byteLength(value) > 16_384) throw new ValidationError(`the ${type} record is over 16 KB`);
    this.#event(subject, type, actor, null, null, value, this.now());
  }

  openSession(agent: string): AgentSession | null {
    this.require(agent);
    return this.#openSession(agent) ?? null;
  }

  setRuntimeSessionId(sessionId: string, runtimeSessionId: string, actor: string): AgentSession {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(runtimeSessionId))
      throw new ValidationError(`invalid runtime session id "${runtimeSessionId}"`);
    const session = this.#session(sessionId);
    if (session.runtime_session_id === runtimeSessionId) return session;
    if (session.ended_at !== null) throw new ConflictError(`session ${sessionId} has ended`);
    const now = this.now();
    cachedStatement(this.db, 'UPDATE sessions SET runtime_session_id = ? WHERE session_id = ?').run(
      runtimeSessionId,
      sessionId,
    );
    this.#event(
      session.agent,
      'session_identified',
      actor,
      'runtime_session_id',
      session.runtime_session_id,
      runtimeSessionId,
      now,
    );
    return this.#session(sessionId);
  }

  /** Sets or clears `hook_bead` (the caller changes the bead itself in the same transaction). */
  setHook(address: string, beadId: string | null, actor: string): Agent {
    const before = this.require(address);
    if (before.hook_bead === beadId) return before;
    const now = this.now();
    cachedStatement(this.db, 'UPDATE agents SET hook_bead = ?, last_activity = ? WHERE address = ?').run(
      beadId,
      now,
      address,
    );
    this.#event(address, beadId === null ? 'unhooked' : 'hooked', actor, 'hook_bead', before.hook_bead, beadId, now);
    return this.require(address);
  }

  /** An event in the shared table (subject: a bead id or an address). */
  bookEvent(
    subject: string,
    type: string,
    actor: string,
    field: string | null,
    old: string | null,
    value: string | null,
  ): void {
    this.#event(subject, type, actor, field, old, value, this.now());
  }

  /** The agent whose hook holds the bead, if any. */
  hookHolder(beadId: string): string | undefined {
    const row: unknown = cachedStatement(this.db, 'SELECT address FROM agents WHERE hook_bead = ?').get(beadId);
    return row === undefined ? undefined : toStringValue(row, 'address');
  }

  // ------------------------------------------------------------------------------------------------------
  // nudges

  queueNudge(input: QueueNudgeInput, actor: string): QueuedNudge {
    this.require(input.recipient);
    if (input.body.trim() === '') throw new ValidationError('a nudge needs text');
    if (input.body.length > MAX_NUDGE_LENGTH)
      throw new ValidationError(`a nudge is at most ${MAX_NUDGE_LENGTH} characters (got ${input.body.length})`, {
        hint: 'send long text as mail',
      });
    if (input.sender.trim() === '') throw new ValidationError('a nudge needs a sender');
    const waiting = cachedStatement(
      this.db,
      'SELECT count(*) AS n FROM nudges WHERE recipient = ? AND delivered_at IS NULL',
    ).get(input.recipient);
    if (toIntValue(waiting, 'n') >= MAX_QUEUED_NUDGES) {
      throw new ConflictError(`${input.recipient} already has ${MAX_QUEUED_NUDGES} nudges waiting`, {
        hint: 'the agent is not taking its turns: check it with "gt session status"',
      });
    }
    const now = this.now();
    const info = cachedStatement(
      this.db,
      'INSERT INTO nudges (recipient, sender, body, urgent, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run(input.recipient, input.sender, input.body, input.urgent === true ? 1 : 0, now);
    this.#event(input.recipient, 'nudge_queued', actor, null, null, String(info.lastInsertRowid), now);
    return this.#nudge(Number(info.lastInsertRowid));
  }

  pendingNudges(recipient: string): QueuedNudge[] {
    this.require(recipient);
    return cachedStatement(
      this.db,
      `SELECT ${NUDGE_COLUMNS} FROM nudges WHERE recipient = ? AND delivered_at IS NULL ORDER BY urgent DESC, id`,
    )
      .all(recipient)
      .map(toNudge);
  }

  takeNudges(recipient: string, deliveredBy: string, actor: string): QueuedNudge[] {
    const pending = this.pendingNudges(recipient);
    if (pending.length === 0) return [];
    const now = this.now();
    const mark = cachedStatement(
      this.db,
      'UPDATE nudges SET delivered_at = ?, delivered_by = ? WHERE id = ? AND delivered_at IS NULL',
    );
    for (const n of pending) mark.run(now, deliveredBy, n.id);
    this.#event(recipient, 'nudges_delivered', actor, null, null, `${pending.length} by ${deliveredBy}`, now);
    return pending.map((n) => ({ ...n, delivered_at: now, delivered_by: deliveredBy }));
  }

  #nudge(id: number): QueuedNudge {
    const row: unknown = cachedStatement(this.db, `SELECT ${NUDGE_COLUMNS} FROM nudges WHERE id = ?`).get(id);
    if (row === undefined) throw new NotFoundError(`no nudge ${id}`);
    return toNudge(row);
  }

  // ------------------------------------------------------------------------------------------------------
  // rigs (their agents are registered through the same repository, in the same transaction)

  registerRig(rig: Omit<Rig, 'created_at'>, agents: readonly RegisterAgentInput[], actor: string): Rig {
    validateName('rig', rig.name);
    if (!isValidPrefix(rig.prefix) || rig.prefix === TOWN_PREFIX)
      throw new ValidationError(`invalid rig prefix "${rig.prefix}"`);
    const taken: unknown = cachedStatement(
      this.db,
      'SELECT name FROM rigs WHERE name = ? OR prefix = ? OR path = ?',
    ).get(rig.name, rig.prefix, rig.path);
    if (taken !== undefined)
      throw new ConflictError(`rig ${toStringValue(taken, 'name')} already has that name, prefix or path`);
    const now = this.now();
    cachedStatement(
      this.db,
      'INSERT INTO rigs (name, prefix, url, default_branch, path, created_at) VALUES (@name, @prefix, @url, @default_branch, @path, @now)',
    ).run({ ...rig, now });
    this.#event(rig.name, 'rig_registered', actor, null, null, rig.prefix, now);
    for (const agent of agents) this.register(agent, actor);
    return this.rig(rig.name);
  }

  rig(name: string): Rig {
    const row: unknown = cachedStatement(
      this.db,
      'SELECT name, prefix, url, default_branch, path, created_at FROM rigs WHERE name = ?',
    ).get(name);
    if (row === undefined) throw new NotFoundError(`no rig ${name}`, { hint: 'list rigs with "gt rig list"' });
    return toRig(row);
  }

  rigs(): Rig[] {
    return cachedStatement(
      this.db,
      'SELECT name, prefix, url, default_branch, path, created_at FROM rigs ORDER BY name',
    )
      .all()
      .map(toRig);
  }

  unregisterRig(name: string, actor: string): void {
    this.rig(name);
    for (const agent of this.list({ rig: name })) this.remove(agent.address, actor);
    cachedStatement(this.db, 'DELETE FROM rigs WHERE name = ?').run(name);
    this.#event(name, 'rig_unregistered', actor, null, null, null, this.now());
  }

  sessions(agent: string, limit: number): AgentSession[] {
    this.require(agent);
    return cachedStatement(
      this.db,
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE agent = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`,
    )
      .all(agent, limit <= 0 ? -1 : limit)
      .map(toSession);
  }

  #session(sessionId: string): AgentSession {
    const row: unknown = cachedStatement(this.db, `SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = ?`).get(
      sessionId,
    );
    if (row === undefined) throw new NotFoundError(`no session ${sessionId}`);
    return toSession(row);
  }

  #openSession(agent: string): AgentSession | undefined {
    const row: unknown = cachedStatement(
      this.db,
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE agent = ? AND ended_at IS NULL`,
    ).get(agent);
    return row === undefined ? undefined : toSession(row);
  }

  #event(
    subject: string,
    type: string,
    actor: string,
    field: string | null,
    old: string | null,
    value: string | null,
    now: string,
  ): void {
    cachedStatement(
      this.db,
      'INSERT INTO events (issue_id, event_type, actor, field, old_value, new_value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(subject, type, actor, field, old, value, now);
  }
}
