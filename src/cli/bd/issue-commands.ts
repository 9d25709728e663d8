import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseCommaList, parseIssueType, parsePriority, parseStatus, STATUSES } from '../../core/bead.js';
import {
  SORT_POLICIES,
  type BeadStore,
  type CloseFailure,
  type ListFilter,
  type ReadyFilter,
  type SortPolicy,
  type UpdateChanges,
} from '../../core/bead-store.js';
import { parseDateInput, parseEstimate } from '../../core/bead-dates.js';
import { choosePrefix, rigPrefixFor } from '../../core/bead-prefix.js';
import { GtError, isRecord, UsageError, ValidationError } from '../../core/errors.js';
import type { RigRegistry } from '../../core/rig-registry.js';
import { oneLine, readTextArg, type Io } from '../io.js';
import {
  collect,
  emitJson,
  globals,
  intOption,
  JSON_SCHEMA_VERSION,
  resolveActor,
  warn,
  withStore,
  type GlobalOptions,
} from './context.js';
import { blockedJson, detailsJson, line, listLine, showJson, showText, summaryJson, type ShowData } from './render.js';

type Opts = Record<string, unknown>;

function str(o: Opts, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

function list(o: Opts, key: string): string[] | undefined {
  const v = o[key];
  return Array.isArray(v) && v.every((x): x is string => typeof x === 'string') ? v : undefined;
}

function parseSort(value: string | undefined): SortPolicy | undefined {
  if (value === undefined) return undefined;
  const found = SORT_POLICIES.find((p) => p === value);
  if (found === undefined) throw new UsageError(`invalid sort "${value}": expected one of ${SORT_POLICIES.join(', ')}`);
  return found;
}

function parseMetadata(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ValidationError('--metadata expects a JSON object, e.g. \'{"key":"value"}\'');
  }
  if (!isRecord(parsed)) throw new ValidationError('--metadata expects a JSON object, e.g. \'{"key":"value"}\'');
  return parsed;
}

/** Description from `-d`, `--body-file <path|->` or `--stdin`; at most one of them. */
function description(io: Io, o: Opts): string | undefined {
  const sources = [str(o, 'description'), str(o, 'bodyFile'), o.stdin === true ? '-' : undefined].filter(
    (s) => s !== undefined,
  );
  if (sources.length > 1) throw new UsageError('give the description once: --description, --body-file or --stdin');
  if (str(o, 'description') !== undefined) return str(o, 'description');
  const file = str(o, 'bodyFile') ?? (o.stdin === true ? '-' : undefined);
  return file === undefined ? undefined : readTextArg(io, file);
}

async function validateStatuses(store: BeadStore, values: string[] | undefined): Promise<string[] | undefined> {
  if (values === undefined || values.length === 0) return undefined;
  if (values.includes('all')) return [...STATUSES, ...parseCommaList(await store.getConfig('status.custom'))];
  const custom = parseCommaList(await store.getConfig('status.custom'));
  return values.map((v) => parseStatus(v, custom));
}

/**
 * Type filters: built-in and configured types are checked for typos; any other type is accepted only when some
 * bead has it (imported ledgers carry types like "event" or "gate").
 */
async function validateTypes(store: BeadStore, values: string[] | undefined): Promise<string[] | undefined> {
  if (values === undefined || values.length === 0) return undefined;
  const custom = parseCommaList(await store.getConfig('types.custom'));
  const out: string[] = [];
  for (const v of values) {
    try {
      out.push(parseIssueType(v, custom));
    } catch (err) {
      const present = await store.list({
        types: [v],
        statuses: [...STATUSES, 'tombstone'],
        includeEphemeral: true,
        limit: 1,
      });
      if (present.length === 0) throw err;
      out.push(v);
    }
  }
  return out;
}

function priorities(values: string[] | undefined): number[] | undefined {
  return values === undefined ? undefined : values.map(parsePriority);
}

function addFilterOptions(cmd: Command, withStatus: boolean): Command {
  if (withStatus) cmd.option('-s, --status <statuses>', 'statuses to show, comma-separated, or "all"', collect);
  return cmd
    .option('-t, --type <types>', 'only these types (comma-separated)', collect)
    .option('-a, --assignee <who>', 'only beads assigned to this actor')
    .option('--unassigned', 'only beads nobody holds')
    .option('-l, --label <labels>', 'only beads with every one of these labels', collect)
    .option('-p, --priority <priorities>', 'only these priorities, e.g. 0,1', collect)
    .option('--parent <id>', 'only children of this bead')
    .option('-n, --limit <n>', 'at most this many (0 = no limit)')
    .option('--sort <policy>', `order: ${SORT_POLICIES.join(', ')}`);
}

