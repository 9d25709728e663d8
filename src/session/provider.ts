import { GtError, ValidationError } from '../core/errors.js';
import { SAFE_KEYS, type SafeKey } from '../core/pane.js';

/**
 * The session port: one terminal session per agent, running the agent CLI in its sandbox. Implemented over
 * tmux (TmuxSessionProvider) and in memory (FakeSessionProvider); both pass session.contract.ts.
 */

/** What to run: never a shell string. `env` may hold secrets; they never reach any process's argv. */
export type StartSpec = { name: string; argv: readonly string[]; cwd: string; env: Readonly<Record<string, string>> };

export type SessionPane = { session: string; pane: string; dead: boolean };

/** Whether the agent program inside a live session is running (probes can fail: unknown is a state). */
export type AgentLiveness = 'alive' | 'dead' | 'unknown';

export type SessionSurvey = { liveness: AgentLiveness; activityMs: number };

export type SessionProvider = {
  /** Starts a detached session. Rejects with SessionExistsError when the name is taken. */
  start(spec: StartSpec): Promise<void>;
  /** Ends the session and every process started in it. Stopping a missing session succeeds. */
  stop(name: string): Promise<void>;
  /** The session exists (its program may still have exited). */
  isAlive(name: string): Promise<boolean>;
  /** One of `processNames` runs in the session's process tree. */
  agentLiveness(name: string, processNames: readonly string[]): Promise<AgentLiveness>;
  /** The visible pane plus up to `history` lines above it. Rejects with SessionNotFoundError. */
  capture(name: string, history?: number): Promise<string>;
  /** Types `text` literally (no key names, no shell). Rejects with SessionNotFoundError. */
  sendText(name: string, text: string): Promise<void>;
  /** Presses named keys, in order. Only SAFE_KEYS: nothing that cancels the agent's work. */
  sendKeys(name: string, keys: readonly SafeKey[]): Promise<void>;
  /**
   * Many sessions at one look (one tmux call and one read of the process table, however many): for each named
   * session that exists, whether one of its `processNames` runs in it and when it last had input or output.
   * Sessions that do not exist are absent from the answer.
   */
  survey(sessions: ReadonlyMap<string, readonly string[]>): Promise<Map<string, SessionSurvey>>;
  /** When the session last had input or output, in ms since the epoch. */
  lastActivity(name: string): Promise<number>;
  /** Names of every session this provider's server holds, sorted. */
  list(): Promise<string[]>;
  /** The pid of the program the session started (the agent CLI), while it runs. */
  programPid(name: string): Promise<number | undefined>;
  /**
   * Every session's pane in one cheap call (the daemon's watch): a pane token that is new for each session
   * started (so a restarted session never looks like the one before it), and whether its program has exited.
   */
  panes(): Promise<SessionPane[]>;
  /**
   * Waits for news: resolves 'changed' soon after any session's program exits, a session closes or the whole
   * server goes away (tmux tells us through hooks on the town's server; nothing polls), else 'timeout' when
   * `timeoutMs` has passed or `signal` aborts. A change that happens while nobody waits is kept for the next
   * call, so none is missed between two waits. A change may be reported twice, and a provider's first wait may
   * report one from before it: the caller looks at reality after every wake-up anyway.
   */
  waitForChange(timeoutMs: number, signal?: AbortSignal): Promise<'changed' | 'timeout'>;
  /**
   * Wakes whoever waits in waitForChange (the daemon, in any process), as a change would: for news that the
   * sessions themselves do not show — work handed in, a sling queued. Kept like a change when nobody waits.
   * Best-effort: with no server there is nobody to wake, and it does nothing.
   */
  signalChange(): Promise<void>;
  /**
   * Ends whatever waitForChange keeps between two calls so that no change is missed (a waiting tmux client, the
   * terminals it holds): for a caller that stops waiting for good (the daemon, as it ends).
   */
  stopWaiting(): Promise<void>;
  /**
   * Puts this process's terminal on the session (a person watching or typing) until they detach or the session
   * ends; resolves with the client's exit status. Rejects with SessionNotFoundError.
   */
  attach(name: string, options?: { readOnly?: boolean }): Promise<number | null>;
  setEnv(name: string, key: string, value: string): Promise<void>;
  /** A variable of the session's environment, or undefined. */
  getEnv(name: string, key: string): Promise<string | undefined>;
};

export class SessionExistsError extends GtError {
  constructor(name: string) {
    super('conflict', 4, `session ${name} already exists`, { hint: 'stop it first, or use it as it is' });
  }
}

export class SessionNotFoundError extends GtError {
  constructor(name: string) {
    super('not_found', 3, `no session ${name}`, { hint: 'list sessions with "gt session list"' });
  }
}

/** Session names become tmux targets: the same allow-list as agent names, a little longer. */
export const SESSION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$/;
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Refuses any key outside SAFE_KEYS (the type says so; callers from JSON or argv need the check). */
export function assertSafeKeys(keys: readonly string[]): void {
  for (const key of keys)
    if (!(SAFE_KEYS as readonly string[]).includes(key))
      throw new ValidationError(`gt never presses "${key}" in an agent's pane`, {
        hint: `allowed: ${SAFE_KEYS.join(', ')}`,
      });
}
