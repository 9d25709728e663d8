import type { Command } from 'commander';
import { parseSeverity, type Escalation, type RouteResult } from '../core/escalation.js';
import {
  acknowledgeEscalation,
  closeEscalation,
  escalate,
  listEscalations,
  raiseStale,
  showEscalation,
  type EscalationDetails,
  type StaleReport,
} from '../patrol/escalation.js';
import { globals } from './bd/context.js';
import { withTown } from './gt-agents.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** How long ago, in one short word: 45s, 12m, 5h, 3d. */
export function ageOf(iso: string, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (Number.isNaN(s)) return '?';
  return s < 120
    ? `${s}s`
    : s < 7200
      ? `${Math.round(s / 60)}m`
      : s < 172_800
        ? `${Math.round(s / 3600)}h`
        : `${Math.round(s / 86_400)}d`;
}

/** One escalation on one line: id, severity, age, title (and who acknowledged it). */
export function escalationLine(e: Escalation, nowMs: number): string {
  const acked = e.acknowledged_by === null ? '' : `  (acknowledged by ${sanitize(e.acknowledged_by)})`;
  const closed = e.status === 'closed' ? '  (closed)' : '';
  return `${e.id.padEnd(12)} ${e.severity.padEnd(8)} ${ageOf(e.created_at, nowMs).padStart(4)}  ${sanitize(e.title)}${acked}${closed}`;
}

function routeLines(results: readonly RouteResult[]): string[] {
  return results.map((r) =>
    r.ok
      ? `  ✓ ${sanitize(r.route)}${r.route === 'bead' ? '' : ` → ${sanitize(r.detail)}`}`
      : `  ✗ ${sanitize(r.route)}: ${sanitize(r.detail)}`,
  );
}

function renderShow(e: EscalationDetails, nowMs: number): string {
  const lines = [
    `${e.id}  ${e.severity}${e.severity !== e.original_severity ? ` (filed as ${e.original_severity}, raised ${e.raised_count}×)` : ''}  ${e.status}`,
    `  ${sanitize(e.title)}`,
    `  Source: ${sanitize(e.source)} · filed ${e.created_at} (${ageOf(e.created_at, nowMs)} ago) by ${sanitize(e.created_by)}`,
    ...(e.related === null ? [] : [`  Related: ${sanitize(e.related)}`]),
    e.acknowledged_at === null
      ? '  Not acknowledged'
      : `  Acknowledged ${e.acknowledged_at} by ${sanitize(e.acknowledged_by ?? '?')}`,
    ...(e.status === 'closed' ? [`  Closed ${e.closed_at ?? ''}: ${sanitize(e.close_reason ?? '')}`] : []),
    ...(e.description === ''
      ? []
      : [
          '',
          ...sanitize(e.description)
            .split('\n')
            .map((l) => `  ${l}`),
        ]),
    ...(e.routes.length === 0
      ? []
      : ['', 'Routes:', ...e.routes.map((r) => `${routeLines([r])[0] ?? ''}  (${r.severity}, ${r.at})`)]),
    ...(e.comments.length === 0
      ? []
      : [
          '',
          'Comments:',
          ...e.comments.map(
            (c) => `  ${c.created_at} ${sanitize(c.author)}: ${sanitize(c.text).replace(/\n/g, '\n    ')}`,
          ),
        ]),
  ];
  return `${lines.join('\n')}\n`;
}

function renderStale(r: StaleReport): string {
  const lines = r.raised.flatMap((x) => [
    `↑ ${x.id} ${x.from} → ${x.to} (raise ${x.raised_count}): ${sanitize(x.title)}`,
    ...routeLines(x.routes),
  ]);
  if (r.raised.length === 0) lines.push('Nothing to raise: every open escalation is acknowledged or not yet stale.');
  lines.push(r.next_due_at === null ? 'None falls due later.' : `The next falls due at ${r.next_due_at}.`);
  return `${lines.join('\n')}\n`;
}

/** `gt escalate "<what>"` and `gt escalate list|show|ack|close|stale`: asking a person to look. */
export function registerEscalateCommands(program: Command, io: Io): void {
  const esc = program
    .command('escalate')
    .description(
      'ask a person to look: files an escalation routed by its severity (escalation.routes in settings.json); ' +
        'list, show, ack and close them',
    )
    .argument('[what...]', 'what needs a person, in one line')
    .option('-s, --severity <severity>', 'critical, high, medium or low', 'medium')
    .option('--related <bead>', 'the bead it is about')
    .option('--source <source>', 'who or what raises it (default: you)')
    .option('-m, --message <details>', 'more detail: what was seen, what was tried')
    .action((what: string[], o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const e = await escalate(ctx, {
          what: what.join(' '),
          severity: parseSeverity(str(o.severity) ?? 'medium'),
          related: str(o.related) ?? null,
          ...(str(o.source) !== undefined ? { source: str(o.source) } : {}),
          ...(str(o.message) !== undefined ? { description: str(o.message) } : {}),
          actor: ctx.actor,
        });
        if (globals(cmd).json) printJson(io, e);
        else
          io.out(
            `✓ Escalated ${e.id} (${e.severity}): ${sanitize(e.title)}\n${routeLines(e.routes).join('\n')}${e.routes.length > 0 ? '\n' : ''}`,
          );
      }),
    );
  esc
    .command('list')
    .description('open escalations by severity, then age (oldest first)')
    .option('--all', 'closed ones too')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const list = await listEscalations(ctx, { all: o.all === true });
        if (globals(cmd).json) printJson(io, list);
        else if (list.length === 0) io.out(o.all === true ? 'No escalations.\n' : 'No open escalations.\n');
        else io.out(`${list.map((e) => escalationLine(e, ctx.now())).join('\n')}\n`);
      }),
    );
  esc
    .command('show')
    .description('one escalation: severity, source, what its routes did, its comments')
    .argument('<id>')
    .action((id: string, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const e = await showEscalation(ctx, id);
        if (globals(cmd).json) printJson(io, e);
        else io.out(renderShow(e, ctx.now()));
      }),
    );
  esc
    .command('ack')
    .description('acknowledge an escalation: someone is on it, so it is not raised any more')
    .argument('<id>')
    .action((id: string, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await acknowledgeEscalation(ctx, id, ctx.actor);
        if (globals(cmd).json) printJson(io, { ...r.escalation, already: r.already });
        else
          io.out(
            r.already
              ? `${id} was already acknowledged by ${sanitize(r.escalation.acknowledged_by ?? '?')}\n`
              : `✓ ${id} acknowledged: it is not raised any more; close it with "gt escalate close ${id} --reason <why>"\n`,
          );
      }),
    );
  esc
    .command('close')
    .description('close an escalation, saying why')
    .argument('<id>')
    .option('-r, --reason <why>', 'what was done about it')
    .action((id: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await closeEscalation(ctx, id, str(o.reason), ctx.actor);
        if (globals(cmd).json) printJson(io, { ...r.escalation, already: r.already });
        else
          io.out(
            r.already
              ? `${id} was already closed: ${sanitize(r.escalation.close_reason ?? '')}\n`
              : `✓ Closed ${id}: ${sanitize(r.escalation.close_reason ?? '')}\n`,
          );
      }),
    );
  esc
    .command('stale')
    .description(
      'raise what nobody acknowledged within escalation.stale_after a level and route it again (the daemon does this after every pass)',
    )
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await raiseStale(ctx);
        if (globals(cmd).json) printJson(io, r);
        else io.out(renderStale(r));
      }),
    );
}
