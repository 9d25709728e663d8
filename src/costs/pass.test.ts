import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import type { UsageEntry } from '../core/costs.js';
import { defaultTownSettings } from '../core/settings.js';
import { FakeSessionProvider } from '../session/fake.js';
import { openSqliteBeadStore } from '../store/sqlite-bead-store.js';
import type { TownContext } from '../work/sessions.js';
import { BUDGET_REACHED_EVENT, BUDGET_RELEASED_EVENT, BUDGET_SUBJECT, costsMemory, costsPass } from './pass.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(): TownContext {
  const t = tempDir('costs-pass');
  const store = openSqliteBeadStore(':memory:', { create: true });
  store.setPrefixSync('hq');
  cleanups.push(() => {
    store.dispose();
    t.cleanup();
  });
  return {
    town: { root: t.dir, name: 'unit', owner: 'o@e.x', created_at: '', tmuxSocket: 'gt-unit', dbPath: ':memory:' },
    settings: {
      ...defaultTownSettings(),
      budgets: { daily_tokens: 100, daily_usd: null, roles: { mayor: { daily_tokens: 50, daily_usd: null } } },
    },
    store,
    provider: new FakeSessionProvider(),
    env: {},
    gtCommand: ['/usr/bin/node', '/gt.cjs'],
    gtBin: '/gt.cjs',
    actor: 'daemon',
    now: () => Date.now(),
  };
}

const used = (key: string, agent: string, tokens: number): UsageEntry => ({
  key,
  source: '/t.jsonl',
  agent,
  session_id: null,
  bead: null,
  runtime: 'claude',
  model: 'claude-sonnet-4-5',
  at: new Date().toISOString(),
  input_tokens: tokens,
  output_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
});

describe("the daemon's costs pass", () => {
  it('escalates each budget reached once a day, across restarts, and says when dispatch is free again', async () => {
    const ctx = setup();
    const memory = costsMemory();
    const quiet = await costsPass(ctx, memory);
    expect(quiet).toMatchObject({ hold: null, escalated: [], released: false, errors: [] });
    expect(quiet.ingest).toMatchObject({ sources: 0, added: 0 });

    await ctx.store.recordUsage([used('a', 'mayor', 60), used('b', 'gastown/polecats/toast', 60)]);
    const reached = await costsPass(ctx, memory);
    expect(reached.escalated.map((e) => e.budget)).toEqual(['daily_tokens', 'roles.mayor.daily_tokens']);
    expect(reached.hold?.reached.map((v) => v.budget)).toEqual(['daily_tokens']);
    // Read at most every 30 s: this pass did not read.
    expect(reached.ingest).toBeNull();
    const escalations = await ctx.store.list({ types: ['escalation'], limit: 0 });
    expect(escalations.map((e) => e.title).sort()).toEqual([
      expect.stringMatching(/^Daily budget reached: the mayor role's token budget on \d{4}-\d{2}-\d{2}$/),
      expect.stringMatching(/^Daily budget reached: the town's token budget on \d{4}-\d{2}-\d{2}$/),
    ]);
    const town = escalations.find((e) => e.title.includes("town's"));
    expect(town?.description).toContain("the town's daily token budget (100) is reached: 120 used today.");
    expect(town?.description).toContain('No new work goes out');
    const mayor = escalations.find((e) => e.title.includes('mayor'));
    expect(mayor?.description).toContain('Dispatch goes on');

    // Not again: neither at the next pass, nor after a restart.
    expect((await costsPass(ctx, memory)).escalated).toEqual([]);
    expect((await costsPass(ctx, costsMemory())).escalated).toEqual([]);
    expect(await ctx.store.list({ types: ['escalation'], limit: 0 })).toHaveLength(2);
    expect(await ctx.store.events({ issueId: BUDGET_SUBJECT, eventType: BUDGET_REACHED_EVENT })).toHaveLength(2);

    // Raised: dispatch is free again, once said.
    const raised = { ...ctx, settings: { ...ctx.settings, budgets: { ...ctx.settings.budgets, daily_tokens: 500 } } };
    expect(await costsPass(raised, memory)).toMatchObject({ hold: null, released: true });
    expect((await costsPass(raised, memory)).released).toBe(false);
    expect(await ctx.store.events({ issueId: BUDGET_SUBJECT, eventType: BUDGET_RELEASED_EVENT })).toHaveLength(1);
  });

  it('tells a budget once even when its event failed to be written after the escalation was filed', async () => {
    const base = setup();
    let failures = 1;
    const store = new Proxy(base.store, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        if (typeof v !== 'function') return v;
        if (key === 'recordActivity')
          return async (subject: string, type: string, value: string, actor: string) => {
            if (type === BUDGET_REACHED_EVENT && failures-- > 0) throw new Error('disk full');
            return target.recordActivity(subject, type, value, actor);
          };
        return (v as (...a: unknown[]) => unknown).bind(target);
      },
    });
    const ctx: TownContext = {
      ...base,
      store,
      settings: { ...base.settings, budgets: { ...base.settings.budgets, roles: {} } },
    };
    await ctx.store.recordUsage([used('a', 'mayor', 200)]);
    const first = await costsPass(ctx, costsMemory());
    expect(first.escalated).toEqual([]);
    expect(first.errors).toEqual([expect.stringMatching(/escalating the daily_tokens budget: disk full/)]);
    // The next pass (this daemon's, or a restarted one's) finds it filed: records it, files nothing more.
    const memory = costsMemory();
    expect((await costsPass(ctx, memory)).escalated).toEqual([]);
    expect((await costsPass(ctx, costsMemory())).escalated).toEqual([]);
    expect(await ctx.store.list({ types: ['escalation'], limit: 0 })).toHaveLength(1);
    const events = await ctx.store.events({ issueId: BUDGET_SUBJECT, eventType: BUDGET_REACHED_EVENT });
    expect(events.map((e) => JSON.parse(e.new_value ?? '{}') as { budget: string })).toEqual([
      expect.objectContaining({ budget: 'daily_tokens' }),
    ]);
  });
});
