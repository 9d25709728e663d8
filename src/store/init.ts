import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AlreadyInitializedError, ValidationError } from '../core/errors.js';
import { isValidPrefix } from '../core/ids.js';
import { BEADS_DIR_NAME, DB_FILE_NAME, REDIRECT_FILE_NAME, type Workspace } from './discover.js';
import { openSqliteBeadStore, type SqliteBeadStore } from './sqlite-bead-store.js';

const GITIGNORE = [
  '# The SQLite database is local; issues.jsonl is the ledger that lives in git.',
  'beads.db',
  'beads.db-wal',
  'beads.db-shm',
  '',
].join('\n');

/**
 * Creates `<dir>/.beads/` with a fresh database whose ids start with `prefix`. Refuses to touch a directory
 * that already has a database or a redirect, so running it twice can never lose a ledger.
 */
export function initWorkspace(dir: string, prefix: string): { workspace: Workspace; store: SqliteBeadStore } {
  if (!isValidPrefix(prefix)) {
    throw new ValidationError(
      `invalid prefix "${prefix}": start with a letter; use a-z, 0-9, "_" and inner "-" (at most 32)`,
    );
  }
  const beadsDir = join(resolve(dir), BEADS_DIR_NAME);
  const dbPath = join(beadsDir, DB_FILE_NAME);
  if (existsSync(dbPath) || existsSync(join(beadsDir, REDIRECT_FILE_NAME))) {
    throw new AlreadyInitializedError(`${beadsDir} already holds a beads workspace`, {
      hint: 'use it as it is; nothing was changed',
    });
  }
  mkdirSync(beadsDir, { recursive: true });
  const gitignore = join(beadsDir, '.gitignore');
  if (!existsSync(gitignore)) writeFileSync(gitignore, GITIGNORE);
  const store = openSqliteBeadStore(dbPath, { create: true });
  store.setPrefixSync(prefix);
  return { workspace: { beadsDir, dbPath }, store };
}