/** The filter options list, search and ready share. */
async function commonFilter(store: BeadStore, o: Opts): Promise<ReadyFilter> {
  return {
    types: await validateTypes(store, list(o, 'type')),
    assignee: str(o, 'assignee'),
    unassigned: o.unassigned === true,
    labels: list(o, 'label'),
    priorities: priorities(list(o, 'priority')),
    parent: str(o, 'parent'),
    sort: parseSort(str(o, 'sort')),
    limit: str(o, 'limit') === undefined ? undefined : intOption(str(o, 'limit') ?? '', '--limit'),
  };
}

async function listFilter(store: BeadStore, o: Opts): Promise<ListFilter> {
  const statuses = await validateStatuses(store, o.all === true ? ['all'] : list(o, 'status'));
  return { ...(await commonFilter(store, o)), statuses, includeEphemeral: o.includeEphemeral === true };
}

async function showData(store: BeadStore, ids: readonly string[]): Promise<ShowData[]> {
  const details = await store.show(ids);
  const out: ShowData[] = [];
  for (const d of details) {
    out.push({
      details: d,
      dependsOn: await store.dependencies(d.id, 'down'),
      dependents: await store.dependencies(d.id, 'up'),
    });
  }
  return out;
}

/** --estimate, --due, --defer and --spec-id; on update "" clears a field. A deferral in the past warns. */
function schedulingOptions(
  io: Io,
  g: GlobalOptions,
  o: Opts,
  clearable: boolean,
): Pick<UpdateChanges, 'estimated_minutes' | 'due_at' | 'defer_until' | 'spec_id'> {
  const now = Date.now();
  const value = <T>(key: string, parse: (v: string) => T): T | null | undefined => {
    const v = str(o, key);
    if (v === undefined) return undefined;
    if (v === '' && clearable) return null;
    return parse(v);
  };
  const deferUntil = value('defer', (v) => parseDateInput(v, now, '--defer'));
  if (typeof deferUntil === 'string') warnIfPast(io, g, deferUntil, now);
  const spec = str(o, 'specId');
  return {
    estimated_minutes: value('estimate', parseEstimate),
    due_at: value('due', (v) => parseDateInput(v, now, '--due')),
    defer_until: deferUntil,
    spec_id: spec === undefined ? undefined : spec === '' ? null : spec,
  };
}

function warnIfPast(io: Io, g: GlobalOptions, until: string, now: number): void {
  if (Date.parse(until) <= now) warn(io, g, `the deferral date ${until} is in the past: the issue is ready work now`);
}

/**
 * The prefix of a new bead: `--prefix`, else (without --id or --parent) the prefix of the rig whose directory
 * the command runs in, so work filed from a polecat's sandbox is the rig's; else the store's own.
 */
async function prefixFor(io: Io, store: BeadStore & Pick<RigRegistry, 'rigs'>, o: Opts): Promise<string | undefined> {
  const explicit = str(o, 'prefix');
  if (explicit !== undefined || str(o, 'id') !== undefined || str(o, 'parent') !== undefined) return explicit;
  const rigs = await store.rigs();
  if (rigs.length === 0) return undefined;
  const real = (path: string): string => {
    try {
      return realpathSync(path);
    } catch {
      return resolve(path);
    }
  };
  const rig = rigPrefixFor(
    real(io.cwd),
    rigs.map((r) => ({ prefix: r.prefix, path: real(r.path) })),
  );
  return choosePrefix(undefined, rig, store.prefix);
}

/** One failure of a multi-id close, on stderr: a line of text, or a JSON object with --json. */
function reportFailure(io: Io, g: GlobalOptions, f: CloseFailure): void {
  if (g.json)
    io.err(`${JSON.stringify({ error: f.error, code: f.code, id: f.id, schema_version: JSON_SCHEMA_VERSION })}\n`);
  else io.err(`Error: ${oneLine(f.error)}${f.hint === undefined ? '' : ` — ${oneLine(f.hint)}`}\n`);
}

