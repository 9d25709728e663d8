import type { TownHold } from '../core/agent-store.js';
import { InternalError, NotFoundError } from '../core/errors.js';
import { refusePatrol } from '../core/guard.js';
import { TmuxSessionProvider } from '../session/tmux.js';
import { startAgentSession, type TownContext } from '../work/sessions.js';
import { daemonPid, startDaemonProcess, stopDaemonProcess, type DaemonContext } from './daemon.js';

/**
 * `gt up` and `gt down`. Down is a stored intent (the town's hold) before it is an act: it is written first,
 * in one transaction, and from then on no session can be recorded, so no sling, daemon or person can start
 * one. Then the daemon is stopped and every session of the town with it — including the starts that were
 * recorded just before the hold and whose tmux session does not exist yet: down waits for each (its starter
 * either creates the session, which down then stops, or sees the hold and stops it itself). When down
 * returns nothing of the town runs, and nothing starts until up clears the hold.
 */

export type DownResult = {
  /** The hold now in force (since when, by whom). */
  down: TownHold;
  daemon_stopped: boolean;
  stopped_agents: string[];
  stopped_other_sessions: string[];
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function townDown(ctx: DaemonContext): Promise<DownResult> {
  refusePatrol(ctx.actor, 'town-down');
  const hold = await ctx.store.setTownDown(true, ctx.actor);
  if (hold === null) throw new InternalError('the town hold was not written');
  const pid = await stopDaemonProcess(ctx.town);
  const graceMs = ctx.settings.daemon.start_grace_seconds * 1000;
  const stopped = new Set<string>();
  for (let round = 0; ; round++) {
    // Read afresh each round: a sling may have made a polecat just before the hold.
    const starting: string[] = [];
    for (const agent of await ctx.store.agents({})) {
      // The record first, then tmux: a session seen alive here belongs to a record read here or ended.
      const open = await ctx.store.openSession(agent.address).catch((err: unknown) => {
        if (err instanceof NotFoundError) return null; // removed meanwhile (a failed sling's rollback)
        throw err;
      });
      const alive = await ctx.provider.isAlive(agent.session_name);
      // Once for every agent (processes carrying a session's tag may outlive their tmux session), then for
      // the sessions that in-flight starts created.
      if (alive || round === 0) await ctx.provider.stop(agent.session_name);
      if (alive) {
        stopped.add(agent.address);
        ctx.progress?.(`stopped ${agent.session_name}`);
      }
      if (open === null) continue;
      const inFlight = !alive && ctx.now() - Date.parse(open.started_at) < graceMs;
      if (inFlight) {
        starting.push(agent.address);
        continue;
      }
      await ctx.store.endSession(open.session_id, alive ? 'killed' : 'lost', ctx.actor);
    }
    if (starting.length === 0) break;
    if (round === 0) ctx.progress?.(`waiting for the session start(s) in flight: ${starting.join(', ')}`);
    await sleep(50);
  }
  const strays = await ctx.provider.list();
  for (const name of strays) await ctx.provider.stop(name);
  // The town's tmux server has nothing left to serve: end it, socket file included.
  if (ctx.provider instanceof TmuxSessionProvider) await ctx.provider.killServer();
  return {
    down: hold,
    daemon_stopped: pid !== undefined,
    stopped_agents: [...stopped].sort(),
    stopped_other_sessions: strays,
  };
}

export type UpResult = {
  /** The hold gt up lifted (null: the town was not down). */
  was_down: TownHold | null;
  daemon: { pid: number; started: boolean };
  started_agents: string[];
};

/**
 * Lifts the hold, starts the standing agents, then the daemon (which finds them running instead of racing to
 * start them, and starts the work left on hooks).
 */
export async function townUp(ctx: TownContext, gtBin: string, env: NodeJS.ProcessEnv): Promise<UpResult> {
  const wasDown = await ctx.store.townHold();
  await ctx.store.setTownDown(false, ctx.actor);
  const standing: string[] = [];
  for (const agent of await ctx.store.agents({})) {
    if (!ctx.settings.daemon.standing_roles.includes(agent.role) || (await ctx.provider.isAlive(agent.session_name)))
      continue;
    await startAgentSession(ctx, agent.address, { topic: 'patrol', sender: 'daemon' });
    standing.push(agent.address);
  }
  const running = daemonPid(ctx.town);
  const started = running === undefined;
  const pid = running ?? (await startDaemonProcess(ctx.town, gtBin, env));
  return { was_down: wasDown, daemon: { pid, started }, started_agents: standing };
}
