import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, townWithRig } from '../../test/helpers/town-fixture.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { openSqliteBeadStore } from '../store/sqlite-bead-store.js';
import { addCrew } from './crew.js';
import { addPolecat } from './polecat.js';
import { rigPaths } from './rig.js';
import { removeRig } from './rig-remove.js';
import type { Town } from './town.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
const OPTS = { actor: 't', ownerEmail: 'o@e.x', nowMs: Date.UTC(2026, 10, 23) };

async function setup(): Promise<{ town: Town; polecat: string }> {
  const { town, cleanup } = await townWithRig('rigrm');
  cleanups.push(cleanup);
  const polecat = (await addPolecat(town, 'gastown', OPTS)).sandbox_path;
  return { town, polecat };
}

async function rigNames(town: Town): Promise<string[]> {
  const s = openSqliteBeadStore(town.dbPath);
  try {
    return (await s.rigs()).map((r) => r.name);
  } finally {
    s.dispose();
  }
}

const commit = (path: string, text: string): void => {
  writeFileSync(join(path, 'app.txt'), text);
  git(path, 'commit', '--quiet', '-am', text.trim());
};

describe('gt rig remove', () => {
  it('removes a rig whose work is all safe: directory, record and agents', async () => {
    const { town } = await setup();
    expect(await removeRig(town, 'gastown', { actor: 't' })).toEqual({
      rig: 'gastown',
      deleted: true,
      kept: [],
      discarded: [],
    });
    expect(existsSync(rigPaths(town.root, 'gastown').root)).toBe(false);
    expect(await rigNames(town)).toEqual([]);
    const s = openSqliteBeadStore(town.dbPath);
    expect((await s.agents({ rig: 'gastown' })).length).toBe(0);
    s.dispose();
    await expect(removeRig(town, 'gastown', { actor: 't' })).rejects.toThrow(NotFoundError);
  });

  it.each([
    ['uncommitted changes', (p: string) => writeFileSync(join(p, 'app.txt'), 'unsaved\n'), /uncommitted changes/],
    ['an unpushed commit', (p: string) => commit(p, 'local\n'), /not pushed/],
    [
      'pushed but unmerged work',
      (p: string) => {
        commit(p, 'pushed\n');
        git(p, 'push', '--quiet', 'origin', 'HEAD');
      },
      /not merged/,
    ],
  ])(
    'with %s: refuses, and --force forgets the rig but keeps that sandbox working',
    async (_what, makeWork, message) => {
      const { town, polecat } = await setup();
      makeWork(polecat);
      const content = readFileSync(join(polecat, 'app.txt'), 'utf8');
      await expect(removeRig(town, 'gastown', { actor: 't' })).rejects.toThrow(message);
      expect(await rigNames(town)).toEqual(['gastown']);

      const forced = await removeRig(town, 'gastown', { actor: 't', force: true });
      expect(forced.deleted).toBe(false);
      expect(forced.kept.map((k) => k.path)).toEqual([polecat]);
      expect(readFileSync(join(polecat, 'app.txt'), 'utf8')).toBe(content);
      expect(git(polecat, 'rev-parse', '--is-inside-work-tree').trim()).toBe('true');
      expect(existsSync(rigPaths(town.root, 'gastown').refinery)).toBe(false);
      expect(await rigNames(town)).toEqual([]);
    },
  );

  it('--discard-unmerged deletes sandboxes holding work, and says which', async () => {
    const { town, polecat } = await setup();
    commit(polecat, 'local\n');
    const result = await removeRig(town, 'gastown', { actor: 't', discardUnmerged: true });
    expect(result).toMatchObject({ rig: 'gastown', deleted: true, kept: [] });
    expect(result.discarded.map((d) => d.path)).toEqual([polecat]);
    expect(result.discarded[0]?.reason).toMatch(/not pushed/);
    expect(existsSync(polecat)).toBe(false);
  });

  it('refuses for a crew clone with uncommitted work and for unpushed branches left in the shared clone', async () => {
    const { town, polecat } = await setup();
    const crew = await addCrew(town, 'gastown', 'ana', 't');
    writeFileSync(join(crew.sandbox_path, 'notes.txt'), 'mine\n');
    await expect(removeRig(town, 'gastown', { actor: 't' })).rejects.toThrow(/gastown\/crew\/ana: .*uncommitted/);
    rmSync(join(crew.sandbox_path, 'notes.txt'));

    // A branch whose worktree is gone but whose commits were never pushed.
    commit(polecat, 'orphaned\n');
    git(rigPaths(town.root, 'gastown').repo, 'branch', 'stray', git(polecat, 'rev-parse', 'HEAD').trim());
    git(polecat, 'reset', '--quiet', '--hard', 'origin/main');
    await expect(removeRig(town, 'gastown', { actor: 't' })).rejects.toThrow(
      /branch stray of the shared clone has unpushed commits/,
    );
  });

  it('refuses while an agent has an open session, whatever the flags', async () => {
    const { town } = await setup();
    const s = openSqliteBeadStore(town.dbPath);
    await s.startSession({ agent: 'gastown/witness', runtime: 'claude' }, 't');
    s.dispose();
    await expect(removeRig(town, 'gastown', { actor: 't', force: true, discardUnmerged: true })).rejects.toThrow(
      ConflictError,
    );
    expect(await rigNames(town)).toEqual(['gastown']);
  });
});
