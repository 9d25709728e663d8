import { startOfLocalDay } from '../core/time.js';
import { NON_WORK_TYPES } from '../core/bead.js';
import type { BeadSummary } from '../core/bead-store.js';
import type { Escalation } from '../core/escalation.js';
import type { MergedToday } from '../core/merge-queue-stats.js';
import { LIVE_PROBLEM_STATES, PROBLEM_SEVERITY, compareProblems } from '../core/problem.js';
import { mergedToday } from '../observe/merged.js';
import { observe } from '../observe/snapshot.js';
import { listEscalations } from '../patrol/escalation.js';
import type { TownStore } from '../core/town-store.js';
import type { TownContext } from '../work/sessions.js';
import { listConvoys } from '../work/convoy.js';
import { inbox } from '../work/mail.js';
import { OVERSEER } from '../core/identity.js';
import type { ConvoyView } from '../core/convoy.js';

/**
 * The town at a glance, as the Mayor reads it at the start of each session: the rigs, the work that is ready
 * and what is blocked, the agents by state, the patrol's open problems and the open escalations, what merged
 * since the Mayor last looked. Everything is read from the store and tmux now, never from the Mayor's memory.
 */

export type GlanceContext = TownContext & { store: TownStore };

export type GlanceBead = { id: string; title: string; assignee: string | null; blocked_by?: string[] };

export type TownGlance = {
  at: string;
  since: string | null;
  rigs: { name: string; prefix: string; default_branch: string }[];
  work: { ready: GlanceBead[]; ready_count: number; blocked: GlanceBead[]; blocked_count: number; in_flight: number };
  /** Agent addresses by observed state (working, idle, stalled, …). */
  agents: Record<string, string[]>;
  problems: { id: number; kind: string; subject: string; severity: string; summary: string }[];
  escalations: Pick<Escalation, 'id' | 'title' | 'severity' | 'created_at'>[];
  merged: MergedToday;
  /** Open convoys, and those that landed since the last look. */
  convoys: GlanceConvoy[];
  /** The overseer's requests to the Mayor still open (their mail not archived), with the convoy answering each. */
  requests: { id: string; subject: string; read: boolean; sent_at: string; convoy: string | null }[];
};

export type GlanceConvoy = Pick<
  ConvoyView,
  'id' | 'name' | 'status' | 'owner' | 'request' | 'landed_at' | 'progress'
> & {
  beads: { id: string; state: string; assignee: string | null }[];
};

/** How many beads of each list a glance names; the counts say how many there are. */
const SHOWN = 8;

const isWork = (b: { issue_type: string }): boolean => !NON_WORK_TYPES.includes(b.issue_type);
const slim = (b: BeadSummary): GlanceBead => ({ id: b.id, title: b.title, assignee: b.assignee });

export async function townGlance(
  ctx: GlanceContext,
  sinceMs: number | null,
  options: { requestsTo?: string } = {},
): Promise<TownGlance> {
  const snap = await observe(ctx);
  const ready = (await ctx.store.ready({ limit: 0 })).filter((b) => isWork(b) && b.assignee === null);
  const blocked = (await ctx.store.blocked({ limit: 0 })).filter(isWork);
  const agents: Record<string, string[]> = {};
  for (const a of snap.agents) (agents[a.state] ??= []).push(a.address);
  const problems = (await ctx.store.problems({ states: LIVE_PROBLEM_STATES })).sort(compareProblems);
  const escalations = (await listEscalations(ctx)).filter((e) => e.status === 'open');
  // Since the last look, or today when there was none.
  const today = startOfLocalDay(ctx.now());
  const merged = await mergedToday(ctx.store, sinceMs ?? today, SHOWN);
  const requests =
    options.requestsTo === undefined
      ? []
      : (await inbox(ctx.store, options.requestsTo)).filter((m) => m.from === OVERSEER && !m.handoff);
  // Views only of the convoys shown or answering an open request: a town's landed convoys pile up.
  const open = new Set(requests.map((m) => m.id));
  const landedSince = (c: { status: string; landed_at: string | null }): boolean =>
    c.status === 'open' || (c.landed_at !== null && Date.parse(c.landed_at) >= (sinceMs ?? today));
  const looked = await listConvoys(ctx, {
    all: true,
    where: (r) =>
      landedSince({ status: r.status, landed_at: r.landedAt }) || (r.request !== null && open.has(r.request)),
  });
  const convoys = looked.filter(landedSince);
  const answering = new Map(looked.flatMap((c) => (c.request === null ? [] : [[c.request, c.id] as const])));
  return {
    at: new Date(ctx.now()).toISOString(),
    since: sinceMs === null ? null : new Date(sinceMs).toISOString(),
    rigs: snap.rigs,
    work: {
      ready: ready.slice(0, SHOWN).map(slim),
      ready_count: ready.length,
      blocked: blocked.slice(0, SHOWN).map((b) => ({ ...slim(b), blocked_by: b.blocked_by })),
      blocked_count: blocked.length,
      in_flight: snap.work.hooked + snap.work.in_progress,
    },
    agents,
    problems: problems.slice(0, SHOWN).map((p) => ({
      id: p.id,
      kind: p.kind,
      subject: p.subject,
      severity: PROBLEM_SEVERITY[p.kind],
      summary: p.summary,
    })),
    escalations: escalations
      .slice(0, SHOWN)
      .map((e) => ({ id: e.id, title: e.title, severity: e.severity, created_at: e.created_at })),
    merged,
    convoys: convoys.map((c) => ({
      id: c.id,
      name: c.name,
      status: c.status,
      owner: c.owner,
      request: c.request,
      landed_at: c.landed_at,
      progress: c.progress,
      beads: c.beads.map((b) => ({ id: b.id, state: b.state, assignee: b.assignee })),
    })),
    requests: requests.map((m) => ({
      id: m.id,
      subject: m.subject,
      read: m.read,
      sent_at: m.sent_at,
      convoy: answering.get(m.id) ?? null,
    })),
  };
}

