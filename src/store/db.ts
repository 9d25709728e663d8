import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import {
  ConflictError,
  DamagedStoreError,
  errorMessage,
  InternalError,
  isRecord,
  NoDatabaseError,
  SetupError,
} from '../core/errors.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.js';
import { sqliteAddonPath } from './native.js';

export type Db = Database.Database;
/** A prepared statement taking positional or named parameters. */
export type Statement = Database.Statement<unknown[], unknown>;

/** How long a writer waits for another writer before giving up. Claims from 30 processes queue well inside it. */
export const BUSY_TIMEOUT_MS = 30_000;

export type OpenOptions = {
  /** Create the file when it does not exist (only `init` does this). */
  create?: boolean;
  readonly?: boolean;
  /** Override the migration list; for tests of the migration runner. */
  migrations?: readonly Migration[];
  /** Override the native addon; for tests of a broken installation. */
  addonPath?: string;
};

/**
 * Opens a bead database: WAL journal (readers never wait for writers), a busy timeout (writers queue instead
 * of failing), foreign keys on, and the schema migrated to the latest version.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  if (path !== ':memory:' && options.create !== true && !existsSync(path)) {
    throw new NoDatabaseError(`no beads database at ${path}`, { hint: 'run "bd init" to create one' });
  }
  let db: Db;
  try {
    db = new Database(path, {
      timeout: BUSY_TIMEOUT_MS,
      fileMustExist: options.create !== true,
      readonly: options.readonly === true,
      nativeBinding: options.addonPath ?? sqliteAddonPath(),
    });
  } catch (cause) {
    if (isRecord(cause) && cause.code === 'ERR_DLOPEN_FAILED') {
      const abi = /NODE_MODULE_VERSION/.test(errorMessage(cause))
        ? ` was built for another Node.js than ${process.version}`
        : ' could not be loaded';
      throw new SetupError(`the SQLite driver (better-sqlite3)${abi}`, {
        cause,
        hint: 'rebuild it for this Node.js: npm rebuild better-sqlite3 (in the gastown-ts install)',
      });
    }
    if (isDamaged(cause)) throw storeError(cause, path);
    throw new NoDatabaseError(`cannot open beads database at ${path}: ${errorMessage(cause)}`, { cause });
  }
  try {
    configure(db, options.readonly === true, options.create === true);
    migrate(db, options.migrations ?? MIGRATIONS);
  } catch (err) {
    closeDatabase(db);
    throw storeError(err, path);
  }
  return db;
}

/**
 * better-sqlite3 before 13 wraps databases and statements in node::ObjectWrap. On Node 24.19 and later,
 * finalising such a wrapper outside a JavaScript context (an idle-time or exit-time GC) aborts the process
 * ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook; better-sqlite3 issue #1515, fixed only
 * in 13, which needs Node 22). So no wrapper may ever become garbage: every statement comes from this cache,
 * none from helpers that prepare behind our back (pragma(), transaction()), and closed databases are kept
 * reachable. The cost is a few kilobytes per database opened.
 */
const statementCache = new Map<Db, Map<string, Statement>>();
const closedDatabases: Db[] = [];

/** A prepared statement for `sql` on `db`, prepared once and kept for the life of the process. */
export function cachedStatement(db: Db, sql: string): Statement {
  let forDb = statementCache.get(db);
  if (forDb === undefined) {
    forDb = new Map();
    statementCache.set(db, forDb);
  }
  let statement = forDb.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql);
    forDb.set(sql, statement);
  }
  return statement;
}

/** Closes `db`, keeping its wrappers reachable (see statementCache). */
export function closeDatabase(db: Db): void {
  db.close();
  closedDatabases.push(db);
}

function pragmaValue(db: Db, name: 'journal_mode' | 'user_version' | 'quick_check' | 'data_version'): unknown {
  const row: unknown = cachedStatement(db, `PRAGMA ${name}`).get();
  return isRecord(row) ? row[name] : undefined;
}

/** SQLite's own quick integrity check ("ok" or the first problem), the schema version and the journal mode. */
export function databaseHealth(db: Db): { integrity: string; schema_version: number; journal_mode: string } {
  return {
    integrity: String(pragmaValue(db, 'quick_check')),
    schema_version: Number(pragmaValue(db, 'user_version')),
    journal_mode: String(pragmaValue(db, 'journal_mode')),
  };
}

