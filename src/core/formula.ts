import { isRecord, ValidationError } from './errors.js';

/**
 * Formulas: a named, versioned plan of steps whose `needs` form a graph, with variables substituted into their
 * text as `{{name}}`. This module takes what a TOML parser read from a `<name>.formula.toml` file and checks it
 * (every error names the file and, where there is one, the step), fills in variables, orders the steps, and
 * says where a molecule (a formula attached to a bead, its steps as child beads) stands. Pure.
 */

export type FormulaVar = {
  name: string;
  description: string;
  required: boolean;
  /** The value when none is given; null when the variable has none (empty if not required). */
  default: string | null;
};

export type FormulaStep = { id: string; title: string; description: string; needs: string[] };

export type Formula = {
  name: string;
  /** A heading for the formula's text (defaults to its name); may use variables. */
  title: string;
  description: string;
  version: number;
  vars: FormulaVar[];
  /** In the file's order. */
  steps: FormulaStep[];
  /** The file it was read from, for messages. */
  file: string;
};

/** Variables every attachment sets itself: the bead the molecule is attached to. Not declared, not given. */
export const BUILTIN_VARS: readonly string[] = ['bead'];

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/u;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/u;
const VAR_USE = /\{\{\s*([^{}\s]*)\s*\}\}/gu;

const TOP_FIELDS = ['name', 'title', 'description', 'version', 'vars', 'steps'];
const VAR_FIELDS = ['description', 'required', 'default'];
const STEP_FIELDS = ['id', 'title', 'description', 'needs'];

export const FORMULA_SUFFIX = '.formula.toml';

/** Whether `name` can name a formula (and so a file): lower-case letters, digits, `-` and `_`. */
export function isFormulaName(name: string): boolean {
  return NAME.test(name);
}

/** The formula name of a file name (`polecat-work.formula.toml` → `polecat-work`), or undefined. */
export function formulaNameOfFile(fileName: string): string | undefined {
  if (!fileName.endsWith(FORMULA_SUFFIX)) return undefined;
  const name = fileName.slice(0, -FORMULA_SUFFIX.length);
  return isFormulaName(name) ? name : undefined;
}

function fail(file: string, what: string, hint?: string): never {
  throw new ValidationError(`${file}: ${what}`, hint === undefined ? {} : { hint });
}

function unknownFields(file: string, where: string, value: Record<string, unknown>, known: readonly string[]): void {
  const extra = Object.keys(value).find((k) => !known.includes(k));
  if (extra !== undefined) fail(file, `${where} has an unknown field "${extra}"`, `its fields: ${known.join(', ')}`);
}

function text(file: string, where: string, value: unknown, field: string, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string') fail(file, `${where} needs ${field} as a string`);
  return value;
}

