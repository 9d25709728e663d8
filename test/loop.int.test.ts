import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gt, gtAsync, json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';

/**
 * The propulsion loop end to end with real tmux, git, the store and the sim agent: sling → prime → work →
 * gt done; a session killed mid-work and restarted; concurrent slings of one bead; gt done crashing between
 * its steps; hostile text.
 */

type Fixture = SessionTown;
const fixture = useSessionTowns();

type SlingResult = { bead: string; agent: string; session: string; created: boolean; action: string };
type Report = { step: string; bead?: string; done_exit?: number | null; merge_request?: string | null };

const script = (file: string, text: string): string =>
  `Write ${file}.\n\n\`\`\`sh\nprintf '%s\\n' '${text}' > ${file}\n\`\`\`\n`;

function remoteBranches(f: Fixture): string[] {
  return execFileSync('git', ['for-each-ref', '--format=%(refname:short)', 'refs/heads/polecat'], {
    cwd: join(f.base, 'remote.git'),
    encoding: 'utf8',
  })
    .split('\n')
    .filter((l) => l !== '');
}

describe('the loop with the sim agent', () => {
  it('slings three beads to a rig: three polecats prime, work, commit and hand in; three merge requests', async () => {
    const f = await fixture('loop-three');
    const s = f.store();
    const beads = [];
    // Each part waits for the go file, so that no polecat is idle again (and so reused) before all are slung.
    const go = join(f.base, 'go');
    const waiting = (file: string, text: string): string =>
      `Wait for the go, then write ${file}.\n\n\`\`\`sh\nwhile [ ! -e '${go}' ]; do sleep 0.05; done\nprintf '%s\\n' '${text}' > ${file}\n\`\`\`\n`;
    for (const n of [1, 2, 3])
      beads.push(await s.create({ title: `part ${n}`, description: waiting(`part${n}.txt`, `part ${n}`) }, 'mayor'));
    const slung = json<SlingResult[]>(f.run('sling', ...beads.map((b) => b.id), 'gastown', '--json'));
    writeFileSync(go, '');
    expect(slung).toHaveLength(3);
    expect(new Set(slung.map((r) => r.agent)).size).toBe(3);
    expect(slung.every((r) => r.action === 'started')).toBe(true);
    // toast (made by the fixture, idle) was reused for the first; two were made.
    expect(slung.map((r) => r.created)).toEqual([false, true, true]);

    for (const r of slung) {
      await eventually(
        () => f.trace(r.session).some((t: Report) => t.step === 'report'),
        `${r.agent} to hand in`,
        60_000,
      );
      const report = f.trace(r.session).find((t: Report) => t.step === 'report') as Report;
      expect(report.done_exit).toBe(0);
    }
    expect(remoteBranches(f)).toHaveLength(3);
    const mrs = (await s.list({ types: ['merge-request'] })).map((m) => m.id);
    expect(mrs).toHaveLength(3);
    for (const [i, b] of beads.entries()) {
      const [bead] = await s.show([b.id]);
      expect(bead).toMatchObject({ status: 'in_progress', assignee: slung[i]?.agent });
      expect(mrs).toContain(bead?.metadata.gt_merge_request);
      const agent = await s.agent(slung[i]?.agent ?? '');
      expect(agent).toMatchObject({ hook_bead: null, agent_state: 'idle' });
      expect(git(agent.sandbox_path, 'show', 'HEAD:part' + String(i + 1) + '.txt')).toBe(`part ${i + 1}\n`);
    }
  }, 180_000);

  it('survives kill -9 mid-work: a restarted session finds the same sandbox, branch and hook, and finishes once', async () => {
    const f = await fixture('loop-kill');
    const s = f.store();
    const bead = await s.create(
      { title: 'slow work', description: '```sh\nsleep 2\nprintf "slow\\n" > slow.txt\n```' },
      'mayor',
    );
    const [r] = json<SlingResult[]>(f.run('sling', bead.id, 'gastown/polecats/toast', '--json'));
    expect(r?.agent).toBe('gastown/polecats/toast');
    const session = r?.session ?? '';
    await eventually(() => f.trace(session).some((t: Report) => t.step === 'running'), 'the work to start');
    const branch = (await s.agent('gastown/polecats/toast')).branch;
    await f.killAgent(session);
    await eventually(
      () =>
        json<{ liveness: string }>(f.run('session', 'status', 'gastown/polecats/toast', '--json')).liveness === 'dead',
      'the agent to be dead',
    );
    expect((await s.agent('gastown/polecats/toast')).hook_bead).toBe(bead.id);

    f.run('session', 'restart', 'gastown/polecats/toast');
    await eventually(
      () => f.trace(session).some((t: Report) => t.step === 'report'),
      'the restarted agent to hand in',
      60_000,
    );
    const agent = await s.agent('gastown/polecats/toast');
    expect(agent).toMatchObject({ hook_bead: null, branch });
    expect(await s.list({ types: ['merge-request'] })).toHaveLength(1);
    expect(remoteBranches(f)).toEqual([branch]);
    const chain = await s.sessions('gastown/polecats/toast');
    expect(chain.map((c) => c.end_reason)).toEqual([null, 'replaced']);
  }, 120_000);

  it('20 concurrent slings of one bead: one winner, one session, no debris', async () => {
    const f = await fixture('loop-race');
    const s = f.store();
    // Make toast busy so every sling needs a new polecat.
    const other = await s.create({ title: 'other' }, 'mayor');
    await s.hook('gastown/polecats/toast', other.id, 'mayor');
    const bead = await s.create({ title: 'contested', description: script('c.txt', 'c') }, 'mayor');
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        gtAsync(['sling', bead.id, 'gastown', '--json'], { cwd: f.town.root, env: f.env }),
      ),
    );
    const winners = results.filter((r) => r.status === 0);
    expect(winners).toHaveLength(1);
    for (const loser of results.filter((r) => r.status !== 0)) expect(loser.stderr).toMatch(/already on .*hook/);
    const polecats = await s.agents({ rig: 'gastown', role: 'polecat' });
    expect(polecats.map((p) => p.name).sort()).toEqual(
      [
        'toast',
        json<SlingResult[]>(winners[0] ?? { status: 1, stdout: '', stderr: '' })[0]?.agent.split('/')[2],
      ].sort(),
    );
    expect(await f.provider.list()).toHaveLength(1);
    const worktrees =
      execFileSync('git', ['worktree', 'list', '--porcelain'], {
        cwd: join(f.town.root, 'gastown', '.repo.git'),
        encoding: 'utf8',
      }).match(/^worktree /gm) ?? [];
    // The bare repository itself, the refinery, toast, and the winner.
    expect(worktrees).toHaveLength(4);
  }, 180_000);

  for (const target of ['existing', 'new'] as const)
    it(`12 concurrent slings of one bead to one named polecat (${target}): one winner, whose session does it once`, async () => {
      const f = await fixture(`loop-named-${target}`);
      const s = f.store();
      const address = target === 'existing' ? 'gastown/polecats/toast' : 'gastown/polecats/cedar';
      const bead = await s.create({ title: 'contested', description: script('n.txt', 'n') }, 'mayor');
      const args = ['sling', bead.id, address, '--json', ...(target === 'new' ? ['--create'] : [])];
      const results = await Promise.all(
        Array.from({ length: 12 }, () => gtAsync(args, { cwd: f.town.root, env: f.env })),
      );
      const winners = results.filter((r) => r.status === 0);
      expect(winners, results.map((r) => r.stderr).join('\n')).toHaveLength(1);
      for (const loser of results.filter((r) => r.status !== 0)) {
        expect(loser.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(loser.stderr).toMatch(/already on .*hook|already exists|already has a polecat named/);
      }
      // The winner's hook and session stand; the work is done once, and handed in once.
      const session = (await s.agent(address)).session_name;
      expect(await f.provider.list()).toEqual([session]);
      await eventually(() => f.trace(session).some((t) => t.step === 'report'), 'the work to be handed in', 60_000);
      expect(f.trace(session).filter((t) => t.step === 'running')).toHaveLength(1);
      expect((await s.list({ types: ['merge-request'] })).length).toBe(1);
      expect((await s.agents({ rig: 'gastown', role: 'polecat' })).map((a) => a.name).sort()).toEqual(
        target === 'existing' ? ['toast'] : ['cedar', 'toast'],
      );
    }, 180_000);

  it('delivers hostile titles and arguments as text, executing nothing', async () => {
    const f = await fixture('loop-hostile');
    const s = f.store();
    const marker = join(f.base, 'pwned');
    const bead = await s.create(
      { title: `$(touch ${marker}) \`touch ${marker}\` "; touch ${marker}`, description: 'No script.' },
      'mayor',
    );
    const r = f.run('sling', bead.id, 'gastown/polecats/toast', '--args', `'; touch ${marker}; echo '`, '--json');
    expect(r.status, r.stderr).toBe(0);
    await eventually(() => f.trace('ga-toast').some((t: Report) => t.step === 'stuck'), 'the sim to read its work');
    const prime = gt(['prime', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/polecats/toast' } });
    const report = json<{ hook: { title: string }; text: string }>(prime);
    expect(report.hook.title).toBe(bead.title);
    expect(report.text).toContain(`'; touch ${marker}; echo '`);
    expect(() => readFileSync(marker)).toThrow();
  });
});

describe('gt hook, gt unsling, gt sling --dry-run, gt prime --hook', () => {
  it('attaches without starting, shows, detaches; a dry run changes nothing; a broken prime never fails its hook', async () => {
    const f = await fixture('hook-cmds');
    const s = f.store();
    const bead = await s.create({ title: 'attach me' }, 'mayor');
    const as = (who: string, ...args: string[]): ReturnType<typeof gt> =>
      gt(args, { cwd: f.town.root, env: { ...f.env, GT_ROLE: who, BD_ACTOR: who } });
    const dry = json<{ dry_run: boolean; agent: string }[]>(f.run('sling', bead.id, 'gastown', '--dry-run', '--json'));
    expect(dry[0]).toMatchObject({ dry_run: true });
    expect((await s.show([bead.id]))[0]?.status).toBe('open');
    expect(await f.provider.list()).toEqual([]);

    expect(as('mayor', 'hook', bead.id, 'gastown/crew/nobody').status).toBe(3);
    const hooked = json<{ action: string; agent: string }>(
      as('mayor', 'hook', bead.id, 'gastown/polecats/toast', '--args', 'carefully', '--json'),
    );
    expect(hooked).toMatchObject({ action: 'none', agent: 'gastown/polecats/toast' });
    expect(await f.provider.list()).toEqual([]);
    expect(
      json<{ hook: { id: string; args: string } }>(as('gastown/polecats/toast', 'hook', '--json')).hook,
    ).toMatchObject({ id: bead.id, args: 'carefully' });
    expect(as('gastown/polecats/toast', 'hook').stdout).toContain(`${bead.id} attach me [hooked]`);
    expect(json<{ unhooked: string }>(as('gastown/polecats/toast', 'unsling', '--json')).unhooked).toBe(bead.id);
    expect((await s.show([bead.id]))[0]).toMatchObject({ status: 'open', assignee: null });
    expect(as('gastown/polecats/toast', 'hook').stdout).toContain('nothing on the hook');

    const broken = gt(['prime', '--hook'], {
      cwd: f.town.root,
      env: { ...f.env, GT_ROLE: 'gastown/polecats/ghost' },
      input: '{"session_id":"x"}',
    });
    expect(broken.status).toBe(0);
    expect(broken.stdout).toContain('prime could not finish');
    const outside = gt(['prime', '--hook'], { cwd: '/', env: f.env });
    expect(outside).toMatchObject({ status: 0, stdout: '' });
    expect(f.run('sling', bead.id).status).toBe(2);
    expect(f.run('sling', 'hq-nonesuch', 'gastown').status).toBe(3);
    expect(f.run('sling', bead.id, 'gastown', '--agent', 'nonesuch').status).toBe(2);
    expect((await s.show([bead.id]))[0]?.status).toBe('open');
  });
});

describe('gt done', () => {
  it('ends in the same state after a crash between any two steps, with one merge request', async () => {
    const f = await fixture('done-crash');
    const s = f.store();
    for (const step of ['commit', 'push', 'request', 'source', 'release']) {
      const bead = await s.create({ title: `crash after ${step}` }, 'mayor');
      f.run('polecat', 'add', 'gastown', step === 'commit' ? 'c1' : `c-${step}`);
      const address = `gastown/polecats/${step === 'commit' ? 'c1' : `c-${step}`}`;
      await s.hook(address, bead.id, 'mayor');
      const sandbox = (await s.agent(address)).sandbox_path;
      git(sandbox, 'commit', '--allow-empty', '-q', '-m', 'work');
      execFileSync('sh', ['-c', 'echo unsaved > left.txt'], { cwd: sandbox });
      const env = { ...f.env, GT_ROLE: address, BD_ACTOR: address };
      const crashed = gt(['done'], { cwd: sandbox, env: { ...env, GT_TEST_DONE_CRASH_AFTER: step } });
      expect(crashed.status, step).toBe(70);
      const again = gt(['done', '--json'], { cwd: sandbox, env });
      expect(again.status, again.stderr).toBe(0);
      const result = json<{ merge_request: string; commit: string; branch: string }>(again);
      expect(result.merge_request).toMatch(/^ga-mr[0-9a-f]{12}$/); // the rig's work, in the rig's prefix
      const [after] = await s.show([bead.id]);
      expect(after).toMatchObject({ status: 'in_progress', metadata: { gt_merge_request: result.merge_request } });
      expect((await s.comments(bead.id)).filter((c) => c.text.startsWith('Submitted by'))).toHaveLength(1);
      expect((await s.agent(address)).hook_bead).toBeNull();
      expect(git(sandbox, 'status', '--porcelain')).toBe('');
      expect(git(sandbox, 'show', '--stat', '--format=%s', 'HEAD')).toContain('gt done safety net');
      expect(
        execFileSync('git', ['rev-parse', `refs/heads/${result.branch}`], {
          cwd: join(f.base, 'remote.git'),
          encoding: 'utf8',
        }).trim(),
      ).toBe(result.commit);
    }
    const mrs = await s.list({ types: ['merge-request'] });
    expect(mrs).toHaveLength(5);
    expect(new Set(mrs.map((m) => m.metadata.source_bead)).size).toBe(5);
  }, 180_000);

  it('refuses with nothing to submit, and on a non-polecat', async () => {
    const f = await fixture('done-refuse');
    const s = f.store();
    const bead = await s.create({ title: 'nothing yet' }, 'mayor');
    await s.hook('gastown/polecats/toast', bead.id, 'mayor');
    const sandbox = (await s.agent('gastown/polecats/toast')).sandbox_path;
    const env = { ...f.env, GT_ROLE: 'gastown/polecats/toast' };
    const r = gt(['done'], { cwd: sandbox, env });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nothing to submit.*DEFERRED/);
    expect((await s.agent('gastown/polecats/toast')).hook_bead).toBe(bead.id);
    const deferred = json<{ status: string }>(
      gt(['done', '--status', 'deferred', '-m', 'needs a decision', '--json'], { cwd: sandbox, env }),
    );
    expect(deferred.status).toBe('DEFERRED');
    expect((await s.show([bead.id]))[0]).toMatchObject({ status: 'open', assignee: null });
    expect(gt(['done'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'mayor' } }).stderr).toMatch(
      /gt done is for polecats/,
    );
    // Escalating tells the witness, once, even when run twice.
    const stuck = await s.create({ title: 'impossible' }, 'mayor');
    await s.hook('gastown/polecats/toast', stuck.id, 'mayor');
    for (let i = 0; i < 2; i++)
      expect(gt(['done', '--status', 'ESCALATED', '-m', 'the API key is missing'], { cwd: sandbox, env }).status).toBe(
        0,
      );
    expect((await s.show([stuck.id]))[0]?.status).toBe('blocked');
    const witnessMail = json<{ subject: string; body: string }[]>(
      gt(['mail', 'inbox', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/witness' } }),
    );
    expect(witnessMail).toEqual([
      expect.objectContaining({ subject: `Escalated: ${stuck.id} (impossible)`, body: 'the API key is missing' }),
    ]);
  });
});
