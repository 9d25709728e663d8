import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { NoDatabaseError } from '../core/errors.js';

/** The files of a workspace's `.beads/` directory. */
export const BEADS_DIR_NAME = '.beads';
export const DB_FILE_NAME = 'beads.db';
export const JSONL_FILE_NAME = 'issues.jsonl';
export const REDIRECT_FILE_NAME = 'redirect';
/** How many redirects may chain before we call it a mistake. */
export const MAX_REDIRECT_DEPTH = 3;

export type DiscoverOptions = {
  /** `--db` flag: a database file path. */
  dbFlag?: string;
  /** `BEADS_DB` from the environment. */
  envDb?: string;
  cwd: string;
};

export type Workspace = { beadsDir: string; dbPath: string };

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds the database: `--db`, else `BEADS_DB`, else the nearest `.beads/` walking up from `cwd`, following
 * `.beads/redirect` files (a path relative to the directory that holds the `.beads/`).
 */
export function discoverWorkspace(options: DiscoverOptions): Workspace {
  const explicit = options.dbFlag ?? (options.envDb === '' ? undefined : options.envDb);
  if (explicit !== undefined) {
    const dbPath = resolve(options.cwd, explicit);
    if (!existsSync(dbPath)) {
      const source = options.dbFlag !== undefined ? '--db' : 'BEADS_DB';
      throw new NoDatabaseError(`no beads database at ${dbPath} (from ${source})`, {
        hint: 'check the path, or run "bd init" in the project directory',
      });
    }
    return { beadsDir: dirname(dbPath), dbPath };
  }
  let dir = resolve(options.cwd);
  for (;;) {
    const candidate = join(dir, BEADS_DIR_NAME);
    if (
      isDirectory(candidate) &&
      (existsSync(join(candidate, DB_FILE_NAME)) || existsSync(join(candidate, REDIRECT_FILE_NAME)))
    ) {
      const beadsDir = followRedirects(candidate);
      return { beadsDir, dbPath: join(beadsDir, DB_FILE_NAME) };
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new NoDatabaseError(`no .beads/ database found in ${options.cwd} or any parent directory`, {
    hint: 'run "bd init --prefix <name>" to create one here, or pass --db <path>',
  });
}

/** Follows `.beads/redirect` files from `beadsDir` to the directory that really holds the database. */
export function followRedirects(beadsDir: string): string {
  const visited: string[] = [];
  let current = beadsDir;
  for (let depth = 0; ; depth++) {
    const real = realpathSync(current);
    if (visited.includes(real)) {
      throw new NoDatabaseError(`.beads redirect cycle: ${[...visited, real].join(' → ')}`, {
        hint: 'fix or delete one of the redirect files',
      });
    }
    visited.push(real);
    const redirectFile = join(current, REDIRECT_FILE_NAME);
    if (!existsSync(redirectFile)) {
      if (!existsSync(join(current, DB_FILE_NAME))) {
        throw new NoDatabaseError(`no ${DB_FILE_NAME} in ${current}`, {
          hint: 'run "bd init" there, or fix the redirect that points to it',
        });
      }
      return current;
    }
    if (depth >= MAX_REDIRECT_DEPTH) {
      throw new NoDatabaseError(`.beads redirects chain deeper than ${MAX_REDIRECT_DEPTH}: ${visited.join(' → ')}`, {
        hint: 'point the first redirect straight at the database directory',
      });
    }
    const target = readFileSync(redirectFile, 'utf8').trim();
    if (target === '') throw new NoDatabaseError(`empty redirect file ${redirectFile}`);
    const next = isAbsolute(target) ? target : resolve(dirname(current), target);
    if (!isDirectory(next)) {
      throw new NoDatabaseError(`${redirectFile} points to ${next}, which is not a directory`, {
        hint: 'fix the path in the redirect file (relative to the directory holding .beads/)',
      });
    }
    current = next;
  }
}
