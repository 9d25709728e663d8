import { supervisorOf } from '../core/identity.js';
import { appendFileSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { movingSubject, observeAgents, PaneWatch, stalledSubject, type AgentView } from '../observe/snapshot.js';
import type { TownStore } from '../core/town-store.js';
import { loadSettings, type Town } from '../town/town.js';
import { sendMail, type Mail } from '../work/mail.js';
import { announceMail } from '../work/mail-notify.js';
import { startAgentSession, stopAgentSession, type TownContext } from '../work/sessions.js';
import { claimantOf, dispatchQueued, type DispatchReport } from '../work/scheduler.js';
import { convoyPass, type ConvoyPassReport } from '../work/convoy-feed.js';
import { announceWaitingMail } from '../work/mail-notify.js';
import { patrolPass, type PatrolPassResult } from '../patrol/problems.js';
import { escalationOf } from '../core/escalation.js';
import { escalate, raiseStale, type StaleReport } from '../patrol/escalation.js';
import { quarantineTitlePrefix } from './revive.js';
import { costsMemory, costsPass, type CostsMemory, type CostsPassReport } from '../costs/pass.js';
import { startTelemetry } from '../telemetry/telemetry.js';
import { UsageDeltas } from '../costs/deltas.js';
import { dayOf } from '../work/budget.js';

/**
 * The daemon: one per town. observe → reconcile (pure, core/reconcile.ts) → execute, on a periodic tick and
 * as soon as tmux reports that an agent's program or a session died (hooks on the town's server; no polling).
 * It only touches the town's own sessions and agents, never removes a sandbox, and reports what needs
 * judgment instead of deciding it. After each pass it lands the convoys that are complete, feeds the ready
 * beads of the convoys it feeds to free capacity, and dispatches the slings queued for capacity (or for their
 * blockers) that may go now (a polecat's gt done wakes it, as a death does).
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

/**
 * Takes the town's daemon slot (pid file, created exclusively); a dead holder's file is replaced. The file
 * appears whole or not at all (written beside it, then linked into place), so a rival never reads it empty and
 * takes it for a dead holder's.
 */
export function claimDaemonSlot(town: Town): () => void {
  const file = daemonPaths(town).pid;
  mkdirSync(dirname(file), { recursive: true });
  const draft = `${file}.${process.pid}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(draft, `${process.pid}\n`, { mode: 0o644 });
      linkSync(draft, file);
      return () => {
        if (daemonPid(town) === process.pid || readFileSync(file, 'utf8').trim() === String(process.pid))
          rmSync(file, { force: true });
      };
    } catch (err) {
      if (!(isRecord(err) && err.code === 'EEXIST')) throw err;
      const seen = readOr(file);
      const holder = daemonPid(town);
      if (holder !== undefined)
        throw new ConflictError(`the daemon of this town is already running (pid ${holder})`, {
          hint: '"gt daemon status" shows it; "gt daemon stop" stops it',
        });
      // Left by a daemon that was killed: removed only if it is still that file (not a rival's new one).
      if (readOr(file) === seen) rmSync(file, { force: true });
    } finally {
      rmSync(draft, { force: true });
    }
  }
  throw new ConflictError('could not take the daemon slot', { hint: 'try again' });
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How often a daemon of a town that is down looks whether it is up again. */
const DOWN_POLL_MS = 2_000;

/** Sleeps `ms`, or less if `signal` aborts first. */
function pauseUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

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

/**
 * What the daemon remembers between passes, in memory only: panes it watched, questions it reported, and the
 * hooks it reported an agent stalled on (address → bead).
 */
export type DaemonMemory = {
  watch: PaneWatch;
  reported: Map<string, string>;
  stalled: Map<string, string>;
  /** Where each usage record was read to, and the budgets already escalated today. */
  costs: CostsMemory;
};

export function daemonMemory(): DaemonMemory {
  return { watch: new PaneWatch(), reported: new Map(), stalled: new Map(), costs: costsMemory() };
}

/** When the agent was last brought back from stuck (`gt agent revive`), from the store's events. */
export async function revivedAtMs(ctx: Pick<DaemonContext, 'store'>, address: string): Promise<number | null> {
  const events = await ctx.store.events({ issueId: address, eventType: 'agent_updated' });
  const revivals = events
    .filter((e) => e.field === 'agent_state' && e.old_value === 'stuck')
    .map((e) => Date.parse(e.created_at));
  return revivals.length === 0 ? null : Math.max(...revivals);
}

async function reconcileInputs(
  ctx: DaemonContext,
  agents: readonly AgentView[],
  memory: DaemonMemory,
): Promise<ReconcileAgent[]> {
  const out: ReconcileAgent[] = [];
  for (const a of agents) {
    const endings = (await ctx.store.sessions(a.address, 20)).flatMap((s) =>
      s.ended_at !== null && s.end_reason !== null ? [{ endedAtMs: Date.parse(s.ended_at), reason: s.end_reason }] : [],
    );
    if (a.state !== 'needs-input') memory.reported.delete(a.address);
    if (memory.stalled.get(a.address) !== (a.hook?.id ?? null)) memory.stalled.delete(a.address);
    const deaths = endings.some((e) => e.reason === 'crashed' || e.reason === 'lost');
    out.push({
      address: a.address,
      role: a.role,
      state: a.state,
      hook: a.hook?.id ?? null,
      sessionAlive: a.session_alive,
      openSessionId: a.open_session?.session_id ?? null,
      endings,
      lastProgressMs: a.last_progress === null ? null : Date.parse(a.last_progress),
      // A session replaced a moment ago (gt session restart) is a start in flight too.
      startingSinceMs:
        Math.max(
          a.open_session === null ? 0 : Date.parse(a.open_session.started_at),
          a.hook === null ? 0 : Date.parse(a.hook.updated_at),
          endings[0]?.reason === 'replaced' ? endings[0].endedAtMs : 0,
        ) || null,
      hookClosedAtMs: a.hook?.status === 'closed' ? Date.parse(a.hook.updated_at) : null,
      question: a.question,
      questionReported: a.question !== null && memory.reported.get(a.address) === a.question,
      stallReported: a.hook !== null && memory.stalled.get(a.address) === a.hook.id,
      revivedAtMs: deaths ? await revivedAtMs(ctx, a.address) : null,
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
  memory: DaemonMemory,
  decided: (actions: readonly Action[]) => void,
  failed: (action: Action, err: unknown) => void,
  dispatched: (report: DispatchReport) => void,
  patrolled: (result: PatrolPassResult) => void = () => undefined,
  patrolFailed: (err: unknown) => void = () => undefined,
  raised: (report: StaleReport | { error: unknown }) => void = () => undefined,
  convoyed: (report: ConvoyPassReport | { error: unknown }) => void = () => undefined,
  announced: (mail: { to: string; id: string } | { error: unknown }) => void = () => undefined,
  costed: (report: CostsPassReport | { error: unknown }) => void = () => undefined,
): Promise<{ actions: Action[]; recheckAtMs: number | null; agents: AgentView[] }> {
  // Settings are read afresh every pass: fixing the cause of a quarantine often means editing them.
  try {
    ctx = { ...ctx, settings: loadSettings(ctx.town) };
  } catch {
    // a settings file being edited: keep the last good one
  }
  const agents = await observeAgents(ctx, { watch: memory.watch, reports: false });
  const inputs = await reconcileInputs(ctx, agents, memory);
  const work = await hookedWork(ctx, agents);
  // Facts for the patrol first: a mass death seen now pauses the restarts this very pass.
  let patrol: PatrolPassResult | undefined;
  try {
    patrol = await patrolPass(
      ctx,
      agents.map((view, i) => ({
        view,
        endings: inputs[i]?.endings ?? [],
        openSessionId: inputs[i]?.openSessionId ?? null,
        hookClosed: (inputs[i]?.hookClosedAtMs ?? null) !== null,
      })),
      await orphanedWork(ctx, work),
    );
    patrolled(patrol);
  } catch (err) {
    patrolFailed(err);
  }
  // What the patrol pass just started was observed dead before it: not this pass's to record or stop.
  const started = patrol?.started ?? new Set<string>();
  const actions = reconcile(
    inputs.filter((a) => !started.has(a.address)),
    {
      ...reconcileConfig(ctx),
      restartsPausedUntilMs: patrol?.restartsPausedUntilMs ?? null,
      leftToPatrol: patrol?.leftToPatrol ?? new Set(),
    },
    ctx.now(),
    work,
  );
  decided(actions);
  for (const action of actions) {
    try {
      await execute(ctx, action);
      if (action.kind === 'report-needs-input') memory.reported.set(action.address, action.question);
      if (action.kind === 'report-stalled') memory.stalled.set(action.address, action.bead);
      if (action.kind === 'report-moving') memory.stalled.delete(action.address);
    } catch (err) {
      failed(action, err);
    }
  }
  // Then the costs: new usage read into the store and weighed against the budgets; a reached one holds the
  // convoy feed and the dispatch below, and is escalated once a day.
  try {
    costed(await costsPass(ctx, memory.costs));
  } catch (err) {
    costed({ error: err });
  }
  // Then the convoys: the complete ones land (and are told); ready beads of the fed ones go to free capacity.
  try {
    convoyed(await convoyPass(ctx));
  } catch (err) {
    convoyed({ error: err });
  }
  // Then mail that slipped between an agent's turns (sent while it was busy, after its last turn boundary):
  // typed now that it sits idle at its prompt.
  try {
    const idle = new Set(agents.filter((a) => a.session_alive && a.pane === 'idle').map((a) => a.address));
    for (const m of await announceWaitingMail(ctx, idle)) if (m.announced === 'typed') announced(m);
  } catch (err) {
    announced({ error: err });
  }
  // Then the queue: the pass may have freed polecats (a closed bead taken off a hook), and a gt done woke it.
  const report = await dispatchQueued(ctx, { claimant: claimantOf(ctx.actor) });
  dispatched(report);
  // Then what nobody acknowledged: raised a level and routed again (a failure here never stops the pass); the
  // next one due wakes the daemon before its tick.
  let escalationDueAtMs: number | null = null;
  try {
    const stale = await raiseStale(ctx, 'daemon');
    raised(stale);
    escalationDueAtMs = stale.next_due_at === null ? null : Date.parse(stale.next_due_at);
  } catch (err) {
    raised({ error: err });
  }
  const due = [report.recheckAtMs, patrol?.nextDueMs ?? null, escalationDueAtMs].filter((t): t is number => t !== null);
  return { actions, recheckAtMs: due.length === 0 ? null : Math.min(...due), agents };
}

/** Hooked beads no agent holds, with the rig each belongs to (by its id's prefix). */
async function orphanedWork(
  ctx: DaemonContext,
  work: readonly ReconcileWork[],
): Promise<{ bead: string; assignee: string | null; rig: string | null; updatedAtMs: number }[]> {
  const loose = work.filter((w) => !w.held);
  if (loose.length === 0) return [];
  const rigs = await ctx.store.rigs();
  return loose.map((w) => ({
    bead: w.bead,
    assignee: w.assignee,
    rig: rigs.find((r) => w.bead.startsWith(`${r.prefix}-`))?.name ?? null,
    updatedAtMs: w.updatedAtMs,
  }));
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
  const supervisor = supervisorOf(agent);
  /** Mail to a supervisor: in its inbox, and typed into its session at once if it sits idle. */
  const tell = async (to: string, subject: string, body: string): Promise<Mail> => {
    // A patrol agent is woken by the problem recorded for the same fact, once: the mail is for its record
    // (low priority: it waits in its inbox and never wakes it).
    const patrolAgent = to === 'deacon' || to.endsWith('/witness');
    const quiet = ctx.settings.patrol.enabled && patrolAgent;
    const mail = await sendMail(ctx.store, {
      from: 'daemon',
      to,
      subject,
      body,
      ...(quiet ? { priority: 'low' } : {}),
    });
    await announceMail(ctx, mail).catch(() => undefined);
    return mail;
  };
  switch (action.kind) {
    case 'clear-hook': {
      // Only if the closed bead is still the one on its hook (checked again here, just before).
      if (agent.hook_bead !== action.bead) return;
      await ctx.store.unhook(action.address, 'daemon');
      await ctx.store.addComment(
        action.bead,
        `Taken off ${action.address}'s hook by the daemon: ${action.why}.`,
        'daemon',
      );
      return;
    }
    case 'report-needs-input': {
      const subject = `Needs input: ${action.address}`;
      // Once per question: not again while the same question waits in the supervisor's inbox.
      const open = await ctx.store.list({
        assignee: supervisor,
        types: ['message'],
        labels: ['from:daemon'],
        limit: 0,
      });
      const body =
        `${action.address} waits at: ${action.question}\nIt cannot go on by itself. ` +
        `Look with "gt peek ${action.address}", answer it with "gt session attach ${action.address}" ` +
        '(or fix its permissions and restart it), or escalate.';
      if (open.some((m) => m.title === subject && m.description === body)) return;
      await tell(supervisor, subject, body);
      return;
    }
    case 'record-death':
      // Clear the dead pane (only this agent's own session) so the restart can take its name.
      await ctx.provider.stop(agent.session_name);
      await ctx.store.endSession(action.sessionId, action.reason, 'daemon');
      return;
    case 'restart':
      await startAgentSession(ctx, action.address, { topic: 'restart', sender: 'daemon' });
      return;
    case 'quarantine': {
      // One escalation per quarantine: a pass killed after filing it and before marking the agent stuck finds
      // the open one at the next pass instead of filing another. Routed by its severity (settings.json).
      const title = `Quarantined: ${action.address} died ${action.crashes} times`;
      const open = await ctx.store.list({ types: ['escalation'], limit: 0 });
      const filed = open.find((e) => e.title.startsWith(quarantineTitlePrefix(action.address)));
      // (A hook naming a bead that is gone must not keep the agent from being quarantined.)
      const hook = agent.hook_bead;
      const related =
        hook === null
          ? null
          : await ctx.store.show([hook]).then(
              () => hook,
              () => null,
            );
      const escalation =
        filed !== undefined
          ? escalationOf(filed)
          : await escalate(ctx, {
              what: title,
              severity: 'high',
              source: 'daemon',
              related,
              actor: 'daemon',
              description:
                `${action.why}.\nHook: ${agent.hook_bead ?? 'none'}. ` +
                'The daemon will not restart it while its state is stuck; ' +
                `look at "gt peek ${action.address}" and "gt seance --agent ${action.address}", fix the cause, ` +
                `then bring it back with "gt agent revive ${action.address}".`,
            });
      await ctx.store.updateAgent(action.address, { agent_state: 'stuck' }, 'daemon');
      // Its supervisor hears of it too, unless a route already mailed it.
      if (!escalation.routes.some((r) => r.ok && r.route === `mail:${supervisor}`))
        await tell(supervisor, escalation.title, `See ${escalation.id}.`).catch(() => undefined);
      return;
    }
    case 'report-stalled': {
      const subject = stalledSubject(action.address, action.bead);
      const [bead] = await ctx.store.show([action.bead]);
      // Once per stall: a newer report only after the bead has moved since the last one.
      const sent = await ctx.store.list({
        assignee: supervisor,
        types: ['message'],
        labels: ['from:daemon'],
        statuses: ['open', 'closed'],
        limit: 0,
      });
      // (Or after it was said to move again: a stall after that is news.)
      const moving = movingSubject(action.address, action.bead);
      const since = sent
        .filter((m) => m.title === moving)
        .reduce((latest, m) => (m.created_at > latest ? m.created_at : latest), bead?.updated_at ?? '');
      if (sent.some((m) => m.title === subject && bead !== undefined && m.created_at >= since)) return;
      await tell(
        supervisor,
        subject,
        `${action.why}. Hooked ${action.bead}, no progress seen. Peek with "gt peek ${action.address}"; nudge, help or escalate.`,
      );
      return;
    }
    case 'report-moving':
      await tell(
        supervisor,
        movingSubject(action.address, action.bead),
        `${action.address} makes progress on ${action.bead} again: the stall reported earlier is over.`,
      );
      return;
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
  // OpenTelemetry export, when the environment asks for it (OTEL_* variables); never in the way of the loop.
  const telemetry = await startTelemetry({
    store: ctx.store,
    town: ctx.town.name,
    env: ctx.env,
    now: ctx.now,
    log,
  }).catch((err: unknown) => {
    log({ event: 'telemetry-error', signal: 'all', kind: 'start', message: errorMessage(err) });
    return undefined;
  });
  // Tokens for telemetry: what the costs pass read since this daemon started, counted once.
  const deltas = new UsageDeltas(ctx.now());
  let tokens: Promise<void> = Promise.resolve();
  let lastPass = 0;
  let passes = 0;
  let cause = 'start';
  const memory = daemonMemory();
  let held = false;
  try {
    while (!stopping.signal.aborted) {
      lastPass = ctx.now();
      let next = lastPass + options.tickMs;
      try {
        // The town is down (gt down): start nothing, decide nothing; look again shortly for gt up.
        const hold = await ctx.store.townHold();
        if (hold !== null) {
          if (!held) log({ event: 'town-down', since: hold.since, by: hold.by });
          held = true;
          passes++;
          if (options.passes !== undefined && options.passes > 0 && passes >= options.passes) break;
          await pauseUnless(Math.min(options.tickMs, DOWN_POLL_MS), stopping.signal);
          continue;
        }
        if (held) log({ event: 'town-up' });
        held = false;
        const failedActions = new Set<Action>();
        const problemsOpened: string[] = [];
        const { actions, recheckAtMs, agents } = await reconcileOnce(
          ctx,
          memory,
          (decided) => {
            const acted = decided.filter((a) => a.kind !== 'wait');
            if (acted.length > 0) log({ event: 'pass', cause, actions: acted.length });
            for (const a of acted) log({ event: 'action', kind: a.kind, address: a.address, why: a.why });
          },
          (a, err) => {
            failedActions.add(a);
            log({ event: 'error', message: `${a.kind} ${a.address}: ${errorMessage(err)}` });
          },
          (report) => {
            for (const o of report.outcomes)
              log({
                event: 'dispatch',
                bead: o.bead,
                rig: o.rig,
                result: o.result,
                agent: o.agent,
                action: o.action,
                why: o.why,
              });
          },
          (p) => {
            problemsOpened.push(...p.opened.map((x) => x.kind));
            for (const x of p.opened)
              log({ event: 'problem', id: x.id, kind: x.kind, subject: x.subject, owner: x.owner, summary: x.summary });
            for (const x of p.resolved)
              log({ event: 'problem-resolved', id: x.id, kind: x.kind, subject: x.subject, why: x.resolution });
            for (const w of p.woken)
              log({ event: 'patrol-wake', owner: w.owner, problems: w.problems, how: w.how, error: w.error });
            for (const a of p.stopped) log({ event: 'patrol-done', address: a });
          },
          (err) => log({ event: 'error', message: `patrol pass failed: ${errorMessage(err)}` }),
          (stale) => {
            if ('error' in stale) {
              log({ event: 'error', message: `raising stale escalations: ${errorMessage(stale.error)}` });
              return;
            }
            for (const r of stale.raised)
              log({
                event: 'escalation-raised',
                id: r.id,
                from: r.from,
                to: r.to,
                raised_count: r.raised_count,
                failed_routes: r.routes.filter((x) => !x.ok).map((x) => x.route),
              });
          },
          (c) => {
            if ('error' in c) {
              log({ event: 'error', message: `convoy pass failed: ${errorMessage(c.error)}` });
              return;
            }
            for (const l of c.check.landed)
              log({
                event: 'convoy-landed',
                id: l.convoy.id,
                name: l.convoy.name,
                landing: l.convoy.landings,
                told: l.told.map((t) => t.to),
              });
            for (const f of c.fed)
              log({
                event: 'convoy-fed',
                convoy: f.convoy,
                bead: f.bead,
                rig: f.rig,
                result: f.result,
                agent: f.agent,
                error: f.error,
              });
          },
          (m) =>
            log(
              'error' in m
                ? { event: 'error', message: `announcing waiting mail: ${errorMessage(m.error)}` }
                : { event: 'mail-announced', to: m.to, id: m.id },
            ),
          (c) => {
            if ('error' in c) {
              log({ event: 'error', message: `costs pass failed: ${errorMessage(c.error)}` });
              return;
            }
            if (telemetry !== undefined && c.ingest !== null && c.ingest.added + c.ingest.updated > 0)
              tokens = tokens
                .then(async () => telemetry.recordTokens(await deltas.next(ctx.store, dayOf(ctx.now()).startMs)))
                .catch((err: unknown) => log({ event: 'error', message: `counting tokens: ${errorMessage(err)}` }));
            for (const e of c.escalated) log({ event: 'budget-reached', budget: e.budget, escalation: e.id });
            if (c.released) log({ event: 'budget-released' });
            for (const message of c.errors) log({ event: 'error', message: `costs: ${message}` });
          },
        );
        telemetry?.afterPass({
          agents,
          restarts: actions.filter((a) => a.kind === 'restart' && !failedActions.has(a)).map((a) => a.address),
          problemsOpened,
        });
        passes++;
        if (options.passes !== undefined && options.passes > 0 && passes >= options.passes) break;
        // A start in flight or a back-off ends before the tick: look again then.
        next = Math.min(next, ...actions.map((a) => (a.kind === 'wait' ? a.untilMs + 100 : Infinity)));
        if (recheckAtMs !== null) next = Math.min(next, recheckAtMs + 100);
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
    // The client kept waiting for tmux's news between two passes would keep this process alive.
    await ctx.provider.stopWaiting().catch(() => undefined);
    // What telemetry still holds goes out now, within its bounded budget (an unreachable collector costs
    // that budget, no more).
    await tokens;
    await telemetry?.stop().catch(() => undefined);
    log({ event: 'stopped', pid: process.pid });
    release();
  }
}
