import { mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { GtError } from '../core/errors.js';
import { defaultTownSettings } from '../core/settings.js';
import { FakeSessionProvider } from '../session/fake.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../store/sqlite-bead-store.js';
import type { Town } from '../town/town.js';
import { flushQueuedNudges, formatQueuedNudges, nudgeAgent } from './nudge.js';
import { sendMail, turnBoundaryNotice } from './mail.js';
import { announceMail, announceWaitingMail } from './mail-notify.js';
import { onStop, parseHookInput, prime, whoAmI } from './prime.js';
import { startAgentSession, stopAgentSession, type TownContext } from './sessions.js';
import { sling, unsling } from './sling.js';

/** The work layer over the fake session provider and an in-memory store: decisions, records, text. */

const TOAST = 'gastown/polecats/toast';
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(): Promise<{
  store: SqliteBeadStore;
  town: Town;
  provider: FakeSessionProvider;
  ctx: TownContext;
  sandbox: string;
}> {
  const t = tempDir('work-unit');
  const store = openSqliteBeadStore(':memory:');
  cleanups.push(() => {
    store.dispose();
    t.cleanup();
  });
  const town: Town = {
    root: t.dir,
    name: 'unit',
    owner: 'o@e.x',
    created_at: '2026-11-24T00:00:00Z',
    tmuxSocket: 'gt-unit',
    dbPath: ':memory:',
  };
  const sandbox = join(t.dir, 'gastown', 'polecats', 'toast');
  mkdirSync(sandbox, { recursive: true });
  await store.registerAgent(
    { identity: { role: 'polecat', rig: 'gastown', name: 'toast' }, session_name: 'ga-toast', sandbox_path: sandbox },
    'test',
  );
  const provider = new FakeSessionProvider();
  const settings = { ...defaultTownSettings(), default_agent: 'sim' };
  const ctx: TownContext = {
    town,
    settings,
    store,
    provider,
    env: { ANTHROPIC_API_KEY: 'k', GT_ROLE: 'spoof' },
    gtCommand: ['/usr/bin/node', '/gt.cjs'],
    gtBin: '/gt.cjs',
    actor: 'test',
    now: () => Date.UTC(2026, 10, 24),
  };
  return { store, town, provider, ctx, sandbox };
}

describe('sessions (fake provider)', () => {
  it('launches the resolved agent in the sandbox with identity and credentials in the environment, not argv', async () => {
    const { ctx, provider, sandbox } = await setup();
    const r = await startAgentSession(ctx, TOAST, { wait: false });
    const spec = provider.startedWith('ga-toast');
    expect(spec.argv.slice(0, 4)).toEqual(['/usr/bin/node', '/gt.cjs', 'agent', 'sim']);
    expect(spec.argv.at(-1)).toMatch(
      /^\[GAS TOWN\] polecat toast \(rig: gastown\) <- test • 2026-11-24T00:00Z • start/,
    );
    expect(spec.cwd).toBe(sandbox);
    expect(spec.env).toMatchObject({
      GT_ROLE: TOAST,
      BD_ACTOR: TOAST,
      GT_SESSION: 'ga-toast',
      GT_BIN: '/gt.cjs',
      ANTHROPIC_API_KEY: 'k',
    });
    expect(spec.argv).not.toContain('k');
    expect((await ctx.store.openSession(TOAST))?.session_id).toBe(r.session_id);
    // gt is on the agent's PATH, ahead of everything else.
    expect(spec.env.PATH?.split(':')[0]).toBe(join(ctx.town.root, '.runtime', 'bin'));
    expect(readlinkSync(join(ctx.town.root, '.runtime', 'bin', 'gt'))).toBe('/gt.cjs');
  });

  it('writes the Claude settings file for claude agents and passes it with --settings', async () => {
    const { ctx, provider, town } = await setup();
    await startAgentSession(ctx, TOAST, { wait: false, agent: 'claude' });
    const argv = provider.startedWith('ga-toast').argv;
    expect(argv.slice(0, 4)).toEqual([
      'claude',
      '--dangerously-skip-permissions',
      '--settings',
      join(town.root, '.runtime', 'sessions', 'ga-toast', 'claude-settings.json'),
    ]);
    expect((await ctx.store.agent(TOAST)).runtime).toBe('claude');
  });

  it('--resume continues the CLI session recorded in the chain, and says so when there is none', async () => {
    const { ctx, provider, store } = await setup();
    await expect(startAgentSession(ctx, TOAST, { wait: false, agent: 'claude', resume: true })).rejects.toThrow(
      /no earlier claude session to resume/,
    );
    const first = await startAgentSession(ctx, TOAST, { wait: false, agent: 'claude' });
    await store.setRuntimeSessionId(first.session_id, '5f0c8f5e-1111-4222-8333-944455556666', 'claude');
    await stopAgentSession(ctx, TOAST);
    await startAgentSession(ctx, TOAST, { wait: false, resume: true });
    const argv = provider.startedWith('ga-toast').argv;
    expect(argv.slice(argv.indexOf('--resume'), argv.indexOf('--resume') + 2)).toEqual([
      '--resume',
      '5f0c8f5e-1111-4222-8333-944455556666',
    ]);
    expect(argv.at(-1)).toContain('• resume —');
  });

  it('stop closes the open record even when tmux had nothing', async () => {
    const { ctx } = await setup();
    const r = await startAgentSession(ctx, TOAST, { wait: false });
    const stopped = await stopAgentSession(ctx, TOAST);
    expect(stopped).toMatchObject({ was_running: true, ended: { session_id: r.session_id, end_reason: 'killed' } });
    expect((await stopAgentSession(ctx, TOAST)).ended).toBeNull();
  });
});

describe('nudgeAgent', () => {
  it('queues for an agent without a session, and when asked to', async () => {
    const { ctx, store } = await setup();
    expect(await nudgeAgent(ctx, { to: TOAST, from: 'mayor', message: 'one', mode: 'wait-idle' })).toMatchObject({
      result: 'queued',
      reason: 'no-session',
    });
    expect(
      await nudgeAgent(ctx, { to: TOAST, from: 'mayor', message: 'two', mode: 'queue', urgent: true }),
    ).toMatchObject({ result: 'queued', reason: 'no-session' });
    expect((await store.pendingNudges(TOAST)).map((n) => n.body)).toEqual(['two', 'one']);
  });

  it('queues instead of typing into a busy agent, and types into an idle one', async () => {
    const { ctx, provider, store } = await setup();
    await startAgentSession(ctx, TOAST, { wait: false });
    provider.setScreen('ga-toast', 'sim> go\n· sim: working (esc to interrupt)');
    expect(
      await nudgeAgent(ctx, { to: TOAST, from: 'mayor', message: 'later', mode: 'wait-idle', waitIdleMs: 50 }),
    ).toMatchObject({ result: 'queued', reason: 'busy' });
    expect(provider.input.get('ga-toast') ?? []).toEqual([]);
    provider.setScreen('ga-toast', 'sim> ');
    provider.respond(
      'ga-toast',
      (i) => i.kind === 'key' && provider.setScreen('ga-toast', 'sim> [from mayor] now\nsim> '),
    );
    expect(
      await nudgeAgent(ctx, { to: TOAST, from: 'mayor', message: 'now', mode: 'wait-idle', waitIdleMs: 500 }),
    ).toMatchObject({ result: 'delivered' });
    expect((await store.pendingNudges(TOAST)).map((n) => n.body)).toEqual(['later']);
  });

  it('refuses a malformed address as such, before looking it up', async () => {
    const { ctx } = await setup();
    await expect(
      nudgeAgent(ctx, { to: 'gastown/polecats/../x', from: 'm', message: 'hi', mode: 'queue' }),
    ).rejects.toThrow(/invalid agent address/);
  });
});

describe('announcing mail', () => {
  it('typed into an idle agent; to a busy one, urgent is queued as a nudge and normal waits for its turn boundary (the Stop hook at the latest); the overseer has an inbox', async () => {
    const { ctx, provider, store } = await setup();
    await startAgentSession(ctx, TOAST, { wait: false });
    provider.setScreen('ga-toast', 'sim> go\n· sim: working (esc to interrupt)');
    const normal = await sendMail(store, { from: 'overseer', fromName: 'Ada', to: TOAST, subject: 'fyi' });
    expect(await announceMail(ctx, normal)).toBe('next-turn');
    expect(await store.pendingNudges(TOAST)).toEqual([]);
    const urgent = await sendMail(store, {
      from: 'overseer',
      fromName: 'Ada',
      to: TOAST,
      subject: 'stop',
      priority: 'urgent',
    });
    expect(await announceMail(ctx, urgent)).toBe('queued');
    expect(provider.input.get('ga-toast') ?? []).toEqual([]);
    const agent = await store.agent(TOAST);
    const stop = JSON.parse(await onStop(store, agent, { stopHookActive: false, remindDone: false })) as {
      decision: string;
      reason: string;
    };
    expect(stop.decision).toBe('block');
    expect(stop.reason).toContain(`[from overseer, urgent] urgent mail ${urgent.id} from overseer (Ada): stop`);
    // The end of the turn is a turn boundary: the normal mail is handed over there too, once; the urgent one
    // was announced by its nudge.
    expect(stop.reason).toContain(normal.id);
    expect(stop.reason.split(urgent.id)).toHaveLength(3); // the nudge's text only: "urgent mail <id> … gt mail read <id>"
    expect(await turnBoundaryNotice(store, TOAST, 'prompt-submit')).toBe('');

    provider.setScreen('ga-toast', 'sim> ');
    provider.respond('ga-toast', (i) => i.kind === 'key' && provider.setScreen('ga-toast', 'sim> [mail]\nsim> '));
    const idle = await sendMail(store, { from: 'mayor', to: TOAST, subject: 'now', priority: 'urgent' });
    expect(await announceMail(ctx, idle)).toBe('typed');
    expect(JSON.stringify(provider.input.get('ga-toast'))).toContain(`[urgent mail from mayor] ${idle.id}: now`);
    expect(await announceMail(ctx, await sendMail(store, { from: 'mayor', to: 'overseer', subject: 'x' }))).toBe(
      'inbox',
    );
  });
});

describe('mail that slipped between turns', () => {
  it('the daemon types it once its recipient sits idle at its prompt; busy, or just sent, it waits', async () => {
    const { ctx, provider, store } = await setup();
    await startAgentSession(ctx, TOAST, { wait: false });
    provider.setScreen('ga-toast', 'sim> go\n· sim: working (esc to interrupt)');
    const mail = await sendMail(store, { from: 'mayor', to: TOAST, subject: 'after your stop hook' });
    const later = { ...ctx, now: () => Date.now() + 10_000 };
    // Just sent: its sender announces it.
    expect(await announceWaitingMail({ ...ctx, now: () => Date.now() }, new Set([TOAST]))).toEqual([]);
    // Busy: left for its turn boundary, still unannounced.
    expect(await announceWaitingMail(later, new Set([TOAST]))).toEqual([
      { to: TOAST, id: mail.id, announced: 'next-turn' },
    ]);
    // Not seen idle by the daemon: not tried.
    provider.setScreen('ga-toast', 'sim> ');
    expect(await announceWaitingMail(later, new Set())).toEqual([]);
    provider.respond('ga-toast', (i) => i.kind === 'key' && provider.setScreen('ga-toast', 'sim> [mail]\nsim> '));
    expect(await announceWaitingMail(later, new Set([TOAST]))).toEqual([
      { to: TOAST, id: mail.id, announced: 'typed' },
    ]);
    expect(JSON.stringify(provider.input.get('ga-toast'))).toContain(
      `[mail from mayor] ${mail.id}: after your stop hook`,
    );
    // Once.
    expect(await announceWaitingMail(later, new Set([TOAST]))).toEqual([]);
    expect(await turnBoundaryNotice(store, TOAST, 'prompt-submit')).toBe('');
  });
});

describe('mail for the record', () => {
  it('low priority never costs a turn: not typed, not at the end of a turn, not by the daemon; told at the next prompt', async () => {
    const { ctx, provider, store } = await setup();
    await startAgentSession(ctx, TOAST, { wait: false });
    provider.setScreen('ga-toast', 'sim> ');
    const later = { ...ctx, now: () => Date.now() + 10_000 };
    const fyi = await sendMail(store, { from: 'refinery', to: TOAST, subject: 'landed', priority: 'low' });
    expect(await announceMail(ctx, fyi)).toBe('next-turn');
    expect(provider.input.get('ga-toast') ?? []).toEqual([]);
    expect(await announceWaitingMail(later, new Set([TOAST]))).toEqual([]);
    expect(await onStop(store, await store.agent(TOAST), { stopHookActive: false, remindDone: false })).toBe('');
    expect(await turnBoundaryNotice(store, TOAST, 'prompt-submit')).toContain(`${fyi.id} from refinery: landed [low]`);
  });
});

describe('queued nudges for CLIs without turn hooks', () => {
  it('a busy hookless agent gets a watcher; one with turn hooks does not', async () => {
    const { ctx, provider } = await setup();
    const spawned: (readonly string[])[] = [];
    const withSpawn: TownContext = { ...ctx, spawnGt: (args) => spawned.push(args) };
    await startAgentSession(withSpawn, TOAST, { wait: false });
    provider.setScreen('ga-toast', 'sim> x\n· sim: working');
    await nudgeAgent(withSpawn, { to: TOAST, from: 'mayor', message: 'a', mode: 'wait-idle', waitIdleMs: 20 });
    expect(spawned).toEqual([]);
    // Queued on purpose: an idle agent has no next turn, so a watcher types it in once it is idle.
    await nudgeAgent(withSpawn, { to: TOAST, from: 'mayor', message: 'later', mode: 'queue' });
    expect(spawned).toEqual([['nudge', TOAST, '--flush', '--wait', '600', '--delay', '2000']]);
    spawned.length = 0;
    await stopAgentSession(withSpawn, TOAST);
    const codex: TownContext = { ...withSpawn, settings: { ...ctx.settings, default_agent: 'codex' } };
    await startAgentSession(codex, TOAST, { wait: false, agent: 'codex' });
    provider.setScreen('ga-toast', '• Working (3s • esc to interrupt)');
    expect(
      await nudgeAgent(codex, { to: TOAST, from: 'mayor', message: 'b', mode: 'wait-idle', waitIdleMs: 20 }),
    ).toMatchObject({ result: 'queued' });
    expect(spawned).toEqual([['nudge', TOAST, '--flush', '--wait', '600', '--delay', '2000']]);
  });

  it('flush types everything queued as one line once the agent is idle, and requeues on failure', async () => {
    const { ctx, provider, store } = await setup();
    await store.updateAgent(TOAST, { runtime: 'codex' }, 'test');
    await startAgentSession(ctx, TOAST, { wait: false });
    expect(await flushQueuedNudges(ctx, TOAST, 0)).toMatchObject({ outcome: 'nothing-queued' });
    await store.queueNudge({ recipient: TOAST, sender: 'mayor', body: 'one' }, 'm');
    await store.queueNudge({ recipient: TOAST, sender: 'gastown/witness', body: 'two' }, 'w');
    provider.setScreen('ga-toast', '• Working (esc to interrupt)');
    expect(await flushQueuedNudges(ctx, TOAST, 0)).toMatchObject({ delivered: 0, outcome: 'busy' });
    expect(await store.pendingNudges(TOAST)).toHaveLength(2);
    provider.setScreen('ga-toast', '› ');
    provider.respond('ga-toast', (i) => i.kind === 'key' && provider.setScreen('ga-toast', '› done\n› '));
    expect(await flushQueuedNudges(ctx, TOAST, 5_000)).toEqual({ to: TOAST, delivered: 2, outcome: 'delivered' });
    expect(provider.input.get('ga-toast')?.[0]).toEqual({
      kind: 'text',
      value: '[queued nudges] [from mayor] one · [from gastown/witness] two',
    });
    expect(await store.pendingNudges(TOAST)).toEqual([]);
  });
});

describe('sling to an agent (fake sessions)', () => {
  async function two(): Promise<Awaited<ReturnType<typeof setup>> & { nux: string }> {
    const base = await setup();
    const nux = join(base.town.root, 'gastown', 'polecats', 'nux');
    mkdirSync(nux, { recursive: true });
    await base.store.registerAgent(
      { identity: { role: 'polecat', rig: 'gastown', name: 'nux' }, session_name: 'ga-nux', sandbox_path: nux },
      'test',
    );
    return { ...base, nux };
  }

  it('hooks before it starts the session, and refuses closed beads and unknown agents', async () => {
    const { ctx, store, provider } = await two();
    const bead = await store.create({ title: 'work' }, 'mayor');
    const seen: (string | null)[] = [];
    const origStart = provider.start.bind(provider);
    provider.start = async (spec) => {
      seen.push((await store.agent(TOAST)).hook_bead);
      return origStart(spec);
    };
    const [r] = await sling({ ...ctx, store }, [bead.id], TOAST, { args: 'be brief', wait: false });
    expect(r).toMatchObject({ bead: bead.id, agent: TOAST, action: 'started', created: false, took_over_from: null });
    expect(seen).toEqual([bead.id]);
    const closed = await store.create({ title: 'old' }, 'mayor');
    await store.close([closed.id], {}, 'mayor');
    await expect(sling({ ...ctx, store }, [closed.id], 'gastown/polecats/nux')).rejects.toThrow(/is closed/);
    await expect(sling({ ...ctx, store }, [closed.id], 'mayor')).rejects.toThrow(/no agent mayor|is closed/);
    await expect(sling({ ...ctx, store }, [bead.id, closed.id], TOAST)).rejects.toThrow(/one bead at a time/);
    // Taken back by hand: marked, so that a convoy's feed leaves it alone; slung again: unmarked.
    provider.exitProgram('ga-toast');
    await unsling({ ...ctx, store }, await store.agent(TOAST), { force: true });
    expect((await store.show([bead.id]))[0]?.metadata.gt_unslung).toMatchObject({ by: 'test' });
    provider.setScreen('ga-toast', 'sim> ');
    await sling({ ...ctx, store }, [bead.id], TOAST, { wait: false });
    expect((await store.show([bead.id]))[0]?.metadata.gt_unslung ?? null).toBeNull();
  });

  it('takes a bead from a dead holder, never from a working one or a sling in flight (without --force)', async () => {
    const { ctx, store, provider } = await two();
    let now = Date.now();
    const c = { ...ctx, store, now: () => now };
    const noWait = { wait: false };
    const bead = await store.create({ title: 'contested' }, 'mayor');
    await sling(c, [bead.id], TOAST, noWait);
    // Running: refused.
    await expect(sling(c, [bead.id], 'gastown/polecats/nux', noWait)).rejects.toThrow(/is on it/);
    // Its CLI died in the pane: taken over.
    provider.exitProgram('ga-toast');
    const [r] = await sling(c, [bead.id], 'gastown/polecats/nux', noWait);
    expect(r).toMatchObject({ agent: 'gastown/polecats/nux', took_over_from: TOAST });
    expect((await store.agent(TOAST)).hook_bead).toBeNull();
    // A hook with no session yet is a sling in flight for a minute, then fair game.
    await stopAgentSession(c, 'gastown/polecats/nux');
    await store.unhook('gastown/polecats/nux', 'mayor');
    await stopAgentSession(c, TOAST);
    const fresh = await store.create({ title: 'fresh' }, 'mayor');
    await store.hook(TOAST, fresh.id, 'mayor');
    await expect(sling(c, [fresh.id], 'gastown/polecats/nux', noWait)).rejects.toThrow(/already on/);
    now += 61_000;
    expect((await sling(c, [fresh.id], 'gastown/polecats/nux', noWait))[0]?.took_over_from).toBe(TOAST);
    // A person's claim is never taken without --force.
    const claimed = await store.create({ title: 'mine' }, 'alice');
    await store.claim(claimed.id, 'alice');
    await stopAgentSession(c, 'gastown/polecats/nux');
    await store.unhook('gastown/polecats/nux', 'mayor');
    await expect(sling(c, [claimed.id], 'gastown/polecats/nux', noWait)).rejects.toThrow(/alice/);
    expect(
      (await sling(c, [claimed.id], 'gastown/polecats/nux', { force: true, wait: false }))[0]?.took_over_from,
    ).toBe('alice');
  });

  it("refuses a polecat name that does not exist (listing the rig's polecats) and a bad target before any hook check", async () => {
    const { ctx, store, town } = await two();
    await store.registerRig(
      { name: 'gastown', prefix: 'ga', url: '/x', default_branch: 'main', path: join(town.root, 'gastown') },
      [],
      'test',
    );
    const c = { ...ctx, store };
    const bead = await store.create({ title: 'work' }, 'mayor');
    await expect(sling(c, [bead.id], 'gastown/polecats/cedar', { wait: false })).rejects.toThrow(
      /gastown has no polecat cedar/,
    );
    const refused: unknown = await sling(c, [bead.id], 'gastown/polecats/cedar', { wait: false }).catch(
      (e: unknown) => e,
    );
    expect(refused instanceof GtError ? refused.hint : refused).toMatch(
      /its polecats: (nux, toast|toast, nux).*--create/,
    );
    expect((await store.show([bead.id]))[0]).toMatchObject({ status: 'open', assignee: null });
    expect((await store.agents({ rig: 'gastown', role: 'polecat' })).map((a) => a.name).sort()).toEqual([
      'nux',
      'toast',
    ]);
    // A bead held by a running agent: a bad target is still reported as the bad target.
    await sling(c, [bead.id], TOAST, { wait: false });
    await expect(sling(c, [bead.id], 'nowhere', { wait: false })).rejects.toThrow(/no rig nowhere/);
    await expect(sling(c, [bead.id], 'elsewhere/polecats/nux', { wait: false })).rejects.toThrow(/no rig elsewhere/);
    await expect(sling(c, [bead.id], 'gastown/witness', { wait: false })).rejects.toThrow(/no agent gastown\/witness/);
    await expect(sling(c, [bead.id], 'gastown/polecats/cedar', { wait: false })).rejects.toThrow(/no polecat cedar/);
    await expect(sling(c, [bead.id], 'gastown/polecats/nux', { wait: false })).rejects.toThrow(/is on it/);
  });

  it('rolls the hook back when the session will not start', async () => {
    const { ctx, store, provider } = await two();
    const bead = await store.create({ title: 'doomed' }, 'mayor');
    provider.start = () => Promise.reject(new Error('tmux is broken'));
    await expect(sling({ ...ctx, store }, [bead.id], TOAST, { wait: false })).rejects.toThrow(/tmux is broken/);
    expect((await store.agent(TOAST)).hook_bead).toBeNull();
    expect((await store.show([bead.id]))[0]).toMatchObject({ status: 'open', assignee: null });
    expect((await store.sessions(TOAST)).map((x) => x.end_reason)).toEqual(['crashed']);
  });
});

describe('prime and the turn-boundary hooks', () => {
  it('tells the agent who it is and what is on its hook, records the CLI session id, and hands over queued nudges once', async () => {
    const { store, town } = await setup();
    const bead = await store.create({ title: 'fix the build', description: 'It is red.' }, 'mayor');
    await store.hook(TOAST, bead.id, 'mayor');
    const session = await store.startSession({ agent: TOAST, runtime: 'claude' }, 'test');
    await store.queueNudge({ recipient: TOAST, sender: 'gastown/witness', body: 'are you there?' }, 'w');
    const agent = await store.agent(TOAST);
    const input = parseHookInput(
      JSON.stringify({
        session_id: '5f0c8f5e-1111-4222-8333-944455556666',
        source: 'startup',
        hook_event_name: 'SessionStart',
        extra: 1,
      }),
    );
    const r = await prime(store, town, agent, { hook: true, input, actor: TOAST });
    expect(r.text.split('\n')[0]).toBe(
      `[GAS TOWN] role:${TOAST} session:ga-toast runtime-session:5f0c8f5e-1111-4222-8333-944455556666 source:startup`,
    );
    expect(r.text).toContain(`${bead.id}: fix the build [hooked]`);
    expect(r.text).toContain('begin now, without asking');
    expect(r.text).toContain('run `gt done`');
    expect(r.text).toContain('[from gastown/witness] are you there?');
    expect((await store.sessions(TOAST))[0]).toMatchObject({
      session_id: session.session_id,
      runtime_session_id: '5f0c8f5e-1111-4222-8333-944455556666',
    });
    expect((await prime(store, town, agent, { hook: false, input: {}, actor: TOAST })).nudges).toEqual([]);
    // Mail its start-up prime listed is announced: no turn boundary tells it again. A person's prime only looks.
    const first = await sendMail(store, { from: 'mayor', to: TOAST, subject: 'seen at start' });
    expect(
      (await prime(store, town, agent, { hook: false, input: {}, actor: 'test' })).unread_mail.map((m) => m.id),
    ).toEqual([first.id]);
    expect(await turnBoundaryNotice(store, TOAST, 'peek')).toContain(first.id);
    const second = await sendMail(store, { from: 'mayor', to: TOAST, subject: 'also seen at start' });
    expect(
      (await prime(store, town, agent, { hook: true, input: {}, actor: TOAST })).unread_mail.map((m) => m.id),
    ).toContain(second.id);
    expect(await turnBoundaryNotice(store, TOAST, 'prompt-submit')).toBe('');
  });

  it("keeps the transcript a Claude-form start-up hook names as the agent's usage record, and no other", async () => {
    const { store, town } = await setup();
    await store.startSession({ agent: TOAST, runtime: 'claude' }, 'test');
    const agent = await store.agent(TOAST);
    const transcript = '/home/u/.claude/projects/-t-gastown-polecats-toast/5f0c8f5e.jsonl';
    const hook = (over: object) =>
      parseHookInput(JSON.stringify({ session_id: '5f0c8f5e', hook_event_name: 'SessionStart', ...over }));
    await prime(store, town, agent, { hook: true, input: hook({ transcript_path: transcript }), actor: TOAST });
    expect(await store.usageSources()).toEqual([
      expect.objectContaining({
        path: transcript,
        agent: TOAST,
        runtime: 'claude',
        format: 'claude',
        runtime_session_id: '5f0c8f5e',
      }),
    ]);
    // A relative path, a CLI whose records are not Claude's, a person's prime: nothing more is kept.
    await prime(store, town, agent, { hook: true, input: hook({ transcript_path: 'x.jsonl' }), actor: TOAST });
    await prime(store, town, agent, {
      hook: true,
      input: hook({ transcript_path: '/g/chat.jsonl' }),
      runtime: 'gemini',
      actor: TOAST,
    });
    await prime(store, town, agent, {
      hook: false,
      input: hook({ transcript_path: '/p/by-hand.jsonl' }),
      actor: 'test',
    });
    expect((await store.usageSources()).map((x) => x.path)).toEqual([transcript]);
  });

  it('renders each role: who it is, its duty, and what to do with an empty hook', async () => {
    const { store, town } = await setup();
    const identities = [
      {
        identity: { role: 'mayor' } as const,
        expect: /You are mayor[\s\S]*coordinate the town[\s\S]*overseer's requests/,
      },
      { identity: { role: 'deacon' } as const, expect: /You are deacon[\s\S]*patrol the town/ },
      { identity: { role: 'boot' } as const, expect: /You are boot[\s\S]*triage the deacon/ },
      {
        identity: { role: 'witness', rig: 'gastown' } as const,
        expect: /You are witness \(rig: gastown\)[\s\S]*judge the problems the daemon records/,
      },
      {
        identity: { role: 'refinery', rig: 'gastown' } as const,
        expect: /You are refinery \(rig: gastown\)[\s\S]*merge requests/,
      },
      {
        identity: { role: 'crew', rig: 'gastown', name: 'ana' } as const,
        expect: /You are crew ana \(rig: gastown\)[\s\S]*ask the human/,
      },
    ];
    for (const [i, x] of identities.entries()) {
      const agent = await store.registerAgent(
        { identity: x.identity, session_name: `s-${i}`, sandbox_path: `/town/x${i}` },
        'test',
      );
      expect((await prime(store, town, agent, { hook: false, input: {}, actor: 'test' })).text).toMatch(x.expect);
    }
    const polecat = await prime(store, town, await store.agent(TOAST), { hook: false, input: {}, actor: 'test' });
    expect(polecat.text).toContain('You are finished: there is no work for you.');
  });

  it('lists the steps of the hooked work, and records a hand-started CLI in the chain', async () => {
    const { store, town } = await setup();
    const epic = await store.create({ title: 'ship it' }, 'mayor');
    const a = await store.create({ title: 'write', parent: epic.id }, 'mayor');
    await store.create({ title: 'test', parent: epic.id }, 'mayor');
    await store.close([a.id], {}, 'mayor');
    await store.hook(TOAST, epic.id, 'mayor');
    const r = await prime(store, town, await store.agent(TOAST), {
      hook: true,
      input: { session_id: 'abc-123', source: 'startup' },
      runtime: 'claude',
      actor: TOAST,
    });
    expect(r.text).toMatch(/1\. \[x\] \S+: write\n {2}2\. \[ \] \S+: test/);
    expect(await store.sessions(TOAST)).toMatchObject([
      { runtime: 'claude', runtime_session_id: 'abc-123', bead_id: epic.id, end_reason: null },
    ]);
  });

  it('after compaction, primes briefly', async () => {
    const { store, town } = await setup();
    const r = await prime(store, town, await store.agent(TOAST), {
      hook: true,
      input: { source: 'compact' },
      actor: TOAST,
    });
    expect(r.text).toContain('Recovery: your context was compacted');
  });

  it('prompt-submit hands over queued nudges; stop keeps the turn going for them, then reminds a polecat once', async () => {
    const { store } = await setup();
    const agent = await store.agent(TOAST);
    expect(await turnBoundaryNotice(store, TOAST, 'prompt-submit')).toBe('');
    await store.queueNudge({ recipient: TOAST, sender: 'mayor', body: 'first' }, 'm');
    expect(await turnBoundaryNotice(store, TOAST, 'prompt-submit')).toBe(
      formatQueuedNudges([
        {
          id: 1,
          recipient: TOAST,
          sender: 'mayor',
          body: 'first',
          urgent: false,
          created_at: '',
          delivered_at: '',
          delivered_by: '',
        },
      ]),
    );
    await store.queueNudge({ recipient: TOAST, sender: 'mayor', body: 'second', urgent: true }, 'm');
    const stop = JSON.parse(await onStop(store, agent, { stopHookActive: false, remindDone: true })) as {
      decision: string;
      reason: string;
    };
    expect(stop.decision).toBe('block');
    expect(stop.reason).toContain('[from mayor, urgent] second');
    expect(stop.reason).toContain('Handle the urgent ones');
    expect(await onStop(store, agent, { stopHookActive: false, remindDone: true })).toBe('');
    const bead = await store.create({ title: 'x' }, 'mayor');
    const hooked = await store.hook(TOAST, bead.id, 'mayor');
    expect(JSON.parse(await onStop(store, hooked, { stopHookActive: false, remindDone: true }))).toMatchObject({
      decision: 'block',
    });
    expect(await onStop(store, hooked, { stopHookActive: true, remindDone: true })).toBe('');
    expect(await onStop(store, hooked, { stopHookActive: false, remindDone: false })).toBe('');
  });

  it('finds the asking agent by GT_ROLE or by the sandbox it stands in', async () => {
    const { store, sandbox } = await setup();
    expect((await whoAmI(store, { GT_ROLE: TOAST }, '/')).address).toBe(TOAST);
    expect((await whoAmI(store, {}, join(sandbox, 'src'))).address).toBe(TOAST);
    await expect(whoAmI(store, {}, '/')).rejects.toThrow(/not an agent sandbox/);
  });
});
