import type { QueuedNudge } from '../core/agent-store.js';
import { ValidationError } from '../core/errors.js';
import { classifyPane, sanitizeTypedText, typistProfile } from '../core/pane.js';
import { agentCli } from '../runtime/launch.js';
import { handsOverAtTurns, paneProfile, type Preset } from '../runtime/presets.js';
import { typeNudge, untypedOutcome, type NudgeOutcome } from '../session/nudge.js';
import { agentAt, agentRunning, nudgeLockPath, type TownContext } from './sessions.js';

/**
 * `gt nudge`: a message typed into a live agent's session. When the agent cannot take it now (busy, a human
 * typing, still starting, no session at all) it waits in the store and is delivered at the agent's next turn
 * boundary — by its prompt-submit or stop hook, or by its next prime — so nothing is lost and nothing is typed
 * into an agent's work.
 */

export const NUDGE_MODES = ['wait-idle', 'queue', 'immediate'] as const;
export type NudgeMode = (typeof NUDGE_MODES)[number];

export function isNudgeMode(v: string): v is NudgeMode {
  return (NUDGE_MODES as readonly string[]).includes(v);
}

export type NudgeRequest = {
  to: string;
  from: string;
  message: string;
  mode: NudgeMode;
  urgent?: boolean;
  waitIdleMs?: number;
};

export type NudgeReport = {
  to: string;
  from: string;
  /** delivered: typed and submitted; queued: waiting in the store. */
  result: 'delivered' | 'queued';
  /** Why it was queued: asked to, busy, typing, not-ready, no-session. */
  reason: NudgeOutcome | 'asked' | 'no-session' | null;
  verified: boolean;
  queued_id: number | null;
};

/** The line typed into the pane: who it is from, then the message. */
export function nudgeLine(from: string, message: string): string {
  return `[from ${from}] ${sanitizeTypedText(message)}`;
}

export async function nudgeAgent(ctx: TownContext, req: NudgeRequest): Promise<NudgeReport> {
  if (sanitizeTypedText(req.message) === '')
    throw new ValidationError('a nudge needs text', { hint: 'gt nudge <address> "<message>"' });
  const agent = await agentAt(ctx, req.to);
  const queue = async (reason: NudgeReport['reason']): Promise<NudgeReport> => {
    const q = await ctx.store.queueNudge(
      { recipient: req.to, sender: req.from, body: req.message, urgent: req.urgent === true },
      ctx.actor,
    );
    return { to: req.to, from: req.from, result: 'queued', reason, verified: false, queued_id: q.id };
  };
  const resolved = agentCli(ctx.settings, agent);
  const name = agent.session_name;
  const watch = (): void => watchQueuedNudges(ctx, req.to, resolved.preset);
  if (!(await agentRunning(ctx, agent))) return queue('no-session');
  if (req.mode === 'queue') {
    // Not typed now; handed over at the next turn boundary, or typed by a watcher once the agent is idle
    // (an idle agent has no next turn on its own).
    const queued = await queue('asked');
    watch();
    return queued;
  }
  const typed = await typeNudge(ctx.provider, name, nudgeLine(req.from, req.message), {
    profile: paneProfile(resolved.preset),
    lockPath: nudgeLockPath(ctx.town, name),
    waitIdleMs: req.mode === 'immediate' ? 0 : (req.waitIdleMs ?? 10_000),
    immediate: req.mode === 'immediate',
  });
  if (typed.outcome !== 'delivered') {
    const queued = await queue(typed.outcome);
    // A busy agent with turn hooks takes its queue when the turn ends; anything else needs a watcher that
    // types it in once the agent is idle.
    if (!(typed.outcome === 'busy' && handsOverAtTurns(resolved.preset))) watch();
    return queued;
  }
  return { to: req.to, from: req.from, result: 'delivered', reason: null, verified: typed.verified, queued_id: null };
}

/** How long a background watcher waits for an agent to become idle, and how long it lets pass first. */
export const FLUSH_WATCH_SECONDS = 600;
export const FLUSH_DELAY_MS = 2_000;

/**
 * Starts a background watcher that types an agent's queued nudges once it is idle (`gt nudge --flush`). It first
 * gives turn hooks (and nudges sent right after) a moment, then types what is left as one line. Only for CLIs
 * whose readiness is a prompt that can be watched for.
 */
export function watchQueuedNudges(ctx: Pick<TownContext, 'spawnGt'>, to: string, preset: Preset): void {
  if (preset.readiness.kind === 'prompt')
    ctx.spawnGt?.(['nudge', to, '--flush', '--wait', String(FLUSH_WATCH_SECONDS), '--delay', String(FLUSH_DELAY_MS)]);
}

export type FlushReport = { to: string; delivered: number; outcome: NudgeOutcome | 'nothing-queued' | 'no-session' };

/** Queued nudges as one typed line. */
export function queuedLine(nudges: readonly QueuedNudge[]): string {
  return `[queued nudges] ${nudges.map((n) => `[from ${n.sender}${n.urgent ? ', urgent' : ''}] ${sanitizeTypedText(n.body)}`).join(' · ')}`;
}

/**
 * Types an agent's queued nudges into its session once it is idle (waiting up to `waitIdleMs`), as one line.
 * What cannot be typed goes back on the queue, in order. For CLIs without turn-boundary hooks; the daemon and
 * `gt nudge --flush` call it.
 */
export async function flushQueuedNudges(ctx: TownContext, to: string, waitIdleMs: number): Promise<FlushReport> {
  const agent = await agentAt(ctx, to);
  const resolved = agentCli(ctx.settings, agent);
  const name = agent.session_name;
  const profile = paneProfile(resolved.preset);
  const typist = typistProfile(profile);
  const lockPath = nudgeLockPath(ctx.town, name);
  const deadline = Date.now() + waitIdleMs;
  for (;;) {
    if ((await ctx.store.pendingNudges(to)).length === 0) return { to, delivered: 0, outcome: 'nothing-queued' };
    if (!(await agentRunning(ctx, agent))) return { to, delivered: 0, outcome: 'no-session' };
    // Wait for idle without holding the queue; take it only to type it.
    const state = classifyPane(await ctx.provider.capture(name).catch(() => ''), typist);
    if (state.kind === 'idle' && state.input === '') {
      const nudges = await ctx.store.takeNudges(to, 'idle');
      if (nudges.length === 0) return { to, delivered: 0, outcome: 'nothing-queued' };
      const typed = await typeNudge(ctx.provider, name, queuedLine(nudges), { profile, lockPath, waitIdleMs: 2_000 });
      if (typed.outcome === 'delivered') return { to, delivered: nudges.length, outcome: 'delivered' };
      for (const n of nudges)
        await ctx.store.queueNudge({ recipient: to, sender: n.sender, body: n.body, urgent: n.urgent }, ctx.actor);
    }
    if (Date.now() >= deadline) return { to, delivered: 0, outcome: untypedOutcome(state) };
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Queued nudges as the agent reads them at a turn boundary. */
export function formatQueuedNudges(nudges: readonly QueuedNudge[]): string {
  if (nudges.length === 0) return '';
  const urgent = nudges.some((n) => n.urgent);
  const lines = nudges.map(
    (n) => `  [from ${n.sender}${n.urgent ? ', urgent' : ''}] ${n.body.replace(/\n/gu, '\n    ')}`,
  );
  return [
    '<system-reminder>',
    `Queued nudges (${nudges.length}), sent while you were busy:`,
    ...lines,
    urgent
      ? 'Handle the urgent ones before you continue.'
      : 'Continue your current work unless one of these matters more.',
    '</system-reminder>',
  ].join('\n');
}
