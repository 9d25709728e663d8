import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gtAsync, json, type RunResult } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';
import { loadSettings, saveSettings } from '../src/town/town.js';

/**
 * `gt down` while slings are in flight (fault test). Several sling processes — to a rig (an idle polecat or a
 * new one each), two beads in one process, a named new polecat — are started, and `gt down` lands at a
 * different moment of theirs in every run. Afterwards nothing of the town runs (no tmux session on its server,
 * no process carrying one of its session tags), no session was started after down returned, and every bead is
 * either on its agent's hook or back to ready, never half-started. After `gt up` the hooked work runs again.
 */

const fixture = useSessionTowns();

type SlingResult = { bead: string; agent: string; action: string; created: boolean; town_down: boolean };

/** Long enough work that a session started before down is still busy (and tagged processes exist) when it lands. */
const WORK = 'Wait.\n\n```sh\nsleep 120\n```\n';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Live processes carrying a session tag of this town's tmux server (any session of it). */
function taggedProcesses(f: SessionTown): number[] {
  const needle = Buffer.from(`\0GT_SESSION_TAG=${f.town.tmuxSocket}/`);
  const out: number[] = [];
  for (const d of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${d}/environ`)]);
      if (environ.includes(needle)) out.push(Number(d));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

async function nothingRuns(f: SessionTown, when: string): Promise<void> {
  expect(await f.provider.list(), `tmux sessions ${when}`).toEqual([]);
  expect(taggedProcesses(f), `tagged processes ${when}`).toEqual([]);
}

/**
 * When gt down starts, in ms after the slings start (negative: before them, so they start while down runs),
 * one run each: densest where the slings make polecats and start sessions.
 */
const DELAYS = [-200, 0, 120, 200, 250, 300, 350, 400, 450, 500, 575, 650, 750, 900, 1200, 2000];

describe('gt down while slings are in flight', () => {
  for (const [run, delay] of DELAYS.entries())
    it(`run ${run + 1} (down ${delay} ms after the slings start${run % 2 === 1 ? ', daemon running' : ''}): nothing runs afterwards, the work stays hooked or ready, gt up resumes it`, async () => {
      const f = await fixture(`down-race-${run}`);
      if (run % 2 === 1) expect((await gtAsync(['daemon', 'start'], { cwd: f.town.root, env: f.env })).status).toBe(0);
      const s = f.store();
      const beads: string[] = [];
      for (let i = 0; i < 5; i++) beads.push((await s.create({ title: `job ${i}`, description: WORK }, 'mayor')).id);
      const [b0 = '', b1 = '', b2 = '', b3 = '', b4 = ''] = beads;
      const gtRun = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: f.town.root, env: f.env });
      // In two runs of three the slings' starts dawdle between their record and their tmux session, and
      // between that and their check, so that down lands there too.
      const pauseMs = [0, 150, 400][run % 3] ?? 0;
      const slingEnv = { ...f.env, GT_TEST_START_PAUSE_MS: String(pauseMs) };
      const slingRun = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: f.town.root, env: slingEnv });

      const startSlings = (): Promise<RunResult>[] => [
        slingRun('sling', b0, 'gastown', '--json'),
        slingRun('sling', b1, b2, 'gastown', '--json'),
        slingRun('sling', b3, 'gastown/polecats/cedar', '--create', '--json'),
        slingRun('sling', b4, 'gastown', '--json'),
      ];
      let slings: Promise<RunResult>[] = [];
      let downing: Promise<RunResult>;
      if (delay >= 0) {
        slings = startSlings();
        await sleep(delay);
        downing = gtRun('down', '--json');
      } else {
        downing = gtRun('down', '--json');
        await sleep(-delay);
        slings = startSlings();
      }
      const down = await downing;
      const downReturned = new Date().toISOString();
      expect(down.status, down.stderr).toBe(0);
      await nothingRuns(f, 'right after gt down returned');

      const results = await Promise.all(slings);
      // Each sling either went through (its session started before down, or the town was down and the work
      // waits on the hook) or failed with one line — and then left its bead ready.
      for (const r of results) if (r.status !== 0) expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      await nothingRuns(f, 'once every sling has finished');
      const started = (await s.events({ eventType: 'session_started' })).filter((e) => e.created_at > downReturned);
      expect(started, 'sessions started after gt down returned').toEqual([]);
      for (const agent of await s.agents({})) expect(await s.openSession(agent.address)).toBeNull();

      // Every bead is on its agent's hook (the agent and its sandbox whole) or back to ready.
      const hooked = new Map<string, string>();
      for (const bead of await s.show(beads)) {
        const holder = (await s.agents({})).find((a) => a.hook_bead === bead.id);
        if (holder === undefined) {
          expect(bead, `${bead.id} is neither hooked nor ready`).toMatchObject({ status: 'open', assignee: null });
          continue;
        }
        expect(['hooked', 'in_progress']).toContain(bead.status);
        expect(bead.assignee).toBe(holder.address);
        expect(existsSync(holder.sandbox_path), `${holder.address}'s sandbox`).toBe(true);
        hooked.set(bead.id, holder.address);
      }
      for (const r of results.filter((x) => x.status === 0))
        for (const one of json<SlingResult[]>(r)) {
          expect(hooked.get(one.bead)).toBe(one.agent);
          // Started before down (and stopped by it), or hooked while the town was down, saying so.
          expect(['started', 'deferred']).toContain(one.action);
          expect(one.town_down).toBe(one.action === 'deferred');
        }

      // gt up: the hooked work starts again (the daemon starts it once the start grace has passed); the ready
      // work can be slung again.
      const runs = (session: string): number => f.trace(session).filter((t) => t.step === 'running').length;
      const before = new Map<string, number>();
      for (const address of new Set(hooked.values())) {
        const session = (await s.agent(address)).session_name;
        before.set(session, runs(session));
      }
      const settings = loadSettings(f.town);
      saveSettings(f.town, { ...settings, daemon: { ...settings.daemon, start_grace_seconds: 1 } });
      const up = await gtRun('up', '--json');
      expect(up.status, up.stderr).toBe(0);
      const ready = beads.filter((b) => !hooked.has(b));
      if (ready.length > 0) {
        const again = await gtRun('sling', ...ready, 'gastown', '--json');
        expect(again.status, again.stderr).toBe(0);
        for (const one of json<SlingResult[]>(again)) hooked.set(one.bead, one.agent);
      }
      for (const address of new Set(hooked.values())) {
        const session = (await s.agent(address)).session_name;
        await eventually(() => runs(session) > (before.get(session) ?? 0), `${address} to run its work again`, 60_000);
      }
      for (const address of new Set(hooked.values()))
        expect(await f.provider.list()).toContain((await s.agent(address)).session_name);
      expect((await gtRun('down')).status).toBe(0);
      await nothingRuns(f, 'after the second gt down');
    }, 180_000);
});

