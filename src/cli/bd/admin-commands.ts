import { renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { NoDatabaseError, UsageError } from '../../core/errors.js';
import { prefixFromName } from '../../core/ids.js';
import { JSONL_FILE_NAME } from '../../store/discover.js';
import { initWorkspace } from '../../store/init.js';
import { readTextArg, type Io } from '../io.js';
import { emitJson, globals, intOption, resolveActor, withStore } from './context.js';
import { line } from './render.js';

type Opts = Record<string, unknown>;

export function registerAdminCommands(program: Command, io: Io, wants: (name: string) => boolean): void {
  if (wants('init')) {
    program
      .command('init')
      .description('create a beads workspace (.beads/) in the current directory')
      .option('--prefix <prefix>', 'id prefix, e.g. gt (default: from the directory name)')
      .option('-q, --quiet', 'print errors only')
      .action((o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const prefix = typeof o.prefix === 'string' ? o.prefix : prefixFromName(basename(resolve(io.cwd)));
        const { workspace, store } = initWorkspace(io.cwd, prefix);
        store.dispose();
        if (g.json) emitJson(io, { prefix, beads_dir: workspace.beadsDir, database: workspace.dbPath });
        else io.out(`✓ Initialized beads in ${workspace.beadsDir} (ids look like ${prefix}-a1b)\n`);
      });
  }

  if (wants('stats')) {
    program
      .command('stats')
      .alias('status')
      .description('counts of beads by status and type')
      .action(async (_o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const s = await store.stats();
          if (g.json) {
            emitJson(io, { summary: s });
            return;
          }
          io.out(
            [
              `Total:         ${s.total_issues}`,
              `Open:          ${s.open_issues}`,
              `In progress:   ${s.in_progress_issues}`,
              `Hooked:        ${s.hooked_issues}`,
              `Blocked:       ${s.blocked_issues}`,
              `Deferred:      ${s.deferred_issues}`,
              `Pinned:        ${s.pinned_issues}`,
              `Closed:        ${s.closed_issues}`,
              `Ready to work: ${s.ready_issues}`,
              '',
            ].join('\n'),
          );
        });
      });
  }

  if (wants('ping')) {
    program
      .command('ping')
      .description('check that the database answers and is healthy')
      .action(async (_o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store, ws) => {
          const h = await store.health();
          if (h.integrity !== 'ok') {
            throw new NoDatabaseError(`${ws.dbPath} failed its integrity check: ${h.integrity}`, {
              hint: 'restore it from .beads/issues.jsonl: move the database away, bd init, then bd import',
            });
          }
          if (g.json)
            emitJson(io, {
              status: 'ok',
              database: ws.dbPath,
              prefix: store.prefix,
              integrity: h.integrity,
              db_schema_version: h.schema_version,
              journal_mode: h.journal_mode,
            });
          else io.out(`✓ ok: ${ws.dbPath} (schema ${h.schema_version}, integrity ${h.integrity})\n`);
        });
      });
  }

  if (wants('export')) {
    program
      .command('export')
      .description('write the ledger as JSONL (default .beads/issues.jsonl), sorted and deterministic')
      .option('-o, --output <path>', 'where to write; - for stdout')
      .option('--include-ephemeral', 'include wisps')
      .action(async (o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store, ws) => {
          const result = await store.exportJsonl({ includeEphemeral: o.includeEphemeral === true });
          const output = typeof o.output === 'string' ? o.output : join(ws.beadsDir, JSONL_FILE_NAME);
          if (output === '-') {
            io.out(result.text);
            return;
          }
          const path = resolve(io.cwd, output);
          // Write beside the target and rename over it: a reader never sees half a ledger.
          const tmp = `${path}.tmp-${process.pid}`;
          writeFileSync(tmp, result.text);
          renameSync(tmp, path);
          if (g.json) emitJson(io, { path, count: result.count });
          else io.out(`✓ Exported ${result.count} beads to ${path}\n`);
        });
      });
  }

  if (wants('import')) {
    program
      .command('import')
      .description('upsert beads from JSONL (default .beads/issues.jsonl); never overwrites newer local changes')
      .argument('[path]', 'a JSONL file, or - for stdin')
      .action(async (pathArg: string | undefined, _o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store, ws) => {
          const path = pathArg ?? join(ws.beadsDir, JSONL_FILE_NAME);
          const text = readTextArg(io, path === '-' ? '-' : resolve(io.cwd, path));
          const progress =
            io.stderrIsTTY && !g.json
              ? (done: number, total: number) => io.err(`\rimporting ${done}/${total}`)
              : undefined;
          const report = await store.importJsonl(text, await resolveActor(io, g), progress);
          if (progress !== undefined) io.err('\n');
          if (g.json) emitJson(io, { path, ...report });
          else
            io.out(
              `✓ Imported ${path}: ${report.created} created, ${report.updated} updated, ${report.unchanged} unchanged, ` +
                `${report.kept_local} kept (local copy newer), ${report.skipped} skipped\n`,
            );
        });
      });
  }

  if (wants('config')) {
    const config = program
      .command('config')
      .description('workspace settings (issue_prefix, types.custom, status.custom, …)');
    config
      .command('get')
      .argument('<key>')
      .action(async (key: string, _o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const value = await store.getConfig(key);
          if (g.json) emitJson(io, { key, value: value ?? null });
          else io.out(value === undefined ? `${key} is not set\n` : `${line(value)}\n`);
        });
      });
    config
      .command('set')
      .argument('<key>')
      .argument('<value>')
      .action(async (key: string, value: string, _o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          await store.setConfig(key, value, await resolveActor(io, g));
          if (g.json) emitJson(io, { key, value });
          else io.out(`✓ ${key} = ${line(value)}\n`);
        });
      });
    config.command('list').action(async (_o: Opts, cmd: Command) => {
      const g = globals(cmd);
      await withStore(io, g, async (store) => {
        const all = await store.listConfig();
        if (g.json) emitJson(io, all);
        else for (const [k, v] of Object.entries(all)) io.out(`${k} = ${line(v)}\n`);
      });
    });
  }

  if (wants('events')) {
    program
      .command('events')
      .description('the audit trail: every change, who made it and when')
      .argument('[id]', 'only events of this bead')
      .option('--type <type>', 'only this event type (created, claimed, closed, …)')
      .option('--by <actor>', 'only changes by this actor')
      .option('-n, --limit <n>', 'at most this many (0 = no limit)', '0')
      .action(async (id: string | undefined, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const limit = intOption(typeof o.limit === 'string' ? o.limit : '0', '--limit');
        if (limit < 0) throw new UsageError('--limit must be 0 or more');
        await withStore(io, g, async (store) => {
          const events = await store.events({
            issueId: id,
            eventType: typeof o.type === 'string' ? o.type : undefined,
            actor: typeof o.by === 'string' ? o.by : undefined,
            limit,
          });
          if (g.json) emitJson(io, events);
          else
            for (const e of events) {
              const value = (v: string | null): string => (v === null ? '∅' : v === '' ? '""' : line(v).slice(0, 60));
              const change = e.field === null ? '' : ` ${e.field}: ${value(e.old_value)} → ${value(e.new_value)}`;
              io.out(`${e.created_at} ${e.issue_id} ${e.event_type} by ${line(e.actor)}${change}\n`);
            }
        });
      });
  }
}
