import { describeVerdict, type BudgetVerdict } from '../core/costs.js';
import { errorMessage, isRecord } from '../core/errors.js';
import type { TownStore } from '../core/town-store.js';
import { STATUSES } from '../core/bead.js';
import { ESCALATION_TYPE } from '../core/escalation.js';
import { escalate, routeFiled } from '../patrol/escalation.js';
import { budgetStatus, holdOf, type BudgetHold } from '../work/budget.js';
import type { TownContext } from '../work/sessions.js';
import { ingestMemory, ingestUsage, type IngestMemory, type IngestReport } from './ingest.js';

/**
 * The daemon's costs pass, once per pass: reads new usage into the store (at most every 30 s, or every tick
 * when the tick is shorter, and only the records that grew; it never asks a model anything), then weighs
 * today's usage against the budgets. A budget reached is escalated once per budget per day (recorded as a
 * `budget_reached` event of subject `budget`, so a restarted daemon does not tell it again; an escalation of
 * the day's title already filed counts as told, should the event have failed to be written); while the town's
 * or the polecats' budget is reached, dispatch holds by itself (src/work/budget.ts), and when it no longer is
 * — the day turned, a budget was raised — a `budget_released` event says so and the dispatcher is woken.
 */

export const BUDGET_SUBJECT = 'budget';
export const BUDGET_REACHED_EVENT = 'budget_reached';
export const BUDGET_RELEASED_EVENT = 'budget_released';

/** Usage is read at most this often (or every tick, when the daemon ticks faster). */
const INGEST_EVERY_MS = 30_000;

export type CostsMemory = {
  ingest: IngestMemory;
  lastIngestMs: number | null;
  /** `<day> <budget>` already escalated. */
  escalated: Set<string>;
  /** Whether dispatch was held by a budget at the last pass. */
  held: boolean;
};

export function costsMemory(): CostsMemory {
  return { ingest: ingestMemory(), lastIngestMs: null, escalated: new Set(), held: false };
}

export type CostsPassReport = {
  /** Null when it was not time to read. */
  ingest: IngestReport | null;
  /** The limits set, with today's use against them (empty without budgets). */
  verdicts: BudgetVerdict[];
  hold: BudgetHold | null;
  /** Escalations filed this pass: the budget and the escalation's id. */
  escalated: { budget: string; id: string }[];
  /** Dispatch was held at the last pass and is not now. */
  released: boolean;
  errors: string[];
};

export async function costsPass(ctx: TownContext, memory: CostsMemory): Promise<CostsPassReport> {
  const report: CostsPassReport = {
    ingest: null,
    verdicts: [],
    hold: null,
    escalated: [],
    released: false,
    errors: [],
  };
  const every = Math.min(INGEST_EVERY_MS, ctx.settings.daemon.heartbeat_seconds * 1000);
  if (memory.lastIngestMs === null || ctx.now() - memory.lastIngestMs >= every) {
    memory.lastIngestMs = ctx.now();
    try {
      report.ingest = await ingestUsage(ctx, memory.ingest);
      report.errors.push(...report.ingest.errors);
    } catch (err) {
      report.errors.push(`reading usage: ${errorMessage(err)}`);
    }
  }
  const status = await budgetStatus(ctx);
  if (status !== null) {
    report.verdicts = status.verdicts;
    report.hold = holdOf(status);
    for (const v of status.verdicts.filter((x) => x.reached)) {
      const key = `${status.day} ${v.budget}`;
      if (memory.escalated.has(key)) continue;
      try {
        const told = await toldAlready(ctx.store, status.day, v);
        if (told === 'no') {
          const id = await tellBudget(ctx, status.day, v, report.hold !== null && report.hold.reached.includes(v));
          report.escalated.push({ budget: v.budget, id });
        } else if (told !== 'yes') {
          // Filed, but the pass failed before its event was recorded: routed (if it was not) and recorded now,
          // not filed again.
          await routeFiled(ctx, told.escalation);
          await recordTold(ctx, status.day, v, told.escalation);
        }
        memory.escalated.add(key);
      } catch (err) {
        report.errors.push(`escalating the ${v.budget} budget: ${errorMessage(err)}`);
      }
    }
  }
  if (memory.held && report.hold === null) {
    report.released = true;
    await ctx.store
      .recordActivity(BUDGET_SUBJECT, BUDGET_RELEASED_EVENT, JSON.stringify({ day: status?.day ?? null }), ctx.actor)
      .catch(() => undefined);
    await ctx.provider.signalChange().catch(() => undefined);
  }
  memory.held = report.hold !== null;
  return report;
}

/** An escalation's title: one per budget and day, so that the title alone tells whether it was filed. */
function budgetTitle(day: string, v: BudgetVerdict): string {
  const whose = v.scope === 'town' ? "the town's" : `the ${v.scope} role's`;
  return `Daily budget reached: ${whose} ${v.measure === 'tokens' ? 'token' : 'money'} budget on ${day}`;
}

/**
 * Whether this budget was already escalated today (by this daemon or one before it): its event says so; else an
 * escalation of its title filed when writing the event failed (`{ escalation }`: record the event, tell no one).
 */
async function toldAlready(
  store: TownStore,
  day: string,
  v: BudgetVerdict,
): Promise<'yes' | 'no' | { escalation: string }> {
  const events = await store.events({ issueId: BUDGET_SUBJECT, eventType: BUDGET_REACHED_EVENT });
  const recorded = events.some((e) => {
    try {
      const x: unknown = JSON.parse(e.new_value ?? '');
      return isRecord(x) && x.day === day && x.budget === v.budget;
    } catch {
      return false;
    }
  });
  if (recorded) return 'yes';
  const title = budgetTitle(day, v);
  const filed = (await store.list({ types: [ESCALATION_TYPE], statuses: [...STATUSES], limit: 0 })).find(
    (b) => b.title === title,
  );
  return filed === undefined ? 'no' : { escalation: filed.id };
}

/** Escalates a budget reached (high: a person decides whether to raise it) and records that it was told. */
async function tellBudget(ctx: TownContext, day: string, v: BudgetVerdict, holds: boolean): Promise<string> {
  const e = await escalate(ctx, {
    what: budgetTitle(day, v),
    severity: 'high',
    source: ctx.actor,
    actor: ctx.actor,
    description:
      `${describeVerdict(v)}.\n` +
      (holds
        ? 'No new work goes out: slings to polecats queue, the scheduler and the convoy feeds wait; running agents ' +
          'finish their turns. Dispatch resumes by itself when the day turns, or at once when '
        : "Dispatch goes on (only the town's and the polecats' budgets hold it), and no agent is stopped. Raise ") +
      `budgets${v.scope === 'town' ? '' : `.roles.${v.scope}`}.${v.measure === 'tokens' ? 'daily_tokens' : 'daily_usd'} ` +
      `in settings.json${holds ? ' is raised' : ' if the day needs more'}. ` +
      '"gt costs --since today --by role" shows where it went.',
  });
  await recordTold(ctx, day, v, e.id);
  return e.id;
}

async function recordTold(ctx: TownContext, day: string, v: BudgetVerdict, escalation: string): Promise<void> {
  await ctx.store.recordActivity(
    BUDGET_SUBJECT,
    BUDGET_REACHED_EVENT,
    JSON.stringify({ day, budget: v.budget, used: v.used, limit: v.limit, escalation }),
    ctx.actor,
  );
}
