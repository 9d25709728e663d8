import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATUSES } from '../src/core/bead.js';
import { readMergeRequest, type MergeRequest } from '../src/core/merge-request.js';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { findTown } from '../src/town/town.js';
import { cleanEnv, gtAsync, json, requireBuild } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

type Summary = {
  beads_done: number;
  merged: number;
  killed: string | null;
  restarts_after_a_crash: number;
  polecats: number;
  returned: { request: string; cause: string; task: string; sent_to: string | null; landed: boolean }[];
  patrol: { kind: string; subject: string; hook: string | null; actions: string[]; by: string; resolved: boolean }[];
  request: { mail: string; convoy: string | null; beads: string[]; landed: boolean; notice: string | null };
  merge_queue: {
    rig: string;
    landed: number;
    queued: number;
    returned: number;
    batches: number;
    returns: Record<string, number>;
  };
};

const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8' });

/** `gt demo`, the README's run command: the whole loop, a crash and its recovery, nothing left running. */
describe('gt demo', () => {
  it('lands every bead through the refinery and the tests, a broken test and a conflict sent back and fixed, and leaves nothing running', async () => {
    requireBuild();
    const t = tempDir('demo');
    try {
      const dir = join(t.dir, 'demo');
      const r = await gtAsync(['demo', '--dir', dir, '--json'], { cwd: t.dir, env: cleanEnv(join(t.dir, 'home')) });
      expect(r.status, r.stderr).toBe(0);
      const summary = json<Summary>(r);
      expect(summary.beads_done).toBe(12);
      expect(summary.killed).toMatch(/^widgets\/polecats\//);
      expect(summary.restarts_after_a_crash).toBeGreaterThanOrEqual(1);
      expect(summary.polecats).toBeLessThanOrEqual(12);
      // The hung part: the rig's witness (the sim's patrol policy) noticed it, nudged it, then restarted it.
      const hung = summary.patrol.filter((p) => p.kind === 'stalled' && p.actions.includes('restart'));
      expect(hung).toHaveLength(1);
      expect(hung[0]).toMatchObject({ by: 'widgets/witness', resolved: true });
      expect(hung[0]?.actions.slice(0, 2)).toEqual(['nudge', 'restart']);

      const town = findTown({ cwd: join(dir, 'town') });
      const store = openSqliteBeadStore(town.dbPath);
      const remote = join(dir, 'widgets.git');
      try {
        // The overseer's request: the sim Mayor filed two beads (the second waiting for the first) as a convoy
        // owned by the overseer, both landed, and the overseer's inbox has the one landing notice.
        expect(summary.request).toMatchObject({ landed: true });
        expect(summary.request.beads).toHaveLength(2);
        const asked = await store.show(summary.request.beads);
        expect(asked.map((b) => b.status)).toEqual(['closed', 'closed']);
        const [first, second] = summary.request.beads;
        const later = asked.find((b) => b.id === second);
        expect(later?.dependencies.map((d) => [d.depends_on_id, d.type])).toContainEqual([first, 'blocks']);
        const mail = await store.list({ assignee: 'overseer', types: ['message'], statuses: STATUSES, limit: 0 });
        expect(mail.filter((m) => m.title.startsWith('Convoy landed'))).toHaveLength(1);
        expect(mail.some((m) => m.title.startsWith('Re: ') && m.created_by === 'mayor')).toBe(true);
        expect(git(remote, 'show', 'main:tests/health.sh')).toContain('health.txt');
        // Every bead of work (the twelve, and the tasks the refinery filed) is closed; so is every request.
        const work = await store.list({
          types: ['task'],
          statuses: STATUSES,
          limit: 0,
        });
        expect(work.length).toBeGreaterThanOrEqual(14);
        expect(work.filter((b) => b.status !== 'closed').map((b) => b.id)).toEqual([]);
        const requests = (
          await store.list({
            types: ['merge-request'],
            statuses: STATUSES,
            limit: 0,
          })
        )
          .map(readMergeRequest)
          .filter((m): m is MergeRequest => m !== undefined);
        expect(requests.every((m) => m.status === 'closed' && m.state === 'landed')).toBe(true);
        const title = (m: MergeRequest): string => work.find((b) => b.id === m.source)?.title ?? '';

        // Two went back, each exactly once and for its cause: the part that breaks a test, and the second
        // painter of the colours line. Each task went to the polecat that wrote the branch, was done, and its
        // fix landed with the request it fixed.
        const back = requests.filter((m) => m.attempts > 0);
        expect(back.map((m) => m.attempts)).toEqual([1, 1]);
        const byCause: Record<string, string> = Object.fromEntries(back.map((m) => [m.cause ?? '', title(m)]));
        expect(byCause).toEqual({
          'fix-needed': 'Make part 5',
          conflict: expect.stringMatching(/^Paint the widgets (blue|green)$/) as string,
        });
        for (const m of back) {
          const returns = (await store.comments(m.id)).filter((c) => c.text.startsWith('Returned ('));
          expect(returns.map((c) => c.text)).toEqual([
            expect.stringContaining(`Returned (${m.cause ?? ''}): waits on`),
          ]);
          const [task] = await store.show([`${m.id}-fix1`]);
          expect(task).toMatchObject({ status: 'closed', assignee: m.worker });
          const fix = requests.find((x) => x.source === task?.id);
          expect(fix?.state).toBe('landed');
          expect(fix?.branch).toBe(m.branch);
        }
        // Everything else landed as handed in.
        expect(requests.filter((m) => m.attempts === 0)).toHaveLength(requests.length - 2);
        expect(summary.returned.map((x) => [x.request, x.cause, x.landed]).sort()).toEqual(
          back.map((m) => [m.id, m.cause, true]).sort(),
        );
        for (const x of summary.returned) expect(x.sent_to).toBe(back.find((m) => m.id === x.request)?.worker);

        // The numbers gt mq status shows, as the summary gives them.
        const status = json<Summary['merge_queue']>(
          await gtAsync(['mq', 'status', 'widgets', '--json'], { cwd: town.root, env: cleanEnv(join(t.dir, 'home')) }),
        );
        expect(summary.merge_queue).toMatchObject({
          rig: 'widgets',
          landed: requests.length,
          queued: 0,
          returned: 0,
          returns: { 'fix-needed': 1, conflict: 1 },
        });
        expect(status).toMatchObject({ landed: requests.length, returns: { 'fix-needed': 1, conflict: 1 } });
        expect(summary.merge_queue.batches).toBeGreaterThanOrEqual(1);
        expect(summary.merged).toBe(requests.length);

        // main holds every change (each request's commit, every part, both colours) and passes its tests; no
        // commit main ever pointed at had the broken part.
        for (const m of requests) git(remote, 'merge-base', '--is-ancestor', m.commit, 'main');
        for (let n = 1; n <= 10; n++) expect(git(remote, 'show', `main:parts/p${n}.txt`)).toBe(`part ${n}\n`);
        expect(git(remote, 'show', 'main:widgets.conf')).toMatch(/^colours: red (blue green|green blue)\n$/);
        for (const c of git(remote, 'rev-list', '--first-parent', 'main').trim().split('\n')) {
          const part5 = spawnSync('git', ['show', `${c}:parts/p5.txt`], { cwd: remote, encoding: 'utf8' });
          if (part5.status === 0) expect(part5.stdout).toBe('part 5\n');
        }
        const clone = join(t.dir, 'main');
        git(t.dir, 'clone', '--quiet', remote, clone);
        const tests = spawnSync('sh', ['test.sh'], { cwd: clone, encoding: 'utf8' });
        expect(tests.status, tests.stdout).toBe(0);
        expect(tests.stdout).toContain('all tests pass');
      } finally {
        store.dispose();
      }

      const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
      expect(await provider.list()).toEqual([]);
      expect(existsSync(provider.socketPath())).toBe(false);
      expect(existsSync(join(town.root, '.runtime', 'daemon.pid'))).toBe(false);
    } finally {
      t.cleanup();
    }
  }, 180_000);

  it('--keep leaves the town running (the daemon, the refinery, the mayor to attach to) until gt down', async () => {
    requireBuild();
    const t = tempDir('demo-keep');
    const env = cleanEnv(join(t.dir, 'home'));
    const dir = join(t.dir, 'demo');
    let provider: TmuxSessionProvider | undefined;
    try {
      const r = await gtAsync(['demo', '--dir', dir, '--keep', '--json'], { cwd: t.dir, env });
      expect(json<{ beads_done: number; kept: boolean; sessions_running: string[] }>(r)).toMatchObject({
        beads_done: 12,
        kept: true,
        // The standing agents: the mayor, the deacon, the rig's witness and refinery, idle until needed.
        sessions_running: ['hq-deacon', 'hq-mayor', 'wi-refinery', 'wi-witness'],
      });
      const town = findTown({ cwd: join(dir, 'town') });
      provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
      const status = json<{ daemon: { running: boolean }; agents: { address: string; state: string }[] }>(
        await gtAsync(['status', '--json'], { cwd: town.root, env }),
      );
      expect(status.daemon.running).toBe(true);
      expect(status.agents.find((a) => a.address === 'mayor')?.state).toBe('idle');
      expect(status.agents.find((a) => a.address === 'widgets/refinery')?.state).toBe('idle');
      expect((await gtAsync(['down'], { cwd: town.root, env })).status).toBe(0);
      expect(await provider.list()).toEqual([]);
      expect(existsSync(provider.socketPath())).toBe(false);
      expect(existsSync(join(town.root, '.runtime', 'daemon.pid'))).toBe(false);
    } finally {
      await provider?.killServer();
      t.cleanup();
    }
  }, 180_000);
});
