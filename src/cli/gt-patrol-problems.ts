import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { patrolHistory, patrolReport, patrolScan, type PatrolScanReport, type PatrolHistory } from '../patrol/scan.js';
import { globals } from './bd/context.js';
import { positiveInt, withTown } from './gt-agents.js';
import { printJson, sanitize, sinceIso, type Io } from './io.js';

type Opts = Record<string, unknown>;

const ageOf = sinceIso;

function renderScan(r: PatrolScanReport, now: number): string {
  const whose = r.owner !== null ? `for ${r.owner}` : r.rig !== null ? `in ${r.rig}` : 'in the town';
  if (r.problems.length === 0) return `No open problems ${whose}.\n`;
  const lines = [`${r.problems.length} open problem(s) ${whose}:`];
  for (const p of r.problems) {
    lines.push(
      `  #${p.id} ${p.kind}  ${sanitize(p.subject)}  ${p.state}  ${ageOf(p.first_seen, now)}  → ${sanitize(p.owner)}`,
      `      ${sanitize(p.summary)}`,
    );
    const last = p.decisions.at(-1);
    if (last !== undefined)
      lines.push(
        `      last decision: ${last.action} by ${sanitize(last.actor)} ${ageOf(last.at, now)} ago: ${sanitize(last.reason)}`,
      );
    if (p.escalation !== null) lines.push(`      escalated: ${p.escalation}`);
  }
  lines.push(
    'Look closer with "gt peek <address>"; record each decision with "gt patrol report <id> --action <a> --reason …".',
  );
  return `${lines.join('\n')}\n`;
}

function renderHistory(h: PatrolHistory, now: number): string {
  if (h.decisions.length === 0 && h.stats.length === 0) return 'No patrol decisions yet.\n';
  const pct = (r: number | null): string => (r === null ? '   -' : `${Math.round(r * 100)}%`.padStart(4));
  const lines = ['Decisions by kind, and how often the problem then went away for good:'];
  lines.push('  kind                  action     count  recovered  recurred  escalated  pending  recovery');
  for (const s of h.stats)
    lines.push(
      `  ${s.kind.padEnd(21)} ${s.action.padEnd(10)} ${String(s.decisions).padStart(5)}  ${String(s.recovered).padStart(9)}  ${String(s.recurred).padStart(8)}  ${String(s.escalated).padStart(9)}  ${String(s.pending).padStart(7)}  ${pct(s.recovery_rate).padStart(8)}`,
    );
  lines.push('', 'Latest decisions:');
  for (const d of h.decisions.slice(0, 20))
    lines.push(
      `  ${ageOf(d.decided_at, now).padStart(4)} ago  #${d.problem_id} ${d.kind} ${sanitize(d.subject)}: ${d.action} by ${sanitize(d.actor)} (${d.outcome}): ${sanitize(d.reason)}`,
    );
  return `${lines.join('\n')}\n`;
}

function problemId(value: string): number {
  const n = Number(value.replace(/^#/, ''));
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`"${value}" is not a problem id`, { hint: '"gt patrol scan" lists them (e.g. 12 or #12)' });
  return n;
}

/** `gt patrol scan | report | history` on the `patrol` command. */
export function registerProblemCommands(patrol: Command, io: Io): void {
  patrol
    .command('scan')
    .description(
      "the open problems and the facts behind them: yours when a patrol agent asks, else every one (or a rig's)",
    )
    .option('--rig <rig>', "only this rig's problems")
    .option('--role <role>', 'as this patrol role sees them: witness (with --rig), deacon or boot')
    .option('--all', 'every owner, even when a patrol agent asks')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const role = o.role;
        if (role !== undefined && role !== 'witness' && role !== 'deacon' && role !== 'boot')
          throw new UsageError(`unknown role "${typeof role === 'string' ? role : '?'}"`, {
            hint: 'use --role witness, deacon or boot',
          });
        const r = await patrolScan(ctx, {
          ...(typeof o.rig === 'string' ? { rig: o.rig } : {}),
          ...(role === undefined ? {} : { role }),
          all: o.all === true,
        });
        if (globals(cmd).json) printJson(io, r);
        else io.out(renderScan(r, ctx.now()));
      }),
    );
  patrol
    .command('report <problem>')
    .description('record your decision on a problem, with its reason; the evidence it was based on is kept with it')
    .requiredOption(
      '--action <action>',
      'nudge, wait, restart, start, handoff, resling, release, escalate, resume or dismiss',
    )
    .requiredOption('--reason <text>', 'why: what you saw and what you expect')
    .option('--escalation <id>', 'the escalation you filed for it (gt escalate)')
    .action((id: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await patrolReport(ctx, problemId(id), {
          action: String(o.action),
          reason: String(o.reason),
          ...(typeof o.escalation === 'string' ? { escalation: o.escalation } : {}),
        });
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            `✓ #${r.problem.id} ${r.problem.kind} ${sanitize(r.problem.subject)}: ${r.decision.action} recorded (now ${r.problem.state})\n`,
          );
      }),
    );
  patrol
    .command('history')
    .description('patrol decisions with their evidence and outcome, and how often each kind was followed by recovery')
    .option('-n, --limit <n>', 'latest decisions to list (0: all)', '50')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const h = await patrolHistory(ctx, { limit: positiveInt(o.limit, '--limit', 50) });
        if (globals(cmd).json) printJson(io, h);
        else io.out(renderHistory(h, ctx.now()));
      }),
    );
}
