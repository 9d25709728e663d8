import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { ConflictError, NoTownError, ValidationError } from '../core/errors.js';
import { openSqliteBeadStore } from '../store/sqlite-bead-store.js';
import { findTown, installTown, loadSettings, type InstallOptions } from './town.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function scratch(): string {
  const t = tempDir('town');
  cleanups.push(t.cleanup);
  return realpathSync(t.dir);
}

const OPTS: InstallOptions = { owner: 'owner@example.com', actor: 'tester', nowIso: '2026-11-23T00:00:00.000Z' };

async function agentsOf(root: string) {
  const store = openSqliteBeadStore(join(root, '.beads', 'beads.db'));
  try {
    return await store.agents({});
  } finally {
    store.dispose();
  }
}

describe('gt install', () => {
  it('lays out a town: marker, settings, town store, mayor/deacon/boot directories and agents', async () => {
    const root = join(scratch(), 'mytown');
    const result = await installTown(root, OPTS);
    expect(result.created).toBe(true);
    expect(result.town).toMatchObject({ root, name: 'mytown', owner: 'owner@example.com' });
    expect(result.town.tmuxSocket).toMatch(/^gt-mytown-[0-9a-f]{8}$/);
    for (const p of ['town.json', 'settings.json', '.beads/beads.db', 'mayor', 'deacon', 'deacon/boot'])
      expect(existsSync(join(root, p)), p).toBe(true);
    expect(JSON.parse(readFileSync(join(root, 'town.json'), 'utf8'))).toMatchObject({
      type: 'gastown-town',
      name: 'mytown',
    });
    const agents = await agentsOf(root);
    expect(agents.map((a) => [a.address, a.session_name, a.sandbox_path])).toEqual([
      ['deacon', 'hq-deacon', join(root, 'deacon')],
      ['deacon/boot', 'hq-boot', join(root, 'deacon', 'boot')],
      ['mayor', 'hq-mayor', join(root, 'mayor')],
    ]);
    const store = openSqliteBeadStore(join(root, '.beads', 'beads.db'));
    expect(store.prefix).toBe('hq');
    store.dispose();
  });

  it('is idempotent: a second install changes nothing', async () => {
    const root = join(scratch(), 't');
    await installTown(root, OPTS);
    const before = readFileSync(join(root, 'town.json'), 'utf8');
    const again = await installTown(root, { ...OPTS, nowIso: '2030-01-01T00:00:00.000Z' });
    expect(again).toMatchObject({ created: false, changes: [] });
    expect(readFileSync(join(root, 'town.json'), 'utf8')).toBe(before);
    expect(await agentsOf(root)).toHaveLength(3);
  });

  it('finishes an interrupted install', async () => {
    const root = join(scratch(), 't');
    await installTown(root, OPTS);
    rmSync(join(root, 'settings.json'));
    rmSync(join(root, 'deacon'), { recursive: true });
    const again = await installTown(root, OPTS);
    expect(again.created).toBe(false);
    expect(again.changes).toEqual(['deacon/', 'deacon/boot/', 'settings.json']);
    expect(existsSync(join(root, 'deacon', 'boot'))).toBe(true);
  });

  it('refuses a non-empty directory that is not a town, unless forced', async () => {
    const root = scratch();
    writeFileSync(join(root, 'precious.txt'), 'mine');
    await expect(installTown(root, OPTS)).rejects.toThrow(ConflictError);
    expect(readdirSync(root)).toEqual(['precious.txt']);
    await installTown(root, { ...OPTS, force: true, name: 'forced' });
    expect(readFileSync(join(root, 'precious.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(root, 'town.json'))).toBe(true);
  });

  it('refuses hostile names and a different name for an existing town, creating nothing', async () => {
    const base = scratch();
    for (const name of ['../x', 'a;b', '-rf', 'two words', 'x'.repeat(300)]) {
      await expect(installTown(join(base, 'new'), { ...OPTS, name })).rejects.toThrow(ValidationError);
    }
    expect(readdirSync(base)).toEqual([]);
    await installTown(join(base, 't'), OPTS);
    await expect(installTown(join(base, 't'), { ...OPTS, name: 'other' })).rejects.toThrow(/already the town "t"/);
  });

  it('with --git, tracks the ledger and ignores the database, even inside another repository', async () => {
    const outer = scratch();
    execFileSync('git', ['init', '--quiet', outer]);
    const root = join(outer, 'town');
    await installTown(root, { ...OPTS, git: true });
    expect(existsSync(join(root, '.git'))).toBe(true);
    const ignored = (path: string): boolean => {
      try {
        execFileSync('git', ['check-ignore', '--quiet', path], { cwd: root });
        return true;
      } catch {
        return false;
      }
    };
    expect(ignored('.beads/beads.db')).toBe(true);
    expect(ignored('.beads/beads.db-wal')).toBe(true);
    expect(ignored('.beads/issues.jsonl')).toBe(false);
    expect(ignored('town.json')).toBe(false);
    // The ledger is written and, with the town's files, in a first commit: the database is not.
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8' });
    expect(git('rev-list', '--count', 'HEAD').trim()).toBe('1');
    expect(git('ls-files').trim().split('\n').sort()).toEqual(
      ['.beads/.gitignore', '.beads/issues.jsonl', '.gitignore', 'settings.json', 'town.json'].sort(),
    );
    expect(git('status', '--porcelain')).toBe('');
    expect((await installTown(root, { ...OPTS, git: true })).changes).toEqual([]);
    expect(git('rev-list', '--count', 'HEAD').trim()).toBe('1');
  });
});

describe('finding the town', () => {
  it('walks up from any directory inside it, or follows GT_TOWN_ROOT', async () => {
    const root = join(scratch(), 't');
    await installTown(root, OPTS);
    const deep = join(root, 'mayor', 'a', 'b');
    mkdirSync(deep, { recursive: true });
    expect(findTown({ cwd: deep }).root).toBe(root);
    expect(findTown({ cwd: '/', envRoot: root }).root).toBe(root);
  });

  it('says clearly when outside a town', () => {
    const dir = scratch();
    expect(() => findTown({ cwd: dir })).toThrow(NoTownError);
    expect(() => findTown({ cwd: dir })).toThrow(/not inside a Gas Town town/);
    expect(() => findTown({ cwd: '/', envRoot: dir })).toThrow(/GT_TOWN_ROOT=.* is not a town/);
  });

  it('reports a broken settings file by file and field', async () => {
    const root = join(scratch(), 't');
    await installTown(root, OPTS);
    writeFileSync(join(root, 'settings.json'), JSON.stringify({ daemon: { heartbeat_seconds: -1 } }));
    expect(() => loadSettings(findTown({ cwd: root }))).toThrow(
      /settings\.json: daemon\.heartbeat_seconds must be a positive whole number/,
    );
    await expect(installTown(root, OPTS)).rejects.toThrow(ValidationError);
  });
});
