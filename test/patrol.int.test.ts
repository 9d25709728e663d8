import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Problem } from '../src/core/problem.js';
import { addPolecat } from '../src/town/polecat.js';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';

/**
 * The patrol loop with real tmux, the store, the daemon and the sim agent as every agent, the witness, the
 * deacon and boot included (its scripted patrol policy, not AI): problems recorded from facts, the patrol agent
 * woken for them, its decisions carried out through gt commands and kept with their evidence.
 */

const fixture = useSessionTowns();

/** Every process below `pid`, from the process table. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/u.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number((stat.split(') ')[1] ?? '').split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, ppid] of parent)
      if (ppid === p) {
        out.push(child);
        walk(child);
      }
  };
  walk(pid);
  return out;
}

/** On a failure, what the daemon and the patrol agents did (printed, for the reader of the failure). */
async function explain(f: SessionTown, sessions: readonly string[]): Promise<void> {
  const log = json<{ log: unknown[] }>(f.run('daemon', 'status', '--lines', '80', '--json')).log;
  const s = f.store();
  // eslint-disable-next-line no-console -- printed for whoever reads a failure
  console.log(
    JSON.stringify(
      {
        problems: await s.problems({}),
        decisions: await s.decisions({ limit: 0 }),
        log,
        traces: Object.fromEntries(sessions.map((x) => [x, f.trace(x).slice(-15)])),
      },
      null,
      1,
    ),
  );
}

type ScanProblem = Problem & { decisions: { action: string; reason: string; actor: string; at: string }[] };

/** Short thresholds: stalled after 2 s, a decision looked at again after 2 s. */
function patrolTown(f: SessionTown, daemon: Record<string, unknown> = {}, patrol: Record<string, unknown> = {}): void {
  const s = loadSettings(f.town);
  saveSettings(f.town, {
    ...s,
    daemon: {
      ...s.daemon,
      heartbeat_seconds: 1,
      stalled_after_seconds: 2,
      start_grace_seconds: 2,
      standing_roles: [],
      idle_polecat_seconds: 0,
      ...daemon,
    },
    patrol: { ...s.patrol, recheck_seconds: 2, respond_seconds: 30, ...patrol },
  });
}

const scan = (f: SessionTown, ...args: string[]): { problems: ScanProblem[] } =>
  json<{ problems: ScanProblem[] }>(f.run('patrol', 'scan', '--all', '--json', ...args));

async function problemsOf(f: SessionTown, kind: string): Promise<Problem[]> {
  const s = f.store();
  return (await s.problems({ kinds: [kind as Problem['kind']] })).filter((p) => p.kind === kind);
}

