import { patrolFormula } from '../patrol/formulas.js';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { errorMessage, isRecord, UsageError, ValidationError } from '../core/errors.js';
import type { DerivedState } from '../core/derive.js';
import {
  actingActor,
  isPatrolActor,
  refusalError,
  shellRefusal,
  shellRefusalText,
  type GuardedRole,
} from '../core/guard.js';
import { isRole, ROLES } from '../core/identity.js';
import { reviveAgent } from '../daemon/revive.js';
import { observeAgents } from '../observe/snapshot.js';
import type { AgentPreset } from '../core/settings.js';
import { spawnDetached } from '../exec/exec.js';
import { resolveAgent } from '../runtime/launch.js';
import { PRESETS } from '../runtime/presets.js';
import { TmuxSessionProvider } from '../session/tmux.js';
import { SimAgent } from '../sim/agent.js';
import { isSimDialog, isSimStep, SIM_DIALOGS, SIM_STEPS, type SimDialog } from '../sim/script.js';
import { openTownStore } from '../store/open.js';
import type { TownStore } from '../core/town-store.js';
import { findTown, loadSettings, saveSettings, type Town } from '../town/town.js';
import { flushQueuedNudges, isNudgeMode, nudgeAgent, NUDGE_MODES } from '../work/nudge.js';
import { onStop, parseHookInput, prime, whoAmI } from '../work/prime.js';
import { mayorBriefing } from '../views/mayor.js';
import {
  attachAgent,
  listSessions,
  peek,
  restartAgentSession,
  startAgentSession,
  statusOf,
  stopAgentSession,
  type SessionStatus,
  AgentNotReadyError,
  type StartResult,
  type TownContext,
} from '../work/sessions.js';
import { globals, resolveActor, type GlobalOptions } from './bd/context.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;

/** The executable gt: $GT_BIN when set (packagers), else the script this process runs. */
export function gtBinPath(io: Io): string {
  const given = io.env.GT_BIN;
  if (given !== undefined && given !== '') return given;
  const script = process.argv[1] ?? 'gt';
  try {
    return realpathSync(script);
  } catch {
    return script;
  }
}

/** Everything the library needs to act in a town, for one command (the caller owns and closes `store`). */
export function townContext(
  io: Io,
  town: Town,
  store: TownStore,
  actor: string,
  progress?: (line: string) => void,
): TownContext & { store: TownStore; provider: TmuxSessionProvider } {
  const bin = gtBinPath(io);
  return {
    town,
    settings: loadSettings(town),
    store,
    provider: new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux')),
    env: io.env,
    gtCommand: [process.execPath, bin],
    gtBin: bin,
    actor,
    now: () => Date.now(),
    ...(progress !== undefined ? { progress } : {}),
    spawnGt: (args) =>
      spawnDetached(process.execPath, [bin, ...args], { cwd: town.root, env: { ...io.env, GT_TOWN_ROOT: town.root } }),
  };
}

/**
 * Who acts for a gt command: the resolved actor (--actor, BD_ACTOR, …), except in a patrol agent's session,
 * which always acts as itself (GT_ROLE), so that its guardrails hold whatever flags it passes.
 */
export async function gtActor(io: Io, g: GlobalOptions): Promise<string> {
  return actingActor(await resolveActor(io, g), io.env.GT_ROLE);
}

export async function withTown<T>(
  io: Io,
  cmd: Command,
  fn: (ctx: TownContext & { store: TownStore }) => Promise<T>,
): Promise<T> {
  const g = globals(cmd);
  const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
  const store = openTownStore(town.dbPath);
  try {
    return await fn(
      townContext(io, town, store, await gtActor(io, g), g.json ? undefined : (line) => io.err(`  ${line}\n`)),
    );
  } finally {
    store.dispose();
  }
}

export function positiveInt(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' || typeof value === 'number' ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0)
    throw new ValidationError(
      `${flag} must be a whole number, got "${typeof value === 'string' ? value : typeof value}"`,
    );
  return n;
}

