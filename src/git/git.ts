import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GtError } from '../core/errors.js';
import { execArgv } from '../exec/exec.js';
import { withFileLock } from '../exec/lock.js';

/**
 * The only module that runs git. Every call is argv-only, with a timeout, never through a shell. The process
 * module is loaded on first use: most `bd` calls never run git, and loading it costs start-up time.
 */

const DEFAULT_TIMEOUT_MS = 10_000;

export type GitResult =
  { ok: true; stdout: string } | { ok: false; stderr: string; status: number | null; stdout: string };

export async function runGit(
  args: readonly string[],
  options: { cwd: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string },
): Promise<GitResult> {
  const r = await execArgv('git', args, {
    cwd: options.cwd,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    env: options.env,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  return r.ok ? { ok: true, stdout: r.stdout } : { ok: false, stderr: r.stderr, status: r.status, stdout: r.stdout };
}

/** `git config user.name` as seen from `cwd`, or undefined when git or the setting is missing. */
export async function gitUserName(cwd: string): Promise<string | undefined> {
  const result = await runGit(['config', '--get', 'user.name'], { cwd, timeoutMs: 3_000 });
  if (!result.ok) return undefined;
  const name = result.stdout.trim();
  return name === '' ? undefined : name;
}

/** `git config <key>` as seen from `cwd`, or undefined when unset. */
export async function gitConfig(cwd: string, key: string): Promise<string | undefined> {
  const result = await runGit(['config', '--get', key], { cwd, timeoutMs: 3_000 });
  if (!result.ok) return undefined;
  const value = result.stdout.trim();
  return value === '' ? undefined : value;
}

/** The top directory of the git work tree `dir` is in, or undefined outside one. */
export async function gitTopLevel(dir: string): Promise<string | undefined> {
  const result = await runGit(['rev-parse', '--show-toplevel'], { cwd: dir, timeoutMs: 5_000 });
  return result.ok ? result.stdout.trim() : undefined;
}

/** Whether the repository at `dir` has a commit yet. */
export async function hasCommits(dir: string): Promise<boolean> {
  return (await runGit(['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: dir, timeoutMs: 5_000 })).ok;
}

/** `git init` in `dir` (which must exist); initial branch main. */
export async function gitInit(dir: string): Promise<void> {
  const result = await runGit(['init', '--quiet', '--initial-branch=main', dir], { cwd: dir });
  if (!result.ok) throw new GitCommandError(`git init failed in ${dir}: ${result.stderr.trim()}`);
}

/** A git command failed: a clone that could not reach its source, a branch that does not exist, … */
export class GitCommandError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('git', 8, message, options);
  }
}

/** A ref or index lock held by another git at this moment (agents share their rig's clone). */
const LOCK_CONTENTION = /cannot lock ref|Unable to create '.*\.lock'|unable to update local ref/iu;
const LOCK_FILE = /Unable to create '([^']+\.lock)'/u;
/** How long git ever holds a ref lock (milliseconds, in truth); a ref lock older than this was left by a killed git. */
const STALE_REF_LOCK_MS = 2_000;
/** The same for an index lock, which a long checkout may hold for a while. */
const STALE_INDEX_LOCK_MS = 30_000;
/** How long a command waits out other gits' locks before it gives up. */
const LOCK_WAIT_MS = 40_000;

/**
 * The lock file a git killed with -9 left, so that every later git of the rig fails on it: a ref lock
 * (refs/…, packed-refs) or an index lock, older than any live git holds one. Nothing else is ever removed.
 */
function staleGitLock(stderr: string): string | undefined {
  const path = LOCK_FILE.exec(stderr)?.[1];
  if (path === undefined) return undefined;
  const ref = /\/refs\/.+\.lock$|\/packed-refs\.lock$/u.test(path);
  const index = /\/index\.lock$/u.test(path);
  if (!ref && !index) return undefined;
  try {
    const age = Date.now() - statSync(path).mtimeMs;
    return age > (ref ? STALE_REF_LOCK_MS : STALE_INDEX_LOCK_MS) ? path : undefined;
  } catch {
    return undefined; // gone already: the retry will see
  }
}

/**
 * Runs git and returns its stdout, or throws GitCommandError saying `what` failed. A failure on a ref or index
 * lock that another git holds is waited out (and a lock a killed git left is cleared), up to LOCK_WAIT_MS.
 */
export async function mustGit(
  args: readonly string[],
  cwd: string,
  what: string,
  timeoutMs = 120_000,
): Promise<string> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    const result = await runGit(args, { cwd, timeoutMs });
    if (result.ok) return result.stdout;
    // A lock failure aborts before git changes anything: waiting and trying again is safe.
    if (Date.now() < deadline && LOCK_CONTENTION.test(result.stderr)) {
      const stale = staleGitLock(result.stderr);
      if (stale !== undefined) rmSync(stale, { force: true });
      else
        await new Promise((res) => setTimeout(res, Math.min(50 * (attempt + 1), 500) + Math.floor(Math.random() * 50)));
      continue;
    }
    throw new GitCommandError(`${what} failed: ${gitComplaint(result.stderr)}`);
  }
}

