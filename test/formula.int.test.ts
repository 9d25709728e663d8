import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gt, json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown, type TraceRecord } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';

/**
 * Formulas and molecules end to end, with the built gt, real tmux on the town's private socket, git, the store
 * and the sim agent: a bad formula refused with its file and step named; a required variable enforced; a
 * molecule walked by a polecat that is killed with kill -9 midway, and its successor continuing at the same
 * step.
 */

const fixture = useSessionTowns();
const TOAST = 'gastown/polecats/toast';

type Step = { id: string; bead: string; status: string };
type MolStatus = {
  bead: string;
  formula: string;
  vars: Record<string, string>;
  steps: Step[];
  current: string | null;
  done: number;
  total: number;
};
type Trace = TraceRecord & { pid?: number; at?: string; molecule_step?: string; done_exit?: number | null };

function writeFormula(f: SessionTown, name: string, text: string): string {
  const dir = join(f.town.root, 'formulas');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.formula.toml`);
  writeFileSync(file, text);
  return file;
}

describe('formulas and molecules', () => {
  it('refuses a bad formula naming its file and step, and writes nothing', async () => {
    const f = await fixture('formula-bad');
    const s = f.store();
    const bead = await s.create({ title: 'work', prefix: 'ga' }, 'mayor');
    const file = writeFormula(
      f,
      'broken',
      `name = "broken"
[[steps]]
id = "build"
title = "Build"
[[steps]]
id = "ship"
title = "Ship"
needs = ["build", "tset"]
`,
    );
    const r = f.run('sling', 'broken', '--on', bead.id, TOAST);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${file}: step "ship" needs "tset", which is not a step of this formula`);
    const cyclic = writeFormula(
      f,
      'cyclic',
      `name = "cyclic"
[[steps]]
id = "a"
title = "A"
needs = ["b"]
[[steps]]
id = "b"
title = "B"
needs = ["a"]
`,
    );
    expect(f.run('formula', 'show', 'cyclic').stderr).toContain(
      `${cyclic}: step "a" is in a cycle of needs: a → b → a`,
    );
    const listed = json<{ name: string; error: string | null }[]>(f.run('formula', 'list', '--json'));
    expect(listed.find((l) => l.name === 'broken')?.error).toContain('step "ship"');
    expect(listed.find((l) => l.name === 'polecat-work')?.error).toBeNull();
    // Nothing was attached, hooked or started.
    const [after] = await s.show([bead.id]);
    expect(after).toMatchObject({ status: 'open', assignee: null });
    expect(after?.metadata.gt_molecule).toBeUndefined();
    expect(await s.list({ parent: bead.id, types: ['step'] })).toEqual([]);
    expect((await s.agent(TOAST)).hook_bead).toBeNull();
    expect(await f.provider.list()).toEqual([]);
  }, 60_000);

  it('requires --var where the formula says so, naming the var and the formula', async () => {
    const f = await fixture('formula-var');
    const s = f.store();
    const bead = await s.create({ title: 'review it', prefix: 'ga' }, 'mayor');
    const missing = f.run('sling', 'code-review', '--on', bead.id, TOAST);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/the formula code-review needs the variable "subject"/);
    expect(missing.stderr).toContain('--var subject=<value>');
    expect((await s.list({ parent: bead.id, types: ['step'] })).length).toBe(0);
    expect((await s.agent(TOAST)).hook_bead).toBeNull();
    expect(f.run('formula', 'run', 'code-review', '--var', 'nope=1').stderr).toMatch(
      /code-review has no variable "nope"/,
    );
    // A dry run checks the formula and its variables, and goes to the bead's rig when no target is given.
    const dry = json<{ agent: string; dry_run: boolean }[]>(
      f.run('sling', 'code-review', '--on', bead.id, '--var', 'subject=main', '--dry-run', '--json'),
    );
    expect(dry[0]).toMatchObject({ agent: 'gastown/polecats/<idle or new>', dry_run: true });
    expect((await s.list({ parent: bead.id, types: ['step'] })).length).toBe(0);

    // Given, it is attached: the step texts have it filled in, and the bead records it.
    const run = json<{ bead: string; molecule: MolStatus; sling: unknown }>(
      f.run(
        'formula',
        'run',
        'code-review',
        '--rig',
        'gastown',
        '--var',
        'subject=polecat/toast/x, and more',
        '--json',
      ),
    );
    expect(run.bead).toMatch(/^ga-/);
    expect(run.sling).toBeNull();
    expect(run.molecule).toMatchObject({ formula: 'code-review', current: 'context', done: 0, total: 4 });
    expect(run.molecule.vars).toMatchObject({
      subject: 'polecat/toast/x, and more',
      focus: 'correctness, tests and clarity',
    });
    const [reviewed] = await s.show([run.bead]);
    expect(reviewed?.title).toBe('Review polecat/toast/x, and more');
    expect(reviewed?.metadata.gt_molecule).toMatchObject({ formula: 'code-review', version: 1 });
    const steps = await s.show(run.molecule.steps.map((st) => st.bead));
    expect(steps[1]?.description).toContain('`git diff` of polecat/toast/x, and more');
  }, 60_000);

  it('a molecule survives kill -9 of its agent: the successor continues at the same step and hands in once', async () => {
    const f = await fixture('formula-kill');
    const s = f.store();
    // The first session stops responding when it reaches self-review; the successor runs the plain sim.
    f.simAgent('sim-stops', '--hang-at-mol-step', 'self-review');
    const bead = await s.create(
      {
        title: 'a change',
        prefix: 'ga',
        description: 'Write the change.\n\n```sh\nprintf "done\\n" > change.txt\n```\n',
      },
      'mayor',
    );
    const slung = json<{ bead: string; agent: string; session: string; action: string }[]>(
      f.run('sling', 'polecat-work', '--on', bead.id, TOAST, '--agent', 'sim-stops', '--json'),
    );
    expect(slung[0]).toMatchObject({ bead: bead.id, agent: TOAST, action: 'started' });
    const session = slung[0]?.session ?? '';
    const trace = (): Trace[] => f.trace(session);
    await eventually(
      () => trace().some((t) => t.step === 'hang' && t.at === 'self-review'),
      'the agent to reach self-review',
      60_000,
    );
    const firstPid = trace().find((t) => t.step === 'hang')?.pid;
    expect(
      trace()
        .filter((t) => t.step === 'mol_step')
        .map((t) => t.at),
    ).toEqual(['understand', 'implement']);

    await f.killAgent(session);
    await eventually(
      () => json<{ liveness: string }>(f.run('session', 'status', TOAST, '--json')).liveness === 'dead',
      'the agent to be dead',
    );
    // The store holds the place: the first two steps done, self-review current, the bead still on the hook.
    const held = json<MolStatus>(f.run('mol', 'status', bead.id, '--json'));
    expect(held).toMatchObject({ formula: 'polecat-work', current: 'self-review', done: 2, total: 5 });
    expect(held.steps.map((st) => st.status)).toEqual(['done', 'done', 'current', 'waiting', 'waiting']);
    const closed = await s.show(held.steps.slice(0, 2).map((st) => st.bead));
    expect(closed.map((b) => b.status)).toEqual(['closed', 'closed']);
    expect((await s.agent(TOAST)).hook_bead).toBe(bead.id);
    // What any new session of the agent is told: the same step, in full.
    const sandbox = (await s.agent(TOAST)).sandbox_path;
    const primed = json<{ molecule: MolStatus; text: string }>(
      gt(['prime', '--json'], { cwd: sandbox, env: { ...f.env, GT_ROLE: TOAST } }),
    );
    expect(primed.molecule.current).toBe('self-review');
    expect(primed.text).toContain('Done: understand, implement.');
    expect(primed.text).toMatch(/Current step: self-review \(\S+\): Review your own change/);
    expect(primed.text).toContain('Read your whole change as a reviewer would');
    // Refused out of order: a step whose needs are open.
    expect(gt(['mol', 'step', 'done', 'submit'], { cwd: sandbox, env: { ...f.env, GT_ROLE: TOAST } }).stderr).toMatch(
      /step "submit" of polecat-work needs "gates" done first/,
    );

    f.run('session', 'restart', TOAST, '--agent', 'sim');
    await eventually(() => trace().some((t) => t.step === 'report'), 'the successor to hand in', 90_000);
    const successor = trace().filter((t) => t.pid !== firstPid);
    expect(successor.find((t) => t.step === 'prime')?.molecule_step).toBe('self-review');
    expect(successor.filter((t) => t.step === 'mol_step').map((t) => t.at)).toEqual(['self-review', 'gates', 'submit']);
    expect(successor.find((t) => t.step === 'report')?.done_exit).toBe(0);

    const end = json<MolStatus>(f.run('mol', 'status', bead.id, '--json'));
    expect(end).toMatchObject({ current: null, done: 5, total: 5 });
    expect(await s.list({ types: ['merge-request'] })).toHaveLength(1);
    const agent = await s.agent(TOAST);
    expect(agent.hook_bead).toBeNull();
    expect(git(agent.sandbox_path, 'show', 'HEAD:change.txt')).toBe('done\n');
  }, 180_000);
});
