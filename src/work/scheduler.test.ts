import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { defaultTownSettings } from '../core/settings.js';
import { FakeSessionProvider } from '../session/fake.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../store/sqlite-bead-store.js';
import type { Town } from '../town/town.js';
import { dispatchQueued, schedulerStatus, setPaused } from './scheduler.js';
import type { TownContext } from './sessions.js';
import { sling, type SlingContext } from './sling.js';
import { createConvoy } from './convoy.js';
import { feedConvoys } from './convoy-feed.js';
import { budgetHold, budgetStatus, dayOf } from './budget.js';
import type { UsageEntry } from '../core/costs.js';

/** The scheduler's executor over an in-memory store and the fake session provider: what needs no git. */

const TOAST = 'gastown/polecats/toast';
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(townCap: number | null = null): Promise<{
  store: SqliteBeadStore;
  provider: FakeSessionProvider;
  ctx: SlingContext;
  town: Town;
}> {
  const t = tempDir('scheduler-unit');
  const store = openSqliteBeadStore(':memory:');
  cleanups.push(() => {
    store.dispose();
    t.cleanup();
  });
  const town: Town = {
    root: t.dir,
    name: 'unit',
    owner: 'o@e.x',
    created_at: '2026-12-01T00:00:00Z',
    tmuxSocket: 'gt-unit',
    dbPath: ':memory:',
  };
  await store.registerRig(
    { name: 'gastown', prefix: 'ga', url: '/r', default_branch: 'main', path: join(t.dir, 'gastown') },
    [],
    'test',
  );
  const sandbox = join(t.dir, 'gastown', 'polecats', 'toast');
  mkdirSync(sandbox, { recursive: true });
  await store.registerAgent(
    { identity: { role: 'polecat', rig: 'gastown', name: 'toast' }, session_name: 'ga-toast', sandbox_path: sandbox },
    'test',
  );
  const provider = new FakeSessionProvider();
  const ctx: TownContext = {
    town,
    settings: { ...defaultTownSettings(), default_agent: 'sim', scheduler: { max_polecats: townCap } },
    store,
    provider,
    env: {},
    gtCommand: ['/usr/bin/node', '/gt.cjs'],
    gtBin: '/gt.cjs',
    actor: 'mayor',
    now: () => Date.now(),
  };
  return { store, provider, ctx: { ...ctx, store }, town };
}

describe('slings the scheduler holds back', () => {
  it('queues a sling to a rig while paused (before touching any sandbox), says where it stands, and stores nothing on a dry run', async () => {
    const { ctx, store } = await setup();
    await setPaused(ctx, true);
    const a = await store.create({ title: 'a', priority: 2 }, 'mayor');
    const b = await store.create({ title: 'b', priority: 1 }, 'mayor');
    const [dry] = await sling(ctx, [a.id], 'gastown', { dryRun: true });
    expect(dry).toMatchObject({ action: 'queued', dry_run: true, position: null });
    expect(await store.pendingSlings()).toEqual([]);
    const [qa] = await sling(ctx, [a.id], 'gastown', { args: 'carefully' });
    expect(qa).toMatchObject({ action: 'queued', position: 1, agent: 'gastown', created: false });
    expect(qa?.queue_reason).toMatch(/paused/);
    const [qb] = await sling(ctx, [b.id], 'gastown');
    expect(qb).toMatchObject({ action: 'queued', position: 1 }); // a higher priority goes first
    expect((await store.pendingSlings()).map((p) => [p.bead, p.args])).toEqual([
      [b.id, null],
      [a.id, 'carefully'],
    ]);
    expect((await store.show([a.id, b.id])).map((x) => x.status)).toEqual(['open', 'open']);
    // The named agent is not the scheduler's: it goes now, and the bead waits in the queue no more.
    const [named] = await sling(ctx, [a.id], TOAST, { wait: false });
    expect(named).toMatchObject({ action: 'started', agent: TOAST });
    expect((await store.pendingSlings()).map((p) => p.bead)).toEqual([b.id]);
  });

  it('queues a sling to a rig at its cap, and a refused sling to a rig that does not exist queues nothing', async () => {
    const { ctx, store, town } = await setup();
    writeFileSync(join(town.root, 'gastown', 'settings.json'), JSON.stringify({ scheduler: { max_polecats: 1 } }));
    const held = await store.create({ title: 'held' }, 'mayor');
    await store.hook(TOAST, held.id, 'mayor');
    const next = await store.create({ title: 'next' }, 'mayor');
    const [q] = await sling(ctx, [next.id], 'gastown');
    expect(q).toMatchObject({
      action: 'queued',
      queue_reason: 'gastown is at capacity (its scheduler.max_polecats is 1; 1 busy)',
    });
    await expect(sling(ctx, [next.id], 'nowhere')).rejects.toThrow(/no rig nowhere/);
    writeFileSync(join(town.root, 'gastown', 'settings.json'), JSON.stringify({ scheduler: { max_polecats: 0 } }));
    const other = await store.create({ title: 'other' }, 'mayor');
    await expect(sling(ctx, [other.id], 'gastown')).rejects.toThrow(/scheduler.max_polecats must be a whole number/);
    expect((await store.pendingSlings()).map((p) => p.bead)).toEqual([next.id]);
  });
});

