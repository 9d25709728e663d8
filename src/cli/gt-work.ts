import type { Command } from 'commander';
import { UsageError, ValidationError } from '../core/errors.js';
import { DONE_STEPS, done, isDoneStatus, DONE_STATUSES } from '../work/done.js';
import { sendMail } from '../work/mail.js';
import { whoAmI } from '../work/prime.js';
import { seanceList, seanceTalk } from '../work/seance.js';
import { sling, unsling, type SlingResult } from '../work/sling.js';
import { wakeDispatcher } from '../work/capacity.js';
import { daemonPid } from '../daemon/daemon.js';
import { globals } from './bd/context.js';
import { checkFormulaOptions, repeat, slingFormulaOn } from './gt-formula.js';
import { withTown } from './gt-agents.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;

function renderSling(r: SlingResult): string {
  if (r.action === 'queued')
    return `${r.dry_run ? '· would be queued' : '⧗ queued'}: ${r.bead} (${sanitize(r.title)}) for ${r.agent}${r.position !== null ? `, position ${r.position}` : ''}: ${sanitize(r.queue_reason ?? '')}\n${r.dry_run ? '' : '  the scheduler slings it when a polecat frees up ("gt scheduler status" shows the queue)\n'}`;
  const what = r.dry_run ? 'would go to' : 'is on the hook of';
  const action =
    r.action === 'started'
      ? `; started ${r.session}`
      : r.action === 'nudged'
        ? '; nudged its running session'
        : r.town_down && !r.dry_run
          ? '; not started: the town is down, "gt up" starts it'
          : '';
  const hookOnly =
    r.action === 'none' && !r.dry_run && !r.town_down
      ? `  not started: "gt session start ${r.agent}" starts it now; a running daemon starts it after daemon.start_grace_seconds, since hooked work runs\n`
      : '';
  return `✓ ${r.bead} (${sanitize(r.title)}) ${what} ${r.agent}${r.created ? ' (new polecat)' : ''}${r.took_over_from !== null ? ` (taken from ${r.took_over_from})` : ''}${action}\n${hookOnly}`;
}

