import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConflictError, isRecord } from '../core/errors.js';
import { holdingLock, processAlive, processesWithEnv } from './exec.js';

/**
 * A cross-process lock file: made atomically (link(2)) with the holder's pid; a lock whose holder died, or
 * that is older than `staleMs`, is taken over. Serializes typing into one pane across every `gt` process, and
 * the git operations on a rig's shared clone that git cannot run side by side. `busy` is the hint given when
 * the wait runs out. The programs the holder starts carry the lock's token (LOCK_TOKENS_ENV): a holder killed
 * with -9 while its git runs on still holds the lock until that git ends, so nobody works under its feet.
 */
export type LockOptions = { timeoutMs: number; staleMs?: number; busy?: string };

/** A lock file holds "<pid> <ms> <random>"; the random part is the token its holder's programs carry. */
function holder(path: string): { pid: number; at: number; token: string } | undefined {
  try {
    const [pid, at, token] = readFileSync(path, 'utf8').trim().split(' ');
    return pid !== undefined && at !== undefined && token !== undefined && /^\d+$/.test(pid) && /^\d+$/.test(at)
      ? { pid: Number(pid), at: Number(at), token }
      : undefined;
  } catch {
    return undefined;
  }
}

/** A lock file that says nothing for this long is left over (an older gt killed while writing it). */
const UNREADABLE_MS = 5_000;

function unreadableFor(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0; // gone: try again
  }
}

/** Whether the holder runs, or a program it started that outlived it (a git left running by a killed gt). */
function holderRuns(h: { pid: number; token: string }): boolean {
  return processAlive(h.pid) || processesWithEnv(h.token).length > 0;
}

export async function withFileLock<T>(path: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + options.timeoutMs;
  const secret = `gtlock${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const token = `${process.pid} ${Date.now()} ${secret}`;
  for (let wait = 10; ; wait = Math.min(wait * 2, 100)) {
    // The lock appears whole or not at all: written beside it, then linked into place (link fails if it exists),
    // so a holder killed at any point never leaves an empty lock that nobody could judge.
    const draft = `${path}.${process.pid}.${secret}`;
    try {
      writeFileSync(draft, token, { mode: 0o600 });
      linkSync(draft, path);
      break;
    } catch (err) {
      if (!(isRecord(err) && err.code === 'EEXIST')) throw err;
      const h = holder(path);
      // A dead or ancient holder's lock is taken over; so is one unreadable for longer than any write takes.
      if (h !== undefined ? Date.now() - h.at > staleMs || !holderRuns(h) : unreadableFor(path) > UNREADABLE_MS) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new ConflictError(`${path} is held by process ${h?.pid ?? '?'}`, {
          hint: options.busy ?? 'another gt holds it; try again',
        });
      }
      await new Promise((r) => setTimeout(r, wait));
    } finally {
      rmSync(draft, { force: true });
    }
  }
  try {
    return await holdingLock(secret, fn);
  } finally {
    try {
      if (readFileSync(path, 'utf8') === token) rmSync(path, { force: true });
    } catch {
      // already gone (taken over as stale): nothing of ours to remove
    }
  }
}
