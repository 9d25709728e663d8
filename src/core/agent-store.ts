import type { AgentIdentity, Role } from './identity.js';
import type { PolecatLimits } from './scheduler.js';

/**
 * The agents port: persistent identities and their chains of sessions (each agent's CV). Same rules as the
 * bead store: every operation is atomic, validates before writing, records its events in the same
 * transaction, and returns a Promise.
 */

/** What an agent last reported about itself. Liveness is never stored: it is observed from tmux. */
export const AGENT_STATES = ['spawning', 'working', 'idle', 'stuck', 'done'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/** How a session ended, as far as whoever recorded it could tell. */
export const SESSION_END_REASONS = ['exited', 'handoff', 'killed', 'crashed', 'replaced', 'lost'] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];

export type Agent = {
  address: string;
  role: Role;
  rig: string | null;
  name: string | null;
  /** The bead on the agent's hook, written together with the bead's own status by the hook operation. */
  hook_bead: string | null;
  agent_state: AgentState;
  /** Runtime preset (claude, codex, …) the agent runs under. */
  runtime: string | null;
  session_name: string;
  sandbox_path: string;
  branch: string | null;
  created_at: string;
  last_activity: string | null;
};

export type AgentSession = {
  session_id: string;
  agent: string;
  bead_id: string | null;
  runtime: string;
  /** The agent CLI's own session id, where it has one (to resume it or question a predecessor). */
  runtime_session_id: string | null;
  started_at: string;
  ended_at: string | null;
  end_reason: SessionEndReason | null;
};

export type RegisterAgentInput = {
  identity: AgentIdentity;
  session_name: string;
  sandbox_path: string;
  branch?: string | null;
  runtime?: string | null;
  /** The state it starts in (default idle); a polecat whose sandbox is still being made starts `spawning`. */
  agent_state?: AgentState;
};

export type AgentChanges = {
  agent_state?: AgentState;
  runtime?: string | null;
  branch?: string | null;
  sandbox_path?: string;
};

export type StartSessionInput = {
  agent: string;
  runtime: string;
  bead_id?: string | null;
  runtime_session_id?: string | null;
};

/** A nudge that waited in the store because its recipient was busy or had no session. */
export type QueuedNudge = {
  id: number;
  recipient: string;
  sender: string;
  body: string;
  urgent: boolean;
  created_at: string;
  delivered_at: string | null;
  /** Who took it off the queue: `prompt-submit`, `stop`, `prime`, `idle`, … */
  delivered_by: string | null;
};

export type QueueNudgeInput = { recipient: string; sender: string; body: string; urgent?: boolean };

/** At most this many undelivered nudges wait for one agent; more means something is wrong upstream. */
export const MAX_QUEUED_NUDGES = 50;
export const MAX_NUDGE_LENGTH = 16_384;

export type HookOptions = {
  /** Take the bead from the agent that holds it (its session is gone, or the caller forces it). */
  takeOver?: boolean;
  /** Instructions for this assignment, kept on the bead (`metadata.gt_args`) for prime to show. */
  args?: string;
  /**
   * Compare-and-set for concurrent slings: refuse when the bead is already on this agent's hook, so that of
   * many slings of one bead to one agent exactly one wins (without it, hooking again is a no-op success).
   */
  fresh?: boolean;
  /**
   * The caps on busy polecats (`scheduler.max_polecats`): a polecat that would become busy beyond them is an
   * AtCapacityError, counted in the same transaction as the hook, so concurrent slings never overshoot.
   */
  capacity?: PolecatLimits;
};

/**
 * The town was told to stay down (`gt down`) until `gt up`: an intent, not an observation, so it is stored.
 * While it holds, no session starts.
 */
export type TownHold = { since: string; by: string };

