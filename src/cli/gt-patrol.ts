import type { Command } from 'commander';
import { NoTownError, UsageError } from '../core/errors.js';
import { defaultTownSettings, type TownSettings } from '../core/settings.js';
import { patrolEval, type EvalCaseResult, type EvalReport } from '../patrol/eval.js';
import { isPatrolRole, PATROL_ROLES, type PatrolRole } from '../patrol/formulas.js';
import { registerProblemCommands } from './gt-patrol-problems.js';
import { findTown, loadSettings } from '../town/town.js';
import { globals } from './bd/context.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;

/**
 * `gt patrol`: the patrol's commands. The `patrol` command is made here, once; each part of the patrol adds
 * its subcommands to it with its own register function.
 */
export function registerPatrolCommands(program: Command, io: Io): Command {
  const patrol = program
    .command('patrol')
    .description('the patrol: problems the daemon found, the patrol agents’ decisions, and the eval of their judgment');
  registerProblemCommands(patrol, io);
  registerPatrolEval(patrol, io);
  return patrol;
}

/** The settings of the town around here, or the defaults outside any town (the eval needs no town). */
function settingsHere(io: Io): TownSettings {
  try {
    return loadSettings(findTown({ cwd: io.cwd, envRoot: io.env.GT_TOWN_ROOT }));
  } catch (err) {
    if (err instanceof NoTownError) return defaultTownSettings();
    throw err;
  }
}

const COLUMNS = `${'CASE'.padEnd(34)} ${'ROLE'.padEnd(7)} ${'KIND'.padEnd(19)} ${'EXPECTED'.padEnd(22)} ${'GOT'.padEnd(9)} ${'PASS'.padEnd(7)} ${'TOKENS IN/OUT'.padStart(13)} ${'MS'.padStart(7)} ${'COST'.padStart(8)}`;

function caseRow(r: EvalCaseResult): string {
  const verdict = r.pass ? 'pass' : r.harmful ? 'HARMFUL' : 'FAIL';
  const row =
    `${r.id.padEnd(34)} ${r.role.padEnd(7)} ${r.kind.padEnd(19)} ${r.expected.join('|').padEnd(22)} ` +
    `${sanitize(r.got ?? '-').padEnd(9)} ${verdict.padEnd(7)} ${`${r.tokens_in}/${r.tokens_out}`.padStart(13)} ` +
    `${String(r.ms).padStart(7)} ${usd(r.cost_usd).padStart(8)}`;
  return r.error === null ? row : `${row}\n    ${sanitize(r.error)}`;
}

function usd(n: number): string {
  return `$${n.toFixed(4)}`;
}

function summary(r: EvalReport): string {
  const agents = [...new Set(r.cases.map((c) => (c.model === null ? c.agent : `${c.agent} (${c.model})`)))];
  return [
    `Passed ${r.passed}/${r.total} (${(r.pass_rate * 100).toFixed(1)}%)${r.harmful > 0 ? `, ${r.harmful} harmful` : ''} with ${agents.join(', ')}`,
    `Tokens ${r.tokens_in} in, ${r.tokens_out} out; ${(r.ms / 1000).toFixed(1)} s; ${usd(r.cost_usd)}`,
  ].join('\n');
}

/** `gt patrol eval`: the patrol eval's cases run against an agent CLI and model. */
export function registerPatrolEval(patrol: Command, io: Io): void {
  patrol
    .command('eval')
    .description(
      "judge the eval's situations with an agent CLI and model, one by one: pass rate, tokens, time and cost per case",
    )
    .option('--role <role>', `only the cases of one role (${PATROL_ROLES.join(', ')})`)
    .option(
      '--agent <name>',
      "the agent to ask (claude, a custom agent on the claude preset, or sim); default: each role's agent",
    )
    .option('--model <model>', 'the model the agent CLI uses (claude --model)')
    .option(
      '--case <id>',
      'only this case (repeat, or separate with commas)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), ...v.split(',').filter((s) => s !== '')],
    )
    .action(async (o: Opts, cmd: Command) => {
      const json = globals(cmd).json;
      let role: PatrolRole | undefined;
      if (typeof o.role === 'string') {
        if (!isPatrolRole(o.role))
          throw new UsageError(`unknown role "${o.role}"`, { hint: `use one of ${PATROL_ROLES.join(', ')}` });
        role = o.role;
      }
      const ids = Array.isArray(o.case) ? o.case.filter((x): x is string => typeof x === 'string') : undefined;
      let printedHead = false;
      const report = await patrolEval(settingsHere(io), {
        ...(role === undefined ? {} : { role }),
        ...(ids === undefined ? {} : { ids }),
        ...(typeof o.agent === 'string' ? { agent: o.agent } : {}),
        ...(typeof o.model === 'string' ? { model: o.model } : {}),
        env: io.env,
        now: () => Date.now(),
        onCase: (r) => {
          if (json) return;
          if (!printedHead) io.out(`${COLUMNS}\n`);
          printedHead = true;
          io.out(`${caseRow(r)}\n`);
        },
      });
      if (json) printJson(io, report);
      else io.out(`${summary(report)}\n`);
    });
}
