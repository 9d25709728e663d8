import { AsyncLocalStorage } from 'node:async_hooks';
import type * as ChildProcess from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { errorMessage, isRecord } from '../core/errors.js';

/**
 * Running a program: argv only (never a shell), with a timeout. The one place that loads child_process, on
 * first use: most `bd` calls run nothing, and loading it costs start-up time.
 */

let childProcess: typeof ChildProcess | undefined;

export function childProcesses(): typeof ChildProcess {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-type-assertion -- require() is untyped; the module named is child_process.
  childProcess ??= createRequire(import.meta.url)('node:child_process') as typeof ChildProcess;
  return childProcess;
}

export type ExecResult = { ok: boolean; stdout: string; stderr: string; status: number | null };

export type ExecOptions = {
  cwd?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Written to the program's stdin (which is closed afterwards). */
  input?: string;
  /**
   * Give the program no stdin at all (/dev/null) instead of a pipe. Some programs (a tmux client among them)
   * treat an open stdin pipe as input still to come and do not exit until it closes.
   */
  noStdin?: boolean;
  /** Do not pass on the locks held here (LOCK_TOKENS_ENV): for a program that may start a long-lived server. */
  withoutLocks?: boolean;
};

/**
 * The environment variable that names the cross-process locks (exec/lock.ts) held where a program was started:
 * a lock whose holder was killed is still held while a program it started runs on (a git that outlived its gt).
 */
export const LOCK_TOKENS_ENV = 'GT_LOCK_TOKENS';

const heldLocks = new AsyncLocalStorage<readonly string[]>();

/** Runs `fn` holding the lock `token`: every program it starts carries the token in its environment. */
export function holdingLock<T>(token: string, fn: () => T): T {
  return heldLocks.run([...(heldLocks.getStore() ?? []), token], fn);
}

function childEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv | undefined {
  const tokens = heldLocks.getStore();
  if (tokens === undefined || tokens.length === 0) return env;
  return { ...(env ?? process.env), [LOCK_TOKENS_ENV]: tokens.join(',') };
}

export function execArgv(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = childProcesses().execFile(
      file,
      [...args],
      {
        cwd: options.cwd,
        env: options.withoutLocks === true ? options.env : childEnv(options.env),
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 10_000,
        shell: false,
        windowsHide: true,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ ok: true, stdout, stderr, status: 0 });
          return;
        }
        const e: Record<string, unknown> = isRecord(err) ? err : {};
        resolve({
          ok: false,
          stdout,
          stderr: stderr === '' ? errorMessage(err) : stderr,
          status: typeof e.code === 'number' ? e.code : null,
        });
      },
    );
    // A program that exits without reading its input closes the pipe: the write fails with EPIPE, which is the
    // program's business (its exit status says how it went), not an error of ours.
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else if (options.noStdin === true) child.stdin?.end();
  });
}

/**
 * Runs a program on this process's own terminal (stdin, stdout and stderr inherited) until it exits; its exit
 * status, or null when a signal ended it. For programs a person uses, such as a tmux client attaching.
 */
export function runInteractive(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = childProcesses().spawn(file, [...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: 'inherit',
      shell: false,
      windowsHide: true,
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

/**
 * The environment variable that tags every process started from an agent's session, so that stopping the
 * session ends them all, even those that left its process tree (the session layer sets and reads it).
 */
export const SESSION_TAG_ENV = 'GT_SESSION_TAG';

/**
 * Starts a program that outlives this process (its own session, no stdio); returns its pid. It does not carry
 * the caller's session tag or locks: what gt starts detached (the daemon, a nudge watcher) belongs to no agent
 * session and holds no lock of the caller's.
 */
export function spawnDetached(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): number | undefined {
  const { [SESSION_TAG_ENV]: _tag, [LOCK_TOKENS_ENV]: _locks, ...env } = options.env ?? process.env;
  const child = childProcesses().spawn(file, [...args], {
    cwd: options.cwd,
    env,
    detached: true,
    stdio: 'ignore',
    shell: false,
    windowsHide: true,
  });
  child.unref();
  return child.pid;
}

/**
 * Whether a process exists and runs: a process of another user counts (it exists, we just may not signal it); a
 * zombie, which has exited and waits to be reaped, does not.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return isRecord(err) && err.code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by its parent) still answers signal 0, but it runs nothing.
  return !isZombie(pid);
}

/** Whether the process has exited and waits only to be reaped (Linux's /proc; elsewhere: not known, false). */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) state …": comm may hold spaces and parentheses, so the state follows the last ")".
  const state = stat.slice(stat.lastIndexOf(')') + 1).trim()[0];
  return state === 'Z' || state === 'X';
}

/**
 * The live processes (other than this one) whose environment contains `text`, e.g. `\0NAME=value\0` (Linux's
 * /proc; elsewhere none are found). Only our own user's processes can be read, which are the only ones we
 * started.
 */
export function processesWithEnv(text: string): number[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const needle = Buffer.from(text);
  const out: number[] = [];
  for (const d of pids) {
    const pid = Number(d);
    if (pid === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${d}/environ`)]);
      if (environ.includes(needle) && processAlive(pid)) out.push(pid);
    } catch {
      // gone, or not ours
    }
  }
  return out;
}
