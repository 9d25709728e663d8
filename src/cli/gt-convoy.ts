import type { Command } from 'commander';
import type { ConvoyView, TrackedBead } from '../core/convoy.js';
import { UsageError } from '../core/errors.js';
import {
  addToConvoy,
  checkConvoys,
  closeConvoy,
  convoyStatus,
  createConvoy,
  listConvoys,
  strandedWork,
  type CheckReport,
  type StrandedWork,
} from '../work/convoy.js';
import { globals } from './bd/context.js';
import { withTown } from './gt-agents.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;

const MARK: Record<TrackedBead['state'], string> = {
  merged: '✓',
  closed: '✓',
  working: '▶',
  queued: '⧗',
  ready: '○',
  blocked: '✗',
};

function summary(v: ConvoyView): string {
  const p = v.progress;
  const rest = (['working', 'queued', 'ready', 'blocked'] as const).filter((k) => p[k] > 0).map((k) => `${p[k]} ${k}`);
  return `${p.closed}/${p.total} closed (${p.merged} merged)${rest.length > 0 ? `, ${rest.join(', ')}` : ''}`;
}

function beadLine(b: TrackedBead): string {
  const what =
    b.state === 'merged'
      ? `merged as ${b.merge_request ?? '?'}${b.merged_in !== null ? ` in ${b.merged_in.slice(0, 12)}` : ''}`
      : b.state === 'working'
        ? `working: ${sanitize(b.assignee ?? 'someone')}${b.merge_request !== null ? ` (in the merge queue as ${b.merge_request})` : ''}`
        : b.state === 'blocked'
          ? `blocked${b.blocked_by.length > 0 ? ` by ${b.blocked_by.join(', ')}` : ` (${b.status})`}`
          : b.state === 'queued'
            ? 'queued for a polecat ("gt scheduler status" says why)'
            : b.state === 'ready'
              ? `ready${b.assignee !== null ? ` (claimed by ${sanitize(b.assignee)})` : ', nobody has it'}`
              : 'closed without a merge';
  return `  ${MARK[b.state]} ${b.id}  ${sanitize(b.title)}${b.rig !== null ? `  [${b.rig}]` : ''}  ${what}\n`;
}

function renderConvoy(v: ConvoyView): string {
  const head = `Convoy ${v.id}: ${sanitize(v.name)} [${v.status}${v.landed_at !== null ? ` ${v.landed_at}` : ''}] · owner ${sanitize(v.owner)} · ${summary(v)}\n`;
  return (
    head +
    (v.beads.length === 0 ? '  tracks nothing yet ("gt convoy add" adds beads)\n' : v.beads.map(beadLine).join(''))
  );
}

function renderList(views: readonly ConvoyView[]): string {
  if (views.length === 0) return 'No convoys.\n';
  return views
    .map((v) => `${v.id}  ${v.status.padEnd(6)}  ${summary(v)}  ${sanitize(v.name)}  (owner ${sanitize(v.owner)})\n`)
    .join('');
}

function renderCheck(r: CheckReport): string {
  const lines = r.landed.map(
    (l) =>
      `✓ Convoy landed: ${sanitize(l.convoy.name)} (${l.convoy.id}); told ${l.told.map((t) => `${sanitize(t.to)}${t.mail === null ? ' (not delivered)' : ''}`).join(', ')}`,
  );
  for (const o of r.open) lines.push(`· ${o.id} (${sanitize(o.name)}) open: ${o.why}`);
  if (r.checked === 0) lines.push('No open convoys.');
  return `${lines.join('\n')}\n`;
}

function renderStranded(s: readonly StrandedWork[]): string {
  if (s.length === 0) return 'No stranded work: every ready bead of an open convoy is held or queued.\n';
  return (
    s
      .map(
        (w) =>
          `○ ${w.bead}  ${sanitize(w.title)}  (convoy ${w.convoy}: ${sanitize(w.name)})  ${w.rig !== null ? `gt sling ${w.bead} ${w.rig}` : 'no rig: gt sling it to one'}\n`,
      )
      .join('') + `${s.length} ready bead(s) nobody has\n`
  );
}

/** `gt convoy create|add|status|list|check|stranded|close`: bundles of beads tracked until they land. */
export function registerConvoyCommands(program: Command, io: Io): void {
  const convoy = program
    .command('convoy')
    .description(
      'convoys: beads of any rig tracked together; one lands when all are closed, and its owner is told by mail',
    );
  convoy
    .command('create')
    .description('make a convoy tracking beads (prints it with its id)')
    .argument('<name>')
    .argument('[beads...]')
    .option('--owner <address>', 'who is told when it lands (default: you)')
    .option('--request <mail-id>', 'the mail that asked for this work')
    .option('--from-epic <epic>', "track the epic's open leaf beads (breadth first)")
    .option('--feed', 'the daemon slings its ready beads as capacity frees up (to the rig their ids name)')
    .action((name: string, beads: string[], o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const v = await createConvoy(ctx, {
          name,
          beads,
          ...(typeof o.owner === 'string' ? { owner: o.owner } : {}),
          ...(typeof o.request === 'string' ? { request: o.request } : {}),
          ...(typeof o.fromEpic === 'string' ? { fromEpic: o.fromEpic } : {}),
          feed: o.feed === true,
        });
        if (globals(cmd).json) printJson(io, v);
        else io.out(`✓ Created convoy ${v.id}\n${renderConvoy(v)}`);
      }),
    );
  convoy
    .command('add')
    .description('track more beads (a landed convoy opens again, and its next landing is told again)')
    .argument('<id>')
    .argument('<beads...>')
    .action((id: string, beads: string[], _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const v = await addToConvoy(ctx, id, beads);
        if (globals(cmd).json) printJson(io, v);
        else io.out(renderConvoy(v));
      }),
    );
  convoy
    .command('status')
    .description("a convoy's status and progress, and each bead's state: who has it, merged or not")
    .argument('<id>')
    .action((id: string, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const v = await convoyStatus(ctx, id);
        if (globals(cmd).json) printJson(io, v);
        else io.out(renderConvoy(v));
      }),
    );
  convoy
    .command('list')
    .description('open convoys with their progress (--all: landed and closed ones too)')
    .option('--all', 'every convoy')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const views = await listConvoys(ctx, { all: o.all === true });
        if (globals(cmd).json) printJson(io, views);
        else io.out(renderList(views));
      }),
    );
  convoy
    .command('check')
    .description(
      'land the open convoys (or one) whose beads are all closed, telling their owners (the daemon does this every pass)',
    )
    .argument('[id]')
    .action((id: string | undefined, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await checkConvoys(ctx, id);
        if (globals(cmd).json) printJson(io, r);
        else io.out(renderCheck(r));
      }),
    );
  convoy
    .command('stranded')
    .description('ready beads of open convoys that nobody has and nothing has queued')
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const s = await strandedWork(ctx);
        if (globals(cmd).json) printJson(io, s);
        else io.out(renderStranded(s));
      }),
    );
  convoy
    .command('close')
    .description('close a convoy: one whose beads are all closed lands; --force closes one that has not')
    .argument('<id>')
    .option('--force', 'close it although beads are still open (no landing, nobody told)')
    .action((id: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        if (id.trim() === '') throw new UsageError('which convoy?', { hint: 'gt convoy close <id>' });
        const r = await closeConvoy(ctx, id, { force: o.force === true });
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            `${r.landed ? `✓ Convoy landed: ${sanitize(r.convoy.name)} (${r.convoy.id})` : `✓ Closed ${r.convoy.id} without a landing`}\n`,
          );
      }),
    );
}
