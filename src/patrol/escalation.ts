import { join } from 'node:path';
import { STATUSES, type BeadDetails } from '../core/bead.js';
import {
  compareEscalations,
  DEFAULT_SEVERITY,
  ESCALATION_KEYS,
  ESCALATION_LABEL,
  ESCALATION_TYPE,
  escalationOf,
  KEPT_ROUTE_RESULTS,
  parseRoute,
  raiseOf,
  routeLabel,
  routePayload,
  SEVERITY_PRIORITY,
  severityLabel,
  staleRaises,
  type Escalation,
  type EscalationRoute,
  type Raise,
  type RouteResult,
  type Severity,
} from '../core/escalation.js';
import { ConflictError, errorMessage, NotFoundError, ValidationError } from '../core/errors.js';
import type { Comment } from '../core/bead.js';
import { formatDuration, formatTimestamp } from '../core/time.js';
import { execArgv } from '../exec/exec.js';
import { withFileLock } from '../exec/lock.js';
import { OVERSEER } from '../core/identity.js';
import { sendMessage } from '../work/mail.js';
import { announceAll } from '../work/mail-notify.js';
import type { TownContext } from '../work/sessions.js';

/**
 * Escalation to people: `gt escalate` files a bead of type escalation and runs the routes the town's settings
 * give its severity (the bead itself, mail to an agent, a command given the escalation as JSON on stdin). A
 * route that fails never fails the escalation: it is recorded on the bead, as a comment and in its results.
 * `raiseStale` raises what nobody acknowledged (the decision is core/escalation.ts's staleRaises) and runs the
 * routes of the new severity; the daemon calls it after every pass.
 */

/** A command route has this long to take the escalation; then it is stopped and recorded as failed. */
export const ROUTE_TIMEOUT_MS = 10_000;

export type EscalateInput = {
  /** What needs a person, in one line: the escalation's title. */
  what: string;
  severity?: Severity;
  /** Who or what raises it (default: the actor). */
  source?: string;
  /** The bead it is about. */
  related?: string | null;
  /** More detail: what was seen, what to do. */
  description?: string;
  actor: string;
};

export type EscalationDetails = Escalation & { comments: Comment[] };

function nowIso(ctx: TownContext): string {
  return formatTimestamp(ctx.now());
}

async function escalationBead(ctx: TownContext, id: string): Promise<BeadDetails> {
  const [bead] = await ctx.store.show([id]).catch((err: unknown) => {
    if (err instanceof NotFoundError)
      throw new NotFoundError(`no escalation ${id}`, { hint: '"gt escalate list --all" shows them' });
    throw err;
  });
  if (bead === undefined || bead.issue_type !== ESCALATION_TYPE)
    throw new NotFoundError(`${id} is not an escalation (it is a ${bead?.issue_type ?? 'missing bead'})`, {
      hint: '"gt escalate list --all" shows the escalations',
    });
  return bead;
}

export async function showEscalation(ctx: TownContext, id: string): Promise<EscalationDetails> {
  const bead = await escalationBead(ctx, id);
  return { ...escalationOf(bead), comments: bead.comments };
}

/**
 * Routes an escalation another part of gt filed as a bead of its own (the refinery's, whose id must stay fixed
 * so that a pass killed midway files it once): once, like one filed by `escalate`. Already routed: nothing.
 */
export async function routeFiled(ctx: TownContext, id: string): Promise<Escalation> {
  const e = escalationOf(await escalationBead(ctx, id));
  if (e.routes.length > 0) return e;
  return (await route(ctx, e, ctx.actor, 'filed')).escalation;
}

/** Open escalations (or all, closed last), by severity then age. */
export async function listEscalations(ctx: TownContext, options: { all?: boolean } = {}): Promise<Escalation[]> {
  const beads = await ctx.store.list({
    types: [ESCALATION_TYPE],
    ...(options.all === true ? { statuses: STATUSES } : {}),
    limit: 0,
  });
  return beads
    .map(escalationOf)
    .sort((a, b) => (a.status === b.status ? compareEscalations(a, b) : a.status === 'open' ? -1 : 1));
}

