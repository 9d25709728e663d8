import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GT_BIN, gt, gtAsync, json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';
import { loadSettings, saveSettings } from '../src/town/town.js';

/** The daemon with real tmux, the store and the sim agent. */

type Fixture = SessionTown;
const fixture = useSessionTowns();

type LogLine = { event: string; kind?: string; address?: string; why?: string };
/** The daemon's log, as objects (not JSON text inside JSON). */
const log = (f: Fixture): LogLine[] => {
  const lines = json<{ log: unknown[] }>(f.run('daemon', 'status', '--lines', '200', '--json')).log;
  for (const l of lines) expect(typeof l).toBe('object');
  return lines as LogLine[];
};

describe('gt daemon', () => {
  it('restarts a killed agent within seconds, in the same sandbox with the same hook, and the work completes', async () => {
    const f = await fixture('daemon-restart');
    const s = f.store();
    const bead = await s.create(
      { title: 'slow', description: '```sh\nsleep 2\nprintf "ok\\n" > slow.txt\n```' },
      'mayor',
    );
    f.run('sling', bead.id, 'gastown/polecats/toast');
    expect(json<{ started: boolean }>(f.run('daemon', 'start', '--tick', '30', '--json')).started).toBe(true);
    expect(json<{ running: boolean; started: boolean }>(f.run('daemon', 'start', '--json'))).toMatchObject({
      running: true,
      started: false,
    });
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'running'), 'the work to start');
    await f.killAgent('ga-toast');
    await eventually(
      () => f.trace('ga-toast').some((t) => t.step === 'report'),
      'the restarted agent to finish',
      60_000,
    );
    const actions = log(f).filter((l) => l.event === 'action');
    const toast = actions.filter((a) => a.address === 'gastown/polecats/toast');
    expect(toast.map((a) => a.kind)).toEqual(['record-death', 'restart']);
    expect(toast[1]?.why).toContain(`${bead.id} is on its hook`);
    // Besides: the rig's refinery (a standing role by default) was started, once; nothing else was done.
    expect(actions.filter((a) => a.address !== 'gastown/polecats/toast').map((a) => [a.kind, a.address])).toEqual([
      ['restart', 'gastown/refinery'],
    ]);
    // One merge request (the refinery may have landed it already).
    expect((await s.list({ types: ['merge-request'], statuses: ['open', 'closed'] })).length).toBe(1);
    expect((await s.sessions('gastown/polecats/toast')).map((x) => x.end_reason)).toEqual([null, 'crashed']);
    // The idle witness and the stopped mayor were never touched.
    expect(await f.provider.list()).toEqual(['ga-refinery', 'ga-toast']);
    expect(json<{ daemon: { running: boolean } }>(f.run('status', '--json')).daemon.running).toBe(true);
  }, 120_000);

  it('notices a death that happens while it is still restarting the same agent (no waiting for the tick)', async () => {
    const f = await fixture('daemon-aba');
    const settings = loadSettings(f.town);
    // Each kill counts as a first death (no back-off), and the tick is far away: only the watch can act.
    saveSettings(f.town, { ...settings, daemon: { ...settings.daemon, quarantine_window_seconds: 1 } });
    const s = f.store();
    const bead = await s.create({ title: 'long', description: '```sh\nsleep 600\n```' }, 'mayor');
    f.run('sling', bead.id, 'gastown/polecats/toast');
    f.run('daemon', 'start', '--tick', '600');
    const count = (step: string): number => f.trace('ga-toast').filter((t) => t.step === step).length;
    for (let round = 1; round <= 3; round++) {
      await eventually(() => count('running') >= round, `run ${round} to start`);
      // Killed the moment its work starts again: often still inside the pass that restarted it.
      await f.killAgent('ga-toast');
      await eventually(() => count('prime') >= round + 1, `the successor of run ${round} to prime`, 30_000);
    }
    expect(log(f).filter((l) => l.kind === 'restart' && l.address === 'gastown/polecats/toast')).toHaveLength(3);
  }, 150_000);

  it('quarantines a crash-looping agent after N deaths and files an escalation, instead of a respawn storm', async () => {
    const f = await fixture('daemon-quarantine');
    f.simAgent('sim-crash', '--crash-at', 'start');
    const settings = loadSettings(f.town);
    saveSettings(f.town, {
      ...settings,
      role_agents: { polecat: 'sim-crash' },
      daemon: {
        ...settings.daemon,
        quarantine_after_restarts: 3,
        restart_backoff_initial_seconds: 1,
        restart_backoff_max_seconds: 2,
      },
    });
    const s = f.store();
    const bead = await s.create({ title: 'cursed' }, 'mayor');
    await s.hook('gastown/polecats/toast', bead.id, 'mayor');
    f.run('daemon', 'start', '--tick', '1');
    await eventually(
      async () => (await s.agent('gastown/polecats/toast')).agent_state === 'stuck',
      'quarantine',
      60_000,
    );
    const kinds = log(f)
      .filter((l) => l.event === 'action' && l.address === 'gastown/polecats/toast')
      .map((l) => l.kind);
    expect(kinds.filter((k) => k === 'quarantine')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'restart').length).toBeLessThanOrEqual(3);
    const escalations = await s.list({ types: ['escalation'] });
    expect(escalations.map((e) => e.title)).toEqual([
      expect.stringMatching(/^Quarantined: gastown\/polecats\/toast died 3 times/),
    ]);
    const mail = json<{ subject: string; from: string }[]>(
      gt(['mail', 'inbox', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/witness' } }),
    );
    expect(mail).toEqual([
      expect.objectContaining({
        from: 'daemon',
        subject: expect.stringMatching(/^Quarantined: gastown\/polecats\/toast/) as string,
      }),
    ]);
    // Filed through gt escalate: high, about the hooked bead, routed by its severity (to the mayor by default).
    const filed = json<{ id: string; severity: string; source: string; related: string; routes: { route: string }[] }>(
      f.run('escalate', 'show', escalations[0]?.id ?? '', '--json'),
    );
    expect(filed).toMatchObject({ severity: 'high', source: 'daemon', related: bead.id });
    expect(filed.routes.map((r) => r.route)).toEqual(['bead', 'mail:mayor', 'mail:overseer']);
    const mayorMail = json<{ subject: string }[]>(
      gt(['mail', 'inbox', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'mayor' } }),
    );
    expect(mayorMail.map((m) => m.subject)).toEqual([`Escalation ${filed.id} (high): ${escalations[0]?.title ?? ''}`]);
    // Quarantined: no more restarts on later passes.
    const before = log(f).filter((l) => l.kind === 'restart').length;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(log(f).filter((l) => l.kind === 'restart').length).toBe(before);
    expect(json<{ state: string }[]>(f.run('agents', '--json')).find((a) => a.state === 'stuck')).toBeDefined();

    // The cause fixed (the polecats run a CLI that works), the agent is brought back: its escalation closes,
    // the daemon counts its deaths afresh and restarts it with the same hook.
    saveSettings(f.town, { ...loadSettings(f.town), role_agents: {} });
    const revived = json<{ revived: boolean; hook: string | null; closed_escalations: string[] }>(
      f.run('agent', 'revive', 'gastown/polecats/toast', '--json'),
    );
    expect(revived).toMatchObject({ revived: true, hook: bead.id, closed_escalations: escalations.map((e) => e.id) });
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'prime'), 'the revived agent to start', 30_000);
    expect((await s.agent('gastown/polecats/toast')).agent_state).not.toBe('stuck');
    expect((await s.agent('gastown/polecats/toast')).hook_bead).toBe(bead.id);
    expect(await s.list({ types: ['escalation'] })).toEqual([]);
  }, 120_000);

  it('one per town: two started at once leave one; a SIGKILLed daemon is replaced cleanly', async () => {
    const f = await fixture('daemon-single');
    const runs = [0, 1].map(
      () =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [GT_BIN, 'daemon', 'run', '--passes', '2'], {
            cwd: f.town.root,
            env: f.env,
            stdio: 'ignore',
          });
          child.on('close', (code) => resolve(code));
        }),
    );
    const codes = await Promise.all(runs);
    expect(codes.sort()).toEqual([0, 4]);
    const started = json<{ pid: number }>(f.run('daemon', 'start', '--json'));
    process.kill(started.pid, 'SIGKILL');
    await eventually(
      () => !json<{ running: boolean }>(f.run('daemon', 'status', '--json')).running,
      'the daemon to be gone',
    );
    const again = json<{ pid: number; started: boolean }>(
      await gtAsync(['daemon', 'start', '--json'], { cwd: f.town.root, env: f.env }),
    );
    expect(again.started).toBe(true);
    expect(again.pid).not.toBe(started.pid);
    expect(f.run('daemon', 'stop').status).toBe(0);

    // A killed daemon its parent has not reaped yet (a zombie) runs nothing: it does not block a start.
    const parent = spawn('sh', ['-c', 'sleep 1 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      await eventually(
        () => (readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1] ?? '').startsWith('Z'),
        'a zombie',
      );
      writeFileSync(join(f.town.root, '.runtime', 'daemon.pid'), `${zombie}\n`);
      expect(json<{ running: boolean }>(f.run('daemon', 'status', '--json')).running).toBe(false);
      const afterZombie = f.run('daemon', 'start', '--json');
      expect(afterZombie.status, afterZombie.stderr).toBe(0);
      expect(json<{ started: boolean; pid: number }>(afterZombie)).toMatchObject({ started: true });
      expect(json<{ pid: number }>(afterZombie).pid).not.toBe(zombie);
    } finally {
      parent.kill('SIGKILL');
    }
  }, 60_000);

  it('gt up starts the daemon and the standing agents; gt down stops them all and nothing else', async () => {
    const f = await fixture('daemon-updown');
    const settings = loadSettings(f.town);
    saveSettings(f.town, { ...settings, daemon: { ...settings.daemon, standing_roles: ['witness'] } });
    const up = json<{ daemon: { pid: number; started: boolean }; started_agents: string[] }>(f.run('up', '--json'));
    expect(up.daemon.started).toBe(true);
    expect(up.started_agents).toEqual(['gastown/witness']);
    expect(await f.provider.list()).toEqual(['ga-witness']);
    // The standing witness is kept running: kill its session behind gt's back and the daemon brings it back.
    await f.provider.stop('ga-witness');
    await eventually(async () => (await f.provider.list()).includes('ga-witness'), 'the witness to come back', 40_000);
    const down = json<{ daemon_stopped: boolean; stopped_agents: string[] }>(f.run('down', '--json'));
    expect(down).toMatchObject({ daemon_stopped: true, stopped_agents: ['gastown/witness'] });
    expect(await f.provider.list()).toEqual([]);
    expect(existsSync(f.provider.socketPath())).toBe(false);
    expect(json<{ running: boolean }>(f.run('daemon', 'status', '--json')).running).toBe(false);
    // Sandboxes stay.
    expect((await f.store().agents({})).length).toBeGreaterThan(3);
  }, 60_000);

  it("gt up starts the rig's standing refinery, idle it does nothing, killed the daemon brings it back, gt down stops it", async () => {
    const f = await fixture('daemon-refinery');
    const s = f.store();
    const up = json<{ started_agents: string[] }>(f.run('up', '--json'));
    expect(up.started_agents).toEqual(['gastown/refinery']);
    const status = json<{ running: boolean; agent: string; liveness: string }>(
      f.run('refinery', 'status', 'gastown', '--json'),
    );
    // Its own program (gt refinery run --watch), not a model, though the town's default agent is the sim.
    expect(status).toMatchObject({ running: true, agent: 'refinery', liveness: 'alive' });
    expect(json<{ address: string; state: string }[]>(f.run('agents', '--json'))).toContainEqual(
      expect.objectContaining({ address: 'gastown/refinery', state: 'idle' }),
    );

    // Idle, it only looks at the store: no pass, nothing printed, nothing recorded.
    await eventually(async () => (await f.provider.capture('ga-refinery')).includes('queue empty'), 'its first pass');
    const pane = await f.provider.capture('ga-refinery');
    const passes = async (): Promise<number> =>
      (await s.events({ issueId: 'gastown/refinery', eventType: 'mq_pass', limit: 0 })).length;
    const recorded = await passes();
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await f.provider.capture('ga-refinery')).toBe(pane);
    expect(await passes()).toBe(recorded);

    // kill -9 of its program, by the pid its session runs: the daemon records the death and starts it again.
    const pid = await f.provider.programPid('ga-refinery');
    expect(pid).toBeDefined();
    process.kill(pid ?? 0, 'SIGKILL');
    await eventually(
      async () => {
        const now = await f.provider.programPid('ga-refinery');
        return now !== undefined && now !== pid;
      },
      'the refinery to be started again',
      40_000,
    );
    const actions = log(f).filter((l) => l.event === 'action' && l.address === 'gastown/refinery');
    expect(actions.map((a) => a.kind)).toEqual(['record-death', 'restart']);
    expect(actions[1]?.why).toContain('standing role');
    expect((await s.sessions('gastown/refinery')).map((x) => x.end_reason)).toEqual([null, 'crashed']);

    // The revived refinery lands what a polecat hands in.
    const bead = await s.create({ title: 'part', description: '```sh\nprintf "part\\n" > part.txt\n```' }, 'mayor');
    expect(f.run('sling', bead.id, 'gastown/polecats/toast').status).toBe(0);
    await eventually(async () => (await s.show([bead.id]))[0]?.status === 'closed', 'the work to land', 60_000);

    const down = json<{ stopped_agents: string[] }>(f.run('down', '--json'));
    expect(down.stopped_agents).toContain('gastown/refinery');
    expect(await f.provider.list()).toEqual([]);
    expect(json<{ running: boolean }>(f.run('refinery', 'status', 'gastown', '--json')).running).toBe(false);
  }, 120_000);

  it('killed mid-pass and started again, finishes the work with no duplicate sessions', async () => {
    const f = await fixture('daemon-midloop');
    const s = f.store();
    const bead = await s.create(
      { title: 'slow', description: '```sh\nsleep 2\nprintf "ok\\n" > slow.txt\n```' },
      'mayor',
    );
    f.run('sling', bead.id, 'gastown/polecats/toast');
    const first = json<{ pid: number }>(f.run('daemon', 'start', '--tick', '30', '--json'));
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'running'), 'the work to start');
    await f.killAgent('ga-toast');
    // SIGKILL the daemon as soon as it has begun acting on the death: in the middle of its pass.
    await eventually(() => log(f).some((l) => l.kind === 'record-death'), 'the daemon to act', 20_000);
    process.kill(first.pid, 'SIGKILL');
    await eventually(
      () => !json<{ running: boolean }>(f.run('daemon', 'status', '--json')).running,
      'the daemon to be gone',
    );
    f.run('daemon', 'start', '--tick', '30');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'report'), 'the work to finish', 60_000);
    // One agent, one live session, one merge request: the second daemon did not start another.
    const sessions = await s.sessions('gastown/polecats/toast');
    expect(sessions.filter((x) => x.ended_at === null)).toHaveLength(1);
    expect(sessions.filter((x) => x.end_reason === 'crashed' || x.end_reason === 'lost')).toHaveLength(
      sessions.length - 1,
    );
    expect(sessions.length).toBeLessThanOrEqual(3);
    expect(f.trace('ga-toast').filter((t) => t.step === 'prime').length).toBe(sessions.length);
    // (and the rig's refinery, a standing role, which landed it or will)
    expect(await f.provider.list()).toEqual(['ga-refinery', 'ga-toast']);
    expect((await s.list({ types: ['merge-request'], statuses: ['open', 'closed'] })).length).toBe(1);
  }, 120_000);

  it('recovers every agent when the whole tmux server is killed mid-work', async () => {
    const f = await fixture('daemon-server');
    // Every agent dying at once is a mass death: restarts wait for the deacon, which lifts the pause at its
    // second look (2 s after its first here; the pause would end by itself after patrol.mass_death_pause_seconds).
    const settings = loadSettings(f.town);
    saveSettings(f.town, { ...settings, patrol: { ...settings.patrol, recheck_seconds: 2 } });
    const s = f.store();
    const beads = [];
    for (const name of ['one', 'two'])
      beads.push(
        await s.create(
          { title: name, description: `\`\`\`sh\nsleep 3\nprintf "${name}\\n" > ${name}.txt\n\`\`\`` },
          'mayor',
        ),
      );
    for (const b of beads) f.run('sling', b.id, 'gastown');
    const workers = (await s.agents({ role: 'polecat' })).filter((a) => a.hook_bead !== null);
    expect(workers).toHaveLength(2);
    f.run('daemon', 'start', '--tick', '30');
    await eventually(
      () => workers.every((w) => f.trace(w.session_name).some((t) => t.step === 'running')),
      'both to work',
    );
    // The rig's refinery (standing) runs too: three agents die with the server.
    await eventually(async () => (await f.provider.list()).includes('ga-refinery'), 'the refinery to run');
    execFileSync('tmux', ['-L', f.town.tmuxSocket, 'kill-server']);
    await eventually(
      () => workers.every((w) => f.trace(w.session_name).some((t) => t.step === 'report')),
      'both to finish',
      90_000,
    ).catch(async (err: unknown) => {
      // eslint-disable-next-line no-console -- for whoever reads the failure
      console.log(
        JSON.stringify({ log: log(f).slice(-40), problems: await s.problems({}), decisions: await s.decisions({}) }),
      );
      throw err;
    });
    const actions = log(f).filter((l) => l.event === 'action');
    for (const w of workers)
      expect(actions.filter((a) => a.address === w.address).map((a) => a.kind)).toEqual(['record-death', 'restart']);
    expect((await s.list({ types: ['merge-request'], statuses: ['open', 'closed'] })).length).toBe(2);
    // The deacon judged the mass death: it waited, then lifted the pause.
    const [mass] = await s.problems({ kinds: ['mass-death'] });
    expect(mass?.owner).toBe('deacon');
    expect((await s.decisions({ problem: mass?.id ?? 0, limit: 0 })).map((d) => d.action).reverse()).toEqual([
      'wait',
      'resume',
    ]);
  }, 150_000);

  it('sends work hooked to an agent that no longer exists back to open', async () => {
    const f = await fixture('daemon-orphan');
    const s = f.store();
    const bead = await s.create({ title: 'orphaned' }, 'mayor');
    await s.update([bead.id], { status: 'hooked', assignee: 'gastown/polecats/gone' }, 'mayor');
    f.run('daemon', 'start', '--tick', '1');
    // Not at once (it could be a sling in flight), but soon after.
    await eventually(async () => (await s.show([bead.id]))[0]?.status === 'open', 'the bead to be open', 40_000);
    expect((await s.show([bead.id]))[0]?.assignee).toBeNull();
    expect(
      log(f)
        .filter((l) => l.kind === 'release-work')
        .map((l) => l.address),
    ).toEqual(['gastown/polecats/gone']);
    expect(f.run('sling', bead.id, 'gastown/polecats/toast').status).toBe(0);
  }, 60_000);

  it('never restarts, stops or reports an idle agent, however long it has been quiet', async () => {
    const f = await fixture('daemon-idle');
    const settings = loadSettings(f.town);
    // Thresholds as short as they go: an agent idle for seconds is "quiet for too long" many times over.
    saveSettings(f.town, {
      ...settings,
      daemon: { ...settings.daemon, stalled_after_seconds: 1, heartbeat_seconds: 1 },
    });
    f.run('session', 'start', 'gastown/witness');
    f.run('session', 'start', 'gastown/polecats/toast');
    f.run('refinery', 'start', 'gastown'); // a standing role: running, so the daemon has nothing to start
    const before = await f.provider.panes();
    f.run('daemon', 'start', '--tick', '1');
    await new Promise((r) => setTimeout(r, 6_000));
    expect(log(f).filter((l) => l.event === 'action' || l.event === 'error')).toEqual([]);
    expect(await f.provider.panes()).toEqual(before); // the same sessions, never restarted
    const mail = json<unknown[]>(
      gt(['mail', 'inbox', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/witness' } }),
    );
    expect(mail).toEqual([]);
  }, 60_000);
});
