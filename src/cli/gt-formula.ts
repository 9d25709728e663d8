import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { parseVarArgs, resolveVars, substitute, varsUsed, type Formula } from '../core/formula.js';
import type { TownStore } from '../core/town-store.js';
import { parseSlingTarget } from '../core/target.js';
import { listFormulas, loadFormula, type FoundFormula } from '../work/formula.js';
import {
  attachFormula,
  attachMolecule,
  moleculeOf,
  rigOfBead,
  stepDone,
  type MoleculeStatus,
} from '../work/molecule.js';
import { whoAmI } from '../work/prime.js';
import { checkSling, sling, type SlingResult } from '../work/sling.js';
import type { TownContext } from '../work/sessions.js';
import { globals } from './bd/context.js';
import { withTown } from './gt-agents.js';
import { printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;
type Ctx = TownContext & { store: TownStore };

/** A repeatable option kept whole (a variable's value may hold commas). */
export function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function varArgs(o: Opts): Record<string, string> {
  return parseVarArgs(Array.isArray(o.var) ? o.var.filter((v): v is string => typeof v === 'string') : []);
}

/** The rig a sling target names (a rig, or an agent of one). */
function rigOfTarget(target: string | undefined): string | undefined {
  if (target === undefined) return undefined;
  const t = parseSlingTarget(target);
  return t.kind === 'rig' ? t.rig : 'rig' in t.identity ? t.identity.rig : undefined;
}

const MARK: Readonly<Record<string, string>> = { done: 'x', current: '>', ready: ' ', waiting: ' ' };

export function renderMolecule(s: MoleculeStatus): string {
  const lines = [`${s.bead}: molecule ${s.formula} v${s.version}, ${s.done} of ${s.total} steps done`];
  for (const st of s.steps)
    lines.push(
      `  [${MARK[st.status] ?? ' '}] ${st.id.padEnd(16)} ${st.bead.padEnd(14)} ${sanitize(st.title)}${st.status === 'waiting' ? ` (waits on ${st.needs.join(', ')})` : st.status === 'current' ? '  <- current' : ''}`,
    );
  if (s.current === null && s.done === s.total) lines.push('  every step is done');
  return `${lines.join('\n')}\n`;
}

function renderFormula(found: FoundFormula): string {
  const f = found.formula;
  const lines = [`${f.name} v${f.version} (${found.scope}: ${f.file})`];
  if (f.description.trim() !== '') lines.push('', sanitize(f.description.trim()));
  if (f.vars.length > 0) {
    lines.push('', 'Variables:');
    for (const v of f.vars)
      lines.push(
        `  ${v.name}${v.required ? ' (required)' : v.default !== null ? ` (default "${sanitize(v.default)}")` : ''}${v.description !== '' ? `: ${sanitize(v.description)}` : ''}`,
      );
  }
  lines.push('', 'Steps:');
  for (const [i, s] of f.steps.entries())
    lines.push(
      `  ${i + 1}. ${s.id}: ${sanitize(s.title)}${s.needs.length > 0 ? ` (needs ${s.needs.join(', ')})` : ''}`,
    );
  return `${lines.join('\n')}\n`;
}

function formulaJson(found: FoundFormula): Formula & { scope: string } {
  return { ...found.formula, scope: found.scope };
}

/**
 * `gt sling <formula> --on <bead> [--var k=v] [target]`: attaches the formula to the bead as a molecule and
 * says what to sling: the bead, to the target given or else to the bead's rig. A dry run only checks the
 * formula and its variables.
 */
export async function slingFormulaOn(
  ctx: Ctx,
  words: readonly string[],
  bead: string,
  o: Opts,
): Promise<{ beads: string[]; target: string }> {
  if (words.length < 1 || words.length > 2)
    throw new UsageError('with --on, gt sling takes the formula and at most a target', {
      hint: 'gt sling <formula> --on <bead> [--var name=value] [target]',
    });
  const [name = '', given] = words;
  const vars = varArgs(o);
  const rig = (await rigOfBead(ctx.store, bead)) ?? rigOfTarget(given);
  const target = given ?? rig;
  if (target === undefined)
    throw new UsageError(`${bead} is not a rig's bead: say where it goes`, {
      hint: `gt sling ${name} --on ${bead} <rig | agent address>`,
    });
  // A bad target or a closed bead is refused before the molecule is attached.
  await checkSling(ctx, [bead], target, { create: o.create === true });
  if (o.dryRun === true) {
    const { formula } = loadFormula(name, { town: ctx.town.root, ...(rig !== undefined ? { rig } : {}) });
    resolveVars(formula, vars, { bead });
  } else {
    const r = await attachFormula(ctx.store, ctx.town.root, bead, name, vars, ctx.actor, rig);
    ctx.progress?.(
      r.attached ? `${name} is attached to ${bead} (${r.status.total} steps)` : `${bead} already carries ${name}`,
    );
  }
  return { beads: [bead], target };
}

/** Refuses --var without --on (it would be ignored). */
export function checkFormulaOptions(o: Opts): void {
  if (typeof o.on !== 'string' && Array.isArray(o.var) && o.var.length > 0)
    throw new UsageError('--var goes with --on: gt sling <formula> --on <bead> --var name=value');
}

/** `gt formula …` and `gt mol …`. */
export function registerFormulaCommands(program: Command, io: Io): void {
  const formula = program
    .command('formula')
    .description(
      'formulas: plans of steps in <name>.formula.toml, found in <town>/<rig>/formulas, then <town>/formulas, then those shipped with gt',
    );
  formula
    .command('list')
    .description('the formulas that can be used (a name found in several places: the first)')
    .option('--rig <rig>', "look in this rig's formulas first")
    .action((o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        if (typeof o.rig === 'string') await ctx.store.rig(o.rig);
        const list = listFormulas({ town: ctx.town.root, ...(typeof o.rig === 'string' ? { rig: o.rig } : {}) });
        if (globals(cmd).json) printJson(io, list);
        else if (list.length === 0) io.out('No formulas found.\n');
        else
          io.out(
            list
              .map((f) =>
                f.error !== null
                  ? `! ${f.name.padEnd(20)} ${f.scope.padEnd(8)} refused: ${sanitize(f.error)}\n`
                  : `  ${f.name.padEnd(20)} ${f.scope.padEnd(8)} v${String(f.version)} ${String(f.steps)} steps  ${sanitize(f.description.split('\n')[0] ?? '')}\n`,
              )
              .join(''),
          );
      }),
    );
  formula
    .command('show')
    .description('a formula: its variables and steps, and the file it is read from')
    .argument('<name>')
    .option('--rig <rig>', "look in this rig's formulas first")
    .action((name: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        if (typeof o.rig === 'string') await ctx.store.rig(o.rig);
        const found = loadFormula(name, { town: ctx.town.root, ...(typeof o.rig === 'string' ? { rig: o.rig } : {}) });
        if (globals(cmd).json) printJson(io, formulaJson(found));
        else io.out(renderFormula(found));
      }),
    );
  formula
    .command('run')
    .description(
      "file a bead for the formula with it attached as a molecule (in the rig's ledger with --rig or a rig target), and sling it to the target if one is given",
    )
    .argument('<name>')
    .argument('[target]', 'a rig or an agent address to sling the bead to')
    .option('--var <name=value>', 'a variable of the formula (repeat for more)', repeat, [])
    .option('--rig <rig>', 'the rig the work is for: its ledger and its formulas')
    .option('--title <title>', "the bead's title (default: the formula's title)")
    .action((name: string, target: string | undefined, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const vars = varArgs(o);
        const rig = typeof o.rig === 'string' ? o.rig : rigOfTarget(target);
        const prefix = rig === undefined ? undefined : (await ctx.store.rig(rig)).prefix;
        const { formula: f } = loadFormula(name, { town: ctx.town.root, ...(rig !== undefined ? { rig } : {}) });
        // Everything the formula asks for is checked before the bead is filed.
        const values = resolveVars(f, vars, { bead: '' });
        const text = (id: string) => ({
          title: typeof o.title === 'string' ? o.title : substitute(f.title, { ...values, bead: id }),
          description: substitute(f.description, { ...values, bead: id }),
        });
        let bead = await ctx.store.create({ ...text(''), ...(prefix !== undefined ? { prefix } : {}) }, ctx.actor);
        // A title or description that names the bead itself gets its id once it has one.
        if (varsUsed(`${f.title}${f.description}`).includes('bead'))
          bead = (await ctx.store.update([bead.id], text(bead.id), ctx.actor))[0] ?? bead;
        const { status } = await attachMolecule(ctx.store, bead.id, f, vars, ctx.actor);
        const slung: SlingResult[] = target === undefined ? [] : await sling(ctx, [bead.id], target);
        if (globals(cmd).json)
          printJson(io, { bead: bead.id, title: bead.title, molecule: status, sling: slung[0] ?? null });
        else
          io.out(
            `✓ ${bead.id} (${sanitize(bead.title)}) carries ${f.name} (${status.total} steps)` +
              (slung[0] !== undefined
                ? `; on the hook of ${slung[0].agent} (${slung[0].action})`
                : `; sling it with "gt sling ${bead.id} <target>"`) +
              '\n',
          );
      }),
    );

  const mol = program
    .command('mol')
    .description("molecules: a formula attached to a bead, its steps as child beads (your hook's, by default)");
  const beadOf = async (ctx: Ctx, bead: string | undefined): Promise<string> => {
    if (bead !== undefined) return bead;
    const me = await whoAmI(ctx.store, io.env, io.cwd);
    if (me.hook_bead === null)
      throw new UsageError(`${me.address} has nothing on its hook`, { hint: 'name a bead: --bead <id>' });
    return me.hook_bead;
  };
  mol
    .command('status')
    .description('where the molecule stands: each step done, current, ready or waiting')
    .argument('[bead]', 'the bead (default: the one on your hook)')
    .action((bead: string | undefined, _o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const { status } = await moleculeOf(ctx.store, await beadOf(ctx, bead));
        if (globals(cmd).json) printJson(io, status);
        else io.out(renderMolecule(status));
      }),
    );
  const step = mol.command('step').description('the steps of a molecule');
  step
    .command('done')
    .description('close the current step (or the one named, once what it needs is done) and say what comes next')
    .argument('[step]', 'the step id (default: the current step)')
    .option('--bead <id>', 'the bead carrying the molecule (default: the one on your hook)')
    .action((stepId: string | undefined, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const id = await beadOf(ctx, typeof o.bead === 'string' ? o.bead : undefined);
        const r = await stepDone(ctx.store, id, stepId, ctx.actor);
        if (globals(cmd).json) {
          printJson(io, r);
          return;
        }
        const next = r.status.steps.find((s) => s.id === r.next);
        io.out(
          `✓ ${r.step} done (${r.status.done} of ${r.status.total})` +
            (next !== undefined
              ? `; next: ${next.id} (${sanitize(next.title)}): "gt prime" or "bd show ${next.bead}" shows what to do\n`
              : r.finished
                ? `; that was the last step of ${r.formula}: hand the work in as it said (a polecat: gt done)\n`
                : '; no step is ready: the rest wait on steps still open ("gt mol status")\n'),
        );
      }),
    );
}
