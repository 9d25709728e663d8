import { describe, expect, it } from 'vitest';
import { DEFAULT_DAEMON_THRESHOLDS } from '../src/core/settings.js';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { gt, json, type RunResult } from './helpers/bd.js';
import { useSessionTowns } from './helpers/session-town.js';

/** The Mayor's front door with real tmux and the sim: gt up's standing agents, gt mayor, the Mayor's prime. */

const fixture = useSessionTowns();

type Status = { address: string; running: boolean; state: string; session: string };

describe('the Mayor', () => {
  it("gt up starts the mayor, the deacon and the rig's witness and refinery by default; gt mayor stops and starts it", async () => {
    const f = await fixture('mayor-up');
    // The fixture keeps only the refinery standing; put the town's default back.
    const s = loadSettings(f.town);
    saveSettings(f.town, {
      ...s,
      daemon: { ...s.daemon, standing_roles: [...DEFAULT_DAEMON_THRESHOLDS.standing_roles] },
    });
    const up = json<{ started_agents: string[] }>(f.run('up', '--json'));
    expect([...up.started_agents].sort()).toEqual(['deacon', 'gastown/refinery', 'gastown/witness', 'mayor']);
    expect((await f.provider.list()).sort()).toEqual(['ga-refinery', 'ga-witness', 'hq-deacon', 'hq-mayor']);

    expect(json<Status>(f.run('mayor', 'status', '--json'))).toMatchObject({ address: 'mayor', running: true });
    expect(json<Status & { started: boolean }>(f.run('mayor', 'start', '--json'))).toMatchObject({
      running: true,
      started: false,
    });
    f.run('daemon', 'stop');
    expect(json<{ was_running: boolean }>(f.run('mayor', 'stop', '--json')).was_running).toBe(true);
    expect(json<Status>(f.run('mayor', 'status', '--json'))).toMatchObject({ running: false, state: 'stopped' });
    const started = json<{ address: string; ready: { ready: boolean } }>(f.run('mayor', 'start', '--json'));
    expect(started).toMatchObject({ address: 'mayor', ready: { ready: true } });
    // Not a terminal: attach says how else to reach it, in one line.
    const attach = f.run('mayor', 'attach');
    expect(attach.status).not.toBe(0);
    expect(attach.stderr).toContain('gt peek mayor');
  }, 90_000);

  it("the Mayor's prime gives it the town at a glance and how it works, and remembers when it last looked", async () => {
    const f = await fixture('mayor-prime');
    const store = f.store();
    const ready = await store.create({ title: 'Ready work nobody has', prefix: 'ga' }, 'tester');
    const later = await store.create({ title: 'Waits for the ready one', prefix: 'ga' }, 'tester');
    await store.addDependency(later.id, ready.id, 'blocks', 'tester');
    const env = { ...f.env, GT_ROLE: 'mayor' };
    const as = (e: Record<string, string>, ...args: string[]): RunResult => gt(args, { cwd: f.town.root, env: e });
    const prime = as(env, 'prime');
    expect(prime.status, prime.stderr).toBe(0);
    const text = prime.stdout;
    expect(text).toContain('## The town now');
    expect(text).toContain('Rigs: gastown (beads ga-');
    expect(text).toContain(`ready   ${ready.id}: Ready work nobody has`);
    expect(text).toContain(`blocked ${later.id}: Waits for the ready one (waits for ${ready.id})`);
    expect(text).toContain('Merged today: 0.');
    expect(text).toContain('# How you work: the Mayor');
    expect(text).toContain('gt convoy create');
    // The look is recorded: the next prime counts merges since then.
    const again = json<{ glance: { since: string | null; work: { ready_count: number } } }>(as(env, 'prime', '--json'));
    expect(again.glance.since).not.toBeNull();
    expect(again.glance.work.ready_count).toBe(1);
    expect(as(env, 'prime').stdout).toContain('Merged since you last looked');
    // A request from the overseer stays on the Mayor's glance until its mail is archived, with its convoy.
    const sent = json<{ id: string }>(as(f.env, 'mail', 'send', 'mayor', '-s', 'Add a health check', '--json'));
    expect(as(env, 'prime').stdout).toContain(`${sent.id} (unread) "Add a health check": not filed yet`);
    const convoy = json<{ id: string }>(
      as(env, 'convoy', 'create', 'health', ready.id, '--owner', 'overseer', '--request', sent.id, '--json'),
    );
    expect(as(env, 'prime').stdout).toContain(`${sent.id} (unread) "Add a health check": convoy ${convoy.id}`);
    expect(as(env, 'prime').stdout).toMatch(
      new RegExp(`${convoy.id} "health" open, 0/1 merged, owner overseer, request ${sent.id}: ${ready.id} ready`),
    );
    expect(as(env, 'mail', 'archive', sent.id).status).toBe(0);
    expect(as(env, 'prime').stdout).not.toContain('Requests from the overseer');
    // Other roles get no glance.
    const polecat = json<{ glance: unknown }>(as({ ...f.env, GT_ROLE: 'gastown/polecats/toast' }, 'prime', '--json'));
    expect(polecat.glance).toBeNull();
  }, 60_000);
});
