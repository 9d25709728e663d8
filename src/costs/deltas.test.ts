import { afterEach, describe, expect, it } from 'vitest';
import type { UsageEntry } from '../core/costs.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../store/sqlite-bead-store.js';
import { UsageDeltas } from './deltas.js';

const stores: SqliteBeadStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.dispose();
});

const entry = (over: Partial<UsageEntry>): UsageEntry => ({
  key: 'claude:msg_1',
  source: '/t/s.jsonl',
  agent: 'gastown/polecats/toast',
  session_id: null,
  bead: 'ga-1',
  runtime: 'claude',
  model: 'claude-sonnet-4-5',
  at: '2026-03-01T10:00:00.000Z',
  input_tokens: 10,
  output_tokens: 20,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  ...over,
});

describe('UsageDeltas', () => {
  it('hands each response to the counter once, growth of a re-read one as its growth, nothing from before', async () => {
    const store = openSqliteBeadStore(':memory:');
    stores.push(store);
    store.setPrefixSync('gt');
    await store.recordUsage([entry({ key: 'claude:old', at: '2026-03-01T08:00:00.000Z', output_tokens: 999 })]);
    const deltas = new UsageDeltas(Date.parse('2026-03-01T09:00:00.000Z'));
    const day = Date.parse('2026-03-01T00:00:00.000Z');
    expect(await deltas.next(store, day)).toEqual([]);
    await store.recordUsage([
      entry({}),
      entry({ key: 'claude:msg_2', bead: 'ga-2', input_tokens: 5, output_tokens: 0 }),
    ]);
    expect(await deltas.next(store, day)).toEqual([
      {
        agent: 'gastown/polecats/toast',
        model: 'claude-sonnet-4-5',
        input_tokens: 15,
        output_tokens: 20,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
      },
    ]);
    expect(await deltas.next(store, day)).toEqual([]);
    // The first response read again at its final size, and another agent's.
    await store.recordUsage([
      entry({ output_tokens: 25 }),
      entry({
        key: 'claude:w1',
        agent: 'gastown/witness',
        model: 'claude-haiku-4-5',
        input_tokens: 1,
        output_tokens: 2,
      }),
    ]);
    const next = await deltas.next(store, day);
    expect(next).toHaveLength(2);
    expect(next).toContainEqual(
      expect.objectContaining({ agent: 'gastown/polecats/toast', input_tokens: 0, output_tokens: 5 }),
    );
    expect(next).toContainEqual(
      expect.objectContaining({
        agent: 'gastown/witness',
        model: 'claude-haiku-4-5',
        input_tokens: 1,
        output_tokens: 2,
      }),
    );
  });

  it('reads one day at most: when the day turns, what the old window grew by is counted and the new day starts afresh', async () => {
    const store = openSqliteBeadStore(':memory:');
    stores.push(store);
    store.setPrefixSync('gt');
    const deltas = new UsageDeltas(Date.parse('2026-03-01T09:00:00.000Z'));
    const day1 = Date.parse('2026-03-01T00:00:00.000Z');
    const day2 = Date.parse('2026-03-02T00:00:00.000Z');
    await store.recordUsage([
      entry({ key: 'claude:a', at: '2026-03-01T23:00:00.000Z', input_tokens: 1, output_tokens: 0 }),
    ]);
    expect((await deltas.next(store, day1)).map((d) => d.input_tokens)).toEqual([1]);
    // Just after midnight: one response from before it, one after, both new to the counter.
    await store.recordUsage([
      entry({ key: 'claude:b', at: '2026-03-01T23:59:00.000Z', input_tokens: 2, output_tokens: 0 }),
      entry({ key: 'claude:c', at: '2026-03-02T00:01:00.000Z', input_tokens: 4, output_tokens: 0 }),
    ]);
    expect((await deltas.next(store, day2)).map((d) => d.input_tokens)).toEqual([6]);
    expect(await deltas.next(store, day2)).toEqual([]);
    await store.recordUsage([
      entry({ key: 'claude:d', at: '2026-03-02T01:00:00.000Z', input_tokens: 8, output_tokens: 0 }),
    ]);
    expect((await deltas.next(store, day2)).map((d) => d.input_tokens)).toEqual([8]);
  });
});
