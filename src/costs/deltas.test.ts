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
    const deltas = new UsageDeltas('2026-03-01T09:00:00.000Z');
    expect(await deltas.next(store)).toEqual([]);
    await store.recordUsage([
      entry({}),
      entry({ key: 'claude:msg_2', bead: 'ga-2', input_tokens: 5, output_tokens: 0 }),
    ]);
    expect(await deltas.next(store)).toEqual([
      {
        agent: 'gastown/polecats/toast',
        model: 'claude-sonnet-4-5',
        input_tokens: 15,
        output_tokens: 20,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
      },
    ]);
    expect(await deltas.next(store)).toEqual([]);
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
    const next = await deltas.next(store);
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
});
