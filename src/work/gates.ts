import { randomBytes } from 'node:crypto';
import type { Agent } from '../core/agent-store.js';
import { GtError, ValidationError } from '../core/errors.js';
import { GATES_EVENT, readGatesRecord, type GateOutcome, type GatesRecord } from '../core/gate-record.js';
import type { TownStore } from '../core/town-store.js';
import { GATE_OWNER_ENV, killGatesOf, runGate } from '../exec/gate.js';
import { headCommit, worktreeSafety } from '../git/git.js';
import { loadRigSettings } from '../town/rig.js';
import type { Town } from '../town/town.js';

/**
 * `gt gates`: a polecat runs its rig's merge gates (refinery.gates in `<rig>/settings.json`) in its own sandbox,
 * on the commit it is about to hand in, and the result is recorded in the store (a `gates_run` activity of the
 * agent: the commit, and how each gate ended). gt done passes the commit on to the merge request when every gate
 * passed on the very commit it submits, so the refinery need not run them again while the target has not moved.
 * The sandbox must be clean before (what gt done would commit is not what was tested) and after (a gate that
 * changes the files or moves HEAD tested something else): otherwise nothing is recorded.
 */

export type OwnGatesResult = {
  agent: string;
  rig: string;
  branch: string;
  commit: string;
  /** Every gate passed (false when the rig has none: nothing was run). */
  ok: boolean;
  gates: GateOutcome[];
  /** The output's tail of the gate that failed. */
  failed_output: string | null;
  recorded: boolean;
  /** Why it was not recorded, when it was not. */
  not_recorded: string | null;
};

export class GatesInterrupted extends GtError {
  constructor() {
    super('internal', 130, 'gt gates was interrupted: its gates were stopped and nothing was recorded');
  }
}

export async function runOwnGates(
  town: Town,
  store: TownStore,
  agent: Agent,
  options: {
    actor: string;
    env: Readonly<Record<string, string | undefined>>;
    signal?: AbortSignal;
    progress?: (line: string) => void;
  },
): Promise<OwnGatesResult> {
  if ((agent.role !== 'polecat' && agent.role !== 'crew') || agent.rig === null)
    throw new ValidationError(
      `gt gates runs in a polecat's or crew member's sandbox; ${agent.address} is a ${agent.role}`,
      {
        hint: 'the refinery runs the gates of what is queued itself (gt refinery run <rig>)',
      },
    );
  const rig = await store.rig(agent.rig);
  const settings = loadRigSettings(town.root, rig.name).refinery;
  const sandbox = agent.sandbox_path;
  const before = await worktreeSafety(sandbox, rig.default_branch);
  const commit = await headCommit(sandbox);
  const result: OwnGatesResult = {
    agent: agent.address,
    rig: rig.name,
    branch: before.branch,
    commit,
    ok: false,
    gates: [],
    failed_output: null,
    recorded: false,
    not_recorded: null,
  };
  if (settings.gates.length === 0) {
    result.not_recorded = `the rig has no gates (refinery.gates in ${rig.name}/settings.json): nothing to run`;
    return result;
  }
  if (before.uncommitted.length > 0)
    throw new ValidationError(
      `the sandbox has uncommitted changes (${before.uncommitted.slice(0, 5).join(', ')}${before.uncommitted.length > 5 ? ', …' : ''}): the gates would not test the commit you hand in`,
      { hint: 'commit them (or remove them), then run gt gates again' },
    );

  // Each gate runs in a process group of its own; the owner tag lets an interrupted run end them all.
  const owner = `gates-${process.pid}-${randomBytes(6).toString('hex')}`;
  const env: NodeJS.ProcessEnv = { ...options.env, [GATE_OWNER_ENV]: owner };
  const stop = (): void => void killGatesOf(owner);
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    for (const gate of settings.gates) {
      options.progress?.(`running ${gate.name}: ${gate.argv.join(' ')}`);
      const g = await runGate(gate.argv, sandbox, settings.gate_timeout_seconds * 1000, env);
      if (options.signal?.aborted === true) throw new GatesInterrupted();
      result.gates.push({
        name: gate.name,
        argv: [...gate.argv],
        ok: g.ok,
        exit_code: g.exitCode,
        timed_out: g.timedOut,
        ms: g.ms,
      });
      options.progress?.(
        `${g.ok ? '✓' : '✗'} ${gate.name} (${(g.ms / 1000).toFixed(1)} s)${g.timedOut ? ', timed out' : ''}`,
      );
      if (!g.ok) {
        result.failed_output = g.tail;
        break;
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
  }
  result.ok = result.gates.length === settings.gates.length && result.gates.every((g) => g.ok);

  const after = await worktreeSafety(sandbox, rig.default_branch);
  const headAfter = await headCommit(sandbox);
  if (headAfter !== commit) {
    result.not_recorded = `HEAD moved from ${commit.slice(0, 12)} to ${headAfter.slice(0, 12)} while the gates ran`;
    return result;
  }
  if (after.uncommitted.length > 0) {
    result.not_recorded = `the gates left changes in the sandbox (${after.uncommitted.slice(0, 5).join(', ')}${after.uncommitted.length > 5 ? ', …' : ''}), which gt done would commit: ignore them in .gitignore or remove them`;
    return result;
  }
  const record: GatesRecord = { commit, branch: before.branch, rig: rig.name, ok: result.ok, gates: result.gates };
  await store.recordActivity(agent.address, GATES_EVENT, JSON.stringify(record), options.actor);
  result.recorded = true;
  return result;
}

/** The agent's recorded runs of its gates, oldest first. */
export async function gateRecords(store: TownStore, address: string): Promise<GatesRecord[]> {
  const events = await store.events({ issueId: address, eventType: GATES_EVENT, limit: 0 });
  return events.flatMap((e) => readGatesRecord(e.new_value) ?? []);
}
