import { isRecord } from './errors.js';

/**
 * A polecat's own run of the rig's gates (`gt gates`), as recorded in the store: on which commit, and how each
 * gate ended. gt done reads the records back to tell the refinery which commit passed them all. Pure.
 */

/** The activity a run leaves (subject: the agent's address). */
export const GATES_EVENT = 'gates_run';

export type GateOutcome = {
  name: string;
  argv: string[];
  ok: boolean;
  exit_code: number | null;
  timed_out: boolean;
  ms: number;
};

export type GatesRecord = {
  /** The commit HEAD was at, unchanged from before the first gate to after the last. */
  commit: string;
  branch: string;
  rig: string;
  /** Every gate passed. */
  ok: boolean;
  /** In the order they ran; a run stops at the first that fails. */
  gates: GateOutcome[];
};

/** A record as stored (JSON), or undefined when it is not one. */
export function readGatesRecord(text: string | null): GatesRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
  if (!isRecord(raw) || typeof raw.commit !== 'string' || !Array.isArray(raw.gates)) return undefined;
  const gates: GateOutcome[] = [];
  for (const g of raw.gates) {
    if (!isRecord(g) || typeof g.name !== 'string' || !Array.isArray(g.argv)) return undefined;
    gates.push({
      name: g.name,
      argv: g.argv.filter((a): a is string => typeof a === 'string'),
      ok: g.ok === true,
      exit_code: typeof g.exit_code === 'number' ? g.exit_code : null,
      timed_out: g.timed_out === true,
      ms: typeof g.ms === 'number' && Number.isFinite(g.ms) ? g.ms : 0,
    });
  }
  return {
    commit: raw.commit,
    branch: typeof raw.branch === 'string' ? raw.branch : '',
    rig: typeof raw.rig === 'string' ? raw.rig : '',
    ok: raw.ok === true && gates.every((g) => g.ok),
    gates,
  };
}

const sameArgv = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The commit whose gates all passed, if `commit` is it: the newest record for `commit` (records oldest first)
 * passed every gate the rig has now, each with the same argv. A record from before the rig's gates changed,
 * one that failed, or one for another commit counts for nothing; so does a rig without gates (nothing was run).
 */
export function gatesPassedOn(
  records: readonly GatesRecord[],
  commit: string,
  gates: readonly { name: string; argv: readonly string[] }[],
): string | null {
  if (gates.length === 0 || commit === '') return null;
  const last = records.filter((r) => r.commit === commit).at(-1);
  if (last === undefined || !last.ok) return null;
  const covered = gates.every((g) => last.gates.some((r) => r.name === g.name && r.ok && sameArgv(r.argv, g.argv)));
  return covered ? commit : null;
}