describe('dispatchQueued', () => {
  it('drops what needs nobody any more, and counts a bead already on a hook as dispatched', async () => {
    const { ctx, store } = await setup();
    await setPaused(ctx, true);
    const closed = await store.create({ title: 'closed' }, 'mayor');
    const claimed = await store.create({ title: 'claimed' }, 'mayor');
    const hooked = await store.create({ title: 'hooked' }, 'mayor');
    for (const b of [closed, claimed, hooked]) await sling(ctx, [b.id], 'gastown');
    await store.close([closed.id], {}, 'mayor');
    await store.claim(claimed.id, 'alice');
    // Hooked by hand behind the queue's back (as a dispatcher that died right after its hook leaves it).
    await store.hook(TOAST, hooked.id, 'mayor');
    expect((await dispatchQueued(ctx)).outcomes).toEqual([]); // paused
    await setPaused(ctx, false);
    const r = await dispatchQueued(ctx);
    expect(r.outcomes.map((o) => [o.bead, o.result, o.why])).toEqual([
      [closed.id, 'dropped', `${closed.id} was closed while it waited`],
      [claimed.id, 'dropped', `${claimed.id} was claimed by alice while it waited`],
      [hooked.id, 'dispatched', `${hooked.id} is already on ${TOAST}'s hook`],
    ]);
    expect(await store.pendingSlings()).toEqual([]);
    expect((await store.finishedSlings(5)).map((f) => f.state).sort()).toEqual(['dispatched', 'dropped', 'dropped']);
  });

  it('reports the caps, the busy polecats and the queue in order with why each waits', async () => {
    const { ctx, store, town } = await setup(3);
    writeFileSync(join(town.root, 'gastown', 'settings.json'), JSON.stringify({ scheduler: { max_polecats: 1 } }));
    const held = await store.create({ title: 'held' }, 'mayor');
    await store.hook(TOAST, held.id, 'mayor');
    const low = await store.create({ title: 'low', priority: 4 }, 'mayor');
    const high = await store.create({ title: 'high', priority: 0 }, 'mayor');
    await sling(ctx, [low.id, high.id], 'gastown');
    const s = await schedulerStatus(ctx);
    expect(s.paused).toBeNull();
    expect(s.town).toEqual({ max_polecats: 3, busy: 1, free: 2 });
    expect(s.rigs).toEqual([{ rig: 'gastown', max_polecats: 1, busy: 1, free: 0 }]);
    expect(s.queued.map((q) => [q.position, q.bead, q.priority, q.why])).toEqual([
      [1, high.id, 0, 'gastown is at capacity (its scheduler.max_polecats is 1; 1 busy)'],
      [2, low.id, 4, 'gastown is at capacity (its scheduler.max_polecats is 1; 1 busy)'],
    ]);
    // A broken rig settings file holds that rig's slings back and says why; it breaks nothing else.
    writeFileSync(join(town.root, 'gastown', 'settings.json'), '{ "scheduler": ');
    const broken = await dispatchQueued(ctx);
    expect(broken.outcomes).toEqual([]);
    expect(broken.waiting.map((w) => w.why)).toEqual([
      expect.stringMatching(/its rig's settings cannot be read/),
      expect.stringMatching(/its rig's settings cannot be read/),
    ]);
  });
});

describe('a daily budget reached', () => {
  const used = (agent: string, tokens: number, atMs = Date.now()): UsageEntry => ({
    key: `k-${agent}-${tokens}-${atMs}`,
    source: '/t.jsonl',
    agent,
    session_id: null,
    bead: null,
    runtime: 'claude',
    model: 'claude-sonnet-4-5',
    at: new Date(atMs).toISOString(),
    input_tokens: tokens,
    output_tokens: 0,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
  });

  it('queues slings to polecats saying why, holds the queue and the convoy feed, and lets go when it is raised', async () => {
    const { ctx: base, store } = await setup();
    const budgets = { daily_tokens: 1000, daily_usd: null, roles: {} };
    const ctx: SlingContext = { ...base, settings: { ...base.settings, budgets } };
    // Yesterday's use does not count; today's does, whoever used it.
    await store.recordUsage([used(TOAST, 5000, dayOf(Date.now()).startMs - 1), used('mayor', 600), used(TOAST, 400)]);
    const status = await budgetStatus(ctx);
    expect(status?.verdicts).toEqual([
      { budget: 'daily_tokens', scope: 'town', measure: 'tokens', limit: 1000, used: 1000, reached: true },
    ]);
    const why = (await budgetHold(ctx))?.why ?? '';
    expect(why).toMatch(/^the town's daily token budget \(1000\) is reached: 1000 used today; no new work goes out/);

    const work = await store.create({ title: 'work' }, 'mayor');
    const [q] = await sling(ctx, [work.id], TOAST, { wait: false });
    expect(q).toMatchObject({ action: 'queued', queue_reason: why });
    expect((await store.agent(TOAST)).hook_bead).toBeNull();
    // The queue waits, and says so.
    const held = await dispatchQueued(ctx);
    expect(held).toMatchObject({ outcomes: [], waiting: [{ bead: work.id, why }] });
    expect(held.budget?.reached.map((v) => v.budget)).toEqual(['daily_tokens']);
    expect((await schedulerStatus(ctx)).budget?.why).toBe(why);
    // A convoy's ready beads wait too (without the hold the feed slings them).
    const fed = await store.create({ title: 'fed' }, 'mayor');
    await createConvoy(ctx, { name: 'c', beads: [fed.id], feed: true, rig: 'gastown' });
    expect(await feedConvoys(ctx)).toEqual([]);
    expect((await feedConvoys(base)).map((f) => f.bead)).toEqual([fed.id]);

    // Raised: the queue goes at the next dispatch.
    const raised: SlingContext = { ...ctx, settings: { ...ctx.settings, budgets: { ...budgets, daily_tokens: 5000 } } };
    expect(await budgetHold(raised)).toBeNull();
    const r = await dispatchQueued(raised);
    expect(r.outcomes.map((o) => [o.bead, o.result, o.agent])).toEqual([[work.id, 'dispatched', TOAST]]);
    expect((await store.agent(TOAST)).hook_bead).toBe(work.id);
  });

  it('queues hooking work to a polecat without starting it (gt hook) as well, saying which budget', async () => {
    const { ctx: base, store, provider } = await setup();
    const ctx: SlingContext = {
      ...base,
      settings: { ...base.settings, budgets: { daily_tokens: 10, daily_usd: null, roles: {} } },
    };
    await store.recordUsage([used('mayor', 50)]);
    const work = await store.create({ title: 'work' }, 'mayor');
    const [q] = await sling(ctx, [work.id], TOAST, { noStart: true });
    expect(q?.action).toBe('queued');
    expect(q?.queue_reason).toMatch(/^the town's daily token budget \(10\) is reached: 50 used today/);
    // Nothing on the hook for the daemon to start; it goes with the queue once the hold ends.
    expect((await store.agent(TOAST)).hook_bead).toBeNull();
    expect((await store.pendingSlings()).map((p) => [p.bead, p.target])).toEqual([[work.id, TOAST]]);
    expect(await provider.list()).toEqual([]);
    // Work for an agent that is no polecat is hooked as before.
    const crew = await store.create({ title: 'crew work' }, 'mayor');
    await store.registerAgent(
      {
        identity: { role: 'crew', rig: 'gastown', name: 'joe' },
        session_name: 'ga-crew-joe',
        sandbox_path: '/tmp/joe',
      },
      'test',
    );
    expect((await sling(ctx, [crew.id], 'gastown/crew/joe', { noStart: true }))[0]).toMatchObject({ action: 'none' });
  });

  it("holds nothing for another role's budget, and reads nothing without budgets", async () => {
    const { ctx: base, store } = await setup();
    const mayorOnly = { daily_tokens: null, daily_usd: null, roles: { mayor: { daily_tokens: 10, daily_usd: null } } };
    const ctx: SlingContext = { ...base, settings: { ...base.settings, budgets: mayorOnly } };
    await store.recordUsage([used('mayor', 600)]);
    expect((await budgetStatus(ctx))?.verdicts.map((v) => [v.budget, v.reached])).toEqual([
      ['roles.mayor.daily_tokens', true],
    ]);
    expect(await budgetHold(ctx)).toBeNull();
    const work = await store.create({ title: 'work' }, 'mayor');
    expect((await sling(ctx, [work.id], TOAST, { wait: false }))[0]).toMatchObject({ action: 'started' });
    expect(await budgetStatus(base)).toBeNull();
  });
});
