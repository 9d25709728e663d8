import { describe, expect, it } from 'vitest';
import { ingestUsage } from '../src/costs/ingest.js';
import { usageByAgent } from '../src/costs/report.js';
import { escalate } from '../src/patrol/escalation.js';
import { sendMail } from '../src/work/mail.js';
import { buildTownView, eventsAfter, StateMemory, type TownView } from '../src/views/model.js';
import { runViewAction } from '../src/views/actions.js';
import { watchTown, type WatchCause } from '../src/views/watch.js';
import { eventually, useSessionTowns } from './helpers/session-town.js';

/** The model the feed and the dashboard render, over a real town (tmux, the sim agent), and its watcher. */

const fixture = useSessionTowns();

describe('the town view', () => {
  it('puts what needs a person first (by severity, then age), rows every agent, and streams the events', async () => {
    const f = await fixture('views-model');
    f.simAgent('sim-ask', '--ask-at', 'run');
    const s = f.store();
    const ctx = { ...f.context(s), store: s };
    const bead = await s.create({ title: 'asks first', description: '```sh\ntrue\n```' }, 'mayor');
    f.run('sling', bead.id, 'gastown/polecats/toast', '--agent', 'sim-ask');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'asked'), 'the question to show', 30_000);
    const low = await escalate(ctx, { what: 'the docs are stale', severity: 'low', source: 'tester', actor: 'tester' });
    const critical = await escalate(ctx, {
      what: 'the disk is full',
      severity: 'critical',
      source: 'tester',
      actor: 'tester',
    });
    await sendMail(s, { from: 'mayor', to: 'overseer', subject: 'your health endpoint landed', priority: 'high' });

    const states = new StateMemory();
    let view: TownView | undefined;
    await eventually(async () => {
      view = await buildTownView(ctx, { states });
      return view.agents.some((a) => a.address === 'gastown/polecats/toast' && a.state === 'needs-input');
    }, 'the polecat to need input');
    const v = view as TownView;
    expect(v.needs.map((n) => [n.kind, n.severity])).toEqual([
      ['escalation', 'critical'],
      ['agent', 'high'],
      ['mail', 'medium'],
      ['escalation', 'low'],
    ]);
    expect(v.needs.map((n) => n.id)).toEqual([
      critical.id,
      'gastown/polecats/toast',
      expect.stringMatching(/^hq-/) as string,
      low.id,
    ]);
    const asking = v.needs[1];
    expect(asking?.agent).toBe('gastown/polecats/toast');
    expect(asking?.summary).not.toBe('');
    const toast = v.agents.find((a) => a.address === 'gastown/polecats/toast');
    expect(toast).toMatchObject({ session: 'ga-toast', cli: 'sim-ask', bead: { id: bead.id, title: 'asks first' } });
    expect(toast?.branch).toMatch(/^polecat\/toast/);
    // Since when it waits: unknown to a first look (no record says), so shown as such, not as now.
    expect(toast?.since).toBeNull();
    expect(asking?.since).toMatch(/^\d{4}-/);
    // Seen again in the same state: the same since.
    const again = await buildTownView(ctx, { states });
    expect(again.agents.find((a) => a.address === toast?.address)?.since).toBe(toast?.since);
    expect(v.rigs.map((r) => r.name)).toEqual(['gastown']);
    expect(v.queue.map((q) => q.rig)).toEqual(['gastown']);
    expect(v.daemon.running).toBe(false);
    expect(v.costs).toBeNull();
    const texts = v.events.map((e) => e.text);
    expect(texts).toContain('gastown/polecats/toast session started');
    expect(texts.some((t) => t.startsWith(`escalation ${critical.id} filed`))).toBe(true);
    expect(v.events.every((e, i) => i === 0 || e.id > (v.events[i - 1]?.id ?? 0))).toBe(true);
    expect(v.cursor).toBeGreaterThanOrEqual(v.events.at(-1)?.id ?? 0);

    // One rig: another rig's needs are left out, the town's escalations stay.
    const mine = await buildTownView(ctx, { rig: 'gastown' });
    expect(mine.needs.length).toBe(v.needs.length);
    await expect(buildTownView(ctx, { rig: 'nope' })).rejects.toThrow('nope');
  }, 90_000);

  it('a watcher rebuilds when the store changes and follows the events by cursor', async () => {
    const f = await fixture('views-watch');
    const s = f.store();
    const ctx = { ...f.context(s), store: s };
    const seen: { view: TownView; cause: WatchCause }[] = [];
    const watch = watchTown(ctx, (view, cause) => seen.push({ view, cause }), { pollMs: 50, minGapMs: 0 });
    try {
      await eventually(() => seen.length > 0, 'the first view');
      expect(seen[0]?.cause).toBe('first');
      const cursor = seen[0]?.view.cursor ?? 0;
      // Nothing changes: no rebuild (the safety tick is 10 s away).
      await new Promise((r) => setTimeout(r, 300));
      expect(seen).toHaveLength(1);
      // Another process writes (the CLI): the watcher sees it.
      f.run('escalate', 'the build box is down', '-s', 'high');
      await eventually(() => seen.some((x) => x.cause === 'store'), 'a rebuild after the store changed');
      const after = seen.find((x) => x.cause === 'store')?.view;
      expect(after?.needs.some((n) => n.summary === 'the build box is down')).toBe(true);
      const next = await eventsAfter(s, cursor);
      expect(next.events.some((e) => e.text.includes('"the build box is down"'))).toBe(true);
      expect(next.cursor).toBeGreaterThan(cursor);
      expect((await eventsAfter(s, next.cursor)).events).toEqual([]);
      watch.refresh();
      await eventually(() => seen.some((x) => x.cause === 'asked'), 'a rebuild when asked');
    } finally {
      await watch.stop();
    }
    const count = seen.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toHaveLength(count);
  }, 60_000);

  it('acts through the library: a nudge arrives, an escalation is acknowledged, a restart and a requeue keep the work', async () => {
    const f = await fixture('views-actions');
    f.simAgent('sim-hang', '--hang-at', 'run');
    const s = f.store();
    const ctx = { ...f.context(s), store: s };
    const bead = await s.create({ title: 'hangs', description: '```sh\ntrue\n```' }, 'mayor');
    f.run('sling', bead.id, 'gastown/polecats/toast', '--agent', 'sim-hang');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'hang'), 'the polecat to hang', 30_000);

    const nudged = await runViewAction(ctx, { kind: 'nudge', agent: 'gastown/polecats/toast', text: 'look up' }, 'Ada');
    expect(nudged.action).toBe('nudge');
    expect((await s.pendingNudges('gastown/polecats/toast')).map((n) => [n.sender, n.body])).toEqual([
      ['Ada', 'look up'],
    ]);

    const e = await escalate(ctx, { what: 'look at this', severity: 'high', source: 'tester', actor: 'tester' });
    expect((await runViewAction(ctx, { kind: 'ack', escalation: e.id }, 'Ada')).text).toBe(`acknowledged ${e.id}`);
    expect((await runViewAction(ctx, { kind: 'ack', escalation: e.id }, 'Ada')).text).toContain('already');

    const before = await s.openSession('gastown/polecats/toast');
    await runViewAction(ctx, { kind: 'restart', agent: 'gastown/polecats/toast' }, 'Ada');
    const after = await s.openSession('gastown/polecats/toast');
    expect(after?.session_id).not.toBe(before?.session_id);
    expect((await s.agent('gastown/polecats/toast')).hook_bead).toBe(bead.id);

    const r = await runViewAction(ctx, { kind: 'requeue', agent: 'gastown/polecats/toast' }, 'Ada');
    expect(r.text).toContain(`${bead.id} taken from gastown/polecats/toast and slung to gastown`);
    const [again] = await s.show([bead.id]);
    expect(again?.status).toBe('hooked');
    expect(again?.assignee).toMatch(/^gastown\/polecats\//);
    await expect(runViewAction(ctx, { kind: 'requeue', agent: 'gastown/witness' }, 'Ada')).rejects.toThrow(
      'nothing on its hook',
    );
  }, 90_000);

  it('shows tokens per agent and for the town today from the usage the agents recorded; an unpriced model has no money', async () => {
    const f = await fixture('views-usage');
    const s = f.store();
    const ctx = { ...f.context(s), store: s };
    const bead = await s.create({ title: 'quick', description: '```sh\ntrue\n```' }, 'mayor');
    f.run('sling', bead.id, 'gastown/polecats/toast');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'report'), 'the work to be handed in', 60_000);
    // Read into the store as the daemon's costs pass does; the views read only the store.
    await ingestUsage(ctx);
    const view = await buildTownView(ctx, { usage: (since) => usageByAgent(ctx, since) });
    const row = view.agents.find((a) => a.address === 'gastown/polecats/toast');
    expect(row?.tokens).toBeGreaterThan(0);
    expect(row?.usage).toMatchObject({ usd: null, model: 'sim' });
    expect(row?.model).toBe('sim');
    expect(view.costs?.totals.usd).toBeNull();
    expect(view.costs?.totals.unpriced_models).toEqual(['sim']);
    expect(view.costs?.agents).toBe(1);
  }, 90_000);
});
