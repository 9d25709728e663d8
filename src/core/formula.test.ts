import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import {
  formulaNameOfFile,
  moleculeProgress,
  parseFormula,
  parseVarArgs,
  resolveVars,
  stepOrder,
  stepToClose,
  substitute,
  varsUsed,
  type MoleculeStepInput,
} from './formula.js';

const FILE = '/town/formulas/f.formula.toml';

const step = (id: string, needs: string[] = [], more: Record<string, unknown> = {}) => ({
  id,
  title: `Step ${id}`,
  needs,
  ...more,
});
const formula = (more: Record<string, unknown> = {}) => ({
  name: 'f',
  description: 'A formula',
  steps: [step('a'), step('b', ['a'])],
  ...more,
});

describe('parseFormula', () => {
  it('reads a good formula, with defaults for what it leaves out', () => {
    const f = parseFormula(
      formula({
        version: 3,
        vars: { branch: { description: 'the branch', required: true }, focus: { default: 'tests' } },
        steps: [step('a', [], { description: 'On {{branch}} for {{bead}}.' }), step('b', ['a', 'a'])],
      }),
      FILE,
      'f',
    );
    expect(f).toMatchObject({ name: 'f', title: 'f', version: 3, file: FILE });
    expect(f.vars).toEqual([
      { name: 'branch', description: 'the branch', required: true, default: null },
      { name: 'focus', description: '', required: false, default: 'tests' },
    ]);
    expect(f.steps).toEqual([
      { id: 'a', title: 'Step a', description: 'On {{branch}} for {{bead}}.', needs: [] },
      { id: 'b', title: 'Step b', description: '', needs: ['a'] },
    ]);
  });

  // Each bad formula is refused with one line that names the file, and the step where there is one.
  it.each<[string, unknown, RegExp]>([
    ['not a table', 'x', /a formula is a TOML table/],
    ['no name', formula({ name: undefined }), /needs a name/],
    ['a bad name', formula({ name: 'Bad Name' }), /needs a name/],
    ['an unknown top field', formula({ stepz: [] }), /the formula has an unknown field "stepz"/],
    ['a bad version', formula({ version: 0 }), /version must be a whole number/],
    ['no steps', formula({ steps: [] }), /has no steps/],
    ['a step without an id', formula({ steps: [{ title: 'x' }] }), /step 1 needs an id/],
    ['a step with a bad id', formula({ steps: [step('Bad id')] }), /step 1 needs an id .*\(not "Bad id"\)/],
    ['a step without a title', formula({ steps: [{ id: 'a' }] }), /step "a" needs a title/],
    [
      'a step with an unknown field',
      formula({ steps: [step('a', [], { need: ['b'] })] }),
      /step "a" has an unknown field "need"/,
    ],
    ['needs not a list', formula({ steps: [step('a', 'b' as unknown as string[])] }), /step "a": needs must be a list/],
    ['a duplicate step id', formula({ steps: [step('a'), step('a')] }), /step "a" appears twice/],
    ['an unknown need', formula({ steps: [step('a'), step('b', ['c'])] }), /step "b" needs "c", which is not a step/],
    ['a step needing itself', formula({ steps: [step('a', ['a'])] }), /step "a" needs itself/],
    [
      'a cycle',
      formula({ steps: [step('a', ['c']), step('b', ['a']), step('c', ['b'])] }),
      /step "a" is in a cycle of needs: a → c → b → a/,
    ],
    [
      'an undeclared variable in a step',
      formula({ steps: [step('a', [], { description: 'on {{branch}}' })] }),
      /step "a" uses \{\{branch\}\}, which is not a variable of this formula/,
    ],
    ['an undeclared variable in the title', formula({ title: 'for {{who}}' }), /its title uses \{\{who\}\}/],
    ['a malformed variable use', formula({ steps: [step('a', [], { title: 'x {{a-b}}' })] }), /uses \{\{a-b\}\}/],
    ['a var that is not a table', formula({ vars: { x: 'y' } }), /variable "x" must be a table/],
    ['a var with an unknown field', formula({ vars: { x: { requird: true } } }), /variable "x" has an unknown field/],
    [
      'a required var with a default',
      formula({ vars: { x: { required: true, default: 'y' } } }),
      /is required and has a default/,
    ],
    ['a var declaring a builtin', formula({ vars: { bead: {} } }), /variable "bead" is set by gt itself/],
    ['a bad var name', formula({ vars: { 'a-b': {} } }), /variable "a-b": a variable name/],
  ])('refuses %s', (_what, raw, message) => {
    let err: unknown;
    try {
      parseFormula(raw, FILE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message.startsWith(`${FILE}: `)).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it('refuses a formula named otherwise than its file', () => {
    expect(() => parseFormula(formula(), FILE, 'g')).toThrow(/named "f" but its file is named for "g"/);
  });
});

describe('variables', () => {
  it('finds and substitutes {{var}} uses, spaces allowed inside the braces', () => {
    expect(varsUsed('{{a}} and {{ b }} and {{a}}')).toEqual(['a', 'b']);
    expect(substitute('on {{branch}} for {{ bead }}; {not} {{{x}}}', { branch: 'main', bead: 'gt-1', x: 'y' })).toBe(
      'on main for gt-1; {not} {y}',
    );
    expect(() => substitute('{{missing}}', {})).toThrow(/no value for the variable \{\{missing\}\}/);
  });

  const f = parseFormula(
    formula({
      vars: { branch: { description: 'the branch to review', required: true }, focus: { default: 'tests' }, note: {} },
    }),
    FILE,
  );

  it('resolves given values, then defaults, then builtins; an optional var without a default is empty', () => {
    expect(resolveVars(f, { branch: 'b1' }, { bead: 'gt-1' })).toEqual({
      branch: 'b1',
      focus: 'tests',
      note: '',
      bead: 'gt-1',
    });
    expect(resolveVars(f, { branch: 'b1', focus: 'speed' })).toMatchObject({ focus: 'speed' });
  });

  it('requires what the formula says, naming the var and the formula', () => {
    expect(() => resolveVars(f, {})).toThrow('the formula f needs the variable "branch" (the branch to review)');
    expect(() => resolveVars(f, { branch: 'b', nope: 'x' })).toThrow('the formula f has no variable "nope"');
    expect(() => resolveVars(f, { branch: 'b', bead: 'x' })).toThrow(/set by gt itself/);
  });

  it('parses --var arguments', () => {
    expect(parseVarArgs(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseVarArgs(['a'])).toThrow(/expected <name>=<value>/);
    expect(() => parseVarArgs(['a=1', 'a=2'])).toThrow(/given twice/);
    expect(() => parseVarArgs(['-x=1'])).toThrow(/expected <name>=<value>/);
  });
});

describe('order and files', () => {
  it('orders steps after what they need, otherwise as written', () => {
    const order = stepOrder([step('c', ['b']), step('a'), step('b', ['a']), step('d')]).map((s) => s.id);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('names formulas by their file', () => {
    expect(formulaNameOfFile('polecat-work.formula.toml')).toBe('polecat-work');
    expect(formulaNameOfFile('polecat-work.toml')).toBeUndefined();
    expect(formulaNameOfFile('Bad.formula.toml')).toBeUndefined();
  });
});

describe('molecule progress', () => {
  const mol = (closed: string[]): MoleculeStepInput[] =>
    [
      ['understand', []],
      ['implement', ['understand']],
      ['docs', ['understand']],
      ['review', ['implement', 'docs']],
    ].map(([id, needs]) => ({
      id: id as string,
      bead: `b.${id as string}`,
      title: id as string,
      needs: needs as string[],
      closed: closed.includes(id as string),
    }));

  it.each<[string[], string | null, string[]]>([
    [[], 'understand', ['current', 'waiting', 'waiting', 'waiting']],
    [['understand'], 'implement', ['done', 'current', 'ready', 'waiting']],
    [['understand', 'docs'], 'implement', ['done', 'current', 'done', 'waiting']],
    [['understand', 'implement', 'docs'], 'review', ['done', 'done', 'done', 'current']],
    [['understand', 'implement', 'docs', 'review'], null, ['done', 'done', 'done', 'done']],
  ])('closed %j: current %s', (closed, current, states) => {
    const p = moleculeProgress(mol(closed));
    expect(p.current).toBe(current);
    expect(p.steps.map((s) => s.status)).toEqual(states);
    expect([p.done, p.total]).toEqual([closed.length, 4]);
  });

  it('picks the step to close: the current one, or a ready one named; refuses the rest', () => {
    const p = moleculeProgress(mol(['understand']));
    expect(stepToClose(p, 'f').id).toBe('implement');
    expect(stepToClose(p, 'f', 'docs').id).toBe('docs');
    expect(() => stepToClose(p, 'f', 'review')).toThrow('step "review" of f needs "implement", "docs" done first');
    // Named and done already: returned as it is (a retried `gt mol step done understand` changes nothing).
    expect(stepToClose(p, 'f', 'understand')).toMatchObject({ id: 'understand', status: 'done' });
    expect(() => stepToClose(p, 'f', 'nope')).toThrow(/f has no step "nope"/);
    expect(() => stepToClose(moleculeProgress(mol(['understand', 'implement', 'docs', 'review'])), 'f')).toThrow(
      /every step of f is done/,
    );
  });
});
