import { spawnSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gtAsync, json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';
import { loadSettings, saveSettings } from '../src/town/town.js';

/**
 * Capacity with real tmux, git, the store, the daemon and the sim agent: slings beyond scheduler.max_polecats
 * wait in the store and say so, and go in priority order as polecats hand their work in; an idle polecat is
 * reused (told the new bead while its session is open) on a fresh branch; pause and resume; the queue
 * outlives the daemon and a dispatcher killed mid-dispatch; a dispatch that fails stays queued; racing
 * dispatchers start each sling once.
 */

const fixture = useSessionTowns();

type SlingResult = {
  bead: string;
  agent: string;
  action: string;
  position: number | null;
  queue_reason: string | null;
};
type Status = {
  paused: { by: string } | null;
  town: { max_polecats: number | null; busy: number };
  rigs: { rig: string; max_polecats: number | null; busy: number; free: number | null }[];
  queued: {
    bead: string;
    position: number;
    priority: number;
    state: string;
    attempts: number;
    last_error: string | null;
    why: string;
  }[];
};
type Run = {
  outcomes: { bead: string; result: string; agent: string | null; why: string }[];
  waiting: { bead: string; why: string }[];
};

const script = (file: string): string => `Write ${file}.\n\n\`\`\`sh\nprintf '%s\\n' '${file}' > ${file}\n\`\`\`\n`;
/** Work that waits until the test opens the gate (a file), then writes its file. */
const gated = (gate: string, file: string): string =>
  `Write ${file} once ${gate} exists.\n\n\`\`\`sh\nwhile [ ! -f '${gate}' ]; do sleep 0.2; done\nprintf '%s\\n' '${file}' > ${file}\n\`\`\`\n`;

function capRig(f: SessionTown, max: number): void {
  writeFileSync(
    join(f.town.root, 'gastown', 'settings.json'),
    JSON.stringify({ version: 1, scheduler: { max_polecats: max } }),
  );
}

const status = (f: SessionTown): Status => json<Status>(f.run('scheduler', 'status', '--json'));

describe('capacity: scheduler.max_polecats', () => {
  it('queues slings beyond the cap and says so; as the polecat hands in, the next goes by priority, to the same polecat while its session is open, on a fresh branch', async () => {
    const f = await fixture('sched-priority');
    capRig(f, 1);
    // No refinery: this is about dispatch, and the branches checked below must not be landed (and deleted).
    const town = loadSettings(f.town);
    saveSettings(f.town, { ...town, daemon: { ...town.daemon, standing_roles: [] } });
    const s = f.store();
    const gate = join(f.base, 'gate');
    const first = await s.create({ title: 'first', priority: 2, description: gated(gate, 'first.txt') }, 'mayor');
    const low = await s.create({ title: 'low', priority: 3, description: script('low.txt') }, 'mayor');
    const urgent = await s.create({ title: 'urgent', priority: 1, description: script('urgent.txt') }, 'mayor');

    const [started] = json<SlingResult[]>(f.run('sling', first.id, 'gastown', '--json'));
    expect(started).toMatchObject({ agent: 'gastown/polecats/toast', action: 'started', position: null });
    const [dry] = json<SlingResult[]>(f.run('sling', low.id, 'gastown', '--dry-run', '--json'));
    expect(dry).toMatchObject({ action: 'queued', dry_run: true });
    expect(await s.pendingSlings()).toEqual([]);
    const [queuedLow] = json<SlingResult[]>(f.run('sling', low.id, 'gastown', '--json'));
    expect(queuedLow).toMatchObject({ action: 'queued', position: 1 });
    expect(queuedLow?.queue_reason).toMatch(/gastown is at capacity \(its scheduler.max_polecats is 1; 1 busy\)/);
    const text = f.run('sling', urgent.id, 'gastown');
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(`queued: ${urgent.id} \\(urgent\\) for gastown, position 1: gastown is at capacity`),
    );
    // Slinging a queued bead again to the same rig changes nothing.
    expect(json<SlingResult[]>(f.run('sling', low.id, 'gastown', '--json'))[0]).toMatchObject({
      action: 'queued',
      position: 2,
    });
    expect((await s.show([low.id, urgent.id])).map((b) => b.status)).toEqual(['open', 'open']);

    const before = status(f);
    expect(before.rigs.find((r) => r.rig === 'gastown')).toMatchObject({ max_polecats: 1, busy: 1, free: 0 });
    expect(before.queued.map((q) => [q.bead, q.position, q.priority])).toEqual([
      [urgent.id, 1, 1],
      [low.id, 2, 3],
    ]);
    expect(f.run('scheduler', 'status').stdout).toMatch(/Queue: 2 sling\(s\), in dispatch order/);
    expect(f.run('status').stdout).toContain('Scheduler: 2 sling(s) queued · gt scheduler status');

    // The daemon dispatches as the polecat hands its work in (gt done wakes it; the tick is far away).
    f.run('daemon', 'start', '--tick', '600');
    writeFileSync(gate, '');
    const ran = (): string[] =>
      f.trace('ga-toast').flatMap((t) => (t.step === 'report' && t.bead !== undefined ? [t.bead] : []));
    await eventually(() => ran().length === 3, 'all three to be handed in', 120_000);
    expect(ran()).toEqual([first.id, urgent.id, low.id]);
    // One polecat did all three in one session (told each new bead), each on its own fresh branch.
    expect((await s.agents({ rig: 'gastown', role: 'polecat' })).map((a) => a.name)).toEqual(['toast']);
    expect((await s.sessions('gastown/polecats/toast')).length).toBe(1);
    expect(f.trace('ga-toast').filter((t) => t.step === 'start')).toHaveLength(1);
    const mrs = await s.list({ types: ['merge-request'], limit: 0 });
    const branches = mrs.map((m) => String(m.metadata.branch));
    expect(new Set(branches).size).toBe(3);
    for (const b of [first, urgent, low]) expect(branches.some((br) => br.includes(`/${b.id}@`))).toBe(true);
    // Every branch is on the remote with its own work (nothing was lost when the polecat moved on).
    for (const b of branches)
      expect(git(join(f.base, 'remote.git'), 'rev-parse', '--verify', `refs/heads/${b}`)).toMatch(/^[0-9a-f]{40}/);
    // The daemon records the last dispatch once its nudge is typed and confirmed, which under load can be after
    // the polecat already did the work it was told of.
    await eventually(async () => (await s.pendingSlings()).length === 0, 'the last dispatch to be recorded', 30_000);
    expect((await s.finishedSlings(10)).map((q) => [q.bead, q.state, q.outcome])).toEqual([
      [low.id, 'dispatched', 'gastown/polecats/toast'],
      [urgent.id, 'dispatched', 'gastown/polecats/toast'],
    ]);
    // Told, not started: its session was open.
    const log = json<{ log: { event: string; bead?: string; result?: string; action?: string }[] }>(
      f.run('daemon', 'status', '--lines', '200', '--json'),
    ).log.filter((l) => l.event === 'dispatch');
    expect(log.map((l) => [l.bead, l.result, l.action])).toEqual([
      [urgent.id, 'dispatched', 'nudged'],
      [low.id, 'dispatched', 'nudged'],
    ]);
  }, 180_000);

  it('pause stops dispatching, durably, while slings still queue; resume dispatches them; cancel takes one off', async () => {
    const f = await fixture('sched-pause');
    const s = f.store();
    const a = await s.create({ title: 'a', description: script('a.txt') }, 'mayor');
    const b = await s.create({ title: 'b', description: script('b.txt') }, 'mayor');
    expect(json<{ paused: boolean }>(f.run('scheduler', 'pause', '--json')).paused).toBe(true);
    // No cap is set, yet while paused a sling to a rig waits.
    const [r] = json<SlingResult[]>(f.run('sling', a.id, b.id, 'gastown', '--json'));
    expect(r).toMatchObject({ action: 'queued', position: 1 });
    expect(r?.queue_reason).toMatch(/paused/);
    // A named agent is not the scheduler's: slung straight away, even while paused.
    const c = await s.create({ title: 'c', description: gated(join(f.base, 'gate'), 'c.txt') }, 'mayor');
    expect(json<SlingResult[]>(f.run('sling', c.id, 'gastown/polecats/toast', '--json'))[0]).toMatchObject({
      action: 'started',
    });
    const run = json<Run>(f.run('scheduler', 'run', '--json'));
    expect(run.outcomes).toEqual([]);
    expect(run.waiting.map((w) => w.why)).toEqual([expect.stringMatching(/paused/), expect.stringMatching(/paused/)]);
    expect(status(f).paused).toMatchObject({ by: expect.any(String) as string });
    expect(f.run('status').stdout).toMatch(/Scheduler: 2 sling\(s\) queued, paused/);
    expect(f.run('scheduler', 'cancel', b.id).stdout).toContain(`${b.id} is off the queue`);
    expect(json<{ cancelled: boolean }[]>(f.run('scheduler', 'cancel', b.id, '--json'))).toEqual([
      { bead: b.id, cancelled: false },
    ]);
    expect(json<{ paused: boolean; queued: number }>(f.run('scheduler', 'resume', '--json'))).toEqual({
      paused: false,
      since: null,
      by: null,
      queued: 1,
    });
    const resumed = json<Run>(f.run('scheduler', 'run', '--json'));
    expect(resumed.outcomes).toEqual([expect.objectContaining({ bead: a.id, result: 'dispatched' })]);
    // toast was busy with c, so a went to a new polecat; b stays open.
    expect(resumed.outcomes[0]?.agent).toMatch(/^gastown\/polecats\//);
    expect(resumed.outcomes[0]?.agent).not.toBe('gastown/polecats/toast');
    expect((await s.show([a.id, b.id])).map((x) => x.assignee)).toEqual([resumed.outcomes[0]?.agent, null]);
    expect(await s.pendingSlings()).toEqual([]);
  }, 120_000);

  it('the queue outlives the daemon; a dispatcher killed mid-dispatch is taken over; a failed dispatch stays queued', async () => {
    const f = await fixture('sched-durable');
    capRig(f, 1);
    const s = f.store();
    const busy = await s.create({ title: 'long', description: '```sh\nsleep 600\n```' }, 'mayor');
    const a = await s.create({ title: 'a', description: script('a.txt') }, 'mayor');
    const b = await s.create({ title: 'b', description: script('b.txt') }, 'mayor');
    f.run('sling', busy.id, 'gastown');
    f.run('daemon', 'start', '--tick', '600');
    expect(json<SlingResult[]>(f.run('sling', a.id, b.id, 'gastown', '--json')).map((r) => r.action)).toEqual([
      'queued',
      'queued',
    ]);
    // The daemon dies (kill -9) and comes back: the queue is still there, whole.
    const pid = json<{ pid: number }>(f.run('daemon', 'status', '--json')).pid;
    process.kill(pid, 'SIGKILL');
    await eventually(
      () => json<{ running: boolean }>(f.run('daemon', 'status', '--json')).running === false,
      'the daemon to be gone',
    );
    expect((await s.pendingSlings()).map((q) => q.bead)).toEqual([a.id, b.id]);

    // A dispatcher that claimed a and died before it slung it (a pid that has ended).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const [qa] = await s.pendingSlings();
    expect(await s.claimSling(qa?.id ?? 0, `daemon:${dead.stdout}`, 'daemon')).not.toBeNull();

    // A dispatch that fails part-way (the remote is unreachable, so no sandbox can be readied): b stays queued.
    await s.update([a.id], { priority: 3 }, 'mayor'); // b goes first now
    await s.unhook('gastown/polecats/toast', 'mayor'); // room, without the daemon
    f.run('session', 'stop', 'gastown/polecats/toast');
    const remote = join(f.base, 'remote.git');
    renameSync(remote, `${remote}.away`);
    const failed = json<Run>(f.run('scheduler', 'run', '--json'));
    expect(failed.outcomes.map((o) => [o.bead, o.result])).toEqual([
      [b.id, 'failed'],
      [a.id, 'failed'],
    ]);
    const after = status(f).queued;
    expect(after.map((q) => [q.bead, q.state, q.attempts])).toEqual([
      [b.id, 'queued', 1],
      [a.id, 'queued', 1],
    ]);
    expect(after[0]?.last_error).toMatch(/fetch|remote|repository/i);
    expect((await s.show([a.id, b.id])).map((x) => [x.status, x.assignee])).toEqual([
      ['open', null],
      ['open', null],
    ]);
    expect((await s.agents({ rig: 'gastown', role: 'polecat' })).map((x) => [x.name, x.hook_bead])).toEqual([
      ['toast', null],
    ]);
    renameSync(`${remote}.away`, remote);

    // The daemon again: after the back-off, both are done, each once.
    f.run('daemon', 'start', '--tick', '600');
    await eventually(async () => (await s.pendingSlings()).length === 0, 'the queue to empty', 90_000);
    await eventually(
      // handed in (in progress), or already landed by the rig's standing refinery (closed)
      async () => (await s.show([a.id, b.id])).every((x) => x.status === 'in_progress' || x.status === 'closed'),
      'both to be handed in',
      90_000,
    );
    expect((await s.events({ issueId: a.id, eventType: 'sling_dispatched' })).length).toBe(1);
    // a's claim was taken from the dead dispatcher.
    expect((await s.events({ issueId: a.id, eventType: 'sling_claimed' })).map((e) => e.old_value)).toContain(
      `daemon:${dead.stdout}`,
    );
    expect((await s.events({ issueId: b.id, eventType: 'sling_dispatched' })).length).toBe(1);
    // Each handed in once, by one polecat, from its own branch.
    const mrs = await s.list({
      types: ['merge-request'],
      statuses: ['open', 'in_progress', 'blocked', 'closed'],
      limit: 0,
    });
    expect(mrs.map((m) => m.metadata.source_bead).sort()).toEqual([a.id, b.id].sort());
    for (const m of mrs) expect(String(m.metadata.branch)).toContain(`/${String(m.metadata.source_bead)}@`);
  }, 240_000);

  it('racing dispatchers start each queued sling once, never beyond the cap', async () => {
    const f = await fixture('sched-race');
    saveSettings(f.town, { ...loadSettings(f.town), scheduler: { max_polecats: 3 } });
    const s = f.store();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await s.create({ title: `w${i}`, description: '```sh\nsleep 600\n```' }, 'mayor')).id);
    f.run('scheduler', 'pause');
    expect(json<SlingResult[]>(f.run('sling', ...ids, 'gastown', '--json')).every((r) => r.action === 'queued')).toBe(
      true,
    );
    await s.setSchedulerPaused(false, 'mayor');
    const runs = await Promise.all(
      Array.from({ length: 3 }, () => gtAsync(['scheduler', 'run', '--json'], { cwd: f.town.root, env: f.env })),
    );
    const outcomes = runs.flatMap((r) => json<Run>(r).outcomes).filter((o) => o.result === 'dispatched');
    expect(outcomes.map((o) => o.bead).sort()).toEqual(ids.slice(0, 3).sort());
    const hooked = (await s.agents({ role: 'polecat' })).filter((a) => a.hook_bead !== null);
    expect(hooked.map((a) => a.hook_bead).sort()).toEqual(ids.slice(0, 3).sort());
    await eventually(async () => (await f.provider.list()).length === 3, 'three sessions');
    expect((await s.pendingSlings()).map((q) => q.bead)).toEqual(ids.slice(3));
    for (const id of ids.slice(0, 3))
      expect((await s.events({ issueId: id, eventType: 'sling_claimed' })).length).toBe(1);
  }, 180_000);
});
