import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gt, gtAsync, json, type RunResult } from './helpers/bd.js';
import { fileMergeRequest } from './helpers/merge-requests.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';
import { addRig } from '../src/town/rig.js';
import type { SqliteBeadStore } from '../src/store/sqlite-bead-store.js';

/**
 * Convoys over a real town: beads of two rigs tracked together, their progress as the refinery lands one and
 * the others close, a landing told exactly once while two `gt convoy check` and the daemon race for it, a bead
 * added to a landed convoy opening it again; and, with the sim and the daemon, gt sling of two beads where the
 * second depends on the first: one convoy, the second waits in the queue until the first has landed, and the
 * convoy's owner gets the landing by mail.
 */

const fixture = useSessionTowns();

type TrackedBead = {
  id: string;
  rig: string | null;
  status: string;
  state: string;
  assignee: string | null;
  merge_request: string | null;
  merged_in: string | null;
  blocked_by: string[];
};
type Convoy = {
  id: string;
  name: string;
  status: string;
  owner: string;
  created_by: string;
  request: string | null;
  landed_at: string | null;
  landings: number;
  progress: Record<string, number>;
  beads: TrackedBead[];
};
type Check = { checked: number; landed: { convoy: Convoy; told: { to: string; mail: string | null }[] }[] };
type SlingResult = { bead: string; action: string; queue_reason: string | null; convoy: string | null };

/** gt as an agent of the town (the actor that makes and is told). */
function as(f: SessionTown, actor: string, ...args: string[]): RunResult {
  return gt(args, { cwd: f.town.root, env: { ...f.env, BD_ACTOR: actor } });
}

const ok = (r: RunResult): RunResult => {
  expect(r.status, r.stderr).toBe(0);
  return r;
};

async function landingMail(s: SqliteBeadStore, to: string, convoy: Convoy) {
  const mail = await s.list({ types: ['message'], assignee: to, statuses: ['open', 'closed'], limit: 0 });
  return mail.filter((m) => m.title === `Convoy landed: ${convoy.name} (${convoy.id})`);
}

const script = (file: string): string => `Write ${file}.\n\n\`\`\`sh\nprintf '%s\\n' '${file}' > ${file}\n\`\`\`\n`;

