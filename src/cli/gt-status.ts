import { startOfLocalDay } from '../core/time.js';
import type { Command } from 'commander';
import type { TownHold } from '../core/agent-store.js';
import { workTitle } from '../core/merge-request.js';
import { daemonPid } from '../daemon/daemon.js';
import { runDoctor, runDoctorWithoutStore, type Check } from '../daemon/doctor.js';
import { DamagedStoreError, SetupError } from '../core/errors.js';
import { DERIVED_STATES } from '../core/derive.js';
import { OVERSEER, ROLES, type Role } from '../core/identity.js';
import type { MergedToday } from '../core/merge-queue-stats.js';
import { mergedToday } from '../observe/merged.js';
import { observe, observeAgents, PaneWatch, type AgentView, type Snapshot } from '../observe/snapshot.js';
import type { Escalation } from '../core/escalation.js';
import { compareProblems, LIVE_PROBLEM_STATES, PROBLEM_SEVERITY, type Problem } from '../core/problem.js';
import { listEscalations } from '../patrol/escalation.js';
import { budgetHold } from '../work/budget.js';
import { inbox, senderLabel, type Mail } from '../work/mail.js';
import type { TownContext } from '../work/sessions.js';
import { globals } from './bd/context.js';
import { escalationLine } from './gt-escalate.js';
import { positiveInt, withTown } from './gt-agents.js';
import { oneLine, printJson, sanitize, sinceIso, type Io } from './io.js';

type Opts = Record<string, unknown>;

function agentRow(a: AgentView): string {
  const waiting = a.question === null ? '' : `  waits at: ${sanitize(a.question).slice(0, 80)}`;
  const refused = a.hook?.push_refused == null ? '' : `  push refused: ${sanitize(a.hook.push_refused).slice(0, 100)}`;
  const hook = a.hook === null ? '-' : `${a.hook.id} ${sanitize(a.hook.title).slice(0, 40)}`;
  return `${a.address.padEnd(30)} ${a.state.padEnd(15)} ${a.agent_cli.padEnd(8)} ${hook}${waiting}${refused}`;
}

function agentRows(agents: readonly AgentView[]): string {
  return `${'AGENT'.padEnd(30)} ${'STATE'.padEnd(15)} ${'CLI'.padEnd(8)} HOOK\n${agents.map(agentRow).join('\n')}\n`;
}

const ROLE_TITLES: Record<Role, string> = {
  mayor: 'Mayor',
  deacon: 'Deacon',
  boot: "Boot (the deacon's watchdog)",
  witness: 'Witnesses',
  refinery: 'Refineries',
  polecat: 'Polecats',
  crew: 'Crew',
};

/** `gt status`: the agents under a heading per role, in the town's order of roles. */
function agentsByRole(agents: readonly AgentView[]): string {
  const blocks: string[] = [];
  for (const role of ROLES) {
    const mine = agents.filter((a) => a.role === role);
    if (mine.length === 0) continue;
    const counts = DERIVED_STATES.flatMap((st) => {
      const n = mine.filter((a) => a.state === st).length;
      return n === 0 ? [] : [`${n} ${st}`];
    });
    const rows = mine.map((a) => `  ${agentRow(a)}`);
    blocks.push(`${ROLE_TITLES[role]} (${counts.join(', ')})\n${rows.join('\n')}`);
  }
  return `${blocks.join('\n')}\n`;
}

function gitState(a: AgentView): string {
  const s = a.sandbox;
  if (s === null) return a.sandbox_path === '' ? '-' : 'sandbox missing';
  if (!s.exists) return 'sandbox missing';
  const parts = [
    s.uncommitted > 0 ? `${s.uncommitted} uncommitted` : '',
    s.unpushed > 0 ? `${s.unpushed} unpushed` : '',
    s.unmerged > 0 ? `${s.unmerged} unmerged` : '',
  ].filter((x) => x !== '');
  return parts.length === 0 ? 'clean' : parts.join(', ');
}

