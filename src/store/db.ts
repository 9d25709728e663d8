import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { errorMessage, InternalError, NoDatabaseError } from '../core/errors.js';
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
      nativeBinding: sqliteAddonPath(),
    });
  } catch (cause) {
    throw new NoDatabaseError(`cannot open beads database at ${path}: ${errorMessage(cause)}`, { cause });
  }
  try {
    configure(db, options.readonly === true);
    migrate(db, options.migrations ?? MIGRATIONS);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function configure(db: Db, readonly: boolean): void {
  // Setting the journal mode takes a write lock even when nothing changes, so only switch when needed.
  if (!readonly && db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  // Reading pages through a memory map roughly halves the cold-cache cost of a short-lived CLI's first query.
  db.pragma('mmap_size = 268435456');
}

export function schemaVersion(db: Db): number {
  const v: unknown = db.pragma('user_version', { simple: true });
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
      db.pragma(`user_version = ${migration.version}`);
    });
  }
}

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so two writers queue on the
 * busy timeout instead of one failing with SQLITE_BUSY when it tries to upgrade a read to a write.
 */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}

export { LATEST_SCHEMA_VERSION };