export async function escalate(ctx: TownContext, input: EscalateInput): Promise<Escalation> {
  const title = input.what.trim();
  if (title === '')
    throw new ValidationError('an escalation needs a text saying what needs a person', {
      hint: 'gt escalate "<what>" [-s critical|high|medium|low] [--related <bead>]',
    });
  const severity = input.severity ?? DEFAULT_SEVERITY;
  const related = input.related?.trim() || null;
  if (related !== null)
    await ctx.store.show([related]).catch((err: unknown) => {
      if (err instanceof NotFoundError)
        throw new NotFoundError(`--related ${related}: no such bead`, {
          hint: 'name a bead that exists (bd show <id>), or leave --related out',
        });
      throw err;
    });
  const source = input.source?.trim() || input.actor;
  const bead = await ctx.store.create(
    {
      title,
      description: input.description ?? '',
      issue_type: ESCALATION_TYPE,
      priority: SEVERITY_PRIORITY[severity],
      labels: [ESCALATION_LABEL, severityLabel(severity)],
      metadata: {
        [ESCALATION_KEYS.severity]: severity,
        [ESCALATION_KEYS.original_severity]: severity,
        [ESCALATION_KEYS.source]: source,
        [ESCALATION_KEYS.related]: related,
        [ESCALATION_KEYS.raised_count]: 0,
        [ESCALATION_KEYS.raised_at]: null,
        [ESCALATION_KEYS.acknowledged_at]: null,
        [ESCALATION_KEYS.acknowledged_by]: null,
        [ESCALATION_KEYS.routes]: [],
      },
    },
    input.actor,
  );
  return (await route(ctx, escalationOf(bead), input.actor, 'filed')).escalation;
}

/** Acknowledges an open escalation: someone is on it, so it is not raised any more. Once is enough. */
export async function acknowledgeEscalation(
  ctx: TownContext,
  id: string,
  actor: string,
): Promise<{ escalation: Escalation; already: boolean }> {
  const e = escalationOf(await escalationBead(ctx, id));
  if (e.status === 'closed')
    throw new ConflictError(`${id} is closed: there is nothing to acknowledge`, {
      hint: `"gt escalate show ${id}" says how it was closed`,
    });
  if (e.acknowledged_at !== null) return { escalation: e, already: true };
  const [bead] = await ctx.store.update(
    [id],
    { metadata: { [ESCALATION_KEYS.acknowledged_at]: nowIso(ctx), [ESCALATION_KEYS.acknowledged_by]: actor } },
    actor,
  );
  await ctx.store.addComment(id, `Acknowledged by ${actor}: it is not raised any more.`, actor);
  return { escalation: bead === undefined ? e : escalationOf(bead), already: false };
}

export async function closeEscalation(
  ctx: TownContext,
  id: string,
  reason: string | undefined,
  actor: string,
): Promise<{ escalation: Escalation; already: boolean }> {
  const e = escalationOf(await escalationBead(ctx, id));
  if (e.status === 'closed') return { escalation: e, already: true };
  const why = reason?.trim() || `closed by ${actor}`;
  const [bead] = await ctx.store.close([id], { reason: why }, actor);
  return { escalation: bead === undefined ? e : escalationOf(bead), already: false };
}

export type RaisedEscalation = Raise & { title: string; routes: RouteResult[] };
export type StaleReport = { raised: RaisedEscalation[]; next_due_at: string | null };

function raiseLockPath(ctx: TownContext): string {
  return join(ctx.town.root, '.runtime', 'escalation-raise.lock');
}

/**
 * Raises every open escalation nobody acknowledged within `escalation.stale_after` a level (at most
 * `escalation.max_raises` times) and runs the routes of its new severity; when the next one falls due. Two
 * raisers at once (the daemon and a person) decide one after the other, so nothing is raised twice.
 */
