import { describe, expect, it } from 'vitest';
import {
  aggregateUsage,
  attributeUsage,
  budgetVerdicts,
  claimRollout,
  dayUsage,
  DEFAULT_PRICES,
  describeVerdict,
  dispatchHolds,
  hasBudgets,
  noBudgets,
  priceFor,
  priceTable,
  totalTokens,
  usdOf,
  type ModelPrice,
  type UsageGroup,
} from './costs.js';

const sonnet = DEFAULT_PRICES['claude-sonnet-4'];

const group = (over: Partial<UsageGroup>): UsageGroup => ({
  agent: 'gastown/polecats/toast',
  bead: 'ga-1',
  model: 'claude-sonnet-4-5-20250929',
  messages: 1,
  last_at: '2026-03-01T10:00:00.000Z',
  input_tokens: 0,
  output_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  ...over,
});

describe('prices', () => {
  it.each([
    ['claude-sonnet-4-5-20250929', 'claude-sonnet-4'],
    ['claude-sonnet-4-5', 'claude-sonnet-4'],
    ['claude-sonnet-4@20250514', 'claude-sonnet-4'],
    ['claude-opus-4-1-20250805', 'claude-opus-4-1'],
    ['claude-opus-4-20250514', 'claude-opus-4-20250514'],
    ['claude-opus-4-5-20251101', 'claude-opus-4'],
    ['claude-opus-4-8', 'claude-opus-4'],
    ['claude-haiku-4-5-20251001', 'claude-haiku-4'],
    ['claude-3-5-haiku-20241022', 'claude-3-5-haiku'],
  ])('prices %s as %s', (model, entry) => {
    expect(priceFor(model, DEFAULT_PRICES)).toBe(DEFAULT_PRICES[entry]);
  });

  it.each(['sim', 'gpt-5-codex', 'claude-sonnet-45', 'claude', '<synthetic>'])('has no price for %s', (model) => {
    expect(priceFor(model, DEFAULT_PRICES)).toBeNull();
  });

  it('lets the town override a shipped price and add its own, exact names first', () => {
    const mine: ModelPrice = { input: 1, output: 2, cache_read: 0, cache_write: 0 };
    const table = priceTable({ 'claude-sonnet-4': mine, 'gpt-5': mine, 'gpt-5-codex': sonnet ?? mine });
    expect(priceFor('claude-sonnet-4-5', table)).toBe(mine);
    expect(priceFor('gpt-5-mini', table)).toBe(mine);
    expect(priceFor('gpt-5-codex', table)).toBe(sonnet);
    expect(priceFor('claude-opus-4-1', table)).toBe(DEFAULT_PRICES['claude-opus-4-1']);
  });

  it('prices each count at its own rate, per million tokens; no price is null, not 0', () => {
    const counts = {
      input_tokens: 1_000_000,
      output_tokens: 2_000_000,
      cache_read_tokens: 10_000_000,
      cache_write_tokens: 0,
    };
    expect(usdOf(counts, { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 })).toBeCloseTo(3 + 30 + 3);
    expect(
      usdOf({ ...counts, cache_write_tokens: 400_000 }, { input: 0, output: 0, cache_read: 0, cache_write: 3.75 }),
    ).toBeCloseTo(1.5);
    expect(usdOf(counts, null)).toBeNull();
    expect(
      usdOf({ input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0 }, sonnet ?? null),
    ).toBe(0);
  });
});

