import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GT_BIN, gt, gtAsync, json, type RunResult } from './helpers/bd.js';
import { fileMergeRequest, type FiledRequest } from './helpers/merge-requests.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';
import { closeLanded } from '../src/refinery/outcomes.js';
import { readMergeRequest } from '../src/core/merge-request.js';
import type { TownStore } from '../src/core/town-store.js';

/**
 * The merge queue by hand and what it tells people, over a real rig and the built gt: gt mq list (queue order,
 * cause, source, age), gt mq retry and reject, the mail a landing sends (once, however often it is closed),
 * gt status's merged today, and a polecat's own gates (gt gates) passed on to the merge request by gt done.
 */
const fixture = useSessionTowns();

type Row = {
  id: string;
  state: string;
  cause: string | null;
  position: number | null;
  age_ms: number;
  source: string;
  waitingOn: string | null;
  retries: number;
  boost: number;
};
type Pass = { landed: string[]; returned: { id: string; cause: string; task: string }[]; escalated: string[] };

/** The rig's gate: the project must not hold broken.txt. */
const CHECK = 'if [ -e broken.txt ]; then echo "FAIL: broken.txt is there"; exit 1; fi\necho ok\n';

function settings(f: SessionTown, refinery: Record<string, unknown>): void {
  writeFileSync(join(f.town.root, 'gastown', 'settings.json'), JSON.stringify({ version: 1, refinery }));
}

async function rig(label: string) {
  const f = await fixture(label);
  const store = f.store();
  const work = join(f.base, 'work');
  const remote = join(f.base, 'remote.git');
  const check = join(f.base, 'check.sh');
  writeFileSync(check, CHECK);
  // toast wrote every branch and is busy with other work: what is returned waits in the store for it.
  await store.hook('gastown/polecats/toast', (await store.create({ title: 'other work' }, 'mayor')).id, 'mayor');
  let n = 0;
  const run = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: f.town.root, env: f.env });
  return {
    f,
    store,
    remote,
    check,
    run,
    file(name: string, broken: boolean): Promise<FiledRequest> {
      return fileMergeRequest(store, {
        work,
        remote,
        name,
        branch: `polecat/${name}/job@${++n}`,
        worker: 'toast',
        change: (d) => writeFileSync(join(d, broken ? 'broken.txt' : `${name}.txt`), `${name}\n`),
      });
    },
    async passes(): Promise<Pass[]> {
      const r = await run('refinery', 'run', 'gastown', '--until-empty', '--json');
      expect(r.status, r.stderr).toBe(0);
      return json<Pass[]>(r);
    },
    async list(...flags: string[]): Promise<Row[]> {
      const r = await run('mq', 'list', 'gastown', '--json', ...flags);
      expect(r.status, r.stderr).toBe(0);
      return json<Row[]>(r);
    },
    remoteHasBranch(branch: string): boolean {
      return git(remote, 'for-each-ref', '--format=%(refname)', 'refs/heads/').includes(`refs/heads/${branch}\n`);
    },
  };
}

async function mailTo(
  store: TownStore,
  address: string,
): Promise<{ id: string; title: string; description: string }[]> {
  return store.list({ assignee: address, types: ['message'], statuses: ['open', 'closed'], limit: 0 });
}