export async function raiseStale(ctx: TownContext, actor: string = ctx.actor): Promise<StaleReport> {
  const settings = ctx.settings.escalation;
  const staleMs = settings.stale_after * 1000;
  // Most passes raise nothing: they decide so without taking the lock.
  const first = staleRaises(await listEscalations(ctx), ctx.now(), staleMs, settings.max_raises);
  if (first.raises.length === 0)
    return { raised: [], next_due_at: first.nextDueMs === null ? null : formatTimestamp(first.nextDueMs) };
  const decided = await withFileLock(
    raiseLockPath(ctx),
    { timeoutMs: 5_000, busy: 'another gt is raising stale escalations; try again in a moment' },
    async () => {
      const open = await listEscalations(ctx);
      const { raises, nextDueMs } = staleRaises(open, ctx.now(), staleMs, settings.max_raises);
      const at = nowIso(ctx);
      const done: { raise: Raise; escalation: Escalation }[] = [];
      for (const r of raises) {
        const before = open.find((e) => e.id === r.id);
        if (before === undefined) continue;
        const [bead] = await ctx.store.update(
          [r.id],
          {
            priority: SEVERITY_PRIORITY[r.to],
            add_labels: [severityLabel(r.to)],
            remove_labels: [severityLabel(r.from)],
            metadata: {
              [ESCALATION_KEYS.severity]: r.to,
              [ESCALATION_KEYS.original_severity]: before.original_severity,
              [ESCALATION_KEYS.raised_count]: r.raised_count,
              [ESCALATION_KEYS.raised_at]: at,
            },
          },
          actor,
        );
        await ctx.store.addComment(
          r.id,
          `Raised from ${r.from} to ${r.to}: not acknowledged within ${formatDuration(settings.stale_after)} ` +
            `(raise ${r.raised_count} of at most ${settings.max_raises}). Acknowledge it with "gt escalate ack ${r.id}".`,
          actor,
        );
        if (bead !== undefined) done.push({ raise: r, escalation: escalationOf(bead) });
      }
      return { done, nextDueMs };
    },
  );
  const raised: RaisedEscalation[] = [];
  for (const { raise, escalation } of decided.done) {
    const { results } = await route(ctx, escalation, actor, 'raised');
    raised.push({ ...raise, title: escalation.title, routes: results });
  }
  return {
    raised,
    next_due_at: decided.nextDueMs === null ? null : formatTimestamp(decided.nextDueMs),
  };
}

function routesOf(ctx: TownContext, severity: Severity): readonly EscalationRoute[] {
  return ctx.settings.escalation.routes[severity];
}

/**
 * A mail sender is one word: an actor with spaces in it is a person's name (git user.name), so the overseer
 * sends it under that name.
 */
function sender(actor: string): { from: string; fromName: string | null } {
  const a = actor.trim();
  if (a === '') return { from: 'escalation', fromName: null };
  return /[\s,]/u.test(a) ? { from: OVERSEER, fromName: a } : { from: a, fromName: null };
}

function mailText(ctx: TownContext, e: Escalation, why: 'filed' | 'raised'): { subject: string; body: string } {
  const subject =
    why === 'raised'
      ? `Escalation ${e.id} raised to ${e.severity}: ${e.title}`
      : `Escalation ${e.id} (${e.severity}): ${e.title}`;
  const stale = ctx.settings.escalation;
  const lines = [
    `${e.severity} escalation from ${e.source}: ${e.title}`,
    ...(why === 'raised'
      ? [`Raised from ${e.original_severity}: nobody acknowledged it (raise ${e.raised_count}).`]
      : []),
    ...(e.description === '' ? [] : ['', e.description, '']),
    ...(e.related === null ? [] : [`About ${e.related}.`]),
    `Acknowledge it with "gt escalate ack ${e.id}"` +
      (stale.max_raises > e.raised_count && raiseOf(e.severity) !== null
        ? ` (unacknowledged, it is raised a level after ${formatDuration(stale.stale_after)})`
        : '') +
      `; close it with "gt escalate close ${e.id} --reason <why>".`,
  ];
  return { subject, body: lines.join('\n') };
}

