import type { UsageStore } from '../core/usage-store.js';

/** Token counts of one agent and model, as a counter takes them. */
export type TokenDelta = {
  agent: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
};

const COUNTS = ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens'] as const;

/**
 * What was used since the last look, per agent and model: the store's totals since `sinceIso` (the start of
 * whoever counts), less what the last look saw. A counter fed with these (OpenTelemetry's `gt.tokens`) counts
 * every response once, however often its record is read again, and nothing from before it started.
 */
export class UsageDeltas {
  readonly #seen = new Map<string, TokenDelta>();

  constructor(private readonly sinceIso: string) {}

  async next(store: Pick<UsageStore, 'usageGroups'>): Promise<TokenDelta[]> {
    const now = new Map<string, TokenDelta>();
    for (const g of await store.usageGroups({ since: this.sinceIso })) {
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
    const out: TokenDelta[] = [];
    for (const [key, t] of now) {
      const before = this.#seen.get(key);
      const d = { ...t };
      for (const c of COUNTS) d[c] = Math.max(0, t[c] - (before?.[c] ?? 0));
      if (COUNTS.some((c) => d[c] > 0)) out.push(d);
      this.#seen.set(key, t);
    }
    return out;
  }
}
