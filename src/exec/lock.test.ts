import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../core/errors.js';
import { execArgv, LOCK_TOKENS_ENV } from './exec.js';
import { withFileLock } from './lock.js';

const dirs: string[] = [];
const children: number[] = [];
afterEach(() => {
  for (const pid of children.splice(0))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function lockPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gt-lock-'));
  dirs.push(dir);
  return join(dir, 'x.lock');
}

/** A pid that ran and is gone (reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

describe('withFileLock', () => {
  it('serializes holders and removes its lock file afterwards', async () => {
    const path = lockPath();
    const order: string[] = [];
    await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        withFileLock(path, { timeoutMs: 5_000 }, async () => {
          order.push(`${n}+`);
          await new Promise((r) => setTimeout(r, 20));
          order.push(`${n}-`);
        }),
      ),
    );
    for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe(order[i]?.replace('+', '-'));
    expect(existsSync(path)).toBe(false);
  });

  it('passes its token to the programs it starts, and not outside', async () => {
    const path = lockPath();
    const inside = await withFileLock(path, { timeoutMs: 5_000 }, async () => {
      const token = readFileSync(path, 'utf8').split(' ')[2];
      const r = await execArgv('sh', ['-c', `printf %s "$${LOCK_TOKENS_ENV}"`]);
      const bare = await execArgv('sh', ['-c', `printf %s "$${LOCK_TOKENS_ENV}"`], { withoutLocks: true });
      return { token, seen: r.stdout, bare: bare.stdout };
    });
    expect(inside.token).toMatch(/^gtlock\w+$/);
    expect(inside.seen).toBe(inside.token);
    expect(inside.bare).toBe('');
    expect((await execArgv('sh', ['-c', `printf %s "$${LOCK_TOKENS_ENV}"`])).stdout).toBe('');
  });

  it('takes over the lock of a dead holder', async () => {
    const path = lockPath();
    writeFileSync(path, `${deadPid()} ${Date.now()} gtlockdead0000`);
    expect(await withFileLock(path, { timeoutMs: 2_000 }, () => Promise.resolve('mine'))).toBe('mine');
  });

  it("keeps a dead holder's lock while a program it started still runs (a git that outlived its gt)", async () => {
    const path = lockPath();
    const token = `gtlockorphan${Math.random().toString(36).slice(2)}`;
    writeFileSync(path, `${deadPid()} ${Date.now()} ${token}`);
    const orphan = spawn('sleep', ['30'], { env: { ...process.env, [LOCK_TOKENS_ENV]: token }, stdio: 'ignore' });
    if (orphan.pid === undefined) throw new Error('sleep did not start');
    children.push(orphan.pid);
    await expect(withFileLock(path, { timeoutMs: 500 }, () => Promise.resolve('too early'))).rejects.toThrow(
      ConflictError,
    );
    const exited = new Promise((r) => orphan.once('exit', r));
    process.kill(orphan.pid, 'SIGKILL');
    await exited;
    expect(await withFileLock(path, { timeoutMs: 2_000 }, () => Promise.resolve('after it'))).toBe('after it');
  });

  it('takes over a lock file left empty, once it has said nothing for longer than a write takes', async () => {
    const path = lockPath();
    writeFileSync(path, '');
    await expect(withFileLock(path, { timeoutMs: 300 }, () => Promise.resolve('now'))).rejects.toThrow(ConflictError);
    const past = (Date.now() - 60_000) / 1000;
    utimesSync(path, past, past);
    expect(await withFileLock(path, { timeoutMs: 2_000 }, () => Promise.resolve('later'))).toBe('later');
  });
});