describe('while the town is down', () => {
  it('a sling hooks the work and says the town is down; a session start is refused; gt up starts the work', async () => {
    const f = await fixture('down-held');
    const s = f.store();
    const bead = await s.create({ title: 'later', description: WORK }, 'mayor');
    const down = json<{ down: { since: string; by: string } }>(f.run('down', '--json'));
    expect(down.down.since).not.toBe('');

    const text = f.run('sling', bead.id, 'gastown/polecats/toast');
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(text.stdout).toMatch(
      /is on the hook of gastown\/polecats\/toast; not started: the town is down, "gt up" starts it/,
    );
    expect((await s.agent('gastown/polecats/toast')).hook_bead).toBe(bead.id);
    const other = await s.create({ title: 'later too', description: WORK }, 'mayor');
    const [deferred] = json<SlingResult[]>(f.run('sling', other.id, 'gastown', '--json'));
    expect(deferred).toMatchObject({ action: 'deferred', town_down: true, created: true });
    await nothingRuns(f, 'after slings while down');

    const start = f.run('session', 'start', 'gastown/polecats/toast');
    expect(start.status).toBe(4);
    expect(start.stderr).toMatch(/the town is down .*no session starts until "gt up"/);
    expect(start.stderr).toMatch(/gt up/);
    const refused = f.run('session', 'start', 'gastown/polecats/toast', '--json');
    expect(JSON.parse(refused.stderr)).toMatchObject({ code: 'town_down' });
    expect(f.run('session', 'restart', 'gastown/polecats/toast').status).toBe(4);
    expect(json<{ town_down: { by: string } | null }>(f.run('status', '--json')).town_down).not.toBeNull();
    expect(f.run('status').stdout).toMatch(/Down since .*no session starts until "gt up"/);
    await nothingRuns(f, 'after refused starts');

    const settings = loadSettings(f.town);
    saveSettings(f.town, { ...settings, daemon: { ...settings.daemon, start_grace_seconds: 1 } });
    const up = json<{ was_down: { since: string } | null }>(f.run('up', '--json'));
    expect(up.was_down?.since).toBe(down.down.since);
    expect(json<{ town_down: unknown }>(f.run('status', '--json')).town_down).toBeNull();
    for (const address of ['gastown/polecats/toast', deferred?.agent ?? '']) {
      const session = (await s.agent(address)).session_name;
      await eventually(
        () => f.trace(session).some((t) => t.step === 'running'),
        `${address} to start its work`,
        60_000,
      );
    }
  }, 120_000);
});
