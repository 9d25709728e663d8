import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { daemonPid } from '../daemon/daemon.js';
import {
  dispatchQueued,
  schedulerStatus,
  setPaused,
  type DispatchReport,
  type SchedulerStatus,
} from '../work/scheduler.js';
import { globals } from './bd/context.js';
import { withTown } from './gt-agents.js';
import { printJson, sanitize, sinceIso, type Io } from './io.js';

type Opts = Record<string, unknown>;

const cap = (n: number | null): string => (n === null ? 'no limit' : `max ${n}`);

const ageOf = sinceIso;

function renderStatus(s: SchedulerStatus, daemon: number | undefined, now: number): string {
  const lines = [
    `Scheduler: ${s.paused === null ? 'dispatching' : `paused since ${s.paused.since} (by ${sanitize(s.paused.by)}): "gt scheduler resume" resumes it`}` +
      ` · daemon ${daemon === undefined ? 'not running: queued slings wait for it ("gt daemon start", or "gt scheduler run" once)' : `running (pid ${daemon})`}`,
    ...(s.budget === null ? [] : [`Held by a daily budget: ${s.budget.why} · gt costs`]),
    `Town: ${s.town.busy} busy polecat(s), ${cap(s.town.max_polecats)}`,
    ...s.rigs.map(
      (r) => `  ${r.rig}: ${r.busy} busy, ${cap(r.max_polecats)}${r.free === null ? '' : `, ${r.free} free`}`,
    ),
  ];
  if (s.queued.length === 0) lines.push('Queue: empty');
  else {
    lines.push(`Queue: ${s.queued.length} sling(s), in dispatch order`);
    for (const q of s.queued)
      lines.push(
        `  ${String(q.position).padStart(3)}. ${q.bead}  P${q.priority}  → ${q.target}  ${ageOf(q.queued_at, now).padStart(4)}  ${q.state === 'dispatching' ? 'dispatching' : sanitize(q.why)}` +
          (q.attempts > 0 ? `  (${q.attempts} failed: ${sanitize(q.last_error ?? '').slice(0, 80)})` : ''),
      );
  }
  return `${lines.join('\n')}\n`;
}

function renderRun(r: DispatchReport): string {
  const lines = r.outcomes.map((o) =>
    o.result === 'dispatched'
      ? `✓ ${o.bead} → ${o.agent ?? o.rig}${o.action === 'nudged' ? ' (its running session was told)' : o.action === 'started' ? ' (started)' : ''}`
      : o.result === 'dropped'
        ? `· ${o.bead} dropped: ${sanitize(o.why)}`
        : `✗ ${o.bead}: ${sanitize(o.why)}`,
  );
  if (r.outcomes.length === 0) lines.push(r.waiting.length === 0 ? 'Nothing queued.' : 'Nothing may go now.');
  if (r.waiting.length > 0) lines.push(`${r.waiting.length} still queued (gt scheduler status says why)`);
  return `${lines.join('\n')}\n`;
}

/** `gt scheduler status|pause|resume|run|cancel`: the queue of slings waiting for capacity. */
export function registerSchedulerCommands(program: Command, io: Io): void {
  const scheduler = program
    .command('scheduler')
    .description(
      'slings waiting for capacity (scheduler.max_polecats in settings.json): the queue, and pausing its dispatch',
    );
  scheduler
    .command('status')
    .description(
      'the caps, busy polecats per rig and in the town, and the queued slings in dispatch order with why each waits',
    )
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const s = await schedulerStatus(ctx);
        const daemon = daemonPid(ctx.town);
        if (globals(cmd).json) printJson(io, { ...s, daemon: { running: daemon !== undefined, pid: daemon ?? null } });
        else io.out(renderStatus(s, daemon, ctx.now()));
      }),
    );
  for (const [name, paused, what] of [
    ['pause', true, 'stop dispatching queued slings (durably; slings to rigs still queue meanwhile)'],
    ['resume', false, 'dispatch queued slings again'],
  ] as const)
    scheduler
      .command(name)
      .description(what)
      .action((_o: Opts, cmd: Command) =>
        withTown(io, cmd, async (ctx) => {
          const r = await setPaused(ctx, paused);
          const queued = (await ctx.store.pendingSlings()).length;
          if (globals(cmd).json)
            printJson(io, { paused: r !== null, since: r?.since ?? null, by: r?.by ?? null, queued });
          else
            io.out(
              paused
                ? `✓ Scheduler paused (since ${r?.since ?? '?'}); ${queued} sling(s) queued wait until "gt scheduler resume"\n`
                : `✓ Scheduler resumed; ${queued} sling(s) queued are dispatched as polecats free up\n`,
            );
        }),
      );
  scheduler
    .command('run')
    .description('dispatch what may go now, once (the daemon does this after every pass)')
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await dispatchQueued(ctx);
        if (globals(cmd).json) printJson(io, r);
        else io.out(renderRun(r));
      }),
    );
  scheduler
    .command('cancel')
    .description('take queued slings off the queue (their beads stay open)')
    .argument('<bead...>')
    .action((beads: string[], _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        if (beads.length === 0) throw new UsageError('which bead?', { hint: 'gt scheduler cancel <bead>...' });
        const out = [];
        for (const bead of beads)
          out.push({ bead, cancelled: (await ctx.store.cancelSling(bead, ctx.actor)) !== null });
        if (globals(cmd).json) printJson(io, out);
        else
          io.out(
            out.map((o) => (o.cancelled ? `✓ ${o.bead} is off the queue\n` : `${o.bead} was not queued\n`)).join(''),
          );
      }),
    );
}
