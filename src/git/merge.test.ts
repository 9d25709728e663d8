import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, townWithRig } from '../../test/helpers/town-fixture.js';
import { ValidationError } from '../core/errors.js';
import { fetchOrigin, GitCommandError, listWorktrees } from './git.js';
import {
  addScratchWorktree,
  commitOf,
  conflictsBetween,
  deleteLandedBranch,
  isAncestor,
  mergeConflicts,
  pushIfUnchanged,
  remoteHead,
  removeScratchWorktree,
  requireMergeTree,
  conflictMessagePaths,
  mergeOnto,
  changedFiles,
  deleteLandedBranches,
  existingCommits,
  ancestorsOf,
} from './merge.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const REFINERY = { name: 'gastown-refinery', email: 'refinery@example.com' };

type Rig = { repo: string; remote: string; base: string; dev: string; refinery: string };

/**
 * A rig (shared clone `.repo.git` tracking the bare remote as origin/*, refinery worktree on main) and a developer
 * clone `dev` of the remote that plays the polecats and anyone else who pushes. main has app.txt = "v1".
 */
async function rig(): Promise<Rig> {
  const f = await townWithRig('merge');
  cleanups.push(f.cleanup);
  const dev = join(f.base, 'dev');
  git(f.base, 'clone', '--quiet', f.remote, dev);
  const rigDir = join(f.town.root, 'gastown');
  return {
    repo: join(rigDir, '.repo.git'),
    remote: f.remote,
    base: f.base,
    dev,
    refinery: join(rigDir, 'refinery', 'rig'),
  };
}

/** In the dev clone: a commit of `files` on a fresh `branch` cut from `from`, pushed to origin; its commit. */
function pushBranch(r: Rig, branch: string, files: Record<string, string>, from = 'origin/main'): string {
  git(r.dev, 'fetch', '--quiet', 'origin');
  git(r.dev, 'checkout', '--quiet', '-B', branch, from);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(r.dev, name), text);
  git(r.dev, 'add', '--all');
  git(r.dev, 'commit', '--quiet', '-m', `${branch}: ${Object.keys(files).join(' ')}`);
  git(r.dev, 'push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`);
  return git(r.dev, 'rev-parse', 'HEAD').trim();
}

const remoteRef = (r: Rig, ref: string): string => git(r.remote, 'rev-parse', ref).trim();
const parents = (cwd: string, commit: string): string[] =>
  git(cwd, 'rev-list', '--parents', '-n', '1', commit).trim().split(' ').slice(1);

describe('git version', () => {
  it('needs git 2.38 or newer for merge-tree --write-tree, and says so', () => {
    for (const v of ['2.37.9', '1.9', '2', undefined])
      expect(() => requireMergeTree(v)).toThrow(/git ≥ 2\.38 is needed/);
    expect(() => requireMergeTree('2.37.1')).toThrow(GitCommandError);
    for (const v of ['2.38.0', '2.39.5', '2.45', '3.0.1']) expect(() => requireMergeTree(v)).not.toThrow();
  });
});

describe('conflictMessagePaths', () => {
  it("reads the paths of git merge-tree -z's CONFLICT messages, skipping informational ones", () => {
    const tree = '6a37310729b7ed2fdea43aec7880f29a2b291b83';
    const out = [
      tree,
      'newdir/b',
      '',
      '1',
      'app.txt',
      'Auto-merging',
      'Auto-merging app.txt\n',
      '2',
      'newdir/b',
      'dir/b',
      'CONFLICT (file location)',
      'CONFLICT (file location): dir/b added in add inside a directory that was renamed in r\n',
      '',
    ].join('\0');
    expect(conflictMessagePaths(out)).toEqual(['newdir/b', 'dir/b']);
    expect(conflictMessagePaths(`${tree}\0\0`)).toEqual([]);
    expect(conflictMessagePaths(`${tree}\0`)).toEqual([]);
  });
});