/** What a failed git said, on one line: the remote's own words (where it spoke), then git's last lines. */
export function gitComplaint(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const remote = lines.filter((l) => l.startsWith('remote:')).slice(0, 5);
  const tail = lines.slice(-3).filter((l) => !remote.includes(l));
  return [...remote, ...tail].join(' ');
}

/**
 * A bare clone to serve as a rig's shared object store, with the remote's branches fetched as
 * `origin/<branch>` (a plain bare clone mirrors them as local branches and tracks nothing).
 */
export async function cloneBare(source: string, dest: string, cwd: string): Promise<void> {
  await mustGit(['clone', '--bare', '--quiet', '--', source, dest], cwd, `git clone of ${source}`);
  await mustGit(['config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*'], dest, 'git config');
  await mustGit(['fetch', '--quiet', 'origin'], dest, 'git fetch');
}

/** The branch the remote's HEAD points at (`main`, `master`, …), as recorded by the clone. */
export async function defaultBranch(bareRepo: string): Promise<string> {
  const ref = (await mustGit(['symbolic-ref', '--quiet', 'HEAD'], bareRepo, 'reading the default branch')).trim();
  return ref.replace(/^refs\/heads\//, '');
}

/** True when `branch` exists on the remote (as fetched into `origin/<branch>`). */
export async function hasRemoteBranch(bareRepo: string, branch: string): Promise<boolean> {
  return (await runGit(['rev-parse', '--verify', '--quiet', `refs/remotes/origin/${branch}`], { cwd: bareRepo })).ok;
}

/** A worktree at `path` with `branch` checked out (the branch must exist in the repository). */
export async function addWorktree(bareRepo: string, path: string, branch: string): Promise<void> {
  await withSharedClone(bareRepo, () =>
    mustGit(['worktree', 'add', '--quiet', path, branch], bareRepo, `git worktree add ${path}`),
  );
}

/** The branch checked out in a work tree. */
export async function currentBranch(workTree: string): Promise<string> {
  return (await mustGit(['rev-parse', '--abbrev-ref', 'HEAD'], workTree, 'reading the current branch')).trim();
}

/** A new worktree at `path` on a new branch cut from `startPoint` (e.g. `origin/main`). */
export async function addWorktreeOnNewBranch(
  bareRepo: string,
  path: string,
  branch: string,
  startPoint: string,
): Promise<void> {
  await withSharedClone(bareRepo, () =>
    mustGit(
      ['worktree', 'add', '--quiet', '--no-track', '-b', branch, path, startPoint],
      bareRepo,
      `git worktree add ${path}`,
    ),
  );
}

/**
 * Gives every commit made in this worktree the agent's name and email (worktree-scoped config). With the shared
 * clone's lock held: a `git config` that meets another worktree being added fails on its half-written files,
 * and two gts turning per-worktree config on at once would both move core.bare.
 */
export async function setWorktreeIdentity(
  bareRepo: string,
  worktree: string,
  name: string,
  email: string,
): Promise<void> {
  await withSharedClone(bareRepo, () => setIdentityUnlocked(bareRepo, worktree, name, email));
}

async function setIdentityUnlocked(bareRepo: string, worktree: string, name: string, email: string): Promise<void> {
  const enabled = await runGit(['config', '--get', 'extensions.worktreeConfig'], { cwd: bareRepo });
  if (!enabled.ok || enabled.stdout.trim() !== 'true') {
    // With per-worktree config on, the shared core.bare=true would make every worktree "bare": move it into
    // the bare repository's own worktree config first, as git-worktree(1) prescribes.
    await mustGit(['config', 'extensions.worktreeConfig', 'true'], bareRepo, 'git config');
    await mustGit(['config', '--worktree', 'core.bare', 'true'], bareRepo, 'git config');
    await mustGit(['config', '--unset', 'core.bare'], bareRepo, 'git config');
  }
  await mustGit(['config', '--worktree', 'user.name', name], worktree, 'git config');
  await mustGit(['config', '--worktree', 'user.email', email], worktree, 'git config');
}

/** Adds a pattern to the repository's own exclude file (shared by its worktrees), once. */
export function excludePattern(bareRepo: string, pattern: string): void {
  const dir = `${bareRepo}/info`;
  const file = `${dir}/exclude`;
  mkdirSync(dir, { recursive: true });
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!current.split('\n').includes(pattern))
    appendFileSync(file, `${current === '' || current.endsWith('\n') ? '' : '\n'}${pattern}\n`);
}

