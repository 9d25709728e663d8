import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { listFormulas, loadFormula, readFormulaFile, shippedFormulasDir } from './formula.js';

/** Formula files: where they are looked for, in which order, and how a bad one is refused. */

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function places(): { town: string; shipped: string; write: (dir: string, name: string, text: string) => string } {
  const t = tempDir('formula-unit');
  cleanups.push(t.cleanup);
  const shipped = join(t.dir, 'shipped');
  mkdirSync(shipped);
  return {
    town: join(t.dir, 'town'),
    shipped,
    write(dir, name, text) {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${name}.formula.toml`);
      writeFileSync(file, text);
      return file;
    },
  };
}

const toml = (name: string, description: string, steps = '[[steps]]\nid = "a"\ntitle = "A"\n'): string =>
  `name = "${name}"\ndescription = "${description}"\n\n${steps}`;

describe('formula files', () => {
  it('looks in the rig, then the town, then the shipped formulas: the first found wins', () => {
    const p = places();
    p.write(p.shipped, 'work', toml('work', 'shipped'));
    p.write(p.shipped, 'only-shipped', toml('only-shipped', 'shipped'));
    p.write(join(p.town, 'formulas'), 'work', toml('work', 'town'));
    p.write(join(p.town, 'formulas'), 'only-town', toml('only-town', 'town'));
    p.write(join(p.town, 'gastown', 'formulas'), 'work', toml('work', 'rig'));

    const at = { town: p.town, shipped: p.shipped };
    expect(loadFormula('work', { ...at, rig: 'gastown' })).toMatchObject({
      scope: 'rig',
      formula: { description: 'rig' },
    });
    expect(loadFormula('work', { ...at, rig: 'other' })).toMatchObject({
      scope: 'town',
      formula: { description: 'town' },
    });
    expect(loadFormula('work', at)).toMatchObject({ scope: 'town' });
    expect(loadFormula('work', { shipped: p.shipped })).toMatchObject({ scope: 'shipped' });
    expect(loadFormula('only-shipped', { ...at, rig: 'gastown' }).scope).toBe('shipped');
    expect(() => loadFormula('nope', at)).toThrow(/no formula "nope"/);
    expect(() => loadFormula('../etc', at)).toThrow(/cannot name a formula/);

    const list = listFormulas({ ...at, rig: 'gastown' });
    expect(list.map((f) => [f.name, f.scope])).toEqual([
      ['only-shipped', 'shipped'],
      ['only-town', 'town'],
      ['work', 'rig'],
    ]);
    expect(list.find((f) => f.name === 'work')?.shadows).toHaveLength(2);
  });

  it('refuses a bad file naming the file (and the step), and lists it as refused', () => {
    const p = places();
    const dir = join(p.town, 'formulas');
    const bad = p.write(dir, 'bad', toml('bad', 'x', '[[steps]]\nid = "a"\ntitle = "A"\nneeds = ["b"]\n'));
    expect(() => loadFormula('bad', { town: p.town, shipped: p.shipped })).toThrow(
      `${bad}: step "a" needs "b", which is not a step of this formula`,
    );
    const broken = p.write(dir, 'broken', 'name = "broken"\nsteps = [\n');
    expect(() => readFormulaFile(broken)).toThrow(
      new RegExp(`^${broken}: not valid TOML \\(line \\d+, column \\d+\\)`),
    );
    const misnamed = p.write(dir, 'misnamed', toml('other', 'x'));
    expect(() => readFormulaFile(misnamed)).toThrow(/named "other" but its file is named for "misnamed"/);
    const list = listFormulas({ town: p.town, shipped: p.shipped });
    expect(list.map((f) => [f.name, f.error !== null])).toEqual([
      ['bad', true],
      ['broken', true],
      ['misnamed', true],
    ]);
  });

  it('finds the shipped formulas from the source tree, and every one of them is valid', () => {
    const dir = shippedFormulasDir();
    const names = readdirSync(dir).filter((n) => n.endsWith('.formula.toml'));
    for (const expected of [
      'polecat-work',
      'code-review',
      'conflict-resolve',
      'patrol-witness',
      'patrol-deacon',
      'patrol-boot',
    ])
      expect(names).toContain(`${expected}.formula.toml`);
    for (const n of names) expect(() => readFormulaFile(join(dir, n)), n).not.toThrow();
    const work = loadFormula('polecat-work', {}).formula;
    expect(work.steps.map((s) => s.id)).toEqual(['understand', 'implement', 'self-review', 'gates', 'submit']);
    expect(work.steps.map((s) => s.description).join('\n')).toMatch(/gt gates[^]*gt done/);
  });
});
