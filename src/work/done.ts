import type { Agent } from '../core/agent-store.js';
import { PUSH_FAILURES_KEY, PUSH_REFUSED_KEY, type Bead } from '../core/bead.js';
import { ConflictError, GtError, ValidationError } from '../core/errors.js';
import { refusePatrol } from '../core/guard.js';
import {
  commitAll,
  fetchOrigin,
  GitCommandError,
  headCommit,
  pushBranch,
  remoteBranchCommit,
  worktreeSafety,
} from '../git/git.js';
import { gatesPassedOn } from '../core/gate-record.js';
import { supervisorOf } from '../core/identity.js';
import { MQ_KEYS } from '../core/merge-request.js';
import type { TownStore } from '../core/town-store.js';
import { loadRigSettings, rigPaths } from '../town/rig.js';
import { gateRecords } from './gates.js';
import { inbox, sendMail } from './mail.js';
import { closeOpenSteps } from './molecule.js';
import type { Town } from '../town/town.js';

/**
 * `gt done`: a polecat hands in its work. Steps, each one idempotent — it looks at what is already true
 * before it acts — so a crash between any two and a second `gt done` end where one uninterrupted run ends,
 * with one merge request:
 *
 *   commit   anything uncommitted is committed (a safety net, said so in the message)
 *   push     the branch goes to the remote (skipped when the remote already has this commit)
 *   request  a merge-request bead for the refinery, with a deterministic id (branch commit), so never two;
 *            it names the commit if the polecat's own gates (gt gates) all passed on the very commit submitted
 *   source   the source bead records the hand-in (COMPLETED: in_progress awaiting merge; DEFERRED: open
 *            again; ESCALATED: blocked, and the rig's witness gets mail), with a comment
 *   release  the hook is cleared and the agent is idle
 */

export const DONE_STATUSES = ['COMPLETED', 'DEFERRED', 'ESCALATED'] as const;
export type DoneStatus = (typeof DONE_STATUSES)[number];
export const DONE_STEPS = ['commit', 'push', 'request', 'source', 'release'] as const;
export type DoneStep = (typeof DONE_STEPS)[number];

export function isDoneStatus(v: string): v is DoneStatus {
  return (DONE_STATUSES as readonly string[]).includes(v);
}

export type DoneOptions = {
  status: DoneStatus;
  actor: string;
  /** A note for the record (why deferred or escalated). */
  note?: string;
  /** Tests: stop as if the process died right after this step. */
  crashAfter?: DoneStep;
  progress?: (line: string) => void;
};

export type DoneResult = {
  agent: string;
  bead: string;
  status: DoneStatus;
  branch: string;
  commit: string;
  /** The safety-net commit, when there was uncommitted work. */
  saved: string | null;
  pushed: boolean;
  merge_request: string | null;
  /** The submitted commit, when gt gates passed every gate of the rig on it (recorded on the merge request). */
  gates_passed_on: string | null;
  steps: DoneStep[];
};

export class DoneCrash extends GtError {
  constructor(step: DoneStep) {
    super('internal', 70, `gt done stopped after "${step}" (injected crash)`);
  }
}

/** The source bead of a polecat branch `polecat/<name>/<bead>@<stamp>`. */
export function beadFromBranch(branch: string): string | undefined {
  const m = /^polecat\/[^/]+\/([^@]+)@/u.exec(branch);
  return m?.[1];
}

export function mergeRequestId(prefix: string, commit: string): string {
  return `${prefix}-mr${commit.slice(0, 12)}`;
}

