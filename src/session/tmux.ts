import {
  chmodSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { GtError, ValidationError } from '../core/errors.js';
import {
  execArgv,
  processAlive,
  processesWithEnv,
  runInteractive,
  SESSION_TAG_ENV,
  type ExecResult,
} from '../exec/exec.js';
import type { SafeKey } from '../core/pane.js';
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

/**
 * SessionProvider over tmux: the only code that runs tmux. Every call names the town's own server
 * (`-L <socket>`), so neither the user's default server nor another town's is ever touched, and every target
 * is exact (`=name`), so `gt` never hits `gt-toast`.
 */

/** tmux's version ("3.3a"), or undefined when tmux cannot be run. */
export async function tmuxVersion(): Promise<string | undefined> {
  const r = await execArgv('tmux', ['-V'], { timeoutMs: 5_000, env: clientEnv(), noStdin: true });
  return r.ok ? /(\d+\.\d+[a-z]?)/.exec(r.stdout)?.[1] : undefined;
}

export class TmuxError extends GtError {
  constructor(message: string) {
    super('internal', 1, message, { hint: 'is tmux installed (3.0 or newer)?' });
  }
}

/**
 * The program tmux starts: a fixed script (never built from data) that loads the session's environment from a
 * private file, deletes the file, and replaces itself with the agent. Secrets so never appear in any argv or in
 * tmux's recorded start command.
 */
const LAUNCHER = 'f=$1; shift; . "$f"; rc=$?; rm -f -- "$f"; [ "$rc" -eq 0 ] || exit 127; exec "$@"';

function shellSingleQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The environment tmux itself runs with: the server it may start inherits it, and every session starts from
 * the server's. Only the basics, so no caller's identity or credentials sit in the town's server; each
 * session gets its own variables through its launcher file.
 */
const CLIENT_ENV_KEYS = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMUX_TMPDIR',
] as const;
let clientEnvCache: NodeJS.ProcessEnv | undefined;
function clientEnv(): NodeJS.ProcessEnv {
  if (clientEnvCache === undefined) {
    const env: NodeJS.ProcessEnv = {};
    for (const key of CLIENT_ENV_KEYS) if (process.env[key] !== undefined) env[key] = process.env[key];
    clientEnvCache = env;
  }
  return clientEnvCache;
}

/**
 * News for the daemon: tmux signals this wait channel whenever a pane's program exits or a session closes.
 * The hooks are fixed tmux commands (no data, no shell). A signal with nobody waiting is remembered by tmux,
 * so a death between two waits is not lost.
 */
const EVENTS_CHANNEL = 'gt-events';
const EVENT_HOOKS: readonly (readonly string[])[] = [
  ['set-hook', '-gw', 'pane-died', `wait-for -S ${EVENTS_CHANNEL}`],
  ['set-hook', '-gw', 'pane-exited', `wait-for -S ${EVENTS_CHANNEL}`],
  ['set-hook', '-g', 'session-closed', `wait-for -S ${EVENTS_CHANNEL}`],
];
const WATCH_REFRESH_TICKS = 10;

/** A pane live before is dead or gone now, or a pane never seen live is there dead. New live panes are no news. */
function deathsSince(before: readonly SessionPane[], now: readonly SessionPane[]): boolean {
  const was = new Map(before.map((p) => [p.pane, p.dead]));
  const is = new Map(now.map((p) => [p.pane, p.dead]));
  for (const [pane, dead] of was) if (!dead && is.get(pane) !== false) return true;
  for (const [pane, dead] of is) if (dead && was.get(pane) !== true) return true;
  return false;
}

