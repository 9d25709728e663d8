import { describe, expect, it } from 'vitest';
import { gt, json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';
import { loadSettings, saveSettings } from '../src/town/town.js';

/**
 * One vocabulary of observed states across gt agents, gt status, gt town and gt session list, and what the
 * daemon does about them: an agent waiting at a question, one that needs help, one that hangs with a busy
 * pane, a closed bead left on a hook, a person's crew sandbox. Real tmux, the store and the sim agent.
 */

const fixture = useSessionTowns();
const TOAST = 'gastown/polecats/toast';

type Seen = { state: string; question: string | null };

/** The agent as each view shows it: every view must agree. */
function views(f: SessionTown, address: string): Record<string, Seen | undefined> {
  const pick = (list: (Seen & { address: string })[]): Seen | undefined => {
    const a = list.find((x) => x.address === address);
    return a === undefined ? undefined : { state: a.state, question: a.question };
  };
  type Row = Seen & { address: string };
  return {
    agents: pick(json<Row[]>(f.run('agents', '--json'))),
    status: pick(json<{ agents: Row[] }>(f.run('status', '--json')).agents),
    town: pick(json<{ agents: Row[] }>(f.run('town', '--json')).agents),
    sessions: pick(json<{ sessions: Row[] }>(f.run('session', 'list', '--all', '--json')).sessions),
  };
}

function agreeOn(f: SessionTown, address: string, state: string): Seen {
  const seen = views(f, address);
  for (const [view, s] of Object.entries(seen)) expect({ view, state: s?.state }).toEqual({ view, state });
  const first = seen.agents;
  for (const s of Object.values(seen)) expect(s?.question).toBe(first?.question);
  return first ?? { state, question: null };
}

function witnessMail(f: SessionTown): { subject: string; from: string; body: string }[] {
  return json<{ subject: string; from: string; body: string }[]>(
    gt(['mail', 'inbox', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/witness' } }),
  );
}

function quickDaemon(f: SessionTown, daemon: Partial<ReturnType<typeof loadSettings>['daemon']>): void {
  const settings = loadSettings(f.town);
  saveSettings(f.town, { ...settings, daemon: { ...settings.daemon, start_grace_seconds: 1, ...daemon } });
}

describe('observed states, in every view', () => {
  it('an agent at a permission question needs input (never working); the witness is told once; answered, it goes on', async () => {
    const f = await fixture('state-ask');
    quickDaemon(f, {});
    f.simAgent('sim-ask', '--ask-at', 'run');
    const s = f.store();
    const bead = await s.create({ title: 'asks first', description: '```sh\nprintf ok > asked.txt\n```' }, 'mayor');
    f.run('sling', bead.id, TOAST, '--agent', 'sim-ask');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'asked'), 'the question');
    await eventually(() => views(f, TOAST).agents?.state === 'needs-input', 'needs-input');
    expect(agreeOn(f, TOAST, 'needs-input').question).toBe('Do you want to proceed?');
    expect(f.run('status').stdout).toMatch(
      /gastown\/polecats\/toast\s+needs-input .*waits at: Do you want to proceed\?/,
    );

    f.run('daemon', 'start', '--tick', '1');
    await eventually(() => witnessMail(f).length > 0, 'the witness to be told', 30_000);
    await new Promise((r) => setTimeout(r, 3_000)); // several more passes
    expect(witnessMail(f)).toEqual([
      expect.objectContaining({
        from: 'daemon',
        subject: `Needs input: ${TOAST}`,
        body: expect.stringContaining('waits at: Do you want to proceed?') as string,
      }),
    ]);

    await f.provider.sendKeys('ga-toast', ['Enter']);
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'report'), 'the work to finish', 30_000);
    expect(views(f, TOAST).agents?.state).not.toBe('needs-input');
    // Told once about the question (the refinery's note that the work landed may come by too).
    expect(witnessMail(f).filter((m) => m.subject.startsWith('Needs input'))).toHaveLength(1);
  }, 120_000);

  it('a bead the sim cannot do: it asks for help, every view shows the reason, and the witness is told', async () => {
    const f = await fixture('state-help');
    quickDaemon(f, {});
    const s = f.store();
    const bead = await s.create({ title: 'think hard', description: 'No script here.' }, 'mayor');
    f.run('sling', bead.id, TOAST);
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'stuck'), 'the sim to read its work');
    await eventually(() => views(f, TOAST).agents?.state === 'needs-input', 'needs-input');
    const seen = agreeOn(f, TOAST, 'needs-input');
    expect(seen.question).toContain(`sim: needs help with ${bead.id}: its description has no`);
    f.run('daemon', 'start', '--tick', '1');
    await eventually(
      () => witnessMail(f).some((m) => m.subject === `Needs input: ${TOAST}` && m.body.includes('needs help')),
      'the witness to be told',
      30_000,
    );
  }, 90_000);

  it('a hung agent whose busy pane never moves is working, then stalled once the daemon has watched it long enough', async () => {
    const f = await fixture('state-hang');
    quickDaemon(f, { stalled_after_seconds: 2 });
    f.simAgent('sim-hang', '--hang-at', 'run');
    const s = f.store();
    const bead = await s.create({ title: 'never finishes', description: '```sh\ntrue\n```' }, 'mayor');
    f.run('sling', bead.id, TOAST, '--agent', 'sim-hang');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'hang'), 'the sim to hang');
    agreeOn(f, TOAST, 'working');
    // Nobody has watched the pane yet: a busy pane is working, however old the last update.
    await new Promise((r) => setTimeout(r, 2_500));
    agreeOn(f, TOAST, 'working');

    f.run('daemon', 'start', '--tick', '1');
    await eventually(
      () => witnessMail(f).some((m) => m.subject === `Stalled: ${TOAST} on ${bead.id}`),
      'the stall report',
      30_000,
    );
    agreeOn(f, TOAST, 'stalled');
  }, 90_000);

  it('a closed bead left on a hook is taken off by the daemon, and that is recorded', async () => {
    const f = await fixture('state-closed-hook');
    const s = f.store();
    const bead = await s.create({ title: 'done by hand' }, 'mayor');
    await s.hook(TOAST, bead.id, 'mayor');
    await s.close([bead.id], { reason: 'fixed by a person' }, 'mayor');
    const run = f.run('daemon', 'run', '--passes', '2', '--tick', '1');
    expect(run.status, run.stderr).toBe(0);
    expect((await s.agent(TOAST)).hook_bead).toBeNull();
    expect((await s.show([bead.id]))[0]?.status).toBe('closed');
    const unhooked = await s.events({ issueId: TOAST, eventType: 'unhooked' });
    expect(unhooked.map((e) => [e.actor, e.old_value])).toEqual([['daemon', bead.id]]);
    expect(run.stderr).toContain(`"kind":"clear-hook","address":"${TOAST}"`);
    // Not restarted: it was never dead with work, only holding finished work. (The one session is the rig's
    // refinery, a standing role.)
    expect(await f.provider.list()).toEqual(['ga-refinery']);
  }, 60_000);

  it('never starts or restarts a crew session, even with work on its hook', async () => {
    const f = await fixture('state-crew');
    expect(f.run('crew', 'add', 'ana', '--rig', 'gastown').status).toBe(0);
    const s = f.store();
    const bead = await s.create({ title: 'ana works on this' }, 'mayor');
    await s.hook('gastown/crew/ana', bead.id, 'mayor');
    quickDaemon(f, { standing_roles: [] });
    await new Promise((r) => setTimeout(r, 1_200)); // past the start grace
    const run = f.run('daemon', 'run', '--passes', '2', '--tick', '1');
    expect(run.status, run.stderr).toBe(0);
    expect(await f.provider.list()).toEqual([]);
    expect(run.stderr).not.toContain('gastown/crew/ana');
    expect(views(f, 'gastown/crew/ana').agents?.state).toBe('dead-with-work');
  }, 60_000);

  it('gt status counts work beads, not mail, merge requests or escalations', async () => {
    const f = await fixture('state-work');
    const s = f.store();
    await s.create({ title: 'real work' }, 'mayor');
    await s.create({ title: 'an MR', issue_type: 'merge-request' }, 'mayor');
    await s.create({ title: 'help', issue_type: 'escalation' }, 'mayor');
    f.run('mail', 'send', 'gastown/witness', '-s', 'hello');
    const snap = json<{ work: { open: number; ready: number } }>(f.run('status', '--json'));
    expect(snap.work).toMatchObject({ open: 1, ready: 1 });
    expect(f.run('status').stdout).toContain('Work: 1 open (1 ready)');
  }, 60_000);
});
