import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { execArgv, processAlive, SESSION_TAG_ENV, spawnDetached } from './exec.js';

describe('processAlive', () => {
  it('is true for a running process and false for one that exited but was not reaped yet (a zombie)', async () => {
    // The shell starts a short sleep, then becomes a long sleep that never reaps it: a zombie until the end.
    const parent = spawn('sh', ['-c', 'sleep 1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      expect(processAlive(zombie)).toBe(true);
      const deadline = Date.now() + 10_000;
      while (processAlive(zombie) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(processAlive(zombie)).toBe(false);
      expect(processAlive(parent.pid ?? -1)).toBe(true); // the parent still runs: the zombie is its child
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('is false for a pid that names no process', () => {
    expect(processAlive(2 ** 22 + 12345)).toBe(false);
  });
});

describe('execArgv', () => {
  it('gives a program its input on stdin, and survives one that exits without reading it', async () => {
    expect(await execArgv('cat', [], { input: 'hello\n' })).toMatchObject({ ok: true, stdout: 'hello\n' });
    // More than a pipe holds, to a program that never reads: the write fails with EPIPE, its exit status counts.
    const big = 'x'.repeat(4 * 1024 * 1024);
    expect(await execArgv('false', [], { input: big })).toMatchObject({ ok: false, status: 1 });
    expect(await execArgv('true', [], { input: big })).toMatchObject({ ok: true });
  });
});

describe('spawnDetached', () => {
  it("leaves the caller's session tag behind: what it starts belongs to no agent session", async () => {
    const pid = spawnDetached('sleep', ['30'], {
      env: { PATH: process.env.PATH, [SESSION_TAG_ENV]: 'sock/ga-toast', KEEP: '1' },
    });
    if (pid === undefined) throw new Error('no pid');
    try {
      let environ = '';
      for (let i = 0; i < 100 && !environ.includes('KEEP=1'); i++) {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
        if (!environ.includes('KEEP=1')) await new Promise((r) => setTimeout(r, 20));
      }
      expect(environ).toContain('KEEP=1');
      expect(environ).not.toContain(SESSION_TAG_ENV);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });
});
