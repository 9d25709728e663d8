import type { BeadStore } from '../core/bead-store.js';
import { STATUSES, type Bead, type BeadDetails } from '../core/bead.js';
import { ConflictError, isRecord, NotFoundError, ValidationError } from '../core/errors.js';
import {
  MOLECULE_KEY,
  moleculeProgress,
  resolveVars,
  stepOrder,
  STEP_KEY,
  stepToClose,
  substitute,
  type Formula,
  type MoleculeStep,
} from '../core/formula.js';
import { loadFormula } from './formula.js';

/**
 * Molecules: a formula attached to a bead. Its steps become child beads of the bead (type `step`, `blocks`
 * edges from their needs), and the bead's metadata records the formula, its version and the variables. All the
 * state is in the store, so an agent's successor (after a crash, a handoff, a restart) continues at the same
 * step: a step is done when its bead is closed.
 *
 * Attaching writes several beads; it is safe to repeat: a second attach of the same formula with the same
 * variables finds the steps an earlier, interrupted one made and makes only the missing ones, then records the
 * molecule on the bead last. Until that record is written the bead has no molecule.
 */

export type MoleculeRecord = {
  formula: string;
  version: number;
  vars: Record<string, string>;
  /** In the molecule's order (each after what it needs). */
  steps: { id: string; bead: string; needs: string[] }[];
};

/** `gt mol status --json`. */
export type MoleculeStatus = {
  bead: string;
  formula: string;
  version: number;
  vars: Record<string, string>;
  steps: MoleculeStep[];
  current: string | null;
  done: number;
  total: number;
};

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The molecule recorded on a bead, or undefined (none, or a record this version cannot read). */
export function readMolecule(metadata: Record<string, unknown>): MoleculeRecord | undefined {
  const m = metadata[MOLECULE_KEY];
  if (!isRecord(m) || typeof m.formula !== 'string' || typeof m.version !== 'number') return undefined;
  if (!isRecord(m.vars) || !Array.isArray(m.steps)) return undefined;
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.vars)) if (typeof v === 'string') vars[k] = v;
  const steps: MoleculeRecord['steps'] = [];
  for (const s of m.steps as unknown[]) {
    if (!isRecord(s) || typeof s.id !== 'string' || typeof s.bead !== 'string' || !strings(s.needs)) return undefined;
    steps.push({ id: s.id, bead: s.bead, needs: s.needs });
  }
  return { formula: m.formula, version: m.version, vars, steps };
}

export type MoleculeView = { status: MoleculeStatus; stepBeads: Map<string, BeadDetails> };

/** The molecule on `bead` with each step's bead, or undefined when it has none. */
export async function viewMolecule(store: BeadStore, bead: Bead): Promise<MoleculeView | undefined> {
  const record = readMolecule(bead.metadata);
  if (record === undefined) return undefined;
  const beads = await store.show(record.steps.map((s) => s.bead)).catch((err: unknown) => {
    if (err instanceof NotFoundError)
      throw new NotFoundError(`a step of ${bead.id}'s molecule ${record.formula} is gone: ${err.message}`, {
        hint: `see its steps with "bd list --parent ${bead.id} --all"`,
      });
    throw err;
  });
  const stepBeads = new Map(beads.map((b) => [b.id, b]));
  const progress = moleculeProgress(
    record.steps.map((s) => {
      const b = stepBeads.get(s.bead);
      return { id: s.id, bead: s.bead, title: b?.title ?? s.id, needs: s.needs, closed: b?.status === 'closed' };
    }),
  );
  return {
    status: { bead: bead.id, formula: record.formula, version: record.version, vars: record.vars, ...progress },
    stepBeads,
  };
}

/** The molecule on the bead `id`, or a NotFoundError that says how to attach one. */
export async function moleculeOf(store: BeadStore, id: string): Promise<MoleculeView> {
  const [bead] = await store.show([id]);
  const view = bead === undefined ? undefined : await viewMolecule(store, bead);
  if (view === undefined)
    throw new NotFoundError(`${id} has no molecule`, {
      hint: `attach a formula to it: gt sling <formula> --on ${id} [target]`,
    });
  return view;
}