describe('convoys', () => {
  it('show progress across two rigs, land exactly once while two checks and the daemon race, and open again when a bead is added', async () => {
    const f = await fixture('convoy-land');
    const remote = join(f.base, 'remote.git');
    await addRig(f.town, 'beads', remote, { actor: 'tester' });
    const s = f.store();
    const prefix = new Map((await s.rigs()).map((r) => [r.name, r.prefix]));
    const a1 = await s.create({ title: 'add /health', prefix: prefix.get('gastown') ?? '' }, 'mayor');
    const b1 = await s.create({ title: 'a client for /health', prefix: prefix.get('beads') ?? '' }, 'mayor');
    const b2 = await s.create(
      { title: 'document /health', prefix: prefix.get('beads') ?? '', depends_on: [b1.id] },
      'mayor',
    );
    const filed = await fileMergeRequest(s, {
      work: join(f.base, 'work'),
      remote,
      name: 'aster',
      branch: 'polecat/aster/job@1',
      worker: 'aster',
      change: (d) => writeFileSync(join(d, 'health.txt'), 'ok\n'),
      source: a1.id,
    });
    await s.update([b1.id], { status: 'in_progress', assignee: 'beads/polecats/nux' }, 'beads/polecats/nux');

    // The deacon makes it for the mayor: both hear of the landing.
    const made = json<Convoy>(
      ok(as(f, 'deacon', 'convoy', 'create', 'health endpoint', a1.id, b1.id, b2.id, '--owner', 'mayor', '--json')),
    );
    expect(made).toMatchObject({
      name: 'health endpoint',
      status: 'open',
      owner: 'mayor',
      created_by: 'deacon',
      request: null,
      landed_at: null,
      landings: 0,
      progress: { total: 3, merged: 0, closed: 0, working: 2, queued: 0, ready: 0, blocked: 1 },
    });
    expect(made.id).toMatch(/^hq-/);
    const bead = (v: Convoy, id: string): TrackedBead | undefined => v.beads.find((b) => b.id === id);
    const states = (v: Convoy): (string | undefined)[] => [a1.id, b1.id, b2.id].map((id) => bead(v, id)?.state);
    expect([a1.id, b1.id, b2.id].map((id) => [bead(made, id)?.rig, bead(made, id)?.assignee])).toEqual([
      ['gastown', 'gastown/polecats/aster'],
      ['beads', 'beads/polecats/nux'],
      ['beads', null],
    ]);
    expect(states(made)).toEqual(['working', 'working', 'blocked']);
    expect(bead(made, b2.id)?.blocked_by).toEqual([b1.id]);
    expect(bead(made, a1.id)?.merge_request).toBe(filed.mr);
    // The tracks edges never block: the tracked beads stay ready work as they were.
    expect((await s.dependencies(made.id, 'down')).map((d) => d.dependency_type)).toEqual([
      'tracks',
      'tracks',
      'tracks',
    ]);

    // The refinery lands a1: merged, with its request and commit.
    const run = await gtAsync(['refinery', 'run', 'gastown', '--json'], { cwd: f.town.root, env: f.env });
    expect(run.status, run.stderr).toBe(0);
    const merged = json<Convoy>(ok(f.run('convoy', 'status', made.id, '--json')));
    expect(merged.progress).toEqual({ total: 3, merged: 1, closed: 1, working: 1, queued: 0, ready: 0, blocked: 1 });
    expect(bead(merged, a1.id)).toMatchObject({ state: 'merged', status: 'closed', merge_request: filed.mr });
    expect(bead(merged, a1.id)?.merged_in).toMatch(/^[0-9a-f]{40}$/);
    expect(merged.status).toBe('open');

    // b1 closes by hand: b2 is ready, and nobody has it (this convoy is not fed by the daemon).
    await s.close([b1.id], { reason: 'done by hand' }, 'mayor');
    const ready = json<Convoy>(ok(f.run('convoy', 'status', made.id, '--json')));
    expect(states(ready)).toEqual(['merged', 'closed', 'ready']);
    expect(json<{ convoy: string; bead: string; rig: string }[]>(ok(f.run('convoy', 'stranded', '--json')))).toEqual([
      { convoy: made.id, name: 'health endpoint', bead: b2.id, title: 'document /health', rig: 'beads' },
    ]);
    expect(json<Convoy[]>(ok(f.run('convoy', 'list', '--json'))).map((c) => c.id)).toEqual([made.id]);

    // The last bead closes; two checks and the daemon race to land it.
    await s.close([b2.id], {}, 'mayor');
    const [c1, c2, started] = await Promise.all([
      gtAsync(['convoy', 'check', '--json'], { cwd: f.town.root, env: f.env }),
      gtAsync(['convoy', 'check', '--json'], { cwd: f.town.root, env: f.env }),
      gtAsync(['daemon', 'start', '--tick', '600'], { cwd: f.town.root, env: f.env }),
    ]);
    for (const r of [c1, c2, started]) expect(r.status, r.stderr).toBe(0);
    const byChecks = [c1, c2].flatMap((r) => json<Check>(r).landed);
    const byDaemon = (): number =>
      json<{ log: { event: string; id?: string }[] }>(f.run('daemon', 'status', '--lines', '500', '--json')).log.filter(
        (l) => l.event === 'convoy-landed' && l.id === made.id,
      ).length;
    await eventually(() => byChecks.length + byDaemon() === 1, 'one landing', 30_000);
    const landed = json<Convoy>(ok(f.run('convoy', 'status', made.id, '--json')));
    expect(landed).toMatchObject({ status: 'landed', landings: 1 });
    expect(landed.landed_at).not.toBeNull();
    expect(await landingMail(s, 'mayor', made)).toHaveLength(1);
    expect(await landingMail(s, 'deacon', made)).toHaveLength(1);
    const [notice] = await landingMail(s, 'mayor', made);
    const [body] = await s.show([notice?.id ?? '']);
    expect(body?.description).toContain(`${a1.id} add /health: merged as ${filed.mr}`);
    expect(body?.description).toContain(`${b1.id} a client for /health: closed without a merge`);
    // Landed convoys are out of the default list, and checking again lands nothing.
    expect(json<Convoy[]>(ok(f.run('convoy', 'list', '--json')))).toEqual([]);
    expect(json<Convoy[]>(ok(f.run('convoy', 'list', '--all', '--json'))).map((c) => c.status)).toEqual(['landed']);
    expect(json<Check>(ok(f.run('convoy', 'check', made.id, '--json'))).landed).toEqual([]);
    ok(f.run('daemon', 'stop'));

    // A bead added opens it again; its next landing is told again.
    const b3 = await s.create({ title: 'a second client', prefix: prefix.get('beads') ?? '' }, 'mayor');
    const reopened = json<Convoy>(ok(f.run('convoy', 'add', made.id, b3.id, '--json')));
    expect(reopened).toMatchObject({ status: 'open', landed_at: null, landings: 1 });
    expect(reopened.progress).toMatchObject({ total: 4, closed: 3, ready: 1 });
    const notYet = f.run('convoy', 'close', made.id);
    expect(notYet.status).not.toBe(0);
    expect(notYet.stderr).toMatch(/has not landed: 1 bead\(s\) still open/);
    await s.close([b3.id], {}, 'mayor');
    const again = json<Check>(ok(f.run('convoy', 'check', '--json')));
    expect(again.landed.map((l) => [l.convoy.id, l.convoy.landings])).toEqual([[made.id, 2]]);
    const mails = await landingMail(s, 'mayor', made);
    expect(mails).toHaveLength(2);
    expect(json<Convoy>(ok(f.run('convoy', 'status', made.id, '--json')))).toMatchObject({
      status: 'landed',
      landings: 2,
    });

    // Bad input: one line saying what to do.
    const missing = f.run('convoy', 'status', 'hq-nope');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/no convoy hq-nope/);
    const notConvoy = f.run('convoy', 'add', made.id, made.id);
    expect(notConvoy.stderr).toMatch(/is a convoy: a convoy tracks work/);
  }, 120_000);

  it('gt sling of two beads, the second blocked by the first: one convoy; the second waits, goes when the first lands, and the owner is told', async () => {
    const f = await fixture('convoy-sling');
    const s = f.store();
    const first = await s.create({ title: 'add /health', description: script('health.txt') }, 'mayor');
    const second = await s.create(
      { title: 'test /health', description: script('health-test.txt'), depends_on: [first.id] },
      'mayor',
    );
    const slung = json<SlingResult[]>(ok(as(f, 'mayor', 'sling', first.id, second.id, 'gastown', '--json')));
    expect(slung.map((r) => [r.bead, r.action])).toEqual([
      [first.id, 'started'],
      [second.id, 'queued'],
    ]);
    expect(slung[1]?.queue_reason).toMatch(new RegExp(`blocked by ${first.id}`));
    const convoyId = slung[0]?.convoy ?? '';
    expect(convoyId).toMatch(/^hq-/);
    expect(slung[1]?.convoy).toBe(convoyId);
    const made = json<Convoy>(ok(f.run('convoy', 'status', convoyId, '--json')));
    expect(made).toMatchObject({ name: 'Work: add /health (+1 more)', owner: 'mayor', status: 'open' });
    expect([first.id, second.id].map((id) => made.beads.find((b) => b.id === id)?.state)).toEqual([
      'working',
      'blocked',
    ]);
    const queue = json<{ queued: { bead: string; why: string }[] }>(ok(f.run('scheduler', 'status', '--json')));
    expect(queue.queued.map((q) => q.bead)).toEqual([second.id]);
    expect(queue.queued[0]?.why).toMatch(new RegExp(`blocked by ${first.id}`));

    expect(await s.list({ types: ['convoy'], limit: 0 })).toHaveLength(1);

    // The daemon keeps the refinery going; nothing else moves the second bead on but its blocker landing.
    ok(f.run('daemon', 'start', '--tick', '600'));
    await eventually(async () => (await s.show([convoyId]))[0]?.status === 'closed', 'the convoy to land', 150_000);
    const landed = json<Convoy>(ok(f.run('convoy', 'status', convoyId, '--json')));
    expect(landed).toMatchObject({ status: 'landed', landings: 1 });
    expect(landed.beads.map((b) => b.state)).toEqual(['merged', 'merged']);
    // The second was hooked only after the first had closed.
    const [closedFirst] = await s.show([first.id]);
    const hooked = await s.events({ issueId: second.id, eventType: 'hooked' });
    expect(hooked.length).toBeGreaterThan(0);
    expect(hooked.every((e) => e.created_at >= (closedFirst?.closed_at ?? ''))).toBe(true);
    expect(await landingMail(s, 'mayor', made)).toHaveLength(1);
  }, 200_000);
});