describe('aggregation', () => {
  const groups: UsageGroup[] = [
    group({ input_tokens: 100, output_tokens: 10, cache_read_tokens: 1000, cache_write_tokens: 50, messages: 3 }),
    group({ bead: 'ga-2', input_tokens: 5, output_tokens: 5, messages: 1 }),
    group({ agent: 'gastown/witness', bead: null, model: 'sim', input_tokens: 7, messages: 2 }),
    group({ agent: 'mayor', bead: 'hq-9', model: 'claude-opus-4-8', output_tokens: 1_000_000, messages: 1 }),
    group({ agent: 'beads/polecats/nux', bead: 'be-1', input_tokens: 1, messages: 1 }),
  ];

  it('groups by agent, most tokens first, pricing each model on its own', () => {
    const { rows, total } = aggregateUsage(groups, 'agent', DEFAULT_PRICES);
    expect(rows.map((r) => [r.key, totalTokens(r), r.messages])).toEqual([
      ['mayor', 1_000_000, 1],
      ['gastown/polecats/toast', 1170, 4],
      ['gastown/witness', 7, 2],
      ['beads/polecats/nux', 1, 1],
    ]);
    expect(rows[0]?.usd).toBeCloseTo(25);
    expect(rows[1]?.usd).toBeCloseTo((105 * 3 + 15 * 15 + 1000 * 0.3 + 50 * 3.75) / 1e6);
    // A model without a price: its tokens are counted, its money is unknown.
    expect(rows[2]).toMatchObject({ key: 'gastown/witness', usd: null, unpriced_models: ['sim'], input_tokens: 7 });
    expect(total).toMatchObject({ input_tokens: 113, output_tokens: 1_000_015, messages: 8, unpriced_models: ['sim'] });
    expect(total.usd).toBeCloseTo(25 + (rows[1]?.usd ?? 0) + 3 / 1e6);
  });

  it('groups by bead, rig and role; usage without one is the last row, keyed null', () => {
    expect(aggregateUsage(groups, 'bead', DEFAULT_PRICES).rows.map((r) => r.key)).toEqual([
      'hq-9',
      'ga-1',
      'ga-2',
      'be-1',
      null,
    ]);
    expect(aggregateUsage(groups, 'rig', DEFAULT_PRICES).rows.map((r) => [r.key, totalTokens(r)])).toEqual([
      ['gastown', 1177],
      ['beads', 1],
      [null, 1_000_000],
    ]);
    expect(aggregateUsage(groups, 'role', DEFAULT_PRICES).rows.map((r) => [r.key, totalTokens(r)])).toEqual([
      ['mayor', 1_000_000],
      ['polecat', 1171],
      ['witness', 7],
    ]);
  });

  it('groups by convoy: a bead in two convoys counts in both, once in the total', () => {
    const convoys = new Map([
      ['ga-1', ['hq-cv-a', 'hq-cv-b']],
      ['ga-2', ['hq-cv-a']],
    ]);
    const { rows, total } = aggregateUsage(groups, 'convoy', DEFAULT_PRICES, convoys);
    expect(rows.map((r) => [r.key, totalTokens(r)])).toEqual([
      ['hq-cv-a', 1170],
      ['hq-cv-b', 1160],
      [null, 1_000_008],
    ]);
    expect(totalTokens(total)).toBe(1_001_178);
  });

  it('is empty for no usage', () => {
    expect(aggregateUsage([], 'agent', DEFAULT_PRICES)).toEqual({
      rows: [],
      total: {
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        usd: null,
        unpriced_models: [],
        messages: 0,
      },
    });
  });
});

describe('budgets', () => {
  const today = dayUsage(
    [
      group({ input_tokens: 600, output_tokens: 400 }),
      group({ agent: 'mayor', model: 'claude-opus-4-8', output_tokens: 200_000 }),
      group({ agent: 'gastown/witness', model: 'sim', input_tokens: 50 }),
    ],
    DEFAULT_PRICES,
  );

  it('sums the day for the town and each role (money of the priced models only)', () => {
    expect(totalTokens(today.town)).toBe(201_050);
    expect(totalTokens(today.roles.polecat ?? today.town)).toBe(1000);
    expect(today.roles.witness).toMatchObject({ input_tokens: 50, usd: null });
    expect(today.town.usd).toBeCloseTo(5 + (600 * 3 + 400 * 15) / 1e6);
  });

  it.each([
    ['no limits', noBudgets(), []],
    ['a town token limit not reached', { ...noBudgets(), daily_tokens: 300_000 }, [['daily_tokens', false, 201_050]]],
    [
      'a town token limit reached exactly',
      { ...noBudgets(), daily_tokens: 201_050 },
      [['daily_tokens', true, 201_050]],
    ],
    ['a town money limit reached', { ...noBudgets(), daily_usd: 5 }, [['daily_usd', true, 5.0078]]],
    [
      'role limits, with and without usage',
      {
        ...noBudgets(),
        roles: {
          polecat: { daily_tokens: 1000, daily_usd: null },
          crew: { daily_tokens: 1, daily_usd: 1 },
          witness: { daily_tokens: null, daily_usd: 0.01 },
        },
      },
      [
        // Unpriced usage counts against token limits alone.
        ['roles.witness.daily_usd', false, 0],
        ['roles.polecat.daily_tokens', true, 1000],
        ['roles.crew.daily_tokens', false, 0],
        ['roles.crew.daily_usd', false, 0],
      ],
    ],
  ] as const)('%s', (_name, budgets, expected) => {
    const verdicts = budgetVerdicts(today, budgets);
    expect(verdicts.map((v) => [v.budget, v.reached, Math.round(v.used * 10_000) / 10_000])).toEqual(expected);
    expect(hasBudgets(budgets)).toBe(expected.length > 0);
  });

  it("holds dispatch for the town's and the polecats' budgets only", () => {
    const verdicts = budgetVerdicts(today, {
      daily_tokens: null,
      daily_usd: null,
      roles: { mayor: { daily_tokens: 10, daily_usd: null }, polecat: { daily_tokens: 10, daily_usd: null } },
    });
    expect(verdicts.filter((v) => v.reached).map((v) => v.scope)).toEqual(['mayor', 'polecat']);
    expect(dispatchHolds(verdicts).map((v) => v.budget)).toEqual(['roles.polecat.daily_tokens']);
    expect(dispatchHolds(budgetVerdicts(today, { ...noBudgets(), daily_usd: 1 })).map((v) => v.budget)).toEqual([
      'daily_usd',
    ]);
  });

  it('says what is reached in words', () => {
    const [tokens] = budgetVerdicts(today, { ...noBudgets(), daily_tokens: 1000 });
    const [usd] = budgetVerdicts(today, { ...noBudgets(), roles: { mayor: { daily_tokens: null, daily_usd: 10 } } });
    expect(tokens && describeVerdict(tokens)).toBe(
      "the town's daily token budget (1000) is reached: 201050 used today",
    );
    expect(usd && describeVerdict(usd)).toBe(
      "the mayor role's daily money budget ($10.00) is not reached: $5.00 used today",
    );
  });
});

