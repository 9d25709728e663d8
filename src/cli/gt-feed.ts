import type { Command } from 'commander';
import { usageByAgent } from '../costs/report.js';
import { UsageError } from '../core/errors.js';
import { printEvents, printProblems, runFeed, sinceArg } from '../views/feed.js';
import { crashHandler, processScreen, useColor } from '../views/feed-term.js';
import { globals } from './bd/context.js';
import { positiveInt, withTown } from './gt-agents.js';
import type { Io } from './io.js';

type Opts = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Ends on SIGINT, SIGTERM or SIGHUP (a follow, the full-screen feed): the caller cleans up, then returns. */
function stopOnSignals(): { signal: AbortSignal; release: () => void; stop: () => void } {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, stop);
  return { signal: ac.signal, stop, release: () => signals.forEach((s) => process.off(s, stop)) };
}

/** Standard output for a follow: `closed` is called once nobody reads it any more (EPIPE). */
function pipeWriter(closed: () => void): (text: string) => void {
  const stdout = process.stdout;
  stdout.once('error', closed);
  return (text) => {
    if (!stdout.destroyed) stdout.write(text);
  };
}

export function registerFeedCommand(program: Command, io: Io): void {
  program
    .command('feed')
    .description(
      'the town live: what needs you, the agents, the merge queue, convoys and the events, full-screen with keys to act',
    )
    .option('--plain', 'the event stream as lines (<time> <actor> <text>), for logs and scripts')
    .option('--since <when>', 'with --plain: events since a duration back (10m, 1h, 2d) or a time (RFC 3339)')
    .option('-n, --last <n>', 'with --plain and no --since: how many of the newest events (0: only new ones)', '20')
    .option('--follow', 'with --plain or --problems: keep printing as the town changes (until interrupted)')
    .option('--problems', 'just what needs a person (problems, escalations, agents needing someone, your mail)')
    .option('--rig <rig>', "only this rig's agents, queue, needs and events (the town's own needs stay)")
    .addHelpText(
      'after',
      `
Full-screen keys: up/down or j/k select a need or an agent, Enter or a attach (Ctrl-b d comes back), p peek,
n nudge (type the text, Enter sends), h hand off, r restart, u requeue, A acknowledge an escalation, f or /
next rig, ? help, q quit. The full-screen view needs a terminal on standard input and output; anywhere else
(a pipe, a file, a log) "gt feed" prints the stream as --plain does. Colour follows NO_COLOR.
--json (with --plain or --problems --follow): one JSON object a line; --problems --json alone: one object.`,
    )
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const json = globals(cmd).json === true;
        const rig = str(o.rig);
        const follow = o.follow === true;
        const problems = o.problems === true;
        const since = str(o.since);
        const interactive = !problems && o.plain !== true && !json && io.stdoutIsTTY && io.stdinIsTTY;
        if (since !== undefined && (problems || interactive))
          throw new UsageError('--since is for the event stream', { hint: 'use it with --plain' });
        const { signal, release, stop } = stopOnSignals();
        // Usage as the daemon's costs pass last read it (the feed reads the store, never the records).
        const usage = (since: string) => usageByAgent(ctx, since);
        // Following into a pipe whose reader has gone (| head): stop, rather than print to nobody for ever.
        const out = follow && !io.stdoutIsTTY ? pipeWriter(stop) : (t: string) => io.out(t);
        try {
          if (problems) {
            await printProblems(ctx, { rig, follow, json, out, err: (t) => io.err(t), signal, usage });
            return;
          }
          if (!interactive) {
            await printEvents(ctx, {
              since: since === undefined ? undefined : sinceArg(since, ctx.now()),
              last: positiveInt(o.last, '--last', 20),
              follow,
              rig,
              json,
              out,
              signal,
            });
            return;
          }
          if (follow)
            throw new UsageError('--follow is for --plain or --problems', {
              hint: 'the full-screen feed follows by itself',
            });
          const screen = processScreen();
          // Whatever ends the process, the terminal is given back first: at exit, and on a crash before the
          // error is printed (else it would be written on the feed's screen and lost with it).
          const restore = (): void => screen.leave();
          const crash = crashHandler(
            screen,
            (t) => io.err(t),
            // After a crash nothing may go on (the process state is unknown): there is no boundary to return to.
            // eslint-disable-next-line no-restricted-syntax
            (code) => process.exit(code),
          );
          process.on('exit', restore);
          process.on('uncaughtException', crash);
          process.on('unhandledRejection', crash);
          try {
            await runFeed(ctx, screen, { rig, color: useColor(io.env), actor: ctx.actor, signal, usage });
          } finally {
            process.off('exit', restore);
            process.off('uncaughtException', crash);
            process.off('unhandledRejection', crash);
          }
        } finally {
          release();
        }
      }),
    );
}
