import type { Command } from 'commander';
import type { MergeRequest } from '../core/merge-request.js';
import { GitCommandError } from '../git/git.js';
import { mergeRequests, runPass, type PassReport } from '../refinery/refinery.js';
import { globals } from './bd/context.js';
import { withTown } from './gt-agents.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;

function ageOf(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function rows(list: readonly MergeRequest[], now: number): string {
  if (list.length === 0) return 'No merge requests.\n';
  return list
    .map(
      (mr) =>
        `${mr.id}  ${mr.state.padEnd(9)} P${mr.priority}  ${ageOf(mr.enqueuedMs, now).padStart(4)}  ${mr.branch}  ${sanitize(mr.title)}` +
        `${mr.cause !== null && mr.state !== 'queued' ? `  (${mr.cause}${mr.waitingOn !== null ? `, waits on ${mr.waitingOn}` : ''})` : ''}\n`,
    )
    .join('');
}

function renderPass(r: PassReport): string {
  const lines = [
    `${r.rig}: ${r.target} at ${r.head?.slice(0, 12) ?? '?'}` +
      (r.batch.length > 0
        ? `; batch of ${r.batch.length} in ${r.rounds} round(s), ${r.gateRuns.length} gate run(s)`
        : '; nothing to test'),
    ...r.landed.map((id) => `  ✓ landed ${id}`),
    ...r.returned.map((x) => `  ↩ returned ${x.id} (${x.cause}): waits on ${x.task}`),
    ...r.escalated.map((id) => `  ! escalated ${id}`),
    ...(r.requeued.length > 0 ? [`  · back in the queue: ${r.requeued.join(', ')}`] : []),
    ...(r.flaky ? ['  ~ a gate failed once and passed when run again (a flake)'] : []),
    ...(r.targetBroken !== null
      ? [`  ✗ ${r.target} itself fails "${r.targetBroken}": the queue holds (a bug bead says so)`]
      : []),
    ...(r.moved ? [`  · ${r.target} moved while the batch was tested: nothing landed; the next pass tests again`] : []),
    ...(r.refused !== null
      ? [`  ✗ the remote refused the push of ${r.target}: nothing landed; recorded as ${r.refused.escalation}`]
      : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** `gt mq` (the merge queue's requests) and `gt refinery run` (one pass, or a pass after each change). */
export function registerMqCommands(program: Command, io: Io): void {
  const mq = program.command('mq').description("a rig's merge queue: the requests gt done filed, and their state");
  mq.command('list')
    .description('merge requests with their state (queued, testing, landed, returned, escalated), priority and age')
    .argument('<rig>')
    .option('--all', 'landed and escalated ones too')
    .action((rig: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        await ctx.store.rig(rig);
        const list = (await mergeRequests(ctx.store, rig, o.all === true)).sort(
          (a, b) => a.priority - b.priority || a.enqueuedMs - b.enqueuedMs,
        );
        if (globals(cmd).json) printJson(io, list);
        else io.out(rows(list, ctx.now()));
      }),
    );

  const refinery = program.command('refinery').description("a rig's refinery: the merge queue's mechanical lander");
  refinery
    .command('run')
    .description("one pass over the merge queue: test a batch on the rig's gates and land what passes (no model)")
    .argument('<rig>')
    .option('--until-empty', 'pass again while requests are still queued')
    .action((rig: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const reports: PassReport[] = [];
        const rctx = {
          town: ctx.town,
          store: ctx.store,
          actor: `${rig}/refinery`,
          now: ctx.now,
          progress: ctx.progress,
        };
        for (;;) {
          const r = await runPass(rctx, rig);
          reports.push(r);
          if (!globals(cmd).json) io.out(renderPass(r));
          const progressed = r.landed.length + r.returned.length + r.escalated.length > 0 || r.moved;
          if (o.untilEmpty !== true || !progressed || r.targetBroken !== null || r.refused !== null) break;
        }
        if (globals(cmd).json) printJson(io, reports);
        const refused = reports.at(-1)?.refused;
        if (refused != null) {
          const said = refused.detail.split('\n').find((l) => l.trim() !== '') ?? 'no reason given';
          throw new GitCommandError(`the remote refused the push of ${rig}'s tested batch: ${said}`, {
            hint: `the requests stay queued; fix the remote (see ${refused.escalation}), then run "gt refinery run ${rig}" again`,
          });
        }
      }),
    );
}
