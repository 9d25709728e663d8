import { randomBytes } from 'node:crypto';
import { childProcesses, LOCK_TOKENS_ENV, processesWithEnv } from './exec.js';

/**
 * Running a gate (a build, a test suite) for the merge queue: argv in a directory with a timeout, keeping only the
 * tail of its output. A gate runs in its own process group and carries a tag in its environment, so that when it
 * ends or times out everything it started is killed, even what left the group: a hanging test leaves nothing.
 */

export type GateResult = {
  /** Exited 0 within the time. */
  ok: boolean;
  /** Its exit status, or null when a signal ended it (or it could not start). */
  exitCode: number | null;
  timedOut: boolean;
  ms: number;
  /** The last TAIL_BYTES of stdout and stderr together, as they came. */
  tail: string;
};

export const TAIL_BYTES = 8 * 1024;

/** The environment variable whose value tags every process of one gate run. */
export const GATE_TAG_ENV = 'GT_GATE_TAG';

/**
 * The environment variable naming who runs a gate (a refinery pass), set by the caller in `env`: a caller killed
 * with -9 cannot end its gates, which run in groups of their own, so whoever finds it dead ends them
 * (killGatesOf).
 */
export const GATE_OWNER_ENV = 'GT_GATE_OWNER';

/** How long a gate has to end after SIGTERM before the rest get SIGKILL. */
const TERM_GRACE_MS = 2_000;
/** How long output still in the pipes is waited for once every process of the gate is gone. */
const DRAIN_MS = 1_000;

/** Sends `signal` to the gate's process group and to every process carrying its tag. */
function signalGate(pgid: number | undefined, tag: string, signal: NodeJS.Signals): void {
  const targets = [...(pgid === undefined ? [] : [-pgid]), ...processesWithEnv(`\0${GATE_TAG_ENV}=${tag}\0`)];
  for (const target of targets) {
    try {
      process.kill(target, signal);
    } catch {
      // gone already
    }
  }
}

/**
 * Kills (SIGKILL) every process of the gates whose environment named `owner` in GATE_OWNER_ENV, and what they
 * started, even what left their process group; for an owner that is gone. The pids it signalled.
 */
export function killGatesOf(owner: string): number[] {
  const needle = `\0${GATE_OWNER_ENV}=${owner}\0`;
  const killed: number[] = [];
  // A gate may be starting a process while the others die: look again until none is left (a few rounds).
  for (let round = 0; round < 5; round++) {
    const found = processesWithEnv(needle);
    if (found.length === 0) break;
    for (const pid of found) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // gone already
      }
    }
  }
  return killed;
}

/** The last `max` bytes of what was written, kept as chunks. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - (this.chunks[0]?.length ?? 0) >= this.max)
      this.size -= this.chunks.shift()?.length ?? 0;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

/**
 * Runs a gate: argv in `cwd`, at most `timeoutMs`; resolves with how it ended and the tail of its output. It
 * never rejects: a program that cannot start is a failed gate whose tail says why.
 */
export function runGate(
  argv: readonly string[],
  cwd: string,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GateResult> {
  const [file, ...args] = argv;
  if (file === undefined)
    return Promise.resolve({ ok: false, exitCode: null, timedOut: false, ms: 0, tail: 'no gate' });
  const started = performance.now();
  const tag = randomBytes(12).toString('hex');
  // A lock held here is not the gate's: it would look held for as long as a gate's leftovers ran.
  const { [LOCK_TOKENS_ENV]: _locks, ...rest } = env;
  const tail = new Tail(TAIL_BYTES);
  return new Promise((resolve) => {
    const child = childProcesses().spawn(file, args, {
      cwd,
      env: { ...rest, [GATE_TAG_ENV]: tag },
      detached: true, // its own process group, whose id is its pid
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    const pgid = child.pid;
    let timedOut = false;
    let exitCode: number | null = null;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      resolve({
        ok: exitCode === 0 && !timedOut,
        exitCode,
        timedOut,
        ms: Math.round(performance.now() - started),
        tail: tail.text(),
      });
    };
    child.stdout.on('data', (d: Buffer) => tail.push(d));
    child.stderr.on('data', (d: Buffer) => tail.push(d));
    child.once('error', (err) => {
      tail.push(Buffer.from(`${file}: ${err.message}\n`));
      signalGate(pgid, tag, 'SIGKILL');
      finish();
    });
    timers.push(
      setTimeout(() => {
        timedOut = true;
        signalGate(pgid, tag, 'SIGTERM');
        timers.push(setTimeout(() => signalGate(pgid, tag, 'SIGKILL'), TERM_GRACE_MS));
      }, timeoutMs),
    );
    child.once('exit', (code) => {
      exitCode = code;
      // The gate is over: whatever it left running (a server, a `sleep &`) goes with it, and would otherwise keep
      // the pipes open.
      signalGate(pgid, tag, 'SIGKILL');
      timers.push(setTimeout(finish, DRAIN_MS));
    });
    child.once('close', finish);
  });
}