/** `gt sling`, `gt hook`, `gt unsling`, `gt done`: work onto hooks and back off them. */
export function registerWorkCommands(program: Command, io: Io): void {
  program
    .command('sling')
    .description(
      "put beads on an agent's hook and start it: a rig (an idle or new polecat per bead; queued beyond scheduler.max_polecats) or an agent address",
    )
    .argument('<bead-and-target...>', 'one or more bead ids, then the target (with --on: a formula, then the target)')
    .option('--agent <name>', 'agent CLI for the session (preset or custom agent)')
    .option('--args <text>', 'instructions for this assignment, shown to the agent by prime')
    .option('--force', 'take a bead from an agent that is still working on it')
    .option('--create', 'the target is a polecat address with no polecat yet: make it')
    .option('-n, --dry-run', 'say what would happen, change nothing')
    .option('--no-convoy', 'several beads: do not make a convoy for them')
    .option('--on <bead>', 'the first word is a formula: attach it to this bead as a molecule, then sling the bead')
    .option('--var <name=value>', 'with --on: a variable of the formula (repeat for more)', repeat, [])
    .action((words: string[], o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        checkFormulaOptions(o);
        if (words.length < 2 && typeof o.on !== 'string')
          throw new UsageError('gt sling needs at least one bead and a target', {
            hint: 'gt sling <bead>... <rig | agent address>, or gt sling <formula> --on <bead> [target]',
          });
        const { beads, target } =
          typeof o.on === 'string'
            ? await slingFormulaOn(ctx, words, o.on, o)
            : { beads: words.slice(0, -1), target: words[words.length - 1] ?? '' };
        const results = await sling(ctx, beads, target, {
          ...(typeof o.agent === 'string' ? { agent: o.agent } : {}),
          ...(typeof o.args === 'string' ? { args: o.args } : {}),
          force: o.force === true,
          create: o.create === true,
          dryRun: o.dryRun === true,
          convoy: o.convoy !== false,
        });
        if (globals(cmd).json) printJson(io, results);
        else {
          io.out(results.map(renderSling).join(''));
          const convoy = results.length > 1 ? results[0]?.convoy : null;
          if (typeof convoy === 'string') io.out(`  convoy ${convoy} tracks them ("gt convoy status ${convoy}")\n`);
          if (results.some((r) => r.action === 'queued' && !r.dry_run) && daemonPid(ctx.town) === undefined)
            io.out('  the daemon is not running: "gt daemon start" (or "gt up") dispatches the queue\n');
        }
      }),
    );

  program
    .command('hook')
    .description(
      "show what is on your hook; with a bead, put it on a hook (yours, or the target's) without starting the agent (a running daemon starts it after daemon.start_grace_seconds)",
    )
    .argument('[bead]')
    .argument('[target]', 'agent address (default: you)')
    .option('--args <text>', 'instructions for this assignment')
    .option('--force', 'take the bead from an agent that is still working on it')
    .option('--create', 'the target is a polecat address with no polecat yet: make it')
    .action((bead: string | undefined, target: string | undefined, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const json = globals(cmd).json;
        if (bead === undefined) {
          const me = await whoAmI(ctx.store, io.env, io.cwd);
          const hooked = me.hook_bead === null ? undefined : (await ctx.store.show([me.hook_bead]))[0];
          if (json) {
            printJson(io, {
              agent: me.address,
              hook:
                hooked === undefined
                  ? null
                  : {
                      id: hooked.id,
                      title: hooked.title,
                      status: hooked.status,
                      args: hooked.metadata.gt_args ?? null,
                    },
            });
          } else if (hooked === undefined) {
            io.out(`${me.address}: nothing on the hook\n`);
          } else {
            io.out(
              `${me.address}: ${hooked.id} ${sanitize(hooked.title)} [${hooked.status}]\n${typeof hooked.metadata.gt_args === 'string' ? `  args: ${sanitize(hooked.metadata.gt_args)}\n` : ''}`,
            );
          }
          return;
        }
        const to = target ?? (await whoAmI(ctx.store, io.env, io.cwd)).address;
        const [r] = await sling(ctx, [bead], to, {
          noStart: true,
          force: o.force === true,
          create: o.create === true,
          ...(typeof o.args === 'string' ? { args: o.args } : {}),
        });
        if (r === undefined) return;
        if (json) printJson(io, r);
        else io.out(renderSling(r));
      }),
    );

  program
    .command('unsling')
    .description("take the bead off a hook (yours, or the target's): it goes back to open, unassigned")
    .argument('[target]', 'agent address (default: you)')
    .option(
      '--force',
      "release another agent's work even though it still runs or its sandbox holds uncommitted or unpushed changes (the sandbox keeps them)",
    )
    .action((target: string | undefined, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const agent = target === undefined ? await whoAmI(ctx.store, io.env, io.cwd) : await ctx.store.agent(target);
        const r = await unsling(ctx, agent, { force: o.force === true });
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            r.unhooked === null ? `${r.agent} had nothing on its hook\n` : `✓ ${r.unhooked} is off ${r.agent}'s hook\n`,
          );
      }),
    );

  program
    .command('done')
    .description('a polecat hands in its work: commit what is left, push, file a merge request, clear the hook')
    .option('--status <status>', `${DONE_STATUSES.join(' | ')}`, 'COMPLETED')
    .option('-m, --message <note>', 'why it is deferred or escalated')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const status = typeof o.status === 'string' ? o.status.toUpperCase() : 'COMPLETED';
        if (!isDoneStatus(status))
          throw new UsageError(`unknown --status "${String(o.status)}"`, { hint: `use ${DONE_STATUSES.join(', ')}` });
        const crashText = io.env.GT_TEST_DONE_CRASH_AFTER;
        const crash = DONE_STEPS.find((s) => s === crashText);
        if (crashText !== undefined && crash === undefined)
          throw new ValidationError(`GT_TEST_DONE_CRASH_AFTER must be one of ${DONE_STEPS.join(', ')}`);
        const me = await whoAmI(ctx.store, io.env, io.cwd);
        const r = await done(ctx.town, ctx.store, me, {
          status,
          actor: ctx.actor,
          ...(typeof o.message === 'string' ? { note: o.message } : {}),
          ...(crash !== undefined ? { crashAfter: crash } : {}),
          progress: ctx.progress,
        });
        await wakeDispatcher(ctx); // this polecat is free: a queued sling may go now
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            `✓ ${r.bead} ${r.status === 'COMPLETED' ? `submitted: ${r.branch} at ${r.commit.slice(0, 8)}, merge request ${r.merge_request ?? ''}${r.gates_passed_on !== null ? ' (its gates passed here: recorded for the refinery)' : ''}` : r.status.toLowerCase()}; your hook is empty\n`,
          );
      }),
    );
}