function renderStart(r: StartResult): string {
  const replaced =
    r.replaced !== null ? `  (ended the previous session ${r.replaced.session_id}: ${r.replaced.reason})\n` : '';
  const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  if (r.ready === null)
    return `Launched ${r.address} in session ${r.session} (${r.agent}); not waited for: "gt session status ${r.address}" tells whether it is up\n${replaced}`;
  if (r.ready.ready)
    return `✓ Started ${r.address} in session ${r.session} (${r.agent}), ready in ${secs(r.ready.waitedMs)}\n${replaced}`;
  return `${r.address}'s session ${r.session} (${r.agent}) is up, but its agent was not ready after ${secs(r.ready.waitedMs)} (${r.ready.state})\n${replaced}`;
}

/** Prints a start's result, then fails the command if its agent never became ready. */
export function reportStart(io: Io, cmd: Command, r: StartResult): void {
  if (globals(cmd).json) printJson(io, r);
  else io.out(renderStart(r));
  if (r.ready !== null && !r.ready.ready) throw new AgentNotReadyError(r.address, r.ready.state);
}

/** A session with its agent's observed state: the same states, derived the same way, as gt status and gt agents. */
export type SessionRow = SessionStatus & { state: DerivedState; question: string | null };

export async function withStates(
  ctx: TownContext & { store: TownStore },
  sessions: readonly SessionStatus[],
): Promise<SessionRow[]> {
  const views = new Map((await observeAgents(ctx)).map((v) => [v.address, v]));
  return sessions.map((s) => ({
    ...s,
    state: views.get(s.address)?.state ?? 'stopped',
    question: views.get(s.address)?.question ?? null,
  }));
}

export function renderSessionRow(s: SessionRow): string {
  return `${s.address.padEnd(28)} ${s.session.padEnd(18)} ${s.agent.padEnd(8)} ${s.state.padEnd(14)} ${s.hook_bead ?? '-'}${s.question === null ? '' : `  (${sanitize(s.question)})`}`;
}

