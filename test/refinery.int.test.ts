import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gtAsync, json } from './helpers/bd.js';
import { eventually, useSessionTowns } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';
import { fileMergeRequest, type FiledRequest } from './helpers/merge-requests.js';
import type { TownStore } from '../src/core/town-store.js';

/**
 * The refinery over a real rig: branches pushed to a real remote as polecats push them, merge requests as gt
 * done files them, a real gate (the project's own test script), and `gt refinery run`.
 */
const fixture = useSessionTowns();

type Pass = {
  landed: string[];
  returned: { id: string; cause: string; task: string }[];
  batch: string[];
  rounds: number;
  gateRuns: { members: string[]; gate: string; ok: boolean }[];
  requeued: string[];
};

function fileRequest(
  store: TownStore,
  work: string,
  remote: string,
  name: string,
  change: (dir: string) => void,
  worker = name,
): Promise<FiledRequest> {
  return fileMergeRequest(store, { work, remote, name, branch: `polecat/${name}/job@1`, worker, change });
}

describe('the refinery', () => {
  it('lands a batch, bisects to the culprit, returns it and a conflict to who can fix them, and lands the fix', async () => {
    const f = await fixture('refinery');
    const t = { town: f.town, base: f.base, remote: join(f.base, 'remote.git') };
    const env = f.env;
    const work = join(t.base, 'work');
    // The project gets a test: app.txt must not say "broken"; and a line two requests will both change.
    writeFileSync(
      join(work, 'test.sh'),
      'if grep -q broken app.txt; then echo "FAIL: app.txt is broken"; exit 1; fi\necho ok\n',
    );
    writeFileSync(join(work, 'shared.txt'), 'base\n');
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', 'a test');
    git(work, 'push', '--quiet', t.remote, 'main');
    git(work, 'fetch', '--quiet', t.remote, '+refs/heads/*:refs/remotes/origin/*');
    mkdirSync(join(t.town.root, 'gastown'), { recursive: true });
    writeFileSync(
      join(t.town.root, 'gastown', 'settings.json'),
      JSON.stringify({ version: 1, refinery: { gates: { test: ['sh', 'test.sh'] }, batch_min: 3, batch_max: 4 } }),
    );

    const store = f.store();
    {
      const a = await fileRequest(store, work, t.remote, 'aster', (d) => writeFileSync(join(d, 'shared.txt'), 'A\n'));
      // birch's branch was written by toast (an idle polecat): its fix goes back to toast.
      const b = await fileRequest(
        store,
        work,
        t.remote,
        'birch',
        (d) => writeFileSync(join(d, 'app.txt'), 'broken\n'),
        'toast',
      );
      const c = await fileRequest(store, work, t.remote, 'cedar', (d) => writeFileSync(join(d, 'c.txt'), 'c\n'));
      const d = await fileRequest(store, work, t.remote, 'dune', (dir) =>
        writeFileSync(join(dir, 'shared.txt'), 'D\n'),
      );

      const run = await gtAsync(['refinery', 'run', 'gastown', '--until-empty', '--json'], { cwd: t.town.root, env });
      expect(run.status, run.stderr).toBe(0);
      const passes = json<Pass[]>(run);
      const landed = passes.flatMap((p) => p.landed);
      const returned = passes.flatMap((p) => p.returned);
      expect(landed.sort()).toEqual([a.mr, c.mr].sort());
      expect(returned.map((r) => [r.id, r.cause]).sort()).toEqual(
        [
          [b.mr, 'fix-needed'],
          [d.mr, 'conflict'],
        ].sort(),
      );
      // The first batch (a, b, c; d conflicts with a and waits) was red; bisection found b, innocent a and c landed.
      expect(passes[0]?.batch).toEqual([a.mr, b.mr, c.mr]);

      // The remote's main has what landed, passes its test, and never had the culprit.
      const remoteMain = git(t.remote, 'rev-parse', 'refs/heads/main').trim();
      for (const x of [a, c]) git(t.remote, 'merge-base', '--is-ancestor', x.commit, remoteMain);
      for (const x of [b, d])
        expect(() => git(t.remote, 'merge-base', '--is-ancestor', x.commit, remoteMain)).toThrow();
      expect(git(t.remote, 'show', `${remoteMain}:shared.txt`)).toBe('A\n');
      // Landed branches are gone from the remote; returned ones stay for their fix.
      const branches = git(t.remote, 'branch', '--list', 'polecat/*');
      expect(branches).not.toContain(a.branch);
      expect(branches).toContain(b.branch);
      expect(branches).toContain(d.branch);

      // The store: landed requests and their sources closed; returned ones wait on a task that says why.
      const [mra, mrb, srcA] = await store.show([a.mr, b.mr, a.source]);
      expect(mra?.status).toBe('closed');
      expect(srcA?.status).toBe('closed');
      expect(mrb?.status).not.toBe('closed');
      const fix = returned.find((r) => r.id === b.mr);
      const [task] = await store.show([fix?.task ?? '']);
      expect(task?.description).toContain('Failing gate: test');
      expect(task?.description).toContain('FAIL: app.txt is broken');
      const conflict = returned.find((r) => r.id === d.mr);
      const [ctask] = await store.show([conflict?.task ?? '']);
      expect(ctask?.description).toContain('shared.txt');
      // … with git's marked regions, and what landed meanwhile on those files (aster's change).
      expect(ctask?.description).toContain('Conflicts in shared.txt:');
      expect(ctask?.description).toMatch(/<<<<<<< [^\n]*\nA\n=======\nD\n>>>>>>> /u);
      expect(ctask?.description).toMatch(
        /Landed on main since the branch forked, touching them:\n- [0-9a-f]+ aster's change/u,
      );
      expect((await store.dependencies(b.mr, 'down')).map((x) => x.id)).toContain(fix?.task);

      // gt mq list shows them.
      const list = json<{ id: string; state: string }[]>(
        await gtAsync(['mq', 'list', 'gastown', '--json'], { cwd: t.town.root, env }),
      );
      expect(Object.fromEntries(list.map((m) => [m.id, m.state]))).toEqual({ [b.mr]: 'returned', [d.mr]: 'returned' });
      // gt status shows the queue.
      const status = await gtAsync(['status'], { cwd: t.town.root, env });
      expect(status.stdout).toContain('merge queue: 2 returned');
      // Nothing is left of the scratch worktrees.
      const trees = git(join(t.town.root, 'gastown', '.repo.git'), 'worktree', 'list', '--porcelain');
      expect(trees).not.toContain('scratch');

      // Each return went to who can fix it: toast, which wrote birch's branch; dune's polecat is gone, so its
      // task went to the rig (a new polecat), told which branch to work on.
      const [fixTask, conflictTask] = await store.show([fix?.task ?? '', conflict?.task ?? '']);
      expect(fixTask).toMatchObject({ status: 'hooked', assignee: 'gastown/polecats/toast' });
      expect(conflictTask?.status).toBe('hooked');
      expect(conflictTask?.assignee).toMatch(/^gastown\/polecats\//);
      expect(conflictTask?.metadata.gt_args).toContain(`git switch ${d.branch}`);

      // toast fixes birch's branch (the sim runs the script the task now has), hands it in with gt done, and the
      // next passes land the fix — and with it the returned request and its source.
      await store.update(
        [fix?.task ?? ''],
        {
          description: `${fixTask?.description ?? ''}\n\n\`\`\`sh\ngit fetch --quiet origin\ngit switch --quiet ${b.branch}\nprintf 'fixed\\n' > app.txt\n\`\`\`\n`,
        },
        'mayor',
      );
      const restarted = await gtAsync(['session', 'restart', 'gastown/polecats/toast'], { cwd: t.town.root, env });
      expect(restarted.status, restarted.stderr).toBe(0);
      await eventually(
        async () =>
          (await store.list({ types: ['merge-request'], limit: 0 })).some((m) => m.metadata.source_bead === fix?.task),
        'the fix to be handed in',
        60_000,
      );
      const again = await gtAsync(['refinery', 'run', 'gastown', '--until-empty', '--json'], {
        cwd: t.town.root,
        env,
      });
      expect(again.status, again.stderr).toBe(0);
      const [srcB, mrB, taskB] = await store.show([b.source, b.mr, fix?.task ?? '']);
      expect(taskB?.status).toBe('closed');
      expect(mrB?.status).toBe('closed');
      expect(srcB?.status).toBe('closed');
      const main2 = git(t.remote, 'rev-parse', 'refs/heads/main').trim();
      expect(git(t.remote, 'show', `${main2}:app.txt`)).toBe('fixed\n');
      expect(git(t.remote, 'show', `${main2}:shared.txt`)).toBe('A\n');

      // gt mq status counts it all: what landed, the returns by cause, the red batch and its isolation.
      const stats = json<{
        landed: number;
        returned: number;
        returns: Record<string, number>;
        batches: number;
        isolation_rounds_per_red: number | null;
        gate_runs_per_landed: number | null;
      }>(await gtAsync(['mq', 'status', 'gastown', '--json'], { cwd: t.town.root, env }));
      expect(stats).toMatchObject({ landed: 4, returned: 1, returns: { 'fix-needed': 1, conflict: 1 } });
      expect(stats.batches).toBeGreaterThanOrEqual(2);
      expect(stats.isolation_rounds_per_red).toBe(1);
      expect(stats.gate_runs_per_landed).toBeGreaterThan(0);
    }
  }, 240_000);
});
