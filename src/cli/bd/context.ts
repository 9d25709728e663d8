import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { isRecord, UsageError } from '../../core/errors.js';
import { gitUserName } from '../../git/git.js';
import { discoverWorkspace, type Workspace } from '../../store/discover.js';
import { openTownStore } from '../../store/open.js';
import type { TownStore } from '../../core/town-store.js';
import { printJson, type Io } from '../io.js';

export type GlobalOptions = { json?: boolean; actor?: string; db?: string; quiet?: boolean };

/** beads' JSON contract version: every object bd prints with --json carries it; arrays stay bare. */
export const JSON_SCHEMA_VERSION = 1;

export function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<Record<string, unknown>>();
  return {
    json: o.json === true,
    actor: typeof o.actor === 'string' ? o.actor : undefined,
    db: typeof o.db === 'string' ? o.db : undefined,
    quiet: o.quiet === true,
  };
}

/** --json output as beads prints it: objects get `schema_version`, arrays are printed as they are. */
export function emitJson(io: Io, value: unknown): void {
  printJson(io, isRecord(value) ? { ...value, schema_version: JSON_SCHEMA_VERSION } : value);
}

/** A warning on stderr, unless --quiet asked for errors only. */
export function warn(io: Io, g: GlobalOptions, text: string): void {
  if (g.quiet !== true) io.err(`Warning: ${text}\n`);
}

export function findWorkspace(io: Io, g: GlobalOptions): Workspace {
  return discoverWorkspace({ dbFlag: g.db, envDb: io.env.BEADS_DB, cwd: io.cwd });
}

/** Opens the workspace's store, runs `fn`, and always releases the handle. */
export async function withStore<T>(
  io: Io,
  g: GlobalOptions,
  fn: (store: TownStore, ws: Workspace) => Promise<T>,
): Promise<T> {
  const ws = findWorkspace(io, g);
  const store = openTownStore(ws.dbPath);
  try {
    return await fn(store, ws);
  } finally {
    store.dispose();
  }
}

/** Who is acting: `--actor`, else BD_ACTOR, else BEADS_ACTOR, else the git user, else the OS user. */
export async function resolveActor(io: Io, g: GlobalOptions): Promise<string> {
  const candidates = [g.actor, io.env.BD_ACTOR, io.env.BEADS_ACTOR];
  for (const c of candidates) {
    if (c !== undefined && c.trim() !== '') return c.trim();
  }
  const git = await gitUserName(io.cwd);
  if (git !== undefined) return git;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** Parses a whole-number option. */
export function intOption(value: string, name: string): number {
  if (!/^-?[0-9]+$/.test(value.trim())) throw new UsageError(`${name} expects a whole number, got "${value}"`);
  return Number(value);
}

/** Collects repeatable options (`--label a --label b`) and comma lists (`--label a,b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  ];
}
