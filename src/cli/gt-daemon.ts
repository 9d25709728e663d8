import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { daemonPaths, daemonPid, runDaemon, startDaemonProcess, stopDaemonProcess } from '../daemon/daemon.js';
import { townDown, townUp } from '../daemon/updown.js';
import { isRecord } from '../core/errors.js';
import { findTown } from '../town/town.js';
import { globals } from './bd/context.js';
import { gtBinPath, positiveInt, withTown } from './gt-agents.js';
import { printJson, type Io } from './io.js';

type Opts = Record<string, unknown>;

function logTail(file: string, n: number): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n);
}

/** A log line as the object it was written as (a line that is not JSON stays text, in an object). */
function logEntry(line: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(line);
    return isRecord(v) ? v : { text: line };
  } catch {
    return { text: line };
  }
}

/** `gt daemon run|start|stop|status`. */
export function registerDaemonCommands(program: Command, io: Io): void {
  const daemon = program
    .command('daemon')
    .description("the town's daemon: restarts what died, keeps standing agents up, reports stalls (one per town)");
  daemon
    .command('run')
    .description('run in the foreground (logs to stderr and .runtime/daemon.log)')
    .option('--tick <seconds>', 'safety-net interval (default: settings daemon.heartbeat_seconds)')
    .option('--passes <n>', 'stop after n reconcile passes')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        await runDaemon(
          { ...ctx, actor: 'daemon', progress: undefined },
          {
            tickMs: positiveInt(o.tick, '--tick', ctx.settings.daemon.heartbeat_seconds) * 1000,
            passes: positiveInt(o.passes, '--passes', 0),
            log: (e) => io.err(`${JSON.stringify(e)}\n`),
          },
        );
      }),
    );
  daemon
    .command('start')
    .description('start the daemon in the background (says so if it already runs)')
    .option('--tick <seconds>', 'safety-net interval')
    .action(async (o: Opts, cmd: Command) => {
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const json = globals(cmd).json;
      const running = daemonPid(town);
      if (running !== undefined) {
        if (json) printJson(io, { running: true, pid: running, started: false });
        else io.out(`The daemon already runs (pid ${running}).\n`);
        return;
      }
      const pid = await startDaemonProcess(
        town,
        gtBinPath(io),
        io.env,
        typeof o.tick === 'string' ? ['--tick', o.tick] : [],
      );
      if (json) printJson(io, { running: true, pid, started: true });
      else io.out(`✓ Daemon started (pid ${pid}); log: ${daemonPaths(town).log}\n`);
    });
  daemon
    .command('stop')
    .description('stop the daemon (sessions keep running)')
    .action(async (_o: Opts, cmd: Command) => {
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const pid = await stopDaemonProcess(town);
      if (globals(cmd).json) printJson(io, { stopped: pid !== undefined, pid: pid ?? null });
      else io.out(pid === undefined ? 'The daemon was not running.\n' : `✓ Daemon stopped (pid ${pid})\n`);
    });
  daemon
    .command('status')
    .description('whether the daemon runs, and its last log lines')
    .option('-n, --lines <n>', 'log lines', '10')
    .action((o: Opts, cmd: Command) => {
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const pid = daemonPid(town);
      const tail = logTail(daemonPaths(town).log, positiveInt(o.lines, '--lines', 10));
      if (globals(cmd).json) printJson(io, { running: pid !== undefined, pid: pid ?? null, log: tail.map(logEntry) });
      else
        io.out(
          `${pid === undefined ? 'The daemon is not running ("gt daemon start").' : `The daemon runs (pid ${pid}).`}\n${tail.map((l) => `  ${l}\n`).join('')}`,
        );
    });
}

/** `gt up` and `gt down`. */
export function registerUpDownCommands(program: Command, io: Io): void {
  program
    .command('up')
    .description(
      'start the town: lift gt down, then the standing agents (settings daemon.standing_roles) and the daemon, which starts the work on hooks',
    )
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await townUp(ctx, gtBinPath(io), io.env);
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            `✓ Town up: daemon ${r.daemon.started ? 'started' : 'already running'} (pid ${r.daemon.pid})${r.started_agents.length > 0 ? `; started ${r.started_agents.join(', ')}` : ''}${r.was_down !== null ? '; hooked work starts again' : ''}\n`,
          );
      }),
    );
  program
    .command('down')
    .description(
      "stop the town: no session starts until gt up; the daemon, then every session on the town's own tmux server (sandboxes and work stay)",
    )
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await townDown(ctx);
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            `✓ Town down: ${r.daemon_stopped ? 'daemon stopped, ' : ''}${r.stopped_agents.length} agent session(s)${r.stopped_other_sessions.length > 0 ? ` and ${r.stopped_other_sessions.length} other session(s)` : ''} stopped; nothing starts until "gt up"\n`,
          );
      }),
    );
}
