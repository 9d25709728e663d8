import type { AgentIdentity, Role } from './identity.js';

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

export type AgentStore = {
  /** Creates the agent, or returns it unchanged when it exists with the same sandbox and session name. */
  registerAgent(input: RegisterAgentInput, actor: string): Promise<Agent>;
  /** Rejects with NotFoundError for an unknown address. */
  agent(address: string): Promise<Agent>;
  agents(filter: { rig?: string; role?: Role }): Promise<Agent[]>;
  updateAgent(address: string, changes: AgentChanges, actor: string): Promise<Agent>;
  /** Refuses (ConflictError) while work is on the agent's hook or a session is open; its CV goes with it. */
  removeAgent(address: string, actor: string): Promise<void>;

  /** Opens a session; an agent has at most one open session (ConflictError otherwise). */
  startSession(input: StartSessionInput, actor: string): Promise<AgentSession>;
  /** Closes a session; closing one already closed keeps its first ending. */
  endSession(sessionId: string, reason: SessionEndReason, actor: string): Promise<AgentSession>;
  /** The agent's chain of sessions, newest first. */
  sessions(agent: string, limit?: number): Promise<AgentSession[]>;
};
