import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bd, BD_BIN, cleanEnv, json, requireBuild } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

/**
 * Fault injection: a writer killed with SIGKILL in the middle of a big transaction must leave the ledger as it
 * was before (never half an import), and the next writer must simply work.
 */
let root: { dir: string; cleanup: () => void };
beforeAll(() => {
  requireBuild();
  root = tempDir('crash');
});
afterAll(() => root.cleanup());

const BEADS = 20_000;

function ledger(): string {
  return `${Array.from({ length: BEADS }, (_v, i) =>
    JSON.stringify({
      id: `big-${i}`,
      title: `bead ${i}`,
      description: 'x'.repeat(2000),
      created_at: '2026-01-01T00:00:00Z',
      labels: ['crash'],
    }),
  ).join('\n')}\n`;
}

function walBytes(dir: string): number {
  const wal = join(dir, '.beads', 'beads.db-wal');
  return existsSync(wal) ? statSync(wal).size : 0;
}

describe('a writer killed mid-transaction', () => {
  it('leaves nothing of its transaction, and the next writer works', async () => {
    const dir = join(root.dir, 'ws');
    mkdirSync(dir);
    const env = cleanEnv(join(dir, 'home'), { BD_ACTOR: 'crash' });
    expect(bd(['init', '--prefix', 'c'], { cwd: dir, env }).status).toBe(0);
    expect(bd(['create', 'survivor'], { cwd: dir, env }).status).toBe(0);
    const file = join(dir, 'big.jsonl');
    writeFileSync(file, ledger());

    const child = spawn(process.execPath, [BD_BIN, 'import', file], { cwd: dir, env, stdio: 'ignore' });
    let exited = false;
    const closed = new Promise((resolve) => child.on('close', () => resolve((exited = true))));
    // The transaction's pages spill into the WAL long before it commits: kill the writer once they do.
    const deadline = Date.now() + 30_000;
    while (walBytes(dir) < 8 * 1024 * 1024 && !exited && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 2));
    expect(exited, 'the import finished before it could be killed mid-write').toBe(false);
    child.kill('SIGKILL');
    await closed;

    const after = json<{ title: string }[]>(bd(['list', '--json', '--limit', '0'], { cwd: dir, env }));
    expect(after.map((b) => b.title)).toEqual(['survivor']);
    expect(json<unknown[]>(bd(['events', '--type', 'imported', '--json'], { cwd: dir, env }))).toEqual([]);

    // The store is healthy: a fresh write succeeds and the import now completes.
    expect(bd(['create', 'after the crash'], { cwd: dir, env }).status).toBe(0);
    expect(json<{ created: number }>(bd(['import', file, '--json'], { cwd: dir, env })).created).toBe(BEADS);
    expect(json<unknown[]>(bd(['list', '--json', '--limit', '0'], { cwd: dir, env }))).toHaveLength(BEADS + 2);
  });
});
