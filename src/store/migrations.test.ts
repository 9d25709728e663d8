import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NoDatabaseError, SetupError } from '../core/errors.js';
import { LATEST_SCHEMA_VERSION, migrate, openDatabase, schemaVersion } from './db.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { USAGE_FORMATS } from '../core/usage-store.js';
import { DECISION_OUTCOMES, PATROL_ACTIONS, PROBLEM_STATES, SUBJECT_TYPES } from '../core/problem.js';

const dirs: string[] = [];
function dbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gt-migrate-'));
  dirs.push(dir);
  return join(dir, 'beads.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tables(db: Database.Database): string[] {
  return db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
    .all()
    .map((r) => String((r as { name: unknown }).name));
}

describe('migrations', () => {
  it('numbers migrations 1..n without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_m, i) => i + 1));
  });

  it('brings a new database to the latest version with WAL, a busy timeout and foreign keys', () => {
    const db = openDatabase(dbPath(), { create: true });
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(Number(db.pragma('busy_timeout', { simple: true }))).toBeGreaterThanOrEqual(10_000);
    expect(tables(db)).toEqual([
      'agents',
      'child_counters',
      'comments',
      'config',
      'dependencies',
      'events',
      'issues',
      'labels',
      'nudges',
      'patrol_decisions',
      'problems',
      'rigs',
      'scheduler_pause',
      'sessions',
      'sling_queue',
      'town_hold',
      'usage',
      'usage_sources',
    ]);
    db.close();
  });

  it('is idempotent: reopening runs nothing again', () => {
    const path = dbPath();
    openDatabase(path, { create: true }).close();
    const db = openDatabase(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    db.close();
  });

  it('applies only the pending migrations, in order', () => {
    const path = dbPath();
    const v1: Migration = { version: 1, description: 'a', sql: 'CREATE TABLE a (x INTEGER);' };
    const v2: Migration = { version: 2, description: 'b', sql: 'ALTER TABLE a ADD COLUMN y INTEGER;' };
    openDatabase(path, { create: true, migrations: [v1] }).close();
    const db = openDatabase(path, { migrations: [v2, v1] });
    expect(schemaVersion(db)).toBe(2);
    expect(db.prepare('SELECT y FROM a').all()).toEqual([]);
    db.close();
  });

  it('rolls a failing migration back whole, keeping the version', () => {
    const path = dbPath();
    const good: Migration = { version: 1, description: 'a', sql: 'CREATE TABLE a (x INTEGER);' };
    const bad: Migration = {
      version: 2,
      description: 'b',
      sql: 'CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);',
    };
    openDatabase(path, { create: true, migrations: [good] }).close();
    expect(() => openDatabase(path, { migrations: [good, bad] })).toThrow(/nowhere/);
    const db = new Database(path);
    expect(schemaVersion(db)).toBe(1);
    expect(tables(db)).toEqual(['a']);
    db.close();
  });

  it('refuses a database newer than the code and leaves it untouched', () => {
    const path = dbPath();
    const raw = new Database(path);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openDatabase(path)).toThrow(NoDatabaseError);
    const db = new Database(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION + 1);
    db.close();
  });

  it('says how to repair a native driver that cannot load, instead of blaming the database', () => {
    const bogus = join(mkdtempSync(join(tmpdir(), 'gt-addon-')), 'better_sqlite3.node');
    dirs.push(join(bogus, '..'));
    writeFileSync(bogus, 'not a shared object');
    expect(() => openDatabase(':memory:', { create: true, addonPath: bogus })).toThrow(SetupError);
    expect(() => openDatabase(':memory:', { create: true, addonPath: bogus })).toThrow(/SQLite driver/);
  });

  it('refuses to create a database unless asked', () => {
    expect(() => openDatabase(dbPath())).toThrow(NoDatabaseError);
  });

  it('keeps the events table append-only', () => {
    const db = openDatabase(dbPath(), { create: true });
    db.prepare(`INSERT INTO events (issue_id, event_type, actor, created_at) VALUES ('x', 'created', 'a', 't')`).run();
    expect(() => db.prepare('UPDATE events SET actor = ?').run('mallory')).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM events').run()).toThrow(/append-only/);
    db.close();
  });

  it('upgrades a version-5 database to beads scheduling fields, keeping its beads', () => {
    const path = dbPath();
    const v5 = openDatabase(path, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 5) });
    v5.prepare(
      `INSERT INTO issues (id, title, created_at, updated_at) VALUES ('t-1', 'kept', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    ).run();
    // Imported before version 6: the fields sat in extra. They move into their columns; odd values stay put.
    v5.prepare(
      `INSERT INTO issues (id, title, created_at, updated_at, extra) VALUES ('t-2', 'moved', '2026-01-01T00:00:00Z',
        '2026-01-01T00:00:00Z', '{"estimated_minutes":30,"due_at":"2027-01-01T00:00:00Z","spec_id":"S","other":1}')`,
    ).run();
    v5.prepare(
      `INSERT INTO issues (id, title, created_at, updated_at, extra) VALUES ('t-3', 'odd', '2026-01-01T00:00:00Z',
        '2026-01-01T00:00:00Z', '{"estimated_minutes":-4}')`,
    ).run();
    // A date with an offset moves as UTC; text that is no date stays in extra while its neighbours move.
    v5.prepare(
      `INSERT INTO issues (id, title, created_at, updated_at, extra) VALUES ('t-4', 'mixed', '2026-01-01T00:00:00Z',
        '2026-01-01T00:00:00Z', '{"due_at":"2027-01-01T09:30:00-08:00","defer_until":"tomorrow","spec_id":"S4"}')`,
    ).run();
    v5.close();
    const db = openDatabase(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    expect(
      db.prepare('SELECT title, estimated_minutes, due_at, defer_until, spec_id, extra FROM issues ORDER BY id').all(),
    ).toEqual([
      { title: 'kept', estimated_minutes: null, due_at: null, defer_until: null, spec_id: null, extra: '{}' },
      {
        title: 'moved',
        estimated_minutes: 30,
        due_at: '2027-01-01T00:00:00Z',
        defer_until: null,
        spec_id: 'S',
        extra: '{"other":1}',
      },
      {
        title: 'odd',
        estimated_minutes: null,
        due_at: null,
        defer_until: null,
        spec_id: null,
        extra: '{"estimated_minutes":-4}',
      },
      {
        title: 'mixed',
        estimated_minutes: null,
        due_at: '2027-01-01T17:30:00.000Z',
        defer_until: null,
        spec_id: 'S4',
        extra: '{"defer_until":"tomorrow"}',
      },
    ]);
    expect(() => db.prepare(`UPDATE issues SET estimated_minutes = -1`).run()).toThrow(/CHECK/);
    db.close();
  });

  it('upgrades a version-7 town to the sling queue, keeping its agents; one pending sling per bead', () => {
    const path = dbPath();
    const v7 = openDatabase(path, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 7) });
    v7.prepare(
      `INSERT INTO issues (id, title, created_at, updated_at) VALUES ('ga-1', 'work', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    ).run();
    v7.prepare(
      `INSERT INTO agents (address, role, rig, name, session_name, sandbox_path, created_at)
       VALUES ('gastown/polecats/toast', 'polecat', 'gastown', 'toast', 'ga-toast', '/t/toast', '2026-01-01T00:00:00Z')`,
    ).run();
    v7.close();
    const db = openDatabase(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    expect(db.prepare('SELECT address FROM agents').all()).toEqual([{ address: 'gastown/polecats/toast' }]);
    const queue = db.prepare(
      `INSERT INTO sling_queue (bead_id, rig, target, priority, queued_by, queued_at, state, claimed_by)
       VALUES ('ga-1', 'gastown', 'gastown', 2, 'mayor', '2026-01-01T00:00:00Z', ?, ?)`,
    );
    queue.run('queued', null);
    expect(() => queue.run('queued', null)).toThrow(/UNIQUE/);
    // A claim and the dispatching state go together.
    expect(() => db.prepare(`UPDATE sling_queue SET state = 'dispatching'`).run()).toThrow(/CHECK/);
    db.prepare(`UPDATE sling_queue SET state = 'dispatched'`).run();
    queue.run('queued', null); // the bead may wait again once its sling ended
    expect(() => db.prepare(`INSERT INTO scheduler_pause (id, since, actor) VALUES (2, 'x', 'y')`).run()).toThrow(
      /CHECK/,
    );
    db.close();
  });

  it('upgrades a version-8 town to problems: one live problem per subject and kind, checks that match the code', () => {
    const path = dbPath();
    const v8 = openDatabase(path, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 8) });
    v8.prepare(
      `INSERT INTO issues (id, title, created_at, updated_at) VALUES ('ga-1', 'work', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    ).run();
    v8.close();
    const db = openDatabase(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    expect(db.prepare('SELECT id FROM issues').all()).toEqual([{ id: 'ga-1' }]);
    const problem = db.prepare(
      `INSERT INTO problems (kind, subject, subject_type, owner, summary, state, first_seen, last_seen, resolved_at, resolution)
       VALUES ('stalled', 'rig1/polecats/toast', ?, 'rig1/witness', 's', ?, 't', 't', ?, ?)`,
    );
    const live = (subjectType = 'agent', state = 'open') => problem.run(subjectType, state, null, null);
    live();
    expect(() => live()).toThrow(/UNIQUE/);
    db.prepare(`UPDATE problems SET state = 'resolved', resolved_at = 't', resolution = 'gone'`).run();
    live(); // a resolved one does not count
    // Resolved and its time and reason go together.
    expect(() => db.prepare(`UPDATE problems SET state = 'resolved' WHERE resolved_at IS NULL`).run()).toThrow(/CHECK/);
    // The CHECK lists are the code's lists (a new state, action or outcome needs a migration).
    db.prepare(`DELETE FROM problems`).run();
    live();
    for (const t of SUBJECT_TYPES) db.prepare(`UPDATE problems SET subject_type = ?`).run(t);
    db.prepare(`DELETE FROM problems`).run();
    expect(() => live('ghost')).toThrow(/CHECK/);
    for (const st of PROBLEM_STATES.filter((x) => x !== 'resolved')) {
      live('agent', st);
      db.prepare(`DELETE FROM problems`).run();
    }
    expect(() => live('agent', 'lost')).toThrow(/CHECK/);
    const id = Number(live().lastInsertRowid);
    const decision = db.prepare(
      `INSERT INTO patrol_decisions (problem_id, actor, action, reason, decided_at, outcome, outcome_at)
       VALUES (?, 'rig1/witness', ?, 'r', 't', ?, ?)`,
    );
    for (const a of PATROL_ACTIONS) decision.run(id, a, 'pending', null);
    for (const o of DECISION_OUTCOMES.filter((x) => x !== 'pending')) decision.run(id, 'nudge', o, 't');
    expect(() => decision.run(id, 'pray', 'pending', null)).toThrow(/CHECK/);
    expect(() => decision.run(id, 'nudge', 'forgotten', 't')).toThrow(/CHECK/);
    expect(() => decision.run(id, 'nudge', 'recovered', null)).toThrow(/CHECK/);
    expect(() => decision.run(id + 1, 'nudge', 'pending', null)).toThrow(/FOREIGN KEY/);
    db.close();
  });

  it('upgrades a version-9 town to usage: one row per response key, counts never negative, formats as the code has them', () => {
    const path = dbPath();
    const v9 = openDatabase(path, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 9) });
    v9.prepare(
      `INSERT INTO issues (id, title, created_at, updated_at) VALUES ('ga-1', 'work', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    ).run();
    v9.close();
    const db = openDatabase(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    expect(db.prepare('SELECT id FROM issues').all()).toEqual([{ id: 'ga-1' }]);
    const usage = db.prepare(
      `INSERT INTO usage (key, source, agent, runtime, model, at, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
       VALUES (?, '/t.jsonl', 'mayor', 'claude', 'm', '2026-01-01T00:00:00Z', ?, 0, 0, 0)`,
    );
    usage.run('claude:msg_1', 10);
    expect(() => usage.run('claude:msg_1', 10)).toThrow(/UNIQUE/);
    expect(() => usage.run('claude:msg_2', -1)).toThrow(/CHECK/);
    expect(() => usage.run('', 1)).toThrow(/CHECK/);
    const source = db.prepare(
      `INSERT INTO usage_sources (path, agent, runtime, format, recorded_at) VALUES (?, 'mayor', 'claude', ?, 't')`,
    );
    for (const f of USAGE_FORMATS) source.run(`/${f}.jsonl`, f);
    expect(() => source.run('/x.jsonl', 'gemini')).toThrow(/CHECK/);
    db.close();
  });

  it('upgrades a version-10 town to resumable reads: each record it named kept, read from the start, no bad position', () => {
    const path = dbPath();
    const v10 = openDatabase(path, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 10) });
    v10
      .prepare(
        `INSERT INTO usage_sources (path, agent, runtime, format, recorded_at) VALUES ('/a.jsonl', 'mayor', 'claude', 'claude', 't')`,
      )
      .run();
    v10.close();
    const db = openDatabase(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    expect(db.prepare('SELECT path, read_offset, read_size, reader_state FROM usage_sources').all()).toEqual([
      { path: '/a.jsonl', read_offset: 0, read_size: null, reader_state: null },
    ]);
    const set = db.prepare(`UPDATE usage_sources SET read_offset = ?, read_size = ?, reader_state = ?`);
    set.run(10, 12, '{"model":"m"}');
    expect(() => set.run(-1, null, null)).toThrow(/CHECK/);
    expect(() => set.run(0, -1, null)).toThrow(/CHECK/);
    expect(() => set.run(0, null, 'not json')).toThrow(/CHECK/);
    db.close();
  });

  it('lets a second connection migrate concurrently without harm', () => {
    const path = dbPath();
    const a = openDatabase(path, { create: true });
    migrate(a);
    const b = openDatabase(path);
    expect(schemaVersion(b)).toBe(LATEST_SCHEMA_VERSION);
    a.close();
    b.close();
  });
});