export async function done(town: Town, store: TownStore, agent: Agent, options: DoneOptions): Promise<DoneResult> {
  refusePatrol(options.actor, 'done');
  if (agent.role !== 'polecat' || agent.rig === null)
    throw new ValidationError(`gt done is for polecats; ${agent.address} is a ${agent.role}`, {
      hint: 'crew and other agents close beads with bd close',
    });
  const rig = await store.rig(agent.rig);
  const sandbox = agent.sandbox_path;
  const steps: DoneStep[] = [];
  const step = (s: DoneStep): void => {
    steps.push(s);
    options.progress?.(`✓ ${s}`);
    if (options.crashAfter === s) throw new DoneCrash(s);
  };

  const before = await worktreeSafety(sandbox, rig.default_branch);
  const branch = before.branch;
  if (branch === rig.default_branch || branch === 'HEAD')
    throw new ValidationError(`${agent.address} is on ${branch}, not on a work branch`, {
      hint: 'polecat work lives on polecat/<name>/… branches',
    });
  const beadId = agent.hook_bead ?? beadFromBranch(branch) ?? (await handedIn(store, agent, await headCommit(sandbox)));
  if (beadId === undefined)
    throw new ValidationError(`${agent.address} has nothing on its hook and its branch ${branch} names no bead`, {
      hint: 'there is no work to hand in',
    });
  const [bead] = await store.show([beadId]);
  if (bead === undefined) throw new ValidationError(`no bead ${beadId}`);

  // commit
  let saved: string | null = null;
  if (before.uncommitted.length > 0) {
    saved = await commitAll(
      sandbox,
      `${bead.id}: save uncommitted work (gt done safety net)\n\nFiles left uncommitted when ${agent.address} ran gt done: ${before.uncommitted.slice(0, 20).join(', ')}`,
    );
  }
  step('commit');

  await fetchOrigin(rigPaths(town.root, rig.name).repo);
  const after = await worktreeSafety(sandbox, rig.default_branch);
  const commit = await headCommit(sandbox);
  if (options.status === 'COMPLETED' && after.unmerged === 0) {
    throw new ValidationError(`${branch} has no commits beyond origin/${rig.default_branch}: nothing to submit`, {
      hint: 'commit the work first, or finish with --status DEFERRED or ESCALATED and say why',
    });
  }

  // push
  let pushed = false;
  if (after.unmerged > 0 && (await remoteBranchCommit(sandbox, branch)) !== commit) {
    try {
      await pushBranch(sandbox, branch);
    } catch (err) {
      // The hook and the branch stay; the failure goes where people look: the bead, the views, the witness.
      if (err instanceof GitCommandError) await recordRefusedPush(store, agent, bead, branch, err, options.actor);
      throw err;
    }
    pushed = true;
  }
  await clearRefusedPushes(store, bead.id, options.actor);
  step('push');

  // request
  let mr: string | null = null;
  let passedOn: string | null = null;
  if (options.status === 'COMPLETED') {
    passedOn = await ownGatesPassedOn(town, store, agent, rig.name, commit, options.progress);
    mr = await ensureMergeRequest(store, {
      bead,
      branch,
      commit,
      target: rig.default_branch,
      rig: rig.name,
      worker: agent.address,
      actor: options.actor,
      gatesPassedOn: passedOn,
    });
  }
  step('request');

  // source
  await recordOnSource(store, bead, {
    status: options.status,
    mr,
    branch,
    commit,
    worker: agent.address,
    actor: options.actor,
    note: options.note,
  });
  if (options.status === 'ESCALATED') await tellWitness(store, agent, bead, options.note);
  // Handing in is the last step of a molecule: its steps still open close with it (the merge closes the bead).
  if (options.status === 'COMPLETED')
    await closeOpenSteps(store, bead.id, `handed in by ${agent.address} with gt done`, options.actor);
  step('source');

  // release
  if ((await store.agent(agent.address)).hook_bead !== null) await store.unhook(agent.address, options.actor);
  await store.updateAgent(agent.address, { agent_state: 'idle' }, options.actor);
  step('release');

  return {
    agent: agent.address,
    bead: bead.id,
    status: options.status,
    branch,
    commit,
    saved,
    pushed,
    merge_request: mr,
    gates_passed_on: passedOn,
    steps,
  };
}

/** `commit` if the agent's own run of the rig's gates (gt gates) passed them all on it, else null. */
async function ownGatesPassedOn(
  town: Town,
  store: TownStore,
  agent: Agent,
  rig: string,
  commit: string,
  progress?: (line: string) => void,
): Promise<string | null> {
  let gates;
  try {
    gates = loadRigSettings(town.root, rig).refinery.gates;
  } catch (err) {
    // A broken settings file is the refinery's to report; the request is filed without it.
    progress?.(
      `the rig's gates could not be read, so the refinery will run them: ${err instanceof Error ? err.message : String(err)}`,
    );
    return null;
  }
  return gatesPassedOn(await gateRecords(store, agent.address), commit, gates);
}

/** An escalation goes to the rig's witness as mail, once. */
async function tellWitness(store: TownStore, agent: Agent, bead: Bead, note: string | undefined): Promise<void> {
  const witness = supervisorOf(agent); // a polecat's: its rig's witness
  const subject = `Escalated: ${bead.id} (${bead.title})`;
  try {
    if ((await inbox(store, witness, { all: true })).some((m) => m.subject === subject && m.from === agent.address))
      return;
  } catch {
    return; // no witness in this rig
  }
  await sendMail(store, {
    from: agent.address,
    to: witness,
    subject,
    body: note ?? `${agent.address} could not finish ${bead.id} and needs help.`,
  });
}

/** The bead this agent already handed in at this commit (a rerun after a finished gt done). */
async function handedIn(store: TownStore, agent: Agent, commit: string): Promise<string | undefined> {
  const mine = await store.list({ assignee: agent.address, statuses: ['in_progress', 'blocked'] });
  return mine.find((b) => typeof b.metadata.gt_done === 'string' && b.metadata.gt_done.endsWith(commit.slice(0, 12)))
    ?.id;
}

/** After this many refused pushes of one bead in a row, its agent's supervisor is told. */
export const PUSH_FAILURES_TO_TELL = 3;

/**
 * A push the remote refused, recorded on the bead: a comment with the remote's words, and in its metadata (how
 * many in a row, the last message) for the views; the agent's supervisor hears once it keeps happening.
 */
