import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFixedClock } from '../core/clock.js';
import type { ProblemDraft } from '../core/problem.js';
import { openDatabase } from './db.js';
import { runAgentStoreContract } from './agent-store.contract.js';
import { runBeadStoreContract } from './bead-store.contract.js';
import { runProblemStoreContract } from './problem-store.contract.js';
import { runSlingQueueContract } from './sling-queue.contract.js';
import { runUsageStoreContract } from './usage-store.contract.js';
import { openSqliteBeadStore, SqliteBeadStore } from './sqlite-bead-store.js';

/** A clock that ticks 1 ms per read, so every write has its own timestamp. */
function tickingClock() {
  const clock = createFixedClock(Date.UTC(2026, 0, 1));
  return { nowMs: () => (clock.advance(1), clock.nowMs()), advance: (ms: number) => clock.advance(ms) };
}

const inMemory = () => {
  const clock = tickingClock();
  const store = openSqliteBeadStore(':memory:', { create: true, clock });
  store.setPrefixSync('gt');
  return { store, advance: clock.advance, cleanup: () => store.dispose() };
};

const onDisk = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gt-store-'));
  const clock = tickingClock();
  const store = openSqliteBeadStore(join(dir, 'beads.db'), { create: true, clock });
  store.setPrefixSync('gt');
  return {
    store,
    advance: clock.advance,
    cleanup: () => {
      store.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

runBeadStoreContract('SqliteBeadStore (:memory:)', inMemory);
runBeadStoreContract('SqliteBeadStore (file, WAL)', onDisk);
runAgentStoreContract('SqliteBeadStore (:memory:)', inMemory);
runAgentStoreContract('SqliteBeadStore (file, WAL)', onDisk);
runSlingQueueContract('SqliteBeadStore (:memory:)', inMemory);
runSlingQueueContract('SqliteBeadStore (file, WAL)', onDisk);
runProblemStoreContract('SqliteBeadStore (:memory:)', inMemory);
runProblemStoreContract('SqliteBeadStore (file, WAL)', onDisk);
runUsageStoreContract('SqliteBeadStore (:memory:)', inMemory);
runUsageStoreContract('SqliteBeadStore (file, WAL)', onDisk);

describe('SqliteBeadStore timestamps', () => {
  it('strictly increase within a connection, even when the clock stands still or steps back', async () => {
    let ms = Date.UTC(2026, 0, 1);
    const store = openSqliteBeadStore(':memory:', { create: true, clock: { nowMs: () => ms } });
    try {
      store.setPrefixSync('gt');
      const a = await store.create({ title: 'a' }, 't');
      const b = await store.create({ title: 'b' }, 't');
      ms -= 60_000;
      const c = await store.create({ title: 'c' }, 't');
      const stamps = [a, b, c].map((x) => Date.parse(x.created_at));
      expect(stamps[1]).toBeGreaterThan(stamps[0] ?? Infinity);
      expect(stamps[2]).toBeGreaterThan(stamps[1] ?? Infinity);
    } finally {
      store.dispose();
    }
  });
});

describe('SqliteBeadStore change mark', () => {
  it('moves when this connection or another writes, and stays when nothing did', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gt-mark-'));
    const path = join(dir, 'beads.db');
    const one = openSqliteBeadStore(path, { create: true });
    const two = openSqliteBeadStore(path);
    try {
      one.setPrefixSync('gt');
      const start = await one.changeMark();
      expect(await one.changeMark()).toBe(start);
      await one.create({ title: 'mine' }, 't');
      const mine = await one.changeMark();
      expect(mine).not.toBe(start);
      const theirs = await two.changeMark();
      await two.create({ title: 'theirs' }, 't');
      expect(await one.changeMark()).not.toBe(mine);
      expect(await two.changeMark()).not.toBe(theirs);
      await one.list({ limit: 0 });
      const after = await one.changeMark();
      expect(await one.changeMark()).toBe(after);
    } finally {
      one.dispose();
      two.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteBeadStore problem sync', () => {
  it('takes no write lock for a pass that saw nothing new, and one for a pass that did', async () => {
    const clock = tickingClock();
    const db = openDatabase(':memory:', { create: true });
    const statements: string[] = [];
    const exec = db.exec.bind(db);
    db.exec = (sql: string) => {
      statements.push(sql);
      return exec(sql);
    };
    const store = new SqliteBeadStore(db, clock);
    try {
      const draft: ProblemDraft = {
        kind: 'stalled',
        subject: 'rig1/polecats/toast',
        subject_type: 'agent',
        rig: 'rig1',
        owner: 'rig1/witness',
        summary: 'no progress',
        evidence: { pane: 'a' },
      };
      const options = { scope: ['stalled' as const], recurWithinMs: 0 };
      const locks = () => statements.filter((s) => s === 'BEGIN IMMEDIATE').length;
      await store.syncProblems([draft], options, 'daemon');
      expect(locks()).toBe(1);
      clock.advance(2_000);
      await store.syncProblems([draft], options, 'daemon');
      expect(locks()).toBe(1);
      await store.syncProblems([{ ...draft, evidence: { pane: 'b' } }], options, 'daemon');
      expect(locks()).toBe(2);
      await store.syncProblems([], options, 'daemon');
      expect(locks()).toBe(3);
      await store.syncProblems([], options, 'daemon');
      expect(locks()).toBe(3);
    } finally {
      store.dispose();
    }
  });
});
