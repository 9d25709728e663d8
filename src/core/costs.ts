import { parseAddress, ROLES, type Role } from './identity.js';

/**
 * What the agents cost, pure: usage entries (one per model response, read from what each agent CLI records),
 * prices per model, totals grouped by agent, bead, convoy, rig or role, and whether a daily budget is reached.
 * Token counts come first and are exact; money (`usd`) is derived from a price table and is null when no
 * model in a total has a price (shown as "unpriced", never as 0). For subscribers money is meaningless.
 */

export type TokenCounts = {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
};

/** Token counts of one agent on one model: what a counter of usage (OpenTelemetry's gt.tokens) is fed. */
export type AgentModelTokens = TokenCounts & { agent: string; model: string };

export const TOKEN_FIELDS = ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens'] as const;

export const ZERO_COUNTS: Readonly<TokenCounts> = {
  input_tokens: 0,
  output_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
};

/** One model response as an agent CLI recorded it, attributed to the agent, our session and its bead. */
export type UsageEntry = TokenCounts & {
  /** Unique per response over every record ("claude:msg_…"): reading a record twice never counts twice. */
  key: string;
  /** The file it was read from. */
  source: string;
  agent: string;
  /** Our session (the agent's chain) whose span covers the response; null when none does. */
  session_id: string | null;
  bead: string | null;
  /** The agent CLI preset it ran under (claude, codex, sim, or a custom agent's name). */
  runtime: string;
  model: string;
  /** When the response was recorded (UTC, RFC 3339). */
  at: string;
};

/** Summed usage of entries sharing agent, bead and model: what the store hands back for totals. */
export type UsageGroup = TokenCounts & {
  agent: string;
  bead: string | null;
  model: string;
  /** How many responses, and when the latest was recorded. */
  messages: number;
  last_at: string;
};

/** US dollars per million tokens, for each of the four counts. */
export type ModelPrice = { input: number; output: number; cache_read: number; cache_write: number };

/**
 * Prices shipped with gt (USD per million tokens; cache writes at the 5-minute rate), for the Claude models.
 * `costs.prices` in settings.json overrides or adds entries. A name matches a model exactly, or as a prefix
 * ending at a "-" or "@" of the model's name (the longest such wins): "claude-sonnet-4-5" prices
 * "claude-sonnet-4-5-20250929", and "claude-opus-4" any later Opus 4 model no entry names more closely.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-opus-4': { input: 5, output: 25, cache_read: 0.5, cache_write: 6.25 },
  'claude-opus-4-0': { input: 15, output: 75, cache_read: 1.5, cache_write: 18.75 },
  'claude-opus-4-20250514': { input: 15, output: 75, cache_read: 1.5, cache_write: 18.75 },
  'claude-opus-4-1': { input: 15, output: 75, cache_read: 1.5, cache_write: 18.75 },
  'claude-sonnet-4': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'claude-haiku-4': { input: 1, output: 5, cache_read: 0.1, cache_write: 1.25 },
  'claude-3-7-sonnet': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'claude-3-5-sonnet': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cache_read: 0.08, cache_write: 1 },
  'claude-3-opus': { input: 15, output: 75, cache_read: 1.5, cache_write: 18.75 },
  'claude-3-haiku': { input: 0.25, output: 1.25, cache_read: 0.03, cache_write: 0.3 },
};

/** The price table in force: the shipped prices with the town's own (`costs.prices`) over them. */
export function priceTable(own: Readonly<Record<string, ModelPrice>>): Record<string, ModelPrice> {
  return { ...DEFAULT_PRICES, ...own };
}

/** The price of a model: an exact entry, else the longest entry that is a prefix of it at a "-" or "@". */
export function priceFor(model: string, prices: Readonly<Record<string, ModelPrice>>): ModelPrice | null {
  const exact = prices[model];
  if (exact !== undefined) return exact;
  let best: string | undefined;
  for (const name of Object.keys(prices)) {
    if (!model.startsWith(name)) continue;
    const next = model[name.length];
    if (next !== '-' && next !== '@') continue;
    if (best === undefined || name.length > best.length) best = name;
  }
  return best === undefined ? null : (prices[best] ?? null);
}