describe('the patrol, with the sim policy', () => {
  it('a hung polecat (busy pane that never changes) is noticed, nudged, then restarted in its sandbox with its hook', async () => {
    const f = await fixture('patrol-hung');
    patrolTown(f);
    const s = f.store();
    // Hangs the first time only (a marker outside the sandbox): the restarted session finishes the work.
    const marker = join(f.town.root, '.runtime', 'hung-once');
    const bead = await s.create(
      {
        title: 'hangs once',
        description: `\`\`\`sh\nif [ ! -e "${marker}" ]; then touch "${marker}"; sleep 600; fi\nprintf 'ok\\n' > hung.txt\n\`\`\``,
      },
      'mayor',
    );
    f.run('sling', bead.id, 'gastown/polecats/toast');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'running'), 'the work to start');
    f.run('daemon', 'start', '--tick', '1');
    await eventually(async () => (await problemsOf(f, 'stalled')).length > 0, 'the stall to be recorded', 30_000);
    const [stall] = await problemsOf(f, 'stalled');
    expect(stall).toMatchObject({ subject: 'gastown/polecats/toast', owner: 'gastown/witness' });
    expect(stall?.evidence).toMatchObject({ hook: bead.id, state: 'stalled' });
    expect(String(stall?.evidence.pane)).toContain('sim: working');
    // The witness was woken, nudged, and when that did not help, restarted it.
    await eventually(
      async () => (await s.decisions({ limit: 0 })).some((d) => d.action === 'restart'),
      'the witness to restart it',
      60_000,
    ).catch(async (err: unknown) => {
      await explain(f, ['ga-witness', 'ga-toast']);
      throw err;
    });
    const decisions = (await s.decisions({ limit: 0 })).filter((d) => d.problem_id === stall?.id).reverse();
    expect(decisions.map((d) => [d.action, d.actor])).toEqual([
      ['nudge', 'gastown/witness'],
      ['restart', 'gastown/witness'],
    ]);
    expect(decisions[0]?.evidence).toMatchObject({ hook: bead.id });
    // The restarted session, in the same sandbox with the same hook, finishes the work; the stall resolves.
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'report'), 'the work to be handed in', 60_000);
    const sessions = await s.sessions('gastown/polecats/toast');
    expect(sessions.length).toBeGreaterThanOrEqual(2);
    expect(
      new Set(
        f
          .trace('ga-toast')
          .filter((t) => t.step === 'start')
          .map((t) => (t as { cwd?: string }).cwd),
      ).size,
    ).toBe(1);
    await eventually(
      async () => (await s.problem(stall?.id ?? 0)).state === 'resolved',
      'the stall to resolve itself',
      30_000,
    );
    const history = json<{ stats: { kind: string; action: string; recovered: number }[] }>(
      f.run('patrol', 'history', '--json'),
    );
    expect(history.stats.find((x) => x.kind === 'stalled' && x.action === 'restart')?.recovered).toBe(1);
    expect(f.trace('ga-witness').filter((t) => t.step === 'patrol_decision').length).toBeGreaterThanOrEqual(2);
  }, 180_000);

  it('a polecat stopped with SIGSTOP is noticed and restarted; an idle agent with no work is never touched', async () => {
    const f = await fixture('patrol-sigstop');
    patrolTown(f);
    await addPolecat(f.town, 'gastown', { name: 'nux', actor: 'tester', ownerEmail: f.town.owner, nowMs: Date.now() });
    const s = f.store();
    const bead = await s.create(
      { title: 'slow', description: "```sh\nsleep 1\nprintf 'ok\\n' > slow.txt\n```" },
      'mayor',
    );
    f.run('session', 'start', 'gastown/polecats/nux'); // idle, nothing on its hook
    f.run('sling', bead.id, 'gastown/polecats/toast');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'running'), 'the work to start');
    const pid = await f.provider.programPid('ga-toast');
    if (pid === undefined) throw new Error('no agent process');
    // tmux continues a pane's own program when it is stopped, so the stop lands on the command the agent
    // runs (as a tool call would): the agent waits for it forever, its busy screen frozen.
    const frozen = descendants(pid);
    expect(frozen.length).toBeGreaterThan(0);
    for (const child of frozen) process.kill(child, 'SIGSTOP');
    const idleBefore = (await s.sessions('gastown/polecats/nux')).map((x) => x.session_id);
    f.run('daemon', 'start', '--tick', '1');
    await eventually(
      async () =>
        (await s.decisions({ limit: 0 })).some((d) => d.action === 'restart' && d.subject === 'gastown/polecats/toast'),
      'the witness to restart the stopped polecat',
      60_000,
    ).catch(async (err: unknown) => {
      await explain(f, ['ga-witness', 'ga-toast']);
      throw err;
    });
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'report'), 'the work to be handed in', 60_000);
    // The idle polecat: no problem, no decision, the same session as before.
    expect((await s.problems({ subject: 'gastown/polecats/nux' })).length).toBe(0);
    expect((await s.decisions({ limit: 0 })).filter((d) => d.subject === 'gastown/polecats/nux')).toEqual([]);
    expect((await s.sessions('gastown/polecats/nux')).map((x) => x.session_id)).toEqual(idleBefore);
    expect(f.trace('ga-nux').filter((t) => t.step === 'message').length).toBe(1); // its beacon only
  }, 180_000);

  it('a usage limit is waited out (with its reset time), and a question on screen is escalated; neither is a crash', async () => {
    const f = await fixture('patrol-screens');
    f.simAgent('sim-limit', '--limit-at', 'run');
    f.simAgent('sim-ask', '--ask-at', 'run');
    patrolTown(f);
    await addPolecat(f.town, 'gastown', { name: 'nux', actor: 'tester', ownerEmail: f.town.owner, nowMs: Date.now() });
    const s = f.store();
    const one = await s.create({ title: 'limited', description: '```sh\ntrue\n```' }, 'mayor');
    const two = await s.create({ title: 'asks', description: '```sh\ntrue\n```' }, 'mayor');
    f.run('daemon', 'start', '--tick', '30'); // the screens wake it (the agent's notification hook), not the tick
    f.run('sling', one.id, 'gastown/polecats/toast', '--agent', 'sim-limit');
    f.run('sling', two.id, 'gastown/polecats/nux', '--agent', 'sim-ask');
    await eventually(
      async () => {
        const kinds = new Set((await s.decisions({ limit: 0 })).map((d) => d.kind));
        return kinds.has('usage-limit') && kinds.has('needs-input');
      },
      'the witness to decide on both screens',
      60_000,
    ).catch(async (err: unknown) => {
      await explain(f, ['ga-witness', 'ga-toast', 'ga-nux']);
      throw err;
    });
    const [limit] = await problemsOf(f, 'usage-limit');
    expect(limit?.subject).toBe('gastown/polecats/toast');
    expect(Date.parse(String(limit?.evidence.reset_at)) - Date.parse(limit?.first_seen ?? '')).toBeGreaterThan(
      50 * 60_000,
    );
    const [question] = await problemsOf(f, 'needs-input');
    expect(question?.subject).toBe('gastown/polecats/nux');
    const decided = await s.decisions({ limit: 0 });
    expect(decided.find((d) => d.kind === 'usage-limit')?.action).toBe('wait');
    expect(decided.find((d) => d.kind === 'needs-input')?.action).toBe('escalate');
    expect((await s.problem(question?.id ?? 0)).escalation).toMatch(/^hq-/u);
    // Nobody restarted either, and no death was recorded.
    for (const a of ['gastown/polecats/toast', 'gastown/polecats/nux'])
      expect((await s.sessions(a)).map((x) => x.end_reason)).toEqual([null]);
  }, 120_000);

  it('a closed bead on a hook is cleared, and the problem resolves itself with the reason', async () => {
    const f = await fixture('patrol-closed');
    patrolTown(f);
    const s = f.store();
    const bead = await s.create({ title: 'done elsewhere' }, 'mayor');
    await s.hook('gastown/polecats/toast', bead.id, 'mayor');
    await s.close([bead.id], { reason: 'done by hand', force: true }, 'mayor');
    f.run('daemon', 'start', '--tick', '1');
    await eventually(
      async () => (await s.agent('gastown/polecats/toast')).hook_bead === null,
      'the hook cleared',
      30_000,
    );
    await eventually(
      async () => (await problemsOf(f, 'closed-hooked')).some((p) => p.state === 'resolved'),
      'the problem resolved',
      30_000,
    );
    const [p] = await problemsOf(f, 'closed-hooked');
    expect(p?.resolution).toContain('off its hook');
    // A kind the daemon repairs itself: nobody was woken for it.
    expect(p?.woken_at).toBeNull();
  }, 60_000);

  it('a crash-looping agent ends quarantined with one escalation, which the witness does not file again', async () => {
    const f = await fixture('patrol-crash');
    f.simAgent('sim-crash', '--crash-at', 'start');
    patrolTown(f, { quarantine_after_restarts: 3, restart_backoff_initial_seconds: 1, restart_backoff_max_seconds: 2 });
    const s0 = loadSettings(f.town);
    saveSettings(f.town, { ...s0, role_agents: { polecat: 'sim-crash' } });
    const s = f.store();
    const bead = await s.create({ title: 'cursed' }, 'mayor');
    await s.hook('gastown/polecats/toast', bead.id, 'mayor');
    f.run('daemon', 'start', '--tick', '1');
    await eventually(
      async () => (await s.decisions({ limit: 0 })).some((d) => d.kind === 'crash-loop'),
      'the witness to decide on the crash loop',
      90_000,
    );
    expect((await s.agent('gastown/polecats/toast')).agent_state).toBe('stuck');
    const escalations = await s.list({ types: ['escalation'] });
    expect(escalations.map((e) => e.title)).toEqual([expect.stringMatching(/^Quarantined: gastown\/polecats\/toast/)]);
    const [loop] = await problemsOf(f, 'crash-loop');
    expect(loop?.state).toBe('escalated');
    expect(loop?.escalation).toBe(escalations[0]?.id);
  }, 120_000);

  it('a mass death pauses restarts, tells the deacon, and restarts resume when it lifts the pause', async () => {
    const f = await fixture('patrol-mass');
    // The deacon waits at its first look and lifts the pause at the next, 6 s later.
    patrolTown(f, {}, { mass_death_pause_seconds: 120, recheck_seconds: 6 });
    for (const name of ['nux', 'slit'])
      await addPolecat(f.town, 'gastown', { name, actor: 'tester', ownerEmail: f.town.owner, nowMs: Date.now() });
    const s = f.store();
    const names = ['toast', 'nux', 'slit'];
    for (const name of names) {
      const bead = await s.create({ title: `long ${name}`, description: '```sh\nsleep 600\n```' }, 'mayor');
      f.run('sling', bead.id, `gastown/polecats/${name}`);
    }
    for (const name of names)
      await eventually(() => f.trace(`ga-${name}`).some((t) => t.step === 'running'), `${name} to start`);
    f.run('daemon', 'start', '--tick', '1');
    await new Promise((r) => setTimeout(r, 1_500));
    // All three at once.
    const pids = await Promise.all(names.map((n) => f.provider.programPid(`ga-${n}`)));
    for (const pid of pids) if (pid !== undefined) process.kill(pid, 'SIGKILL');
    await eventually(async () => (await problemsOf(f, 'mass-death')).length > 0, 'the mass death', 30_000);
    const [mass] = await problemsOf(f, 'mass-death');
    expect(mass?.owner).toBe('deacon');
    expect((mass?.evidence.deaths as unknown[]).length).toBe(3);
    const restarted = (): number =>
      names.filter((n) => f.trace(`ga-${n}`).filter((t) => t.step === 'start').length > 1).length;
    // Paused: nothing more is restarted while the deacon looks.
    const atPause = restarted();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(restarted()).toBe(atPause);
    expect((await s.problem(mass?.id ?? 0)).state).not.toBe('resolved');
    // The deacon (woken for it) waits once, then lifts the pause; the others are restarted.
    await eventually(
      async () => (await s.problem(mass?.id ?? 0)).state === 'resolved',
      'the deacon to lift the pause',
      60_000,
    );
    const actions = (await s.decisions({ problem: mass?.id ?? 0, limit: 0 })).map((d) => d.action).reverse();
    expect(actions).toEqual(['wait', 'resume']);
    await eventually(() => restarted() === 3, 'every polecat restarted', 60_000);
    // Not reported again for the same deaths.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await problemsOf(f, 'mass-death')).length).toBe(1);
  }, 180_000);

  it('boot restarts a deacon killed with kill -9, and exits', async () => {
    const f = await fixture('patrol-boot');
    patrolTown(f, { standing_roles: ['deacon'] });
    f.run('daemon', 'start', '--tick', '1');
    await eventually(() => f.trace('hq-deacon').some((t) => t.step === 'patrol_scan'), 'the deacon to start', 30_000);
    await f.killAgent('hq-deacon');
    await eventually(
      async () => (await problemsOf(f, 'patrol-unresponsive')).some((p) => p.subject === 'deacon'),
      'the dead deacon to be recorded for boot',
      30_000,
    ).catch(async (err: unknown) => {
      await explain(f, ['hq-deacon', 'hq-boot']);
      throw err;
    });
    const s = f.store();
    await eventually(
      async () => (await s.decisions({ limit: 0 })).some((d) => d.actor === 'deacon/boot' && d.action === 'start'),
      'boot to start the deacon',
      60_000,
    );
    await eventually(
      () => f.trace('hq-deacon').filter((t) => t.step === 'prime').length >= 2,
      'the deacon to run again',
      30_000,
    ).catch(async (err: unknown) => {
      await explain(f, ['hq-deacon', 'hq-boot']);
      throw err;
    });
    await eventually(async () => !(await f.provider.list()).includes('hq-boot'), 'boot to be gone', 30_000);
    const [p] = (await problemsOf(f, 'patrol-unresponsive')).filter((x) => x.subject === 'deacon');
    await eventually(async () => (await s.problem(p?.id ?? 0)).state === 'resolved', 'the problem to resolve', 30_000);
    // The daemon started the standing deacon once, at the start, and left its return to boot.
    const lines = json<{ log: { event: string; kind?: string; address?: string }[] }>(
      f.run('daemon', 'status', '--lines', '400', '--json'),
    ).log;
    expect(lines.filter((l) => l.event === 'action' && l.kind === 'restart' && l.address === 'deacon')).toHaveLength(1);
  }, 120_000);

  it('a witness killed mid-patrol is started again and resumes the open problems from the store', async () => {
    const f = await fixture('patrol-resume');
    // The first witness hangs at the message it is woken with; the one after it is the plain sim.
    f.simAgent('sim-hang', '--hang-at', 'message');
    patrolTown(f);
    saveSettings(f.town, { ...loadSettings(f.town), role_agents: { witness: 'sim-hang' } });
    const s = f.store();
    const bead = await s.create({ title: 'hangs', description: '```sh\nsleep 600\n```' }, 'mayor');
    f.run('sling', bead.id, 'gastown/polecats/toast');
    f.run('daemon', 'start', '--tick', '1');
    await eventually(
      async () => (await problemsOf(f, 'stalled')).some((p) => p.woken_at !== null),
      'the witness to be woken for the stall',
      60_000,
    );
    await eventually(
      () => f.trace('ga-witness').some((t) => t.step === 'hang'),
      'the witness to be mid-patrol',
      30_000,
    );
    saveSettings(f.town, { ...loadSettings(f.town), role_agents: {} });
    await f.killAgent('ga-witness');
    await eventually(
      async () => (await s.decisions({ limit: 0 })).some((d) => d.actor === 'gastown/witness'),
      'the restarted witness to decide on the open problem',
      60_000,
    );
    const [stall] = await problemsOf(f, 'stalled');
    expect((await s.decisions({ problem: stall?.id ?? 0, limit: 0 }))[0]?.action).toBe('nudge');
    expect(scan(f).problems.some((p) => p.id === stall?.id)).toBe(true);
  }, 150_000);
});