describe('merge checks without a worktree', () => {
  it('mergeConflicts: [] for a clean merge onto the target, the conflicting files otherwise', async () => {
    const r = await rig();
    pushBranch(r, 'polecat/clean', { 'new.txt': 'new\n' });
    pushBranch(r, 'polecat/stale', { 'app.txt': 'v2 from polecat\n', 'lib.txt': 'lib\n' });
    pushBranch(r, 'main', { 'app.txt': 'v2 from main\n' });
    await fetchOrigin(r.repo);
    const worktreesBefore = await listWorktrees(r.repo);
    expect(await mergeConflicts(r.repo, 'origin/main', 'origin/polecat/clean')).toEqual([]);
    expect(await mergeConflicts(r.repo, 'origin/main', 'origin/polecat/stale')).toEqual(['app.txt']);
    // Nothing but objects was written: no worktree, no ref moved.
    expect(await listWorktrees(r.repo)).toEqual(worktreesBefore);
    expect(await commitOf(r.repo, 'origin/main')).toBe(remoteRef(r, 'main'));
    await expect(mergeConflicts(r.repo, 'origin/main', 'origin/polecat/none')).rejects.toThrow(/no commit/);
    await expect(mergeConflicts(r.repo, 'origin/main', '--output=x')).rejects.toThrow(ValidationError);
  });

  it('conflictsBetween: two branches that touch the same lines conflict; disjoint ones do not', async () => {
    const r = await rig();
    pushBranch(r, 'polecat/a', { 'app.txt': 'v2 from a\n' });
    pushBranch(r, 'polecat/b', { 'b.txt': 'b\n' });
    pushBranch(r, 'polecat/c', { 'app.txt': 'v2 from c\n', 'c.txt': 'c\n' });
    await fetchOrigin(r.repo);
    expect(await mergeConflicts(r.repo, 'origin/main', 'origin/polecat/c')).toEqual([]); // alone, c is clean
    expect(await conflictsBetween(r.repo, 'origin/main', 'origin/polecat/a', 'origin/polecat/c')).toEqual(['app.txt']);
    expect(await conflictsBetween(r.repo, 'origin/main', 'origin/polecat/a', 'origin/polecat/b')).toEqual([]);
    expect(await conflictsBetween(r.repo, 'origin/main', 'origin/polecat/b', 'origin/polecat/c')).toEqual([]);
  });

  it('conflictsBetween finds the true merge base: a branch cut from an older target does not revert it', async () => {
    const r = await rig();
    const old = remoteRef(r, 'main');
    pushBranch(r, 'main', { 'app.txt': 'v1\nline added on main\n' });
    // a edits the line main added; b was cut before it and touches another file only.
    pushBranch(r, 'polecat/a', { 'app.txt': 'v1\nline added on main, edited by a\n' });
    pushBranch(r, 'polecat/b', { 'b.txt': 'b\n' }, old);
    // d, built on a, changes a's line again: no conflict with a, which it contains.
    pushBranch(r, 'polecat/d', { 'app.txt': 'v1\nedited by a, then d\n' }, 'origin/polecat/a');
    await fetchOrigin(r.repo);
    // With main as an explicit merge base, b would read as reverting main's line, against a's edit of it.
    expect(await conflictsBetween(r.repo, 'origin/main', 'origin/polecat/a', 'origin/polecat/b')).toEqual([]);
    expect(await conflictsBetween(r.repo, 'origin/main', 'origin/polecat/a', 'origin/polecat/d')).toEqual([]);
  });

  it('conflictsBetween refuses when the first branch does not merge onto the base itself', async () => {
    const r = await rig();
    pushBranch(r, 'polecat/a', { 'app.txt': 'v2 from a\n' });
    pushBranch(r, 'polecat/b', { 'b.txt': 'b\n' });
    pushBranch(r, 'main', { 'app.txt': 'v2 from main\n' });
    await fetchOrigin(r.repo);
    await expect(conflictsBetween(r.repo, 'origin/main', 'origin/polecat/a', 'origin/polecat/b')).rejects.toThrow(
      /does not merge cleanly onto origin\/main \(app\.txt\)/,
    );
  });
});

