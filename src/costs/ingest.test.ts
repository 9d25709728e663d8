import { appendFileSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
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

/** Codex's folder of the local day of `ms` under `<dir>/codex/sessions` (YYYY/MM/DD), made. */
function codexDay(dir: string, ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  const day = join(dir, 'codex', 'sessions', String(d.getFullYear()), two(d.getMonth() + 1), two(d.getDate()));
  mkdirSync(day, { recursive: true });
  return day;
}

/** A Codex rollout as it writes one: its session line, the model, then one token count (`info`), 100 ms apart. */
function codexRollout(id: string, cwd: string, startMs: number, info: Record<string, unknown>): string {
  const when = (plusMs: number): string => new Date(startMs + plusMs).toISOString();
  return [
    { timestamp: when(0), type: 'session_meta', payload: { id, cwd } },
    { timestamp: when(100), type: 'turn_context', payload: { model: 'gpt-5-codex' } },
    { timestamp: when(200), type: 'event_msg', payload: { type: 'token_count', info } },
  ]
    .map((l) => `${JSON.stringify(l)}\n`)
    .join('');
}

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
    // A fresh reader (a restarted daemon, gt costs) resumes where the last one stopped: nothing changed, nothing
    // read; what is added is read alone (a first line changed in place since would count if read again).
    expect((await store.usageSources())[0]).toMatchObject({ read_offset: statSync(file).size, reader_state: null });
    expect(await ingestUsage(ctx, ingestMemory())).toMatchObject({ read: 0, added: 0, updated: 0 });
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('"msg_1"', '"msg_X"'));
    appendFileSync(file, line('msg_3', at(clock, 3000), 1, 1));
    expect(await ingestUsage(ctx, ingestMemory())).toMatchObject({ read: 1, added: 1, updated: 0 });
    expect((await store.usageEntries()).map((e) => e.key).sort()).toEqual([
      'claude:msg_1',
      'claude:msg_2',
      'claude:msg_3',
    ]);
    // Rewritten shorter: read again from the start (the keys keep it idempotent).
    writeFileSync(file, line('msg_1', at(clock, 1000), 100, 10, 5000, 300));
    expect(await ingestUsage(ctx, ingestMemory())).toMatchObject({ read: 1, added: 0 });
    expect((await store.usageSources())[0]?.read_offset).toBe(statSync(file).size);
  });

  it('writes what it read a batch at a time, then where it got to', async () => {
    const { dir, store, clock, ctx } = await setup();
    const file = join(dir, 'transcript.jsonl');
    writeFileSync(file, [1, 2, 3, 4, 5].map((n) => line(`m${n}`, at(clock, n * 1000), n, n)).join(''));
    await store.recordUsageSource({
      path: file,
      agent: TOAST,
      runtime: 'claude',
      format: 'claude',
      runtime_session_id: null,
    });
    const writes: string[] = [];
    const spy = new Proxy(store, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (key === 'recordUsage') writes.push(`usage ${(args[0] as unknown[]).length}`);
          if (key === 'recordUsageReads') writes.push(`reads ${(args[0] as unknown[]).length}`);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    expect(await ingestUsage({ ...ctx, store: spy }, ingestMemory(), { batch: 2 })).toMatchObject({ added: 5 });
    expect(writes).toEqual(['usage 2', 'usage 2', 'usage 1', 'reads 1']);
  });

  it('skips a line longer than a whole read, says so once, and reads on past it', async () => {
    const { dir, store, clock, ctx } = await setup();
    const file = join(dir, 'transcript.jsonl');
    const huge = `${JSON.stringify({ type: 'user', message: { content: 'x'.repeat(3000) } })}\n`;
    writeFileSync(file, line('before', at(clock, 500), 1, 1) + huge + line('after', at(clock, 1000), 2, 2));
    await store.recordUsageSource({
      path: file,
      agent: TOAST,
      runtime: 'claude',
      format: 'claude',
      runtime_session_id: null,
    });
    const memory = ingestMemory();
    const runs = [];
    for (let i = 0; i < 6; i++) runs.push(await ingestUsage(ctx, memory, { readBytes: 1024 }));
    expect(runs.flatMap((r) => r.errors)).toEqual([
      expect.stringMatching(/skipped a line of more than 1024 bytes at byte \d+/),
    ]);
    expect((await store.usageEntries()).map((e) => e.key).sort()).toEqual(['claude:after', 'claude:before']);
    expect((await store.usageSources())[0]).toMatchObject({ read_offset: statSync(file).size, reader_state: null });
    expect(runs.at(-1)).toMatchObject({ read: 0 });
  });

  it("looks at a record unchanged for a day, whose session is over, only once an hour; the agent's open session keeps it looked at", async () => {
    const { dir, store, clock, ctx } = await setup();
    const file = join(dir, 'old.jsonl');
    writeFileSync(file, line('old', at(clock, -3 * 86_400_000), 1, 1));
    const twoDaysAgo = new Date(clock.nowMs() - 2 * 86_400_000);
    utimesSync(file, twoDaysAgo, twoDaysAgo);
    await store.recordUsageSource({
      path: file,
      agent: TOAST,
      runtime: 'claude',
      format: 'claude',
      runtime_session_id: 'old',
    });
    const memory = ingestMemory();
    expect(await ingestUsage(ctx, memory)).toMatchObject({ read: 1, added: 1, quiet: 0 });
    clock.advance(60_000);
    expect(await ingestUsage(ctx, memory)).toMatchObject({ read: 0, quiet: 1 });
    // Grown meanwhile (a session resumed by hand): seen within the hour, not at every pass.
    appendFileSync(file, line('late', at(clock), 1, 1));
    expect(await ingestUsage(ctx, memory)).toMatchObject({ read: 0, quiet: 1 });
    clock.advance(3_600_000);
    expect(await ingestUsage(ctx, memory)).toMatchObject({ read: 1, added: 1, quiet: 0 });
    // The agent's session resumed that CLI session: looked at every pass again.
    const quiet = new Date(clock.nowMs() - 2 * 86_400_000);
    utimesSync(file, quiet, quiet);
    expect(await ingestUsage(ctx, memory)).toMatchObject({ quiet: 0 });
    await store.startSession({ agent: TOAST, runtime: 'claude', runtime_session_id: 'old' }, 'gt');
    clock.advance(60_000);
    expect(await ingestUsage(ctx, memory)).toMatchObject({ quiet: 0 });
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
    // Between gt done (or an unsling) and the next bead: on none.
    const offHook = at(clock, 5_000);
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
    writeFileSync(
      file,
      line('a', inFirst, 1, 1) + line('off', offHook, 0, 1) + line('b', afterHook, 2, 2) + line('c', inSecond, 3, 3),
    );
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
        ['claude:off', [s1.session_id, null]],
        ['claude:b', [s1.session_id, second.id]],
        ['claude:c', [s2.session_id, second.id]],
      ]),
    );
    const report = await costReport(ctx, { since: sinceOf('1d', clock.nowMs()), by: 'bead' });
    expect(report.rows.map((r) => [r.key, r.input_tokens])).toEqual([
      [second.id, 5],
      [first.id, 1],
      [null, 0],
    ]);
    expect(report.total.usd).toBeCloseTo((6 * 3 + 7 * 15) / 1e6);
    const agents = await usageByAgent(ctx, sinceOf('1d', clock.nowMs()));
    expect([...agents.keys()]).toEqual([TOAST]);
    expect(agents.get(TOAST)).toMatchObject({
      input_tokens: 6,
      output_tokens: 7,
      messages: 4,
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
    const day = codexDay(dir, clock.nowMs());
    const rollout = (cwd: string, id: string) =>
      codexRollout(id, cwd, clock.nowMs() + 500, {
        total_token_usage: { input_tokens: 1000, cached_input_tokens: 400, output_tokens: 50, total_tokens: 1050 },
        last_token_usage: { input_tokens: 1000, cached_input_tokens: 400, output_tokens: 50, total_tokens: 1050 },
      });
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

describe("the usage ingest's other records", () => {
  it("reads a Claude session's subagent transcripts as the agent's, finding new ones when the session grows", async () => {
    const { dir, store, clock, ctx } = await setup();
    const project = join(dir, 'claude-config', 'projects', '-town-gastown-polecats-toast');
    const subagents = join(project, 's1', 'subagents');
    mkdirSync(subagents, { recursive: true });
    const parent = join(project, 's1.jsonl');
    writeFileSync(parent, line('main1', at(clock, 1000), 10, 10));
    writeFileSync(join(subagents, 'agent-a1.jsonl'), line('sub1', at(clock, 2000), 3, 3));
    writeFileSync(join(subagents, 'agent-a1.meta.json'), '{}');
    await store.recordUsageSource({
      path: parent,
      agent: TOAST,
      runtime: 'claude',
      format: 'claude',
      runtime_session_id: 's1',
    });
    const memory = ingestMemory();
    expect(await ingestUsage(ctx, memory)).toMatchObject({ found: 1, sources: 2, read: 2, added: 2 });
    expect((await store.usageSources()).map((x) => [x.path, x.agent, x.runtime_session_id])).toEqual([
      [parent, TOAST, 's1'],
      [join(subagents, 'agent-a1.jsonl'), TOAST, 's1'],
    ]);
    // A known subagent's transcript is read as it grows; a new one is looked for once the session grows.
    appendFileSync(join(subagents, 'agent-a1.jsonl'), line('sub2', at(clock, 3000), 1, 1));
    writeFileSync(join(subagents, 'agent-b2.jsonl'), line('sub3', at(clock, 3000), 1, 1));
    expect(await ingestUsage(ctx, memory)).toMatchObject({ found: 0, read: 1, added: 1 });
    appendFileSync(parent, line('main2', at(clock, 4000), 1, 1));
    expect(await ingestUsage(ctx, memory)).toMatchObject({ found: 1, read: 2, added: 2 });
    expect((await store.usageEntries()).map((e) => [e.key, e.agent]).sort()).toEqual(
      ['claude:main1', 'claude:main2', 'claude:sub1', 'claude:sub2', 'claude:sub3'].map((k) => [k, TOAST]),
    );
  });

  it("resumes a Codex rollout after a restart with the reader's running state", async () => {
    const { dir, store, clock, ctx } = await setup();
    const file = join(dir, 'rollout-2026-03-01T10-00-00-s.jsonl');
    const total = (n: number) => ({ input_tokens: n, cached_input_tokens: 0, output_tokens: 10, total_tokens: n + 10 });
    const tokens = (when: number, n: number, last: boolean) =>
      `${JSON.stringify({
        timestamp: at(clock, when),
        type: 'event_msg',
        payload: {
          type: 'token_count',
          info: { total_token_usage: total(n), ...(last ? { last_token_usage: total(n) } : {}) },
        },
      })}\n`;
    writeFileSync(
      file,
      `${JSON.stringify({ timestamp: at(clock), type: 'session_meta', payload: { id: 'sess', cwd: '/x' } })}\n` +
        `${JSON.stringify({ timestamp: at(clock, 1), type: 'turn_context', payload: { model: 'gpt-5-codex' } })}\n` +
        tokens(100, 1000, true),
    );
    await store.recordUsageSource({
      path: file,
      agent: TOAST,
      runtime: 'codex',
      format: 'codex',
      runtime_session_id: 'sess',
    });
    expect(await ingestUsage(ctx, ingestMemory())).toMatchObject({ added: 1 });
    const [kept] = await store.usageSources();
    expect(kept?.read_offset).toBe(statSync(file).size);
    expect(JSON.parse(kept?.reader_state ?? '{}')).toMatchObject({
      codex: { sessionId: 'sess', model: 'gpt-5-codex', lastTotal: { total: 1010 } },
    });
    // The next response carries the running total alone: its own counts are what the total grew by.
    appendFileSync(file, tokens(200, 1500, false));
    expect(await ingestUsage(ctx, ingestMemory())).toMatchObject({ read: 1, added: 1 });
    expect((await store.usageEntries()).map((e) => [e.key, e.model, e.input_tokens, e.output_tokens])).toEqual([
      ['codex:sess:t1510', 'gpt-5-codex', 500, 0],
      ['codex:sess:t1010', 'gpt-5-codex', 1000, 10],
    ]);
  });

  it('tells two agents sharing a sandbox apart by when their Codex sessions ran', async () => {
    const { dir, store, clock, ctx, sandbox } = await setup();
    // The store keeps sandboxes apart by path; two paths can still be one directory (a link to it).
    const NUX = 'gastown/polecats/nux';
    const link = join(dir, 'gastown', 'polecats', 'nux');
    symlinkSync(sandbox, link);
    await store.registerAgent(
      { identity: { role: 'polecat', rig: 'gastown', name: 'nux' }, session_name: 'ga-nux', sandbox_path: link },
      'test',
    );
    const t0 = clock.nowMs();
    const s1 = await store.startSession({ agent: TOAST, runtime: 'codex' }, 'gt');
    clock.advance(10 * 60_000);
    await store.endSession(s1.session_id, 'exited', 'gt');
    clock.advance(10 * 60_000);
    await store.startSession({ agent: NUX, runtime: 'codex' }, 'gt');
    const day = codexDay(dir, t0);
    const rollout = (id: string, startMs: number) =>
      codexRollout(id, sandbox, startMs, {
        last_token_usage: { input_tokens: 10, output_tokens: 1, total_tokens: 11 },
      });
    writeFileSync(join(day, 'rollout-a-first.jsonl'), rollout('first', t0 + 60_000));
    writeFileSync(join(day, 'rollout-b-second.jsonl'), rollout('second', t0 + 21 * 60_000));
    const r = await ingestUsage({ ...ctx, env: { ...ctx.env, CODEX_HOME: join(dir, 'codex') } });
    expect(r).toMatchObject({ found: 2, added: 2 });
    expect((await store.usageSources()).map((x) => [x.runtime_session_id, x.agent]).sort()).toEqual([
      ['first', TOAST],
      ['second', NUX],
    ]);
  });

  it('attributes a response to a session many sessions back, loading sessions a page at a time', async () => {
    const { dir, store, clock, ctx } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const s = await store.startSession({ agent: TOAST, runtime: 'claude' }, 'gt');
      ids.push(s.session_id);
      clock.advance(60_000);
      await store.endSession(s.session_id, 'exited', 'gt');
      clock.advance(60_000);
    }
    const file = join(dir, 't.jsonl');
    const start = clock.nowMs() - 24 * 60_000;
    writeFileSync(file, line('early', new Date(start + 30_000).toISOString(), 1, 1));
    await store.recordUsageSource({
      path: file,
      agent: TOAST,
      runtime: 'claude',
      format: 'claude',
      runtime_session_id: null,
    });
    await ingestUsage(ctx);
    expect((await store.usageEntries())[0]?.session_id).toBe(ids[0]);
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
