import {
  aggregateUsage,
  emptyTotals,
  addToTotals,
  priceTable,
  type CostGrouping,
  type CostRow,
  type CostTotals,
} from '../core/costs.js';
import { CONVOY_TYPE, TRACKS } from '../core/convoy.js';
import { ValidationError } from '../core/errors.js';
import { durationSeconds, normalizeTimestamp } from '../core/time.js';
import type { TownContext } from '../work/sessions.js';
import { dayOf } from '../work/budget.js';

/**
 * What the agents cost, from the usage in the store: `gt costs` and the views (the feed's and the dashboard's
 * token and cost columns) read it here. Nothing here reads a transcript: the daemon's costs pass (or `gt
 * costs` itself, first) puts new usage in the store.
 */

type Ctx = Pick<TownContext, 'store' | 'settings'>;

/** `--since`: a duration back from now (`30m`, `24h`, `7d`), `today` (since local midnight), or a time. */
export function sinceOf(text: string, nowMs: number): string {
  const t = text.trim();
  if (t === 'today') return new Date(dayOf(nowMs).startMs).toISOString();
  const seconds = durationSeconds(t);
  if (seconds !== undefined) return new Date(nowMs - seconds * 1000).toISOString();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    const [y, m, d] = t.split('-').map(Number);
    const ms = new Date(y ?? 0, (m ?? 1) - 1, d ?? 1).getTime();
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  try {
    return new Date(Date.parse(normalizeTimestamp(t))).toISOString();
  } catch {
    throw new ValidationError(`--since "${text}" is neither a duration nor a time`, {
      hint: 'give a duration back from now (30m, 24h, 7d), "today", a date (2026-03-01) or a time (2026-03-01T09:00:00Z)',
    });
  }
}

export type CostReport = {
  since: string;
  by: CostGrouping;
  /** One row per agent, bead, convoy, rig or role, most tokens first; key null: usage with none. */
  rows: CostRow[];
  /** Over all usage since then (a bead two convoys track counts once here). */
  total: CostTotals;
};

/** Usage since a time, grouped; `agent` limits it to one agent's. */
export async function costReport(
  ctx: Ctx,
  options: { since: string; by: CostGrouping; agent?: string },
): Promise<CostReport> {
  const groups = await ctx.store.usageGroups({
    since: options.since,
    ...(options.agent !== undefined ? { agent: options.agent } : {}),
  });
  // Every convoy that tracks the bead, landed ones too: what they cost stays theirs.
  const convoys = new Map<string, string[]>();
  if (options.by === 'convoy')
    for (const bead of new Set(groups.flatMap((g) => (g.bead === null ? [] : [g.bead])))) {
      const up = await ctx.store.dependencies(bead, 'up').catch(() => []);
      convoys.set(
        bead,
        up.filter((d) => d.dependency_type === TRACKS && d.issue_type === CONVOY_TYPE).map((d) => d.id),
      );
    }
  const { rows, total } = aggregateUsage(groups, options.by, priceTable(ctx.settings.costs.prices), convoys);
  return { since: options.since, by: options.by, rows, total };
}

/** One agent's usage: its totals, and the model of its latest response. */
export type AgentUsage = CostTotals & { model: string | null; last_at: string | null };

/**
 * Each agent's usage since a time (RFC 3339), by address: the four token counts, usd (the priced models'; null
 * when none of its models has a price), the models without one, how many responses, and the model and time of
 * the latest. For the views' agent rows; agents with no usage since then are absent. Reads the store only (one
 * grouped query): the daemon's costs pass keeps it fresh.
 */
export async function usageByAgent(ctx: Ctx, sinceIso: string): Promise<Map<string, AgentUsage>> {
  const prices = priceTable(ctx.settings.costs.prices);
  const out = new Map<string, AgentUsage>();
  for (const g of await ctx.store.usageGroups({ since: sinceIso })) {
    const u = addToTotals(out.get(g.agent) ?? { ...emptyTotals(), model: null, last_at: null }, g, prices);
    if (u.last_at === null || g.last_at > u.last_at) {
      u.last_at = g.last_at;
      u.model = g.model;
    }
    out.set(g.agent, u);
  }
  return out;
}
