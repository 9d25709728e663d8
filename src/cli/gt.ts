import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError, ValidationError } from '../core/errors.js';
import { parseAddress } from '../core/identity.js';
import { formatTimestamp } from '../core/time.js';
import { gitConfig } from '../git/git.js';
import { openTownStore } from '../store/open.js';
import { addCrew } from '../town/crew.js';
import { addPolecat, removePolecat } from '../town/polecat.js';
import { addRig } from '../town/rig.js';
import { removeRig } from '../town/rig-remove.js';
import { findTown, installTown, loadSettings } from '../town/town.js';
import { globals } from './bd/context.js';
import { gtActor, registerAgentCommands, withTown } from './gt-agents.js';
import { registerDemoCommand } from './demo.js';
import { registerDaemonCommands, registerUpDownCommands } from './gt-daemon.js';
import { registerStatusCommands, renderPolecats } from './gt-status.js';
import { observeAgents } from '../observe/snapshot.js';
import { registerMailCommands } from './gt-mail.js';
import { registerHandoffCommand, registerSeanceCommand, registerWorkCommands } from './gt-work.js';
import { registerMqCommands } from './gt-mq.js';
import { registerFormulaCommands } from './gt-formula.js';
import { registerPatrolCommands } from './gt-patrol.js';
import { registerSchedulerCommands } from './gt-scheduler.js';
import { registerEscalateCommands } from './gt-escalate.js';
import { registerConvoyCommands } from './gt-convoy.js';
import { registerDashboardCommand } from './gt-dashboard.js';
import { registerMayorCommands } from './gt-mayor.js';
import { registerCostsCommand } from './gt-costs.js';
import { registerFeedCommand } from './gt-feed.js';
import { printJson, sanitize, type Io } from './io.js';
import { agentCliChecks, renderAgentChecks, renderNextSteps } from './next-steps.js';
import type { Role } from '../core/identity.js';
import { createProgram, runProgram } from './program.js';
import { VERSION } from './version.js';

type Opts = Record<string, unknown>;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

async function ownerEmail(io: Io, given: unknown): Promise<string> {
  if (typeof given === 'string') {
    if (!EMAIL.test(given)) throw new ValidationError(`invalid owner email "${given}"`);
    return given;
  }
  const fromGit = await gitConfig(io.cwd, 'user.email');
  if (fromGit !== undefined && EMAIL.test(fromGit)) return fromGit;
  let user = 'owner';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: keep the placeholder
  }
  return `${user}@localhost`;
}

/** The roles whose agent CLI a new town, and a new rig, will launch. */
const TOWN_ROLES: readonly Role[] = ['mayor', 'deacon'];
const RIG_ROLES: readonly Role[] = ['witness', 'refinery', 'polecat'];

/** A polecat named by its full address (`<rig>/polecats/<name>`, as every listing prints it) or `<rig>/<name>`. */
function polecatTarget(text: string): { rig: string; name: string } {
  const parts = text.replace(/\/+$/u, '').split('/');
  const isShort = parts.length === 2 && !['witness', 'refinery', 'boot'].includes(parts[1] ?? '');
  const short = isShort ? [parts[0] ?? '', 'polecats', parts[1] ?? ''].join('/') : text;
  const id = parseAddress(short);
  if (id.role !== 'polecat')
    throw new ValidationError(`${text} is not a polecat`, { hint: 'name one as <rig>/polecats/<name>' });
  return { rig: id.rig, name: id.name };
}

/** A crew member named by its address (`<rig>/crew/<name>`), or by a name and `--rig`. */
function crewTarget(text: string, rig: string | undefined): { rig: string; name: string } {
  if (!text.includes('/')) {
    if (rig === undefined)
      throw new UsageError('which rig?', {
        hint: `gt crew add ${text} --rig <rig>, or gt crew add <rig>/crew/${text}`,
      });
    return { rig, name: text };
  }
  const id = parseAddress(text);
  if (id.role !== 'crew')
    throw new ValidationError(`${text} is not a crew address`, { hint: 'name one as <rig>/crew/<name>' });
  if (rig !== undefined && rig !== id.rig)
    throw new UsageError(`--rig ${rig} does not match the address ${text}`, { hint: 'drop --rig' });
  return { rig: id.rig, name: id.name };
}

