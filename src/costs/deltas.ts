import { TOKEN_FIELDS, ZERO_COUNTS, type AgentModelTokens } from '../core/costs.js';
import type { UsageStore } from '../core/usage-store.js';

/**
 * What was used since the last look, per agent and model: the store's totals over a window, less what the last
 * look saw. A counter fed with these (OpenTelemetry's `gt.tokens`) counts every response once, however often
 * its record is read again, and nothing from before it started. The window runs from the start (of whoever
 * counts) or from the day's start, whichever is later, so that a look reads one day at most: when the day
 * turns, the old window's last growth is counted, and the new day's totals so far become the baseline.
 */
export class UsageDeltas {
  #seen = new Map<string, AgentModelTokens>();
  #windowMs: number;

  constructor(startMs: number) {
    this.#windowMs = startMs;
  }

  async next(store: Pick<UsageStore, 'usageGroups'>, dayStartMs: number): Promise<AgentModelTokens[]> {
    const out = this.#diff(await totals(store, this.#windowMs));
    if (dayStartMs > this.#windowMs) {
      this.#windowMs = dayStartMs;
      this.#seen = await totals(store, dayStartMs);
    }
    return out;
  }

  #diff(now: Map<string, AgentModelTokens>): AgentModelTokens[] {
    const out: AgentModelTokens[] = [];
    for (const [key, t] of now) {
      const before = this.#seen.get(key);
      const d = { ...t };
      for (const c of TOKEN_FIELDS) d[c] = Math.max(0, t[c] - (before?.[c] ?? 0));
      if (TOKEN_FIELDS.some((c) => d[c] > 0)) out.push(d);
    }
    this.#seen = now;
    return out;
  }
}

async function totals(store: Pick<UsageStore, 'usageGroups'>, sinceMs: number): Promise<Map<string, AgentModelTokens>> {
  const now = new Map<string, AgentModelTokens>();
  for (const g of await store.usageGroups({ since: new Date(sinceMs).toISOString() })) {
    const key = `${g.agent}\u0000${g.model}`;
    const t = now.get(key) ?? { agent: g.agent, model: g.model, ...ZERO_COUNTS };
    for (const c of TOKEN_FIELDS) t[c] += g[c];
    now.set(key, t);
  }
  return now;
}
