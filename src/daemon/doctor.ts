import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { errorMessage, GtError, type DamagedStoreError } from '../core/errors.js';
import { patrolRefusal } from '../core/guard.js';
import { onPath } from '../exec/path.js';
import { cloneLeftovers, gitVersion, listWorktrees, pruneWorktrees, repairClone } from '../git/git.js';
import { agentCli } from '../runtime/launch.js';
import { tmuxVersion } from '../session/tmux.js';
import { dropUnfinishedPolecat, finishPolecat } from '../town/polecat.js';
import { rigPaths } from '../town/rig.js';
import { loadSettings, townPaths } from '../town/town.js';
import { observeAgents, type AgentView } from '../observe/snapshot.js';
import { stopAgentSession } from '../work/sessions.js';
import { daemonPaths, daemonPid, hookedWork, type DaemonContext } from './daemon.js';

/**
 * `gt doctor`: what is wrong with this town and its machine, each finding with what to do about it. `--fix`
 * repairs only what cannot lose anything: git's bookkeeping of worktrees whose directories are gone, sessions
 * with no live agent and no work, a dead daemon's pid file, launch files left behind, open session records of
 * sessions that are gone, and work hooked to nobody. Sandboxes, branches and sessions that may hold someone's
 * work are reported, never removed.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';
export type Check = { check: string; status: CheckStatus; detail: string; hint?: string; fixed?: string[] };

export type DoctorOptions = {
  fix: boolean;
  progress?: (line: string) => void;
  /** Who asked for the fixes: a patrol agent's --fix removes no sandbox (src/core/guard.ts). */
  actor?: string;
};

const MIN_TMUX = [3, 0];
const MIN_GIT = [2, 25];
/** Launch files younger than this may belong to a session being started right now. */
const STALE_LAUNCH_FILE_MS = 60_000;
/** A hook or session record younger than this may be a start in flight. */
const SETTLE_MS = 60_000;

function atLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => parseInt(p, 10));
  for (let i = 0; i < min.length; i++) {
    const have = parts[i] ?? 0;
    const need = min[i] ?? 0;
    if (have !== need) return have > need;
  }
  return true;
}

type Step = (name: string, fn: () => Promise<Omit<Check, 'check'>> | Omit<Check, 'check'>) => Promise<void>;

/** A list of checks and the way to run one: a check that throws is a failed check, with the error's own hint. */
function checklist(options: DoctorOptions): { checks: Check[]; step: Step } {
  const checks: Check[] = [];
  const step: Step = async (name, fn) => {
    options.progress?.(name);
    try {
      checks.push({ check: name, ...(await fn()) });
    } catch (err) {
      checks.push({
        check: name,
        status: 'fail',
        detail: errorMessage(err),
        hint:
          err instanceof GtError && err.hint !== undefined
            ? err.hint
            : 'this check itself failed; the message says why',
      });
    }
  };
  return { checks, step };
}

/**
 * The checks that need no store, for a town whose store cannot be opened because its file is damaged: the
 * tools, then the store's own failure; the rest cannot be looked at until it is restored.
 */
export async function runDoctorWithoutStore(damaged: DamagedStoreError, options: DoctorOptions): Promise<Check[]> {
  const { checks, step } = checklist(options);
  await toolChecks(step);
  await step('store', () => ({ status: 'fail', detail: damaged.message, hint: damaged.hint ?? '' }));
  checks.push({
    check: 'the rest',
    status: 'warn',
    detail: 'not checked: layout, agents, worktrees, sessions and hooks are read from the store',
    hint: 'restore the store, then run gt doctor again',
  });
  return checks;
}

async function toolChecks(step: Step): Promise<void> {
  await step('tmux', async () => {
    const v = await tmuxVersion();
    if (v === undefined)
      return {
        status: 'fail',
        detail: 'tmux is not installed or does not run',
        hint: 'install tmux 3.0 or newer (Debian/Ubuntu: apt install tmux; macOS: brew install tmux)',
      };
    return atLeast(v, MIN_TMUX)
      ? { status: 'ok', detail: `tmux ${v}` }
      : { status: 'fail', detail: `tmux ${v} is too old`, hint: 'install tmux 3.0 or newer' };
  });

  await step('git', async () => {
    const v = await gitVersion();
    if (v === undefined)
      return { status: 'fail', detail: 'git is not installed or does not run', hint: 'install git 2.25 or newer' };
    return atLeast(v, MIN_GIT)
      ? { status: 'ok', detail: `git ${v}` }
      : { status: 'fail', detail: `git ${v} is too old (worktrees need 2.25)`, hint: 'install git 2.25 or newer' };
  });
}