describe('attribution', () => {
  const sessions = [
    { session_id: 's1', bead_id: 'ga-1', started_at: '2026-03-01T10:00:00Z', ended_at: '2026-03-01T11:00:00Z' },
    { session_id: 's2', bead_id: null, started_at: '2026-03-01T12:00:00Z', ended_at: '2026-03-01T13:00:00Z' },
    { session_id: 's3', bead_id: 'ga-3', started_at: '2026-03-01T14:00:00Z', ended_at: null },
  ];
  const hooks = [
    { at: '2026-03-01T09:59:00Z', bead: 'ga-1' },
    { at: '2026-03-01T12:30:00Z', bead: 'ga-2' },
    { at: '2026-03-01T12:50:00Z', bead: null },
    { at: '2026-03-01T14:30:00Z', bead: 'ga-4' },
    { at: '2026-03-01T15:00:00Z', bead: null },
    { at: '2026-03-01T16:00:00Z', bead: null },
    { at: '2026-03-01T16:00:00Z', bead: 'ga-5' },
  ];
  it.each([
    ['before any session', '2026-03-01T09:00:00Z', null, null],
    ['in the first session: the bead it started with', '2026-03-01T10:30:00Z', 's1', 'ga-1'],
    ['after it ended, before the next: the one before', '2026-03-01T11:30:00Z', 's1', 'ga-1'],
    ['in a session that started with none, before its hook', '2026-03-01T12:10:00Z', 's2', null],
    ['after a bead was hooked in the session', '2026-03-01T12:45:00Z', 's2', 'ga-2'],
    ['in the open session, before a new bead', '2026-03-01T14:10:00Z', 's3', 'ga-3'],
    ['in the open session, after a new bead', '2026-03-01T14:45:00Z', 's3', 'ga-4'],
    ['after gt done or an unsling: no bead', '2026-03-01T12:55:00Z', 's2', null],
    ['after its bead was taken off, later in the session', '2026-03-01T15:30:00Z', 's3', null],
    ['off and on again at one time: the later mark', '2026-03-02T00:00:00Z', 's3', 'ga-5'],
  ])('%s', (_name, at, session, bead) => {
    expect(attributeUsage(Date.parse(at), sessions, hooks)).toEqual({ session_id: session, bead });
  });
});

describe('whose a Codex rollout is', () => {
  const a = { agent: 'a', spans: [{ started_at: '2026-03-01T10:00:00Z', ended_at: '2026-03-01T11:00:00Z' }] };
  const b = { agent: 'b', spans: [{ started_at: '2026-03-01T12:00:00Z', ended_at: null }] };
  it.each([
    ['the only agent in the sandbox, whenever it started', [b], '2026-03-01T09:00:00Z', 'b'],
    ['the first listed, when its session covers it', [a, b], '2026-03-01T10:30:00Z', 'a'],
    ['the second listed, when its session covers it', [a, b], '2026-03-01T12:30:00Z', 'b'],
    ['between sessions: the one that started last before it', [b, a], '2026-03-01T11:30:00Z', 'a'],
    ['before any session of several: nobody', [a, b], '2026-03-01T09:00:00Z', null],
  ])('%s', (_name, claims, at, agent) => {
    expect(claimRollout(Date.parse(at), claims)).toBe(agent);
  });
  it('is nobody of several when the start is unknown', () => {
    expect(claimRollout(null, [a, b])).toBeNull();
  });
});