describe('scratch worktrees', () => {
  it('are added detached at a commit and removed without a trace in the worktree list', async () => {
    const r = await rig();
    const before = await listWorktrees(r.repo);
    const main = (await commitOf(r.repo, 'origin/main')) ?? '';
    const path = join(r.base, 'scratch', 'batch-1');
    mkdirSync(join(r.base, 'scratch'));
    await addScratchWorktree(r.repo, path, 'origin/main');
    expect(git(path, 'rev-parse', 'HEAD').trim()).toBe(main);
    expect(() => git(path, 'symbolic-ref', '--quiet', 'HEAD')).toThrow(); // detached
    expect(readFileSync(join(path, 'app.txt'), 'utf8')).toBe('v1\n');
    const byPath = (ws: { path: string }[]): string[] => ws.map((w) => w.path).sort();
    expect(byPath(await listWorktrees(r.repo))).toEqual(byPath([...before, { path }]));
    expect((await listWorktrees(r.repo)).find((w) => w.path === path)).toEqual({
      path,
      branch: null,
      bare: false,
      prunable: false,
    });
    writeFileSync(join(path, 'build-output.txt'), 'left by a gate\n'); // forced: what a gate leaves goes too
    await removeScratchWorktree(r.repo, path);
    expect(existsSync(path)).toBe(false);
    expect(await listWorktrees(r.repo)).toEqual(before);
    expect(git(r.repo, 'worktree', 'list', '--porcelain')).not.toContain('batch-1');
    expect(existsSync(join(r.repo, 'worktrees', 'batch-1'))).toBe(false);
    await removeScratchWorktree(r.repo, path); // gone already: no error
  });

  it("are never mistaken for an agent's sandbox or someone's directory", async () => {
    const r = await rig();
    await expect(removeScratchWorktree(r.repo, r.refinery)).rejects.toThrow(/has branch main checked out/);
    expect(existsSync(join(r.refinery, 'app.txt'))).toBe(true);
    const other = join(r.base, 'not-a-worktree');
    mkdirSync(other);
    writeFileSync(join(other, 'keep.txt'), 'mine\n');
    await expect(removeScratchWorktree(r.repo, other)).rejects.toThrow(/not a worktree of/);
    expect(existsSync(join(other, 'keep.txt'))).toBe(true);
  });
});

