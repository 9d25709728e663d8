import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { AgentIdentity } from '../core/identity.js';
import { agentAddress, sessionName, TOWN_PREFIX, tmuxSocketName, validateName } from '../core/identity.js';
import { ConflictError, errorMessage, isRecord, NoTownError, ValidationError } from '../core/errors.js';
import { commitAll, gitConfig, gitInit, gitTopLevel, gitUserName, hasCommits } from '../git/git.js';
import { BEADS_DIR_NAME, DB_FILE_NAME, JSONL_FILE_NAME } from '../store/discover.js';
import { initWorkspace } from '../store/init.js';
import { openTownStore } from '../store/open.js';
import type { TownStore } from '../core/town-store.js';
import { defaultTownSettings, parseTownSettings, type TownSettings } from '../core/settings.js';

/**
 * A town: the root directory of a Gas Town workspace. `town.json` marks it; `settings.json` tunes it; the town
 * store (prefix hq) lives in `.beads/`; mayor, deacon and boot have their directories.
 */

export const TOWN_FILE = 'town.json';
export const SETTINGS_FILE = 'settings.json';
const TOWN_TYPE = 'gastown-town';
const TOWN_VERSION = 1;

export type TownRecord = { type: typeof TOWN_TYPE; version: number; name: string; owner: string; created_at: string };

export type Town = {
  /** The real path of the town root. */
  root: string;
  name: string;
  owner: string;
  created_at: string;
  /** The town's private tmux server. */
  tmuxSocket: string;
  dbPath: string;
};

export function townPaths(root: string) {
  return {
    townFile: join(root, TOWN_FILE),
    settingsFile: join(root, SETTINGS_FILE),
    beadsDir: join(root, BEADS_DIR_NAME),
    dbPath: join(root, BEADS_DIR_NAME, DB_FILE_NAME),
    mayor: join(root, 'mayor'),
    deacon: join(root, 'deacon'),
    boot: join(root, 'deacon', 'boot'),
    gitignore: join(root, '.gitignore'),
    ledger: join(root, BEADS_DIR_NAME, JSONL_FILE_NAME),
  };
}

function readTownRecord(file: string): TownRecord {
  const json = readJsonFile(file);
  if (
    !isRecord(json) ||
    json.type !== TOWN_TYPE ||
    typeof json.name !== 'string' ||
    typeof json.owner !== 'string' ||
    typeof json.created_at !== 'string'
  ) {
    throw new ValidationError(`${file} is not a Gas Town town file`);
  }
  return {
    type: TOWN_TYPE,
    version: typeof json.version === 'number' ? json.version : TOWN_VERSION,
    name: json.name,
    owner: json.owner,
    created_at: json.created_at,
  };
}

function toTown(root: string, record: TownRecord): Town {
  return {
    root,
    name: record.name,
    owner: record.owner,
    created_at: record.created_at,
    tmuxSocket: tmuxSocketName(root),
    dbPath: townPaths(root).dbPath,
  };
}

function isTownFile(file: string): boolean {
  try {
    readTownRecord(file);
    return true;
  } catch {
    return false;
  }
}

/** The town around `cwd` (walking up), or the one `GT_TOWN_ROOT` names. */
export function findTown(options: { cwd: string; envRoot?: string }): Town {
  if (options.envRoot !== undefined && options.envRoot !== '') {
    const root = resolve(options.cwd, options.envRoot);
    const file = join(root, TOWN_FILE);
    if (!existsSync(file))
      throw new NoTownError(`GT_TOWN_ROOT=${options.envRoot} is not a town (no ${TOWN_FILE})`, {
        hint: 'unset it, or run "gt install" there',
      });
    return toTown(realpathSync(root), readTownRecord(file));
  }
  let dir = resolve(options.cwd);
  for (;;) {
    const file = join(dir, TOWN_FILE);
    if (existsSync(file) && isTownFile(file)) return toTown(realpathSync(dir), readTownRecord(file));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new NoTownError(`not inside a Gas Town town: no ${TOWN_FILE} in ${options.cwd} or above`, {
    hint: 'cd into a town, set GT_TOWN_ROOT, or create one with "gt install <dir>"',
  });
}

/** A JSON file's contents, or a ValidationError that names the file. */
export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ValidationError(`${file} is not valid JSON: ${errorMessage(err)}`);
  }
}

export function loadSettings(town: Town): TownSettings {
  const file = townPaths(town.root).settingsFile;
  return existsSync(file) ? parseTownSettings(readJsonFile(file), file) : defaultTownSettings();
}

/** Validates and writes the town settings atomically (a reader sees the old file or the new one). */
export function saveSettings(town: Town, settings: TownSettings): void {
  const file = townPaths(town.root).settingsFile;
  const text = `${JSON.stringify(settings, null, 2)}\n`;
  parseTownSettings(JSON.parse(text), file);
  writeAtomic(file, text);
}