/** What removing or resetting a worktree would lose. */
export type WorktreeSafety = {
  branch: string;
  /** Changed or untracked files (ignored files do not count). */
  uncommitted: string[];
  /** Commits on the branch that no remote ref has. */
  unpushed: number;
  /** Commits on the branch not yet in the remote's default branch (pushed or not). */
  unmerged: number;
};

export async function worktreeSafety(worktree: string, defaultBranchName: string): Promise<WorktreeSafety> {
  const branch = (await mustGit(['rev-parse', '--abbrev-ref', 'HEAD'], worktree, 'reading the branch')).trim();
  const status = await mustGit(['status', '--porcelain', '--untracked-files=all'], worktree, 'git status');
  const count = async (args: string[]): Promise<number> =>
    Number((await mustGit(['rev-list', '--count', ...args], worktree, 'git rev-list')).trim());
  return {
    branch,
    uncommitted: status
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.slice(3)),
    unpushed: await count(['HEAD', '--not', '--remotes']),
    unmerged: await count([`refs/remotes/origin/${defaultBranchName}..HEAD`]),
  };
}

/** git's version ("2.39.5"), or undefined when git cannot be run. */
export async function gitVersion(): Promise<string | undefined> {
  const r = await execArgv('git', ['--version'], { timeoutMs: 5_000 });
  return r.ok ? /(\d+\.\d+(?:\.\d+)?)/.exec(r.stdout)?.[1] : undefined;
}

export type WorktreeEntry = { path: string; branch: string | null; bare: boolean; prunable: boolean };

