import { openSync, readFileSync, rmSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConflictError, isRecord } from '../core/errors.js';
import { processAlive } from './exec.js';

/**
 * A cross-process lock file: `open(O_EXCL)` creates it with the holder's pid; a lock whose holder died, or
 * that is older than `staleMs`, is taken over. Serializes typing into one pane across every `gt` process, and
 * the git operations on a rig's shared clone that git cannot run side by side. `busy` is the hint given when
 * the wait runs out.
 */
export type LockOptions = { timeoutMs: number; staleMs?: number; busy?: string };

function holder(path: string): { pid: number; at: number } | undefined {
  try {
    const [pid, at] = readFileSync(path, 'utf8').trim().split(' ').map(Number);
    return pid !== undefined && at !== undefined && Number.isInteger(pid) && Number.isFinite(at)
      ? { pid, at }
      : undefined;
  } catch {
    return undefined;
  }
}

export async function withFileLock<T>(path: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + options.timeoutMs;
  const token = `${process.pid} ${Date.now()} ${Math.random().toString(36).slice(2)}`;
  for (let wait = 10; ; wait = Math.min(wait * 2, 100)) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, token);
      closeSync(fd);
      break;
    } catch (err) {
      if (!(isRecord(err) && err.code === 'EEXIST')) throw err;
      const h = holder(path);
      // Unreadable (being written this instant) counts as held; a dead or ancient holder's lock is taken over.
      if (h !== undefined && (!processAlive(h.pid) || Date.now() - h.at > staleMs)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new ConflictError(`${path} is held by process ${h?.pid ?? '?'}`, {
          hint: options.busy ?? 'another gt holds it; try again',
        });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      if (readFileSync(path, 'utf8') === token) rmSync(path, { force: true });
    } catch {
      // already gone (taken over as stale): nothing of ours to remove
    }
  }
}