/** Writes a file beside its target and renames it into place: readers see the old file or the new one. */
export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

const TOWN_AGENTS: readonly AgentIdentity[] = [{ role: 'mayor' }, { role: 'deacon' }, { role: 'boot' }];

const GITIGNORE = [
  '# Gas Town: the ledger (.beads/issues.jsonl) is tracked; databases and runtime files are not.',
  '.beads/beads.db',
  '.beads/beads.db-*',
  '.runtime/',
  '*.tmp-*',
  '',
].join('\n');

export type InstallOptions = {
  name?: string;
  owner: string;
  git?: boolean;
  force?: boolean;
  actor: string;
  nowIso: string;
};
export type InstallResult = { town: Town; created: boolean; changes: string[] };

/**
 * Creates a town in `dir`, or completes one: every step checks what exists first, so running it again on a
 * town changes nothing, and running it again after an interrupted install finishes the job. The town file is
 * written first for exactly that reason. A non-empty directory that is not a town is refused unless `force`.
 */
export async function installTown(dir: string, options: InstallOptions): Promise<InstallResult> {
  const target = resolve(dir);
  const townFile = join(target, TOWN_FILE);
  const existing = existsSync(townFile);
  if (existsSync(target) && !statSync(target).isDirectory())
    throw new ValidationError(`${target} exists and is not a directory`);
  if (!existing && existsSync(target) && readdirSync(target).length > 0 && options.force !== true) {
    throw new ConflictError(`${target} is not empty and is not a town`, {
      hint: 'install into an empty or new directory, or pass --force to build a town around what is there',
    });
  }
  // Everything that can be refused is checked before anything is created.
  if (!existing) validateName('town', options.name ?? basename(target));
  const changes: string[] = [];
  mkdirSync(target, { recursive: true });
  const root = realpathSync(target);
  const paths = townPaths(root);

  let record: TownRecord;
  if (existing) {
    record = readTownRecord(townFile);
    if (options.name !== undefined && options.name !== record.name) {
      throw new ConflictError(`${root} is already the town "${record.name}"`, {
        hint: 'drop --name, or install a new town elsewhere',
      });
    }
  } else {
    const name = validateName('town', options.name ?? basename(root));
    record = { type: TOWN_TYPE, version: TOWN_VERSION, name, owner: options.owner, created_at: options.nowIso };
    writeAtomic(townFile, `${JSON.stringify(record, null, 2)}\n`);
    changes.push(TOWN_FILE);
  }
  for (const d of [paths.mayor, paths.deacon, paths.boot]) {
    if (!existsSync(d)) {
      mkdirSync(d, { recursive: true });
      changes.push(`${d.slice(root.length + 1)}/`);
    }
  }
  if (!existsSync(paths.settingsFile)) {
    writeAtomic(paths.settingsFile, `${JSON.stringify(defaultTownSettings(), null, 2)}\n`);
    changes.push(SETTINGS_FILE);
  } else {
    loadSettings(toTown(root, record));
  }
  let store: TownStore;
  if (existsSync(paths.dbPath)) {
    store = openTownStore(paths.dbPath);
  } else {
    store = initWorkspace(root, TOWN_PREFIX).store;
    changes.push('.beads/ (town store, prefix hq)');
  }
  let ledger: string;
  try {
    const known = new Set((await store.agents({})).map((a) => a.address));
    for (const identity of TOWN_AGENTS) {
      const address = agentAddress(identity);
      if (known.has(address)) continue;
      const sandbox = identity.role === 'mayor' ? paths.mayor : identity.role === 'deacon' ? paths.deacon : paths.boot;
      await store.registerAgent(
        { identity, session_name: sessionName(identity), sandbox_path: sandbox },
        options.actor,
      );
      changes.push(`agent ${address}`);
    }
    ledger = options.git === true ? (await store.exportJsonl({})).text : '';
  } finally {
    store.dispose();
  }
  if (options.git === true) {
    if (!existsSync(paths.gitignore)) {
      writeAtomic(paths.gitignore, GITIGNORE);
      changes.push('.gitignore');
    }
    if (!existsSync(paths.ledger)) {
      writeAtomic(paths.ledger, ledger);
      changes.push(`${BEADS_DIR_NAME}/${JSONL_FILE_NAME} (the ledger, tracked)`);
    }
    // A town inside someone else's repository still gets a repository of its own.
    if ((await gitTopLevel(root)) !== root) {
      await gitInit(root);
      changes.push('git repository');
    }
    if (!(await hasCommits(root))) {
      const author = {
        name: (await gitUserName(root)) ?? record.name,
        email: (await gitConfig(root, 'user.email')) ?? record.owner,
      };
      const sha = await commitAll(root, `Gas Town: town ${record.name}`, author);
      if (sha !== null) changes.push(`first commit ${sha.slice(0, 8)}`);
    }
  }
  return { town: toTown(root, record), created: !existing, changes };
}