const one = (text: string): string => text.replace(/\s+/gu, ' ').trim().slice(0, 160);

/** The glance as the Markdown an agent reads in its prime. */
export function renderGlance(g: TownGlance): string {
  const lines = ['## The town now', ''];
  if (g.requests.length > 0) {
    lines.push(
      `Requests from the overseer still open: ${g.requests.length} (archive each once its work has landed and they know).`,
    );
    for (const r of g.requests)
      lines.push(
        `  ${r.id}${r.read ? '' : ' (unread)'} "${one(r.subject)}": ${r.convoy === null ? 'not filed yet' : `convoy ${r.convoy}`}`,
      );
  }
  lines.push(
    g.rigs.length === 0
      ? 'Rigs: none yet. A person adds one with `gt rig add <name> <repository>`.'
      : `Rigs: ${g.rigs.map((r) => `${r.name} (beads ${r.prefix}-, lands on ${r.default_branch})`).join(', ')}.`,
  );
  const states = Object.entries(g.agents)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([state, list]) => `${state}: ${list.join(', ')}`);
  lines.push(`Agents: ${states.length === 0 ? 'none' : states.join('; ')}.`);
  lines.push(
    `Work: ${g.work.ready_count} ready and unassigned, ${g.work.blocked_count} blocked, ${g.work.in_flight} on hooks now.`,
  );
  for (const b of g.work.ready) lines.push(`  ready   ${b.id}: ${one(b.title)}`);
  if (g.work.ready_count > g.work.ready.length)
    lines.push(`  … ${g.work.ready_count - g.work.ready.length} more: bd ready`);
  for (const b of g.work.blocked)
    lines.push(`  blocked ${b.id}: ${one(b.title)} (waits for ${(b.blocked_by ?? []).join(', ')})`);
  if (g.work.blocked_count > g.work.blocked.length)
    lines.push(`  … ${g.work.blocked_count - g.work.blocked.length} more: bd blocked`);
  const since = g.since === null ? 'today' : `since you last looked (${g.since})`;
  lines.push(`Merged ${since}: ${g.merged.count}.`);
  for (const m of g.merged.recent) lines.push(`  ${m.id}: ${one(m.title)}`);
  const open = g.convoys.filter((c) => c.status === 'open');
  const landed = g.convoys.filter((c) => c.status !== 'open');
  lines.push(`Convoys open: ${open.length}${landed.length > 0 ? `; landed ${since}: ${landed.length}` : ''}.`);
  for (const c of [...open, ...landed]) {
    const p = c.progress;
    const beads = c.beads.map(
      (b) => `${b.id} ${b.state}${b.assignee !== null && b.state === 'working' ? ` (${b.assignee})` : ''}`,
    );
    lines.push(
      `  ${c.id} "${one(c.name)}" ${c.status}, ${p.merged}/${p.total} merged, owner ${c.owner}${c.request === null ? '' : `, request ${c.request}`}: ${beads.join(', ')}`,
    );
  }
  if (g.escalations.length > 0) {
    lines.push(`Open escalations (a person must act): ${g.escalations.length}.`);
    for (const e of g.escalations) lines.push(`  ${e.id} [${e.severity}] ${one(e.title)}`);
  }
  if (g.problems.length > 0) {
    lines.push(`Open patrol problems (the witnesses and the deacon handle them): ${g.problems.length}.`);
    for (const p of g.problems) lines.push(`  #${p.id} ${p.kind} ${p.subject}: ${one(p.summary)}`);
  }
  return `${lines.join('\n')}\n`;
}