export function registerAgentCommands(program: Command, io: Io): void {
  const session = program
    .command('session')
    .description("agents' tmux sessions, by address (mayor, <rig>/witness, <rig>/polecats/<name>)");
  session
    .command('start')
    .description("start an agent's session in its sandbox and wait until its CLI is ready")
    .argument('<address>')
    .option('--agent <name>', 'agent CLI to run (a preset or a custom agent); remembered for this agent')
    .option('--no-wait', 'return once the session exists')
    .option('--timeout <seconds>', 'how long to wait for readiness')
    .option(
      '--resume',
      "continue the agent CLI's previous session (its id is in the sessions chain) instead of a fresh one",
    )
    .action((address: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await startAgentSession(ctx, address, {
          agent: typeof o.agent === 'string' ? o.agent : undefined,
          resume: o.resume === true,
          wait: o.wait !== false,
          readyTimeoutMs: o.timeout === undefined ? undefined : positiveInt(o.timeout, '--timeout', 0) * 1000,
        });
        reportStart(io, cmd, r);
      }),
    );
  session
    .command('stop')
    .description("end an agent's session and every process in it")
    .argument('<address>')
    .action((address: string, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await stopAgentSession(ctx, address);
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            r.was_running
              ? `✓ Stopped ${address} (${r.session})\n`
              : `${address} had no session running${r.ended !== null ? '; closed its stale record' : ''}\n`,
          );
      }),
    );
  session
    .command('restart')
    .description("stop an agent's session and start a fresh one in the same sandbox")
    .argument('<address>')
    .option('--agent <name>', 'agent CLI to run')
    .option('--resume', "continue the agent CLI's previous conversation instead of a fresh one")
    .option('--handoff', 'the agent asked for it (gt handoff): recorded as a handoff, the new session told so')
    .option('--after <ms>', 'wait this long first (used by gt handoff, which runs inside the session it restarts)')
    .action((address: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const after = positiveInt(o.after, '--after', 0);
        if (after > 0) await new Promise((r) => setTimeout(r, after));
        const r = await restartAgentSession(ctx, address, {
          agent: typeof o.agent === 'string' ? o.agent : undefined,
          resume: o.resume === true,
          ...(o.handoff === true ? { endReason: 'handoff' as const, topic: 'handoff', sender: address } : {}),
        });
        reportStart(io, cmd, r);
      }),
    );
  session
    .command('status')
    .description("whether an agent's session and agent program are alive, and what its pane shows")
    .argument('<address>')
    .action((address: string, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const [s] = await withStates(ctx, [await statusOf(ctx, address)]);
        if (s === undefined) return;
        if (globals(cmd).json) printJson(io, s);
        else
          io.out(
            `${renderSessionRow(s)}\n` +
              (s.session_id === null
                ? ''
                : `  session ${s.session_id} since ${s.started_at ?? '?'}` +
                  `${s.runtime_session_id !== null ? `, agent session ${s.runtime_session_id}` : ''}\n`),
          );
      }),
    );
  session
    .command('list')
    .description("the town's running sessions")
    .option('--all', 'every agent, running or not')
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const found = await listSessions(ctx, o.all === true);
        const list = { ...found, sessions: await withStates(ctx, found.sessions) };
        if (globals(cmd).json) {
          printJson(io, list);
          return;
        }
        if (list.sessions.length === 0)
          io.out(`No sessions running${o.all === true ? '' : ' (--all lists every agent)'}.\n`);
        else
          io.out(
            `${'ADDRESS'.padEnd(28)} ${'SESSION'.padEnd(18)} ${'AGENT'.padEnd(8)} ${'STATE'.padEnd(14)} HOOK\n${list.sessions.map((s) => `${renderSessionRow(s)}\n`).join('')}`,
          );
        if (list.strays.length > 0)
          io.out(`Sessions on the town's server that belong to no agent: ${list.strays.join(', ')}\n`);
      }),
    );

  session
    .command('attach')
    .description(
      "watch (or type into) an agent's session from your terminal; detach with Ctrl-b d, the agent keeps running",
    )
    .argument('<address>')
    .option('-r, --read-only', 'watch only: keys you press do not reach the agent')
    .action((address: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await attachAgent(ctx, address, {
          readOnly: o.readOnly === true,
          before: (name) => {
            if (!io.stdinIsTTY || !io.stdoutIsTTY)
              throw new UsageError('gt session attach needs a terminal', {
                hint: `read the pane without one: "gt peek ${address}"`,
              });
            io.err(
              `Attaching to ${address} (session ${name} on the town's tmux server ${ctx.town.tmuxSocket}); detach with Ctrl-b d.\n`,
            );
          },
        });
        if (globals(cmd).json) printJson(io, r);
      }),
    );

  program
    .command('peek')
    .description("the last lines of an agent's pane")
    .argument('<address>')
    .option('-n, --lines <n>', 'how many lines', '30')
    .action((address: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await peek(ctx, address, positiveInt(o.lines, '--lines', 30));
        if (globals(cmd).json) printJson(io, r);
        else io.out(`${r.text}\n`);
      }),
    );

  program
    .command('nudge')
    .description("type a message into an agent's session; queued for its next turn if it is busy or not running")
    .argument('<address>')
    .argument('[message...]', 'the message (or --stdin)')
    .option('--stdin', 'read the message from standard input')
    .option('--from <sender>', 'who it is from (default: your actor)')
    .option(
      '--mode <mode>',
      `${NUDGE_MODES.join(' | ')}: wait briefly for idle then queue; always queue; type even if busy`,
      'wait-idle',
    )
    .option('--urgent', 'queued ahead of other nudges and flagged')
    .option('--wait <seconds>', 'how long wait-idle (and --flush) waits', '10')
    .option(
      '--flush',
      "type the agent's queued nudges into its session once it is idle (for agent CLIs without turn hooks)",
    )
    .option('--delay <ms>', '--flush: wait this long before the first try')
    .action((address: string, words: string[], o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        if (o.flush === true) {
          if (words.length > 0 || o.stdin === true)
            throw new UsageError('--flush sends what is queued; give no message');
          const delay = positiveInt(o.delay, '--delay', 0);
          if (delay > 0) await new Promise((r) => setTimeout(r, delay));
          const r = await flushQueuedNudges(ctx, address, positiveInt(o.wait, '--wait', 10) * 1000);
          if (globals(cmd).json) printJson(io, r);
          else
            io.out(
              r.outcome === 'delivered'
                ? `✓ Delivered ${r.delivered} queued nudge(s) to ${address}\n`
                : `Nothing delivered to ${address} (${r.outcome})\n`,
            );
          return;
        }
        const mode = typeof o.mode === 'string' ? o.mode : 'wait-idle';
        if (!isNudgeMode(mode))
          throw new UsageError(`unknown --mode "${mode}"`, { hint: `use one of ${NUDGE_MODES.join(', ')}` });
        const message = o.stdin === true ? io.readStdin() : words.join(' ');
        const r = await nudgeAgent(ctx, {
          to: address,
          from: typeof o.from === 'string' ? o.from : ctx.actor,
          message,
          mode,
          urgent: o.urgent === true,
          waitIdleMs: positiveInt(o.wait, '--wait', 10) * 1000,
        });
        if (globals(cmd).json) printJson(io, r);
        else if (r.result === 'delivered')
          io.out(`✓ Nudged ${address}${r.verified ? '' : ' (could not confirm on screen)'}\n`);
        else if (r.reason === 'question')
          io.out(
            `✓ Queued for ${address}: it waits at a question, which gt never answers (see it with gt peek ${address}); delivered once it goes on\n`,
          );
        else io.out(`✓ Queued for ${address} (${r.reason ?? ''}): delivered at its next turn\n`);
      }),
    );

  program
    .command('prime')
    .description('who you are, where you work and what is on your hook (agent CLIs run it from their start-up hook)')
    .option(
      '--hook',
      "called by an agent CLI's hook: read its JSON from stdin, record its session id, stay quiet outside a town",
    )
    .action(async (o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const hook = o.hook === true;
      const input = hook && !io.stdinIsTTY ? parseHookInput(io.readStdin()) : {};
      let town: Town;
      try {
        town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      } catch (err) {
        if (hook) return; // a hook outside any town says nothing
        throw err;
      }
      let store: TownStore | undefined;
      try {
        store = openTownStore(town.dbPath);
        const agent = await whoAmI(store, io.env, io.cwd);
        const runtimeSessionId = io.env.CLAUDE_CODE_SESSION_ID ?? io.env.GT_SIM_SESSION_ID;
        const report = await prime(store, town, agent, {
          hook,
          input,
          runtimeSessionId,
          ...(io.env.GT_AGENT !== undefined ? { runtime: io.env.GT_AGENT } : {}),
          actor: agent.address,
        });
        // A patrol agent runs by its formula (the town's or rig's own, else the shipped one), after what prime says.
        const formula =
          agent.role === 'witness' || agent.role === 'deacon' || agent.role === 'boot'
            ? patrolFormula(
                agent.role,
                { address: agent.address, ...(agent.rig === null ? {} : { rig: agent.rig }) },
                { town: town.root, ...(agent.rig === null ? {} : { rig: agent.rig }) },
              )
            : null;
        // The Mayor reads the town at a glance and how it works, every session: it keeps nothing in memory.
        const briefing =
          agent.role === 'mayor' ? await mayorBriefing(townContext(io, town, store, agent.address)) : null;
        const after = formula ?? briefing?.text ?? null;
        if (g.json) printJson(io, { ...report, patrol_formula: formula, glance: briefing?.glance ?? null });
        else io.out(after === null ? report.text : `${report.text}\n${after.trimEnd()}\n`);
      } catch (err) {
        // A start-up hook must never stop the agent: say what went wrong, in words it can act on.
        if (!hook) throw err;
        io.out(
          `[GAS TOWN] prime could not finish: ${errorMessage(err)}\nRun \`gt prime\` yourself to see your role and your hook; do not run \`gt done\` until it works.\n`,
        );
      } finally {
        store?.dispose();
      }
    });

  const agent = program
    .command('agent')
    .description('programs and hooks that run inside agent sessions; bringing a stuck agent back');
  agent
    .command('revive')
    .description(
      'bring a stuck (quarantined) agent back once its cause is fixed: state idle, its quarantine escalations closed; the daemon restarts it if work is on its hook',
    )
    .argument('<address>', 'the full address, e.g. gastown/polecats/toast')
    .action((address: string, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const r = await reviveAgent(ctx, address, ctx.actor);
        if (globals(cmd).json) printJson(io, r);
        else
          io.out(
            `✓ Revived ${address}` +
              (r.closed_escalations.length > 0 ? ` (closed ${r.closed_escalations.join(', ')})` : '') +
              (r.hook !== null
                ? `; ${r.hook} is on its hook: the daemon restarts it, or "gt session start ${address}"`
                : '') +
              '\n',
          );
      }),
    );
  agent
    .command('sim')
    .description('the scripted agent: a stand-in for an agent CLI (not AI) for demos and tests')
    .argument('[prompt...]', 'the first prompt (the beacon)')
    .option('--dialogs <list>', `start-up dialogs to show first (${SIM_DIALOGS.join(',')})`, '')
    .option('--slow-start <ms>', 'wait this long before showing anything more', '0')
    .option('--busy <ms>', 'stay busy this long on every turn', '0')
    .option('--crash-at <step>', `exit with status 70 at a step (${SIM_STEPS.join(', ')})`)
    .option('--hang-at <step>', 'stop responding at a step')
    .option('--hang-at-mol-step <id>', 'stop responding when the molecule on its hook reaches this step')
    .option('--ask-at <step>', 'ask a permission question at a step and wait for an answer (1 or Enter: yes; 2: no)')
    .option('--limit-at <step>', 'show a usage-limit screen at a step (resets in an hour) and wait there')
    .option('--ignore-nudges', 'act on the first prompt only')
    .option('--dirty-exit', 'exit after running the script, without committing')
    .option('--trace <file>', 'JSONL trace (default: <town>/.runtime/sim/<session>.jsonl)')
    .action(async (words: string[], o: Opts) => {
      const step = (v: unknown, flag: string): (typeof SIM_STEPS)[number] | undefined => {
        if (v === undefined) return undefined;
        if (typeof v !== 'string' || !isSimStep(v))
          throw new UsageError(`${flag} must be one of ${SIM_STEPS.join(', ')}`);
        return v;
      };
      const dialogs: SimDialog[] = [];
      for (const d of String(o.dialogs)
        .split(',')
        .filter((x) => x !== '')) {
        if (!isSimDialog(d)) throw new UsageError(`unknown dialog "${d}"`, { hint: `use ${SIM_DIALOGS.join(', ')}` });
        dialogs.push(d);
      }
      const sim = new SimAgent(
        {
          prompt: words.length > 0 ? words.join(' ') : undefined,
          dialogs,
          slowStartMs: positiveInt(o.slowStart, '--slow-start', 0),
          busyMs: positiveInt(o.busy, '--busy', 0),
          crashAt: step(o.crashAt, '--crash-at'),
          hangAt: step(o.hangAt, '--hang-at'),
          ...(typeof o.hangAtMolStep === 'string' ? { hangAtMolStep: o.hangAtMolStep } : {}),
          askAt: step(o.askAt, '--ask-at'),
          limitAt: step(o.limitAt, '--limit-at'),
          ignoreNudges: o.ignoreNudges === true,
          dirtyExit: o.dirtyExit === true,
          trace: typeof o.trace === 'string' ? o.trace : undefined,
        },
        io.env,
        io.cwd,
      );
      await sim.run();
      // The sim lives until its input ends or it is told to exit.
      await new Promise<never>(() => undefined);
    });
  agent
    .command('hook')
    .description(
      'hooks of agent CLIs. stop: queued nudges keep it going, a polecat with open work is reminded of gt done. ' +
        'guard (before a shell command of a patrol agent): git that merges, pushes, deletes branches, removes ' +
        'worktrees or discards changes, and recursive rm, are blocked with exit code 2. The prompt-submit hook ' +
        'is "gt mail check --inject"',
    )
    .argument('<event>', 'stop | guard | notify')
    .option('--remind-done', 'remind a polecat with open hooked work to finish with gt done')
    .action(async (event: string, o: Opts) => {
      if (event === 'guard') {
        guardHook(io);
        return;
      }
      if (event === 'notify') {
        // The agent CLI says it waits for someone (a permission question, a limit): the daemon looks now,
        // instead of at its next tick. Quiet, and never fails the agent.
        if (!io.stdinIsTTY) io.readStdin();
        try {
          const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
          await new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux')).signalChange();
        } catch (err) {
          io.err(`gt agent hook notify: ${errorMessage(err)}\n`);
        }
        return;
      }
      if (event !== 'stop')
        throw new UsageError(`unknown hook event "${event}"`, {
          hint: 'use stop, guard or notify; for prompt-submit run "gt mail check --inject"',
        });
      const input = io.stdinIsTTY ? {} : parseHookInput(io.readStdin());
      // A hook must never break the agent's turn: problems go to stderr, the exit stays 0.
      try {
        const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
        const store = openTownStore(town.dbPath);
        try {
          const out = await onStop(store, await whoAmI(store, io.env, io.cwd), {
            stopHookActive: input.stop_hook_active === true,
            remindDone: o.remindDone === true,
          });
          if (out !== '') io.out(`${out}\n`);
        } finally {
          store.dispose();
        }
      } catch (err) {
        io.err(`gt agent hook ${event}: ${errorMessage(err)}\n`);
      }
    });

  registerConfigCommands(program, io);
}

