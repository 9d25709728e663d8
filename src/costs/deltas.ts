import type { AgentModelTokens } from '../core/costs.js';
import type { UsageStore } from '../core/usage-store.js';

/** Token counts of one agent and model, as a counter takes them. */
export type TokenDelta = AgentModelTokens;

const COUNTS = ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens'] as const;

/**
 * What was used since the last look, per agent and model: the store's totals over a window, less what the last
 * look saw. A counter fed with these (OpenTelemetry's `gt.tokens`) counts every response once, however often
 * its record is read again, and nothing from before it started. The window runs from the start (of whoever
 * counts) or from the day's start, whichever is later, so that a look reads one day at most: when the day
 * turns, the old window's last growth is counted, and the new day's totals so far become the baseline.
 */
export class UsageDeltas {
  #seen = new Map<string, TokenDelta>();
  #windowMs: number;

  constructor(startMs: number) {
    this.#windowMs = startMs;
  }

  async next(store: Pick<UsageStore, 'usageGroups'>, dayStartMs: number): Promise<TokenDelta[]> {
    const out = this.#diff(await totals(store, this.#windowMs));
    if (dayStartMs > this.#windowMs) {
      this.#windowMs = dayStartMs;
      this.#seen = await totals(store, dayStartMs);
    }
    return out;
  }

  #diff(now: Map<string, TokenDelta>): TokenDelta[] {
    const out: TokenDelta[] = [];
    for (const [key, t] of now) {
      const before = this.#seen.get(key);
      const d = { ...t };
      for (const c of COUNTS) d[c] = Math.max(0, t[c] - (before?.[c] ?? 0));
      if (COUNTS.some((c) => d[c] > 0)) out.push(d);
    }
    this.#seen = now;
    return out;
  }
}

async function totals(store: Pick<UsageStore, 'usageGroups'>, sinceMs: number): Promise<Map<string, TokenDelta>> {
  const now = new Map<string, TokenDelta>();
  for (const g of await store.usageGroups({ since: new Date(sinceMs).toISOString() })) {
    const key = `${g.agent}\u0000${g.model}`;
    const t = now.get(key) ?? {
      agent: g.agent,
      model: g.model,
      input_tokens: 0,
      output_tokens: 0,
      cache_read_tokens: 0,
      cache_write_tokens: 0,
    };
    for (const c of COUNTS) t[c] += g[c];
    now.set(key, t);
  }
  return now;
}
