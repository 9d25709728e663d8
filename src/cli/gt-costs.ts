import type { Command } from 'commander';
import { COST_GROUPINGS, isCostGrouping, type CostGrouping, type CostTotals } from '../core/costs.js';
import { UsageError } from '../core/errors.js';
import { ingestUsage, type IngestReport } from '../costs/ingest.js';
import { costReport, sinceOf, type CostReport } from '../costs/report.js';
import { daemonPid } from '../daemon/daemon.js';
import { globals } from './bd/context.js';
import { withTown } from './gt-agents.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;

const NONE: Readonly<Record<CostGrouping, string>> = {
  agent: '(no agent)',
  bead: '(no bead)',
  convoy: '(no convoy)',
  rig: '(town)',
  role: '(unknown)',
};

/** Money as people read it; a total with unpriced models in it says so, and one with none priced is "unpriced". */
function money(t: CostTotals): string {
  if (t.usd === null) return 'unpriced';
  const usd = t.usd < 0.01 && t.usd > 0 ? `$${t.usd.toFixed(4)}` : `$${t.usd.toFixed(2)}`;
  return t.unpriced_models.length > 0 ? `${usd} + unpriced` : usd;
}

function renderReport(r: CostReport, sinceText: string): string {
  const header = [r.by.toUpperCase(), 'INPUT', 'OUTPUT', 'CACHE READ', 'CACHE WRITE', 'MSGS', 'USD'];
  const line = (label: string, t: CostTotals): string[] => [
    label,
    String(t.input_tokens),
    String(t.output_tokens),
    String(t.cache_read_tokens),
    String(t.cache_write_tokens),
    String(t.messages),
    money(t),
  ];
  const rows = r.rows.map((row) => line(row.key === null ? NONE[r.by] : sanitize(row.key), row));
  const table = [header, ...rows, line('TOTAL', r.total)];
  const widths = header.map((_h, i) => Math.max(...table.map((cells) => (cells[i] ?? '').length)));
  const format = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const out = [`Usage since ${r.since} (${sanitize(sinceText)}), by ${r.by}`];
  if (r.rows.length === 0) out.push('No usage recorded since then.');
  else out.push(...table.map(format));
  const unpriced = r.total.unpriced_models;
  if (unpriced.length > 0)
    out.push(
      `Unpriced: ${unpriced.map(sanitize).join(', ')} (their tokens are counted; give them prices in settings.json costs.prices)`,
    );
  return `${out.join('\n')}\n`;
}

/** `gt costs`: token usage read from the agent CLIs' own records, and what it costs. */
export function registerCostsCommand(program: Command, io: Io): void {
  program
    .command('costs')
    .description(
      "token usage (input, output, cache reads and writes) and its cost, read from the agent CLIs' own records",
    )
    .option('--since <when>', 'a duration back from now (30m, 24h, 7d), "today", a date or a time', '24h')
    .option('--by <grouping>', `group by ${COST_GROUPINGS.join(', ')}`, 'agent')
    .option('--agent <address>', "only this agent's usage")
    .option('--read', "read new records first even while the town's daemon runs (it reads them every 30 s)")
    .option('--no-read', 'report what the store holds, without reading new records first')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const by = typeof o.by === 'string' ? o.by : 'agent';
        if (!isCostGrouping(by))
          throw new UsageError(`--by ${by}: not a grouping`, { hint: `use one of ${COST_GROUPINGS.join(', ')}` });
        const sinceText = typeof o.since === 'string' ? o.since : '24h';
        const since = sinceOf(sinceText, ctx.now());
        // The daemon's costs pass keeps the store fresh: read here only without one (or when asked to).
        const reader =
          o.read === true ? 'this' : o.read === false ? 'none' : daemonPid(ctx.town) !== undefined ? 'daemon' : 'this';
        const read: IngestReport | null = reader === 'this' ? await ingestUsage(ctx) : null;
        const report = await costReport(ctx, {
          since,
          by,
          ...(typeof o.agent === 'string' ? { agent: o.agent } : {}),
        });
        if (globals(cmd).json) {
          const row = (key: string | null, t: CostTotals) => ({
            [by]: key,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cache_read_tokens: t.cache_read_tokens,
            cache_write_tokens: t.cache_write_tokens,
            usd: t.usd,
            unpriced_models: t.unpriced_models,
            messages: t.messages,
          });
          printJson(io, {
            since,
            by,
            rows: report.rows.map((r) => row(r.key, r)),
            total: row(null, report.total),
            read,
            read_by: reader === 'none' ? null : reader === 'daemon' ? 'daemon' : 'gt costs',
          });
          return;
        }
        for (const e of read?.errors ?? []) io.err(`gt costs: ${sanitize(e)}\n`);
        io.out(renderReport(report, sinceText));
      }),
    );
}
