import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ImportReport } from '../core/bead-store.js';
import { ConflictError, errorMessage, GtError, ValidationError } from '../core/errors.js';
import { agentGitIdentity, sessionName, TOWN_PREFIX, validateName, type AgentIdentity } from '../core/identity.js';
import { isValidPrefix } from '../core/ids.js';
import type { Rig } from '../core/rig-registry.js';
import { addWorktree, cloneBare, defaultBranch, hasRemoteBranch, setWorktreeIdentity } from '../git/git.js';
import { openTownStore } from '../store/open.js';
import { defaultRigSettings, parseRigSettings, rigSettingsFile, type RigSettings } from '../core/settings.js';
import { readJsonFile, writeAtomic, type Town } from './town.js';

/** A rig's directory: the shared object store, the refinery's worktree, and room for its other agents. */
export function rigPaths(townRoot: string, rig: string) {
  const root = join(townRoot, rig);
  return {
    root,
    settings: join(root, 'settings.json'),
    repo: join(root, '.repo.git'),
    refinery: join(root, 'refinery', 'rig'),
    witness: join(root, 'witness'),
    polecats: join(root, 'polecats'),
    crew: join(root, 'crew'),
  };
}

/**
 * A bead prefix for a rig with no `--prefix`: the initials of a multi-word name (`my-app` → `ma`), else its
 * first letters (`gastown` → `ga`), lengthened and then numbered until it is free in the town.
 */
export function derivePrefix(name: string, taken: ReadonlySet<string>): string {
  const words = name
    .toLowerCase()
    .split(/[-_]+/)
    .map((w) => w.replace(/[^a-z0-9]/g, ''))
    .filter((w) => w !== '');
  let letters = words.join('');
  if (!/^[a-z]/.test(letters)) letters = `r${letters}`;
  const candidates: string[] = [];
  if (words.length >= 2) candidates.push(words.map((w) => w[0]).join(''));
  for (let n = 2; n <= Math.min(letters.length, 12); n++) candidates.push(letters.slice(0, n));
  const base = letters.slice(0, 8);
  for (let i = 2; i < 1000; i++) candidates.push(`${base}${i}`);
  const free = candidates.find((p) => isValidPrefix(p) && p !== TOWN_PREFIX && !taken.has(p));
  if (free === undefined)
    throw new ConflictError(`could not find a free bead prefix for rig ${name}`, { hint: 'choose one with --prefix' });
  return free;
}

export type AddRigOptions = { prefix?: string; branch?: string; actor: string };
export type AddRigResult = { rig: Rig; created: boolean; imported: ImportReport | null };

/** The rig's settings file, or the defaults when it has none. */
export function loadRigSettings(townRoot: string, rig: string): RigSettings {
  const file = rigPaths(townRoot, rig).settings;
  return existsSync(file) ? parseRigSettings(readJsonFile(file), file) : defaultRigSettings();
}

/** Validates and writes the rig's settings file atomically (a reader sees the old file or the new one). */
export function saveRigSettings(townRoot: string, rig: string, settings: RigSettings): void {
  const file = rigPaths(townRoot, rig).settings;
  const text = `${JSON.stringify(rigSettingsFile(settings), null, 2)}\n`;
  parseRigSettings(JSON.parse(text), file);
  writeAtomic(file, text);
}

/**
 * Adds a project to the town: a bare clone as the shared object store, the refinery's worktree on the default
 * branch, directories for the witness, polecats and crew, the rig and its agents in the store, and the
 * project's own beads ledger if it tracks one. Any failure removes everything this call created.
 */
export async function addRig(town: Town, name: string, source: string, options: AddRigOptions): Promise<AddRigResult> {
  validateName('rig', name);
  if (source === '' || source.startsWith('-'))
    throw new ValidationError(`invalid repository "${source}": give a URL or a path`);
  if (options.branch !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(options.branch))
    throw new ValidationError(`invalid branch "${options.branch}"`);
  const paths = rigPaths(town.root, name);
  const url = existsSync(source) ? resolve(source) : source;
  const store = openTownStore(town.dbPath);
  let created = false;
  let registered = false;
  try {
    const rigs = await store.rigs();
    const existing = rigs.find((r) => r.name === name);
    if (existing !== undefined) {
      // Adding the same project under the same name again changes nothing.
      const same =
        existing.url === url &&
        (options.prefix === undefined || options.prefix === existing.prefix) &&
        (options.branch === undefined || options.branch === existing.default_branch);
      if (same) return { rig: existing, created: false, imported: null };
      throw new ConflictError(
        `the town already has a rig named ${name} (from ${existing.url}, prefix ${existing.prefix})`,
      );
    }
    if (existsSync(paths.root))
      throw new ConflictError(`${paths.root} already exists`, {
        hint: 'choose another rig name, or move that directory away',
      });
    const taken = new Set(rigs.map((r) => r.prefix));
    let prefix: string;
    if (options.prefix !== undefined) {
      if (!isValidPrefix(options.prefix) || options.prefix === TOWN_PREFIX)
        throw new ValidationError(`invalid prefix "${options.prefix}": a-z, 0-9, "_", inner "-", not "${TOWN_PREFIX}"`);
      if (taken.has(options.prefix)) throw new ConflictError(`prefix ${options.prefix} is already used by another rig`);
      prefix = options.prefix;
    } else {
      prefix = derivePrefix(name, taken);
    }

    mkdirSync(paths.root);
    created = true;
    await cloneBare(url, paths.repo, town.root);
    const branch = options.branch ?? (await defaultBranch(paths.repo));
    if (!(await hasRemoteBranch(paths.repo, branch)))
      throw new ValidationError(`the repository has no branch ${branch}`);
    await addWorktree(paths.repo, paths.refinery, branch);
    const witness: AgentIdentity = { role: 'witness', rig: name };
    const refinery: AgentIdentity = { role: 'refinery', rig: name };
    // The refinery's merges carry its name, like every agent's commits.
    const signer = agentGitIdentity(refinery, town.owner);
    await setWorktreeIdentity(paths.repo, paths.refinery, signer.name, signer.email);
    for (const dir of [paths.witness, paths.polecats, paths.crew]) mkdirSync(dir, { recursive: true });
    writeFileSync(paths.settings, `${JSON.stringify(rigSettingsFile(defaultRigSettings()), null, 2)}\n`);

    const rig = await store.registerRig(
      { name, prefix, url, default_branch: branch, path: paths.root },
      [
        { identity: witness, session_name: sessionName(witness, prefix), sandbox_path: paths.witness },
        { identity: refinery, session_name: sessionName(refinery, prefix), sandbox_path: paths.refinery, branch },
      ],
      options.actor,
    );
    registered = true;

    const ledger = join(paths.refinery, '.beads', 'issues.jsonl');
    let imported: ImportReport | null = null;
    if (existsSync(ledger)) {
      try {
        imported = await store.importJsonl(readFileSync(ledger, 'utf8'), options.actor);
      } catch (err) {
        throw new ValidationError(`the project's beads ledger could not be imported: ${errorMessage(err)}`, {
          cause: err,
        });
      }
    }
    return { rig, created: true, imported };
  } catch (err) {
    // Undo in reverse. The directory did not exist before this call: everything in it is ours to remove.
    if (registered) await store.unregisterRig(name, options.actor).catch(() => undefined);
    if (created) rmSync(paths.root, { recursive: true, force: true });
    if (err instanceof GtError) throw err;
    throw new ValidationError(`adding rig ${name} failed: ${errorMessage(err)}`, { cause: err });
  } finally {
    store.dispose();
  }
}