/** `gt polecat list`: one line per polecat. */
export function renderPolecats(rows: readonly (AgentView & { name: string })[]): string {
  const lines = rows.map(
    (a) =>
      `${a.address.padEnd(28)} ${a.state.padEnd(15)} ${sanitize(a.sandbox?.branch ?? '-').padEnd(34)} ` +
      `${gitState(a).padEnd(28)} ${a.hook === null ? '-' : a.hook.id}` +
      (a.hook?.push_refused == null ? '' : `  push refused: ${sanitize(a.hook.push_refused).slice(0, 60)}`),
  );
  return `${'POLECAT'.padEnd(28)} ${'STATE'.padEnd(15)} ${'BRANCH'.padEnd(34)} ${'GIT'.padEnd(28)} HOOK\n${lines.join('\n')}\n`;
}

/** The merge queue in a few words: how many requests wait in each state. */
function mergeQueue(mrs: Snapshot['merge_requests']): string {
  if (mrs.length === 0) return 'merge queue empty';
  const by = new Map<string, number>();
  for (const m of mrs) by.set(m.state, (by.get(m.state) ?? 0) + 1);
  return `merge queue: ${[...by].map(([state, n]) => `${n} ${state}`).join(', ')} (gt mq list <rig>)`;
}

/** What landed today: how many, and the newest few by title. */
function mergedLine(m: MergedToday): string {
  if (m.count === 0) return 'Merged today: nothing yet';
  const titles = m.recent.map((r) => `${sanitize(workTitle(r.title)).slice(0, 50)} (${r.id})`);
  return `Merged today: ${m.count}${titles.length > 0 ? ` · newest: ${titles.join('; ')}` : ''}`;
}

const needInput = (agents: readonly AgentView[]): number => agents.filter((a) => a.state === 'needs-input').length;

/** The overseer's unread mail, for the line near the top of `gt status`: how many, and the newest few. */
export type OverseerMail = {
  unread: number;
  newest: Pick<Mail, 'id' | 'from' | 'from_name' | 'subject' | 'priority' | 'sent_at'>[];
};

const NEWEST_MAIL_SHOWN = 3;

export async function overseerMail(ctx: TownContext): Promise<OverseerMail> {
  const unread = (await inbox(ctx.store, OVERSEER)).filter((m) => !m.read);
  return {
    unread: unread.length,
    newest: unread
      .slice(-NEWEST_MAIL_SHOWN)
      .reverse()
      .map((m) => ({
        id: m.id,
        from: m.from,
        from_name: m.from_name,
        subject: m.subject,
        priority: m.priority,
        sent_at: m.sent_at,
      })),
  };
}

/** `Mail for you (overseer): 2 unread · newest: …`, or nothing when all is read. */
export function overseerMailLine(m: OverseerMail): string | null {
  if (m.unread === 0) return null;
  const newest = m.newest.map(
    (n) =>
      `${n.id} "${oneLine(n.subject).slice(0, 50)}" from ${sanitize(senderLabel(n))}${n.priority === 'normal' ? '' : ` [${n.priority}]`}`,
  );
  return `Mail for you (${OVERSEER}): ${m.unread} unread · newest: ${newest.join('; ')} · gt mail inbox`;
}

/** The sling queue in a few words, when there is one (or the scheduler is paused). */
export type SchedulerLine = {
  queued: number;
  paused: boolean;
  /** A daily budget reached holds dispatch: why, in words (src/work/budget.ts). */
  budget?: string | null;
};