describe('gt mq by hand', () => {
  it('lists in queue order with cause, source and age; retry requeues, reject takes out for good', async () => {
    const r = await rig('mq-hand');
    settings(r.f, { gates: { test: ['sh', r.check] }, batch_min: 3, max_attempts: 1 });
    const aster = await r.file('aster', true);
    const birch = await r.file('birch', false);
    const cedar = await r.file('cedar', true);
    await r.store.update([birch.mr], { priority: 0 }, 'mayor');

    // Before any pass: all three queued, birch first (priority 0), then first come first served.
    const before = await r.list();
    expect(before.map((x) => [x.id, x.state, x.position])).toEqual([
      [birch.mr, 'queued', 1],
      [aster.mr, 'queued', 2],
      [cedar.mr, 'queued', 3],
    ]);
    expect(before.every((x) => x.age_ms >= 0 && x.source !== '' && x.cause === null)).toBe(true);
    const text = (await r.run('mq', 'list', 'gastown')).stdout;
    expect(text).toMatch(/^POS +ID +STATE +CAUSE +AGE +P +SOURCE +TITLE/mu);
    expect(text).toContain(`1    ${birch.mr}`);

    const first = await r.passes();
    expect(first.flatMap((p) => p.landed)).toEqual([birch.mr]);
    const after = await r.list();
    expect(after.map((x) => [x.id, x.state, x.cause, x.position])).toEqual([
      [aster.mr, 'returned', 'fix-needed', null],
      [cedar.mr, 'returned', 'fix-needed', null],
    ]);
    const asterTask = after[0]?.waitingOn ?? '';
    expect(asterTask).toBe(`${aster.mr}-fix1`);

    // Refusals: a landed request, an unknown id, a bead that is no merge request; nothing is written.
    const landed = await r.run('mq', 'retry', birch.mr);
    expect(landed.status).toBe(4);
    expect(landed.stderr).toMatch(/cannot retry .* has landed in main at [0-9a-f]{12}/u);
    expect((await r.run('mq', 'retry', 'ga-mrnonesuch')).status).toBe(3);
    expect((await r.run('mq', 'reject', aster.source)).stderr).toMatch(/no merge request/u);
    expect((await r.run('mq', 'reject', birch.mr)).status).toBe(4);

    // retry: back in the queue, ahead of its peers, its task closed as retried by hand.
    const retried = await r.run('mq', 'retry', aster.mr, '--json');
    expect(retried.status, retried.stderr).toBe(0);
    expect(json<{ request: Row; closed: string }>(retried)).toMatchObject({
      request: { state: 'queued', waitingOn: null, boost: 1, retries: 1 },
      closed: asterTask,
    });
    const [task] = await r.store.show([asterTask]);
    expect(task?.status).toBe('closed');
    expect(task?.close_reason).toMatch(/retried by hand/u);
    expect((await r.run('mq', 'retry', aster.mr)).stderr).toMatch(/queued already/u);
    expect((await r.list()).map((x) => [x.id, x.state, x.position])).toEqual([
      [aster.mr, 'queued', 1],
      [cedar.mr, 'returned', null],
    ]);

    // reject: closed as rejected, its task closed, its source open and unassigned with a comment, branch kept.
    const cedarTask = `${cedar.mr}-fix1`;
    const rejected = await r.run('mq', 'reject', cedar.mr, '--reason', 'not wanted after all', '--json');
    expect(rejected.status, rejected.stderr).toBe(0);
    expect(json<{ request: Row; closed: string[]; source: { status: string } }>(rejected)).toMatchObject({
      request: { state: 'rejected' },
      closed: [cedarTask],
      source: { id: cedar.source, status: 'open' },
    });
    const [mrBead, src, ctask] = await r.store.show([cedar.mr, cedar.source, cedarTask]);
    expect(mrBead).toMatchObject({ status: 'closed', metadata: { mq_state: 'rejected' } });
    expect(mrBead?.close_reason).toContain('not wanted after all');
    expect(src).toMatchObject({ status: 'open', assignee: null });
    const said = (await r.store.comments(cedar.source)).map((c) => c.text).join('\n');
    expect(said).toContain('not wanted after all');
    expect(said).toContain(`The work stays on branch ${cedar.branch}`);
    expect(ctask?.status).toBe('closed');
    expect(r.remoteHasBranch(cedar.branch)).toBe(true);
    // Again: nothing more is written; and a rejected request cannot be retried.
    expect(json<{ already: boolean }>(await r.run('mq', 'reject', cedar.mr, '--json')).already).toBe(true);
    expect((await r.store.comments(cedar.mr)).filter((c) => c.text.startsWith('Rejected by'))).toHaveLength(1);
    expect((await r.run('mq', 'retry', cedar.mr)).stderr).toMatch(/rejected for good/u);
    expect((await r.list()).map((x) => x.id)).toEqual([aster.mr]);
    expect((await r.list('--all')).map((x) => [x.id, x.state])).toEqual([
      [aster.mr, 'queued'],
      [birch.mr, 'landed'],
      [cedar.mr, 'rejected'],
    ]);

    // aster, retried unfixed, fails again: past max_attempts it is escalated; retried again, it fails again and
    // gets a new escalation (the first one was closed by the retry), never a closed one to wait on.
    expect((await r.passes()).flatMap((p) => p.escalated)).toEqual([aster.mr]);
    const esc1 = readMergeRequest((await r.store.show([aster.mr]))[0]!)?.waitingOn ?? '';
    expect(esc1).toMatch(/-esc/u);
    expect(json<{ closed: string }>(await r.run('mq', 'retry', aster.mr, '--json')).closed).toBe(esc1);
    expect((await r.passes()).flatMap((p) => p.escalated)).toEqual([aster.mr]);
    const esc2 = readMergeRequest((await r.store.show([aster.mr]))[0]!)?.waitingOn ?? '';
    expect(esc2).not.toBe(esc1);
    expect((await r.store.show([esc1, esc2])).map((e) => e.status)).toEqual(['closed', 'open']);
    // Nothing but birch ever reached main.
    for (const x of [aster, cedar])
      expect(() => git(r.remote, 'merge-base', '--is-ancestor', x.commit, 'refs/heads/main')).toThrow();
  }, 180_000);

  it('a landing mails its polecat and the witness once, even closed twice; gt status shows what merged today', async () => {
    const r = await rig('mq-told');
    settings(r.f, { gates: { test: ['sh', r.check] }, batch_min: 2 });
    const aster = await r.file('aster', false);
    const birch = await r.file('birch', false);
    expect((await r.passes()).flatMap((p) => p.landed).sort()).toEqual([aster.mr, birch.mr].sort());
    const head = git(r.remote, 'rev-parse', 'refs/heads/main').trim();

    for (const to of ['gastown/polecats/toast', 'gastown/witness']) {
      const mail = await mailTo(r.store, to);
      expect(mail.map((m) => m.title).sort(), to).toEqual(
        [`Landed on main: aster's job (${aster.mr})`, `Landed on main: birch's job (${birch.mr})`].sort(),
      );
      const about = mail.find((m) => m.title.includes(aster.mr));
      expect(about?.description).toContain(`landed on main at ${head.slice(0, 12)} (landed in a batch of 2)`);
      expect(about?.description).toContain(aster.source);
    }
    // Mail, not a typed nudge: nothing marked it announced; the agents hear of it at their next turn.
    expect((await r.store.labels(`${aster.mr}-landed-w`)).includes('gt:notified')).toBe(false);

    // A pass killed after the mail and before the request closed runs closeLanded again: no second mail.
    await r.store.reopen([aster.mr], 'as if the pass died before closing it', 'tester');
    const mr = readMergeRequest((await r.store.show([aster.mr]))[0]!);
    if (mr === undefined) throw new Error('not a request');
    const ctx = { town: r.f.town, store: r.store, actor: 'gastown/refinery', now: () => Date.now() };
    const repo = join(r.f.town.root, 'gastown', '.repo.git');
    await closeLanded(ctx, repo, mr, head, 'found in the target already');
    await closeLanded(ctx, repo, mr, head, 'found in the target already');
    expect((await r.store.show([aster.mr]))[0]?.status).toBe('closed');
    for (const to of ['gastown/polecats/toast', 'gastown/witness'])
      expect(
        (await mailTo(r.store, to)).filter((m) => m.title.includes(aster.mr)),
        to,
      ).toHaveLength(1);
    expect((await r.store.comments(aster.mr)).filter((c) => c.text.startsWith('Landed in '))).toHaveLength(1);

    // gt status: merged today, the count and the newest titles; --json too.
    const status = await r.run('status');
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Merged today: 2 · newest: .*(aster|birch)'s job/u);
    const snap = json<{ merged_today: { count: number; recent: { id: string; landed_in: string }[] } }>(
      await r.run('status', '--json'),
    );
    expect(snap.merged_today.count).toBe(2);
    expect(snap.merged_today.recent.map((m) => m.id).sort()).toEqual([aster.mr, birch.mr].sort());
    expect(snap.merged_today.recent.every((m) => m.landed_in === head)).toBe(true);
  }, 120_000);
});

