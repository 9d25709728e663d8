import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { createFixedClock } from '../core/clock.js';
import { defaultTownSettings, type TownSettings } from '../core/settings.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../store/sqlite-bead-store.js';
import type { Town } from '../town/town.js';
import { ingestMemory, ingestUsage, type IngestContext } from './ingest.js';
import { costReport, sinceOf, usageByAgent } from './report.js';

const TOAST = 'gastown/polecats/toast';
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(settings: TownSettings = defaultTownSettings()) {
  const t = tempDir('costs-ingest');
  const clock = createFixedClock(Date.UTC(2026, 2, 1, 10, 0, 0));
  const store: SqliteBeadStore = openSqliteBeadStore(':memory:', { create: true, clock });
  store.setPrefixSync('ga');
  cleanups.push(() => {
    store.dispose();
    t.cleanup();
  });
  const town: Town = {
    root: t.dir,
    name: 'unit',
    owner: 'o@e.x',
    created_at: '2026-03-01T00:00:00Z',
    tmuxSocket: 'gt-unit',
    dbPath: ':memory:',
  };
  const sandbox = join(t.dir, 'gastown', 'polecats', 'toast');
  mkdirSync(sandbox, { recursive: true });
  await store.registerAgent(
    { identity: { role: 'polecat', rig: 'gastown', name: 'toast' }, session_name: 'ga-toast', sandbox_path: sandbox },
    'test',
  );
  const ctx: IngestContext = { town, settings, store, env: { HOME: join(t.dir, 'home') }, now: () => clock.nowMs() };
  return { dir: t.dir, store, clock, ctx, sandbox };
}

const at = (clock: { nowMs: () => number }, plusMs = 0): string => new Date(clock.nowMs() + plusMs).toISOString();

/** One assistant line as Claude Code writes it. */
function line(id: string, when: string, input: number, output: number, read = 0, write = 0): string {
  return `${JSON.stringify({
    type: 'assistant',
    timestamp: when,
    message: {
      id,
      model: 'claude-sonnet-4-5-20250929',
      usage: {
        input_tokens: input,
        output_tokens: output,
        cache_read_input_tokens: read,
        cache_creation_input_tokens: write,
      },
    },
  })}\n`;
}

