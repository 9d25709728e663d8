import type { Command } from 'commander';
import { GtError, UsageError } from '../core/errors.js';
import { refusePatrol } from '../core/guard.js';
import { workTitle } from '../core/merge-request.js';
import type { TownStore } from '../core/town-store.js';
import { queueRows, type QueueRow, type QueueStats } from '../core/merge-queue-stats.js';
import { GitCommandError } from '../git/git.js';
import { findMergeRequest, rejectRequest, retryRequest } from '../refinery/outcomes.js';
import { madeProgress, mergeRequests, runPass, type PassReport } from '../refinery/refinery.js';
import { readQueueStats } from '../refinery/stats.js';
import { watchQueue } from '../refinery/watch.js';
import type { RefineryContext } from '../refinery/outcomes.js';
import { loadRigSettings } from '../town/rig.js';
import { runOwnGates, type OwnGatesResult } from '../work/gates.js';
import { whoAmI } from '../work/prime.js';
import { sendBackAll } from '../work/send-back.js';
import { startAgentSession, statusOf, stopAgentSession, type TownContext } from '../work/sessions.js';
import { wakeDispatcher } from '../work/capacity.js';
import { globals } from './bd/context.js';
import { positiveInt, withTown } from './gt-agents.js';
import { printJson, sanitize, span, type Io } from './io.js';
import { routeFiled } from '../patrol/escalation.js';

type Opts = Record<string, unknown>;

/** The refinery session's prompt (the preset's readiness prefix): shown, bare, while the watch waits. */
const WATCH_PROMPT = 'refinery> ';

/** What a person does to the queue by hand is written as them. */
function byHand(ctx: TownContext & { store: TownStore }): RefineryContext {
  return {
    town: ctx.town,
    store: ctx.store,
    actor: ctx.actor,
    now: ctx.now,
    progress: ctx.progress,
    routeEscalation: (id) => routeFiled(ctx, id),
  };
}

function ageOf(ms: number, now: number): string {
  return span(now - ms);
}

function rows(list: readonly QueueRow[]): string {
  if (list.length === 0) return 'No merge requests.\n';
  const head = `${'POS'.padEnd(4)} ${'ID'.padEnd(20)} ${'STATE'.padEnd(9)} ${'CAUSE'.padEnd(14)} ${'AGE'.padStart(4)}  P  ${'SOURCE'.padEnd(12)} TITLE`;
  const line = (mr: QueueRow): string =>
    `${String(mr.position ?? '-').padEnd(4)} ${mr.id.padEnd(20)} ${mr.state.padEnd(9)} ${(mr.cause ?? '-').padEnd(14)} ` +
    `${span(mr.age_ms).padStart(4)}  P${mr.priority} ${(mr.source === '' ? '-' : mr.source).padEnd(12)} ` +
    `${sanitize(workTitle(mr.title))}${mr.waitingOn !== null ? `  (waits on ${mr.waitingOn})` : ''}`;
  return `${[head, ...list.map(line)].join('\n')}\n`;
}

function renderGates(r: OwnGatesResult): string {
  const lines = [`${r.agent}: the gates of ${r.rig} on ${r.commit.slice(0, 12)} (${sanitize(r.branch)})`];
  for (const g of r.gates)
    lines.push(
      `  ${g.ok ? '✓' : '✗'} ${g.name.padEnd(12)} ${(g.ms / 1000).toFixed(1)} s${g.ok ? '' : g.timed_out ? ', timed out' : `, exit ${g.exit_code ?? 'by a signal'}`}`,
    );
  if (r.failed_output !== null && r.failed_output.trim() !== '')
    lines.push(
      '  its output ends with:',
      ...sanitize(r.failed_output.trim())
        .split('\n')
        .slice(-20)
        .map((l) => `    ${l}`),
    );
  if (r.gates.length === 0) lines.push(`  ${r.not_recorded ?? 'nothing ran'}`);
  else if (r.recorded)
    lines.push(
      r.ok
        ? `✓ all passed; recorded: gt done tells the refinery that ${r.commit.slice(0, 12)} passed`
        : '  recorded as failed',
    );
  else lines.push(`! not recorded: ${r.not_recorded ?? 'unknown reason'}`);
  return `${lines.join('\n')}\n`;
}