async function runRoute(
  ctx: TownContext,
  e: Escalation,
  r: EscalationRoute,
  actor: string,
  why: 'filed' | 'raised',
): Promise<{ ok: boolean; detail: string }> {
  const parsed = parseRoute(r);
  switch (parsed.kind) {
    case 'bead':
      return { ok: true, detail: e.id };
    case 'mail': {
      // To a group: one copy per member.
      const mail = await sendMessage(ctx.store, { ...sender(actor), to: parsed.to, ...mailText(ctx, e, why) });
      // Typed into the recipient's session at once if it sits idle; else it hears at its next turn.
      await announceAll(ctx, mail);
      return { ok: true, detail: mail.map((m) => m.id).join(',') };
    }
    case 'command': {
      const [file, ...args] = parsed.argv;
      if (file === undefined) return { ok: false, detail: 'no program named' };
      const started = Date.now();
      const result = await execArgv(file, args, {
        cwd: ctx.town.root,
        env: { ...ctx.env, GT_TOWN_ROOT: ctx.town.root },
        input: `${JSON.stringify(routePayload(e, ctx.town.name))}\n`,
        timeoutMs: ROUTE_TIMEOUT_MS,
      });
      if (result.ok) return { ok: true, detail: 'exit 0' };
      if (result.status === null && /\bENOENT\b/.test(result.stderr))
        return { ok: false, detail: `could not start ${file}: not found` };
      // Nothing on stderr: exec stands in its own "Command failed: <argv>", which says nothing more.
      const said = result.stderr.startsWith('Command failed:')
        ? ''
        : (result.stderr.trim().split('\n')[0]?.slice(0, 200) ?? '');
      if (result.status === null && Date.now() - started >= ROUTE_TIMEOUT_MS - 100)
        return { ok: false, detail: `no exit within ${ROUTE_TIMEOUT_MS / 1000} s: stopped` };
      return {
        ok: false,
        detail:
          result.status === null
            ? said || 'ended by a signal'
            : `exit ${result.status}${said === '' ? '' : `: ${said}`}`,
      };
    }
  }
}

/**
 * Runs the routes of the escalation's severity, one after the other, and records what each did on the bead (a
 * failed one also as a comment). The escalation as it is afterwards, and what the routes did.
 */
async function route(
  ctx: TownContext,
  e: Escalation,
  actor: string,
  why: 'filed' | 'raised',
): Promise<{ escalation: Escalation; results: RouteResult[] }> {
  const results: RouteResult[] = [];
  for (const r of routesOf(ctx, e.severity)) {
    const outcome = await runRoute(ctx, e, r, actor, why).catch((err: unknown) => ({
      ok: false,
      detail: errorMessage(err).split('\n')[0]?.slice(0, 200) ?? '',
    }));
    results.push({
      route: routeLabel(r),
      severity: e.severity,
      ok: outcome.ok,
      detail: outcome.detail,
      at: nowIso(ctx),
    });
  }
  if (results.length === 0) return { escalation: e, results };
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0)
    await ctx.store.addComment(
      e.id,
      failed.map((f) => `Route ${f.route} failed (${f.severity}): ${f.detail}`).join('\n'),
      actor,
    );
  const [bead] = await ctx.store.update(
    [e.id],
    { metadata: { [ESCALATION_KEYS.routes]: [...e.routes, ...results].slice(-KEPT_ROUTE_RESULTS) } },
    actor,
  );
  return { escalation: bead === undefined ? { ...e, routes: [...e.routes, ...results] } : escalationOf(bead), results };
}
