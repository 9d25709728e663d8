import { describe, expect, it } from 'vitest';
import type { UsageEntry } from '../core/costs.js';
import { ValidationError } from '../core/errors.js';
import type { TownStore } from '../core/town-store.js';

/** The conformance suite of the usage port; `make` gives a fresh, empty store. */
export type UsageStoreFactory = () => { store: TownStore; cleanup: () => void };

const entry = (over: Partial<UsageEntry>): UsageEntry => ({
  key: 'claude:msg_1',
  source: '/home/u/.claude/projects/p/s.jsonl',
  agent: 'gastown/polecats/toast',
  session_id: 's-1',
  bead: 'ga-1',
  runtime: 'claude',
  model: 'claude-sonnet-4-5-20250929',
  at: '2026-03-01T10:00:00.000Z',
  input_tokens: 10,
  output_tokens: 20,
  cache_read_tokens: 300,
  cache_write_tokens: 40,
  ...over,
});

export function runUsageStoreContract(name: string, make: UsageStoreFactory): void {
  const withStore = async (fn: (s: TownStore) => Promise<void>): Promise<void> => {
    const { store, cleanup } = make();
    try {
      await fn(store);
    } finally {
      cleanup();
    }
  };

  describe(`${name} satisfies UsageStore`, () => {
    it('records many responses at once and reads them back, newest first', () =>
      withStore(async (s) => {
        const r = await s.recordUsage([
          entry({}),
          entry({ key: 'claude:msg_2', at: '2026-03-01T11:00:00Z', bead: null, session_id: null }),
          entry({
            key: 'codex:x:1',
            agent: 'mayor',
            runtime: 'codex',
            model: 'gpt-5-codex',
            at: '2026-03-01T12:00:00+01:00',
          }),
        ]);
        expect(r).toEqual({ added: 3, updated: 0 });
        const all = await s.usageEntries();
        // Times are kept in UTC with milliseconds, whatever offset they came with.
        expect(all.map((e) => [e.key, e.at])).toEqual([
          ['claude:msg_2', '2026-03-01T11:00:00.000Z'],
          ['codex:x:1', '2026-03-01T11:00:00.000Z'],
          ['claude:msg_1', '2026-03-01T10:00:00.000Z'],
        ]);
        expect(all[2]).toEqual(entry({}));
        expect(all[0]).toMatchObject({ bead: null, session_id: null });
        expect((await s.usageEntries({ limit: 1 })).length).toBe(1);
      }));

    it('counts a response once however often it is recorded, at the largest count seen', () =>
      withStore(async (s) => {
        await s.recordUsage([entry({ output_tokens: 1 })]);
        // Read again, part-written the first time: the counts grow; the attribution stays as first recorded.
        expect(await s.recordUsage([entry({ output_tokens: 20, bead: 'ga-other' })])).toEqual({ added: 0, updated: 1 });
        expect(await s.recordUsage([entry({ output_tokens: 5 }), entry({})])).toEqual({ added: 0, updated: 0 });
        const [only, ...rest] = await s.usageEntries();
        expect(rest).toEqual([]);
        expect(only).toMatchObject({ output_tokens: 20, bead: 'ga-1', input_tokens: 10 });
      }));

    it('sums usage per agent, bead and model, since and until a time and for one agent', () =>
      withStore(async (s) => {
        await s.recordUsage([
          entry({ key: 'a', at: '2026-03-01T09:00:00Z' }),
          entry({ key: 'b', at: '2026-03-01T10:00:00Z' }),
          entry({ key: 'c', at: '2026-03-01T11:00:00Z', model: 'claude-opus-4-8' }),
          entry({ key: 'd', at: '2026-03-01T12:00:00Z', agent: 'mayor', bead: null }),
        ]);
        expect(await s.usageGroups()).toEqual([
          {
            agent: 'gastown/polecats/toast',
            bead: 'ga-1',
            model: 'claude-opus-4-8',
            messages: 1,
            last_at: '2026-03-01T11:00:00.000Z',
            input_tokens: 10,
            output_tokens: 20,
            cache_read_tokens: 300,
            cache_write_tokens: 40,
          },
          {
            agent: 'gastown/polecats/toast',
            bead: 'ga-1',
            model: 'claude-sonnet-4-5-20250929',
            messages: 2,
            last_at: '2026-03-01T10:00:00.000Z',
            input_tokens: 20,
            output_tokens: 40,
            cache_read_tokens: 600,
            cache_write_tokens: 80,
          },
          expect.objectContaining({ agent: 'mayor', bead: null, messages: 1 }),
        ]);
        const since = await s.usageGroups({ since: '2026-03-01T10:00:00Z' });
        expect(since.reduce((n, g) => n + g.messages, 0)).toBe(3);
        const window = await s.usageGroups({ since: '2026-03-01T10:00:00Z', until: '2026-03-01T12:00:00Z' });
        expect(window.reduce((n, g) => n + g.messages, 0)).toBe(2);
        expect((await s.usageGroups({ agent: 'mayor' })).map((g) => g.agent)).toEqual(['mayor']);
        expect(await s.usageEntries({ agent: 'nobody' })).toEqual([]);
        expect(await s.usageGroups({ since: '2027-01-01T00:00:00Z' })).toEqual([]);
        await expect(s.usageGroups({ since: 'yesterday' })).rejects.toThrow(ValidationError);
      }));

    it('refuses a bad entry and writes none of the batch', () =>
      withStore(async (s) => {
        for (const bad of [
          entry({ key: '' }),
          entry({ agent: '' }),
          entry({ input_tokens: -1 }),
          entry({ output_tokens: 1.5 }),
          entry({ at: 'now' }),
        ]) {
          await expect(s.recordUsage([entry({ key: 'fine' }), bad])).rejects.toThrow(ValidationError);
        }
        expect(await s.usageEntries()).toEqual([]);
        expect(await s.recordUsage([])).toEqual({ added: 0, updated: 0 });
      }));

    it('keeps the records to read, each with the agent that named it first', () =>
      withStore(async (s) => {
        const path = '/home/u/.claude/projects/-town-gastown-polecats-toast/abc.jsonl';
        const first = await s.recordUsageSource({
          path,
          agent: 'gastown/polecats/toast',
          runtime: 'claude',
          format: 'claude',
          runtime_session_id: 'abc',
        });
        expect(first).toMatchObject({
          path,
          agent: 'gastown/polecats/toast',
          format: 'claude',
          runtime_session_id: 'abc',
        });
        const again = await s.recordUsageSource({
          path,
          agent: 'mayor',
          runtime: 'claude',
          format: 'claude',
          runtime_session_id: null,
        });
        expect(again).toEqual(first);
        await s.recordUsageSource({
          path: '/r/rollout.jsonl',
          agent: 'mayor',
          runtime: 'codex',
          format: 'codex',
          runtime_session_id: null,
        });
        expect((await s.usageSources()).map((x) => x.path)).toEqual([path, '/r/rollout.jsonl']);
        await expect(
          s.recordUsageSource({
            path: 'relative.jsonl',
            agent: 'mayor',
            runtime: 'claude',
            format: 'claude',
            runtime_session_id: null,
          }),
        ).rejects.toThrow(ValidationError);
        await expect(
          s.recordUsageSource({
            path: '/x.jsonl',
            agent: 'mayor',
            runtime: 'gemini',
            // @ts-expect-error -- a format the port does not know
            format: 'gemini',
            runtime_session_id: null,
          }),
        ).rejects.toThrow(ValidationError);
        expect((await s.usageSources()).length).toBe(2);
      }));

    it('keeps where each record was read to, for a reader that starts afresh', () =>
      withStore(async (s) => {
        const base = { agent: 'mayor', runtime: 'codex', format: 'codex' as const, runtime_session_id: null };
        const fresh = await s.recordUsageSource({ ...base, path: '/r/a.jsonl' });
        expect(fresh).toMatchObject({ read_offset: 0, read_size: null, reader_state: null });
        await s.recordUsageSource({ ...base, path: '/r/b.jsonl' });
        await s.recordUsageReads([
          { path: '/r/a.jsonl', read_offset: 120, read_size: 130, reader_state: '{"model":"gpt-5"}' },
          { path: '/r/gone.jsonl', read_offset: 5, read_size: 5, reader_state: null },
        ]);
        expect((await s.usageSources()).map((x) => [x.path, x.read_offset, x.read_size, x.reader_state])).toEqual([
          ['/r/a.jsonl', 120, 130, '{"model":"gpt-5"}'],
          ['/r/b.jsonl', 0, null, null],
        ]);
        // Named again (a resumed session's hook): where it was read to stays.
        expect(await s.recordUsageSource({ ...base, path: '/r/a.jsonl' })).toMatchObject({ read_offset: 120 });
        // A bad position writes nothing, not even the good one beside it.
        await expect(
          s.recordUsageReads([
            { path: '/r/b.jsonl', read_offset: 9, read_size: 9, reader_state: null },
            { path: '/r/a.jsonl', read_offset: -1, read_size: null, reader_state: null },
          ]),
        ).rejects.toThrow(ValidationError);
        await expect(
          s.recordUsageReads([{ path: '/r/a.jsonl', read_offset: 1, read_size: 1, reader_state: '{' }]),
        ).rejects.toThrow(ValidationError);
        expect((await s.usageSources()).map((x) => x.read_offset)).toEqual([120, 0]);
      }));
  });
}
