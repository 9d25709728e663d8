import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, GT_BIN, gtAsync, json, requireBuild, type RunResult } from './helpers/bd.js';
import { git, townWithRig } from './helpers/town-fixture.js';
import { fileMergeRequest } from './helpers/merge-requests.js';
import { openTownStore } from '../src/store/open.js';
import type { TownStore } from '../src/core/town-store.js';
import { runPass } from '../src/refinery/refinery.js';
import { pushLander, type Lander } from '../src/refinery/lander.js';
import { addPolecat } from '../src/town/polecat.js';

/**
 * The refinery under the faults it must survive: kill -9 while a gate runs and while a batch lands, someone
 * else's push to the target mid-test, a branch deleted under the queue, a gate that hangs, a flaky gate, a
 * remote that refuses pushes, and a request that keeps failing. After each: nothing is lost, the target
 * never holds a culprit (every commit it moves to passed the gates), and every request ends landed, returned
 * or escalated exactly once (a landed one told to its polecat and the witness by one mail each).
 */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

type Pass = {
  landed: string[];
  returned: { id: string; cause: string; task: string }[];
  escalated: string[];
  requeued: string[];
  batch: string[];
  flaky: boolean;
  moved: boolean;
  refused: { detail: string; escalation: string } | null;
  gateRuns: { members: string[]; gate: string; ok: boolean; timedOut: boolean }[];
};

type Req = { mr: string; source: string; branch: string; commit: string };

/** The polecat that wrote every branch. */
const WORKER = 'busy';

type Victim = { pid: number; done: Promise<number | null> };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for `cond` (a guard against a hung test, not a timing assertion). */
async function waitFor(cond: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}

/** Whether the process runs (a zombie, exited and waiting to be reaped, does not). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 1).trim()[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function pidsIn(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => /^\d+$/.test(l.trim()))
    .map(Number);
}

/** Kills (SIGKILL) the processes whose pids the test's gates and hooks wrote to `file`: only those. */
function killPidsIn(file: string): void {
  for (const pid of pidsIn(file))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
}