/** `gt handoff`: a note for the successor, and a restart in place. */
export function registerHandoffCommand(program: Command, io: Io): void {
  program
    .command('handoff')
    .description(
      'end your session on purpose: leave a note for your successor and restart in place (a polecat defers its work instead)',
    )
    .option('-s, --subject <subject>', 'what the note is about', 'Session handoff')
    .option('-m, --message <note>', 'the note')
    .option('--no-restart', 'leave the note only')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const me = await whoAmI(ctx.store, io.env, io.cwd);
        const note = typeof o.message === 'string' ? o.message : '';
        if (me.role === 'polecat') {
          const r = await done(ctx.town, ctx.store, me, {
            status: 'DEFERRED',
            actor: ctx.actor,
            ...(note !== '' ? { note } : {}),
            progress: ctx.progress,
          });
          await wakeDispatcher(ctx); // this polecat is free: a queued sling may go now
          if (globals(cmd).json) printJson(io, { agent: me.address, deferred: r });
          else io.out(`✓ ${r.bead} deferred (a polecat hands work back rather than restarting); your hook is empty\n`);
          return;
        }
        const m = await sendMail(ctx.store, {
          from: me.address,
          to: me.address,
          subject: String(o.subject),
          body: note,
          handoff: true,
        });
        const restart = o.restart !== false;
        // This process runs inside the session being replaced: a detached gt restarts it once this one is gone.
        if (restart) ctx.spawnGt?.(['session', 'restart', me.address, '--handoff', '--after', '1000']);
        if (globals(cmd).json) printJson(io, { agent: me.address, note: m.id, restarting: restart });
        else io.out(`✓ Left ${m.id} for your successor${restart ? '; this session restarts in a moment' : ''}\n`);
      }),
    );
}

/** `gt seance`. */
export function registerSeanceCommand(program: Command, io: Io): void {
  program
    .command('seance')
    .description("an agent's previous sessions; --talk asks one of them a question (Claude Code sessions)")
    .option('--agent <address>', 'one agent only')
    .option('--talk <session>', "a session id (gt or the CLI's own) to ask")
    .option('-p, --prompt <question>', 'the question for --talk')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const json = globals(cmd).json;
        if (typeof o.talk === 'string') {
          const r = await seanceTalk(ctx, o.talk, typeof o.prompt === 'string' ? o.prompt : '');
          if (json) printJson(io, r);
          else io.out(`${r.answer}\n`);
          return;
        }
        const list = await seanceList(ctx, typeof o.agent === 'string' ? o.agent : undefined);
        if (json) printJson(io, list);
        else if (list.length === 0) io.out('No sessions recorded yet.\n');
        else
          io.out(
            list
              .map(
                (s) =>
                  `${s.session_id}  ${s.agent.padEnd(28)} ${s.runtime.padEnd(10)} ${s.started_at}  ${s.end_reason ?? 'open'}${s.runtime_session_id !== null ? `  (${s.runtime_session_id})` : ''}\n`,
              )
              .join(''),
          );
      }),
    );
}
