import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { NoDatabaseError } from '../core/errors.js';
import { discoverWorkspace } from './discover.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function tree(): string {
  const t = tempDir('discover');
  cleanups.push(t.cleanup);
  return realpathSync(t.dir);
}

function makeDb(dir: string): string {
  mkdirSync(join(dir, '.beads'), { recursive: true });
  writeFileSync(join(dir, '.beads', 'beads.db'), '');
  return join(dir, '.beads');
}

function redirect(from: string, target: string): void {
  mkdirSync(join(from, '.beads'), { recursive: true });
  writeFileSync(join(from, '.beads', 'redirect'), `${target}\n`);
}

describe('discoverWorkspace', () => {
  it('finds the nearest .beads walking up', () => {
    const root = tree();
    const beads = makeDb(root);
    const deep = join(root, 'a', 'b', 'c');
    mkdirSync(deep, { recursive: true });
    expect(discoverWorkspace({ cwd: deep })).toEqual({ beadsDir: beads, dbPath: join(beads, 'beads.db') });
  });

  it('prefers --db over BEADS_DB over walking', () => {
    const root = tree();
    makeDb(root);
    const other = makeDb(join(root, 'other'));
    const third = makeDb(join(root, 'third'));
    expect(discoverWorkspace({ cwd: root, envDb: join(other, 'beads.db') }).beadsDir).toBe(other);
    expect(
      discoverWorkspace({ cwd: root, envDb: join(other, 'beads.db'), dbFlag: join(third, 'beads.db') }).beadsDir,
    ).toBe(third);
    expect(() => discoverWorkspace({ cwd: root, dbFlag: join(root, 'missing.db') })).toThrow('(from --db)');
  });

  it('follows a relative redirect from a worktree to the rig database', () => {
    const root = tree();
    const rigBeads = makeDb(join(root, 'rig'));
    const worktree = join(root, 'rig', 'polecats', 'toast', 'rig');
    mkdirSync(worktree, { recursive: true });
    redirect(worktree, '../../../.beads');
    expect(discoverWorkspace({ cwd: join(worktree) }).beadsDir).toBe(rigBeads);
  });

  it('follows chained redirects up to the limit, and refuses longer chains', () => {
    const root = tree();
    const target = makeDb(join(root, 'db'));
    redirect(join(root, 'r1'), '../db/.beads');
    redirect(join(root, 'r2'), '../r1/.beads');
    redirect(join(root, 'r3'), '../r2/.beads');
    redirect(join(root, 'r4'), '../r3/.beads');
    expect(discoverWorkspace({ cwd: join(root, 'r3') }).beadsDir).toBe(target);
    expect(() => discoverWorkspace({ cwd: join(root, 'r4') })).toThrow(/deeper than 3/);
  });

  it('detects redirect cycles', () => {
    const root = tree();
    redirect(join(root, 'a'), '../b/.beads');
    redirect(join(root, 'b'), '../a/.beads');
    expect(() => discoverWorkspace({ cwd: join(root, 'a') })).toThrow(/redirect cycle/);
  });

  it('says what to do when there is no database', () => {
    const root = tree();
    try {
      discoverWorkspace({ cwd: root });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(NoDatabaseError);
      expect((err as NoDatabaseError).hint).toMatch(/bd init/);
    }
  });

  it('reports a redirect to a missing directory', () => {
    const root = tree();
    redirect(root, '../nowhere/.beads');
    expect(() => discoverWorkspace({ cwd: root })).toThrow(/not a directory/);
  });
});