/** `gt`: the Gas Town workspace manager. */
export async function runGt(argv: readonly string[], io: Io): Promise<number> {
  const program = createProgram(
    'gt',
    'Gas Town: run 20-30 AI coding agents on shared git repositories',
    VERSION,
    io,
  ).option('--json', 'machine-readable output');

  program
    .command('install')
    .description('create a town in a directory (or finish an interrupted install); running it again changes nothing')
    .argument('[dir]', 'the town directory (default: here)', '.')
    .option('--name <name>', 'town name (default: the directory name)')
    .option('--owner <email>', "email for agents' git commits (default: git user.email)")
    .option('--git', 'make the town a git repository that tracks the ledger but not the database')
    .option('--force', 'build a town in a non-empty directory')
    .action(async (dir: string, o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const result = await installTown(resolve(io.cwd, dir), {
        name: typeof o.name === 'string' ? o.name : undefined,
        owner: await ownerEmail(io, o.owner),
        git: o.git === true,
        force: o.force === true,
        actor: await gtActor(io, g),
        nowIso: formatTimestamp(Date.now()),
      });
      const t = result.town;
      const agents = agentCliChecks(loadSettings(t), TOWN_ROLES, io.env.PATH);
      const steps: [string, string][] = [
        ...(resolve(io.cwd) === t.root
          ? []
          : [[`cd ${t.root}`, 'gt and bd find the town from any directory in it'] as [string, string]]),
        ['gt rig add <name> <git-url-or-path>', 'add a project for the agents to work on'],
        ['gt doctor', 'check tmux, git, the store and the agent CLIs'],
        ['gt up', 'start the daemon and the agents that keep the town running'],
        ['gt mayor attach', 'tell the Mayor what you want done (or: gt mail send mayor -s "<what>")'],
      ];
      if (g.json) {
        printJson(io, {
          root: t.root,
          name: t.name,
          owner: t.owner,
          created: result.created,
          changes: result.changes,
          tmux_socket: t.tmuxSocket,
          agents,
          next_steps: steps.map(([c]) => c),
        });
        return;
      }
      if (result.created) {
        io.out(
          `✓ Created town "${sanitize(t.name)}" in ${t.root}\n${result.changes.map((c) => `  + ${c}\n`).join('')}`,
        );
      } else if (result.changes.length > 0) {
        io.out(
          `✓ Completed town "${sanitize(t.name)}" in ${t.root}\n${result.changes.map((c) => `  + ${c}\n`).join('')}`,
        );
      } else {
        io.out(`${t.root} is already the town "${sanitize(t.name)}"; nothing to change.\n`);
      }
      io.out(`Agents:\n${renderAgentChecks(agents)}${renderNextSteps(steps)}`);
    });

  program
    .command('town')
    .description('the town around this directory: where it is, its tmux server, its agents and their states')
    .action((_o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const town = ctx.town;
        // The same observed states as gt status and gt agents, never the agents' own last word.
        const views = new Map((await observeAgents(ctx)).map((v) => [v.address, v]));
        const agents = (await ctx.store.agents({})).map((a) => ({
          ...a,
          state: views.get(a.address)?.state ?? 'stopped',
          question: views.get(a.address)?.question ?? null,
        }));
        if (globals(cmd).json) {
          printJson(io, {
            root: town.root,
            name: town.name,
            owner: town.owner,
            created_at: town.created_at,
            tmux_socket: town.tmuxSocket,
            default_agent: ctx.settings.default_agent,
            agents,
          });
          return;
        }
        io.out(
          [
            `Town:    ${sanitize(town.name)}`,
            `Root:    ${town.root}`,
            `Owner:   ${sanitize(town.owner)}`,
            `tmux:    tmux -L ${town.tmuxSocket}`,
            `Agents:  ${agents.map((a) => `${a.address} (${a.state}${a.question === null ? '' : `: ${sanitize(a.question)}`})`).join(', ')}`,
            '',
          ].join('\n'),
        );
      }),
    );

  const rig = program.command('rig').description("the town's projects");
  rig
    .command('add')
    .description('add a project: a shared clone, the refinery worktree, and its agents; all or nothing')
    .argument('<name>', 'rig name (letters, digits, "_", "-")')
    .argument('<repository>', 'git URL or path to clone')
    .option('--prefix <prefix>', 'bead prefix for its work (default: derived from the name)')
    .option('--branch <branch>', "the branch to land work on (default: the repository's default branch)")
    .action(async (name: string, repository: string, o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const result = await addRig(town, name, repository, {
        prefix: typeof o.prefix === 'string' ? o.prefix : undefined,
        branch: typeof o.branch === 'string' ? o.branch : undefined,
        actor: await gtActor(io, g),
      });
      const r = result.rig;
      const agents = agentCliChecks(loadSettings(town), RIG_ROLES, io.env.PATH);
      const steps: [string, string][] = [
        [
          `bd create "<what to do>" -d "<how>"`,
          `a bead of work (run inside ${r.name}/, it gets the prefix ${r.prefix}-)`,
        ],
        [`gt sling <bead> ${r.name}`, 'an idle or new polecat gets it on its hook and starts'],
        ['gt status', 'what every agent is doing'],
      ];
      if (g.json) {
        printJson(io, {
          ...r,
          created: result.created,
          imported: result.imported,
          agents,
          next_steps: steps.map(([c]) => c),
        });
        return;
      }
      if (!result.created) io.out(`Rig ${r.name} is already there (prefix ${r.prefix}); nothing to change.\n`);
      else {
        io.out(`✓ Added rig ${r.name} (prefix ${r.prefix}, branch ${sanitize(r.default_branch)}) in ${r.path}\n`);
        if (result.imported !== null) io.out(`  imported ${result.imported.created} beads from the project's ledger\n`);
      }
      io.out(`Agents:\n${renderAgentChecks(agents)}${renderNextSteps(steps)}`);
    });
  rig
    .command('list')
    .description("the town's rigs")
    .action(async (_o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const store = openTownStore(town.dbPath);
      try {
        const rigs = await store.rigs();
        if (g.json) printJson(io, rigs);
        else if (rigs.length === 0) io.out('No rigs yet: add one with "gt rig add <name> <repository>".\n');
        else
          for (const r of rigs)
            io.out(`${r.name}  prefix ${r.prefix}  branch ${sanitize(r.default_branch)}  ${sanitize(r.url)}\n`);
      } finally {
        store.dispose();
      }
    });
  rig
    .command('show')
    .description('one rig and its agents')
    .argument('<name>')
    .action(async (name: string, _o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const store = openTownStore(town.dbPath);
      try {
        const r = await store.rig(name);
        const agents = await store.agents({ rig: name });
        if (g.json) printJson(io, { ...r, agents });
        else {
          io.out(
            `${r.name}  prefix ${r.prefix}  branch ${sanitize(r.default_branch)}\n  from ${sanitize(r.url)}\n  in ${r.path}\n`,
          );
          for (const a of agents) io.out(`  ${a.address}  ${a.agent_state}  ${a.sandbox_path}\n`);
        }
      } finally {
        store.dispose();
      }
    });

  rig
    .command('remove')
    .description('remove a rig; refuses while any sandbox holds uncommitted, unpushed or unmerged work')
    .argument('<name>')
    .option('--force', 'remove the rig anyway, keeping the sandboxes that hold work on disk')
    .option('--discard-unmerged', 'delete those sandboxes too: their unpushed and unmerged work is lost')
    .action(async (name: string, o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const result = await removeRig(town, name, {
        force: o.force === true,
        discardUnmerged: o.discardUnmerged === true,
        actor: await gtActor(io, g),
      });
      if (g.json) printJson(io, result);
      else {
        io.out(`✓ Removed rig ${name}${result.deleted ? '' : ' (its directory stays: some sandboxes hold work)'}\n`);
        for (const k of result.kept) io.out(`  kept ${k.path}: ${sanitize(k.reason)}\n`);
        for (const d of result.discarded) io.out(`  discarded ${d.path}: ${sanitize(d.reason)}\n`);
      }
    });

  const polecat = program
    .command('polecat')
    .description('worker sandboxes: persistent names with their own worktree and branch');
  polecat
    .command('add')
    .description("make a polecat: a worktree on a fresh branch from the remote's default branch")
    .argument('<rig>', "the rig, or the new polecat's full address <rig>/polecats/<name>")
    .argument('[name]', 'a name (default: the first free name of the rig)')
    .option('--bead <id>', 'the bead it will work on (part of the branch name)')
    .action(async (rigArg: string, nameArg: string | undefined, o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const { rig: rigName, name } = rigArg.includes('/') ? polecatTarget(rigArg) : { rig: rigArg, name: nameArg };
      if (rigArg.includes('/') && nameArg !== undefined)
        throw new UsageError(`a polecat address names the polecat already; drop "${nameArg}"`, {
          hint: 'gt polecat add <rig> [name] or gt polecat add <rig>/polecats/<name>',
        });
      const agent = await addPolecat(town, rigName, {
        name,
        bead: typeof o.bead === 'string' ? o.bead : undefined,
        actor: await gtActor(io, g),
        ownerEmail: town.owner,
        nowMs: Date.now(),
      });
      if (g.json) printJson(io, agent);
      else io.out(`✓ Polecat ${agent.address} on ${sanitize(agent.branch ?? '')}\n  in ${agent.sandbox_path}\n`);
    });
  polecat
    .command('list')
    .description(
      'polecats with their observed state (working, stalled, dead-with-work, idle, stopped, zombie, stuck), hook and sandbox git state',
    )
    .argument('[rig]', 'one rig (default: every rig)')
    .action((rigName: string | undefined, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        if (rigName !== undefined) await ctx.store.rig(rigName);
        const list = (await observeAgents(ctx, { git: true })).filter(
          (a) => a.role === 'polecat' && (rigName === undefined || a.rig === rigName),
        );
        const rows = list.map((a) => ({ ...a, name: a.address.split('/').pop() ?? a.address }));
        if (globals(cmd).json) printJson(io, rows);
        else if (rows.length === 0)
          io.out(
            `No polecats${rigName === undefined ? '' : ` in ${rigName}`}: "gt sling <bead> <rig>" makes one when there is work, or "gt polecat add <rig>".\n`,
          );
        else io.out(renderPolecats(rows));
      }),
    );
  polecat
    .command('remove')
    .description(
      'remove a polecat; refuses if that would lose uncommitted, unpushed or (without --force) unmerged work',
    )
    .argument('<address>', 'the polecat: <rig>/polecats/<name> (or <rig>/<name>)')
    .option('--force', 'remove even though its pushed work is not merged yet (never uncommitted or unpushed work)')
    .action(async (target: string, o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const { rig: rigName, name } = polecatTarget(target);
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      await removePolecat(town, rigName, name, { force: o.force === true, actor: await gtActor(io, g) });
      if (g.json) printJson(io, { removed: `${rigName}/polecats/${name}` });
      else io.out(`✓ Removed polecat ${rigName}/polecats/${name}\n`);
    });

  program
    .command('crew')
    .description("humans' workspaces in a rig")
    .command('add')
    .description('a full clone of the project for a human, with bd reaching the town store')
    .argument('<name>', 'a name (with --rig), or the full address <rig>/crew/<name>')
    .option('--rig <rig>', 'the rig')
    .action(async (nameArg: string, o: Opts, cmd: Command) => {
      const g = globals(cmd);
      const town = findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT });
      const { rig: rigName, name } = crewTarget(nameArg, typeof o.rig === 'string' ? o.rig : undefined);
      const crew = await addCrew(town, rigName, name, await gtActor(io, g));
      if (g.json) printJson(io, crew);
      else io.out(`✓ Crew workspace ${crew.address}\n  in ${crew.sandbox_path}\n`);
    });

  registerAgentCommands(program, io);
  registerWorkCommands(program, io);
  registerFormulaCommands(program, io);
  registerMqCommands(program, io);
  registerPatrolCommands(program, io);
  registerSchedulerCommands(program, io);
  registerConvoyCommands(program, io);
  registerEscalateCommands(program, io);
  registerMayorCommands(program, io);
  registerMailCommands(program, io);
  registerHandoffCommand(program, io);
  registerSeanceCommand(program, io);
  registerStatusCommands(program, io);
  registerCostsCommand(program, io);
  registerFeedCommand(program, io);
  registerDaemonCommands(program, io);
  registerUpDownCommands(program, io);
  registerDemoCommand(program, io);
  registerDashboardCommand(program, io);

  return runProgram(program, argv, io);
}