/** The money of some tokens at a price; null without a price. */
export function usdOf(counts: TokenCounts, price: ModelPrice | null): number | null {
  if (price === null) return null;
  return (
    (counts.input_tokens * price.input +
      counts.output_tokens * price.output +
      counts.cache_read_tokens * price.cache_read +
      counts.cache_write_tokens * price.cache_write) /
    1_000_000
  );
}

/** All four counts together: what a daily token budget counts. */
export function totalTokens(c: TokenCounts): number {
  return c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens;
}

export function addCounts(a: TokenCounts, b: TokenCounts): TokenCounts {
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    cache_read_tokens: a.cache_read_tokens + b.cache_read_tokens,
    cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
  };
}

/** The larger of each count: one response recorded on several lines (or read twice) is counted once. */
export function maxCounts(a: TokenCounts, b: TokenCounts): TokenCounts {
  return {
    input_tokens: Math.max(a.input_tokens, b.input_tokens),
    output_tokens: Math.max(a.output_tokens, b.output_tokens),
    cache_read_tokens: Math.max(a.cache_read_tokens, b.cache_read_tokens),
    cache_write_tokens: Math.max(a.cache_write_tokens, b.cache_write_tokens),
  };
}

export function countsOf(c: TokenCounts): TokenCounts {
  return {
    input_tokens: c.input_tokens,
    output_tokens: c.output_tokens,
    cache_read_tokens: c.cache_read_tokens,
    cache_write_tokens: c.cache_write_tokens,
  };
}

/** Tokens with their money: usd sums the priced models; null when none of them has a price. */
export type CostTotals = TokenCounts & {
  usd: number | null;
  /** Models in this total that have no price (their tokens are in the counts, not in usd). */
  unpriced_models: string[];
  messages: number;
};

export function emptyTotals(): CostTotals {
  return { ...ZERO_COUNTS, usd: null, unpriced_models: [], messages: 0 };
}

/** Adds a group's usage to a running total (in place), pricing it by its model. */
export function addToTotals<T extends CostTotals>(
  into: T,
  group: TokenCounts & { model: string; messages: number },
  prices: Readonly<Record<string, ModelPrice>>,
): T {
  for (const f of TOKEN_FIELDS) into[f] += group[f];
  into.messages += group.messages;
  const usd = usdOf(group, priceFor(group.model, prices));
  if (usd === null) {
    if (!into.unpriced_models.includes(group.model)) into.unpriced_models.push(group.model);
  } else {
    into.usd = (into.usd ?? 0) + usd;
  }
  return into;
}

export const COST_GROUPINGS = ['agent', 'bead', 'convoy', 'rig', 'role'] as const;
export type CostGrouping = (typeof COST_GROUPINGS)[number];

export function isCostGrouping(v: string): v is CostGrouping {
  return (COST_GROUPINGS as readonly string[]).includes(v);
}

/** One row of a cost report: the group's key (null: usage with no bead, no convoy, no rig) and its totals. */
export type CostRow = CostTotals & { key: string | null };

/** The rig and role of an address; an address that does not parse has neither. */
function addressParts(agent: string): { rig: string | null; role: Role | null } {
  try {
    const id = parseAddress(agent);
    return { rig: 'rig' in id ? id.rig : null, role: id.role };
  } catch {
    return { rig: null, role: null };
  }
}

/**
 * The keys a group of usage counts under: its agent, its bead, the convoys tracking its bead (each of them: a
 * bead two convoys track counts in both), its agent's rig (none for town agents) or role.
 */
export function groupKeys(
  group: Pick<UsageGroup, 'agent' | 'bead'>,
  by: CostGrouping,
  convoysOf: ReadonlyMap<string, readonly string[]>,
): (string | null)[] {
  switch (by) {
    case 'agent':
      return [group.agent];
    case 'bead':
      return [group.bead];
    case 'convoy': {
      const convoys = group.bead === null ? [] : (convoysOf.get(group.bead) ?? []);
      return convoys.length === 0 ? [null] : [...convoys];
    }
    case 'rig':
      return [addressParts(group.agent).rig];
    case 'role':
      return [addressParts(group.agent).role];
  }
}