describe('gt gates', () => {
  it("runs the rig's gates on HEAD in the sandbox, records them, and gt done passes the commit on", async () => {
    const f = await fixture('gates-own');
    const s = f.store();
    const check = join(f.base, 'check.sh');
    writeFileSync(check, CHECK);
    settings(f, { gates: { lint: ['sh', '-c', 'echo linted'], test: ['sh', check] } });
    const toast = 'gastown/polecats/toast';
    const bead = await s.create({ title: 'gated work' }, 'mayor');
    await s.hook(toast, bead.id, 'mayor');
    const sandbox = (await s.agent(toast)).sandbox_path;
    const env = { ...f.env, GT_ROLE: toast, BD_ACTOR: toast };
    const gates = (...args: string[]): RunResult => gt(['gates', ...args], { cwd: sandbox, env });

    // prime tells a polecat of a rig with gates to run them.
    expect(gt(['prime'], { cwd: sandbox, env }).stdout).toContain('run `gt gates`');

    // Dirty: refused, nothing run.
    writeFileSync(join(sandbox, 'broken.txt'), 'x\n');
    const dirty = gates();
    expect(dirty.status).toBe(2);
    expect(dirty.stderr).toMatch(/uncommitted changes \(broken\.txt\)/u);

    // A failing gate: exit 1, the output's tail shown, recorded as failed.
    git(sandbox, 'add', '-A');
    git(sandbox, 'commit', '-q', '-m', 'broken');
    const red = gates();
    expect(red.status).toBe(1);
    expect(red.stdout).toContain('✗ test');
    expect(red.stdout).toContain('FAIL: broken.txt is there');
    expect(red.stderr).toMatch(/the gate "test" failed/u);

    git(sandbox, 'rm', '-q', 'broken.txt');
    git(sandbox, 'commit', '-q', '-m', 'fixed');
    const head = git(sandbox, 'rev-parse', 'HEAD').trim();
    const green = gates('--json');
    expect(green.status, green.stderr).toBe(0);
    expect(
      json<{ ok: boolean; recorded: boolean; commit: string; gates: { name: string; ok: boolean }[] }>(green),
    ).toMatchObject({
      ok: true,
      recorded: true,
      commit: head,
      gates: [
        { name: 'lint', ok: true },
        { name: 'test', ok: true },
      ],
    });
    const runs = await s.events({ issueId: toast, eventType: 'gates_run' });
    expect(runs.map((e) => (JSON.parse(e.new_value ?? '{}') as { ok: boolean }).ok)).toEqual([false, true]);

    // gt done submits that commit: the merge request says its gates passed on it.
    const done = gt(['done', '--json'], { cwd: sandbox, env });
    expect(done.status, done.stderr).toBe(0);
    const r = json<{ merge_request: string; commit: string; gates_passed_on: string | null }>(done);
    expect(r).toMatchObject({ commit: head, gates_passed_on: head });
    const [mr] = await s.show([r.merge_request]);
    expect(mr?.metadata.mq_gates_passed_on).toBe(head);
    expect(readMergeRequest(mr!)?.gatesPassedOn).toBe(head);

    // The refinery takes the polecat's own gates for it: the target is still inside the branch, so the request
    // lands untested.
    const pass = gt(['refinery', 'run', 'gastown', '--json'], { cwd: f.town.root, env: f.env });
    expect(pass.status, pass.stderr).toBe(0);
    const [report] = json<{ landed: string[]; reused: string[]; gateRuns: unknown[] }[]>(pass);
    expect(report).toMatchObject({ landed: [r.merge_request], reused: [r.merge_request], gateRuns: [] });

    // Gates passed on an earlier commit count for nothing once another commit is handed in.
    const next = await s.create({ title: 'more work' }, 'mayor');
    await s.hook(toast, next.id, 'mayor');
    writeFileSync(join(sandbox, 'more.txt'), 'more\n');
    git(sandbox, 'add', '-A');
    git(sandbox, 'commit', '-q', '-m', 'more');
    expect(gates().status).toBe(0);
    git(sandbox, 'commit', '-q', '--allow-empty', '-m', 'one more, untested');
    const later = json<{ merge_request: string; gates_passed_on: string | null }>(
      gt(['done', '--json'], { cwd: sandbox, env }),
    );
    expect(later.gates_passed_on).toBeNull();
    expect((await s.show([later.merge_request]))[0]?.metadata.mq_gates_passed_on).toBeUndefined();

    // Not a sandbox agent: refused with what to do.
    expect(gt(['gates'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/witness' } }).stderr).toMatch(
      /gt gates runs in a polecat's or crew member's sandbox/u,
    );
  }, 120_000);

  it('stops its gates when it is interrupted, and records nothing', async () => {
    const f = await fixture('gates-stop');
    const s = f.store();
    const pidFile = join(f.base, 'gate.pid');
    const gate = join(f.base, 'hang.sh');
    writeFileSync(gate, `echo $$ > ${pidFile}\nexec sleep 300\n`);
    settings(f, { gates: { hang: ['sh', gate] } });
    const toast = 'gastown/polecats/toast';
    const sandbox = (await s.agent(toast)).sandbox_path;
    const child = spawn(process.execPath, [GT_BIN, 'gates'], {
      cwd: sandbox,
      env: { ...f.env, GT_ROLE: toast },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await eventually(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the gate to start');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    await eventually(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the gate to be gone');
    expect(await s.events({ issueId: toast, eventType: 'gates_run' })).toEqual([]);
  }, 60_000);
});