describe('mergeOnto', () => {
  it('stacks branches on the target with --no-ff merge commits signed by the refinery, moving no ref', async () => {
    const r = await rig();
    const heads = ['a', 'b', 'c'].map((n) => pushBranch(r, `polecat/${n}`, { [`${n}.txt`]: `${n}\n` }));
    await fetchOrigin(r.repo);
    const main = remoteRef(r, 'main');
    const commits: string[] = [];
    let onto = main;
    for (const n of ['a', 'b', 'c']) {
      const m = await mergeOnto(r.repo, onto, `origin/polecat/${n}`, `Merge polecat/${n}`, REFINERY);
      if (!m.ok) throw new Error(`conflict at ${n}`);
      commits.push(m.commit);
      onto = m.commit;
    }
    expect(parents(r.repo, commits[0] ?? '')).toEqual([main, heads[0]]);
    expect(parents(r.repo, commits[1] ?? '')).toEqual([commits[0], heads[1]]);
    expect(parents(r.repo, commits[2] ?? '')).toEqual([commits[1], heads[2]]);
    expect(git(r.repo, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%B', commits[2] ?? '').trim()).toBe(
      'gastown-refinery <refinery@example.com>|gastown-refinery <refinery@example.com>|Merge polecat/c',
    );
    // The tree is what git merge makes: every branch's file and the target's.
    expect(
      git(r.repo, 'ls-tree', '--name-only', commits[2] ?? '')
        .trim()
        .split('\n')
        .sort(),
    ).toEqual(['a.txt', 'app.txt', 'b.txt', 'c.txt']);
    // No agent's branch was rewritten, and no branch moved at all.
    expect(['a', 'b', 'c'].map((n) => git(r.repo, 'rev-parse', `origin/polecat/${n}`).trim())).toEqual(heads);
    expect(git(r.repo, 'rev-parse', 'refs/heads/main').trim()).toBe(main);
    // Merging what is already in: the same commit, no new one.
    expect(await mergeOnto(r.repo, commits[2] ?? '', heads[0] ?? '', 'again', REFINERY)).toEqual({
      ok: true,
      commit: commits[2],
    });
  });

  it('a conflict names the files and moves no ref; a commit that does not exist is an error', async () => {
    const r = await rig();
    pushBranch(r, 'polecat/a', { 'app.txt': 'v2 from a\n' });
    pushBranch(r, 'polecat/b', { 'app.txt': 'v2 from b\n', 'b.txt': 'b\n' });
    await fetchOrigin(r.repo);
    const a = await mergeOnto(r.repo, 'origin/main', 'origin/polecat/a', 'Merge a', REFINERY);
    if (!a.ok) throw new Error('a conflicts');
    const refs = git(r.repo, 'for-each-ref').trim();
    expect(await mergeOnto(r.repo, a.commit, 'origin/polecat/b', 'Merge b', REFINERY)).toEqual({
      ok: false,
      files: ['app.txt'],
    });
    expect(git(r.repo, 'for-each-ref').trim()).toBe(refs);
    await expect(mergeOnto(r.repo, a.commit, 'origin/polecat/none', 'm', REFINERY)).rejects.toThrow(GitCommandError);
  });

  it('changedFiles: what a branch changes since it forked from the target, not what the target did since', async () => {
    const r = await rig();
    const fork = remoteRef(r, 'main');
    pushBranch(r, 'polecat/a', { 'a.txt': 'a\n', 'app.txt': 'v2 from a\n' });
    pushBranch(r, 'main', { 'later.txt': 'on main after the fork\n' }, fork);
    await fetchOrigin(r.repo);
    expect((await changedFiles(r.repo, 'origin/main', 'origin/polecat/a')).sort()).toEqual(['a.txt', 'app.txt']);
    expect(await changedFiles(r.repo, 'origin/main', 'origin/main')).toEqual([]);
  });
});

describe('landing', () => {
  /** A merge of `branch` onto `onto` made in a scratch worktree: the commit to land. */
  async function merged(r: Rig, name: string, onto: string, branch: string): Promise<string> {
    const result = await mergeOnto(r.repo, onto, branch, `Merge ${branch} (${name})`, REFINERY);
    if (!result.ok) throw new Error('conflict');
    return result.commit;
  }

  it('remoteHead fetches and gives the target as origin has it', async () => {
    const r = await rig();
    expect(await remoteHead(r.repo, 'main')).toBe(remoteRef(r, 'main'));
    const pushed = pushBranch(r, 'main', { 'app.txt': 'v2\n' });
    expect(await remoteHead(r.repo, 'main')).toBe(pushed);
    expect(await remoteHead(r.repo, 'release')).toBeUndefined();
    await expect(remoteHead(r.repo, 'main:refs/heads/x')).rejects.toThrow(ValidationError);
  });

  it('pushIfUnchanged lands a commit; then, when someone else pushed first, reports moved and keeps their push', async () => {
    const r = await rig();
    pushBranch(r, 'polecat/a', { 'a.txt': 'a\n' });
    pushBranch(r, 'polecat/b', { 'b.txt': 'b\n' });
    const expected = (await remoteHead(r.repo, 'main')) ?? '';
    const first = await merged(r, 'land-a', expected, 'origin/polecat/a');
    expect(await pushIfUnchanged(r.repo, first, 'main', expected)).toEqual({ landed: true, commit: first });
    expect(remoteRef(r, 'main')).toBe(first);
    expect(await commitOf(r.repo, 'origin/main')).toBe(first); // the shared clone saw its own push
    expect(await pushIfUnchanged(r.repo, first, 'main', expected)).toEqual({ landed: true, commit: first }); // again: it is there

    // The queue makes the next merge on `first`; meanwhile someone pushes to main directly.
    const second = await merged(r, 'land-b', first, 'origin/polecat/b');
    const theirs = pushBranch(r, 'main', { 'hotfix.txt': 'fix\n' });
    const result = await pushIfUnchanged(r.repo, second, 'main', first);
    expect(result).toMatchObject({ landed: false, reason: 'moved' });
    expect(remoteRef(r, 'main')).toBe(theirs);
    expect(await remoteHead(r.repo, 'main')).toBe(theirs);
    expect(await isAncestor(r.repo, second, theirs)).toBe(false);
  });

  it('pushIfUnchanged never rewinds the target, whatever it is told', async () => {
    const r = await rig();
    const old = (await remoteHead(r.repo, 'main')) ?? '';
    pushBranch(r, 'main', { 'app.txt': 'v2\n' });
    const now = (await remoteHead(r.repo, 'main')) ?? '';
    await expect(pushIfUnchanged(r.repo, old, 'main', now)).rejects.toThrow(/would rewrite main/);
    expect(remoteRef(r, 'main')).toBe(now);
    await expect(pushIfUnchanged(r.repo, now, 'main', 'origin/main')).rejects.toThrow(ValidationError);
  });

  it("pushIfUnchanged reports a remote hook's refusal with the remote's own words", async () => {
    const r = await rig();
    pushBranch(r, 'polecat/a', { 'a.txt': 'a\n' });
    const expected = (await remoteHead(r.repo, 'main')) ?? '';
    const commit = await merged(r, 'land-a', expected, 'origin/polecat/a');
    const hook = join(r.remote, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "main is frozen for the release" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    const result = await pushIfUnchanged(r.repo, commit, 'main', expected);
    expect(result).toMatchObject({ landed: false, reason: 'refused' });
    if (result.landed) return;
    expect(result.detail).toContain('main is frozen for the release');
    expect(result.detail).toContain('pre-receive hook declined');
    expect(remoteRef(r, 'main')).toBe(expected);
  });

  it('isAncestor answers from the commit graph, and a commit that does not exist is an error', async () => {
    const r = await rig();
    const old = (await remoteHead(r.repo, 'main')) ?? '';
    const a = pushBranch(r, 'polecat/a', { 'a.txt': 'a\n' });
    await fetchOrigin(r.repo);
    expect(await isAncestor(r.repo, old, 'origin/polecat/a')).toBe(true);
    expect(await isAncestor(r.repo, a, a)).toBe(true);
    expect(await isAncestor(r.repo, 'origin/polecat/a', old)).toBe(false);
    await expect(isAncestor(r.repo, 'f'.repeat(40), old)).rejects.toThrow(GitCommandError);
  });

  it('deleteLandedBranch deletes the branch on origin and in the shared clone, and again is no error', async () => {
    const r = await rig();
    const a = pushBranch(r, 'polecat/a', { 'a.txt': 'a\n' });
    const expected = (await remoteHead(r.repo, 'main')) ?? '';
    git(r.repo, 'branch', 'polecat/a', a); // the local branch a polecat's sandbox had, its worktree since removed
    const commit = await merged(r, 'land-a', expected, 'origin/polecat/a');
    expect(await pushIfUnchanged(r.repo, commit, 'main', expected)).toMatchObject({ landed: true });
    expect(await deleteLandedBranch(r.repo, 'polecat/a')).toBe('deleted');
    expect(git(r.remote, 'branch', '--list', 'polecat/a')).toBe('');
    expect(await commitOf(r.repo, 'origin/polecat/a')).toBeUndefined();
    expect(await commitOf(r.repo, 'refs/heads/polecat/a')).toBeUndefined();
    expect(await deleteLandedBranch(r.repo, 'polecat/a')).toBe('absent');
    expect(await deleteLandedBranch(r.repo, 'polecat/a', { expected: a })).toBe('absent');
  });

  it('deleteLandedBranches: one push for all; a branch that moved since is kept, a local one in use stays', async () => {
    const r = await rig();
    pushBranch(r, 'polecat/a', { 'a.txt': 'a\n' });
    const b = pushBranch(r, 'polecat/b', { 'b.txt': 'b\n' });
    pushBranch(r, 'polecat/c', { 'c.txt': 'c\n' });
    await fetchOrigin(r.repo);
    const more = pushBranch(r, 'polecat/c', { 'c.txt': 'c, fixed\n' }, 'polecat/c'); // not fetched yet
    git(r.repo, 'worktree', 'add', '--quiet', join(r.base, 'sandbox'), '-b', 'polecat/b', b);
    const out = await deleteLandedBranches(r.repo, ['polecat/a', 'polecat/b', 'polecat/c', 'polecat/none']);
    expect(Object.fromEntries(out)).toEqual({
      'polecat/a': 'deleted',
      'polecat/b': 'deleted',
      'polecat/c': 'failed',
      'polecat/none': 'failed',
    });
    expect(git(r.remote, 'branch', '--list', 'polecat/a', 'polecat/b')).toBe('');
    expect(remoteRef(r, 'polecat/c')).toBe(more);
    expect(await commitOf(r.repo, 'origin/polecat/a')).toBeUndefined();
    expect(await commitOf(r.repo, 'refs/heads/polecat/b')).toBe(b); // the sandbox's branch stays
  });

  it('existingCommits and ancestorsOf answer for many commits at once, branch tips or not', async () => {
    const r = await rig();
    const a = pushBranch(r, 'polecat/a', { 'a.txt': 'a\n' });
    const b = pushBranch(r, 'polecat/b', { 'b.txt': 'b\n' });
    const expected = (await remoteHead(r.repo, 'main')) ?? '';
    const landed = await merged(r, 'land-a', expected, 'origin/polecat/a');
    expect(await pushIfUnchanged(r.repo, landed, 'main', expected)).toMatchObject({ landed: true });
    // b moves on after it was submitted: its submitted commit is no longer a branch tip.
    const later = pushBranch(r, 'polecat/b', { 'b2.txt': 'b2\n' }, 'polecat/b');
    await fetchOrigin(r.repo);
    const missing = 'f'.repeat(40);
    expect(await existingCommits(r.repo, [a, b, later, missing, 'not-an-oid'])).toEqual(new Set([a, b, later]));
    const head = (await commitOf(r.repo, 'origin/main')) ?? '';
    expect(await ancestorsOf(r.repo, head, [a, b, later, expected])).toEqual(new Set([a, expected]));
    expect(await ancestorsOf(r.repo, later, [a, b, later])).toEqual(new Set([b, later]));
  });

  it('deleteLandedBranch keeps a branch that got new commits since, and a local branch still in use', async () => {
    const r = await rig();
    pushBranch(r, 'polecat/a', { 'a.txt': 'a\n' });
    await fetchOrigin(r.repo);
    const more = pushBranch(r, 'polecat/a', { 'a.txt': 'a, fixed\n' }, 'polecat/a'); // not fetched yet
    expect(await deleteLandedBranch(r.repo, 'polecat/a')).toBe('moved');
    expect(remoteRef(r, 'polecat/a')).toBe(more);

    // A polecat's worktree still has its branch checked out: origin's goes, the sandbox's stays.
    const b = pushBranch(r, 'polecat/b', { 'b.txt': 'b\n' });
    await fetchOrigin(r.repo);
    git(r.repo, 'worktree', 'add', '--quiet', join(r.base, 'sandbox'), '-b', 'polecat/b', b);
    expect(await deleteLandedBranch(r.repo, 'polecat/b')).toBe('deleted');
    expect(git(r.remote, 'branch', '--list', 'polecat/b')).toBe('');
    expect(await commitOf(r.repo, 'refs/heads/polecat/b')).toBe(b);

    // A local branch with commits that never landed stays too.
    const c = pushBranch(r, 'polecat/c', { 'c.txt': 'c\n' });
    await fetchOrigin(r.repo);
    git(r.dev, 'commit', '--quiet', '--allow-empty', '-m', 'unpushed');
    const unpushed = git(r.dev, 'rev-parse', 'HEAD').trim();
    git(r.dev, 'push', '--quiet', r.repo, `${unpushed}:refs/heads/polecat/c`);
    expect(await deleteLandedBranch(r.repo, 'polecat/c', { expected: c })).toBe('deleted');
    expect(await commitOf(r.repo, 'refs/heads/polecat/c')).toBe(unpushed);
  });
});
