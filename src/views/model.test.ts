import { describe, expect, it } from 'vitest';
import { addUsage, compareNeeds, StateMemory, totalTokens, type Need, type UsageTotals } from './model.js';

const u = (usd: number | null, unpriced: string[] = [], n = 1): UsageTotals => ({
  input_tokens: n,
  output_tokens: 2 * n,
  cache_read_tokens: 3 * n,
  cache_write_tokens: 4 * n,
  usd,
  unpriced_models: unpriced,
  model: null,
});

describe('addUsage', () => {
  it('sums the counts, the priced money, and names the unpriced models; money is null only when nothing is priced', () => {
    expect(addUsage(u(1.5), u(2))).toMatchObject({
      input_tokens: 2,
      cache_write_tokens: 8,
      usd: 3.5,
      unpriced_models: [],
    });
    expect(addUsage(u(1.5), u(null, ['sim']))).toMatchObject({ usd: 1.5, unpriced_models: ['sim'] });
    expect(addUsage(u(null, ['sim']), u(null, ['sim', 'x']))).toMatchObject({
      usd: null,
      unpriced_models: ['sim', 'x'],
    });
    expect(totalTokens(u(0, [], 2))).toBe(20);
  });
});

describe('compareNeeds', () => {
  const need = (id: string, severity: Need['severity'], since: string): Need => ({
    kind: 'problem',
    id,
    severity,
    subject: 's',
    summary: '',
    since,
    state: 'open',
    owner: null,
    agent: null,
  });
  it('puts the most severe first, then the oldest', () => {
    const list = [
      need('a', 'low', '2026-01-01T00:00:00Z'),
      need('b', 'critical', '2026-01-02T00:00:00Z'),
      need('c', 'high', '2026-01-03T00:00:00Z'),
      need('d', 'high', '2026-01-01T00:00:00Z'),
    ];
    expect([...list].sort(compareNeeds).map((n) => n.id)).toEqual(['b', 'd', 'c', 'a']);
  });
});

describe('StateMemory', () => {
  it('keeps since when an agent is in its state: the record at first sight (or unknown), the change when seen', () => {
    const m = new StateMemory();
    expect(m.since('a', 'working', 1_000, 5_000)).toBe(1_000);
    expect(m.since('a', 'working', 4_000, 6_000)).toBe(1_000);
    expect(m.since('a', 'stalled', 2_000, 7_000)).toBe(7_000);
    expect(m.since('b', 'stopped', null, 8_000)).toBeNull();
    expect(m.since('b', 'stopped', null, 9_000)).toBeNull();
    expect(m.since('b', 'idle', null, 9_500)).toBe(9_500);
    expect(m.since('c', 'idle', 9_999, 9_000)).toBe(9_000); // a record from the future is not believed
    m.keepOnly(new Set(['b']));
    expect(m.since('a', 'stalled', 3_000, 10_000)).toBe(3_000);
  });
});