function configure(db: Db, readonly: boolean, create: boolean): void {
  // WAL is a property of the file: set once when the database is created, and checked when opening an older
  // file that might not have it. Setting it takes a write lock even when nothing changes, so only when needed.
  if (!readonly && (create || pragmaValue(db, 'journal_mode') !== 'wal')) db.exec('PRAGMA journal_mode = WAL');
  // Reading pages through a memory map roughly halves the cold-cache cost of a short-lived CLI's first query.
  db.exec('PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 268435456;');
}

/**
 * A mark that moves whenever the database changes: data_version moves when another connection commits,
 * total_changes() counts this connection's own writes.
 */
export function changeMark(db: Db): string {
  const own: unknown = cachedStatement(db, 'SELECT total_changes() AS n').pluck().get();
  return `${Number(pragmaValue(db, 'data_version'))}.${Number(own)}`;
}

export function schemaVersion(db: Db): number {
  const v = pragmaValue(db, 'user_version');
  if (typeof v !== 'number') throw new InternalError(`unexpected user_version ${String(v)}`);
  return v;
}

/** Applies pending migrations, each in one immediate transaction with its version bump. */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): void {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const current = schemaVersion(db);
  if (current > latest) {
    throw new NoDatabaseError(
      `the beads database has schema version ${current}, newer than this program understands (${latest})`,
      { hint: 'upgrade gt/bd; the database was left untouched' },
    );
  }
  if (current === latest) return;
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  for (const migration of ordered) {
    writeTransaction(db, () => {
      // Another process may have migrated while we waited for the write lock.
      if (schemaVersion(db) >= migration.version) return;
      db.exec(migration.sql);
      db.exec(`PRAGMA user_version = ${migration.version}`);
    });
  }
}

/** SQLite's word that the file is damaged (SQLITE_CORRUPT, SQLITE_NOTADB and their extended codes). */
export function isDamaged(err: unknown): boolean {
  return isRecord(err) && typeof err.code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(err.code);
}

/** A damaged file's error as the one-line DamagedStoreError; any other error as it is. */
export function storeError(err: unknown, path: string): unknown {
  return isDamaged(err) ? new DamagedStoreError(path, errorMessage(err), { cause: err }) : err;
}

function isBusy(err: unknown): boolean {
  return (
    isRecord(err) && (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_BUSY_SNAPSHOT' || err.code === 'SQLITE_LOCKED')
  );
}

/**
 * Takes the write lock (BEGIN IMMEDIATE), waiting in SQLite's busy handler. That handler backs off to 100 ms
 * sleeps, so under heavy contention a few writers wait far longer than the rest (see bench/RESULTS.md). Two
 * fairer schemes were measured and rejected on this 2-core machine: polling from JavaScript (30 spinning
 * processes starved the lock holder: 10 claims/s) and restarting the handler in short cycles (p95 rose from
 * 9 ms to over 400 ms). The structural answer is a single writer, the daemon, once it exists.
 */
function beginImmediate(db: Db, timeoutMs: number): void {
  if (timeoutMs !== BUSY_TIMEOUT_MS) db.exec(`PRAGMA busy_timeout = ${timeoutMs}`);
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    if (!isBusy(err)) throw err;
    throw new ConflictError(`the beads database stayed locked by other writers for ${Math.round(timeoutMs / 1000)} s`, {
      cause: err,
      hint: 'retry; if it persists, look for a process stuck inside a write',
    });
  } finally {
    if (timeoutMs !== BUSY_TIMEOUT_MS) db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front (fairly, see beginImmediate),
 * so two writers queue instead of one failing with SQLITE_BUSY when it tries to upgrade a read to a write.
 * Any error rolls everything back.
 */
export function writeTransaction<T>(db: Db, fn: () => T, lockTimeoutMs: number = BUSY_TIMEOUT_MS): T {
  if (db.inTransaction) return fn();
  beginImmediate(db, lockTimeoutMs);
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

export { LATEST_SCHEMA_VERSION };