/** The program pids of the live panes (a pane token is `%id/pid`). */
function livePids(panes: readonly SessionPane[]): number[] {
  return panes
    .filter((p) => !p.dead)
    .map((p) => Number(p.pane.split('/')[1]))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

const TEXT_CHUNK = 256;
const STOP_GRACE_MS = 2_000;

export class TmuxSessionProvider implements SessionProvider {
  readonly #conf: string;

  /**
   * @param socket the town's server name (`tmux -L`)
   * @param runtimeDir a private directory for the server config and short-lived environment files
   */
  constructor(
    readonly socket: string,
    private readonly runtimeDir: string,
  ) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,100}$/.test(socket))
      throw new ValidationError(`invalid tmux socket name "${socket}"`);
    mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    this.#conf = join(runtimeDir, 'tmux.conf');
    // Read when the server starts: keep a pane whose program exited, so its death can be seen and its output read.
    // The event hooks are set from the start too, so a death right after the server starts is not missed.
    const hooks = EVENT_HOOKS.map(
      ([cmd, flags, hook, action]) => `${cmd ?? ''} ${flags ?? ''} ${hook ?? ''} "${action ?? ''}"\n`,
    ).join('');
    writeFileSync(this.#conf, `set-option -wg remain-on-exit on\nset-option -g history-limit 20000\n${hooks}`);
  }

  #tmux(args: readonly string[], timeoutMs?: number): Promise<ExecResult> {
    // No stdin: a tmux client with an open stdin pipe does not see the wait channel's signal. No lock tokens: a
    // client may start the town's tmux server, which must never hold a lock of this process's.
    return execArgv('tmux', ['-L', this.socket, '-f', this.#conf, ...args], {
      timeoutMs,
      env: clientEnv(),
      noStdin: true,
      withoutLocks: true,
    });
  }

  async #must(args: readonly string[], name: string): Promise<string> {
    const r = await this.#tmux(args);
    if (r.ok) return r.stdout;
    if (/can't find (session|pane|window)|no server running|error connecting/i.test(r.stderr))
      throw new SessionNotFoundError(name);
    throw new TmuxError(`tmux ${args[0] ?? ''} failed: ${r.stderr.trim()}`);
  }

  async start(spec: StartSpec): Promise<void> {
    if (!SESSION_NAME.test(spec.name)) throw new ValidationError(`invalid session name "${spec.name}"`);
    if (spec.argv.length === 0) throw new ValidationError('nothing to run: argv is empty');
    for (const key of Object.keys(spec.env))
      if (!ENV_KEY.test(key)) throw new ValidationError(`invalid environment variable name "${key}"`);
    if (await this.isAlive(spec.name)) throw new SessionExistsError(spec.name);
    const envFile = join(this.runtimeDir, `env-${spec.name}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    // Every process started from the session inherits its tag, even one that leaves the tree (setsid, a
    // double fork): stop finds them all by it.
    const env = { ...spec.env, [SESSION_TAG]: this.#tag(spec.name) };
    writeFileSync(
      envFile,
      Object.entries(env)
        .map(([k, v]) => `export ${k}=${shellSingleQuote(v)}\n`)
        .join(''),
      { mode: 0o600 },
    );
    chmodSync(envFile, 0o600);
    const r = await this.#tmux([
      'new-session',
      '-d',
      '-s',
      spec.name,
      '-c',
      spec.cwd,
      '-x',
      '200',
      '-y',
      '50',
      '--',
      '/bin/sh',
      '-c',
      LAUNCHER,
      'gt-launch',
      envFile,
      ...spec.argv,
    ]);
    if (!r.ok) {
      rmSync(envFile, { force: true });
      if (/duplicate session/i.test(r.stderr)) throw new SessionExistsError(spec.name);
      throw new TmuxError(`tmux new-session failed: ${r.stderr.trim()}`);
    }
  }

  async stop(name: string): Promise<void> {
    if (!SESSION_NAME.test(name)) throw new ValidationError(`invalid session name "${name}"`);
    const pid = await this.#panePid(name);
    // Its processes: the pane's tree, and whatever carries the session's tag but left the tree (a detached
    // grandchild in a session of its own). Even with the session gone, tagged processes may be left.
    const tree = [...new Set([...(pid === undefined ? [] : await processTree(pid)), ...tagged(this.#tag(name))])];
    if (pid !== undefined) await this.#tmux(['kill-session', '-t', `=${name}`]);
    // The pane's program may have left children behind (or ignore SIGHUP): end them all, ours only.
    signal(tree, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (Date.now() < deadline && tree.some(processAlive)) await new Promise((r) => setTimeout(r, 50));
    signal(tree.filter(processAlive), 'SIGKILL');
  }

  /** The tag of this server's session `name`: unique to the town's server and the session's name. */
  #tag(name: string): string {
    return `${this.socket}/${name}`;
  }

  async isAlive(name: string): Promise<boolean> {
    if (!SESSION_NAME.test(name)) return false;
    return (await this.#tmux(['has-session', '-t', `=${name}`])).ok;
  }

  async agentLiveness(name: string, processNames: readonly string[]): Promise<AgentLiveness> {
    // display-message answers a missing target with exit 0 and no output (tmux 3.3): ask for the session first.
    if (!(await this.isAlive(name))) return 'dead';
    const r = await this.#tmux(['display-message', '-p', '-t', `=${name}:`, '#{pane_dead} #{pane_pid}']);
    if (!r.ok) return /can't find|no server|error connecting/i.test(r.stderr) ? 'dead' : 'unknown';
    const [dead, pidText] = r.stdout.trim().split(' ');
    if (dead === '1') return 'dead';
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0) return 'unknown';
    const table = await execArgv('ps', ['-A', '-o', 'pid=,ppid=,comm=']);
    if (!table.ok) return 'unknown';
    const rows = parseProcessTable(table.stdout);
    const tree = new Set(descendants(pid, rows));
    const names = rows.filter((p) => tree.has(p.pid)).map((p) => p.comm);
    return names.some((n) => processNames.includes(n)) ? 'alive' : 'dead';
  }

  async survey(sessions: ReadonlyMap<string, readonly string[]>): Promise<Map<string, SessionSurvey>> {
    const out = new Map<string, SessionSurvey>();
    if (sessions.size === 0) return out;
    const panes = (await this.#listPanes(true)).filter((p) => sessions.has(p.session));
    if (panes.length === 0) return out;
    const table = await execArgv('ps', ['-A', '-o', 'pid=,ppid=,comm='], { noStdin: true });
    const rows = table.ok ? parseProcessTable(table.stdout) : undefined;
    for (const p of panes) {
      let liveness: AgentLiveness = 'unknown';
      if (p.dead) liveness = 'dead';
      else if (rows !== undefined) {
        const tree = new Set(descendants(p.pid, rows));
        liveness = rows.some((r) => tree.has(r.pid) && (sessions.get(p.session) ?? []).includes(r.comm))
          ? 'alive'
          : 'dead';
      }
      out.set(p.session, { liveness, activityMs: p.activityMs });
    }
    return out;
  }

  /**
   * Every pane of the server in one call, sorted by session. No server: none. `strict`: any other failure is
   * an error (else it reads as none too).
   */
  async #listPanes(strict = false): Promise<(SessionPane & { pid: number; activityMs: number; tty: string })[]> {
    const r = await this.#tmux([
      'list-panes',
      '-a',
      '-F',
      '#{session_name} #{pane_id} #{pane_pid} #{pane_dead} #{session_activity} #{pane_tty}',
    ]);
    if (!r.ok) {
      if (!strict || /no server running|error connecting|no sessions|server exited unexpectedly/i.test(r.stderr))
        return [];
      throw new TmuxError(`tmux list-panes failed: ${r.stderr.trim()}`);
    }
    return (
      r.stdout
        .split('\n')
        .map((l) => /^(\S+) (%\d+) (\d+) ([01]) (\d+) ?(\S*)$/u.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        // pane_id restarts at %0 with a new server; with the pane's pid it names one incarnation.
        .map(([, session = '', id = '', pid = '', dead, activity, tty = '']) => ({
          session,
          pane: `${id}/${pid}`,
          pid: Number(pid),
          dead: dead === '1',
          activityMs: Number(activity) * 1000,
          tty,
        }))
        .sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : 0))
    );
  }

  async capture(name: string, history = 0): Promise<string> {
    const args = ['capture-pane', '-p', '-J', '-t', `=${name}:`];
    if (history > 0) args.push('-S', `-${history}`);
    return this.#must(args, name);
  }

  async sendText(name: string, text: string): Promise<void> {
    if (!(await this.isAlive(name))) throw new SessionNotFoundError(name);
    for (let i = 0; i < text.length; i += TEXT_CHUNK) {
      // -l: every character is typed as itself, never read as a key name; -- ends options for text like "-x".
      await this.#must(['send-keys', '-t', `=${name}:`, '-l', '--', text.slice(i, i + TEXT_CHUNK)], name);
    }
  }

  async sendKeys(name: string, keys: readonly SafeKey[]): Promise<void> {
    assertSafeKeys(keys);
    if (keys.length === 0) return;
    await this.#must(['send-keys', '-t', `=${name}:`, ...keys], name);
  }

  async lastActivity(name: string): Promise<number> {
    if (!(await this.isAlive(name))) throw new SessionNotFoundError(name);
    const out = await this.#must(['display-message', '-p', '-t', `=${name}:`, '#{session_activity}'], name);
    return Number(out.trim()) * 1000;
  }

  async list(): Promise<string[]> {
    const r = await this.#tmux(['list-sessions', '-F', '#{session_name}']);
    if (!r.ok) {
      // "server exited unexpectedly": its last session closed while we asked; no sessions either way.
      if (/no server running|error connecting|no sessions|server exited unexpectedly/i.test(r.stderr)) return [];
      throw new TmuxError(`tmux list-sessions failed: ${r.stderr.trim()}`);
    }
    return r.stdout
      .split('\n')
      .filter((s) => s !== '')
      .sort();
  }

  async programPid(name: string): Promise<number | undefined> {
    if ((await this.panes()).some((p) => p.session === name && p.dead)) return undefined;
    return this.#panePid(name);
  }

  async panes(): Promise<SessionPane[]> {
    return (await this.#listPanes()).map(({ session, pane, dead }) => ({ session, pane, dead }));
  }

  async waitForChange(timeoutMs: number, signal?: AbortSignal): Promise<'changed' | 'timeout'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (isAborted(signal)) {
        await this.stopWaiting();
        return 'timeout';
      }
      if (left <= 0) return 'timeout';
      // What died since the last look (so a death between two waits, or with the whole server, is not missed).
      const running = existsSync(this.socketPath());
      const now = await this.#look();
      const seen = this.#seen;
      this.#seen = now;
      if (deathsSince(seen, now)) return 'changed';
      if (isAborted(signal)) {
        await this.stopWaiting();
        return 'timeout';
      }
      // No server: nothing can die until one starts (with the hooks from its config). Look for its socket
      // file, which costs no process.
      if (!running) {
        await pause(Math.min(500, left), signal);
        continue;
      }
      if (!this.#waitedBefore) {
        // The first wait with a server reports a change: what happened before it is news to a new watcher. A
        // signal sent meanwhile stays with tmux for the next wait. A client that a killed process left waiting is
        // released (only then: with nobody waiting, a second signal would drop the one tmux keeps).
        this.#waitedBefore = true;
        if (await this.#someoneWaits()) await this.#tmux(['wait-for', '-S', EVENTS_CHANNEL]);
        return 'changed';
      }
      const waiter = this.#eventWaiter();
      const done = new AbortController();
      const stop = (): void => done.abort();
      signal?.addEventListener('abort', stop, { once: true });
      const r = await Promise.race([
        waiter,
        this.#watchPanes(now, done.signal),
        pause(left, done.signal).then(() => undefined),
      ]).finally(() => {
        done.abort(); // ends the pause's timer and the watch
        signal?.removeEventListener('abort', stop);
      });
      // The waiting client's answer is taken (after a death the watch saw first it stays, for the next wait).
      if (r !== undefined && r !== 'died') this.#waiter = undefined;
      if (r === 'died' || r?.ok === true) {
        // (Signalled, or the server was killed while we waited.) Signalled: a client waits again at once, so that
        // news while the caller looks finds one (two signals that find none would cancel out). What the caller
        // sees next is the new last look.
        if (r !== 'died') void this.#eventWaiter();
        this.#seen = await this.#look();
        return 'changed';
      }
      if (r === undefined) {
        // Out of time: the waiting client stays for the next call (tmux would hand the next signal to a killed
        // waiter, and it would be lost), and so do the held terminals. Aborted: release them, so no process
        // is left behind.
        if (isAborted(signal)) await this.stopWaiting();
        return 'timeout';
      }
      // The waiting client failed: the server went away (while we waited, or before: a socket file left by a dead
      // one), or is going. Look again shortly; the look at the top of the loop sees what died with it.
      await pause(Math.min(1_000, left), signal);
    }
  }

  async stopWaiting(): Promise<void> {
    this.#releaseTerminals();
    // Our own client ends with the signal (another process's waiter, if any, just looks once more).
    if (this.#waiting) await this.#tmux(['wait-for', '-S', EVENTS_CHANNEL]);
  }

  async signalChange(): Promise<void> {
    // No server, no waiter (a daemon waits for the server's socket to appear): nothing to start one for.
    if (!existsSync(this.socketPath())) return;
    await this.#tmux(['wait-for', '-S', EVENTS_CHANNEL]);
  }

  /** The panes as the last wait saw them (at first none: a pane already dead is news to a new watcher). */
  #seen: SessionPane[] = [];

  /**
   * The panes now; with no server (no socket file), none, without starting a process. Holds the terminal of
   * every live pane (see #holdTerminals), so that tmux sees each of their deaths.
   */
  async #look(): Promise<SessionPane[]> {
    const panes = existsSync(this.socketPath()) ? await this.#listPanes() : [];
    this.#holdTerminals(panes);
    return panes.map(({ session, pane, dead }) => ({ session, pane, dead }));
  }

  /** Pane token → an open descriptor on the pane's terminal (its pty's slave side), never read. */
  readonly #held = new Map<string, number>();

  /**
   * Why a waiter holds the panes' terminals: tmux (3.3, built with libutempter) loses the death of a pane's
   * program when the pty's end of file reaches it before the program's SIGCHLD. It then removes the pane's
   * utmp record, and libutempter sets SIGCHLD to its default (discard) while its helper runs: a SIGCHLD that
   * arrives meanwhile is dropped, the program is never reaped, the pane is never marked exited, and no
   * pane-died hook runs (measured here: about 1 kill -9 in 5; the watch below then finds it, up to a second
   * later). A program's own files close before its parent is told it exited, so that order is the common
   * one. With the terminal still open here, the end of file cannot come first: tmux reaps the program, runs
   * the hook, and only then closes the pty. The descriptors are opened without becoming a controlling
   * terminal and are never read (every keystroke still goes to the agent); one for each live pane, closed
   * once its pane is dead or gone.
   */
  #holdTerminals(panes: readonly { pane: string; dead: boolean; tty: string }[]): void {
    const live = new Map(panes.filter((p) => !p.dead && p.tty.startsWith('/dev/')).map((p) => [p.pane, p.tty]));
    for (const [pane, fd] of this.#held) {
      if (live.has(pane)) continue;
      this.#held.delete(pane);
      closeQuietly(fd);
    }
    for (const [pane, tty] of live) {
      if (this.#held.has(pane)) continue;
      try {
        this.#held.set(pane, openSync(tty, fsConstants.O_RDONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK));
      } catch {
        // gone already, or not ours to open: the watch below still sees its death
      }
    }
  }

  /** Closes every held terminal (the waiting is over). */
  #releaseTerminals(): void {
    this.#holdTerminals([]);
  }

  /**
   * The net under the hooks: a death tmux runs no hook for (one whose terminal was not held, see
   * #holdTerminals; a pane started since the last look). Each second, look whether
   * the program of every live pane still runs (the process table, no process started); every
   * WATCH_REFRESH_TICKS seconds, list the panes again, for sessions started since.
   */
  async #watchPanes(before: readonly SessionPane[], stop: AbortSignal): Promise<'died' | undefined> {
    let known = before;
    let pids = livePids(known);
    for (let tick = 1; !stop.aborted; tick++) {
      await pause(1_000, stop);
      if (stop.aborted) return undefined;
      if (pids.some((pid) => !processAlive(pid))) return 'died';
      if (tick % WATCH_REFRESH_TICKS === 0) {
        const now = await this.#look();
        if (deathsSince(known, now)) return 'died';
        known = now;
        pids = livePids(known);
      }
    }
    return undefined;
  }

  /** The client waiting on the events channel; once it has answered, its answer, kept until a wait takes it. */
  #waiter: Promise<ExecResult> | undefined;
  /** That client has not answered yet. */
  #waiting = false;
  #waitedBefore = false;

  /**
   * The one tmux client waiting on the events channel, started if there is none. tmux wakes every client that
   * waits on a channel; a signal that finds none is kept for the next wait, but a second one drops it again.
   * A client is kept waiting while the caller is busy (after a wait timed out, or started again after a wake-up),
   * and its answer kept until the next wait takes it: a signal meanwhile is not lost. stopWaiting ends it.
   * (Re)installs the hooks first, for a server started before they existed.
   */
  #eventWaiter(): Promise<ExecResult> {
    if (this.#waiter !== undefined) return this.#waiter;
    this.#waiting = true;
    const waiter = this.#tmux(
      [...EVENT_HOOKS.flatMap((hook) => [...hook, ';']), 'wait-for', EVENTS_CHANNEL],
      0,
    ).finally(() => {
      if (this.#waiter === waiter) this.#waiting = false;
    });
    this.#waiter = waiter;
    return waiter;
  }

  /** Whether some client waits on this server's events channel (one a killed process left); true if unknown. */
  async #someoneWaits(): Promise<boolean> {
    const table = await execArgv('ps', ['-A', '-ww', '-o', 'args='], { noStdin: true });
    if (!table.ok) return true;
    return table.stdout.split('\n').some((line) => {
      const words = line.trim().split(/\s+/u);
      const at = words.indexOf('-L');
      return at >= 0 && words[at + 1] === this.socket && words.at(-2) === 'wait-for' && words.at(-1) === EVENTS_CHANNEL;
    });
  }

  async attach(name: string, options: { readOnly?: boolean } = {}): Promise<number | null> {
    if (!(await this.isAlive(name))) throw new SessionNotFoundError(name);
    // The terminal's type (and nothing else of the caller's) on top of the trimmed environment; no $TMUX, so a
    // person already inside tmux attaches to the town's server instead of being refused as nesting.
    const env: NodeJS.ProcessEnv = { ...clientEnv() };
    for (const key of ['TERM', 'COLORTERM'] as const) if (process.env[key] !== undefined) env[key] = process.env[key];
    return runInteractive(
      'tmux',
      [
        '-L',
        this.socket,
        '-f',
        this.#conf,
        'attach-session',
        ...(options.readOnly === true ? ['-r'] : []),
        '-t',
        `=${name}`,
      ],
      { env },
    );
  }

  async setEnv(name: string, key: string, value: string): Promise<void> {
    if (!ENV_KEY.test(key)) throw new ValidationError(`invalid environment variable name "${key}"`);
    await this.#must(['set-environment', '-t', `=${name}`, key, value], name);
  }

  async getEnv(name: string, key: string): Promise<string | undefined> {
    if (!ENV_KEY.test(key)) throw new ValidationError(`invalid environment variable name "${key}"`);
    if (!(await this.isAlive(name))) throw new SessionNotFoundError(name);
    const r = await this.#tmux(['show-environment', '-t', `=${name}`, key]);
    if (!r.ok) return undefined;
    const line = r.stdout.replace(/\n$/, '');
    return line.startsWith(`${key}=`) ? line.slice(key.length + 1) : undefined;
  }

  /** Where tmux puts this server's socket: $TMUX_TMPDIR (or /tmp), then tmux-<uid>/<socket>. */
  socketPath(): string {
    return join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, this.socket);
  }

  /** Ends this provider's whole tmux server and removes its socket file (tests, and removing a town). */
  async killServer(): Promise<void> {
    this.#releaseTerminals();
    for (const name of await this.list()) await this.stop(name);
    await this.#tmux(['kill-server']);
    // A server that exits leaves its socket file behind; the path is this server's own, so remove it.
    rmSync(this.socketPath(), { force: true });
  }

  async #panePid(name: string): Promise<number | undefined> {
    if (!(await this.isAlive(name))) return undefined;
    const r = await this.#tmux(['display-message', '-p', '-t', `=${name}:`, '#{pane_pid}']);
    if (!r.ok) return undefined;
    const pid = Number(r.stdout.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Read through a call: TypeScript would keep an earlier check's answer, but an abort can come at any await. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

type ProcessRow = { pid: number; ppid: number; comm: string };

function parseProcessTable(text: string): ProcessRow[] {
  return text
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), comm: (m[3] ?? '').trim() }));
}

function descendants(root: number, rows: readonly ProcessRow[]): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++)
    for (const r of rows) if (r.ppid === out[i] && !out.includes(r.pid)) out.push(r.pid);
  return out;
}

async function processTree(root: number): Promise<number[]> {
  const table = await execArgv('ps', ['-A', '-o', 'pid=,ppid=,comm=']);
  return table.ok ? descendants(root, parseProcessTable(table.stdout)) : [root];
}

const SESSION_TAG = SESSION_TAG_ENV;

/**
 * The live processes whose environment carries the tag (elsewhere than Linux none are found and stop relies on
 * the process tree).
 */
function tagged(tag: string): number[] {
  return processesWithEnv(`\0${SESSION_TAG}=${tag}\0`);
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}
