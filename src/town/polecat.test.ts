import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, GIT_ENV, townWithRig } from '../../test/helpers/town-fixture.js';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { discoverWorkspace } from '../store/discover.js';
import { openSqliteBeadStore } from '../store/sqlite-bead-store.js';
import { addPolecat, finishPolecat, listPolecats, removePolecat } from './polecat.js';
import { rigPaths } from './rig.js';
import type { Town } from './town.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** git as an agent runs it: no identity in the environment, so the worktree's own config signs commits. */
const agentGit = (cwd: string, ...args: string[]): string => {
  const {
    GIT_AUTHOR_NAME: _a,
    GIT_AUTHOR_EMAIL: _b,
    GIT_COMMITTER_NAME: _c,
    GIT_COMMITTER_EMAIL: _d,
    ...env
  } = GIT_ENV;
  return execFileSync('git', args, { cwd, env: { ...env, GIT_CONFIG_NOSYSTEM: '1', HOME: cwd }, encoding: 'utf8' });
};
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const OPTS = { actor: 'tester', ownerEmail: 'owner@example.com', nowMs: NOW };

async function setup(): Promise<{ town: Town; remote: string }> {
  const fixture = await townWithRig('polecat');
  cleanups.push(fixture.cleanup);
  return fixture;
}

/** Marks a polecat as working, so it is not handed out again. */
async function busy(town: Town, name: string): Promise<void> {
  const store = openSqliteBeadStore(town.dbPath);
  await store.updateAgent(`gastown/polecats/${name}`, { agent_state: 'working' }, 't');
  store.dispose();
}

