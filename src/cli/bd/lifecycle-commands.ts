import type { Command } from 'commander';
import { parseDateInput } from '../../core/bead-dates.js';
import { parseCommaList, parseStatus } from '../../core/bead.js';
import type { DeleteReport } from '../../core/bead-store.js';
import type { Io } from '../io.js';
import { collect, emitJson, globals, intOption, resolveActor, warn, withStore } from './context.js';
import { detailsJson, line, listLine, summaryJson } from './render.js';

type Opts = Record<string, unknown>;

function str(o: Opts, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

/** delete, defer, undefer, supersede and stale: the parts of an issue's life beyond open and closed. */
export function registerLifecycleCommands(program: Command, io: Io, wants: (name: string) => boolean): void {
  if (wants('delete')) {
    program
      .command('delete')
      .description('delete an issue with its labels, comments and every dependency edge naming it')
      .argument('<id>', 'the issue')
      .option('-f, --force', 'delete even though other issues depend on it (their edges to it go too)')
      .option('--dry-run', 'show what would be deleted, and delete nothing')
      .action(async (id: string, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const report = await store.delete(
            id,
            { force: o.force === true, dryRun: o.dryRun === true },
            await resolveActor(io, g),
          );
          if (g.json) emitJson(io, deleteJson(report));
          else io.out(deleteText(report));
        });
      });
  }

  if (wants('defer')) {
    program
      .command('defer')
      .description('defer issues: not ready work until --until, or on ice until undeferred')
      .argument('<ids...>', 'issue ids')
      .option('--until <date>', 'ready again from this date: YYYY-MM-DD, RFC 3339, +3d, tomorrow')
      .action(async (ids: string[], o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const now = Date.now();
        const raw = str(o, 'until');
        const until = raw === undefined ? null : parseDateInput(raw, now, '--until');
        if (until !== null && Date.parse(until) <= now)
          warn(io, g, `the deferral date ${until} is in the past: the issue is ready work now`);
        await withStore(io, g, async (store) => {
          const deferred = await store.defer(ids, until, await resolveActor(io, g));
          if (g.json) emitJson(io, deferred.map(detailsJson));
          else
            for (const b of deferred)
              io.out(
                `❄ Deferred ${b.id}: ${line(b.title)}${b.defer_until === null ? ' (until undeferred)' : ` (until ${b.defer_until})`}\n`,
              );
        });
      });
  }

  if (wants('undefer')) {
    program
      .command('undefer')
      .description('make deferred issues ready work again')
      .argument('<ids...>', 'issue ids')
      .action(async (ids: string[], _o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const undeferred = await store.undefer(ids, await resolveActor(io, g));
          if (g.json) emitJson(io, undeferred.map(detailsJson));
          else for (const b of undeferred) io.out(`✓ Undeferred ${b.id}: ${line(b.title)} [${b.status}]\n`);
        });
      });
  }

  if (wants('supersede')) {
    program
      .command('supersede')
      .description('close an issue as superseded by another, recording a supersedes edge')
      .argument('<id>', 'the issue that is superseded')
      .requiredOption('--with <id>', 'the issue that replaces it')
      .action(async (id: string, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const by = str(o, 'with') ?? '';
        await withStore(io, g, async (store) => {
          const b = await store.supersede(id, by, await resolveActor(io, g));
          if (g.json) emitJson(io, detailsJson(b));
          else io.out(`✓ Closed ${b.id}: ${line(b.title)} (superseded by ${by})\n`);
        });
      });
  }

  if (wants('stale')) {
    program
      .command('stale')
      .description('issues not closed and not updated for N days, oldest first')
      .option('--days <n>', 'how many days without an update', '30')
      .option('-s, --status <statuses>', 'only these statuses (comma-separated)', collect)
      .option('-n, --limit <n>', 'at most this many (0 = no limit)', '50')
      .action(async (o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const days = intOption(str(o, 'days') ?? '30', '--days');
        const limit = intOption(str(o, 'limit') ?? '50', '--limit');
        await withStore(io, g, async (store) => {
          const custom = parseCommaList(await store.getConfig('status.custom'));
          const statuses = (Array.isArray(o.status) ? (o.status as unknown[]) : [])
            .filter((s): s is string => typeof s === 'string')
            .map((s) => parseStatus(s, custom));
          const beads = await store.stale({ days, statuses: statuses.length === 0 ? undefined : statuses, limit });
          if (g.json) emitJson(io, beads.map(summaryJson));
          else if (beads.length === 0) io.out(`Nothing has gone ${days} days without an update.\n`);
          else for (const b of beads) io.out(listLine(b, ` (updated ${b.updated_at})`));
        });
      });
  }
}

function deleteJson(r: DeleteReport): Record<string, unknown> {
  return {
    status: r.deleted ? 'deleted' : 'preview',
    id: r.id,
    title: r.title,
    dependencies_removed: r.deleted ? r.dependencies.length : 0,
    dependents: r.dependents,
    dependencies: r.dependencies,
  };
}

function deleteText(r: DeleteReport): string {
  const edges = r.dependencies.map((d) => `  ${d.issue_id} → ${d.depends_on_id} (${d.type})`);
  if (r.deleted) {
    const removed = r.dependencies.length === 0 ? '' : ` and ${r.dependencies.length} dependency edge(s)`;
    return `✓ Deleted ${r.id}: ${line(r.title)}${removed}\n`;
  }
  const how = r.dependents.length > 0 ? 'bd delete --force' : 'bd delete';
  return [
    'DELETE PREVIEW (nothing deleted)',
    `  ${r.id}: ${line(r.title)}`,
    ...(edges.length > 0 ? [`dependency edges that go with it:`, ...edges] : []),
    `to delete it: ${how} ${r.id}`,
    '',
  ].join('\n');
}