function sameVars(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

export type AttachResult = { status: MoleculeStatus; attached: boolean };

/**
 * Attaches `formula` to the bead `beadId` with the variables `given` (`--var`): checks them (a required one
 * missing is refused before anything is written), makes a step bead per step, then records the molecule on the
 * bead. The same formula with the same variables again is a no-op (`attached: false`); another molecule on the
 * bead, or the same with other variables, is a ConflictError.
 */
export async function attachMolecule(
  store: BeadStore,
  beadId: string,
  formula: Formula,
  given: Readonly<Record<string, string>>,
  actor: string,
): Promise<AttachResult> {
  const [bead] = await store.show([beadId]);
  if (bead === undefined) throw new NotFoundError(`no bead ${beadId}`);
  if (bead.status === 'closed')
    throw new ValidationError(`${bead.id} is closed`, { hint: `reopen it first: bd reopen ${bead.id}` });
  const vars = resolveVars(formula, given, { bead: bead.id });
  const existing = readMolecule(bead.metadata);
  if (existing !== undefined) {
    if (existing.formula === formula.name && sameVars(existing.vars, vars)) {
      const view = await viewMolecule(store, bead);
      if (view !== undefined) return { status: view.status, attached: false };
    }
    throw new ConflictError(
      `${bead.id} already has the molecule ${existing.formula}${existing.formula === formula.name ? ' with other variables' : ''}`,
      {
        hint: `a bead carries one molecule; file a new bead for this one (gt formula run ${formula.name})`,
      },
    );
  }

  // Steps an interrupted attach of this formula made already.
  const children = await store.list({ parent: bead.id, types: ['step'], statuses: STATUSES, limit: 0 });
  const made = new Map<string, string>();
  for (const c of children) {
    const tag = c.metadata[STEP_KEY];
    if (isRecord(tag) && tag.formula === formula.name && typeof tag.id === 'string') made.set(tag.id, c.id);
  }
  const steps: MoleculeRecord['steps'] = [];
  for (const step of stepOrder(formula.steps)) {
    let id = made.get(step.id);
    if (id === undefined) {
      const created = await store.create(
        {
          parent: bead.id,
          title: substitute(step.title, vars),
          description: substitute(step.description, vars),
          issue_type: 'step',
          priority: bead.priority,
          depends_on: step.needs.map((n) => made.get(n) ?? ''),
          metadata: { [STEP_KEY]: { formula: formula.name, id: step.id } },
        },
        actor,
      );
      id = created.id;
      made.set(step.id, id);
    }
    steps.push({ id: step.id, bead: id, needs: [...step.needs] });
  }
  const record: MoleculeRecord = { formula: formula.name, version: formula.version, vars, steps };
  const [updated] = await store.update([bead.id], { metadata: { [MOLECULE_KEY]: record } }, actor);
  const view = updated === undefined ? undefined : await viewMolecule(store, updated);
  if (view === undefined) throw new NotFoundError(`no bead ${bead.id}`);
  return { status: view.status, attached: true };
}

export type StepDoneResult = {
  bead: string;
  formula: string;
  /** The step closed. */
  step: string;
  /** The step to do now, or null when none is ready (all done, or the rest wait). */
  next: string | null;
  /** Every step is done. */
  finished: boolean;
  status: MoleculeStatus;
};

/**
 * `gt mol step done [<id>]`: closes the current step (or the one named, when its needs are done). A step whose
 * needs are not done is refused, naming them; a named step done already is left as it is, so an agent that
 * retries the command (its first call timed out, say) never skips the next step. Without an id it closes
 * whatever is current: agents are told to name the step.
 */
export async function stepDone(
  store: BeadStore,
  beadId: string,
  stepId: string | undefined,
  actor: string,
): Promise<StepDoneResult> {
  const { status } = await moleculeOf(store, beadId);
  const step = stepToClose(status, status.formula, stepId);
  if (step.status !== 'done')
    await store.close([step.bead], { reason: `step ${step.id} of ${status.formula} done` }, actor);
  const after = (await moleculeOf(store, beadId)).status;
  return {
    bead: beadId,
    formula: after.formula,
    step: step.id,
    next: after.current,
    finished: after.done === after.total,
    status: after,
  };
}

/**
 * Closes the steps of the bead's molecule that are still open (gt done hands the work in, which is the last
 * step; a task that is not needed any more takes its steps with it). The ids closed; none without a molecule.
 */
export async function closeOpenSteps(
  store: BeadStore,
  beadId: string,
  reason: string,
  actor: string,
): Promise<string[]> {
  const [bead] = await store.show([beadId]).catch((err: unknown) => {
    if (err instanceof NotFoundError) return [];
    throw err;
  });
  const view = bead === undefined ? undefined : await viewMolecule(store, bead);
  if (view === undefined) return [];
  const open = view.status.steps.filter((s) => s.status !== 'done').map((s) => s.bead);
  if (open.length > 0) await store.close(open, { reason, force: true }, actor);
  return open;
}

/** The rig whose ledger a bead is in (by its id's prefix), or undefined for the town's own beads. */
export async function rigOfBead(
  store: { rigs(): Promise<{ name: string; prefix: string }[]> },
  beadId: string,
): Promise<string | undefined> {
  const rigs = await store.rigs();
  return rigs.filter((r) => beadId.startsWith(`${r.prefix}-`)).sort((a, b) => b.prefix.length - a.prefix.length)[0]
    ?.name;
}

/**
 * Attaches the formula `name` to the bead, found where the bead's rig (or `rig`) and then the town look first
 * (src/work/formula.ts).
 */
export async function attachFormula(
  store: BeadStore & { rigs(): Promise<{ name: string; prefix: string }[]> },
  townRoot: string,
  beadId: string,
  name: string,
  given: Readonly<Record<string, string>>,
  actor: string,
  rig?: string,
): Promise<AttachResult & { formula: Formula }> {
  const where = (await rigOfBead(store, beadId)) ?? rig;
  const { formula } = loadFormula(name, { town: townRoot, ...(where !== undefined ? { rig: where } : {}) });
  return { ...(await attachMolecule(store, beadId, formula, given, actor)), formula };
}