export type AgentStore = {
  /**
   * Creates the agent, or returns it unchanged when it exists with the same sandbox and session name — unless
   * `fresh`: then an existing agent is a ConflictError, so that of concurrent registrations exactly one wins.
   */
  registerAgent(input: RegisterAgentInput, actor: string, options?: { fresh?: boolean }): Promise<Agent>;
  /** Rejects with NotFoundError for an unknown address. */
  agent(address: string): Promise<Agent>;
  agents(filter: { rig?: string; role?: Role }): Promise<Agent[]>;
  updateAgent(address: string, changes: AgentChanges, actor: string): Promise<Agent>;
  /** Refuses (ConflictError) while work is on the agent's hook or a session is open; its CV goes with it. */
  removeAgent(address: string, actor: string): Promise<void>;

  /**
   * Opens a session; an agent has at most one open session (ConflictError otherwise). Refused with
   * TownDownError while the town is down, checked in the same transaction: a start recorded before `gt down`
   * is one that down waits for and stops, and none can be recorded after.
   */
  startSession(input: StartSessionInput, actor: string): Promise<AgentSession>;
  /**
   * Whether the session may go on running: it is still open and the town is not down. A starter asks this
   * once its tmux session exists, and stops it itself when not.
   */
  sessionMayRun(sessionId: string): Promise<boolean>;
  /** Closes a session; closing one already closed keeps its first ending. */
  endSession(sessionId: string, reason: SessionEndReason, actor: string): Promise<AgentSession>;
  /** The agent's chain of sessions, newest first. */
  sessions(agent: string, limit?: number): Promise<AgentSession[]>;
  /** The agent's open session, or null. */
  openSession(agent: string): Promise<AgentSession | null>;
  /** Records the agent CLI's own session id on an open session (learned by its start-up hook). */
  setRuntimeSessionId(sessionId: string, runtimeSessionId: string, actor: string): Promise<AgentSession>;

  /**
   * Puts a bead on the agent's hook: the bead becomes `hooked` and assigned to the agent, and the agent's
   * `hook_bead` names it, in one transaction. Re-hooking the same bead changes nothing. ConflictError when the
   * agent holds another bead or the bead is hooked to someone else; ValidationError for a closed bead.
   */
  hook(address: string, beadId: string, actor: string, options?: HookOptions): Promise<Agent>;
  /**
   * Registers a new agent and hooks the bead onto it, in one transaction; the bead is checked first, so when
   * it cannot be hooked nothing is registered (a sling that loses a race leaves no agent behind).
   */
  registerAndHook(input: RegisterAgentInput, beadId: string, actor: string, options?: HookOptions): Promise<Agent>;
  /** Takes the bead off the agent's hook (back to `open`, unassigned, unless it was closed meanwhile). */
  unhook(address: string, actor: string): Promise<Agent>;
  /**
   * Sends a hooked bead that no agent's hook holds back to `open`, unassigned — only if it is still hooked to
   * `assignee` and still held by nobody (checked in the same transaction). Whether it did.
   */
  releaseUnheldHook(beadId: string, assignee: string | null, actor: string): Promise<boolean>;

  /** Whether the town is down (`gt down`), and since when and by whom. */
  townHold(): Promise<TownHold | null>;
  /**
   * Marks the town down (a hold; kept as it was when already down) or up again (cleared). Returns the hold
   * now in force, null when up. Recorded as an event (`town_down`, `town_up`) with subject `town`.
   */
  setTownDown(down: boolean, actor: string): Promise<TownHold | null>;

  /**
   * Appends a fact that belongs to no bead field — what an agent did (a refinery pass, say) — to the events
   * table: `subject` is the agent's address, `type` a lower-case name of gt's own (not one of the bead event
   * types), `value` its details (JSON, at most 16 KB). Read back with events({ issueId: subject, eventType }).
   */
  recordActivity(subject: string, type: string, value: string, actor: string): Promise<void>;

  /** Queues a nudge (ConflictError when MAX_QUEUED_NUDGES already wait). */
  queueNudge(input: QueueNudgeInput, actor: string): Promise<QueuedNudge>;
  /** Undelivered nudges, urgent first, then oldest first. */
  pendingNudges(recipient: string): Promise<QueuedNudge[]>;
  /** Takes every undelivered nudge off the queue atomically (two callers never both get one), in that order. */
  takeNudges(recipient: string, deliveredBy: string): Promise<QueuedNudge[]>;
};
