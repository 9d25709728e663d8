import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConflictError, errorMessage, InternalError, isRecord } from '../core/errors.js';
import { processAlive, spawnDetached } from '../exec/exec.js';
import {
  reconcile,
  type Action,
  type ReconcileAgent,
  type ReconcileConfig,
  type ReconcileWork,
} from '../core/reconcile.js';
import { observeAgents, type AgentView } from '../observe/snapshot.js';
import type { TownStore } from '../core/town-store.js';
import type { Town } from '../town/town.js';
import { sendMail } from '../work/mail.js';
import { startAgentSession, stopAgentSession, type TownContext } from '../work/sessions.js';

/**
 * The daemon: one per town. observe → reconcile (pure, core/reconcile.ts) → execute, on a periodic tick and
 * as soon as tmux reports that an agent's program or a session died (hooks on the town's server; no polling).
 * It only touches the town's own sessions and agents, never removes a sandbox, and reports what needs
 * judgment instead of deciding it.
 */

export type DaemonContext = TownContext & { store: TownStore };

export type DaemonOptions = {
  tickMs: number;
  /** Stop after this many reconcile passes (tests); 0 runs until stopped. */
  passes?: number;
  log?: (entry: Record<string, unknown>) => void;
};

export function daemonPaths(town: Town): { pid: string; log: string } {
  return { pid: join(town.root, '.runtime', 'daemon.pid'), log: join(town.root, '.runtime', 'daemon.log') };
}