/** The repository's worktrees as git knows them; `prunable` ones have lost their directory. */
export async function listWorktrees(repo: string): Promise<WorktreeEntry[]> {
  const out = await mustGit(['worktree', 'list', '--porcelain'], repo, 'git worktree list');
  return out
    .split('\n\n')
    .map((block) => block.split('\n').filter((l) => l !== ''))
    .filter((lines) => lines.length > 0)
    .map((lines) => {
      const field = (name: string): string | undefined =>
        lines.find((l) => l === name || l.startsWith(`${name} `))?.slice(name.length + 1);
      const branch = field('branch');
      return {
        path: field('worktree') ?? '',
        branch: branch === undefined ? null : branch.replace(/^refs\/heads\//, ''),
        bare: field('bare') !== undefined,
        prunable: field('prunable') !== undefined,
      };
    });
}

/** Forgets worktrees whose directories are gone (git's own bookkeeping; no files and no branches are touched). */
export async function pruneWorktrees(repo: string): Promise<void> {
  await withSharedClone(repo, () => mustGit(['worktree', 'prune'], repo, 'git worktree prune'));
}

/** Removes a worktree that worktreeSafety found clean (git itself refuses a dirty one). */
export async function removeWorktree(bareRepo: string, worktree: string): Promise<void> {
  await withSharedClone(bareRepo, () =>
    mustGit(['worktree', 'remove', worktree], bareRepo, `git worktree remove ${worktree}`),
  );
}

/**
 * Takes away what a killed `git worktree add` left of a worktree nobody has worked in: its directory (however
 * far its checkout got) and its entry. Only for a sandbox that was never finished (gt knows it from the store).
 */
export async function removeUnfinishedWorktree(bareRepo: string, worktree: string): Promise<void> {
  await withSharedClone(bareRepo, () => forceRemoveWorktree(bareRepo, worktree));
}

/**
 * Takes away a worktree's directory, whatever it holds, and its entry (only this one: other entries are not
 * ours to forget here). Only with the shared clone's lock held, and only for a worktree that holds no one's work.
 */
export async function forceRemoveWorktree(bareRepo: string, worktree: string): Promise<void> {
  await runGit(['worktree', 'remove', '--force', '--force', worktree], { cwd: bareRepo });
  rmSync(worktree, { recursive: true, force: true });
  // Its entry, if git still has one.
  const dir = join(bareRepo, 'worktrees');
  for (const entry of existsSync(dir) ? readdirSync(dir) : []) {
    try {
      if (readFileSync(join(dir, entry, 'gitdir'), 'utf8').trim() === join(worktree, '.git'))
        rmSync(join(dir, entry), { recursive: true, force: true });
    } catch {
      // no gitdir file: not a worktree entry git could use
    }
  }
}

/** Whether a local branch exists. */
export async function hasBranch(repo: string, branch: string): Promise<boolean> {
  return (await runGit(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { cwd: repo })).ok;
}

/** Deletes a local branch, merged or not: callers check hasUnpushedCommits first. */
export async function deleteBranch(repo: string, branch: string): Promise<void> {
  await mustGit(['branch', '-D', branch], repo, `git branch -D ${branch}`);
}

/** True when `ref` has commits that no remote ref has (or when git cannot tell). */
export async function hasUnpushedCommits(repo: string, ref: string): Promise<boolean> {
  const count = await runGit(['rev-list', '--count', ref, '--not', '--remotes'], { cwd: repo });
  return !count.ok || count.stdout.trim() !== '0';
}

/** Brings `origin/*` up to date. */
export async function fetchOrigin(bareRepo: string): Promise<void> {
  await withSharedClone(bareRepo, () => mustGit(['fetch', '--quiet', 'origin'], bareRepo, 'git fetch'));
}

const NULL_OID = /^0{40}(0{24})?$/;

/**
 * Runs `fn` alone among gt's operations on a rig's shared clone. Git cannot run them side by side: a fetch
 * that meets a worktree being added (whose HEAD is still git's all-zero placeholder) fails with "bad object
 * worktrees/<name>/HEAD". The lock is a file whose holder is known by pid, so a holder killed with -9 does not
 * keep it. Before `fn`, what killed gits left is cleared (cloneLeftovers): with the lock held, no gt's git is
 * making a worktree or fetching, and each leftover would poison every later fetch or worktree change.
 */
export async function withSharedClone<T>(bareRepo: string, fn: () => Promise<T>): Promise<T> {
  return withFileLock(
    join(bareRepo, 'gt-shared.lock'),
    { timeoutMs: 180_000, staleMs: 30 * 60_000, busy: 'another gt is fetching or making a worktree in this rig' },
    async () => {
      clearLeftovers(bareRepo);
      return fn();
    },
  );
}

/** What killed gits left in a shared clone that would break later gits: half-made worktree entries, old locks. */
export type CloneLeftovers = { halfMadeWorktrees: string[]; staleLocks: string[] };

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Finds the leftovers: worktree entries a killed `git worktree add` left (a placeholder HEAD, none at all, or
 * the "initializing" lock git keeps on an entry until its first checkout is complete), and ref or index
 * locks older than any live git holds one.
 */
export function cloneLeftovers(bareRepo: string): CloneLeftovers {
  const dir = join(bareRepo, 'worktrees');
  const halfMadeWorktrees: string[] = [];
  const staleLocks: string[] = [];
  const old = (path: string, ms: number): boolean => {
    try {
      return Date.now() - statSync(path).mtimeMs > ms;
    } catch {
      return false;
    }
  };
  for (const entry of existsSync(dir) ? readdirSync(dir) : []) {
    const admin = join(dir, entry);
    const head = readOr(join(admin, 'HEAD')) ?? '';
    // Git's own bookkeeping of a checkout that never finished: no commit, no work of anyone's in it.
    if (head === '' || NULL_OID.test(head) || readOr(join(admin, 'locked')) === 'initializing')
      halfMadeWorktrees.push(admin);
    else if (old(join(admin, 'index.lock'), STALE_INDEX_LOCK_MS)) staleLocks.push(join(admin, 'index.lock'));
  }
  const refLocks = (d: string): void => {
    for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      const path = join(d, e.name);
      if (e.isDirectory()) refLocks(path);
      else if (e.name.endsWith('.lock') && old(path, STALE_REF_LOCK_MS)) staleLocks.push(path);
    }
  };
  refLocks(join(bareRepo, 'refs'));
  if (old(join(bareRepo, 'packed-refs.lock'), STALE_REF_LOCK_MS)) staleLocks.push(join(bareRepo, 'packed-refs.lock'));
  return { halfMadeWorktrees, staleLocks };
}