/** What gt mq status prints (gt demo's summary shows the same). */
export function renderQueueStats(rig: string, stats: QueueStats, now: number): string {
  const ms = (v: number | null): string => (v === null ? '-' : ageOf(now - v, now));
  const n = (v: number | null, d = 1): string => (v === null ? '-' : v.toFixed(d));
  const h = stats.window_hours;
  const window = h >= 1 ? `${Number(h.toFixed(1))} h` : `${Math.max(1, Math.round(h * 3600))} s`;
  return (
    [
      `${rig}: ${stats.queued} queued, ${stats.testing} testing, ${stats.returned} returned, ${stats.escalated} escalated; oldest wait ${ms(stats.oldest_wait_ms)}`,
      `last ${window}: ${stats.landed} landed (${n(stats.merges_per_hour)}/h), queue time p50 ${ms(stats.queue_ms_p50)} p95 ${ms(stats.queue_ms_p95)}`,
      `  ${stats.batches} batch(es) of ${n(stats.batch_size_mean)} on average, ${n(stats.gate_runs_per_landed, 2)} gate runs per landed request, ${n(stats.isolation_rounds_per_red)} isolation rounds per red batch`,
      `  returns: ${
        Object.entries(stats.returns)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || 'none'
      }; flakes ${stats.flakes}`,
    ].join('\n') + '\n'
  );
}