/**
 * `gt agent hook guard`: the PreToolUse hook of a patrol agent's shell tool. The agent CLI gives the tool call
 * as JSON on stdin (`tool_input.command`); a command patrol agents may not run by hand is refused with exit
 * code 2 and the reason on stderr, which the CLI shows the agent instead of running it. Only patrol sessions
 * (GT_ROLE or BD_ACTOR a witness, the deacon or boot) are held; in them, input that cannot be read is refused
 * too, since a guard that fails open guards nothing. The commands' own refusals are the first line of defence.
 */
function guardHook(io: Io): void {
  const who: GuardedRole | null =
    isPatrolActor(io.env.GT_ROLE) || isPatrolActor(io.env.BD_ACTOR)
      ? 'patrol'
      : io.env.GT_ROLE === 'mayor'
        ? 'mayor'
        : null;
  if (who === null) return;
  const unreadable = (why: string): ValidationError =>
    new ValidationError(`gt agent hook guard could not check this command (${why}), so it is not run`, {
      hint: 'run it through a gt command, or escalate with gt escalate',
    });
  let input: unknown;
  try {
    input = JSON.parse(io.stdinIsTTY ? '' : io.readStdin());
  } catch (err) {
    throw unreadable(`the hook's input is not JSON: ${errorMessage(err)}`);
  }
  if (!isRecord(input)) throw unreadable("the hook's input is not a JSON object");
  const tool = input.tool_name;
  const command = isRecord(input.tool_input) ? input.tool_input.command : undefined;
  if (typeof command !== 'string') {
    if (typeof tool === 'string' && tool !== 'Bash') return; // not a shell command: nothing here to check
    throw unreadable('no tool_input.command');
  }
  const refused = shellRefusal(command, who);
  if (refused !== null) throw refusalError(shellRefusalText(refused, who)); // exit code 2
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function registerConfigCommands(program: Command, io: Io): void {
  const config = program.command('config').description("the town's settings: which agent CLI runs which role");
  const agents = config.command('agent').description('agent CLIs: built-in presets and custom agents');
  agents
    .command('set')
    .description('define (or redefine) a custom agent: a command on top of a preset')
    .argument('<name>')
    .requiredOption('--command <cmd>', 'the executable (looked up on PATH)')
    .option(
      '--preset <preset>',
      'built-in preset it behaves like (prompt delivery, hooks, readiness); default: its own name, else claude',
    )
    .option(
      '--arg <arg>',
      "an argument after the preset's own (its autonomy flags); repeatable, in order",
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .option('--replace-args', "drop the preset's arguments (autonomy flags included): --arg gives the whole list")
    .option(
      '--env <K=V>',
      'an environment variable (repeatable; do not put secrets here: they pass through from your environment)',
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .action((name: string, o: Opts, cmd: Command) => {
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const settings = loadSettings(town);
      const env: Record<string, string> = {};
      for (const pair of stringList(o.env)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new ValidationError(`--env expects K=V, got "${pair}"`);
        env[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const preset = typeof o.preset === 'string' ? o.preset : Object.hasOwn(PRESETS, name) ? undefined : 'claude';
      const entry: AgentPreset = {
        ...(preset === undefined ? {} : { preset }),
        command: String(o.command),
        args: stringList(o.arg),
        ...(o.replaceArgs === true ? { replace_args: true } : {}),
        env,
      };
      const next = { ...settings, agents: { ...settings.agents, [name]: entry } };
      const resolved = resolveAgent(next, 'polecat', name); // the preset must exist
      saveSettings(town, next);
      const argv = [entry.command, ...resolved.preset.args];
      if (globals(cmd).json) printJson(io, { name, ...entry, argv });
      else io.out(`✓ Agent "${name}": ${sanitize(argv.join(' '))} (like ${entry.preset ?? name})\n`);
    });
  agents
    .command('list')
    .description('built-in presets and custom agents, with the default and per-role choices')
    .action((_o: Opts, cmd: Command) => {
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const settings = loadSettings(town);
      const rows = [
        ...Object.values(PRESETS).map((p) => ({
          name: p.name,
          kind: 'preset' as const,
          like: p.name,
          command: [p.command, ...p.args].join(' '),
        })),
        ...Object.entries(settings.agents).map(([n, a]) => ({
          name: n,
          kind: 'custom' as const,
          like: a.preset ?? n,
          command: [a.command, ...resolveAgent(settings, 'polecat', n).preset.args].join(' '),
        })),
      ];
      const roles = Object.fromEntries(ROLES.map((r) => [r, settings.role_agents[r] ?? settings.default_agent]));
      if (globals(cmd).json) {
        printJson(io, { default_agent: settings.default_agent, role_agents: roles, agents: rows });
        return;
      }
      for (const r of rows)
        io.out(
          `${r.name === settings.default_agent ? '*' : ' '} ${r.name.padEnd(12)} ${r.kind.padEnd(7)} ${sanitize(r.command)}${r.kind === 'custom' ? `  (like ${r.like})` : ''}\n`,
        );
      const overrides = Object.entries(settings.role_agents);
      io.out(
        `Default: ${settings.default_agent}${overrides.length > 0 ? `; per role: ${overrides.map(([r, a]) => `${r}=${a ?? ''}`).join(', ')}` : ''}\n`,
      );
    });
  agents
    .command('remove')
    .description('remove a custom agent (not while it is the default or a role uses it)')
    .argument('<name>')
    .action((name: string, _o: Opts, cmd: Command) => {
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const settings = loadSettings(town);
      if (!Object.hasOwn(settings.agents, name))
        throw new ValidationError(`no custom agent "${name}"`, { hint: 'see "gt config agent list"' });
      const users = [
        settings.default_agent === name ? 'the default' : '',
        ...Object.entries(settings.role_agents)
          .filter(([, a]) => a === name)
          .map(([r]) => r),
      ].filter((x) => x !== '');
      if (users.length > 0)
        throw new ValidationError(`"${name}" is in use by ${users.join(', ')}`, {
          hint: 'choose another agent for them first',
        });
      const rest = Object.fromEntries(Object.entries(settings.agents).filter(([n]) => n !== name));
      saveSettings(town, { ...settings, agents: rest });
      if (globals(cmd).json) printJson(io, { removed: name });
      else io.out(`✓ Removed agent "${name}"\n`);
    });
  config
    .command('default-agent')
    .description('show or set the agent CLI roles use unless overridden')
    .argument('[name]')
    .action((name: string | undefined, _o: Opts, cmd: Command) => {
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const settings = loadSettings(town);
      if (name !== undefined) {
        const next = { ...settings, default_agent: name };
        resolveAgent(next, 'polecat'); // refuses an unknown agent
        saveSettings(town, next);
      }
      const current = name ?? settings.default_agent;
      if (globals(cmd).json) printJson(io, { default_agent: current });
      else io.out(name === undefined ? `${current}\n` : `✓ Default agent: ${current}\n`);
    });
  config
    .command('role-agent')
    .description('show or set the agent CLI for one role (--clear: back to the default)')
    .argument('<role>')
    .argument('[name]')
    .option('--clear', 'remove the override')
    .action((role: string, name: string | undefined, o: Opts, cmd: Command) => {
      if (!isRole(role)) throw new ValidationError(`unknown role "${role}"`, { hint: `roles: ${ROLES.join(', ')}` });
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const settings = loadSettings(town);
      const roleAgents = { ...settings.role_agents };
      if (o.clear === true) delete roleAgents[role];
      else if (name !== undefined) roleAgents[role] = name;
      const next = { ...settings, role_agents: roleAgents };
      resolveAgent(next, role);
      if (o.clear === true || name !== undefined) saveSettings(town, next);
      const current = next.role_agents[role] ?? next.default_agent;
      if (globals(cmd).json) printJson(io, { role, agent: current, override: next.role_agents[role] !== undefined });
      else io.out(`${role}: ${current}${next.role_agents[role] === undefined ? ' (the default)' : ''}\n`);
    });
}
