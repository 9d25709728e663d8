import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processAlive } from './exec.js';

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
