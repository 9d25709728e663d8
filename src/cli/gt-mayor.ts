import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { attachAgent, startAgentSession, statusOf, stopAgentSession } from '../work/sessions.js';
import { globals } from './bd/context.js';
import { positiveInt, renderSessionRow, reportStart, withStates, withTown } from './gt-agents.js';
import { printJson, type Io } from './io.js';

type Opts = Record<string, unknown>;

const MAYOR = 'mayor';

/**
 * `gt mayor`: the agent the overseer talks to, by name. The same sessions as `gt session … mayor`, with what a
 * person wants from the front door: start it if it is not running, attach to talk, see what it is doing.
 */
export function registerMayorCommands(program: Command, io: Io): void {
  const mayor = program
    .command('mayor')
    .description('the Mayor: the agent you talk to; it turns requests into beads, convoys and slings');
  mayor
    .command('start')
    .description("start the Mayor's session (nothing happens when it runs already)")
    .option('--agent <name>', 'agent CLI to run (a preset or a custom agent); remembered for the Mayor')
    .option('--no-wait', 'return once the session exists')
    .option('--timeout <seconds>', 'how long to wait for readiness')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const status = await statusOf(ctx, MAYOR);
        if (status.running && o.agent === undefined) {
          if (globals(cmd).json) printJson(io, { ...status, started: false });
          else io.out(`The Mayor runs already (session ${status.session}): "gt mayor attach" to talk to it\n`);
          return;
        }
        const r = await startAgentSession(ctx, MAYOR, {
          agent: typeof o.agent === 'string' ? o.agent : undefined,
          wait: o.wait !== false,
          readyTimeoutMs: o.timeout === undefined ? undefined : positiveInt(o.timeout, '--timeout', 0) * 1000,
        });
        reportStart(io, cmd, r);
      }),
    );
  mayor
    .command('attach')
    .description('talk to the Mayor in its session (started first if it is not running); detach with Ctrl-b d')
    .option('-r, --read-only', 'watch only: keys you press do not reach the Mayor')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        if (!io.stdinIsTTY || !io.stdoutIsTTY)
          throw new UsageError('gt mayor attach needs a terminal', {
            hint: 'read its screen with "gt peek mayor", or write to it with "gt mail send mayor -s …"',
          });
        if (!(await statusOf(ctx, MAYOR)).running) {
          io.err('Starting the Mayor…\n');
          await startAgentSession(ctx, MAYOR, {});
        }
        const r = await attachAgent(ctx, MAYOR, {
          readOnly: o.readOnly === true,
          before: (name) =>
            io.err(
              `Attaching to the Mayor (session ${name} on the town's tmux server ${ctx.town.tmuxSocket}); detach with Ctrl-b d.\n`,
            ),
        });
        if (globals(cmd).json) printJson(io, r);
      }),
    );
  mayor
    .command('stop')
    .description("end the Mayor's session (its requests and convoys stay in the store for the next one)")
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await stopAgentSession(ctx, MAYOR);
        if (globals(cmd).json) printJson(io, r);
        else io.out(r.was_running ? `✓ Stopped the Mayor (${r.session})\n` : 'The Mayor was not running\n');
      }),
    );
  mayor
    .command('status')
    .description('whether the Mayor runs, and its observed state')
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const [s] = await withStates(ctx, [await statusOf(ctx, MAYOR)]);
        if (s === undefined) return;
        if (globals(cmd).json) printJson(io, s);
        else
          io.out(
            `${renderSessionRow(s)}\n${s.running ? '  "gt mayor attach" to talk to it\n' : '  not running: "gt mayor start" (or "gt up") starts it\n'}`,
          );
      }),
    );
}
