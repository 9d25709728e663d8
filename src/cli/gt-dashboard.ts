import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { usageByAgent } from '../costs/report.js';
import { ValidationError } from '../core/errors.js';
import { spawnDetached } from '../exec/exec.js';
import { startDashboard } from '../views/dashboard.js';
import { forwardPage } from '../views/dashboard-html.js';
import { globals } from './bd/context.js';
import { positiveInt, withTown } from './gt-agents.js';
import { printJson, type Io } from './io.js';

type Opts = Record<string, unknown>;

/** The program that opens a URL in this desktop's browser, if there is one on PATH. */
function opener(env: Io['env']): string | undefined {
  const name = process.platform === 'darwin' ? 'open' : 'xdg-open';
  for (const dir of (env.PATH ?? '').split(delimiter))
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

/**
 * A file only this user can read that sends the browser on to `url`: the opener is given the file, so that
 * the token is in no command line (another user of the machine can read those). Removed when it stops.
 */
function forwardFile(url: string): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'gt-dashboard-'));
  const path = join(dir, 'open.html');
  writeFileSync(path, forwardPage(url), { mode: 0o600 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves on the first Ctrl-C or SIGTERM. */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

/** `gt dashboard`: the town as a local web page, updated as it changes. */
export function registerDashboardCommand(program: Command, io: Io): void {
  program
    .command('dashboard')
    .description(
      'the town as a local web page, updated live: what needs you, what is in flight, the merge queue, what landed today, one agent; nudge, restart, hand off, requeue and acknowledge from it',
    )
    .option('--port <n>', 'port to listen on (default 8080; 0 picks a free one)')
    .option(
      '--bind <address>',
      'address to listen on (default 127.0.0.1; on any other the page is read-only unless --allow-remote-actions)',
    )
    .option('--rig <rig>', "only this rig's agents, merge queue and needs")
    .option('--open', 'open the page in a browser (with the token, which gives that browser the session)')
    .option('--allow-remote-actions', 'offer actions even when bound to an address other machines can reach')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const json = globals(cmd).json;
        const port = positiveInt(o.port, '--port', 8080);
        if (port > 65_535) throw new ValidationError(`--port must be at most 65535, got ${port}`);
        const bind = typeof o.bind === 'string' ? o.bind.trim() : '127.0.0.1';
        if (bind === '') throw new ValidationError('--bind needs an address', { hint: 'e.g. --bind 127.0.0.1' });
        const dashboard = await startDashboard(
          { ...ctx, progress: undefined },
          {
            port,
            bind,
            allowRemoteActions: o.allowRemoteActions === true,
            watch: typeof o.rig === 'string' ? { rig: o.rig } : {},
            // Usage as the daemon's costs pass last read it (the views read the store, never the records).
            usage: (since: string) => usageByAgent(ctx, since),
            onError: (message) => io.err(`dashboard: ${message}\n`),
          },
        );
        const stopped = untilStopped();
        if (json) printJson(io, { url: dashboard.url, pid: process.pid, read_only: dashboard.readOnly !== null });
        else
          io.out(
            `Dashboard at ${dashboard.url}${
              dashboard.readOnly === null
                ? '\n  Open this address (it carries the token that lets a browser act; keep it to yourself)'
                : ` (read-only: ${dashboard.readOnly})`
            }\n  Ctrl-C stops it\n`,
          );
        let forward: ReturnType<typeof forwardFile> | undefined;
        if (o.open === true) {
          const open = opener(io.env);
          if (open === undefined) io.err(`no browser opener (xdg-open) on PATH: open ${dashboard.url} yourself\n`);
          else {
            forward = forwardFile(dashboard.url);
            spawnDetached(open, [pathToFileURL(forward.path).href], { env: { ...io.env } });
          }
        }
        await stopped;
        forward?.remove();
        await dashboard.close();
        if (!json) io.out('Dashboard stopped\n');
      }),
    );
}