function executable(path: string, text: string): string {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/** A rig with a real remote, a gate library under `<base>/gates`, and helpers to file requests and run the refinery. */
async function faultRig(label: string) {
  requireBuild();
  const t = await townWithRig(label);
  cleanups.push(t.cleanup);
  const env = cleanEnv(join(t.base, 'home'));
  const work = join(t.base, 'work');
  const root = t.town.root;
  const repo = join(root, 'gastown', '.repo.git');
  const gates = join(t.base, 'gates');
  mkdirSync(gates);
  const pids = join(gates, 'pids');
  cleanups.push(() => killPidsIn(pids));
  // The project's rule, which the standard gate checks: no broken.txt, no hang.txt.
  const check = executable(
    join(gates, 'check.sh'),
    'if [ -e broken.txt ]; then echo "FAIL: broken.txt is there"; exit 1; fi\necho ok\n',
  );
  git(work, 'fetch', '--quiet', t.remote, '+refs/heads/*:refs/remotes/origin/*');
  const base = git(t.remote, 'rev-parse', 'refs/heads/main').trim();
  const store = openTownStore(t.town.dbPath);
  cleanups.push(() => store.dispose());
  // Every branch is written by a polecat that is busy with other work, so what is returned waits for it in the
  // store (the refinery's send-back slings nothing, and no agent session starts).
  await addPolecat(t.town, 'gastown', { name: WORKER, actor: 'tester', ownerEmail: t.town.owner, nowMs: Date.now() });
  await store.hook(`gastown/polecats/${WORKER}`, (await store.create({ title: 'other work' }, 'mayor')).id, 'mayor');
  let n = 0;

  const rig = {
    town: t.town,
    root,
    base: t.base,
    remote: t.remote,
    work,
    repo,
    gates,
    pids,
    check,
    env,
    store,
    /** The commit main had before any request. */
    start: base,
    settings(refinery: Record<string, unknown>): void {
      writeFileSync(join(root, 'gastown', 'settings.json'), JSON.stringify({ version: 1, refinery }));
    },
    /** A branch pushed as a polecat pushes it and a merge request as gt done files it. */
    file(name: string, change: (dir: string) => void): Promise<Req> {
      const branch = `polecat/${name}/job@${++n}`;
      return fileMergeRequest(store, { work, remote: t.remote, name, branch, worker: WORKER, change });
    },
    /** A request that adds its own file (never conflicts, always passes). */
    good(name: string): Promise<Req> {
      return rig.file(name, (d) => writeFileSync(join(d, `${name}.txt`), `${name}\n`));
    },
    refinery(...args: string[]): Promise<RunResult> {
      return gtAsync(['refinery', 'run', 'gastown', ...args], { cwd: root, env });
    },
    async passes(): Promise<Pass[]> {
      const r = await rig.refinery('--until-empty', '--json');
      expect(r.status, r.stderr).toBe(0);
      return json<Pass[]>(r);
    },
    /** `gt refinery run` in a process group of its own, so that the group can be killed at once. */
    startRefinery(...args: string[]): Victim {
      const child = spawn(process.execPath, [GT_BIN, 'refinery', 'run', 'gastown', ...args], {
        cwd: root,
        env,
        detached: true,
        stdio: 'ignore',
      });
      if (child.pid === undefined) throw new Error('gt did not start');
      const pid = child.pid;
      cleanups.push(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      });
      return { pid, done: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
    },
    remoteHas(commit: string): boolean {
      try {
        git(t.remote, 'merge-base', '--is-ancestor', commit, 'refs/heads/main');
        return true;
      } catch {
        return false;
      }
    },
    remoteBranches(): string {
      return git(t.remote, 'for-each-ref', '--format=%(refname)', 'refs/heads/');
    },
  };
  return rig;
}

type Rig = Awaited<ReturnType<typeof faultRig>>;

async function killGroup(v: Victim): Promise<void> {
  try {
    process.kill(-v.pid, 'SIGKILL');
  } catch {
    // it had finished already
  }
  await v.done;
}

const STORE_WRITES = new Set([
  'create',
  'update',
  'close',
  'closeEach',
  'addComment',
  'addDependency',
  'setConfig',
  'recordActivity',
]);

/**
 * The store as a pass sees it when its process dies just before its `at`-th write: that write and everything
 * after it fail, reads too (a dead process reads nothing either).
 */
function dyingStore(store: TownStore, at: number): { store: TownStore; writes: () => number } {
  let writes = 0;
  let dead = false;
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        if (!dead && typeof prop === 'string' && STORE_WRITES.has(prop) && ++writes === at) dead = true;
        if (dead) return Promise.reject(new Error('the refinery died here'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, writes: () => writes };
}

async function tasksFor(store: TownStore, mr: string): Promise<string[]> {
  const all = await store.list({ types: ['task'], statuses: ['open', 'in_progress', 'blocked', 'closed'], limit: 0 });
  return all.filter((b) => b.metadata.mq_fix_for === mr).map((b) => b.id);
}

async function escalationsNaming(store: TownStore, text: string): Promise<string[]> {
  const all = await store.list({ types: ['escalation'], statuses: ['open', 'closed'], limit: 0 });
  return all.filter((b) => b.title.includes(text) || b.description.includes(text)).map((b) => b.id);
}

/** Mail about a request to the polecat that wrote it and to the rig's witness: [to the polecat, to the witness]. */
async function mailAbout(store: TownStore, mr: string): Promise<number[]> {
  const counts: number[] = [];
  for (const to of [`gastown/polecats/${WORKER}`, 'gastown/witness']) {
    const mail = await store.list({ assignee: to, types: ['message'], statuses: ['open', 'closed'], limit: 0 });
    counts.push(mail.filter((m) => m.title.includes(mr)).length);
  }
  return counts;
}

async function commentsLike(store: TownStore, id: string, re: RegExp): Promise<number> {
  return (await store.comments(id)).filter((c) => re.test(c.text)).length;
}

type End = 'landed' | 'returned' | 'escalated';

/**
 * The invariants: each request ended as said, exactly once (one close, one landing comment; as many tasks and
 * return comments as returns; one escalation); nothing that did not land is in the target, and no commit on
 * the target's first-parent line since the start holds what the gates reject; no scratch worktree is left.
 */
async function expectEnds(rig: Rig, ends: [Req, End][]): Promise<void> {
  const { store } = rig;
  for (const [req, end] of ends) {
    const [bead] = await store.show([req.mr]);
    const what = `${req.mr} (${req.branch}) should be ${end}`;
    expect(bead?.metadata.mq_state, what).toBe(end);
    if (end === 'landed') {
      expect(bead?.status, what).toBe('closed');
      expect(rig.remoteHas(req.commit), what).toBe(true);
      expect((await store.events({ issueId: req.mr, eventType: 'closed' })).length, what).toBe(1);
      expect(await commentsLike(store, req.mr, /^Landed in /u), what).toBe(1);
      // Its polecat and the witness were told, once each.
      expect(await mailAbout(store, req.mr), what).toEqual([1, 1]);
      const [source] = await store.show([req.source]);
      expect(source?.status, what).toBe('closed');
      expect(rig.remoteBranches(), what).not.toContain(req.branch);
      continue;
    }
    expect(bead?.status, what).not.toBe('closed');
    expect(rig.remoteHas(req.commit), what).toBe(false);
    expect(await mailAbout(store, req.mr), what).toEqual([0, 0]);
    const attempts = Number(bead?.metadata.mq_attempts ?? 0);
    expect((await tasksFor(store, req.mr)).length, what).toBe(attempts);
    expect(await commentsLike(store, req.mr, /^Returned \(/u), what).toBe(attempts);
    if (end === 'returned') {
      expect(attempts, what).toBeGreaterThan(0);
      const [task] = await store.show([String(bead?.metadata.mq_waiting_on)]);
      expect(task?.status, what).not.toBe('closed');
    } else {
      expect((await escalationsNaming(store, req.mr)).length, what).toBe(1);
      expect(await commentsLike(store, req.mr, /^Escalated as /u), what).toBe(1);
    }
  }
  // Every commit main moved to passed the gates: none holds what they reject.
  const line = git(rig.remote, 'rev-list', '--first-parent', `${rig.start}..refs/heads/main`).split('\n');
  for (const c of line.filter((x) => x !== ''))
    expect(git(rig.remote, 'ls-tree', '--name-only', c, 'broken.txt', 'hang.txt'), `main at ${c}`).toBe('');
  // No scratch worktree is left, in git's list or on disk.
  expect(git(rig.repo, 'worktree', 'list', '--porcelain')).not.toContain('scratch');
  const scratch = join(rig.root, 'gastown', 'refinery', 'scratch');
  expect(existsSync(scratch) ? readdirSync(scratch) : []).toEqual([]);
}

/** Removes the lock files a killed git left in a bare repository (HEAD.lock, refs/…/*.lock, packed-refs.lock). */
function clearLocks(repo: string): void {
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.lock')) rmSync(path, { force: true });
    }
  };
  for (const f of ['HEAD.lock', 'packed-refs.lock']) rmSync(join(repo, f), { force: true });
  if (existsSync(join(repo, 'refs'))) walk(join(repo, 'refs'));
}

describe('the refinery under faults', () => {
  it('kill -9 mid-gate: the next pass clears the dead pass scratch, kills its gates and lands the batch', async () => {
    const rig = await faultRig('mq-kill-gate');
    const hold = join(rig.gates, 'HOLD');
    const held = join(rig.gates, 'HELD');
    // While HOLD exists the gate starts a child in its group and one that leaves it (setsid), then waits.
    const gate = executable(
      join(rig.gates, 'hold.sh'),
      [
        `echo $$ >> ${rig.pids}`,
        `if [ -e ${hold} ]; then`,
        `  setsid sh -c 'echo $$ >> ${rig.pids}; exec sleep 300' &`,
        `  sleep 300 & echo $! >> ${rig.pids}`,
        `  touch ${held}`,
        '  wait',
        'fi',
        `exec sh ${rig.check}`,
        '',
      ].join('\n'),
    );
    rig.settings({ gates: { test: ['sh', gate] }, batch_min: 2 });
    const a = await rig.good('aster');
    const b = await rig.good('birch');
    writeFileSync(hold, '');
    const v = rig.startRefinery();
    await waitFor(() => existsSync(held), 'the gate to hold');
    await killGroup(v);
    // The fault is real: the gate outlived its refinery (it runs in a group of its own), and its scratch is left.
    const orphans = pidsIn(rig.pids);
    expect(orphans.some(running)).toBe(true);
    expect(git(rig.repo, 'worktree', 'list', '--porcelain')).toContain('scratch');

    rmSync(hold);
    const passes = await rig.passes();
    expect(passes.flatMap((p) => p.landed).sort()).toEqual([a.mr, b.mr].sort());
    // Nothing the dead pass started still runs.
    await waitFor(() => !orphans.some(running), 'the orphaned gates to be gone', 10_000).catch(() => undefined);
    expect(orphans.filter(running)).toEqual([]);
    expect(pidsIn(rig.pids).filter(running)).toEqual([]);
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'landed'],
    ]);
  });

  it('kill -9 right after the push: the next pass finds the batch in the target and closes it once', async () => {
    const rig = await faultRig('mq-kill-land');
    rig.settings({ gates: { test: ['sh', rig.check] }, batch_min: 2 });
    const arm = join(rig.gates, 'ARM');
    const hit = join(rig.gates, 'HIT');
    // After main is updated (post-receive), once: say so and wait, so that the refinery is killed right there.
    executable(
      join(rig.remote, 'hooks', 'post-receive'),
      [
        'while read old new ref; do',
        `  if [ "$ref" = refs/heads/main ] && [ -e ${arm} ]; then rm -f ${arm}; echo $$ >> ${rig.pids}; touch ${hit}; exec sleep 300; fi`,
        'done',
        '',
      ].join('\n'),
    );
    const a = await rig.good('aster');
    const b = await rig.good('birch');
    writeFileSync(arm, '');
    const v = rig.startRefinery();
    await waitFor(() => existsSync(hit), 'the push to land');
    await killGroup(v);
    // Landed on the remote, not yet in the store.
    expect(rig.remoteHas(a.commit) && rig.remoteHas(b.commit)).toBe(true);
    expect((await rig.store.show([a.mr, b.mr])).map((x) => x.status)).not.toContain('closed');

    const passes = await rig.passes();
    expect(passes.flatMap((p) => p.landed).sort()).toEqual([a.mr, b.mr].sort());
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'landed'],
    ]);
    // One more pass finds nothing to do and closes nothing again.
    expect((await rig.passes()).flatMap((p) => p.landed)).toEqual([]);
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'landed'],
    ]);
  });

  it('kill -9 while a landed branch is deleted: the next pass finishes closing the request and its branch', async () => {
    const rig = await faultRig('mq-kill-close');
    rig.settings({ gates: { test: ['sh', rig.check] }, batch_min: 2 });
    const arm = join(rig.gates, 'ARM');
    const hit = join(rig.gates, 'HIT');
    // Before a branch is deleted (pre-receive), once: wait there, so that the deletion never happens.
    executable(
      join(rig.remote, 'hooks', 'pre-receive'),
      [
        'while read old new ref; do',
        `  if [ "$new" = 0000000000000000000000000000000000000000 ] && [ -e ${arm} ]; then rm -f ${arm}; echo $$ >> ${rig.pids}; touch ${hit}; exec sleep 300; fi`,
        'done',
        '',
      ].join('\n'),
    );
    const a = await rig.good('aster');
    const b = await rig.good('birch');
    writeFileSync(arm, '');
    const v = rig.startRefinery();
    await waitFor(() => existsSync(hit), 'the first branch deletion');
    await killGroup(v);
    expect(rig.remoteHas(a.commit) && rig.remoteHas(b.commit)).toBe(true);

    await rig.passes();
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'landed'],
    ]);
  });

  it('kill -9 at any point of a pass (swept), with or without its children: each next pass completes the work', async () => {
    const rig = await faultRig('mq-kill-sweep');
    // A red batch (a culprit to find and return) on every run, so that the sweep crosses bisection and returns.
    rig.settings({ gates: { test: ['sh', rig.check] }, batch_min: 3, batch_max: 3 });
    const ends: [Req, End][] = [];
    const three = async (k: string): Promise<void> => {
      const x = await rig.good(`x${k}`);
      const y = await rig.file(`y${k}`, (d) => writeFileSync(join(d, 'broken.txt'), `${k}\n`));
      const z = await rig.good(`z${k}`);
      ends.push([x, 'landed'], [y, 'returned'], [z, 'landed']);
    };
    await three('timing');
    const started = Date.now();
    await rig.passes();
    const passMs = Date.now() - started;
    await expectEnds(rig, ends);
    const steps = 6;
    for (const whole of [true, false]) {
      for (let k = 0; k < steps; k++) {
        await three(`${String(whole)}${k}`);
        const v = rig.startRefinery('--until-empty');
        await sleep((passMs * k) / steps);
        try {
          process.kill(whole ? -v.pid : v.pid, 'SIGKILL');
        } catch {
          // it had finished
        }
        await v.done;
        // The remote here is a local path, so its receive-pack runs in the killed group: killed mid-update, it
        // leaves its ref locks behind. A real remote (a server, not in the group) recovers from its own crash;
        // this one is helped to. What the refinery does when the remote refuses a push is tested below.
        if (whole) clearLocks(rig.remote);
        const next = await rig.refinery('--until-empty', '--json');
        expect(next.status, `after a kill at ${k}/${steps} (whole group: ${String(whole)}): ${next.stderr}`).toBe(0);
        await expectEnds(rig, ends);
      }
    }
  }, 300_000);

  it('a pass that dies before any one of its store writes: the next pass completes it, exactly once', async () => {
    const rig = await faultRig('mq-die-write');
    rig.settings({ gates: { test: ['sh', rig.check] }, batch_min: 3, batch_max: 3 });
    const ends: [Req, End][] = [];
    const three = async (k: string): Promise<void> => {
      const x = await rig.good(`x${k}`);
      const y = await rig.file(`y${k}`, (d) => writeFileSync(join(d, 'broken.txt'), `${k}\n`));
      const z = await rig.good(`z${k}`);
      ends.push([x, 'landed'], [y, 'returned'], [z, 'landed']);
    };
    const pass = (store: TownStore): Promise<unknown> =>
      runPass({ town: rig.town, store, actor: 'gastown/refinery', now: () => Date.now() }, 'gastown');
    // How many writes a pass makes when nothing kills it (it lands x, returns y, requeues z).
    await three('count');
    const counting = dyingStore(rig.store, Infinity);
    await pass(counting.store);
    const total = counting.writes();
    expect(total).toBeGreaterThan(5);
    await rig.passes();
    await expectEnds(rig, ends);
    for (let at = 1; at <= total; at++) {
      await three(String(at));
      await expect(pass(dyingStore(rig.store, at).store)).rejects.toThrow('the refinery died here');
      await rig.passes();
      await expectEnds(rig, ends);
    }
  }, 300_000);

  it('a push by someone else while the batch is tested: nothing is overwritten, the next pass lands on top', async () => {
    const rig = await faultRig('mq-moved');
    const other = join(rig.base, 'other');
    git(rig.base, 'clone', '--quiet', rig.remote, other);
    const mark = join(rig.gates, 'pushed');
    // The first gate run pushes someone else's commit to main, then passes.
    const gate = executable(
      join(rig.gates, 'push-other.sh'),
      [
        `if mkdir ${mark} 2>/dev/null; then`,
        `  echo theirs > ${join(other, 'theirs.txt')}`,
        `  git -C ${other} add theirs.txt || exit 3`,
        `  git -C ${other} -c user.name=o -c user.email=o@e.x commit --quiet -m "someone else's commit" || exit 3`,
        `  git -C ${other} push --quiet origin HEAD:main || exit 3`,
        'fi',
        `exec sh ${rig.check}`,
        '',
      ].join('\n'),
    );
    rig.settings({ gates: { test: ['sh', gate] }, batch_min: 2 });
    const a = await rig.good('aster');
    const b = await rig.good('birch');
    const passes = await rig.passes();
    const theirs = git(other, 'rev-parse', 'HEAD').trim();
    expect(passes[0]).toMatchObject({ moved: true, landed: [] });
    expect(passes.flatMap((p) => p.landed).sort()).toEqual([a.mr, b.mr].sort());
    expect(rig.remoteHas(theirs)).toBe(true);
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'landed'],
    ]);
  });

  it('a branch deleted under the queue: the request is returned once (branch-missing), not every pass', async () => {
    const rig = await faultRig('mq-branch-gone');
    rig.settings({ gates: { test: ['sh', rig.check] } });
    const a = await rig.good('aster');
    const gone = await rig.good('gone');
    // The branch goes from the remote, and its commit from the remote and the rig's clone.
    git(rig.remote, 'update-ref', '-d', `refs/heads/${gone.branch}`);
    git(rig.remote, 'reflog', 'expire', '--expire=now', '--all');
    git(rig.remote, 'gc', '--quiet', '--prune=now');
    git(rig.repo, 'fetch', '--quiet', '--prune', 'origin');
    for (const ref of [`refs/remotes/origin/${gone.branch}`, `refs/heads/${gone.branch}`])
      git(rig.repo, 'update-ref', '-d', ref);
    git(rig.repo, 'reflog', 'expire', '--expire=now', '--all');
    git(rig.repo, 'gc', '--quiet', '--prune=now');
    expect(() => git(rig.repo, 'cat-file', '-e', `${gone.commit}^{commit}`)).toThrow();

    const returned: Pass['returned'] = [];
    for (let i = 0; i < 3; i++) returned.push(...(await rig.passes()).flatMap((p) => p.returned));
    expect(returned.map((r) => [r.id, r.cause])).toEqual([[gone.mr, 'branch-missing']]);
    await expectEnds(rig, [
      [a, 'landed'],
      [gone, 'returned'],
    ]);
  });

  it('a gate that hangs: it times out as a failure, nothing keeps running, and bisection finds the request', async () => {
    const rig = await faultRig('mq-hang');
    // With hang.txt the gate ignores SIGTERM and hangs, with a child in its group and one that left it.
    const gate = executable(
      join(rig.gates, 'hang.sh'),
      [
        'if [ -e hang.txt ]; then',
        "  trap '' TERM",
        `  echo $$ >> ${rig.pids}`,
        `  setsid sh -c 'echo $$ >> ${rig.pids}; exec sleep 300' &`,
        `  sleep 300 & echo $! >> ${rig.pids}`,
        '  wait',
        'fi',
        `exec sh ${rig.check}`,
        '',
      ].join('\n'),
    );
    rig.settings({ gates: { test: ['sh', gate] }, gate_timeout_seconds: 1, batch_min: 3, batch_max: 3 });
    const a = await rig.good('aster');
    const h = await rig.file('hangs', (d) => writeFileSync(join(d, 'hang.txt'), 'forever\n'));
    const c = await rig.good('cedar');
    const passes = await rig.passes();
    expect(passes.flatMap((p) => p.gateRuns).some((g) => g.timedOut && !g.ok)).toBe(true);
    expect(passes.flatMap((p) => p.returned).map((r) => [r.id, r.cause])).toEqual([[h.mr, 'fix-needed']]);
    expect(pidsIn(rig.pids).length).toBeGreaterThan(0);
    expect(pidsIn(rig.pids).filter(running)).toEqual([]);
    const task = (await tasksFor(rig.store, h.mr))[0] ?? '';
    expect((await rig.store.show([task]))[0]?.description).toMatch(/did not finish within 1 s/u);
    await expectEnds(rig, [
      [a, 'landed'],
      [h, 'returned'],
      [c, 'landed'],
    ]);
  });

  it('a flaky gate: the batch lands as flaky and nothing is returned', async () => {
    const rig = await faultRig('mq-flaky');
    const seen = join(rig.gates, 'seen');
    mkdirSync(seen);
    // The first run on any commit fails; the next one passes.
    const gate = executable(
      join(rig.gates, 'flaky.sh'),
      [
        'c=$(git rev-parse HEAD)',
        `if [ ! -e ${seen}/$c ]; then touch ${seen}/$c; echo "flaked on $c"; exit 1; fi`,
        `exec sh ${rig.check}`,
        '',
      ].join('\n'),
    );
    rig.settings({ gates: { test: ['sh', gate] }, batch_min: 3, batch_max: 3 });
    const reqs = [await rig.good('aster'), await rig.good('birch'), await rig.good('cedar')];
    const passes = await rig.passes();
    expect(passes[0]).toMatchObject({ flaky: true, returned: [] });
    expect(passes[0]?.landed.sort()).toEqual(reqs.map((r) => r.mr).sort());
    await expectEnds(
      rig,
      reqs.map((r) => [r, 'landed']),
    );
  });

  it("a red batch whose gate output names the culprit's file: two rounds, then the rest lands in the same pass", async () => {
    const rig = await faultRig('mq-evidence');
    rig.settings({ gates: { test: ['sh', rig.check] }, batch_min: 6, batch_max: 6 });
    const a = [await rig.good('aster'), await rig.good('birch'), await rig.good('cedar')];
    // The gate says "FAIL: broken.txt is there", and only this request adds broken.txt.
    const bad = await rig.file('dahlia', (d) => writeFileSync(join(d, 'broken.txt'), 'oops\n'));
    const b = [await rig.good('elder'), await rig.good('fir')];
    const [pass, ...rest] = await rig.passes();
    expect(pass?.requeued).toEqual([]);
    expect(pass?.batch).toHaveLength(6);
    // The whole batch; then beside each other its gate again and everything but the suspect.
    const runs = pass?.gateRuns.map((g) => `${g.members.length} ${g.ok ? 'pass' : 'fail'}`) ?? [];
    expect(runs[0]).toBe('6 fail');
    expect(runs.slice(1).sort()).toEqual(['5 pass', '6 fail']);
    expect(pass?.landed.sort()).toEqual([...a, ...b].map((r) => r.mr).sort());
    expect(pass?.returned).toEqual([{ id: bad.mr, cause: 'fix-needed', task: `${bad.mr}-fix1` }]);
    expect(rest.every((p) => p.landed.length === 0)).toBe(true);
    await expectEnds(rig, [...[...a, ...b].map((r): [Req, End] => [r, 'landed']), [bad, 'returned']]);
  });

  it('landing goes through the lander port: a pass calls it once per batch, and its refusal closes nothing', async () => {
    const rig = await faultRig('mq-lander');
    rig.settings({ gates: { test: ['sh', rig.check] } });
    const reqs = [await rig.good('aster'), await rig.good('birch')];
    const calls: string[] = [];
    const refusing: Lander = {
      ...pushLander,
      land: (_repo, commit, target) => {
        calls.push(`land ${target} ${commit}`);
        return Promise.resolve({ landed: false, reason: 'refused', detail: 'the forge wants a review' });
      },
    };
    const ctx = { town: rig.town, store: rig.store, actor: 'gastown/refinery', now: () => Date.now() };
    const refused = await runPass({ ...ctx, lander: refusing }, 'gastown');
    expect(calls).toHaveLength(1);
    expect(refused.landed).toEqual([]);
    expect(refused.refused?.detail).toBe('the forge wants a review');
    expect(git(rig.remote, 'rev-parse', 'refs/heads/main').trim()).toBe(rig.start);
    // The default lander pushes: everything lands, and the refusal's escalation is closed.
    const recording: Lander = {
      ...pushLander,
      land: (...args) => {
        calls.push('push');
        return pushLander.land(...args);
      },
    };
    const landed = await runPass({ ...ctx, lander: recording }, 'gastown');
    expect(calls.at(-1)).toBe('push');
    expect(landed.landed.sort()).toEqual(reqs.map((r) => r.mr).sort());
    const escalations = await escalationsNaming(rig.store, 'refuses');
    expect(escalations).toHaveLength(1);
    expect((await rig.store.show(escalations)).map((e) => e.status)).toEqual(['closed']);
    await expectEnds(
      rig,
      reqs.map((r) => [r, 'landed']),
    );
  });

  it('a rig with no gate: what merges cleanly lands after the merge check alone, a conflict goes back', async () => {
    const rig = await faultRig('mq-no-gate');
    rig.settings({});
    const a = await rig.file('aster', (d) => writeFileSync(join(d, 'app.txt'), 'aster\n'));
    const b = await rig.good('birch');
    const c = await rig.file('cedar', (d) => writeFileSync(join(d, 'app.txt'), 'cedar\n'));
    const passes = await rig.passes();
    expect(passes.flatMap((p) => p.gateRuns)).toEqual([]);
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'landed'],
      [c, 'returned'],
    ]);
    expect(passes.flatMap((p) => p.returned).map((r) => r.cause)).toEqual(['conflict']);
  });

  it('one pass per rig at a time: a second pass started meanwhile says so and changes nothing', async () => {
    const rig = await faultRig('mq-one-pass');
    const started = join(rig.gates, 'started');
    const release = join(rig.gates, 'release');
    // The gate says it started, then waits to be released.
    const gate = executable(
      join(rig.gates, 'held.sh'),
      [`echo $$ >> ${rig.pids}`, `touch ${started}`, `while [ ! -e ${release} ]; do sleep 0.05; done`, ''].join('\n'),
    );
    rig.settings({ gates: { test: ['sh', gate] } });
    const reqs = [await rig.good('aster'), await rig.good('birch')];
    const first = rig.refinery('--json');
    await waitFor(() => existsSync(started), 'the first pass to start its gate');
    const second = await rig.refinery('--json');
    expect(second.status).not.toBe(0);
    expect(second.stderr).toMatch(/another pass of gastown's refinery is running/);
    // Meanwhile the batch shows as testing, and a reject by hand waits for the pass.
    const states = await Promise.all(reqs.map(async (q) => (await rig.store.show([q.mr]))[0]?.metadata.mq_state));
    expect(states).toEqual(['testing', 'testing']);
    const reject = await gtAsync(['mq', 'reject', reqs[0]?.mr ?? ''], { cwd: rig.root, env: rig.env });
    expect(reject.status).not.toBe(0);
    expect(reject.stderr).toMatch(/being tested by a refinery pass/);
    writeFileSync(release, '');
    const r = await first;
    expect(r.status, r.stderr).toBe(0);
    await expectEnds(
      rig,
      reqs.map((q) => [q, 'landed']),
    );
  });

  it('a remote that refuses pushes: one escalation, nothing closed, exit non-zero; it all lands once it accepts', async () => {
    const rig = await faultRig('mq-refused');
    rig.settings({ gates: { test: ['sh', rig.check] }, batch_min: 3 });
    const refuse = join(rig.gates, 'REFUSE');
    executable(
      join(rig.remote, 'hooks', 'pre-receive'),
      `if [ -e ${refuse} ]; then echo "refused by policy: main is frozen" >&2; exit 1; fi\n`,
    );
    const a = await rig.good('aster');
    const b = await rig.file('birch', (d) => writeFileSync(join(d, 'broken.txt'), 'b\n'));
    const c = await rig.good('cedar');
    writeFileSync(refuse, '');
    for (let i = 0; i < 2; i++) {
      const r = await rig.refinery();
      expect(r.status).toBe(8);
      const last = r.stderr.trimEnd().split('\n').at(-1) ?? '';
      expect(last).toMatch(/^Error: .*refused by policy: main is frozen.* — .+/u);
    }
    // Nothing landed or half-closed: the innocent requests are queued, the culprit returned once.
    const [mra, mrc] = await rig.store.show([a.mr, c.mr]);
    for (const x of [mra, mrc]) {
      expect(x?.status).not.toBe('closed');
      expect(x?.metadata.mq_state ?? 'queued').toBe('queued');
    }
    expect(git(rig.remote, 'rev-parse', 'refs/heads/main').trim()).toBe(rig.start);
    const escalations = await escalationsNaming(rig.store, 'refused by policy');
    expect(escalations).toHaveLength(1);
    const [esc] = await rig.store.show(escalations);
    expect(esc?.status).toBe('open');

    rmSync(refuse);
    const passes = await rig.passes();
    expect(passes.flatMap((p) => p.landed).sort()).toEqual([a.mr, c.mr].sort());
    expect((await rig.store.show(escalations))[0]?.status).toBe('closed');
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'returned'],
      [c, 'landed'],
    ]);
  });

  it('max_attempts: a request that keeps failing is escalated exactly once', async () => {
    const rig = await faultRig('mq-attempts');
    rig.settings({ gates: { test: ['sh', rig.check] }, max_attempts: 1 });
    const a = await rig.good('aster');
    const b = await rig.file('birch', (d) => writeFileSync(join(d, 'broken.txt'), 'b\n'));
    await rig.passes();
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'returned'],
    ]);
    // Its task is closed without a fix: it comes back, fails again, and is escalated, once.
    const [task] = await tasksFor(rig.store, b.mr);
    await rig.store.close([task ?? ''], { reason: 'tried' }, 'tester');
    const escalated: string[] = [];
    for (let i = 0; i < 4; i++) escalated.push(...(await rig.passes()).flatMap((p) => p.escalated));
    expect(escalated).toEqual([b.mr]);
    await expectEnds(rig, [
      [a, 'landed'],
      [b, 'escalated'],
    ]);
    // Routed to people by the town's routes, once: the bead, and mail to the mayor.
    const [esc] = await rig.store.list({ types: ['escalation'] });
    const routes = esc?.metadata.routes as { route: string; ok: boolean }[] | undefined;
    expect(routes?.map((r) => [r.route, r.ok])).toEqual([
      ['bead', true],
      ['mail:mayor', true],
    ]);
    const mayor = await rig.store.list({ assignee: 'mayor', types: ['message'], limit: 0 });
    expect(mayor.filter((m) => m.title.includes(esc?.id ?? '?') || m.title.includes(b.mr))).toHaveLength(1);
  });
});
