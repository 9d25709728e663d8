import { afterEach, describe, expect, it } from 'vitest';
import { parseFormula } from '../core/formula.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../store/sqlite-bead-store.js';
import type { Town } from '../town/town.js';
import { attachMolecule, closeOpenSteps, moleculeOf, stepDone } from './molecule.js';
import { prime } from './prime.js';

/** Molecules in the store: attached once, walked step by step, read back by a fresh prime. */

const stores: SqliteBeadStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.dispose();
});

function store(): SqliteBeadStore {
  const s = openSqliteBeadStore(':memory:');
  stores.push(s);
  return s;
}

const FORMULA = parseFormula(
  {
    name: 'work',
    version: 2,
    vars: { branch: { required: true, description: 'the branch' }, focus: { default: 'tests' } },
    steps: [
      { id: 'understand', title: 'Understand {{bead}}', description: 'Read {{bead}} on {{branch}}.' },
      { id: 'docs', title: 'Docs', needs: ['understand'] },
      { id: 'implement', title: 'Implement', needs: ['understand'], description: 'Mind {{focus}}.' },
      { id: 'submit', title: 'Submit', needs: ['implement', 'docs'] },
    ],
  },
  'work.formula.toml',
);

describe('molecules', () => {
  it('attaches a formula: step beads under the bead, blocks edges from needs, the record on the bead', async () => {
    const s = store();
    const bead = await s.create({ title: 'the work', priority: 1 }, 'mayor');
    const r = await attachMolecule(s, bead.id, FORMULA, { branch: 'main' }, 'mayor');
    expect(r.attached).toBe(true);
    expect(r.status).toMatchObject({
      bead: bead.id,
      formula: 'work',
      version: 2,
      current: 'understand',
      done: 0,
      total: 4,
    });
    expect(r.status.vars).toEqual({ branch: 'main', focus: 'tests', bead: bead.id });
    expect(r.status.steps.map((st) => [st.id, st.status])).toEqual([
      ['understand', 'current'],
      ['docs', 'waiting'],
      ['implement', 'waiting'],
      ['submit', 'waiting'],
    ]);
    const [first, , impl, submit] = await s.show(r.status.steps.map((st) => st.bead));
    expect(first).toMatchObject({
      title: `Understand ${bead.id}`,
      description: `Read ${bead.id} on main.`,
      issue_type: 'step',
      priority: 1,
    });
    expect(impl?.description).toBe('Mind tests.');
    expect(
      submit?.dependencies
        .filter((d) => d.type === 'blocks')
        .map((d) => d.depends_on_id)
        .sort(),
    ).toEqual([r.status.steps[1]?.bead, r.status.steps[2]?.bead].sort());
    expect(first?.dependencies).toEqual([expect.objectContaining({ depends_on_id: bead.id, type: 'parent-child' })]);
    // Steps are not work of their own: nobody is offered them.
    expect((await s.ready({})).map((b) => b.id)).toEqual([bead.id]);
    const [again] = await s.show([bead.id]);
    expect(again?.metadata.gt_molecule).toMatchObject({ formula: 'work', version: 2 });
  });

  it('refuses a missing required variable before writing anything, and a second, different molecule', async () => {
    const s = store();
    const bead = await s.create({ title: 'the work' }, 'mayor');
    await expect(attachMolecule(s, bead.id, FORMULA, {}, 'mayor')).rejects.toThrow(
      'the formula work needs the variable "branch" (the branch)',
    );
    expect(await s.list({ parent: bead.id, types: ['step'] })).toEqual([]);
    await attachMolecule(s, bead.id, FORMULA, { branch: 'main' }, 'mayor');
    const same = await attachMolecule(s, bead.id, FORMULA, { branch: 'main' }, 'mayor');
    expect(same.attached).toBe(false);
    expect(await s.list({ parent: bead.id, types: ['step'] })).toHaveLength(4);
    await expect(attachMolecule(s, bead.id, FORMULA, { branch: 'dev' }, 'mayor')).rejects.toThrow(
      /with other variables/,
    );
  });

  it('an interrupted attach (steps made, no record yet) is finished by the next, without duplicates', async () => {
    const s = store();
    const bead = await s.create({ title: 'the work' }, 'mayor');
    await attachMolecule(s, bead.id, FORMULA, { branch: 'main' }, 'mayor');
    const steps = await s.list({ parent: bead.id, types: ['step'] });
    // As if the attach died before its last write, after making two of the steps.
    await s.update([bead.id], { metadata: { gt_molecule: null } }, 'mayor');
    for (const st of steps.slice(2)) await s.delete(st.id, { force: true }, 'mayor');
    const r = await attachMolecule(s, bead.id, FORMULA, { branch: 'main' }, 'mayor');
    expect(r.attached).toBe(true);
    expect(await s.list({ parent: bead.id, types: ['step'] })).toHaveLength(4);
    expect(r.status.steps.slice(0, 2).map((st) => st.bead)).toEqual(steps.slice(0, 2).map((st) => st.id));
  });

  it('walks: step done closes the current step, refuses one whose needs are open, says what is next', async () => {
    const s = store();
    const bead = await s.create({ title: 'the work' }, 'mayor');
    await attachMolecule(s, bead.id, FORMULA, { branch: 'main' }, 'mayor');
    await expect(stepDone(s, bead.id, 'submit', 'toast')).rejects.toThrow(/needs "implement", "docs" done first/);
    expect(await stepDone(s, bead.id, undefined, 'toast')).toMatchObject({
      step: 'understand',
      next: 'docs',
      finished: false,
    });
    expect(await stepDone(s, bead.id, 'implement', 'toast')).toMatchObject({ step: 'implement', next: 'docs' });
    // Retried (its first call timed out, say): nothing changes, and the next step is not skipped.
    expect(await stepDone(s, bead.id, 'implement', 'toast')).toMatchObject({ step: 'implement', next: 'docs' });
    expect((await moleculeOf(s, bead.id)).status.done).toBe(2);
    expect(await stepDone(s, bead.id, undefined, 'toast')).toMatchObject({ step: 'docs', next: 'submit' });
    const last = await stepDone(s, bead.id, undefined, 'toast');
    expect(last).toMatchObject({ step: 'submit', next: null, finished: true });
    expect(last.status.done).toBe(4);
    await expect(stepDone(s, bead.id, undefined, 'toast')).rejects.toThrow(/every step of work is done/);
    const other = await s.create({ title: 'plain' }, 'mayor');
    await expect(moleculeOf(s, other.id)).rejects.toThrow(`${other.id} has no molecule`);
  });

  it('closes the open steps when the work is handed in, so that the bead itself can close', async () => {
    const s = store();
    const bead = await s.create({ title: 'the work' }, 'mayor');
    await attachMolecule(s, bead.id, FORMULA, { branch: 'main' }, 'mayor');
    await stepDone(s, bead.id, undefined, 'toast');
    expect(await closeOpenSteps(s, bead.id, 'handed in', 'toast')).toHaveLength(3);
    expect((await moleculeOf(s, bead.id)).status.done).toBe(4);
    await expect(s.close([bead.id], {}, 'refinery')).resolves.toHaveLength(1);
    expect(await closeOpenSteps(s, 'nope-1', 'x', 'toast')).toEqual([]);
  });

  it("prime shows the molecule: what is done, the current step in full, what follows; a successor's too", async () => {
    const s = store();
    const bead = await s.create({ title: 'the work' }, 'mayor');
    await attachMolecule(s, bead.id, FORMULA, { branch: 'main', focus: 'speed' }, 'mayor');
    const agent = await s.registerAgent(
      {
        identity: { role: 'polecat', rig: 'gastown', name: 'toast' },
        session_name: 'ga-toast',
        sandbox_path: '/nowhere',
      },
      'test',
    );
    await s.hook(agent.address, bead.id, 'mayor');
    await stepDone(s, bead.id, undefined, 'toast');
    await stepDone(s, bead.id, 'docs', 'toast');
    const town: Town = {
      root: '/nowhere',
      name: 'unit',
      owner: 'o@e.x',
      created_at: '',
      tmuxSocket: 'x',
      dbPath: ':memory:',
    };
    const report = await prime(s, town, await s.agent(agent.address), { hook: false, input: {}, actor: agent.address });
    expect(report.molecule).toMatchObject({ formula: 'work', current: 'implement', done: 2, total: 4 });
    expect(report.text).toContain('## Molecule: work v2 (2 of 4 steps done)');
    expect(report.text).toContain('Done: understand, docs.');
    expect(report.text).toMatch(/Current step: implement \(\S+\): Implement\n\nMind speed\./);
    expect(report.text).toContain('After it: submit.');
    expect(report.text).toContain('`gt mol step done implement`');
    expect(report.text).not.toContain('Steps (child beads');
  });
});