function renderPass(r: PassReport): string {
  const lines = [
    `${r.rig}: ${r.target} at ${r.head?.slice(0, 12) ?? '?'}` +
      (r.batch.length > 0
        ? `; batch of ${r.batch.length} in ${r.rounds} round(s), ${r.gateRuns.length} gate run(s)`
        : '; nothing to test'),
    ...r.landed.map(
      (id) =>
        `  ✓ landed ${id}${r.reused.includes(id) ? ' (its own gates passed on this tree: not tested again)' : ''}`,
    ),
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

/**
 * `gt mq` (the merge queue's requests, and what a person does to them by hand), `gt gates` (a polecat's own run
 * of the merge gates) and `gt refinery run` (one pass, or a pass after each change).
 */
export function registerMqCommands(program: Command, io: Io): void {
  const mq = program.command('mq').description("a rig's merge queue: the requests gt done filed, and their state");
  mq.command('list')
    .description(
      'merge requests in queue order: position, state (queued, testing, returned, escalated), the cause of a return, source bead and age',
    )
    .argument('<rig>')
    .option('--all', 'landed, rejected and closed ones too')
    .action((rig: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        await ctx.store.rig(rig);
        const settings = loadRigSettings(ctx.town.root, rig).refinery;
        const list = queueRows(await mergeRequests(ctx.store, rig, o.all === true), {
          nowMs: ctx.now(),
          ageBoostPerHour: settings.age_boost_per_hour,
        });
        if (globals(cmd).json) printJson(io, list);
        else io.out(rows(list));
      }),
    );

  mq.command('retry')
    .description(
      'put a returned or escalated request back in the queue, ahead of its peers; the task or escalation it waited on is closed',
    )
    .argument('<merge-request>')
    .action((id: string, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const mr = await findMergeRequest(ctx.store, id);
        const r = await retryRequest(byHand(ctx), mr);
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            `✓ ${r.request.id} is back in the queue of ${r.request.rig}${r.closed !== null ? ` (${r.closed} closed)` : ''}; "gt mq list ${r.request.rig}" shows its place\n`,
          );
      }),
    );

  mq.command('reject')
    .description(
      'take a request out of the queue for good: closed as rejected, its source bead open again, its branch kept',
    )
    .argument('<merge-request>')
    .option('-r, --reason <text>', 'why (recorded on the request and its source bead)')
    .action((id: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const mr = await findMergeRequest(ctx.store, id);
        const r = await rejectRequest(byHand(ctx), mr, typeof o.reason === 'string' ? o.reason : '');
        if (globals(cmd).json) printJson(io, r);
        else if (r.already) io.out(`${r.request.id} was rejected already\n`);
        else
          io.out(
            `✓ ${r.request.id} rejected; branch ${r.request.branch} kept` +
              (r.source !== null ? `; source ${r.source.id} is ${r.source.status}` : '') +
              (r.closed.length > 0 ? `; closed ${r.closed.join(', ')}` : '') +
              '\n',
          );
      }),
    );

  mq.command('status')
    .description("the queue's numbers: length, oldest wait, merges per hour, queue time, gate runs, batches, returns")
    .argument('<rig>')
    .option('--hours <n>', 'the window the rates are counted over', '24')
    .action((rig: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        await ctx.store.rig(rig);
        const hours = positiveInt(o.hours, '--hours', 24) || 24;
        const stats = await readQueueStats(ctx.store, rig, { nowMs: ctx.now(), windowMs: hours * 3_600_000 });
        if (globals(cmd).json) printJson(io, { rig, ...stats });
        else io.out(renderQueueStats(rig, stats, ctx.now()));
      }),
    );

  program
    .command('gates')
    .description(
      "run the rig's merge gates here, on HEAD (clean sandbox only), and record the result: gt done tells the refinery, which need not run them again while the target has not moved",
    )
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const me = await whoAmI(ctx.store, io.env, io.cwd);
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
        for (const sig of signals) process.once(sig, onSignal);
        let r: OwnGatesResult;
        try {
          r = await runOwnGates(ctx.town, ctx.store, me, {
            actor: ctx.actor,
            env: ctx.env,
            signal: stop.signal,
            progress: ctx.progress,
          });
        } finally {
          for (const sig of signals) process.removeListener(sig, onSignal);
        }
        if (globals(cmd).json) printJson(io, r);
        else io.out(renderGates(r));
        const failed = r.gates.find((g) => !g.ok);
        if (failed !== undefined)
          throw new GtError(
            'validation',
            1,
            `the gate "${failed.name}" ${failed.timed_out ? 'timed out' : 'failed'} on ${r.commit.slice(0, 12)}`,
            {
              hint: 'fix it, commit, and run gt gates again (gt done without passing gates leaves the refinery to run them)',
            },
          );
      }),
    );

  const refinery = program.command('refinery').description("a rig's refinery: the merge queue's mechanical lander");
  refinery
    .command('run')
    .description("passes over the merge queue: test a batch on the rig's gates and land what passes (no model)")
    .argument('[rig]', 'the rig (default: the rig of the session, GT_RIG)')
    .option('--until-empty', 'pass again while passes make progress')
    .option('--watch', 'keep watching the queue: a pass whenever it changes (the refinery session runs this)')
    .option('--beacon <text>', "the session's first line (shown, not acted on)")
    .action((rigArg: string | undefined, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        // The refinery's own session runs this; a patrol agent that wants the queue moved restarts that session.
        refusePatrol(ctx.actor, 'refinery-run');
        const rig = rigArg ?? io.env.GT_RIG;
        if (rig === undefined || rig === '')
          throw new UsageError('which rig?', { hint: 'gt refinery run <rig> (or run it in a refinery session)' });
        await ctx.store.rig(rig);
        const json = globals(cmd).json;
        const actor = `${rig}/refinery`;
        const rctx: RefineryContext = {
          town: ctx.town,
          store: ctx.store,
          actor,
          now: ctx.now,
          progress: ctx.progress,
          // What it escalates reaches people by the town's routes, as the refinery.
          routeEscalation: (id) => routeFiled({ ...ctx, actor }, id),
          wake: () => wakeDispatcher(ctx),
        };
        if (o.watch === true) {
          // While it waits, the last line is its bare prompt: the session reads as ready and idle (a prompt with
          // text after it would read as a first prompt not yet taken). What it prints next replaces that line.
          let prompt = false;
          const say = (text: string): void => {
            if (prompt) io.out(io.stdoutIsTTY ? '\r\u001b[2K' : '\n');
            prompt = false;
            io.out(text);
          };
          const waiting = (): void => {
            io.out(WATCH_PROMPT);
            prompt = true;
          };
          if (typeof o.beacon === 'string') say(`${sanitize(o.beacon)}\n`);
          const stop = new AbortController();
          for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => stop.abort());
          say(`refinery: watching the merge queue of ${rig} (no model; a pass whenever the queue changes)\n`);
          waiting();
          await watchQueue(rctx, rig, {
            signal: stop.signal,
            onPass: async (r) => {
              if (json) {
                say('');
                printJson(io, r);
              } else say(renderPass(r));
              for (const x of await sendBackAll(ctx, rig, (m) => io.err(`refinery: ${m}\n`)))
                say(`  → ${x.task} (for ${x.request}) went to ${x.agent}\n`);
            },
            onError: (m) => io.err(`refinery: ${m} (trying again shortly)\n`),
            onIdle: (queued) => {
              say(`refinery: ${queued === 0 ? 'queue empty' : `${queued} waiting`}\n`);
              waiting();
            },
          });
          say('refinery: stopped\n');
          return;
        }
        const reports: PassReport[] = [];
        for (;;) {
          const r = await runPass(rctx, rig);
          reports.push(r);
          if (!json) io.out(renderPass(r));
          const sent = await sendBackAll(ctx, rig, (m) => io.err(`refinery: ${m}\n`));
          if (!json) for (const x of sent) io.out(`  → ${x.task} (for ${x.request}) went to ${x.agent}\n`);
          if (o.untilEmpty !== true || !madeProgress(r) || r.targetBroken !== null || r.refused !== null) break;
        }
        if (json) printJson(io, reports);
        const refused = reports.at(-1)?.refused;
        if (refused != null) {
          const said = refused.detail.split('\n').find((l) => l.trim() !== '') ?? 'no reason given';
          throw new GitCommandError(`the remote refused the push of ${rig}'s tested batch: ${said}`, {
            hint: `the requests stay queued; fix the remote (see ${refused.escalation}), then run "gt refinery run ${rig}" again`,
          });
        }
      }),
    );
  for (const [name, what] of [
    ['start', "start the rig's refinery session (it runs gt refinery run --watch)"],
    ['stop', "stop the rig's refinery session (queued requests wait; nothing is lost)"],
    ['status', "whether the rig's refinery session runs"],
  ] as const) {
    refinery
      .command(name)
      .description(what)
      .argument('<rig>')
      .action((rig: string, _o: Opts, cmd: Command) =>
        withTown(io, cmd, async (ctx) => {
          await ctx.store.rig(rig);
          const address = `${rig}/refinery`;
          const json = globals(cmd).json;
          if (name === 'start') {
            const r = await startAgentSession(ctx, address, { topic: 'patrol', sender: ctx.actor });
            if (json) printJson(io, r);
            else io.out(`✓ Started ${address} in session ${r.session} (${r.agent})\n`);
          } else if (name === 'stop') {
            const r = await stopAgentSession(ctx, address);
            if (json) printJson(io, r);
            else io.out(r.was_running ? `✓ Stopped ${address}\n` : `${address} was not running\n`);
          } else {
            const s = await statusOf(ctx, address);
            if (json) printJson(io, s);
            else
              io.out(
                `${address}: ${s.running ? 'running' : 'not running'} (session ${s.session}, agent ${s.liveness})\n`,
              );
          }
        }),
      );
  }
}