/**
 * Totals by agent, bead, convoy, rig or role, most tokens first (usage with no key last). The grand total is
 * over the groups themselves, so a bead two convoys track is counted once in it.
 */
export function aggregateUsage(
  groups: readonly UsageGroup[],
  by: CostGrouping,
  prices: Readonly<Record<string, ModelPrice>>,
  convoysOf: ReadonlyMap<string, readonly string[]> = new Map(),
): { rows: CostRow[]; total: CostTotals } {
  const rows = new Map<string | null, CostRow>();
  const total = emptyTotals();
  for (const g of groups) {
    addToTotals(total, g, prices);
    for (const key of groupKeys(g, by, convoysOf)) {
      const row = rows.get(key) ?? { key, ...emptyTotals() };
      rows.set(key, addToTotals(row, g, prices));
    }
  }
  const sorted = [...rows.values()].sort(
    (a, b) =>
      (a.key === null ? 1 : 0) - (b.key === null ? 1 : 0) ||
      totalTokens(b) - totalTokens(a) ||
      String(a.key).localeCompare(String(b.key)),
  );
  return { rows: sorted, total };
}

// ---------------------------------------------------------------------------------------------------------
// Budgets

/** A daily limit: tokens (all four counts together) and/or money; null is no limit. */
export type Budget = { daily_tokens: number | null; daily_usd: number | null };

/** The town's daily budgets (`budgets` in settings.json): the town's own, and per role. */
export type Budgets = Budget & { roles: Partial<Record<Role, Budget>> };

export function noBudgets(): Budgets {
  return { daily_tokens: null, daily_usd: null, roles: {} };
}

/** Whether any limit is set (none: nothing to check, no query to run). */
export function hasBudgets(b: Budgets): boolean {
  return (
    b.daily_tokens !== null ||
    b.daily_usd !== null ||
    Object.values(b.roles).some((r) => r.daily_tokens !== null || r.daily_usd !== null)
  );
}

/** Today's usage, for the town and per role. */
export type DayUsage = { town: CostTotals; roles: Partial<Record<Role, CostTotals>> };

/** Today's usage from the day's groups: the town's, and each role's (by the agent's address). */
export function dayUsage(groups: readonly UsageGroup[], prices: Readonly<Record<string, ModelPrice>>): DayUsage {
  const out: DayUsage = { town: emptyTotals(), roles: {} };
  for (const g of groups) {
    addToTotals(out.town, g, prices);
    const role = addressParts(g.agent).role;
    if (role !== null) out.roles[role] = addToTotals(out.roles[role] ?? emptyTotals(), g, prices);
  }
  return out;
}

export type BudgetVerdict = {
  /** Which limit, as settings.json names it: "daily_tokens", "roles.polecat.daily_usd". */
  budget: string;
  /** The town, or the role whose agents it limits. */
  scope: 'town' | Role;
  measure: 'tokens' | 'usd';
  limit: number;
  /** Used today (usd: of the priced models only; unpriced usage counts against token limits alone). */
  used: number;
  reached: boolean;
};

/** Every limit that is set, with today's use against it; reached when the use is at or over the limit. */
export function budgetVerdicts(today: DayUsage, budgets: Budgets): BudgetVerdict[] {
  const out: BudgetVerdict[] = [];
  const check = (scope: 'town' | Role, prefix: string, budget: Budget, used: CostTotals | undefined): void => {
    if (budget.daily_tokens !== null) {
      const n = used === undefined ? 0 : totalTokens(used);
      out.push({
        budget: `${prefix}daily_tokens`,
        scope,
        measure: 'tokens',
        limit: budget.daily_tokens,
        used: n,
        reached: n >= budget.daily_tokens,
      });
    }
    if (budget.daily_usd !== null) {
      const usd = used?.usd ?? 0;
      out.push({
        budget: `${prefix}daily_usd`,
        scope,
        measure: 'usd',
        limit: budget.daily_usd,
        used: usd,
        reached: usd >= budget.daily_usd,
      });
    }
  };
  check('town', '', budgets, today.town);
  for (const role of ROLES) {
    const budget = budgets.roles[role];
    if (budget !== undefined) check(role, `roles.${role}.`, budget, today.roles[role]);
  }
  return out;
}

