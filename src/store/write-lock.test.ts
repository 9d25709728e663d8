import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../core/errors.js';
import { openDatabase, writeTransaction } from './db.js';
import { sqliteAddonPath } from './native.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Another process takes the write lock and holds it for `ms`; resolves once it holds it. */
function holdWriteLock(path: string, ms: number): Promise<{ done: Promise<void> }> {
  const script = `
    const Database = require(${JSON.stringify(join(sqliteAddonPath(), '..', '..', '..'))});
    const db = new Database(${JSON.stringify(path)});
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${ms});`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve) => child.stdout.once('data', () => resolve({ done })));
}

function database() {
  const dir = mkdtempSync(join(tmpdir(), 'gt-lock-'));
  dirs.push(dir);
  const path = join(dir, 'beads.db');
  const db = openDatabase(path, { create: true });
  db.exec('CREATE TABLE t (x INTEGER)');
  return { db, path };
}

describe('writeTransaction', () => {
  it('waits for another process to release the write lock, then writes', async () => {
    const { db, path } = database();
    const holder = await holdWriteLock(path, 300);
    const started = Date.now();
    writeTransaction(db, () => db.prepare('INSERT INTO t VALUES (1)').run());
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 1 });
    await holder.done;
    db.close();
  });

  it('gives up with a ConflictError after its timeout, writing nothing', async () => {
    const { db, path } = database();
    const holder = await holdWriteLock(path, 1500);
    expect(() => writeTransaction(db, () => db.prepare('INSERT INTO t VALUES (1)').run(), 200)).toThrow(ConflictError);
    expect(db.inTransaction).toBe(false);
    await holder.done;
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 0 });
    db.close();
  });

  it('rolls back everything when the body throws', () => {
    const { db } = database();
    expect(() =>
      writeTransaction(db, () => {
        db.prepare('INSERT INTO t VALUES (1)').run();
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 0 });
    expect(Number(db.pragma('busy_timeout', { simple: true }))).toBeGreaterThanOrEqual(10_000);
    db.close();
  });
});
