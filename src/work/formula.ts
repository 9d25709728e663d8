import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, TomlError } from 'smol-toml';
import { errorMessage, NotFoundError, ValidationError } from '../core/errors.js';
import { FORMULA_SUFFIX, formulaNameOfFile, isFormulaName, parseFormula, type Formula } from '../core/formula.js';

/**
 * Formula files: `<name>.formula.toml`, looked for in the rig's `formulas/` (when there is a rig), then the
 * town's `formulas/`, then the formulas shipped with gt (`formulas/` at the root of its package). The first
 * found wins, so a town or a rig can change a shipped formula by writing its own of the same name.
 */

export type FormulaScope = 'rig' | 'town' | 'shipped';

/** Where to look: the town's root, and the rig a formula is for (its directory in the town). */
export type FormulaPlaces = { town?: string; rig?: string; shipped?: string };

let shipped: string | undefined;

/**
 * The shipped formulas: `formulas/` beside the package's `src/` (this file is src/work/formula.ts under the
 * test runner) or beside its `dist/` (the bundle is dist/gt.bundle.cjs).
 */
export function shippedFormulasDir(): string {
  if (shipped !== undefined) return shipped;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'formulas'), join(here, '..', '..', 'formulas')];
  shipped = candidates.find((c) => existsSync(c)) ?? join(here, '..', '..', 'formulas');
  return shipped;
}

export function formulaDirs(places: FormulaPlaces): { dir: string; scope: FormulaScope }[] {
  const out: { dir: string; scope: FormulaScope }[] = [];
  if (places.town !== undefined && places.rig !== undefined)
    out.push({ dir: join(places.town, places.rig, 'formulas'), scope: 'rig' });
  if (places.town !== undefined) out.push({ dir: join(places.town, 'formulas'), scope: 'town' });
  out.push({ dir: places.shipped ?? shippedFormulasDir(), scope: 'shipped' });
  return out;
}

/** Reads and checks one formula file; every error names the file. */
export function readFormulaFile(file: string): Formula {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError(`${file}: cannot be read: ${errorMessage(err)}`);
  }
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : '';
    const first = errorMessage(err).split('\n')[0] ?? '';
    throw new ValidationError(`${file}: not valid TOML${where}: ${first}`, { hint: 'fix the file, see toml.io' });
  }
  const name = formulaNameOfFile(file.split('/').at(-1) ?? '');
  return parseFormula(raw, file, name);
}

export type FoundFormula = { formula: Formula; scope: FormulaScope };

/** The formula `name`, from the first place that has it. */
export function loadFormula(name: string, places: FormulaPlaces): FoundFormula {
  if (!isFormulaName(name))
    throw new ValidationError(`"${name}" cannot name a formula`, {
      hint: 'formula names are lower-case letters, digits, - and _',
    });
  const dirs = formulaDirs(places);
  for (const { dir, scope } of dirs) {
    const file = join(dir, `${name}${FORMULA_SUFFIX}`);
    if (existsSync(file)) return { formula: readFormulaFile(file), scope };
  }
  throw new NotFoundError(`no formula "${name}"`, {
    hint: `"gt formula list" shows the formulas; a new one goes in ${dirs[0]?.dir ?? 'formulas/'}/${name}${FORMULA_SUFFIX}`,
  });
}

export type FormulaListing = {
  name: string;
  scope: FormulaScope;
  file: string;
  description: string;
  version: number | null;
  steps: number | null;
  /** Why the file was refused, when it was; the formula cannot be used until it is fixed. */
  error: string | null;
  /** The same name in a later place, hidden by this one. */
  shadows: string[];
};

/** Every formula that can be found, by name; a name found in several places lists the one that is used. */
export function listFormulas(places: FormulaPlaces): FormulaListing[] {
  const byName = new Map<string, FormulaListing>();
  for (const { dir, scope } of formulaDirs(places)) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue; // no such directory: nothing there
    }
    for (const fileName of names) {
      const name = formulaNameOfFile(fileName);
      if (name === undefined) continue;
      const file = join(dir, fileName);
      const earlier = byName.get(name);
      if (earlier !== undefined) {
        earlier.shadows.push(file);
        continue;
      }
      try {
        const f = readFormulaFile(file);
        byName.set(name, {
          name,
          scope,
          file,
          description: f.description,
          version: f.version,
          steps: f.steps.length,
          error: null,
          shadows: [],
        });
      } catch (err) {
        byName.set(name, {
          name,
          scope,
          file,
          description: '',
          version: null,
          steps: null,
          error: errorMessage(err),
          shadows: [],
        });
      }
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
