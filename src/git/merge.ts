import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { ValidationError } from '../core/errors.js';
import {
  fetchOrigin,
  forceRemoveWorktree,
  gitComplaint,
  GitCommandError,
  gitVersion,
  listWorktrees,
  mustGit,
  remoteBranchCommit,
  runGit,
  withSharedClone,
} from './git.js';

/**
 * The git primitives of the merge queue: conflict checks without a worktree (merge-tree), scratch worktrees of
 * the rig's shared clone for gates, stacking a batch of branches with --no-ff merge commits made without a
 * worktree (an agent's branch is never rewritten), and landing on the target by compare-and-swap.
 */

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/u;
const LONG_MS = 120_000;

/** A revision gt hands git as one argv word (a ref, an oid, `HEAD~1`): never an option, a range or a refspec. */
function revision(rev: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._/@+~^-]*$/u.test(rev) || rev.includes('..'))
    throw new ValidationError(`not a revision gt passes to git: ${JSON.stringify(rev)}`);
  return rev;
}

/** A branch name that is safe in a refspec (`<commit>:refs/heads/<branch>`) and that git accepts. */
function branchName(branch: string): string {
  if (
    !/^[A-Za-z0-9_][A-Za-z0-9._/@+-]*$/u.test(branch) ||
    /\.\.|\/\/|\/\.|@\{/u.test(branch) ||
    /[/.]$|\.lock$/u.test(branch)
  )
    throw new ValidationError(`not a branch name gt passes to git: ${JSON.stringify(branch)}`);
  return branch;
}

/** Throws unless git `version` ("2.39.5") has `git merge-tree --write-tree`, which arrived in git 2.38. */
export function requireMergeTree(version: string | undefined): void {
  const [major = NaN, minor = NaN] = (version ?? '').split('.').map(Number);
  if (Number.isNaN(major) || Number.isNaN(minor) || major < 2 || (major === 2 && minor < 38))
    throw new GitCommandError(
      `git ${version ?? '(not found)'} cannot test a merge without a worktree: git ≥ 2.38 is needed (git merge-tree --write-tree)`,
      { hint: 'install git 2.38 or newer' },
    );
}

let mergeTreeChecked: Promise<void> | undefined;

function mergeTreeReady(): Promise<void> {
  mergeTreeChecked ??= gitVersion().then(requireMergeTree);
  return mergeTreeChecked;
}

/** Commit of a ref in the shared clone (e.g. `origin/polecat/x`), or undefined when it does not exist. */
export async function commitOf(repo: string, ref: string): Promise<string | undefined> {
  const r = await runGit(['rev-parse', '--verify', '--quiet', `${revision(ref)}^{commit}`], { cwd: repo });
  if (r.ok) return r.stdout.trim();
  if (r.status === 1) return undefined;
  throw new GitCommandError(`git rev-parse ${ref} failed in ${repo}: ${gitComplaint(r.stderr)}`);
}

async function mustCommit(repo: string, ref: string): Promise<string> {
  const oid = await commitOf(repo, ref);
  if (oid === undefined) throw new GitCommandError(`no commit ${ref} in ${repo}`);
  return oid;
}

/** Whether `ancestor` is an ancestor of `descendant` (a commit is its own ancestor). */
export async function isAncestor(repo: string, ancestor: string, descendant: string): Promise<boolean> {
  const r = await runGit(['merge-base', '--is-ancestor', revision(ancestor), revision(descendant)], { cwd: repo });
  if (r.ok) return true;
  if (r.status === 1) return false;
  throw new GitCommandError(`git merge-base ${ancestor} ${descendant} failed: ${gitComplaint(r.stderr)}`);
}

/** The tree git's own merge makes of `theirs` onto `ours` (commits), and the files that conflict in it. */
async function mergeTree(repo: string, ours: string, theirs: string): Promise<{ tree: string; files: string[] }> {
  await mergeTreeReady();
  const args = ['merge-tree', '--write-tree', '-z', '--name-only'];
  const r = await runGit([...args, '--no-messages', ours, theirs], { cwd: repo, timeoutMs: LONG_MS });
  const [tree = '', ...rest] = r.stdout.split('\0');
  // Exit 1 is a conflict only when a tree was written: a commit git cannot merge also exits 1, with no tree.
  if (!(r.ok || r.status === 1) || !OID.test(tree))
    throw new GitCommandError(`git merge-tree of ${theirs} onto ${ours} failed: ${r.ok ? '' : gitComplaint(r.stderr)}`);
  if (r.ok) return { tree, files: [] };
  const files = rest.filter((f) => f !== '');
  if (files.length > 0) return { tree, files };
  // A conflict with no file at a conflicted stage: name the paths of git's conflict messages instead, so that a
  // conflict is never taken for a clean merge.
  const paths = conflictMessagePaths((await runGit([...args, ours, theirs], { cwd: repo, timeoutMs: LONG_MS })).stdout);
  if (paths.length === 0)
    throw new GitCommandError(`git merge-tree found a conflict of ${theirs} onto ${ours} in no file`);
  return { tree, files: paths };
}

/**
 * The paths git's CONFLICT messages name in `git merge-tree --write-tree -z` output: after the tree and the
 * conflicted files comes an empty field, then each message as <n> NUL <n paths> <type> NUL <text> NUL.
 */
export function conflictMessagePaths(zOutput: string): string[] {
  const fields = zOutput.split('\0');
  const start = fields.indexOf('', 1);
  const paths = new Set<string>();
  for (let i = start < 0 ? fields.length : start + 1; i < fields.length;) {
    const n = Number(fields[i]);
    if (fields[i] === '' || !Number.isInteger(n) || n < 0) break;
    if ((fields[i + 1 + n] ?? '').startsWith('CONFLICT')) for (const p of fields.slice(i + 1, i + 1 + n)) paths.add(p);
    i += n + 3;
  }
  return [...paths];
}

/**
 * Files that would conflict when `theirs` merges onto `base` (commits or refs); [] when clean. Uses
 * `git merge-tree --write-tree` (no worktree, no index; it writes only objects, so it needs no lock).
 */
export async function mergeConflicts(repo: string, base: string, theirs: string): Promise<string[]> {
  const [b, t] = [await mustCommit(repo, base), await mustCommit(repo, theirs)];
  return (await mergeTree(repo, b, t)).files;
}

/**
 * Files that would conflict when `b` merges onto the merge of `a` onto `base`: what the queue meets when it
 * stacks a then b on the target. The merge of a is made as an unreferenced commit (its tree from merge-tree,
 * parents base and a, as stackMerges would make it) and b is merged onto that, so git finds the true merge base
 * itself. An explicit `--merge-base=<base>` (git 2.40) would be unsound: for a branch cut from an older target it
 * reads the target's newer changes as reverted by b, and for b built on a it ignores their shared commits.
 * Throws when `a` itself does not merge cleanly onto `base` (there is then no stack to merge b onto).
 */
export async function conflictsBetween(repo: string, base: string, a: string, b: string): Promise<string[]> {
  const [baseOid, aOid, bOid] = [await mustCommit(repo, base), await mustCommit(repo, a), await mustCommit(repo, b)];
  const first = await mergeTree(repo, baseOid, aOid);
  if (first.files.length > 0)
    throw new GitCommandError(`${a} does not merge cleanly onto ${base} (${first.files.join(', ')})`);
  const stacked = (
    await mustGit(
      [
        ...['-c', 'user.name=gt', '-c', 'user.email=gt@localhost'],
        ...['commit-tree', '--no-gpg-sign', first.tree, '-p', baseOid, '-p', aOid, '-m', `probe: ${a} onto ${base}`],
      ],
      repo,
      'git commit-tree',
    )
  ).trim();
  return (await mergeTree(repo, stacked, bOid)).files;
}

/** The same path as git records it (absolute, symlinks resolved where the path exists). */
function samePath(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}

/**
 * A worktree of the shared clone at `path` (absent or empty), detached at `commit`, for gates: never an agent's
 * sandbox. Under the shared clone's lock (the worktree list changes).
 */
export async function addScratchWorktree(repo: string, path: string, commit: string): Promise<void> {
  const oid = await mustCommit(repo, commit);
  await withSharedClone(repo, () =>
    mustGit(['worktree', 'add', '--detach', '--quiet', '--', resolve(path), oid], repo, `git worktree add ${path}`),
  );
}

/**
 * Removes a scratch worktree (forced: it is ours and holds no one's work) and its entry; nothing there is no
 * error. Refuses a worktree on a branch (an agent's sandbox) and a directory that is no worktree of `repo`.
 */
export async function removeScratchWorktree(repo: string, path: string): Promise<void> {
  const abs = resolve(path);
  await withSharedClone(repo, async () => {
    const entry = (await listWorktrees(repo)).find((w) => samePath(w.path) === samePath(abs));
    if (entry?.branch != null)
      throw new GitCommandError(`${abs} has branch ${entry.branch} checked out: it is not a scratch worktree`);
    if (entry === undefined && existsSync(abs) && !pointsInto(repo, abs))
      throw new GitCommandError(`${abs} is not a worktree of ${repo}: not removing it`);
    await forceRemoveWorktree(repo, abs);
  });
}

/**
 * Removes a directory of scratch worktrees of `repo` (what a dead refinery pass left): every worktree of repo
 * inside it, with its entry (also entries whose directory is gone), then the directory with whatever else is
 * left in it (a checkout a killed `git worktree add` never finished). Under the shared clone's lock, so no gt's
 * git works in it meanwhile. Refuses, removing nothing, when a worktree inside has a branch checked out.
 */
export async function removeScratchArea(repo: string, dir: string): Promise<void> {
  const abs = samePath(dir);
  const inside = (path: string): boolean => {
    const rel = relative(abs, samePath(path));
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  await withSharedClone(repo, async () => {
    const trees = (await listWorktrees(repo)).filter((w) => inside(w.path));
    const onBranch = trees.find((w) => w.branch != null);
    if (onBranch !== undefined)
      throw new GitCommandError(`${onBranch.path} has branch ${onBranch.branch} checked out: not a scratch worktree`);
    for (const w of trees) await forceRemoveWorktree(repo, w.path);
    rmSync(abs, { recursive: true, force: true });
  });
}

/** Whether `dir` is (what is left of) a worktree of `repo`: its .git file points into repo's worktrees. */
function pointsInto(repo: string, dir: string): boolean {
  try {
    const gitdir = /^gitdir: (.+)$/mu.exec(readFileSync(join(dir, '.git'), 'utf8'))?.[1]?.trim();
    return gitdir !== undefined && samePath(join(gitdir, '..', '..')) === samePath(repo);
  } catch {
    return false;
  }
}

/** Fetches origin into the shared clone and returns the commit of origin's `branch`, or undefined. */
export async function remoteHead(repo: string, branch: string): Promise<string | undefined> {
  branchName(branch);
  await fetchOrigin(repo);
  return commitOf(repo, `refs/remotes/origin/${branch}`);
}

/** One ref's line of `git push --porcelain`: its flag and summary, e.g. `!` and `[rejected] (stale info)`. */
function pushLine(stdout: string, ref: string): { flag: string; summary: string } | undefined {
  for (const line of stdout.split('\n')) {
    const [flag, refs, summary] = line.split('\t');
    if (flag !== undefined && summary !== undefined && refs?.endsWith(`:${ref}`) === true) return { flag, summary };
  }
  return undefined;
}

/** A push the remote would not take because the ref is not where we said it was. */
const MOVED = /\((?:stale info|fetch first|non-fast-forward)\)/u;

/** What the remote said ("remote: …" lines) and the push's summary for the ref. */
function refusal(stderr: string, summary: string): string {
  const said = stderr
    .split('\n')
    .filter((l) => l.startsWith('remote:'))
    .map((l) => l.slice('remote:'.length).trim())
    .filter((l) => l !== '');
  return [...said, summary].join('\n');
}

export type LandResult =
  { landed: true; commit: string } | { landed: false; reason: 'moved' | 'refused'; detail: string };

/**
 * Pushes `commit` to origin's `target` only if origin's target is still `expected` (a full commit id), by
 * compare-and-swap: `--force-with-lease=refs/heads/<target>:<expected>`, so someone else's push is never
 * overwritten, and `commit` must descend from `expected`, so the target is never rewound (that throws). `moved`
 * when the target moved meanwhile; `refused` when the remote refused for another reason (a hook, permissions),
 * with its words. Landed too when origin's target already is `commit`. A remote that cannot be reached throws.
 */
export async function pushIfUnchanged(
  repo: string,
  commit: string,
  target: string,
  expected: string,
): Promise<LandResult> {
  branchName(target);
  if (!OID.test(expected)) throw new ValidationError(`expected must be a full commit id: ${JSON.stringify(expected)}`);
  const oid = await mustCommit(repo, commit);
  if (!(await isAncestor(repo, expected, oid)))
    throw new GitCommandError(
      `${oid} does not descend from ${target} at ${expected}: landing it would rewrite ${target}`,
    );
  const ref = `refs/heads/${target}`;
  const r = await runGit(
    [
      'push',
      '--atomic',
      '--porcelain',
      '--no-progress',
      `--force-with-lease=${ref}:${expected}`,
      'origin',
      `${oid}:${ref}`,
    ],
    { cwd: repo, timeoutMs: LONG_MS },
  );
  const line = pushLine(r.stdout, ref);
  if (line === undefined)
    throw new GitCommandError(`git push of ${target} failed: ${r.ok ? r.stdout : gitComplaint(r.stderr)}`);
  if (line.flag !== '!') return { landed: true, commit: oid };
  if (MOVED.test(line.summary))
    return { landed: false, reason: 'moved', detail: `origin's ${target} is no longer ${expected}: ${line.summary}` };
  return { landed: false, reason: 'refused', detail: refusal(r.ok ? '' : r.stderr, line.summary) };
}

/**
 * Deletes a branch on origin, then its remote-tracking ref and its local branch in the shared clone; only after
 * proving its head landed. The deletion is a compare-and-swap too: origin's branch must still be at `expected`
 * (by default what was last fetched of it), so commits pushed to it since are never lost ('moved': nothing is
 * deleted). A branch already gone is no error ('absent'). The local branch goes only when no worktree has it
 * checked out and it holds nothing beyond the landed head.
 */
export async function deleteLandedBranch(
  repo: string,
  branch: string,
  options: { expected?: string } = {},
): Promise<'deleted' | 'absent' | 'moved'> {
  branchName(branch);
  const ref = `refs/heads/${branch}`;
  const tracking = `refs/remotes/origin/${branch}`;
  const expected = options.expected ?? (await commitOf(repo, tracking));
  let outcome: 'deleted' | 'absent' | 'moved' = 'absent';
  if (expected === undefined) {
    const there = await remoteBranchCommit(repo, branch);
    if (there !== undefined)
      throw new GitCommandError(`origin has ${branch} at ${there}, which was never fetched here: not deleting it`);
  } else {
    if (!OID.test(expected))
      throw new ValidationError(`expected must be a full commit id: ${JSON.stringify(expected)}`);
    const r = await runGit(
      ['push', '--porcelain', '--no-progress', `--force-with-lease=${ref}:${expected}`, 'origin', `:${ref}`],
      { cwd: repo, timeoutMs: LONG_MS },
    );
    const line = pushLine(r.stdout, ref);
    if (line === undefined)
      throw new GitCommandError(`git push deleting ${branch} failed: ${r.ok ? r.stdout : gitComplaint(r.stderr)}`);
    if (line.flag !== '!') outcome = 'deleted';
    else if (!MOVED.test(line.summary))
      throw new GitCommandError(`origin refused to delete ${branch}: ${refusal(r.ok ? '' : r.stderr, line.summary)}`);
    // A lease also fails on a branch that is gone: only one that still exists has moved.
    else if ((await remoteBranchCommit(repo, branch)) !== undefined) return 'moved';
  }
  await withSharedClone(repo, async () => {
    if ((await commitOf(repo, tracking)) !== undefined)
      await mustGit(['update-ref', '-d', tracking], repo, 'git update-ref');
    const local = await commitOf(repo, ref);
    if (local === undefined || expected === undefined) return;
    if ((await listWorktrees(repo)).some((w) => w.branch === branch)) return; // a sandbox has it: its owner's
    if (!(await isAncestor(repo, local, expected))) return; // commits that never landed
    await mustGit(['update-ref', '-d', ref, local], repo, `deleting ${branch}`);
  });
  return outcome;
}

export type MergeOnto = { ok: true; commit: string } | { ok: false; files: string[] };

/**
 * The merge commit `git merge --no-ff theirs` would make on `ours`, made without a worktree: the tree from
 * `git merge-tree --write-tree`, then `git commit-tree` with parents ours and theirs, the given message, and
 * `author` as author and committer. Only objects are written (no ref moves, no lock). A conflict makes no
 * commit and names the files. When theirs is already in ours, ours itself.
 */
export async function mergeOnto(
  repo: string,
  ours: string,
  theirs: string,
  message: string,
  author: { name: string; email: string },
): Promise<MergeOnto> {
  const [o, t] = [await mustCommit(repo, ours), await mustCommit(repo, theirs)];
  if (await isAncestor(repo, t, o)) return { ok: true, commit: o };
  const merged = await mergeTree(repo, o, t);
  if (merged.files.length > 0) return { ok: false, files: merged.files };
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
  const r = await runGit(['commit-tree', '--no-gpg-sign', merged.tree, '-p', o, '-p', t, '-F', '-'], {
    cwd: repo,
    env,
    input: message,
  });
  if (!r.ok) throw new GitCommandError(`git commit-tree of ${theirs} onto ${ours} failed: ${gitComplaint(r.stderr)}`);
  return { ok: true, commit: r.stdout.trim() };
}

/** The files `commit` changes since it forked from `base` (git diff base...commit), repo-relative. */
export async function changedFiles(repo: string, base: string, commit: string): Promise<string[]> {
  const r = await runGit(['diff', '--name-only', '-z', '--no-renames', `${revision(base)}...${revision(commit)}`], {
    cwd: repo,
  });
  if (!r.ok) throw new GitCommandError(`git diff ${base}...${commit} failed: ${gitComplaint(r.stderr)}`);
  return r.stdout.split('\0').filter((f) => f !== '');
}

/** Which of `oids` name commits in the shared clone: one `git cat-file --batch-check` for all of them. */
export async function existingCommits(repo: string, oids: readonly string[]): Promise<Set<string>> {
  const asked = oids.filter((o) => OID.test(o));
  if (asked.length === 0) return new Set();
  const r = await runGit(['cat-file', '--batch-check=%(objectname) %(objecttype)'], {
    cwd: repo,
    input: `${asked.join('\n')}\n`,
  });
  if (!r.ok) throw new GitCommandError(`git cat-file --batch-check failed in ${repo}: ${gitComplaint(r.stderr)}`);
  const found = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const [oid, type] = line.split(' ');
    if (oid !== undefined && type === 'commit') found.add(oid);
  }
  return found;
}

/**
 * Which of `commits` (full ids that exist) are ancestors of `head`. Most are the tips of remote-tracking branches:
 * two `git for-each-ref` calls (all tips, and the tips merged into head) answer for those; any other is asked
 * with `git merge-base --is-ancestor` on its own.
 */
export async function ancestorsOf(repo: string, head: string, commits: readonly string[]): Promise<Set<string>> {
  const tips = async (extra: string[]): Promise<Set<string>> => {
    const r = await mustGit(
      ['for-each-ref', '--format=%(objectname)', ...extra, 'refs/remotes/origin/'],
      repo,
      'git for-each-ref',
    );
    return new Set(r.split('\n').filter((l) => l !== ''));
  };
  const [all, merged] = [await tips([]), await tips([`--merged=${revision(head)}`])];
  const out = new Set<string>();
  for (const c of new Set(commits)) {
    if (merged.has(c)) out.add(c);
    else if (!all.has(c) && (await isAncestor(repo, c, head))) out.add(c);
  }
  return out;
}

/**
 * Deletes landed branches on origin in one push, each by compare-and-swap against what was last fetched of it
 * (as deleteLandedBranch does for one), then their remote-tracking refs and local branches as deleteLandedBranch
 * would. Each branch's outcome; a branch the push could not take is left to deleteLandedBranch's own rules.
 */
export async function deleteLandedBranches(
  repo: string,
  branches: readonly string[],
): Promise<Map<string, 'deleted' | 'absent' | 'moved' | 'failed'>> {
  const out = new Map<string, 'deleted' | 'absent' | 'moved' | 'failed'>();
  const leased: { branch: string; expected: string }[] = [];
  for (const branch of new Set(branches)) {
    branchName(branch);
    const expected = await commitOf(repo, `refs/remotes/origin/${branch}`);
    if (expected === undefined)
      out.set(branch, 'failed'); // never fetched, or gone: deleteLandedBranch decides
    else leased.push({ branch, expected });
  }
  if (leased.length > 0) {
    const r = await runGit(
      [
        'push',
        '--porcelain',
        '--no-progress',
        ...leased.map((l) => `--force-with-lease=refs/heads/${l.branch}:${l.expected}`),
        'origin',
        ...leased.map((l) => `:refs/heads/${l.branch}`),
      ],
      { cwd: repo, timeoutMs: LONG_MS },
    );
    for (const l of leased) {
      const line = pushLine(r.stdout, `refs/heads/${l.branch}`);
      out.set(l.branch, line === undefined || line.flag === '!' ? 'failed' : 'deleted');
    }
  }
  const deleted = leased.filter((l) => out.get(l.branch) === 'deleted');
  if (deleted.length > 0)
    await withSharedClone(repo, async () => {
      const checkedOut = new Set((await listWorktrees(repo)).map((w) => w.branch).filter((b) => b != null));
      for (const { branch, expected } of deleted) {
        const tracking = `refs/remotes/origin/${branch}`;
        if ((await commitOf(repo, tracking)) !== undefined)
          await mustGit(['update-ref', '-d', tracking], repo, 'git update-ref');
        const ref = `refs/heads/${branch}`;
        const local = await commitOf(repo, ref);
        if (local === undefined || checkedOut.has(branch)) continue; // a sandbox has it: its owner's
        if (!(await isAncestor(repo, local, expected))) continue; // commits that never landed
        await mustGit(['update-ref', '-d', ref, local], repo, `deleting ${branch}`);
      }
    });
  return out;
}

export type ConflictReport = {
  files: string[];
  /** Per conflicting file (the first few), git's merged text with its conflict markers. */
  texts: { file: string; text: string }[];
  /** The commits on `base` since `theirs` forked from it that touch the conflicting files, newest first. */
  landed: string[];
};

/**
 * What a person (or agent) needs to resolve `theirs` onto `base`: the conflicting files, git's merge of each
 * with its markers (from merge-tree's tree, nothing checked out), and the commits that landed on base since
 * theirs forked that touch those files (`git log --format="%h %s"`, at most 20).
 */
export async function conflictReport(repo: string, base: string, theirs: string): Promise<ConflictReport> {
  const [b, t] = [await mustCommit(repo, base), await mustCommit(repo, theirs)];
  const merged = await mergeTree(repo, b, t);
  if (merged.files.length === 0) return { files: [], texts: [], landed: [] };
  const texts: { file: string; text: string }[] = [];
  for (const file of merged.files.slice(0, 5)) {
    const r = await runGit(['cat-file', 'blob', `${merged.tree}:${file}`], { cwd: repo });
    if (r.ok) texts.push({ file, text: r.stdout });
  }
  const fork = await runGit(['merge-base', b, t], { cwd: repo });
  let landed: string[] = [];
  if (fork.ok) {
    const log = await runGit(
      ['log', '--no-merges', '--format=%h %s', '-n', '20', `${fork.stdout.trim()}..${b}`, '--', ...merged.files],
      { cwd: repo },
    );
    if (log.ok) landed = log.stdout.split('\n').filter((l) => l !== '');
  }
  return { files: merged.files, texts, landed };
}