export function renderStatus(
  s: Snapshot,
  daemon: number | undefined,
  down: TownHold | null = null,
  merged: MergedToday | null = null,
  scheduler: SchedulerLine = { queued: 0, paused: false },
  mail: OverseerMail = { unread: 0, newest: [] },
): string {
  const w = s.work;
  const mailLine = overseerMailLine(mail);
  return [
    `Town "${sanitize(s.town.name)}" at ${s.town.root} · tmux -L ${s.town.tmux_socket} · daemon: ${daemon === undefined ? 'not running' : `running (pid ${daemon})`}`,
    ...(mailLine !== null ? [mailLine] : []),
    ...(down !== null
      ? [`Down since ${down.since} (gt down by ${sanitize(down.by)}): no session starts until "gt up"`]
      : []),
    `Rigs: ${s.rigs.length === 0 ? 'none (add one with "gt rig add")' : s.rigs.map((r) => `${r.name} (${r.prefix}, ${r.default_branch})`).join(', ')}`,
    `Work: ${w.open} open (${w.ready} ready), ${w.in_progress} in progress, ${w.hooked} hooked, ${w.blocked} blocked · ${mergeQueue(s.merge_requests)}`,
    ...(merged !== null && (s.rigs.length > 0 || merged.count > 0) ? [mergedLine(merged)] : []),
    ...(scheduler.queued > 0 || scheduler.paused
      ? [
          `Scheduler: ${scheduler.queued} sling(s) queued${scheduler.paused ? ', paused ("gt scheduler resume")' : ''} · gt scheduler status`,
        ]
      : []),
    ...(scheduler.budget != null ? [`Dispatch held: ${scheduler.budget} · gt costs`] : []),
    ...(needInput(s.agents) > 0 ? [`Needs input: ${needInput(s.agents)} agent(s) wait at a question (see below)`] : []),
    '',
    agentsByRole(s.agents).trimEnd(),
    ...(s.strays.length > 0
      ? ['', `Sessions on the town's server that belong to no agent: ${s.strays.join(', ')}`]
      : []),
    '',
  ].join('\n');
}

/**
 * What needs a person, which `gt status` opens with: the open escalations, by severity then age, then the
 * patrol's open problems (what the witnesses and the deacon are judging), by severity then age.
 */
export type NeedsPerson = { escalations: Escalation[]; problems: (Problem & { severity: string })[] };

export async function needsPerson(ctx: TownContext): Promise<NeedsPerson> {
  const problems = (await ctx.store.problems({ states: LIVE_PROBLEM_STATES })).sort(compareProblems);
  return {
    escalations: await listEscalations(ctx),
    problems: problems.map((p) => ({ ...p, severity: PROBLEM_SEVERITY[p.kind] })),
  };
}

function problemLine(p: NeedsPerson['problems'][number], nowMs: number): string {
  const age = sinceIso(p.first_seen, nowMs);
  return `#${p.id} ${p.severity.padEnd(8)} ${age.padStart(4)}  ${p.kind} ${sanitize(p.subject)} (${p.state}, ${sanitize(p.owner)}): ${sanitize(p.summary)}`;
}

/** The opening lines of `gt status`: nothing at all when nothing needs a person. */
export function renderNeedsPerson(n: NeedsPerson, nowMs: number): string {
  const lines: string[] = [];
  if (n.escalations.length > 0)
    lines.push(
      `Needs a person: ${n.escalations.length} open escalation(s) · gt escalate show <id>, gt escalate ack <id>`,
      ...n.escalations.map((e) => `  ${escalationLine(e, nowMs)}`),
    );
  if (n.problems.length > 0)
    lines.push(
      `Patrol: ${n.problems.length} open problem(s) · gt patrol scan, gt patrol history`,
      ...n.problems.slice(0, 10).map((p) => `  ${problemLine(p, nowMs)}`),
      ...(n.problems.length > 10 ? [`  … and ${n.problems.length - 10} more`] : []),
    );
  return lines.length === 0 ? '' : `${lines.join('\n')}\n\n`;
}

const MARK: Record<Check['status'], string> = { ok: '✓', warn: '!', fail: '✗' };

