import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { processAlive } from './exec.js';
import { runGate, TAIL_BYTES } from './gate.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function dir(): string {
  const t = tempDir('gate');
  cleanups.push(t.cleanup);
  return t.dir;
}

/** The pids a gate wrote, one a line, to `file`. */
const pidsIn = (file: string): number[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);

async function gone(pids: number[]): Promise<number[]> {
  for (let i = 0; i < 100 && pids.some(processAlive); i++) await new Promise((r) => setTimeout(r, 20));
  return pids.filter(processAlive);
}

describe('runGate', () => {
  it('passes a gate that exits 0, in its directory, with its output', async () => {
    const cwd = dir();
    const r = await runGate(['sh', '-c', 'pwd; echo to stderr >&2; echo "$GATE_VAR"'], cwd, 10_000, {
      ...process.env,
      GATE_VAR: 'from env',
    });
    expect(r).toMatchObject({ ok: true, exitCode: 0, timedOut: false });
    expect(r.tail).toContain(cwd);
    expect(r.tail).toContain('to stderr');
    expect(r.tail).toContain('from env');
    expect(r.ms).toBeGreaterThanOrEqual(0);
  });

  it('fails a gate with its exit code and keeps only the tail of a long output', async () => {
    const script = 'i=0; while [ $i -lt 3000 ]; do echo "line $i of the test log"; i=$((i+1)); done; echo LAST; exit 3';
    const r = await runGate(['sh', '-c', script], dir(), 10_000);
    expect(r).toMatchObject({ ok: false, exitCode: 3, timedOut: false });
    expect(Buffer.byteLength(r.tail)).toBeLessThanOrEqual(TAIL_BYTES);
    expect(Buffer.byteLength(r.tail)).toBeGreaterThan(TAIL_BYTES - 100);
    expect(r.tail.endsWith('LAST\n')).toBe(true);
    expect(r.tail).not.toContain('line 0 of');
  });

  it('fails a gate that cannot start, saying why', async () => {
    const r = await runGate(['/no/such/gate-program'], dir(), 10_000);
    expect(r).toMatchObject({ ok: false, exitCode: null, timedOut: false });
    expect(r.tail).toContain('ENOENT');
  });

  it('kills a gate that runs past its time with everything it started, in its group or not', async () => {
    const cwd = dir();
    const pids = join(cwd, 'pids');
    // The gate starts a background sleep, one that leaves the process group (setsid), then hangs itself.
    const script = `sleep 60 & echo $! >> ${pids}; setsid sleep 60 & echo $! >> ${pids}; echo $$ >> ${pids}; sleep 60`;
    const started = Date.now();
    const r = await runGate(['sh', '-c', script], cwd, 1_500);
    expect(r).toMatchObject({ ok: false, timedOut: true });
    expect(Date.now() - started).toBeLessThan(10_000);
    const started3 = pidsIn(pids);
    expect(started3).toHaveLength(3);
    expect(await gone(started3)).toEqual([]);
  });

  it('kills what a gate left running when it exits on its own, and returns at once', async () => {
    const cwd = dir();
    const pids = join(cwd, 'pids');
    const started = Date.now();
    const r = await runGate(['sh', '-c', `sleep 60 & echo $! >> ${pids}; echo done`], cwd, 30_000);
    expect(r).toMatchObject({ ok: true, exitCode: 0, timedOut: false });
    expect(r.tail).toContain('done');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await gone(pidsIn(pids))).toEqual([]);
  });
});