describe('the usage ingest', () => {
  it('reads a named transcript once, then only what was added, and never counts a message twice', async () => {
    const { dir, store, clock, ctx } = await setup();
    const bead = await store.create({ title: 'work' }, 'mayor');
    await store.hook(TOAST, bead.id, 'mayor');
    const session = await store.startSession({ agent: TOAST, runtime: 'claude', bead_id: bead.id }, 'gt');
    const file = join(dir, 'transcript.jsonl');
    writeFileSync(
      file,
      line('msg_1', at(clock, 1000), 100, 10, 5000, 300) + line('msg_1', at(clock, 1001), 100, 10, 5000, 300),
    );
    await store.recordUsageSource({
      path: file,
      agent: TOAST,
      runtime: 'claude',
      format: 'claude',
      runtime_session_id: 'abc',
    });
    const memory = ingestMemory();
    expect(await ingestUsage(ctx, memory)).toMatchObject({ sources: 1, read: 1, added: 1, updated: 0 });
    const [entry] = await store.usageEntries();
    expect(entry).toMatchObject({
      key: 'claude:msg_1',
      agent: TOAST,
      session_id: session.session_id,
      bead: bead.id,
      runtime: 'claude',
      input_tokens: 100,
      output_tokens: 10,
      cache_read_tokens: 5000,
      cache_write_tokens: 300,
    });
    // Nothing grew: not even opened.
    expect(await ingestUsage(ctx, memory)).toMatchObject({ read: 0, added: 0 });
    // A message being written waits; once whole it counts, at its final size.
    const next = line('msg_2', at(clock, 2000), 7, 70);
    appendFileSync(file, next.slice(0, 20));
    expect(await ingestUsage(ctx, memory)).toMatchObject({ read: 1, added: 0 });
    appendFileSync(file, next.slice(20));
    expect(await ingestUsage(ctx, memory)).toMatchObject({ read: 1, added: 1 });
    // A fresh reader (a restarted daemon, gt costs) reads it all again and adds nothing.
    expect(await ingestUsage(ctx, ingestMemory())).toMatchObject({ read: 1, added: 0, updated: 0 });
    expect((await store.usageEntries()).map((e) => e.key).sort()).toEqual(['claude:msg_1', 'claude:msg_2']);
  });

  it('attributes each message to the session that covers it and to the bead the agent was on then', async () => {
    const { dir, store, clock, ctx } = await setup();
    const first = await store.create({ title: 'first' }, 'mayor');
    const second = await store.create({ title: 'second' }, 'mayor');
    await store.hook(TOAST, first.id, 'mayor');
    const s1 = await store.startSession({ agent: TOAST, runtime: 'claude', bead_id: first.id }, 'gt');
    const inFirst = at(clock, 60_000);
    clock.advance(120_000);
    await store.unhook(TOAST, TOAST);
    // An idle polecat told a new bead keeps its session.
    clock.advance(10_000);
    await store.hook(TOAST, second.id, 'mayor');
    const afterHook = at(clock, 5_000);
    clock.advance(60_000);
    await store.endSession(s1.session_id, 'exited', 'gt');
    clock.advance(60_000);
    // The same Claude session resumed in a second one of ours: one transcript, two sessions.
    const s2 = await store.startSession({ agent: TOAST, runtime: 'claude', bead_id: second.id }, 'gt');
    const inSecond = at(clock, 1_000);
    const file = join(dir, 't.jsonl');
    writeFileSync(file, line('a', inFirst, 1, 1) + line('b', afterHook, 2, 2) + line('c', inSecond, 3, 3));
    await store.recordUsageSource({
      path: file,
      agent: TOAST,
      runtime: 'claude',
      format: 'claude',
      runtime_session_id: 'x',
    });
    await ingestUsage(ctx);
    const byKey = new Map((await store.usageEntries()).map((e) => [e.key, [e.session_id, e.bead]]));
    expect(byKey).toEqual(
      new Map([
        ['claude:a', [s1.session_id, first.id]],
        ['claude:b', [s1.session_id, second.id]],
        ['claude:c', [s2.session_id, second.id]],
      ]),
    );
    const report = await costReport(ctx, { since: sinceOf('1d', clock.nowMs()), by: 'bead' });
    expect(report.rows.map((r) => [r.key, r.input_tokens])).toEqual([
      [second.id, 5],
      [first.id, 1],
    ]);
    expect(report.total.usd).toBeCloseTo((6 * 3 + 6 * 15) / 1e6);
    const agents = await usageByAgent(ctx, sinceOf('1d', clock.nowMs()));
    expect([...agents.keys()]).toEqual([TOAST]);
    expect(agents.get(TOAST)).toMatchObject({
      input_tokens: 6,
      output_tokens: 6,
      messages: 3,
      unpriced_models: [],
      model: 'claude-sonnet-4-5-20250929',
      last_at: inSecond,
    });
  });

  it("finds a Claude session's transcript no hook named, by the CLI's own session id", async () => {
    const { dir, store, clock, ctx } = await setup();
    const config = join(dir, 'claude-config');
    const project = join(config, 'projects', '-town-gastown-polecats-toast');
    mkdirSync(project, { recursive: true });
    const session = await store.startSession({ agent: TOAST, runtime: 'claude', runtime_session_id: 'f00d' }, 'gt');
    writeFileSync(join(project, 'f00d.jsonl'), line('m', at(clock, 1000), 9, 9));
    writeFileSync(join(project, 'other.jsonl'), line('n', at(clock, 1000), 1, 1));
    const r = await ingestUsage({ ...ctx, env: { ...ctx.env, CLAUDE_CONFIG_DIR: config } });
    expect(r).toMatchObject({ found: 1, sources: 1, added: 1 });
    expect(await store.usageSources()).toEqual([
      expect.objectContaining({ path: join(project, 'f00d.jsonl'), agent: TOAST, runtime_session_id: 'f00d' }),
    ]);
    expect((await store.usageEntries())[0]).toMatchObject({ key: 'claude:m', session_id: session.session_id });
  });

  it("finds a Codex agent's rollouts by the sandbox they ran in, and no one else's", async () => {
    const { dir, store, clock, ctx, sandbox } = await setup();
    await store.startSession({ agent: TOAST, runtime: 'codex' }, 'gt');
    const d = new Date(clock.nowMs());
    const day = join(
      dir,
      'codex',
      'sessions',
      String(d.getFullYear()),
      String(d.getMonth() + 1).padStart(2, '0'),
      String(d.getDate()).padStart(2, '0'),
    );
    mkdirSync(day, { recursive: true });
    const rollout = (cwd: string, id: string) =>
      [
        { timestamp: at(clock, 500), type: 'session_meta', payload: { id, cwd } },
        { timestamp: at(clock, 600), type: 'turn_context', payload: { model: 'gpt-5-codex' } },
        {
          timestamp: at(clock, 700),
          type: 'event_msg',
          payload: {
            type: 'token_count',
            info: {
              total_token_usage: {
                input_tokens: 1000,
                cached_input_tokens: 400,
                output_tokens: 50,
                total_tokens: 1050,
              },
              last_token_usage: { input_tokens: 1000, cached_input_tokens: 400, output_tokens: 50, total_tokens: 1050 },
            },
          },
        },
      ]
        .map((l) => `${JSON.stringify(l)}\n`)
        .join('');
    writeFileSync(join(day, 'rollout-2026-03-01T10-00-00-mine.jsonl'), rollout(sandbox, 'mine'));
    writeFileSync(join(day, 'rollout-2026-03-01T10-00-00-theirs.jsonl'), rollout('/elsewhere', 'theirs'));
    const memory = ingestMemory();
    const r = await ingestUsage({ ...ctx, env: { ...ctx.env, CODEX_HOME: join(dir, 'codex') } }, memory);
    expect(r).toMatchObject({ found: 1, added: 1 });
    expect(memory.notOurs.size).toBe(1);
    expect(await store.usageEntries()).toEqual([
      expect.objectContaining({
        key: 'codex:mine:t1050',
        agent: TOAST,
        runtime: 'codex',
        model: 'gpt-5-codex',
        input_tokens: 600,
        cache_read_tokens: 400,
        output_tokens: 50,
      }),
    ]);
  });
});

describe('--since', () => {
  const now = Date.UTC(2026, 2, 1, 12, 0, 0);
  it.each([
    ['24h', '2026-02-28T12:00:00.000Z'],
    ['7d', '2026-02-22T12:00:00.000Z'],
    ['90m', '2026-03-01T10:30:00.000Z'],
    ['2026-03-01T09:00:00+01:00', '2026-03-01T08:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(sinceOf(text, now)).toBe(iso);
  });

  it('takes today and a date as local midnights, and refuses anything else', () => {
    const midnight = new Date(now);
    midnight.setHours(0, 0, 0, 0);
    expect(sinceOf('today', now)).toBe(midnight.toISOString());
    expect(sinceOf('2026-02-27', now)).toBe(new Date(2026, 1, 27).toISOString());
    expect(() => sinceOf('last week', now)).toThrow(/neither a duration nor a time/);
  });
});
