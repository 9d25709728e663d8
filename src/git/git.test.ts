import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, townWithRig } from '../../test/helpers/town-fixture.js';
import {
  addWorktreeOnNewBranch,
  fetchOrigin,
  mergeTargetIntoBranch,
  setWorktreeIdentity,
  switchToNewBranch,
  withSharedClone,
} from './git.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A rig's shared clone, a developer clone of its remote, and a worktree of the shared clone (a sandbox). */
async function rig(): Promise<{ repo: string; dev: string; sandbox: string }> {
  const f = await townWithRig('git');
  cleanups.push(f.cleanup);
  const dev = join(f.base, 'dev');
  git(f.base, 'clone', '--quiet', f.remote, dev);
  const repo = join(f.town.root, 'gastown', '.repo.git');
  const sandbox = join(f.base, 'sandbox');
  await addWorktreeOnNewBranch(repo, sandbox, 'polecat/toast/start@1', 'origin/main');
  // The merges it makes are signed as an agent's are.
  git(repo, 'config', 'user.name', 'toast');
  git(repo, 'config', 'user.email', 'toast@example.com');
  return { repo, dev, sandbox };
}

function commit(dev: string, file: string, text: string, branch = 'main'): string {
  writeFileSync(join(dev, file), text);
  git(dev, 'add', '--all');
  git(dev, 'commit', '--quiet', '-m', `${file}: ${text.trim()}`);
  git(dev, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return git(dev, 'rev-parse', 'HEAD').trim();
}

describe('switchToNewBranch', () => {
  it('cuts the branch at the commit it checks out, while a fetch moves the start point meanwhile', async () => {
    const r = await rig();
    const a = git(r.repo, 'rev-parse', 'refs/remotes/origin/main').trim();
    const b = commit(r.dev, 'b.txt', 'b\n');
    await fetchOrigin(r.repo);
    // Another agent's fetches, as fast as they come: origin/main flips between a and b.
    const flipper = spawn(
      'sh',
      [
        '-c',
        `while :; do git update-ref refs/remotes/origin/main ${a}; git update-ref refs/remotes/origin/main ${b}; done`,
      ],
      { cwd: r.repo, stdio: 'ignore' },
    );
    cleanups.push(() => {
      if (flipper.pid !== undefined) process.kill(flipper.pid, 'SIGKILL');
    });
    for (let i = 0; i < 40; i++) {
      await switchToNewBranch(r.sandbox, `polecat/toast/job${i}@1`, 'origin/main');
      // The branch's commit is the one checked out: nothing staged, nothing missing.
      expect(git(r.sandbox, 'status', '--porcelain')).toBe('');
      git(r.sandbox, 'switch', '--quiet', '--detach', a);
    }
  }, 60_000);
});

describe('mergeTargetIntoBranch', () => {
  it('switches to a branch only the remote has, merges the target in, and names what conflicts', async () => {
    const r = await rig();
    git(r.dev, 'switch', '--quiet', '-c', 'polecat/aster/one@1');
    const mine = commit(r.dev, 'mine.txt', 'mine\n', 'polecat/aster/one@1');
    git(r.dev, 'switch', '--quiet', '-c', 'polecat/aster/two@1', 'main');
    commit(r.dev, 'app.txt', 'two\n', 'polecat/aster/two@1');
    git(r.dev, 'switch', '--quiet', 'main');
    const main = commit(r.dev, 'app.txt', 'main\n');

    expect(await mergeTargetIntoBranch(r.sandbox, 'polecat/aster/one@1', 'main')).toEqual([]);
    expect(git(r.sandbox, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('polecat/aster/one@1');
    expect(git(r.sandbox, 'rev-list', '--parents', '-n', '1', 'HEAD').trim().split(' ').slice(1)).toEqual([mine, main]);
    expect(git(r.sandbox, 'show', 'HEAD:app.txt')).toBe('main\n');

    expect(await mergeTargetIntoBranch(r.sandbox, 'polecat/aster/two@1', 'main')).toEqual(['app.txt']);
    expect(git(r.sandbox, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('polecat/aster/two@1');
  }, 30_000);
});

describe('setWorktreeIdentity', () => {
  it('waits for the shared clone while another gt holds it (a git config meets no half-written worktree)', async () => {
    const r = await rig();
    let release: () => void = () => undefined;
    const held = withSharedClone(r.repo, () => new Promise<void>((done) => (release = done)));
    // The lock is taken once the holder's function runs.
    for (let i = 0; i < 100 && existsSync(join(r.repo, 'gt-shared.lock')) === false; i++) await sleep(10);
    let named = false;
    const naming = setWorktreeIdentity(r.repo, r.sandbox, 'nux', 'nux@example.com').then(() => (named = true));
    await sleep(500);
    expect(named).toBe(false);
    expect(git(r.sandbox, 'config', 'user.email').trim()).toBe('toast@example.com'); // the clone's, not yet its own
    release();
    await Promise.all([held, naming]);
    expect(git(r.sandbox, 'config', 'user.email').trim()).toBe('nux@example.com');
  }, 30_000);
});
