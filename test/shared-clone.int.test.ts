import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, gtAsync, requireBuild } from './helpers/bd.js';
import { git, townWithRig } from './helpers/town-fixture.js';
import { openTownStore } from '../src/store/open.js';

/**
 * A rig's shared clone under concurrency and after a kill: many new polecats at once all get their worktree,
 * and a `git worktree add` killed half way (its placeholder HEAD left behind) does not poison later fetches.
 */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("the rig's shared clone", () => {
  it('30 slings that each need a new polecat, all at once: every one succeeds with its own worktree', async () => {
    requireBuild();
    const t = await townWithRig('shared-30');
    cleanups.push(t.cleanup);
    const env = cleanEnv(join(t.base, 'home'));
    const store = openTownStore(t.town.dbPath);
    const beads: string[] = [];
    try {
      for (let i = 0; i < 30; i++) beads.push((await store.create({ title: `job ${i}` }, 'mayor')).id);
    } finally {
      store.dispose();
    }
    // gt hook slings without starting sessions: each makes a polecat (fetch, worktree, branch) for its bead.
    const results = await Promise.all(
      beads.map((id) => gtAsync(['hook', id, 'gastown', '--json'], { cwd: t.town.root, env })),
    );
    expect(results.filter((r) => r.status !== 0).map((r) => r.stderr)).toEqual([]);
    const repo = join(t.town.root, 'gastown', '.repo.git');
    expect(git(repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(32); // + bare, refinery
    expect(git(repo, 'fsck', '--connectivity-only', '--no-dangling')).toBe('');
  }, 240_000);

  it('12 gt polecat add at once: none fails, and every polecat they give is whole and idle', async () => {
    requireBuild();
    const t = await townWithRig('shared-add');
    cleanups.push(t.cleanup);
    const env = cleanEnv(join(t.base, 'home'));
    const results = await Promise.all(
      Array.from({ length: 12 }, () => gtAsync(['polecat', 'add', 'gastown', '--json'], { cwd: t.town.root, env })),
    );
    expect(results.filter((r) => r.status !== 0).map((r) => r.stderr)).toEqual([]);
    // An add may hand out an idle polecat another add just made (as a second add after the first would).
    const given = new Set(results.map((r) => (JSON.parse(r.stdout) as { address: string }).address));
    const store = openTownStore(t.town.dbPath);
    try {
      const polecats = await store.agents({ rig: 'gastown', role: 'polecat' });
      expect(polecats.map((a) => a.address).sort()).toEqual([...given].sort());
      expect(polecats.map((a) => a.agent_state)).toEqual(Array(given.size).fill('idle'));
      for (const p of polecats) {
        expect(git(p.sandbox_path, 'status', '--porcelain')).toBe('');
        expect(git(p.sandbox_path, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(p.branch);
      }
      const repo = join(t.town.root, 'gastown', '.repo.git');
      expect(git(repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(given.size + 2);
    } finally {
      store.dispose();
    }
  }, 240_000);

  it('clears the ref locks a git fetch killed with -9 left, so the next fetch and sling work', async () => {
    requireBuild();
    const t = await townWithRig('shared-reflock');
    cleanups.push(t.cleanup);
    const env = cleanEnv(join(t.base, 'home'));
    const repo = join(t.town.root, 'gastown', '.repo.git');
    const work = join(t.base, 'work');
    writeFileSync(join(work, 'app.txt'), 'v2\n');
    git(work, 'commit', '--quiet', '-am', 'second');
    git(work, 'push', '--quiet', t.remote, 'main');
    // What a fetch killed while it updates origin/main leaves behind (a minute ago).
    const locks = [join(repo, 'refs', 'remotes', 'origin', 'main.lock')];
    const past = (Date.now() - 60_000) / 1000;
    for (const lock of locks) {
      mkdirSync(dirname(lock), { recursive: true });
      writeFileSync(lock, '');
      utimesSync(lock, past, past);
    }
    expect(() => git(repo, 'fetch', '--quiet', 'origin')).toThrow(/main\.lock/);

    const added = await gtAsync(['polecat', 'add', 'gastown', '--json'], { cwd: t.town.root, env });
    expect(added.status, added.stderr).toBe(0);
    expect(locks.filter((l) => existsSync(l))).toEqual([]);
    const sandbox = (JSON.parse(added.stdout) as { sandbox_path: string }).sandbox_path;
    expect(readFileSync(join(sandbox, 'app.txt'), 'utf8')).toBe('v2\n');
  }, 120_000);

  it('clears what a killed git worktree add left half made, so fetches and new polecats work again', async () => {
    requireBuild();
    const t = await townWithRig('shared-half');
    cleanups.push(t.cleanup);
    const env = cleanEnv(join(t.base, 'home'));
    const repo = join(t.town.root, 'gastown', '.repo.git');
    // What git leaves when killed between writing a worktree's entry and its first checkout.
    const admin = join(repo, 'worktrees', 'half');
    mkdirSync(admin, { recursive: true });
    writeFileSync(join(admin, 'HEAD'), `${'0'.repeat(40)}\n`);
    writeFileSync(join(admin, 'locked'), 'initializing');
    writeFileSync(join(admin, 'commondir'), '../..\n');
    writeFileSync(join(admin, 'gitdir'), `${join(t.town.root, 'gastown', 'polecats', 'half', '.git')}\n`);
    // New work upstream, so the next fetch has objects to bring.
    const work = join(t.base, 'work');
    writeFileSync(join(work, 'app.txt'), 'v2\n');
    git(work, 'commit', '--quiet', '-am', 'second');
    git(work, 'push', '--quiet', t.remote, 'main');
    expect(() => git(repo, 'fetch', '--quiet', 'origin')).toThrow(/bad object worktrees\/half\/HEAD/);

    const added = await gtAsync(['polecat', 'add', 'gastown', '--json'], { cwd: t.town.root, env });
    expect(added.status, added.stderr).toBe(0);
    expect(readdirSync(join(repo, 'worktrees'))).not.toContain('half');
    git(repo, 'fetch', '--quiet', 'origin');
  }, 120_000);
});