/** The variables a text uses (`{{name}}`), in order of first use; a malformed use is reported as its raw name. */
export function varsUsed(textIn: string): string[] {
  const out: string[] = [];
  for (const m of textIn.matchAll(VAR_USE)) {
    const name = m[1] ?? '';
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** `text` with every `{{name}}` replaced by its value; a variable without one is a ValidationError. */
export function substitute(textIn: string, values: Readonly<Record<string, string>>): string {
  return textIn.replace(VAR_USE, (_all, name: string) => {
    const v = values[name];
    if (v === undefined) throw new ValidationError(`no value for the variable {{${name}}}`);
    return v;
  });
}

function parseVar(file: string, name: string, raw: unknown): FormulaVar {
  const where = `variable "${name}"`;
  if (!VAR_NAME.test(name)) fail(file, `${where}: a variable name is letters, digits and _, not starting with a digit`);
  if (BUILTIN_VARS.includes(name)) fail(file, `${where} is set by gt itself: do not declare it`);
  if (!isRecord(raw)) fail(file, `${where} must be a table ([vars.${name}])`);
  unknownFields(file, where, raw, VAR_FIELDS);
  const required = raw.required ?? false;
  if (typeof required !== 'boolean') fail(file, `${where}: required must be true or false`);
  const dflt = raw.default;
  if (dflt !== undefined && typeof dflt !== 'string' && typeof dflt !== 'number' && typeof dflt !== 'boolean')
    fail(file, `${where}: its default must be a string, a number or a boolean`);
  if (required && dflt !== undefined)
    fail(file, `${where} is required and has a default`, 'keep one: a required variable has no default');
  return {
    name,
    description: text(file, where, raw.description, 'a description', ''),
    required,
    default: dflt === undefined ? null : String(dflt),
  };
}

function parseStep(file: string, index: number, raw: unknown): FormulaStep {
  if (!isRecord(raw)) fail(file, `step ${index + 1} must be a table ([[steps]])`);
  if (typeof raw.id !== 'string' || !NAME.test(raw.id))
    fail(
      file,
      `step ${index + 1} needs an id of lower-case letters, digits, - and _${typeof raw.id === 'string' ? ` (not "${raw.id}")` : ''}`,
    );
  const where = `step "${raw.id}"`;
  unknownFields(file, where, raw, STEP_FIELDS);
  const rawNeeds: unknown = raw.needs ?? [];
  const needs = Array.isArray(rawNeeds) ? rawNeeds.filter((n): n is string => typeof n === 'string') : [];
  if (!Array.isArray(rawNeeds) || needs.length !== rawNeeds.length)
    fail(file, `${where}: needs must be a list of step ids`);
  return {
    id: raw.id,
    title: text(file, where, raw.title, 'a title'),
    description: text(file, where, raw.description, 'a description', ''),
    needs: [...new Set(needs)],
  };
}

/** The steps in an order where each comes after what it needs, otherwise keeping the file's order. */
export function stepOrder<T extends { id: string; needs: readonly string[] }>(steps: readonly T[]): T[] {
  const done = new Set<string>();
  const out: T[] = [];
  const left = [...steps];
  while (left.length > 0) {
    const i = left.findIndex((s) => s.needs.every((n) => done.has(n)));
    if (i < 0) break; // a cycle: validation reports it
    const [s] = left.splice(i, 1);
    if (s === undefined) break;
    out.push(s);
    done.add(s.id);
  }
  return out;
}

/** A cycle through needs, as the ids along it (first repeated at the end), or undefined. */
function findCycle(steps: readonly FormulaStep[]): string[] | undefined {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const n of byId.get(id)?.needs ?? []) {
      const found = visit(n);
      if (found !== undefined) return found;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const s of steps) {
    const found = visit(s.id);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * A formula from what the TOML parser read out of `file`, checked: known fields only, unique step ids, needs
 * that name steps, no cycle through needs, and only declared variables used. `expectedName` (from the file
 * name) must match its name. Throws a ValidationError naming the file, and the step where there is one.
 */
export function parseFormula(raw: unknown, file: string, expectedName?: string): Formula {
  if (!isRecord(raw)) fail(file, 'a formula is a TOML table');
  unknownFields(file, 'the formula', raw, TOP_FIELDS);
  if (typeof raw.name !== 'string' || !NAME.test(raw.name))
    fail(file, 'the formula needs a name of lower-case letters, digits, - and _ (name = "…")');
  const name = raw.name;
  if (expectedName !== undefined && name !== expectedName)
    fail(file, `the formula is named "${name}" but its file is named for "${expectedName}"`, 'make them the same');
  const version = raw.version ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    fail(file, 'version must be a whole number from 1');
  const rawVars = raw.vars ?? {};
  if (!isRecord(rawVars)) fail(file, 'vars must be a table of [vars.<name>] tables');
  const vars = Object.entries(rawVars).map(([n, v]) => parseVar(file, n, v));
  if (!Array.isArray(raw.steps) || raw.steps.length === 0) fail(file, 'the formula has no steps ([[steps]])');
  const steps = raw.steps.map((s, i) => parseStep(file, i, s));

  const seen = new Set<string>();
  for (const s of steps) {
    if (seen.has(s.id)) fail(file, `step "${s.id}" appears twice`, 'each step needs its own id');
    seen.add(s.id);
  }
  for (const s of steps)
    for (const n of s.needs) {
      if (n === s.id) fail(file, `step "${s.id}" needs itself`);
      if (!seen.has(n))
        fail(
          file,
          `step "${s.id}" needs "${n}", which is not a step of this formula`,
          `its steps: ${[...seen].join(', ')}`,
        );
    }
  const cycle = findCycle(steps);
  if (cycle !== undefined) fail(file, `step "${cycle[0] ?? ''}" is in a cycle of needs: ${cycle.join(' → ')}`);

  const known = new Set([...vars.map((v) => v.name), ...BUILTIN_VARS]);
  const title = text(file, 'the formula', raw.title, 'a title', name);
  const description = text(file, 'the formula', raw.description, 'a description', '');
  const checkUses = (where: string, t: string): void => {
    const unknown = varsUsed(t).find((v) => !known.has(v));
    if (unknown !== undefined)
      fail(
        file,
        `${where} uses {{${unknown}}}, which is not a variable of this formula`,
        VAR_NAME.test(unknown) ? `declare it: [vars.${unknown}]` : 'a variable name is letters, digits and _',
      );
  };
  checkUses('its title', title);
  checkUses('its description', description);
  for (const s of steps) {
    checkUses(`step "${s.id}"`, s.title);
    checkUses(`step "${s.id}"`, s.description);
  }
  return { name, title, description, version, vars, steps, file };
}

/**
 * The values of a formula's variables for one attachment: those `given`, then defaults, then `builtins`
 * (the bead). A given variable the formula does not declare, or a required one not given, is a
 * ValidationError naming it and the formula.
 */
export function resolveVars(
  formula: Formula,
  given: Readonly<Record<string, string>>,
  builtins: Readonly<Record<string, string>> = {},
): Record<string, string> {
  for (const name of Object.keys(given)) {
    if (BUILTIN_VARS.includes(name))
      throw new ValidationError(`{{${name}}} is set by gt itself; it cannot be given with --var`);
    if (!formula.vars.some((v) => v.name === name))
      throw new ValidationError(`the formula ${formula.name} has no variable "${name}"`, {
        hint:
          formula.vars.length === 0
            ? `${formula.name} takes no variables`
            : `its variables: ${formula.vars.map((v) => v.name).join(', ')}`,
      });
  }
  const values: Record<string, string> = {};
  for (const v of formula.vars) {
    const value = given[v.name] ?? v.default ?? (v.required ? undefined : '');
    if (value === undefined)
      throw new ValidationError(
        `the formula ${formula.name} needs the variable "${v.name}"${v.description !== '' ? ` (${v.description})` : ''}`,
        { hint: `give it with --var ${v.name}=<value>` },
      );
    values[v.name] = value;
  }
  return { ...values, ...builtins };
}

/** `k=v` arguments (`--var`, repeated) as a map; a malformed one or one given twice is a ValidationError. */
export function parseVarArgs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (eq < 0 || !VAR_NAME.test(name))
      throw new ValidationError(`--var ${arg}: expected <name>=<value>`, { hint: 'e.g. --var branch=main' });
    if (out[name] !== undefined) throw new ValidationError(`--var ${name} is given twice`);
    out[name] = arg.slice(eq + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Molecules: where a formula attached to a bead stands.

/** Bead metadata: the molecule on a bead (src/work/molecule.ts), and which step a step bead is. */
export const MOLECULE_KEY = 'gt_molecule';
export const STEP_KEY = 'gt_step';

export type StepState = 'done' | 'current' | 'ready' | 'waiting';

export type MoleculeStepInput = { id: string; bead: string; title: string; needs: readonly string[]; closed: boolean };

export type MoleculeStep = { id: string; bead: string; title: string; status: StepState; needs: string[] };

export type MoleculeProgress = {
  steps: MoleculeStep[];
  /** The first step (in the molecule's order) whose needs are done and which is not; null when all are. */
  current: string | null;
  done: number;
  total: number;
};

/** The state of each step: done (closed), current, ready (its needs done) or waiting (on what it needs). */
export function moleculeProgress(steps: readonly MoleculeStepInput[]): MoleculeProgress {
  const closed = new Set(steps.filter((s) => s.closed).map((s) => s.id));
  let current: string | null = null;
  const out = steps.map((s): MoleculeStep => {
    let status: StepState;
    if (s.closed) status = 'done';
    else if (!s.needs.every((n) => closed.has(n))) status = 'waiting';
    else if (current === null) {
      current = s.id;
      status = 'current';
    } else status = 'ready';
    return { id: s.id, bead: s.bead, title: s.title, status, needs: [...s.needs] };
  });
  return { steps: out, current, done: closed.size, total: steps.length };
}

/**
 * Which step `gt mol step done [<id>]` closes: the one named (one done already is returned as it is), or the
 * current one. Refuses a step that is done
 * already, one whose needs are not done (naming them), one the molecule does not have, and a finished molecule.
 */
export function stepToClose(progress: MoleculeProgress, formula: string, id?: string): MoleculeStep {
  if (id === undefined) {
    const current = progress.steps.find((s) => s.status === 'current');
    if (current === undefined)
      throw new ValidationError(`every step of ${formula} is done`, { hint: 'nothing is left to close' });
    return current;
  }
  const step = progress.steps.find((s) => s.id === id);
  if (step === undefined)
    throw new ValidationError(`${formula} has no step "${id}"`, {
      hint: `its steps: ${progress.steps.map((s) => s.id).join(', ')}`,
    });
  if (step.status === 'done') return step; // closing it again changes nothing: a retried command is safe
  if (step.status === 'waiting') {
    const open = step.needs.filter((n) => progress.steps.find((s) => s.id === n)?.status !== 'done');
    throw new ValidationError(`step "${id}" of ${formula} needs ${open.map((n) => `"${n}"`).join(', ')} done first`, {
      hint: `the current step is ${progress.current ?? 'none'}`,
    });
  }
  return step;
}