/** Clears the leftovers (with the shared clone's lock held, so no gt's git is at work); what it cleared. */
export async function repairClone(bareRepo: string): Promise<CloneLeftovers> {
  return withSharedClone(bareRepo, () => Promise.resolve(clearLeftovers(bareRepo)));
}

function clearLeftovers(bareRepo: string): CloneLeftovers {
  const found = cloneLeftovers(bareRepo);
  for (const path of [...found.halfMadeWorktrees, ...found.staleLocks]) rmSync(path, { recursive: true, force: true });
  return found;
}

/** The commit a revision names now (e.g. `origin/main`), as a full id. */
async function commitNamed(cwd: string, revision: string): Promise<string> {
  return (
    await mustGit(['rev-parse', '--verify', '--quiet', `${revision}^{commit}`], cwd, `resolving ${revision}`)
  ).trim();
}

/**
 * In a clean worktree, switches to a new branch cut from `startPoint`. The start point is resolved to a commit
 * first: `git switch -c <branch> <name>` checks out the tree `name` names, then reads `name` again to create
 * the branch, so a fetch that moves it in between (another agent's, in the shared clone) leaves the branch one
 * commit ahead of the checkout — and the next `git add --all` undoes what that commit brought.
 */
export async function switchToNewBranch(worktree: string, branch: string, startPoint: string): Promise<void> {
  const commit = await commitNamed(worktree, startPoint);
  await mustGit(['switch', '--quiet', '--no-track', '-c', branch, commit], worktree, `git switch -c ${branch}`);
}

/** A full clone of `source` at `dest` (a human's workspace). */
export async function cloneFull(source: string, dest: string, cwd: string): Promise<void> {
  await mustGit(['clone', '--quiet', '--', source, dest], cwd, `git clone of ${source}`);
}

/** Local branches of a repository holding commits that no remote ref has. */
export async function branchesWithUnpushedCommits(repo: string): Promise<string[]> {
  const refs = (await mustGit(['for-each-ref', '--format=%(refname:short)', 'refs/heads'], repo, 'git for-each-ref'))
    .split('\n')
    .filter((r) => r !== '');
  const out: string[] = [];
  for (const ref of refs) if (await hasUnpushedCommits(repo, ref)) out.push(ref);
  return out;
}