export async function runDoctor(ctx: DaemonContext, options: DoctorOptions): Promise<Check[]> {
  const { checks, step } = checklist(options);
  const now = ctx.now();
  await toolChecks(step);

  await step('store', async () => {
    const h = await ctx.store.health();
    if (h.integrity !== 'ok')
      return {
        status: 'fail',
        detail: `the database fails SQLite's check: ${h.integrity}`,
        hint: `restore ${ctx.town.dbPath} from a backup, or rebuild it from the JSONL export with "bd import"`,
      };
    return {
      status: 'ok',
      detail: `${ctx.town.dbPath}: integrity ok, schema v${h.schema_version}, journal ${h.journal_mode}`,
    };
  });

  await step('town layout', async () => {
    loadSettings(ctx.town); // throws with the file and the problem when settings.json is wrong
    const missing: string[] = [];
    const paths = townPaths(ctx.town.root);
    for (const p of [paths.townFile, paths.beadsDir]) if (!existsSync(p)) missing.push(p);
    for (const rig of await ctx.store.rigs()) {
      const r = rigPaths(ctx.town.root, rig.name);
      for (const p of [r.repo, r.refinery]) if (!existsSync(p)) missing.push(p);
    }
    if (missing.length > 0)
      return {
        status: 'fail',
        detail: `missing: ${missing.join(', ')}`,
        hint: 'a rig whose repository is gone must be added again ("gt rig remove" then "gt rig add")',
      };
    return { status: 'ok', detail: `${ctx.town.root}` };
  });

  await step('agent CLIs', async () => {
    const agents = await ctx.store.agents({});
    const path = ctx.env.PATH;
    const needed = new Map<string, string[]>();
    for (const agent of agents) {
      if (agent.role === 'crew') continue;
      const resolved = agentCli(ctx.settings, agent);
      const command = ctx.settings.agents[resolved.name]?.command ?? resolved.preset.command;
      if (command === 'gt') continue; // the sim agent: this very program
      needed.set(command, [...(needed.get(command) ?? []), agent.address]);
    }
    const absent = [...needed].filter(([command]) => !onPath(command, path));
    if (absent.length === 0)
      return {
        status: 'ok',
        detail: needed.size === 0 ? 'only the built-in sim agent is used' : `on PATH: ${[...needed.keys()].join(', ')}`,
      };
    return {
      status: 'warn',
      detail: absent
        .map(
          ([command, who]) =>
            `${command} (for ${who.slice(0, 3).join(', ')}${who.length > 3 ? ', …' : ''}) is not on PATH`,
        )
        .join('; '),
      hint: 'install it, or have another agent run those roles: gt config default-agent <name> / gt config role-agent <role> <name>',
    };
  });

  await step('unfinished polecats', async () => {
    // Polecats whose making was cut short (their maker killed): gt finishes one when its work starts.
    const unfinished = (await ctx.store.agents({ role: 'polecat' })).filter((a) => a.agent_state === 'spawning');
    if (unfinished.length === 0) return { status: 'ok', detail: 'every polecat was made to the end' };
    if (!options.fix)
      return {
        status: 'warn',
        detail: `the making of ${unfinished.map((a) => a.address).join(', ')} was cut short`,
        hint: '"gt doctor --fix" finishes those with work on their hook and removes the others (nobody has worked in them)',
      };
    const fixed: string[] = [];
    const problems: string[] = [];
    for (const agent of unfinished) {
      try {
        if (agent.hook_bead !== null) {
          await finishPolecat(ctx.town, ctx.store, agent, ctx.actor);
          fixed.push(`made the sandbox of ${agent.address}, which has ${agent.hook_bead} on its hook`);
        } else {
          const refused = patrolRefusal(options.actor ?? ctx.actor, 'doctor-remove');
          if (refused !== null) {
            problems.push(`${agent.address} was not removed: ${refused.message}; ${refused.hint}`);
            continue;
          }
          await dropUnfinishedPolecat(ctx.town, ctx.store, agent, ctx.actor);
          fixed.push(`removed ${agent.address}, whose making was cut short before it had any work`);
        }
      } catch (err) {
        problems.push(`${agent.address}: ${errorMessage(err)}`);
      }
    }
    return problems.length === 0
      ? { status: 'ok', detail: 'every polecat is made to the end now', fixed }
      : { status: 'warn', detail: problems.join('; '), hint: 'each says what stands in the way', fixed };
  });

  // The agents as observed (tmux, the process table, the store); the checks below need them.
  let observed: AgentView[] | undefined;
  let observeError = '';
  try {
    observed = await observeAgents(ctx);
  } catch (err) {
    observeError = errorMessage(err);
  }
  const observedAgents = (): AgentView[] => {
    if (observed === undefined) throw new Error(`cannot observe the agents: ${observeError}`);
    return observed;
  };

  await step('worktrees', async () => {
    const agents = observedAgents();
    const problems: string[] = [];
    const fixed: string[] = [];
    const sandboxes = new Set(agents.map((a) => resolve(a.sandbox_path)));
    for (const rig of await ctx.store.rigs()) {
      const repo = rigPaths(ctx.town.root, rig.name).repo;
      if (!existsSync(repo)) continue;
      // What killed gits left (half-made worktree entries, old locks): cleared before any other git of gt's runs.
      const leftovers = cloneLeftovers(repo);
      const leftCount = leftovers.halfMadeWorktrees.length + leftovers.staleLocks.length;
      if (leftCount > 0) {
        if (options.fix) {
          const cleared = await repairClone(repo);
          fixed.push(
            `${rig.name}: cleared ${cleared.halfMadeWorktrees.length} half-made worktree entr(ies) and ${cleared.staleLocks.length} lock file(s) killed gits left`,
          );
        } else
          problems.push(
            `${rig.name}: killed gits left ${[...leftovers.halfMadeWorktrees, ...leftovers.staleLocks].map((p) => relative(repo, p)).join(', ')} in the shared clone (gt clears them before its next git there)`,
          );
      }
      const trees = (await listWorktrees(repo)).filter((t) => !t.bare);
      const prunable = trees.filter((t) => t.prunable);
      if (prunable.length > 0) {
        if (options.fix) {
          await pruneWorktrees(repo);
          fixed.push(
            `${rig.name}: git forgot ${prunable.length} worktree(s) whose directories are gone (branches kept)`,
          );
        } else
          problems.push(
            `${rig.name}: ${prunable.length} worktree(s) whose directories are gone (${prunable.map((t) => t.path).join(', ')})`,
          );
      }
      const strays = trees.filter((t) => !t.prunable && !sandboxes.has(resolve(t.path)));
      if (strays.length > 0)
        problems.push(
          `${rig.name}: worktree(s) that belong to no agent: ${strays.map((t) => `${t.path} (${t.branch ?? 'detached'})`).join(', ')}`,
        );
    }
    const lost = agents.filter((a) => a.role !== 'crew' && a.sandbox_path !== '' && !existsSync(a.sandbox_path));
    if (lost.length > 0) problems.push(`sandbox missing for ${lost.map((a) => a.address).join(', ')}`);
    if (problems.length > 0) {
      return {
        status: 'warn',
        detail: problems.join('; '),
        hint:
          'gt never removes a worktree that may hold work: look at each with "git -C <path> status" and remove ' +
          'it yourself if it is not needed; "gt doctor --fix" forgets only worktrees whose directories are gone and ' +
          'clears what killed gits left in the shared clone',
        fixed,
      };
    }
    return { status: 'ok', detail: 'every worktree belongs to an agent', fixed };
  });

  await step('sessions', async () => {
    const agents = observedAgents();
    const problems: string[] = [];
    const fixed: string[] = [];
    const known = new Set(agents.map((a) => a.session));
    const strays = (await ctx.provider.list()).filter((s) => !known.has(s));
    if (strays.length > 0)
      problems.push(
        `session(s) on the town's tmux server that belong to no agent: ${strays.join(', ')} (left alone: they may be someone's)`,
      );
    for (const a of agents.filter((x) => x.state === 'zombie')) {
      if (options.fix) {
        await stopAgentSession(ctx, a.address, 'crashed');
        fixed.push(`stopped ${a.session} (${a.address}): no live agent and no work in it`);
      } else problems.push(`${a.address}: its session holds no live agent and no work (zombie)`);
    }
    for (const a of agents.filter((x) => x.state === 'dead-with-work'))
      problems.push(
        `${a.address}: ${a.hook?.id ?? 'work'} is hooked and no agent runs (the daemon restarts it: "gt daemon start")`,
      );
    for (const a of agents.filter(
      (x) =>
        !x.session_alive &&
        x.open_session !== null &&
        x.hook === null &&
        now - Date.parse(x.open_session.started_at) > SETTLE_MS,
    )) {
      if (options.fix && a.open_session !== null) {
        await ctx.store.endSession(a.open_session.session_id, 'lost', ctx.actor);
        fixed.push(
          `closed the record of ${a.address}'s session ${a.open_session.session_id}: its tmux session is gone`,
        );
      } else problems.push(`${a.address}: a session record is open but its tmux session is gone`);
    }
    if (problems.length > 0)
      return {
        status: 'warn',
        detail: problems.join('; '),
        hint: '"gt doctor --fix" stops zombie sessions and closes stale records; "gt peek <agent>" shows a session',
        fixed,
      };
    return { status: 'ok', detail: `${agents.filter((a) => a.session_alive).length} agent session(s) running`, fixed };
  });

  await step('daemon', () => {
    const pid = daemonPid(ctx.town);
    const fixed: string[] = [];
    const file = daemonPaths(ctx.town).pid;
    if (pid === undefined && existsSync(file)) {
      if (options.fix) {
        rmSync(file, { force: true });
        fixed.push('removed the pid file of a daemon that is gone');
      }
    }
    if (pid !== undefined) return { status: 'ok', detail: `running (pid ${pid})`, fixed };
    const hooked = observedAgents().filter((a) => a.hook !== null && a.hook.status !== 'closed').length;
    if (hooked > 0)
      return {
        status: 'warn',
        detail: `not running, and ${hooked} agent(s) have work on their hook: nothing restarts them if they die`,
        hint: 'gt daemon start (or gt up)',
        fixed,
      };
    return { status: 'ok', detail: 'not running (no work is hooked)', fixed };
  });

  await step('launch files', () => {
    // Each session's environment passes through a private file its launcher deletes; one left behind (a launch
    // that failed) may hold credentials.
    const dir = join(ctx.town.root, '.runtime', 'tmux');
    const stale = existsSync(dir)
      ? readdirSync(dir).filter(
          (f) => f.startsWith('env-') && now - statSync(join(dir, f)).mtimeMs > STALE_LAUNCH_FILE_MS,
        )
      : [];
    if (stale.length === 0) return { status: 'ok', detail: 'none left behind' };
    if (options.fix) {
      for (const f of stale) rmSync(join(dir, f), { force: true });
      return {
        status: 'ok',
        detail: 'none left behind',
        fixed: [`removed ${stale.length} launch file(s) of sessions that never started`],
      };
    }
    return {
      status: 'warn',
      detail: `${stale.length} launch file(s) of sessions that never started (they may hold credentials)`,
      hint: 'gt doctor --fix removes them',
    };
  });

  await step('agents', () => {
    const agents = observedAgents();
    const stuck = agents.filter((a) => a.state === 'stuck');
    const asking = agents.filter((a) => a.state === 'needs-input');
    const stalled = agents.filter((a) => a.state === 'stalled');
    const problems = [
      ...stuck.map((a) => `${a.address} is stuck${a.hook !== null ? ` with ${a.hook.id} on its hook` : ''}`),
      ...asking.map((a) => `${a.address} waits at: ${a.question ?? 'a question'}`),
      ...stalled.map((a) => `${a.address} shows no progress on ${a.hook?.id ?? 'its work'}`),
    ];
    if (problems.length === 0) return { status: 'ok', detail: 'no agent is stuck, stalled or waiting for an answer' };
    return {
      status: 'warn',
      detail: problems.join('; '),
      hint: `look with "gt peek <address>"; once the cause is fixed, "gt agent revive <address>" brings a stuck agent back; answer a question with "gt session attach <address>"`,
    };
  });

  await step('escalations', async () => {
    const open = await ctx.store.list({ types: ['escalation'], limit: 0 });
    if (open.length === 0) return { status: 'ok', detail: 'none open' };
    return {
      status: 'warn',
      detail: `${open.length} open: ${open.map((e) => `${e.id} ${e.title}`).join('; ')}`,
      hint: '"bd show <id>" says what happened; close it ("bd close <id>") once it is dealt with',
    };
  });

  await step('hooks', async () => {
    const agents = observedAgents();
    const orphans = (await hookedWork(ctx, agents)).filter((w) => !w.held && now - w.updatedAtMs > SETTLE_MS);
    const closed = agents.filter((a) => a.hook !== null && a.hook.status === 'closed');
    if (orphans.length === 0 && closed.length === 0)
      return { status: 'ok', detail: 'every hooked bead is on an agent' };
    if (options.fix) {
      const fixed: string[] = [];
      for (const w of orphans)
        if (await ctx.store.releaseUnheldHook(w.bead, w.assignee, ctx.actor))
          fixed.push(`${w.bead} back to open (was hooked to ${w.assignee ?? 'nobody'})`);
      for (const a of closed) {
        await ctx.store.unhook(a.address, ctx.actor);
        fixed.push(`took the closed ${a.hook?.id ?? ''} off ${a.address}'s hook`);
      }
      return { status: 'ok', detail: 'every hooked bead is on an agent', fixed };
    }
    return {
      status: 'warn',
      detail: [
        ...(orphans.length > 0
          ? [`hooked to no agent: ${orphans.map((w) => `${w.bead} (${w.assignee ?? 'nobody'})`).join(', ')}`]
          : []),
        ...(closed.length > 0
          ? [`closed but still on a hook: ${closed.map((a) => `${a.hook?.id ?? ''} (${a.address})`).join(', ')}`]
          : []),
      ].join('; '),
      hint: 'gt doctor --fix (or the daemon) sends orphans back to open and takes closed beads off hooks',
    };
  });

  return checks;
}