/** The running daemon's pid, or undefined (a pid file left by a killed daemon does not count). */
export function daemonPid(town: Town): number | undefined {
  try {
    const pid = Number(readFileSync(daemonPaths(town).pid, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the town's daemon slot (pid file, created exclusively); a dead holder's file is replaced. */
export function claimDaemonSlot(town: Town): () => void {
  const file = daemonPaths(town).pid;
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        if (daemonPid(town) === process.pid || readFileSync(file, 'utf8').trim() === String(process.pid))
          rmSync(file, { force: true });
      };
    } catch (err) {
      if (!(isRecord(err) && err.code === 'EEXIST')) throw err;
      const holder = daemonPid(town);
      if (holder !== undefined)
        throw new ConflictError(`the daemon of this town is already running (pid ${holder})`, {
          hint: '"gt daemon status" shows it; "gt daemon stop" stops it',
        });
      rmSync(file, { force: true }); // left by a daemon that was killed
    }
  }
  throw new ConflictError('could not take the daemon slot', { hint: 'try again' });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts `gt daemon run` in the background and waits until it holds the town's slot; returns its pid. */
export async function startDaemonProcess(
  town: Town,
  gtBin: string,
  env: NodeJS.ProcessEnv,
  args: readonly string[] = [],
): Promise<number> {
  spawnDetached(process.execPath, [gtBin, 'daemon', 'run', ...args], {
    cwd: town.root,
    env: { ...env, GT_TOWN_ROOT: town.root },
  });
  for (let i = 0; i < 100; i++) {
    const pid = daemonPid(town);
    if (pid !== undefined) return pid;
    await sleep(50);
  }
  throw new InternalError(`the daemon did not start; see ${daemonPaths(town).log}`);
}

/** Stops the town's daemon (SIGTERM; SIGKILL if it has not gone after 10 s); the pid it stopped, if one ran. */
export async function stopDaemonProcess(town: Town): Promise<number | undefined> {
  const pid = daemonPid(town);
  if (pid === undefined) return undefined;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200 && daemonPid(town) !== undefined; i++) await sleep(50);
  if (daemonPid(town) !== undefined) process.kill(pid, 'SIGKILL');
  return pid;
}

export function reconcileConfig(ctx: TownContext): ReconcileConfig {
  const d = ctx.settings.daemon;
  return {
    backoffInitialMs: d.restart_backoff_initial_seconds * 1000,
    backoffMaxMs: d.restart_backoff_max_seconds * 1000,
    quarantineAfter: d.quarantine_after_restarts,
    quarantineWindowMs: d.quarantine_window_seconds * 1000,
    standingRoles: d.standing_roles,
    idlePolecatMs: d.idle_polecat_seconds * 1000,
    inFlightMs: d.start_grace_seconds * 1000,
  };
}

async function reconcileInputs(ctx: DaemonContext, agents: readonly AgentView[]): Promise<ReconcileAgent[]> {
  const out: ReconcileAgent[] = [];
  for (const a of agents) {
    const endings = (await ctx.store.sessions(a.address, 20)).flatMap((s) =>
      s.ended_at !== null && s.end_reason !== null ? [{ endedAtMs: Date.parse(s.ended_at), reason: s.end_reason }] : [],
    );
    out.push({
      address: a.address,
      role: a.role,
      state: a.state,
      hook: a.hook?.id ?? null,
      sessionAlive: a.session_alive,
      openSessionId: a.open_session?.session_id ?? null,
      endings,
      lastProgressMs: a.last_progress === null ? null : Date.parse(a.last_progress),
      startingSinceMs:
        Math.max(
          a.open_session === null ? 0 : Date.parse(a.open_session.started_at),
          a.hook === null ? 0 : Date.parse(a.hook.updated_at),
        ) || null,
    });
  }
  return out;
}

/** Every hooked bead, and whether an agent holds it (the daemon's input, and gt doctor's). */
export async function hookedWork(
  ctx: Pick<DaemonContext, 'store'>,
  agents: readonly AgentView[],
): Promise<ReconcileWork[]> {
  const held = new Set(agents.flatMap((a) => (a.hook === null ? [] : [a.hook.id])));
  const hooked = await ctx.store.list({ statuses: ['hooked'], limit: 0 });
  return hooked.map((b) => ({
    bead: b.id,
    assignee: b.assignee,
    held: held.has(b.id),
    updatedAtMs: Date.parse(b.updated_at),
  }));
}

/**
 * One pass: observe, decide, act. `decided` hears the decision before anything is done (so the log says what
 * the daemon is about to do before its effects can be seen, e.g. a restarted agent priming), `failed` hears
 * each action that could not be carried out.
 */
async function reconcileOnce(
  ctx: DaemonContext,
  decided: (actions: readonly Action[]) => void,
  failed: (action: Action, err: unknown) => void,
): Promise<Action[]> {
  const agents = await observeAgents(ctx);
  const actions = reconcile(
    await reconcileInputs(ctx, agents),
    reconcileConfig(ctx),
    ctx.now(),
    await hookedWork(ctx, agents),
  );
  decided(actions);
  for (const action of actions) {
    try {
      await execute(ctx, action);
    } catch (err) {
      failed(action, err);
    }
  }
  return actions;
}

async function execute(ctx: DaemonContext, action: Action): Promise<void> {
  if (action.kind === 'wait') return;
  if (action.kind === 'release-work') {
    // Only if it is still as observed (a sling may have taken it meanwhile): checked in the store's transaction.
    if (await ctx.store.releaseUnheldHook(action.bead, action.address === '' ? null : action.address, 'daemon')) {
      await ctx.store.addComment(action.bead, `Back to open: ${action.why}.`, 'daemon');
    }
    return;
  }
  const agent = await ctx.store.agent(action.address);
  switch (action.kind) {
    case 'record-death':
      // Clear the dead pane (only this agent's own session) so the restart can take its name.
      await ctx.provider.stop(agent.session_name);
      await ctx.store.endSession(action.sessionId, action.reason, 'daemon');
      return;
    case 'restart':
      await startAgentSession(ctx, action.address, { topic: 'restart', sender: 'daemon' });
      return;
    case 'quarantine': {
      await ctx.store.updateAgent(action.address, { agent_state: 'stuck' }, 'daemon');
      const title = `Quarantined: ${action.address} died ${action.crashes} times`;
      const escalation = await ctx.store.create(
        {
          title,
          issue_type: 'escalation',
          priority: 1,
          description: `${action.why}.\nHook: ${agent.hook_bead ?? 'none'}. The daemon will not restart it while its state is stuck; look at "gt peek ${action.address}" and "gt seance --agent ${action.address}", fix the cause, then set it idle and restart it.`,
          labels: ['gt:escalation'],
        },
        'daemon',
      );
      const to = agent.rig !== null ? `${agent.rig}/witness` : 'mayor';
      await sendMail(ctx.store, { from: 'daemon', to, subject: title, body: `See ${escalation.id}.` }).catch(
        () => undefined,
      );
      return;
    }
    case 'report-stalled': {
      const to = agent.rig !== null ? `${agent.rig}/witness` : 'deacon';
      const subject = `Stalled: ${action.address} on ${action.bead}`;
      const [bead] = await ctx.store.show([action.bead]);
      // Once per stall: a newer report only after the bead has moved since the last one.
      const sent = await ctx.store.list({
        assignee: to,
        types: ['message'],
        labels: ['from:daemon'],
        statuses: ['open', 'closed'],
        limit: 0,
      });
      if (sent.some((m) => m.title === subject && bead !== undefined && m.created_at >= bead.updated_at)) return;
      await sendMail(ctx.store, {
        from: 'daemon',
        to,
        subject,
        body: `${action.why}. Hooked ${action.bead}, no progress seen. Peek with "gt peek ${action.address}"; nudge, help or escalate.`,
      });
      return;
    }
    case 'stop':
      await stopAgentSession(ctx, action.address, action.endReason);
      return;
  }
}

/** Runs until stopped (SIGTERM/SIGINT) or for `passes` passes. */
export async function runDaemon(ctx: DaemonContext, options: DaemonOptions): Promise<void> {
  const release = claimDaemonSlot(ctx.town);
  const logFile = daemonPaths(ctx.town).log;
  const log = (entry: Record<string, unknown>): void => {
    const line = { at: new Date(ctx.now()).toISOString(), ...entry };
    try {
      appendFileSync(logFile, `${JSON.stringify(line)}\n`);
    } catch {
      // logging must not stop the daemon
    }
    options.log?.(line);
  };
  const stopping = new AbortController();
  const stop = (): void => stopping.abort();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  log({ event: 'started', pid: process.pid, tick_ms: options.tickMs });
  let lastPass = 0;
  let passes = 0;
  let cause = 'start';
  try {
    while (!stopping.signal.aborted) {
      lastPass = ctx.now();
      let next = lastPass + options.tickMs;
      try {
        const actions = await reconcileOnce(
          ctx,
          (decided) => {
            const acted = decided.filter((a) => a.kind !== 'wait');
            if (acted.length > 0) log({ event: 'pass', cause, actions: acted.length });
            for (const a of acted) log({ event: 'action', kind: a.kind, address: a.address, why: a.why });
          },
          (a, err) => log({ event: 'error', message: `${a.kind} ${a.address}: ${errorMessage(err)}` }),
        );
        passes++;
        if (options.passes !== undefined && options.passes > 0 && passes >= options.passes) break;
        // A start in flight or a back-off ends before the tick: look again then.
        next = Math.min(next, ...actions.map((a) => (a.kind === 'wait' ? a.untilMs + 100 : Infinity)));
        // Sleep until tmux reports a death (an agent's program exiting, a session closing, the server going) or
        // the next look is due. A death during the pass, including one the pass caused, is kept by tmux and
        // wakes the next wait at once: one more pass is cheap and decides nothing twice.
        const wake = await ctx.provider.waitForChange(Math.max(0, next - ctx.now()), stopping.signal);
        cause = wake === 'changed' ? 'event' : 'tick';
      } catch (err) {
        // A failed look (tmux, git or the store busy or broken for a moment) must not end the daemon: say so,
        // wait a little, look again.
        log({ event: 'error', message: `pass failed: ${errorMessage(err)}` });
        await sleep(Math.min(5_000, options.tickMs));
        cause = 'retry';
      }
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    log({ event: 'stopped', pid: process.pid });
    release();
  }
}