async function recordRefusedPush(
  store: TownStore,
  agent: Agent,
  bead: Bead,
  branch: string,
  err: GitCommandError,
  actor: string,
): Promise<void> {
  const [fresh] = await store.show([bead.id]);
  if (fresh === undefined) return;
  const previous = fresh.metadata[PUSH_FAILURES_KEY];
  const count = (typeof previous === 'number' ? previous : 0) + 1;
  // What the remote said (git's own framing of the command dropped: the comment names the branch).
  const message = err.message
    .replace(/^git push of \S+ failed: /, '')
    .replace(/\s+/g, ' ')
    .trim();
  await store.update([bead.id], { metadata: { [PUSH_FAILURES_KEY]: count, [PUSH_REFUSED_KEY]: message } }, actor);
  await store.addComment(bead.id, `Push of ${branch} refused by the remote (${count} in a row): ${message}`, actor);
  if (count === PUSH_FAILURES_TO_TELL)
    await sendMail(store, {
      from: agent.address,
      to: supervisorOf(agent),
      subject: `Push refused ${count} times: ${agent.address} on ${bead.id}`,
      body: `gt done could not push ${branch}; the remote said: ${message}\nThe hook and the branch are kept. Look at the remote (permissions, protected branches, hooks), then have it run gt done again.`,
    }).catch(() => undefined);
}

/** A push that went through ends the run of refusals. */
async function clearRefusedPushes(store: TownStore, beadId: string, actor: string): Promise<void> {
  const [fresh] = await store.show([beadId]);
  if (fresh === undefined || fresh.metadata[PUSH_FAILURES_KEY] == null) return;
  // Metadata updates merge: null is how a key is emptied.
  await store.update([beadId], { metadata: { [PUSH_FAILURES_KEY]: null, [PUSH_REFUSED_KEY]: null } }, actor);
}

async function ensureMergeRequest(
  store: TownStore,
  m: {
    bead: Bead;
    branch: string;
    commit: string;
    target: string;
    rig: string;
    worker: string;
    actor: string;
    gatesPassedOn: string | null;
  },
): Promise<string> {
  // The rig's work, in the rig's ledger: its merge requests carry the rig's prefix.
  const id = mergeRequestId((await store.rig(m.rig)).prefix, m.commit);
  const existing = (await store.show([id]).catch(() => []))[0];
  if (existing !== undefined) {
    // Handed in again after gt gates passed on this commit: the open request learns it.
    if (m.gatesPassedOn !== null && existing.status !== 'closed' && existing.metadata[MQ_KEYS.gatesPassedOn] == null)
      await store.update([id], { metadata: { [MQ_KEYS.gatesPassedOn]: m.gatesPassedOn } }, m.actor);
    return existing.id;
  }
  try {
    const created = await store.create(
      {
        id,
        title: `Merge ${m.bead.id}: ${m.bead.title}`,
        issue_type: 'merge-request',
        priority: m.bead.priority,
        description: [
          `branch: ${m.branch}`,
          `target: ${m.target}`,
          `source: ${m.bead.id}`,
          `rig: ${m.rig}`,
          `worker: ${m.worker}`,
          `commit: ${m.commit}`,
        ].join('\n'),
        labels: ['gt:merge-request'],
        metadata: {
          branch: m.branch,
          target: m.target,
          source_bead: m.bead.id,
          rig: m.rig,
          worker: m.worker,
          commit: m.commit,
          ...(m.gatesPassedOn !== null ? { [MQ_KEYS.gatesPassedOn]: m.gatesPassedOn } : {}),
        },
      },
      m.actor,
    );
    return created.id;
  } catch (err) {
    if (err instanceof ConflictError) return id; // made by a run that died right after
    throw err;
  }
}

async function recordOnSource(
  store: TownStore,
  bead: Bead,
  r: {
    status: DoneStatus;
    mr: string | null;
    branch: string;
    commit: string;
    worker: string;
    actor: string;
    note?: string;
  },
): Promise<void> {
  const fresh = (await store.show([bead.id]))[0] ?? bead;
  const marker = `gt done ${r.status} ${r.commit.slice(0, 12)}`;
  if (fresh.metadata.gt_done !== marker) {
    const metadata = { ...fresh.metadata, gt_done: marker, ...(r.mr !== null ? { gt_merge_request: r.mr } : {}) };
    const status = r.status === 'COMPLETED' ? 'in_progress' : r.status === 'DEFERRED' ? 'open' : 'blocked';
    await store.update([bead.id], { status, assignee: r.status === 'DEFERRED' ? null : r.worker, metadata }, r.actor);
  }
  const text =
    r.status === 'COMPLETED'
      ? `Submitted by ${r.worker}: branch ${r.branch} at ${r.commit.slice(0, 12)}, merge request ${r.mr ?? ''}.`
      : `${r.status === 'DEFERRED' ? 'Deferred' : 'Escalated'} by ${r.worker}: branch ${r.branch} at ${r.commit.slice(0, 12)}.${r.note !== undefined ? ` ${r.note}` : ''}`;
  // Each step looks before it acts: the comment too, so a rerun never says it twice.
  if (!(await store.comments(bead.id)).some((c) => c.text === text)) await store.addComment(bead.id, text, r.actor);
}