export function renderDoctor(checks: readonly Check[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${MARK[c.status]} ${c.check.padEnd(13)} ${sanitize(c.detail)}`);
    for (const f of c.fixed ?? []) lines.push(`    fixed: ${sanitize(f)}`);
    if (c.status !== 'ok' && c.hint !== undefined) lines.push(`    → ${c.hint}`);
  }
  const count = (s: Check['status']): number => checks.filter((c) => c.status === s).length;
  lines.push('', `${count('ok')} ok, ${count('warn')} warning(s), ${count('fail')} failed`);
  return `${lines.join('\n')}\n`;
}

/** `gt status` and `gt agents`: observed state, never stored state. */
export function registerStatusCommands(program: Command, io: Io): void {
  program
    .command('status')
    .description('the town at a glance: rigs, agents with their observed state, hooks, open work, merge requests')
    .option('--watch [seconds]', 'refresh until interrupted (default every 2 s)')
    .option('--times <n>', 'with --watch: stop after n refreshes')
    .option('--git', "include each sandbox's git state (slower)")
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const json = globals(cmd).json;
        const watch = o.watch !== undefined;
        const every = typeof o.watch === 'string' ? positiveInt(o.watch, '--watch', 2) : 2;
        const times = positiveInt(o.times, '--times', 0);
        // Watching, it remembers the panes between refreshes (in memory), as the daemon does.
        const paneWatch = watch ? new PaneWatch() : undefined;
        for (let i = 0; ; i++) {
          const snap = await observe(ctx, {
            git: o.git === true,
            ...(paneWatch !== undefined ? { watch: paneWatch } : {}),
          });
          const needs = await needsPerson(ctx);
          const daemon = daemonPid(ctx.town);
          const down = await ctx.store.townHold();
          const merged = await mergedToday(ctx.store, startOfLocalDay(ctx.now()));
          const hold = await budgetHold(ctx);
          const scheduler = {
            queued: (await ctx.store.pendingSlings()).length,
            paused: (await ctx.store.schedulerPause()) !== null,
            budget: hold?.why ?? null,
          };
          const mail = await overseerMail(ctx);
          if (json)
            printJson(io, {
              needs_person: needs,
              overseer_mail: mail,
              ...snap,
              merged_today: merged,
              daemon: { running: daemon !== undefined, pid: daemon ?? null },
              town_down: down,
              scheduler,
            });
          else
            io.out(
              `${watch && io.stdoutIsTTY ? '\u001b[2J\u001b[H' : ''}${renderNeedsPerson(needs, ctx.now())}${renderStatus(snap, daemon, down, merged, scheduler, mail)}`,
            );
          if (!watch || (times > 0 && i + 1 >= times)) return;
          await new Promise((r) => setTimeout(r, Math.max(1, every) * 1000));
        }
      }),
    );
  program
    .command('doctor')
    .description('check tmux, git, the store, the town layout, agent CLIs, worktrees, sessions, the daemon and hooks')
    .option('--fix', "repair what cannot lose work (never a sandbox, a branch or a session that may be someone's)")
    .action(async (o: Opts, cmd: Command) => {
      const json = globals(cmd).json;
      const live = !json && io.stderrIsTTY;
      const options = {
        fix: o.fix === true,
        progress: live ? (name: string) => io.err(`\u001b[2K\r  checking ${name}…`) : undefined,
      };
      // A store too damaged to open is what doctor is for: it is reported as a failed check, not as an error.
      const checks = await withTown(io, cmd, (ctx) =>
        runDoctor({ ...ctx, actor: 'doctor' }, { ...options, actor: ctx.actor }),
      ).catch((err: unknown) => {
        if (err instanceof DamagedStoreError) return runDoctorWithoutStore(err, options);
        throw err;
      });
      if (live) io.err('\u001b[2K\r');
      if (json) printJson(io, { ok: checks.every((c) => c.status !== 'fail'), checks });
      else io.out(renderDoctor(checks));
      const failed = checks.filter((c) => c.status === 'fail');
      if (failed.length > 0)
        throw new SetupError(`${failed.length} check(s) failed: ${failed.map((c) => c.check).join(', ')}`, {
          hint: 'each failed check above says what to do',
        });
    });
  program
    .command('agents')
    .description(`every agent with its observed state (${DERIVED_STATES.join(', ')})`)
    .option('--git', "include each sandbox's git state")
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const agents = await observeAgents(ctx, { git: o.git === true });
        if (globals(cmd).json) printJson(io, agents);
        else io.out(agentRows(agents));
      }),
    );
}
