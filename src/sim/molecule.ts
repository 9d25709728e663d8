import { isRecord } from '../core/errors.js';
import type { ExecResult } from '../exec/exec.js';
import { firstShellBlock } from './script.js';

/**
 * How the sim agent walks a molecule on its hook: it asks gt where the molecule stands (`gt mol status`), does
 * the current step (the first ```sh block of the step's description, if it has one), closes it (`gt mol step
 * done`), and goes on, until one step is left. The last step is the sim's usual hand-in (the bead's own
 * script, a commit, gt done), which the caller does. The state is gt's, so a successor of a killed sim starts
 * at the step its predecessor did not finish.
 */

export type MoleculeWalk =
  /** No molecule on the hook: the usual work. */
  | { kind: 'none' }
  /** The last step is left (or none): the usual hand-in; `ran` when the last step had a script of its own. */
  | { kind: 'final'; step: string | null; ran: boolean }
  /** It could not go on (a script or gt failed): asked again at its next turn. */
  | { kind: 'stopped' };

export type WalkDeps = {
  gt(args: readonly string[]): Promise<ExecResult>;
  /** The description of a step's bead. */
  describe(bead: string): Promise<string>;
  run(script: string): Promise<{ ok: boolean; status: number | null; output: string }>;
  trace(step: string, detail: Record<string, unknown>): void;
  say(line: string): void;
  /** The fault knob: stop responding when the molecule reaches this step, before doing it. */
  hangAtStep?: string;
  hang(at: string): Promise<never>;
};

type Status = { bead: string; formula: string; current: string | null; done: number; total: number; steps: Step[] };
type Step = { id: string; bead: string; title: string };

function parseStatus(stdout: string): Status | undefined {
  let v: unknown;
  try {
    v = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v.bead !== 'string' || typeof v.formula !== 'string' || !Array.isArray(v.steps))
    return undefined;
  if (typeof v.done !== 'number' || typeof v.total !== 'number') return undefined;
  const steps: Step[] = [];
  for (const s of v.steps as unknown[]) {
    if (!isRecord(s) || typeof s.id !== 'string' || typeof s.bead !== 'string' || typeof s.title !== 'string')
      return undefined;
    steps.push({ id: s.id, bead: s.bead, title: s.title });
  }
  const current = typeof v.current === 'string' ? v.current : null;
  return { bead: v.bead, formula: v.formula, current, done: v.done, total: v.total, steps };
}

export async function walkMolecule(deps: WalkDeps): Promise<MoleculeWalk> {
  for (;;) {
    const r = await deps.gt(['mol', 'status', '--json']);
    const status = r.ok ? parseStatus(r.stdout) : undefined;
    if (status === undefined) return { kind: 'none' };
    const step = status.steps.find((s) => s.id === status.current);
    if (step === undefined) return { kind: 'final', step: null, ran: false };
    if (deps.hangAtStep === step.id) return deps.hang(step.id);
    const last = status.total - status.done === 1;
    deps.trace('mol_step', { bead: status.bead, formula: status.formula, at: step.id, last });
    deps.say(`sim: step ${step.id} of ${status.formula} (${status.done + 1} of ${status.total}): ${step.title}`);
    const script = firstShellBlock(await deps.describe(step.bead));
    if (script !== undefined) {
      const run = await deps.run(script);
      deps.trace('mol_run', { at: step.id, exit: run.status, output: run.output.slice(-2_000) });
      if (!run.ok) {
        deps.trace('stuck', { bead: status.bead, reason: `step ${step.id}: script exited ${String(run.status)}` });
        deps.say(`sim: stuck at step ${step.id}: its script failed (exit ${String(run.status)})`);
        return { kind: 'stopped' };
      }
    }
    if (last) return { kind: 'final', step: step.id, ran: script !== undefined };
    const closed = await deps.gt(['mol', 'step', 'done', step.id, '--json']);
    if (!closed.ok) {
      const why = closed.stderr.trim().split('\n')[0] ?? '';
      deps.trace('stuck', { bead: status.bead, reason: `gt mol step done ${step.id} failed: ${why}` });
      deps.say(`sim: stuck at step ${step.id}: ${why}`);
      return { kind: 'stopped' };
    }
    deps.trace('mol_step_done', { at: step.id });
  }
}