/**
 * The reached budgets that hold dispatch: dispatch starts polecats, so the town's budget and the polecat
 * role's hold it; another role's reached budget is escalated but stops no polecat.
 */
export function dispatchHolds(verdicts: readonly BudgetVerdict[]): BudgetVerdict[] {
  return verdicts.filter((v) => v.reached && (v.scope === 'town' || v.scope === 'polecat'));
}

/** A verdict in words: "the town's daily token budget (2000000) is reached: 2104332 used today". */
export function describeVerdict(v: BudgetVerdict): string {
  const whose = v.scope === 'town' ? "the town's" : `the ${v.scope} role's`;
  const what = v.measure === 'tokens' ? 'token' : 'money';
  const fmt = (n: number): string => (v.measure === 'usd' ? `$${n.toFixed(2)}` : String(n));
  return `${whose} daily ${what} budget (${fmt(v.limit)}) is ${v.reached ? 'reached' : 'not reached'}: ${fmt(v.used)} used today`;
}

// ---------------------------------------------------------------------------------------------------------
// Attribution

/** One of the agent's sessions, as attribution needs it. */
export type SessionSpan = { session_id: string; bead_id: string | null; started_at: string; ended_at: string | null };

/** A bead put on the agent's hook, or taken off it (bead null: `gt done`, an unsling), and when. */
export type HookMark = { at: string; bead: string | null };

/**
 * Whose a response recorded at `atMs` is: the agent's session whose span covers it (a resumed agent CLI session
 * spans several of ours), else the latest that started before it; and the bead the agent was on then — as the
 * last hook change in that session up to the response left it (an idle polecat told a new bead keeps its
 * session; after `gt done` or an unsling it is on none), else the bead the session started with. Of marks at
 * the same time, the later in the list counts.
 */
export function attributeUsage(
  atMs: number,
  sessions: readonly SessionSpan[],
  hooks: readonly HookMark[],
): { session_id: string | null; bead: string | null } {
  let covering: SessionSpan | undefined;
  let before: SessionSpan | undefined;
  for (const s of sessions) {
    const start = Date.parse(s.started_at);
    if (start > atMs) continue;
    if (before === undefined || start > Date.parse(before.started_at)) before = s;
    const end = s.ended_at === null ? Infinity : Date.parse(s.ended_at);
    if (atMs <= end && (covering === undefined || start > Date.parse(covering.started_at))) covering = s;
  }
  const session = covering ?? before;
  if (session === undefined) return { session_id: null, bead: null };
  const start = Date.parse(session.started_at);
  let bead = session.bead_id;
  let latest = -Infinity;
  for (const h of hooks) {
    const t = Date.parse(h.at);
    if (t >= start && t <= atMs && t >= latest) {
      latest = t;
      bead = h.bead;
    }
  }
  return { session_id: session.session_id, bead };
}

/** One of the agents a Codex rollout's sandbox may be: its address and the spans of its sessions there. */
export type SandboxClaim = { agent: string; spans: readonly Pick<SessionSpan, 'started_at' | 'ended_at'>[] };

/**
 * Whose a Codex rollout is, of the agents that ran in its sandbox: the one alone there; else the one with a
 * session whose span covers the rollout's start (`startedMs`), else the one whose session started last before
 * it. Null when several share the sandbox and none had started by then (or the start is unknown).
 */
export function claimRollout(startedMs: number | null, claims: readonly SandboxClaim[]): string | null {
  if (claims.length === 1) return claims[0]?.agent ?? null;
  if (startedMs === null || Number.isNaN(startedMs)) return null;
  let covering: { agent: string; start: number } | undefined;
  let before: { agent: string; start: number } | undefined;
  for (const c of claims)
    for (const s of c.spans) {
      const start = Date.parse(s.started_at);
      if (start > startedMs) continue;
      if (before === undefined || start > before.start) before = { agent: c.agent, start };
      const end = s.ended_at === null ? Infinity : Date.parse(s.ended_at);
      if (startedMs <= end && (covering === undefined || start > covering.start)) covering = { agent: c.agent, start };
    }
  return (covering ?? before)?.agent ?? null;
}