describe('polecat sandboxes', () => {
  it('are worktrees on their own branch from the remote default branch, signed with their name, wired to the town store', async () => {
    const { town } = await setup();
    const agent = await addPolecat(town, 'gastown', { ...OPTS, bead: 'ga-abc' });
    const path = join(rigPaths(town.root, 'gastown').polecats, 'aster');
    expect(agent).toMatchObject({
      address: 'gastown/polecats/aster',
      session_name: 'ga-aster',
      sandbox_path: path,
      branch: 'polecat/aster/ga-abc@20261123T120000Z',
    });
    expect(git(path, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('polecat/aster/ga-abc@20261123T120000Z');
    expect(readFileSync(join(path, 'app.txt'), 'utf8')).toBe('v1\n');
    expect(git(path, 'config', 'user.name').trim()).toBe('aster');
    expect(git(path, 'config', 'user.email').trim()).toBe('owner@example.com');
    expect(discoverWorkspace({ cwd: path }).dbPath).toBe(town.dbPath);
    expect(git(path, 'status', '--porcelain')).toBe('');
  });

  it('hand out the first free names and take an explicit one once', async () => {
    const { town } = await setup();
    expect((await addPolecat(town, 'gastown', OPTS)).name).toBe('aster');
    await busy(town, 'aster');
    expect((await addPolecat(town, 'gastown', OPTS)).name).toBe('birch');
    await busy(town, 'birch');
    expect((await addPolecat(town, 'gastown', { ...OPTS, name: 'nux' })).name).toBe('nux');
    await busy(town, 'nux');
    await expect(addPolecat(town, 'gastown', { ...OPTS, name: 'nux' })).rejects.toThrow(ConflictError);
    expect((await addPolecat(town, 'gastown', { ...OPTS, theme: ['aster', 'birch'] })).name).toBe('aster2');
    expect((await listPolecats(town, 'gastown')).map((p) => [p.name, p.sandbox_exists])).toEqual([
      ['aster', true],
      ['aster2', true],
      ['birch', true],
      ['nux', true],
    ]);
  });

  it("take their names from the rig's own list when it has one", async () => {
    const { town } = await setup();
    writeFileSync(rigPaths(town.root, 'gastown').settings, JSON.stringify({ polecat_names: ['toast', 'nux'] }));
    expect((await addPolecat(town, 'gastown', OPTS)).name).toBe('toast');
    await busy(town, 'toast');
    expect((await addPolecat(town, 'gastown', OPTS)).name).toBe('nux');
    await busy(town, 'nux');
    expect((await addPolecat(town, 'gastown', OPTS)).name).toBe('toast2');
    writeFileSync(rigPaths(town.root, 'gastown').settings, JSON.stringify({ polecat_names: ['-rf'] }));
    await expect(addPolecat(town, 'gastown', OPTS)).rejects.toThrow(/polecat_names\[0\] is not a usable name/);
  });

  it('refuse hostile names and unknown rigs, creating nothing', async () => {
    const { town } = await setup();
    for (const name of ['../x', 'a;b', '-rf', 'two words', 'x'.repeat(300), 'witness']) {
      await expect(addPolecat(town, 'gastown', { ...OPTS, name })).rejects.toThrow(ValidationError);
    }
    await expect(addPolecat(town, 'nope', OPTS)).rejects.toThrow(NotFoundError);
    expect(await listPolecats(town, 'gastown')).toEqual([]);
  });

  describe('reuse', () => {
    it('gives an idle polecat with pushed work a fresh branch instead of a new sandbox', async () => {
      const { town, remote } = await setup();
      const first = await addPolecat(town, 'gastown', { ...OPTS, bead: 'ga-1' });
      const path = first.sandbox_path;
      writeFileSync(join(path, 'app.txt'), 'v2\n');
      git(path, 'commit', '--quiet', '-am', 'feature');
      git(path, 'push', '--quiet', 'origin', 'HEAD');
      const pushed = git(path, 'rev-parse', 'HEAD').trim();
      const again = await addPolecat(town, 'gastown', { ...OPTS, bead: 'ga-2', nowMs: NOW + 60_000 });
      expect(again).toMatchObject({ name: 'aster', sandbox_path: path, branch: 'polecat/aster/ga-2@20261123T120100Z' });
      expect(git(path, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(again.branch);
      expect(readFileSync(join(path, 'app.txt'), 'utf8')).toBe('v1\n');
      expect(git(remote, 'rev-parse', `refs/heads/${first.branch ?? ''}`).trim()).toBe(pushed);
      expect((await listPolecats(town, 'gastown')).map((p) => p.name)).toEqual(['aster']);
    });

    it('a polecat left unfinished by a killed renewal or making is made again from scratch when its work starts', async () => {
      const { town } = await setup();
      const first = await addPolecat(town, 'gastown', { ...OPTS, bead: 'ga-1' });
      const path = first.sandbox_path;
      const store = openSqliteBeadStore(town.dbPath);
      try {
        // What a renewal killed in its git switch leaves: marked unfinished on its new branch, the branch made,
        // the checkout half done (a file gone) and git's index lock left behind.
        const next = 'polecat/aster/ga-2@20261123T120100Z';
        await store.updateAgent(first.address, { branch: next, agent_state: 'spawning' }, 't');
        git(path, 'branch', next, 'origin/main');
        rmSync(join(path, 'app.txt'));
        writeFileSync(join(rigPaths(town.root, 'gastown').repo, 'worktrees', 'aster', 'index.lock'), '');
        const made = await finishPolecat(town, store, await store.agent(first.address), 't');
        expect(made).toMatchObject({ agent_state: 'idle', branch: next, sandbox_path: path });
        expect(git(path, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(next);
        expect(git(path, 'status', '--porcelain')).toBe('');
        expect(readFileSync(join(path, '.beads', 'redirect'), 'utf8')).not.toBe('');
        // A branch with commits that no remote has is never deleted, even of an unfinished polecat.
        await store.updateAgent(first.address, { agent_state: 'spawning' }, 't');
        writeFileSync(join(path, 'app.txt'), 'mine\n');
        git(path, 'commit', '--quiet', '-am', 'local only');
        await expect(finishPolecat(town, store, await store.agent(first.address), 't')).rejects.toThrow(
          /commits that no remote has/,
        );
        expect(readFileSync(join(path, 'app.txt'), 'utf8')).toBe('mine\n');
      } finally {
        store.dispose();
      }
    });

    it.each([
      ['uncommitted changes', (path: string) => writeFileSync(join(path, 'app.txt'), 'unsaved\n')],
      [
        'an unpushed commit',
        (path: string) => {
          writeFileSync(join(path, 'app.txt'), 'committed\n');
          git(path, 'commit', '--quiet', '-am', 'local only');
        },
      ],
    ])('leaves a polecat holding %s alone and makes a new one', async (_what, dirty) => {
      const { town } = await setup();
      const first = await addPolecat(town, 'gastown', OPTS);
      dirty(first.sandbox_path);
      const head = git(first.sandbox_path, 'rev-parse', 'HEAD').trim();
      const content = readFileSync(join(first.sandbox_path, 'app.txt'), 'utf8');
      const second = await addPolecat(town, 'gastown', OPTS);
      expect(second.name).toBe('birch');
      expect(git(first.sandbox_path, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe(first.branch);
      expect(git(first.sandbox_path, 'rev-parse', 'HEAD').trim()).toBe(head);
      expect(readFileSync(join(first.sandbox_path, 'app.txt'), 'utf8')).toBe(content);
    });
  });

  describe('removal never loses work', () => {
    it('removes a clean sandbox, its branch and its identity', async () => {
      const { town } = await setup();
      const agent = await addPolecat(town, 'gastown', OPTS);
      await removePolecat(town, 'gastown', 'aster', { actor: 'tester' });
      expect(existsSync(agent.sandbox_path)).toBe(false);
      expect(git(rigPaths(town.root, 'gastown').repo, 'branch', '--list', 'polecat/*').trim()).toBe('');
      expect(await listPolecats(town, 'gastown')).toEqual([]);
    });

    it('refuses uncommitted changes, even with --force', async () => {
      const { town } = await setup();
      const { sandbox_path: path } = await addPolecat(town, 'gastown', OPTS);
      writeFileSync(join(path, 'app.txt'), 'precious edit\n');
      writeFileSync(join(path, 'new.txt'), 'new file\n');
      for (const force of [false, true]) {
        await expect(removePolecat(town, 'gastown', 'aster', { actor: 't', force })).rejects.toThrow(
          /uncommitted changes \(app\.txt, new\.txt\)/,
        );
      }
      expect(readFileSync(join(path, 'app.txt'), 'utf8')).toBe('precious edit\n');
      expect(readFileSync(join(path, 'new.txt'), 'utf8')).toBe('new file\n');
      expect((await listPolecats(town, 'gastown')).map((p) => p.name)).toEqual(['aster']);
    });

    it('refuses committed but unpushed work, even with --force', async () => {
      const { town } = await setup();
      const { sandbox_path: path } = await addPolecat(town, 'gastown', OPTS);
      writeFileSync(join(path, 'app.txt'), 'v2\n');
      agentGit(path, 'commit', '--quiet', '-am', 'work in progress');
      const head = git(path, 'rev-parse', 'HEAD').trim();
      for (const force of [false, true]) {
        await expect(removePolecat(town, 'gastown', 'aster', { actor: 't', force })).rejects.toThrow(
          /1 commit\(s\) that are not pushed/,
        );
      }
      expect(git(path, 'rev-parse', 'HEAD').trim()).toBe(head);
      expect(git(path, 'log', '-1', '--format=%an <%ae>').trim()).toBe('aster <owner@example.com>');
    });

    it('refuses pushed but unmerged work without --force, and with it keeps the branch on the remote', async () => {
      const { town, remote } = await setup();
      const { sandbox_path: path, branch } = await addPolecat(town, 'gastown', OPTS);
      writeFileSync(join(path, 'app.txt'), 'v2\n');
      git(path, 'commit', '--quiet', '-am', 'feature');
      git(path, 'push', '--quiet', 'origin', 'HEAD');
      const head = git(path, 'rev-parse', 'HEAD').trim();
      await expect(removePolecat(town, 'gastown', 'aster', { actor: 't' })).rejects.toThrow(
        /not merged into origin\/main.*--force/,
      );
      expect(existsSync(path)).toBe(true);
      await removePolecat(town, 'gastown', 'aster', { actor: 't', force: true });
      expect(existsSync(path)).toBe(false);
      expect(git(remote, 'rev-parse', `refs/heads/${branch ?? ''}`).trim()).toBe(head);
    });

    it('refuses while the polecat has an open session', async () => {
      const { town } = await setup();
      await addPolecat(town, 'gastown', OPTS);
      const store = openSqliteBeadStore(town.dbPath);
      await store.startSession({ agent: 'gastown/polecats/aster', runtime: 'claude' }, 't');
      store.dispose();
      await expect(removePolecat(town, 'gastown', 'aster', { actor: 't' })).rejects.toThrow(/open session/);
    });
  });
});