/** Nothing closed: one error naming every failure, of the first failure's kind. */
function closeFailed(failed: readonly CloseFailure[]): GtError {
  const [first] = failed;
  if (first === undefined) return new UsageError('no issue to close: bd close <id...>');
  if (failed.length === 1)
    return new GtError(first.code, 1, first.error, first.hint === undefined ? undefined : { hint: first.hint });
  return new GtError(first.code, 1, `no issue closed: ${failed.map((f) => f.error).join('; ')}`);
}

export function registerIssueCommands(program: Command, io: Io, wants: (name: string) => boolean): void {
  if (wants('create')) {
    program
      .command('create')
      .alias('new')
      .description('create a bead')
      .argument('[title]', 'the title (or use --title)')
      .option('--title <title>', 'the title')
      .option('-t, --type <type>', 'bug, feature, task, epic, chore, message, … (default task)')
      .option('-p, --priority <priority>', '0-4 or P0-P4, 0 most urgent (default 2)')
      .option('-d, --description <text>', 'the description')
      .option('--body-file <path>', 'read the description from a file, or - for stdin')
      .option('--stdin', 'read the description from standard input')
      .option('--design <text>', 'design notes')
      .option('--acceptance <text>', 'acceptance criteria')
      .option('--notes <text>', 'notes')
      .option('-a, --assignee <who>', 'assign it')
      .option('-l, --labels <labels>', 'labels, comma-separated or repeated', collect)
      .option('--parent <id>', 'make it a child of this bead (id <parent>.<n>)')
      .option('--deps <ids>', 'beads this one depends on (blocks), comma-separated', collect)
      .option('--id <id>', 'use this id instead of generating one')
      .option('--external-ref <ref>', 'a reference elsewhere, e.g. gh-42')
      .option('-s, --status <status>', 'initial status (default open)')
      .option('--ephemeral', 'a wisp: not exported, not ready work')
      .option('--metadata <json>', 'a JSON object of metadata')
      .option('-e, --estimate <minutes>', 'estimated effort in minutes (or 2h, 1d)')
      .option('--due <date>', 'due date: YYYY-MM-DD, RFC 3339, +3d, tomorrow')
      .option('--defer <date>', 'not ready work before this date')
      .option('--spec-id <ref>', 'the specification this implements')
      .option('--prefix <prefix>', "id prefix (default: the rig you are in, else the workspace's)")
      .option('--silent', 'print only the new id')
      .action(async (titleArg: string | undefined, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const title = str(o, 'title') ?? titleArg;
        if (title === undefined) throw new UsageError('a title is required: bd create "Title" or --title "Title"');
        if (str(o, 'title') !== undefined && titleArg !== undefined)
          throw new UsageError('give the title once: as an argument or with --title');
        const desc = description(io, o);
        const scheduling = schedulingOptions(io, g, o, false);
        await withStore(io, g, async (store) => {
          const created = await store.create(
            {
              ...scheduling,
              prefix: await prefixFor(io, store, o),
              title,
              description: desc,
              design: str(o, 'design'),
              acceptance_criteria: str(o, 'acceptance'),
              notes: str(o, 'notes'),
              issue_type: str(o, 'type'),
              priority: str(o, 'priority') === undefined ? undefined : parsePriority(str(o, 'priority') ?? ''),
              status: str(o, 'status'),
              assignee: str(o, 'assignee'),
              external_ref: str(o, 'externalRef'),
              labels: list(o, 'labels'),
              parent: str(o, 'parent'),
              depends_on: list(o, 'deps'),
              id: str(o, 'id'),
              ephemeral: o.ephemeral === true,
              metadata: parseMetadata(str(o, 'metadata')),
            },
            await resolveActor(io, g),
          );
          if (g.json) emitJson(io, detailsJson(created));
          else if (o.silent === true) io.out(`${created.id}\n`);
          else
            io.out(
              `✓ Created ${created.id}: ${line(created.title)}\n  Priority: P${created.priority} · Type: ${created.issue_type} · Status: ${created.status}\n`,
            );
        });
      });
  }

  if (wants('show')) {
    program
      .command('show')
      .alias('view')
      .description('show beads in full')
      .argument('<ids...>', 'bead ids')
      .action(async (ids: string[], _o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const data = await showData(store, ids);
          if (g.json) emitJson(io, data.map(showJson));
          else io.out(data.map(showText).join('\n'));
        });
      });
  }

  if (wants('list')) {
    addFilterOptions(program.command('list').description('list beads (all but closed unless --status/--all)'), true)
      .option('--all', 'include closed beads')
      .option('--include-ephemeral', 'include wisps')
      .action(async (o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const filter = await listFilter(store, o);
          const beads = await store.list(filter);
          if (g.json) emitJson(io, beads.map(summaryJson));
          else printList(io, beads, filter.limit ?? 50, 'beads');
        });
      });
  }

  if (wants('ready')) {
    addFilterOptions(
      program.command('ready').description('beads ready to work on: open, unblocked, by priority then age'),
      false,
    )
      .option('--claim', 'claim the first ready bead atomically')
      .action(async (o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const filter = await commonFilter(store, o);
          if (o.claim === true) {
            const claimed = await store.claimReady(filter, await resolveActor(io, g));
            if (g.json) emitJson(io, claimed === null ? [] : [detailsJson(claimed)]);
            else
              io.out(
                claimed === null ? 'No ready work to claim.\n' : `✓ Claimed ${claimed.id}: ${line(claimed.title)}\n`,
              );
            return;
          }
          const beads = await store.ready(filter);
          if (g.json) emitJson(io, beads.map(summaryJson));
          else if (beads.length === 0) io.out('No ready work.\n');
          else printList(io, beads, filter.limit ?? 100, 'ready beads');
        });
      });
  }

  if (wants('blocked')) {
    program
      .command('blocked')
      .description('beads that cannot be worked on yet, with what blocks them')
      .option('--parent <id>', 'only descendants of this bead')
      .option('-n, --limit <n>', 'at most this many (0 = no limit)')
      .action(async (o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const limit = str(o, 'limit') === undefined ? undefined : intOption(str(o, 'limit') ?? '', '--limit');
          const beads = await store.blocked({ parent: str(o, 'parent'), limit });
          if (g.json) emitJson(io, beads.map(blockedJson));
          else if (beads.length === 0) io.out('Nothing is blocked.\n');
          else
            for (const b of beads)
              io.out(
                listLine(
                  b,
                  b.blocked_by.length > 0 ? ` (blocked by: ${b.blocked_by.join(', ')})` : ` (status ${b.status})`,
                ),
              );
        });
      });
  }

  if (wants('update')) {
    program
      .command('update')
      .description('change beads (all ids in one transaction)')
      .argument('<ids...>', 'bead ids')
      .option('--title <title>', 'new title')
      .option('-d, --description <text>', 'new description')
      .option('--body-file <path>', 'read the description from a file, or - for stdin')
      .option('--stdin', 'read the description from standard input')
      .option('--design <text>', 'new design notes')
      .option('--acceptance <text>', 'new acceptance criteria')
      .option('--notes <text>', 'replace the notes')
      .option('--append-notes <text>', 'append a line to the notes')
      .option('-s, --status <status>', 'new status')
      .option('-p, --priority <priority>', 'new priority')
      .option('-t, --type <type>', 'new type')
      .option('-a, --assignee <who>', 'new assignee ("" to clear)')
      .option('--external-ref <ref>', 'new external reference ("" to clear)')
      .option('--add-label <labels>', 'add labels', collect)
      .option('--remove-label <labels>', 'remove labels', collect)
      .option('--parent <id>', 'move under this parent ("" to detach)')
      .option('--claim', 'claim it: in_progress and assigned to you, or fail if someone else holds it')
      .option('--metadata <json>', 'merge this JSON object into the metadata')
      .option('-e, --estimate <minutes>', 'estimated effort in minutes (or 2h, 1d; "" to clear)')
      .option('--due <date>', 'due date: YYYY-MM-DD, RFC 3339, +3d, tomorrow ("" to clear)')
      .option('--defer <date>', 'not ready work before this date ("" to clear)')
      .option('--spec-id <ref>', 'the specification this implements ("" to clear)')
      .action(async (ids: string[], o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const parent = str(o, 'parent');
        const changes: UpdateChanges = {
          ...schedulingOptions(io, g, o, true),
          title: str(o, 'title'),
          description: description(io, o),
          design: str(o, 'design'),
          acceptance_criteria: str(o, 'acceptance'),
          notes: str(o, 'notes'),
          append_notes: str(o, 'appendNotes'),
          status: str(o, 'status'),
          priority: str(o, 'priority') === undefined ? undefined : parsePriority(str(o, 'priority') ?? ''),
          issue_type: str(o, 'type'),
          assignee: str(o, 'assignee'),
          external_ref: str(o, 'externalRef'),
          add_labels: list(o, 'addLabel'),
          remove_labels: list(o, 'removeLabel'),
          parent: parent === undefined ? undefined : parent === '' ? null : parent,
          claim: o.claim === true,
          metadata: parseMetadata(str(o, 'metadata')),
        };
        if (Object.values(changes).every((v) => v === undefined || v === false)) {
          throw new UsageError('nothing to update: pass --status, --title, --claim, … (see bd update --help)');
        }
        await withStore(io, g, async (store) => {
          const updated = await store.update(ids, changes, await resolveActor(io, g));
          if (g.json) emitJson(io, updated.map(detailsJson));
          else
            for (const b of updated)
              io.out(
                `✓ Updated ${b.id}: ${line(b.title)} [${b.status}${b.assignee === null ? '' : ` @${line(b.assignee)}`}]\n`,
              );
        });
      });
  }

  if (wants('close')) {
    program
      .command('close')
      .alias('done')
      .description('close beads: each that can be; fails only when none could')
      .argument('<ids...>', 'bead ids')
      .option('-r, --reason <reason>', 'why it is closed')
      .option('-f, --force', 'close even when blocked or with open children')
      .action(async (ids: string[], o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const report = await store.closeEach(
            ids,
            { reason: str(o, 'reason'), force: o.force === true },
            await resolveActor(io, g),
          );
          const closed = report.closed;
          // As beads: close what can be closed, report the rest, and fail only when nothing closed.
          if (closed.length === 0) throw closeFailed(report.failed);
          for (const f of report.failed) reportFailure(io, g, f);
          if (g.json) emitJson(io, closed.map(detailsJson));
          else
            for (const b of closed)
              io.out(
                `✓ Closed ${b.id}: ${line(b.title)}${b.close_reason === '' ? '' : ` (${line(b.close_reason)})`}\n`,
              );
        });
      });
  }

  if (wants('reopen')) {
    program
      .command('reopen')
      .description('reopen closed beads')
      .argument('<ids...>', 'bead ids')
      .option('-r, --reason <reason>', 'why it is reopened (added as a comment)')
      .action(async (ids: string[], o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const before = new Map((await store.show(ids)).map((b) => [b.id, b.status]));
          const all = await store.reopen(ids, str(o, 'reason'), await resolveActor(io, g));
          for (const b of all.filter((r) => before.get(r.id) !== 'closed')) {
            if (g.quiet !== true) io.err(`${b.id} is already open (status ${b.status})\n`);
          }
          const reopened = all.filter((r) => before.get(r.id) === 'closed');
          if (g.json) emitJson(io, reopened.map(detailsJson));
          else for (const b of reopened) io.out(`↻ Reopened ${b.id}: ${line(b.title)}\n`);
        });
      });
  }

  if (wants('search')) {
    addFilterOptions(
      program
        .command('search')
        .description('find beads whose id, title, description, notes or external ref contain the text'),
      true,
    )
      .argument('<query>', 'text to look for (case-insensitive)')
      .option('--all', 'include closed beads')
      .action(async (query: string, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        if (query.trim() === '') throw new UsageError('search query cannot be empty', { hint: 'bd search <text>' });
        await withStore(io, g, async (store) => {
          const filter = await listFilter(store, o);
          const beads = await store.search(query, filter);
          if (g.json) emitJson(io, beads.map(summaryJson));
          else if (beads.length === 0) io.out(`No beads match "${line(query)}".\n`);
          else printList(io, beads, filter.limit ?? 50, 'matches');
        });
      });
  }
}

function printList(io: Io, beads: readonly Parameters<typeof listLine>[0][], limit: number, noun: string): void {
  for (const b of beads) io.out(listLine(b));
  if (limit > 0 && beads.length >= limit) io.err(`Showing the first ${beads.length} ${noun}; use --limit 0 for all.\n`);
}
