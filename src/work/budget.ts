import { startOfLocalDay } from '../core/time.js';
import {
  budgetVerdicts,
  dayUsage,
  describeVerdict,
  dispatchHolds,
  hasBudgets,
  priceTable,
  type BudgetVerdict,
} from '../core/costs.js';
import type { TownContext } from './sessions.js';

/**
 * Daily budgets as dispatch sees them (`budgets` in settings.json): today's usage in the store against each
 * limit. Nothing is stored about a hold: it is read from the usage whenever it is asked, so it ends by itself
 * when the day turns or a limit is raised. Without budgets nothing is read at all. The usage itself is put in
 * the store by the daemon's costs pass (src/costs/), every few seconds.
 */

type Ctx = Pick<TownContext, 'store' | 'settings' | 'now'>;

/** The local day `nowMs` falls in: its date, and when it began. Budgets are daily in the town's own time. */
export function dayOf(nowMs: number): { day: string; startMs: number } {
  const d = new Date(startOfLocalDay(nowMs));
  const pad = (n: number): string => String(n).padStart(2, '0');
  return { day: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, startMs: d.getTime() };
}

export type BudgetStatus = {
  day: string;
  /** When the day began (UTC, RFC 3339): usage since then counts. */
  since: string;
  verdicts: BudgetVerdict[];
};

/** Every limit set, with today's use against it; null when no budget is set. */
export async function budgetStatus(ctx: Ctx): Promise<BudgetStatus | null> {
  const budgets = ctx.settings.budgets;
  if (!hasBudgets(budgets)) return null;
  const { day, startMs } = dayOf(ctx.now());
  const since = new Date(startMs).toISOString();
  const today = dayUsage(await ctx.store.usageGroups({ since }), priceTable(ctx.settings.costs.prices));
  return { day, since, verdicts: budgetVerdicts(today, budgets) };
}

/** Dispatch held by a budget: which reached limits hold it, and why in words. */
export type BudgetHold = { day: string; since: string; reached: BudgetVerdict[]; why: string };

/**
 * Whether a reached budget holds new work back now: the town's, or the polecats' (core/costs.ts dispatchHolds).
 * Null when none does.
 */
export async function budgetHold(ctx: Ctx): Promise<BudgetHold | null> {
  const status = await budgetStatus(ctx);
  return status === null ? null : holdOf(status);
}

export function holdOf(status: BudgetStatus): BudgetHold | null {
  const reached = dispatchHolds(status.verdicts);
  if (reached.length === 0) return null;
  return {
    day: status.day,
    since: status.since,
    reached,
    why:
      `${reached.map(describeVerdict).join('; ')}; no new work goes out until the day turns ` +
      '(or the budget in settings.json is raised)',
  };
}
