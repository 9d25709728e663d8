import { ValidationError } from '../core/errors.js';
import type { SafeKey } from '../core/pane.js';
import { settle } from '../core/promise.js';
import {
  assertSafeKeys,
  ENV_KEY,
  SESSION_NAME,
  SessionExistsError,
  SessionNotFoundError,
  type AgentLiveness,
  type SessionPane,
  type SessionProvider,
  type SessionSurvey,
  type StartSpec,
} from './provider.js';

type FakeSession = {
  spec: StartSpec;
  pane: number;
  screen: string;
  env: Map<string, string>;
  exited: boolean;
  activity: number;
  responder?: (input: FakeInput) => void;
};

/** What was typed or pressed into a fake session, in order. */
export type FakeInput = { kind: 'text'; value: string } | { kind: 'key'; value: SafeKey };

/**
 * An in-memory SessionProvider: a spy and a simulator. A session's "program" echoes what is typed (like
 * `cat`); `exitProgram` makes it exit while the session stays. Every call is recorded in `calls`.
 */
export class FakeSessionProvider implements SessionProvider {
  readonly calls: { method: string; name?: string }[] = [];
  /** Every text typed and key pressed, per session. */
  readonly input = new Map<string, FakeInput[]>();
  readonly #sessions = new Map<string, FakeSession>();
  #clock = 0;
  #panes = 0;
  /** A change nobody has waited for yet (kept, like tmux's wait channel). */
  #changed = false;
  readonly #waiters = new Set<() => void>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  #get(name: string): FakeSession {
    const s = this.#sessions.get(name);
    if (s === undefined) throw new SessionNotFoundError(name);
    return s;
  }

  #touch(s: FakeSession): void {
    s.activity = Math.max(this.now(), s.activity + 1, ++this.#clock);
  }

  start(spec: StartSpec): Promise<void> {
    this.calls.push({ method: 'start', name: spec.name });
    return settle(() => {
      if (!SESSION_NAME.test(spec.name)) throw new ValidationError(`invalid session name "${spec.name}"`);
      if (spec.argv.length === 0) throw new ValidationError('nothing to run: argv is empty');
      for (const key of Object.keys(spec.env))
        if (!ENV_KEY.test(key)) throw new ValidationError(`invalid environment variable name "${key}"`);
      if (this.#sessions.has(spec.name)) throw new SessionExistsError(spec.name);
      // As with tmux, spec.env reaches the program, not the session's own environment.
      const s: FakeSession = { spec, pane: this.#panes++, screen: '', env: new Map(), exited: false, activity: 0 };
      this.#touch(s);
      this.#sessions.set(spec.name, s);
    });
  }

  stop(name: string): Promise<void> {
    this.calls.push({ method: 'stop', name });
    if (this.#sessions.delete(name)) this.#signalChange();
    return Promise.resolve();
  }

  isAlive(name: string): Promise<boolean> {
    return Promise.resolve(this.#sessions.has(name));
  }

  agentLiveness(name: string, processNames: readonly string[]): Promise<AgentLiveness> {
    const s = this.#sessions.get(name);
    if (s === undefined || s.exited) return Promise.resolve('dead');
    const program = (s.spec.argv[0] ?? '').split('/').pop() ?? '';
    return Promise.resolve(processNames.includes(program) ? 'alive' : 'dead');
  }

  async survey(sessions: ReadonlyMap<string, readonly string[]>): Promise<Map<string, SessionSurvey>> {
    const out = new Map<string, SessionSurvey>();
    for (const [name, processNames] of sessions) {
      const s = this.#sessions.get(name);
      if (s !== undefined)
        out.set(name, { liveness: await this.agentLiveness(name, processNames), activityMs: s.activity });
    }
    return out;
  }

  capture(name: string): Promise<string> {
    return settle(() => this.#get(name).screen);
  }

  sendText(name: string, text: string): Promise<void> {
    this.calls.push({ method: 'sendText', name });
    return settle(() => {
      const s = this.#get(name);
      this.#record(name, s, { kind: 'text', value: text });
      if (!s.exited && s.responder === undefined) s.screen += text;
      this.#touch(s);
    });
  }

  sendKeys(name: string, keys: readonly SafeKey[]): Promise<void> {
    this.calls.push({ method: 'sendKeys', name });
    return settle(() => {
      assertSafeKeys(keys);
      const s = this.#get(name);
      for (const key of keys) {
        this.#record(name, s, { kind: 'key', value: key });
        if (!s.exited && s.responder === undefined && key === 'Enter') s.screen += '\n';
      }
      this.#touch(s);
    });
  }

  lastActivity(name: string): Promise<number> {
    return settle(() => this.#get(name).activity);
  }

  list(): Promise<string[]> {
    return Promise.resolve([...this.#sessions.keys()].sort());
  }

  /** Fake sessions have no processes. */
  programPid(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  panes(): Promise<SessionPane[]> {
    return Promise.resolve(
      [...this.#sessions.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([session, s]) => ({ session, pane: `%${s.pane}`, dead: s.exited })),
    );
  }

  waitForChange(timeoutMs: number, signal?: AbortSignal): Promise<'changed' | 'timeout'> {
    if (this.#changed) {
      this.#changed = false;
      return Promise.resolve('changed');
    }
    return new Promise((resolve) => {
      const finish = (result: 'changed' | 'timeout'): void => {
        clearTimeout(timer);
        this.#waiters.delete(onChange);
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const onChange = (): void => finish('changed');
      const onAbort = (): void => finish('timeout');
      const timer = setTimeout(onAbort, timeoutMs);
      this.#waiters.add(onChange);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  signalChange(): Promise<void> {
    this.#signalChange();
    return Promise.resolve();
  }

  stopWaiting(): Promise<void> {
    return Promise.resolve(); // nothing is kept between two waits here
  }

  #signalChange(): void {
    if (this.#waiters.size === 0) this.#changed = true;
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** No terminal here: the person "detaches" at once (exit status 0); the call is recorded. */
  attach(name: string): Promise<number | null> {
    return settle(() => {
      this.#get(name);
      this.calls.push({ method: 'attach', name });
      return 0;
    });
  }

  setEnv(name: string, key: string, value: string): Promise<void> {
    return settle(() => {
      if (!ENV_KEY.test(key)) throw new ValidationError(`invalid environment variable name "${key}"`);
      this.#get(name).env.set(key, value);
    });
  }

  getEnv(name: string, key: string): Promise<string | undefined> {
    return settle(() => this.#get(name).env.get(key));
  }

  #record(name: string, s: FakeSession, input: FakeInput): void {
    const list = this.input.get(name) ?? [];
    list.push(input);
    this.input.set(name, list);
    s.responder?.(input);
  }

  /** Replaces what the session's pane shows (a test playing the agent CLI). */
  setScreen(name: string, screen: string): void {
    this.#get(name).screen = screen;
  }

  /** Lets a test play the agent: called for every text typed and key pressed, instead of echoing. */
  respond(name: string, responder: (input: FakeInput) => void): void {
    this.#get(name).responder = responder;
  }

  /** Simulates the agent program exiting while its session stays. */
  exitProgram(name: string): void {
    this.#get(name).exited = true;
    this.#signalChange();
  }

  /** What the program was started with (for assertions). */
  startedWith(name: string): StartSpec {
    return this.#get(name).spec;
  }
}