describe('gt patrol scan and report', () => {
  it('lists a patrol agent its own problems, records a decision with its evidence, and refuses bad input', async () => {
    const f = await fixture('patrol-cli');
    const s = f.store();
    await s.syncProblems(
      [
        {
          kind: 'stalled',
          subject: 'gastown/polecats/toast',
          subject_type: 'agent',
          rig: 'gastown',
          owner: 'gastown/witness',
          summary: 'no progress',
          evidence: { hook: 'ga-1' },
        },
      ],
      { scope: ['stalled'], recurWithinMs: 0 },
      'daemon',
    );
    const asWitness = { ...f.env, GT_ROLE: 'gastown/witness', BD_ACTOR: 'gastown/witness' };
    const { gt } = await import('./helpers/bd.js');
    const mine = json<{ owner: string; problems: ScanProblem[] }>(
      gt(['patrol', 'scan', '--json'], { cwd: f.town.root, env: asWitness }),
    );
    expect(mine.owner).toBe('gastown/witness');
    expect(mine.problems.map((p) => p.kind)).toEqual(['stalled']);
    const id = String(mine.problems[0]?.id);
    const asDeaconBoot = { ...f.env, GT_ROLE: 'deacon/boot', BD_ACTOR: 'deacon/boot' };
    expect(
      json<{ problems: unknown[] }>(gt(['patrol', 'scan', '--json'], { cwd: f.town.root, env: asDeaconBoot })).problems,
    ).toEqual([]);
    const bad = gt(['patrol', 'report', id, '--action', 'explode', '--reason', 'x'], {
      cwd: f.town.root,
      env: asWitness,
    });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('unknown action');
    const foreign = gt(['patrol', 'report', id, '--action', 'wait', '--reason', 'x'], {
      cwd: f.town.root,
      env: asDeaconBoot,
    });
    expect(foreign.status).not.toBe(0);
    expect(foreign.stderr).toContain("gastown/witness's to judge");
    const ok = json<{ problem: Problem; decision: { action: string; evidence: Record<string, unknown> } }>(
      gt(['patrol', 'report', `#${id}`, '--action', 'nudge', '--reason', 'asked how it goes', '--json'], {
        cwd: f.town.root,
        env: asWitness,
      }),
    );
    expect(ok.problem.state).toBe('handling');
    expect(ok.decision).toMatchObject({ action: 'nudge', evidence: { hook: 'ga-1' } });
    const text = gt(['patrol', 'scan'], { cwd: f.town.root, env: asWitness }).stdout;
    expect(text).toContain('last decision: nudge by gastown/witness');
    // gt status opens with it, by severity and age.
    const status = gt(['status'], { cwd: f.town.root, env: f.env }).stdout;
    expect(status.split('\n')[0]).toBe('Patrol: 1 open problem(s) · gt patrol scan, gt patrol history');
    expect(status).toMatch(/#\d+ medium +\d+s {2}stalled gastown\/polecats\/toast \(handling, gastown\/witness\)/u);
    const statusJson = json<{ needs_person: { problems: { kind: string; severity: string }[] } }>(
      gt(['status', '--json'], { cwd: f.town.root, env: f.env }),
    );
    expect(statusJson.needs_person.problems).toEqual([
      expect.objectContaining({ kind: 'stalled', severity: 'medium' }),
    ]);
  }, 60_000);
});