/** Commits everything in the worktree (new, changed and deleted files); the new commit, or null if nothing changed. */
export async function commitAll(
  worktree: string,
  message: string,
  author?: { name: string; email: string },
): Promise<string | null> {
  await mustGit(['add', '--all'], worktree, 'git add');
  const staged = await runGit(['diff', '--cached', '--quiet'], { cwd: worktree });
  if (staged.ok) return null;
  const who = author === undefined ? [] : ['-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`];
  await mustGit([...who, 'commit', '--quiet', '--no-verify', '-m', message], worktree, 'git commit');
  return (await mustGit(['rev-parse', 'HEAD'], worktree, 'git rev-parse')).trim();
}

/** When HEAD was committed (ms since the epoch), or undefined (no commit, or not a worktree). */
export async function lastCommitMs(worktree: string): Promise<number | undefined> {
  const r = await runGit(['log', '-1', '--format=%ct', 'HEAD'], { cwd: worktree });
  const s = r.ok ? Number(r.stdout.trim()) : NaN;
  return Number.isFinite(s) && s > 0 ? s * 1000 : undefined;
}

/** The commit HEAD points at. */
export async function headCommit(worktree: string): Promise<string> {
  return (await mustGit(['rev-parse', 'HEAD'], worktree, 'git rev-parse')).trim();
}

/** The commit a branch points at on the remote, or undefined when the remote has no such branch. */
export async function remoteBranchCommit(worktree: string, branch: string): Promise<string | undefined> {
  const out = await mustGit(['ls-remote', '--heads', 'origin', `refs/heads/${branch}`], worktree, 'git ls-remote');
  const sha = out.trim().split(/\s+/u)[0];
  return sha === undefined || sha === '' ? undefined : sha;
}

/** Pushes HEAD to the branch of the same name on the remote (never forced). */
export async function pushBranch(worktree: string, branch: string): Promise<void> {
  // Not --quiet: that would also silence the remote's own words ("remote: …") when it refuses the push.
  await mustGit(['push', '--no-progress', 'origin', `HEAD:refs/heads/${branch}`], worktree, `git push of ${branch}`);
}

/**
 * Brings a work branch up to date with its target, as a returned merge request's task asks: the shared clone
 * fetched (under its lock), the worktree switched to `branch` (made from `origin/<branch>` when only the remote
 * still has it), and `origin/<target>` merged in. The files left in conflict, for the agent to resolve and
 * commit (none: it merged, or there was nothing to merge). The worktree must be clean.
 */
export async function mergeTargetIntoBranch(worktree: string, branch: string, target: string): Promise<string[]> {
  const common = (await mustGit(['rev-parse', '--git-common-dir'], worktree, 'git rev-parse')).trim();
  await fetchOrigin(resolve(worktree, common));
  if ((await currentBranch(worktree)) !== branch) {
    const local = await hasBranch(worktree, branch);
    await mustGit(
      local
        ? ['switch', '--quiet', branch]
        : ['switch', '--quiet', '--no-track', '-c', branch, await commitNamed(worktree, `origin/${branch}`)],
      worktree,
      `git switch ${branch}`,
    );
  }
  const merged = await runGit(
    [
      'merge',
      '--quiet',
      '--no-edit',
      '-m',
      `Merge origin/${target} into ${branch}`,
      await commitNamed(worktree, `origin/${target}`),
    ],
    {
      cwd: worktree,
      timeoutMs: 120_000,
    },
  );
  if (merged.ok) return [];
  const unmerged = await mustGit(['diff', '--name-only', '--diff-filter=U'], worktree, 'git diff');
  const files = unmerged.split('\n').filter((f) => f !== '');
  if (files.length === 0)
    throw new GitCommandError(`git merge of origin/${target} into ${branch} failed: ${gitComplaint(merged.stderr)}`);
  return files;
}
