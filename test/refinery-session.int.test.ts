import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { json } from './helpers/bd.js';
import { fileMergeRequest } from './helpers/merge-requests.js';
import { eventually, useSessionTowns } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';

/**
 * Work that lands on main without a person: the sim agent does slung beads and hands them in with gt done, and
 * the rig's refinery — its own session, running gt refinery run --watch, no model — lands each request on the
 * remote's main as it is filed and closes the source bead.
 */
const fixture = useSessionTowns();

const script = (file: string, text: string): string =>
  `Write ${file}.\n\n\`\`\`sh\nprintf '%s\\n' '${text}' > ${file}\n\`\`\`\n`;

describe("the rig's refinery session", () => {
  it('lands what polecats hand in, by itself, and says so in gt mq list', async () => {
    const f = await fixture('refinery-session');
    const status = json<{ running: boolean; agent: string }>(f.run('refinery', 'status', 'gastown', '--json'));
    expect(status).toMatchObject({ running: false, agent: 'refinery' });
    const started = f.run('refinery', 'start', 'gastown', '--json');
    expect(started.status, started.stderr).toBe(0);
    expect(json<{ running: boolean }>(f.run('refinery', 'status', 'gastown', '--json')).running).toBe(true);

    const s = f.store();
    const beads = [];
    for (const n of [1, 2])
      beads.push(await s.create({ title: `part ${n}`, description: script(`part${n}.txt`, `part ${n}`) }, 'mayor'));
    const slung = f.run('sling', ...beads.map((b) => b.id), 'gastown', '--json');
    expect(slung.status, slung.stderr).toBe(0);

    // Each bead is done by a polecat, handed in, and landed by the refinery: the source bead closes.
    for (const b of beads)
      await eventually(async () => (await s.show([b.id]))[0]?.status === 'closed', `${b.id} to land`, 90_000);
    const remote = join(f.base, 'remote.git');
    const files = execFileSync('git', ['ls-tree', '--name-only', 'main'], { cwd: remote, encoding: 'utf8' });
    expect(files).toContain('part1.txt');
    expect(files).toContain('part2.txt');
    const all = json<{ id: string; state: string }[]>(f.run('mq', 'list', 'gastown', '--all', '--json'));
    expect(all.map((m) => m.state)).toEqual(['landed', 'landed']);
    expect(json<unknown[]>(f.run('mq', 'list', 'gastown', '--json'))).toEqual([]);

    const stopped = f.run('refinery', 'stop', 'gastown');
    expect(stopped.status, stopped.stderr).toBe(0);
    expect(json<{ running: boolean }>(f.run('refinery', 'status', 'gastown', '--json')).running).toBe(false);
  }, 180_000);
});

describe("the refinery session's send-back", () => {
  it('sends a returned request back to its worker once the worker is free, though nothing else changes', async () => {
    const f = await fixture('refinery-send-later');
    const remote = join(f.base, 'remote.git');
    const work = join(f.base, 'work');
    writeFileSync(join(work, 'test.sh'), 'if grep -q broken app.txt; then echo "FAIL: broken"; exit 1; fi\n');
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', 'a test');
    git(work, 'push', '--quiet', remote, 'main');
    writeFileSync(
      join(f.town.root, 'gastown', 'settings.json'),
      JSON.stringify({ version: 1, refinery: { gates: { test: ['sh', 'test.sh'] } } }),
    );
    const s = f.store();
    // toast, who wrote the branch, is busy with other work (on its hook; no daemon runs to start it).
    const other = await s.create({ title: 'other work' }, 'mayor');
    await s.hook('gastown/polecats/toast', other.id, 'mayor');
    const filed = await fileMergeRequest(s, {
      work,
      remote,
      name: 'broken',
      branch: 'polecat/toast/job@1',
      worker: 'toast',
      change: (d) => writeFileSync(join(d, 'app.txt'), 'broken\n'),
    });
    expect(f.run('refinery', 'start', 'gastown').status).toBe(0);
    const task = `${filed.mr}-fix1`;
    await eventually(
      async () => (await s.list({ types: ['merge-request'] })).some((m) => m.metadata.mq_state === 'returned'),
      'the request to go back',
      60_000,
    );
    // Busy: the task waits for it, unassigned.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await s.show([task]))[0]).toMatchObject({ status: 'open', assignee: null });
    // Free now (the only change): the refinery sends the task to it.
    await s.unhook('gastown/polecats/toast', 'mayor');
    await eventually(
      async () => (await s.show([task]))[0]?.assignee === 'gastown/polecats/toast',
      'the task to go to toast',
      30_000,
    );
    expect((await s.agent('gastown/polecats/toast')).hook_bead).toBe(task);
  }, 120_000);
});
