import { cpus } from 'node:os';
import { join } from 'node:path';
import type { CreateInput } from '../core/bead-store.js';
import { ConflictError, errorMessage, InternalError } from '../core/errors.js';
import {
  decideBatch,
  nextBatchSize,
  orderQueue,
  pairKey,
  pickBatch,
  type BatchSizing,
  type PrefixResult,
} from '../core/merge-queue.js';
import { MQ_KEYS, readMergeRequest, type MergeRequest, type ReturnCause } from '../core/merge-request.js';
import type { RefinerySettings } from '../core/settings.js';
import type { TownStore } from '../core/town-store.js';
import { runGate } from '../exec/gate.js';
import { fetchOrigin } from '../git/git.js';
import {
  addScratchWorktree,
  commitOf,
  conflictsBetween,
  deleteLandedBranch,
  isAncestor,
  mergeConflicts,
  pushIfUnchanged,
  removeScratchWorktree,
  stackMerges,
} from '../git/merge.js';
import { loadRigSettings, rigPaths } from '../town/rig.js';
import type { Town } from '../town/town.js';
import { clearDeadPasses, closePassScratch, openPassScratch, type PassScratch } from './scratch.js';

/**
 * The refinery's pass over one rig's merge queue: mechanical, no model. It lands what it can on the target
 * branch and sends back what cannot land:
 *
 *   finish   requests a killed pass already landed (their commit is in the target) are closed as landed
 *   order    priority, then first come first served, with an age boost (core/merge-queue)
 *   predict  conflicts with the target and among the candidates (git merge-tree), so none breaks a batch
 *   stack    the batch merged --no-ff onto the target in a scratch worktree; agents' branches are never rewritten
 *   test     the rig's gates on the prefixes the planner asks for, side by side where cores allow
 *   land     the chosen prefix pushed by compare-and-swap; each request proven in the new target, then closed
 *   return   culprits and conflicts get a task bead that says what to fix; the request waits on it
 *
 * A pass killed at any point leaves the target either untouched or moved to a fully tested prefix, and the
 * next pass resumes from the store and the remote alone.
 */

export type RefineryContext = {
  town: Town;
  store: TownStore;
  /** The refinery's own address (`<rig>/refinery`), the actor of what it writes. */
  actor: string;
  now: () => number;
  progress?: (line: string) => void;
};

export type GateRun = { prefix: number; commit: string; gate: string; ok: boolean; ms: number; timedOut: boolean };

export type PassReport = {
  rig: string;
  target: string;
  /** The target's commit after the pass. */
  head: string | null;
  landed: string[];
  returned: { id: string; cause: ReturnCause; task: string }[];
  escalated: string[];
  /** Requests of the batch sent back to the queue untested (after a culprit, or deferred by a conflict). */
  requeued: string[];
  batch: string[];
  gateRuns: GateRun[];
  /** Rounds of tests the batch needed (a round runs up to `parallel` gates at once). */
  rounds: number;
  flaky: boolean;
  /** The target itself fails a gate: nothing is blamed, the queue waits (a bug bead says so). */
  targetBroken: string | null;
  /** Someone else pushed to the target while the batch was tested: the pass ends without landing. */
  moved: boolean;
  /**
   * The remote refused the push of the tested prefix (a hook, permissions): what it said, and the rig's
   * escalation that records it. Its requests stay queued; they land once the remote takes the push.
   */
  refused: { detail: string; escalation: string } | null;
};

const BATCH_KEY = (rig: string): string => `refinery.${rig}.batch_size`;

/** The activity each pass that did something leaves (subject `<rig>/refinery`). */
export const PASS_EVENT = 'mq_pass';

/** What an `mq_pass` activity holds. */
export type PassRecord = {
  batch: number;
  landed: number;
  returned: ReturnCause[];
  escalated: number;
  gate_runs: number;
  /** Test rounds of the batch (tip first; more when it was red). */
  rounds: number;
  /** A culprit was found (the batch was red). */
  red: boolean;
  flaky: boolean;
  moved: boolean;
  target_broken: boolean;
  ms: number;
};

/** The rig's open merge requests, as the queue sees them. */
export async function mergeRequests(store: TownStore, rig: string, includeClosed = false): Promise<MergeRequest[]> {
  const beads = await store.list({
    types: ['merge-request'],
    limit: 0,
    ...(includeClosed ? { statuses: ['open', 'in_progress', 'blocked', 'closed'] } : {}),
  });
  const out: MergeRequest[] = [];
  for (const b of beads) {
    const mr = readMergeRequest(b);
    if (mr !== undefined && mr.rig === rig) out.push(mr);
  }
  return out;
}

async function batchSizing(store: TownStore, rig: string, s: RefinerySettings): Promise<BatchSizing> {
  const saved = Number(await store.getConfig(BATCH_KEY(rig)));
  const size = Number.isInteger(saved) && saved > 0 ? saved : s.batch_min;
  return { size: Math.min(Math.max(size, s.batch_min), s.batch_max), min: s.batch_min, max: s.batch_max };
}

/** Whether a pass changed the queue: something landed, went back or was escalated, or the target moved. */
export function madeProgress(r: PassReport): boolean {
  return r.landed.length + r.returned.length + r.escalated.length > 0 || r.moved;
}

/** One pass, recorded as an `mq_pass` activity of the rig's refinery (what gt mq status counts). */
export async function runPass(ctx: RefineryContext, rigName: string): Promise<PassReport> {
  const started = ctx.now();
  const report = await pass(ctx, rigName);
  // (a moved target implies a tested batch, so this is what it was: a batch, or something landed or went back)
  if (report.batch.length > 0 || madeProgress(report)) {
    const record: PassRecord = {
      batch: report.batch.length,
      landed: report.landed.length,
      returned: report.returned.map((r) => r.cause),
      escalated: report.escalated.length,
      gate_runs: report.gateRuns.length,
      rounds: report.rounds,
      red: report.returned.some((r) => r.cause === 'fix-needed'),
      flaky: report.flaky,
      moved: report.moved,
      target_broken: report.targetBroken !== null,
      ms: ctx.now() - started,
    };
    await ctx.store.recordActivity(`${rigName}/refinery`, PASS_EVENT, JSON.stringify(record), ctx.actor);
  }
  return report;
}

async function pass(ctx: RefineryContext, rigName: string): Promise<PassReport> {
  const rig = await ctx.store.rig(rigName);
  const settings = loadRigSettings(ctx.town.root, rigName).refinery;
  const paths = rigPaths(ctx.town.root, rigName);
  const repo = paths.repo;
  const target = rig.default_branch;
  const report: PassReport = {
    rig: rigName,
    target,
    head: null,
    landed: [],
    returned: [],
    escalated: [],
    requeued: [],
    batch: [],
    gateRuns: [],
    rounds: 0,
    flaky: false,
    targetBroken: null,
    moved: false,
    refused: null,
  };
  // What killed passes left (scratch worktrees, gates still running in them) goes first.
  const scratchRoot = join(paths.root, 'refinery', 'scratch');
  await clearDeadPasses(repo, scratchRoot, ctx.progress);
  await fetchOrigin(repo);
  const head = await commitOf(repo, `refs/remotes/origin/${target}`);
  if (head === undefined) throw new Error(`origin has no branch ${target}`);
  report.head = head;

  const open = await mergeRequests(ctx.store, rigName);
  // finish: a pass killed after its push left requests that are in the target already.
  const queued: MergeRequest[] = [];
  for (const found of open) {
    let mr = found;
    if (mr.state === 'returned') {
      const back = await requeueIfFixed(ctx, mr);
      if (back === undefined) continue;
      mr = back; // its task is done: in the queue again, this pass
    }
    if (mr.state === 'escalated') continue;
    if ((await commitOf(repo, mr.commit)) === undefined) {
      const r = await returnRequest(ctx, mr, settings, 'branch-missing', {
        detail: `the commit ${mr.commit.slice(0, 12)} of ${mr.branch} is not in the rig's clone (was the branch deleted before it landed?)`,
      });
      if (r !== undefined) report.returned.push(r);
      else report.escalated.push(mr.id);
      continue;
    }
    if (await isAncestor(repo, mr.commit, head)) {
      await closeLanded(ctx, repo, mr, head, 'found in the target already');
      report.landed.push(mr.id);
      continue;
    }
    queued.push(mr);
  }
  if (queued.length === 0) return report;

  // order, then predict conflicts among the first candidates (a pass looks at no more than it could batch twice).
  const sizing = await batchSizing(ctx.store, rigName, settings);
  const ordered = orderQueue(
    queued.map((mr) => ({ ...mr, id: mr.id })),
    { nowMs: ctx.now(), ageBoostPerHour: settings.age_boost_per_hour },
  );
  const window = ordered.slice(0, sizing.size * 2);
  const withTarget = new Set<string>();
  const conflictFiles = new Map<string, string[]>();
  for (const mr of window) {
    const files = await mergeConflicts(repo, head, mr.commit);
    if (files.length > 0) {
      withTarget.add(mr.id);
      conflictFiles.set(mr.id, files);
    }
  }
  const pairs = new Set<string>();
  const clean = window.filter((mr) => !withTarget.has(mr.id));
  for (let i = 0; i < clean.length; i++)
    for (let j = i + 1; j < clean.length; j++) {
      const a = clean[i];
      const b = clean[j];
      if (a === undefined || b === undefined) continue;
      if ((await conflictsBetween(repo, head, a.commit, b.commit)).length > 0) pairs.add(pairKey(a.id, b.id));
    }
  const pick = pickBatch(window, sizing.size, { withTarget, pairs });
  const byId = new Map(queued.map((mr) => [mr.id, mr]));
  for (const id of pick.conflicts) {
    const mr = byId.get(id);
    if (mr === undefined) continue;
    const r = await returnRequest(ctx, mr, settings, 'conflict', {
      files: conflictFiles.get(id) ?? [],
      detail: `merging ${mr.branch} onto ${target} (${head.slice(0, 12)}) conflicts`,
    });
    if (r !== undefined) report.returned.push(r);
    else report.escalated.push(id);
  }
  report.requeued.push(...pick.deferred);
  if (pick.batch.length === 0) return report;
  const batch = pick.batch.map((id) => byId.get(id)).filter((mr): mr is MergeRequest => mr !== undefined);
  report.batch = batch.map((mr) => mr.id);
  ctx.progress?.(`batch of ${batch.length} on ${target} ${head.slice(0, 12)}: ${report.batch.join(', ')}`);

  // stack, in a scratch worktree of the shared clone, in the pass's own area.
  const scratch = openPassScratch(scratchRoot);
  try {
    await testAndLand(ctx, { report, batch, byId, settings, sizing, repo, head, scratch });
  } finally {
    await closePassScratch(repo, scratch).catch((err: unknown) =>
      ctx.progress?.(`could not remove the scratch ${scratch.dir}: ${errorMessage(err)}`),
    );
  }
  return report;
}

type Batch = {
  report: PassReport;
  batch: MergeRequest[];
  byId: Map<string, MergeRequest>;
  settings: RefinerySettings;
  sizing: BatchSizing;
  repo: string;
  head: string;
  scratch: PassScratch;
};

/** Stacks the batch, tests it as the planner asks, lands the passing prefix and returns the culprits. */
async function testAndLand(ctx: RefineryContext, b: Batch): Promise<void> {
  const { report, batch, byId, settings, sizing, repo, head, scratch } = b;
  const { rig: rigName, target } = report;
  const stackDir = join(scratch.dir, 'stack');
  await addScratchWorktree(repo, stackDir, head);
  let commits: string[];
  try {
    const stacked = await stackMerges(
      stackDir,
      batch.map((mr) => ({ ref: mr.commit, message: `Merge ${mr.branch} (${mr.id}: ${mr.title})` })),
      { name: ctx.actor, email: `${rigName}-refinery@gastown.local` },
    );
    if (!stacked.ok) {
      // Predicted clean, yet it conflicts on the stack: return that one; the others wait for the next pass.
      const culprit = batch[stacked.conflictAt - 1];
      if (culprit !== undefined) {
        const r = await returnRequest(ctx, culprit, settings, 'conflict', {
          files: stacked.files,
          detail: `merging ${culprit.branch} onto ${target} together with the requests before it conflicts`,
        });
        if (r !== undefined) report.returned.push(r);
        else report.escalated.push(culprit.id);
      }
      report.requeued.push(...batch.filter((mr) => mr !== culprit).map((mr) => mr.id));
      return;
    }
    commits = stacked.commits;
  } finally {
    await removeScratchWorktree(repo, stackDir).catch(() => undefined);
  }

  // test: the planner says which prefixes; each run gets its own scratch worktree.
  const slots = Math.max(1, Math.min(settings.parallel, cpus().length));
  const results: PrefixResult[] = [];
  /** The last failure seen on each prefix: its output's tail, and whether the gate ran out of time. */
  const failures = new Map<number, { tail: string; timedOut: boolean }>();
  const commitAt = (prefix: number): string => (prefix === 0 ? head : (commits[prefix - 1] ?? head));
  let decision = decideBatch({ batch: report.batch, results, slots });
  let seq = 0;
  while (decision.kind === 'test') {
    report.rounds++;
    const round = await Promise.all(
      decision.runs.map(async (run) => {
        const dir = join(scratch.dir, `gate-${seq++}`);
        const commit = commitAt(run.prefix);
        await addScratchWorktree(repo, dir, commit);
        try {
          const gates = run.gate === undefined ? settings.gates : settings.gates.filter((g) => g.name === run.gate);
          for (const gate of gates) {
            const g = await runGate(gate.argv, dir, settings.gate_timeout_seconds * 1000, scratch.gateEnv);
            report.gateRuns.push({
              prefix: run.prefix,
              commit,
              gate: gate.name,
              ok: g.ok,
              ms: g.ms,
              timedOut: g.timedOut,
            });
            if (!g.ok) {
              failures.set(run.prefix, { tail: g.tail, timedOut: g.timedOut });
              return {
                prefix: run.prefix,
                outcome: 'fail' as const,
                failedGate: gate.name,
                ...(run.gate !== undefined ? { rerun: true } : {}),
              };
            }
          }
          return { prefix: run.prefix, outcome: 'pass' as const, ...(run.gate !== undefined ? { rerun: true } : {}) };
        } finally {
          await removeScratchWorktree(repo, dir).catch(() => undefined);
        }
      }),
    );
    results.push(...round);
    decision = decideBatch({ batch: report.batch, results, slots });
  }

  if (decision.kind === 'target-broken') {
    report.targetBroken = decision.gate;
    await fileBrokenTarget(ctx, rigName, target, head, decision.gate, failures.get(0)?.tail ?? '');
    report.requeued.push(...report.batch);
    return;
  }

  // land: the prefix, by compare-and-swap.
  report.flaky = decision.flaky;
  let newHead = head;
  let landed = decision.landed;
  if (decision.prefix > 0) {
    const landing = commitAt(decision.prefix);
    const pushed = await pushIfUnchanged(repo, landing, target, head);
    if (!pushed.landed && pushed.reason === 'moved') {
      report.moved = true;
      report.requeued.push(...report.batch);
      return;
    }
    if (pushed.landed) {
      newHead = pushed.commit;
      report.head = newHead;
      await closeRefusals(ctx, rigName, target, newHead);
    } else {
      // Refused (a hook, permissions): nothing landed, so nothing is closed; the prefix waits in the queue for
      // a remote that takes it, and the refusal is recorded once for the rig. The culprits found stand.
      const escalation = await fileRefusal(ctx, rigName, target, pushed.detail, landed);
      report.refused = { detail: pushed.detail, escalation };
      report.requeued.push(...landed);
      landed = [];
    }
  }
  for (const id of landed) {
    const mr = byId.get(id);
    if (mr === undefined) continue;
    // Proven in the new target before anything is closed or deleted.
    if (!(await isAncestor(repo, mr.commit, newHead)))
      throw new InternalError(`${id} is not in ${target} at ${newHead} after landing it`);
    await closeLanded(ctx, repo, mr, newHead, `landed in a batch of ${landed.length}`);
    report.landed.push(id);
  }
  for (const c of decision.culprits) {
    const mr = byId.get(c.id);
    if (mr === undefined) continue;
    const failure = failures.get(batch.indexOf(mr) + 1) ?? [...failures.values()].at(-1);
    const how =
      failure?.timedOut === true
        ? `did not finish within ${settings.gate_timeout_seconds} s (it was stopped)`
        : 'fails';
    const r = await returnRequest(ctx, mr, settings, 'fix-needed', {
      gate: c.gate,
      output: failure?.tail ?? '',
      detail: `with ${mr.branch} merged onto ${target}, the gate "${c.gate}" ${how} (without it, it passes)`,
    });
    if (r !== undefined) report.returned.push(r);
    else report.escalated.push(mr.id);
  }
  report.requeued.push(...decision.requeue);
  const next = nextBatchSize(sizing, decision.culprits.length === 0 ? 'green' : 'red');
  await ctx.store.setConfig(BATCH_KEY(rigName), String(next.size), ctx.actor);
}

/** The fix task of a request's `attempt`-th return: one id per return, so a pass killed midway never makes two. */
function fixTaskId(mr: string, attempt: number): string {
  return `${mr}-fix${attempt}`;
}

/** Creates the bead `input.id` unless a pass killed right after creating it did: the bead either way. */
async function createOnce(ctx: RefineryContext, input: CreateInput & { id: string }): Promise<{ id: string }> {
  try {
    return await ctx.store.create(input, ctx.actor);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const [bead] = await ctx.store.show([input.id]);
    if (bead === undefined) throw err;
    return bead;
  }
}

/** Adds a comment unless one starting with `lead` is there already (from a pass killed after writing it). */
async function commentOnce(ctx: RefineryContext, id: string, lead: string, text: string): Promise<void> {
  if ((await ctx.store.comments(id)).some((c) => c.text.startsWith(lead))) return;
  await ctx.store.addComment(id, text, ctx.actor);
}

/**
 * Closes a request proven in the target at `head`. A pass killed midway leaves it open, and the next pass finds it
 * in the target and calls this again, so the request itself closes last: its source, a fix task a killed return
 * made for an attempt that never came, its branch, one landing comment, then the request.
 */
async function closeLanded(
  ctx: RefineryContext,
  repo: string,
  mr: MergeRequest,
  head: string,
  how: string,
): Promise<void> {
  const [bead] = await ctx.store.show([mr.id]);
  if (bead === undefined || bead.status === 'closed') return;
  // A killed pass that got this far recorded the commit it landed in.
  const at = mr.state === 'landed' && mr.landedIn !== null ? mr.landedIn : head;
  const where = `${mr.target} at ${at.slice(0, 12)}`;
  await ctx.store.update(
    [mr.id],
    { metadata: { ...bead.metadata, [MQ_KEYS.state]: 'landed', [MQ_KEYS.landedIn]: at } },
    ctx.actor,
  );
  const log = (what: string) => (err: unknown) => ctx.progress?.(`could not ${what}: ${errorMessage(err)}`);
  if (mr.source !== '')
    await ctx.store
      .close([mr.source], { reason: `merged as ${mr.id} in ${where}` }, ctx.actor)
      .catch(log(`close ${mr.source}`));
  const stray = fixTaskId(mr.id, mr.attempts + 1);
  const [task] = await ctx.store.show([stray]).catch(() => []);
  if (task !== undefined && task.status !== 'closed')
    await ctx.store
      .close([stray], { reason: `not needed: ${mr.id} landed in ${where}` }, ctx.actor)
      .catch(log(`close ${stray}`));
  await deleteLandedBranch(repo, mr.branch).catch(log(`delete ${mr.branch}`));
  await commentOnce(ctx, mr.id, 'Landed in ', `Landed in ${where} (${how}).`);
  await ctx.store.close([mr.id], { reason: `landed in ${where}` }, ctx.actor);
}

type ReturnFacts = { detail: string; files?: string[]; gate?: string; output?: string };

/**
 * Sends a request back: a task bead that says what to fix (the conflicting files, or the failing gate and
 * its output), which the request waits on; or, after max_attempts returns, an escalation. The task's id, or
 * undefined when it was escalated. The request's own state is written last: a pass killed before that leaves
 * it queued, and the next one that sends it back finds the same task (one id per return) and the same comment.
 */
async function returnRequest(
  ctx: RefineryContext,
  mr: MergeRequest,
  settings: RefinerySettings,
  cause: ReturnCause,
  facts: ReturnFacts,
): Promise<{ id: string; cause: ReturnCause; task: string } | undefined> {
  const [bead] = await ctx.store.show([mr.id]);
  if (bead === undefined) return undefined;
  const attempts = mr.attempts + 1;
  const what = cause === 'conflict' ? 'Resolve a conflict' : cause === 'fix-needed' ? 'Fix needed' : 'Branch missing';
  const lines = [
    `${what} before ${mr.branch} can land on ${mr.target} (merge request ${mr.id}, source ${mr.source}).`,
    '',
    facts.detail,
    ...(facts.files !== undefined && facts.files.length > 0
      ? ['', 'Conflicting files:', ...facts.files.map((f) => `- ${f}`)]
      : []),
    ...(facts.gate !== undefined ? ['', `Failing gate: ${facts.gate}`] : []),
    ...(facts.output !== undefined && facts.output.trim() !== ''
      ? ['', 'Its output ends with:', '```', facts.output.trim().split('\n').slice(-40).join('\n'), '```']
      : []),
    '',
    `Re-check: git fetch origin && git merge origin/${mr.target}, fix, commit, then gt done.`,
  ];
  const prefix = (await ctx.store.rig(mr.rig)).prefix;
  if (attempts > settings.max_attempts) {
    const esc = await createOnce(ctx, {
      id: `${mr.id}-esc`,
      prefix,
      title: `Merge request ${mr.id} returned ${mr.attempts} times: ${mr.title}`,
      issue_type: 'escalation',
      labels: ['gt:escalation'],
      description: lines.join('\n'),
    });
    const lead = `Escalated as ${esc.id}`;
    await commentOnce(ctx, mr.id, lead, `${lead} (${cause}) after ${mr.attempts} returns.`);
    await ctx.store.update(
      [mr.id],
      {
        metadata: {
          ...bead.metadata,
          [MQ_KEYS.state]: 'escalated',
          [MQ_KEYS.cause]: cause,
          [MQ_KEYS.waitingOn]: esc.id,
        },
      },
      ctx.actor,
    );
    return undefined;
  }
  const task = await createOnce(ctx, {
    id: fixTaskId(mr.id, attempts),
    prefix,
    title: `${what}: ${mr.title.replace(/^Merge [^:]+: /u, '')}`,
    issue_type: 'task',
    priority: mr.priority,
    description: lines.join('\n'),
    metadata: { mq_fix_for: mr.id, branch: mr.branch, cause },
  });
  await ctx.store.addDependency(mr.id, task.id, 'blocks', ctx.actor);
  const lead = `Returned (${cause}): waits on ${task.id}.`;
  await commentOnce(ctx, mr.id, lead, `${lead} ${facts.detail}`);
  await ctx.store.update(
    [mr.id],
    {
      metadata: {
        ...bead.metadata,
        [MQ_KEYS.state]: 'returned',
        [MQ_KEYS.cause]: cause,
        [MQ_KEYS.waitingOn]: task.id,
        [MQ_KEYS.attempts]: attempts,
      },
    },
    ctx.actor,
  );
  return { id: mr.id, cause, task: task.id };
}

/** The title of the rig's escalation while its remote refuses the refinery's pushes to `target`. */
function refusalTitle(rig: string, target: string): string {
  return `${rig}: the remote refuses the refinery's pushes to ${target}`;
}

async function openRefusals(ctx: RefineryContext, rig: string, target: string): Promise<string[]> {
  const open = await ctx.store.list({ types: ['escalation'], labels: ['gt:escalation'], limit: 0 });
  return open.filter((e) => e.title === refusalTitle(rig, target)).map((e) => e.id);
}

/**
 * Records a refused push once for the rig: an escalation with the remote's words, filed while none is open.
 * The refusal is the remote's (a hook, permissions, a protected branch), not any request's, and it repeats at
 * every pass until someone fixes the remote: one bead for the rig, closed by the first push that lands, says
 * it where escalations are read, without a comment on every request at every pass. Its id.
 */
async function fileRefusal(
  ctx: RefineryContext,
  rig: string,
  target: string,
  detail: string,
  waiting: readonly string[],
): Promise<string> {
  const [open] = await openRefusals(ctx, rig, target);
  if (open !== undefined) return open;
  const esc = await ctx.store.create(
    {
      prefix: (await ctx.store.rig(rig)).prefix,
      title: refusalTitle(rig, target),
      issue_type: 'escalation',
      priority: 1,
      labels: ['gt:escalation'],
      description: [
        `The remote refused the refinery's push of a tested batch to ${target} (${waiting.join(', ')}). It said:`,
        '',
        '```',
        detail.trim(),
        '```',
        '',
        'Nothing was closed: the requests stay queued and land at the first pass after the remote takes the push.',
        `Look at the remote (permissions, protected branches, hooks), then run "gt refinery run ${rig}".`,
        'The refinery closes this escalation when a push of its lands.',
      ].join('\n'),
    },
    ctx.actor,
  );
  return esc.id;
}

/** A push that landed ends the refusal: its escalation is closed. */
async function closeRefusals(ctx: RefineryContext, rig: string, target: string, head: string): Promise<void> {
  const open = await openRefusals(ctx, rig, target);
  if (open.length === 0) return;
  await ctx.store.close(open, { reason: `the remote took the push of ${target} at ${head.slice(0, 12)}` }, ctx.actor);
}

/** A returned request whose task is closed goes back to the queue, ahead of its peers: the request as it is now. */
async function requeueIfFixed(ctx: RefineryContext, mr: MergeRequest): Promise<MergeRequest | undefined> {
  if (mr.waitingOn === null) return undefined;
  const [task] = await ctx.store.show([mr.waitingOn]).catch(() => []);
  if (task !== undefined && task.status !== 'closed') return undefined;
  const [bead] = await ctx.store.show([mr.id]);
  if (bead === undefined) return undefined;
  const [updated] = await ctx.store.update(
    [mr.id],
    {
      metadata: {
        ...bead.metadata,
        [MQ_KEYS.state]: 'queued',
        [MQ_KEYS.waitingOn]: null,
        [MQ_KEYS.boost]: mr.boost + 1,
        [MQ_KEYS.enqueuedAt]: new Date(ctx.now()).toISOString(),
      },
    },
    ctx.actor,
  );
  return updated === undefined ? undefined : readMergeRequest(updated);
}

async function fileBrokenTarget(
  ctx: RefineryContext,
  rig: string,
  target: string,
  head: string,
  gate: string,
  output: string,
): Promise<void> {
  const title = `${rig}: ${target} fails the gate "${gate}" at ${head.slice(0, 12)}`;
  const open = await ctx.store.list({ types: ['bug'], limit: 0 });
  if (open.some((b) => b.title === title)) return;
  await ctx.store.create(
    {
      prefix: (await ctx.store.rig(rig)).prefix,
      title,
      issue_type: 'bug',
      priority: 0,
      description: [
        `The target branch itself fails "${gate}", so the merge queue of ${rig} holds until it is green again.`,
        '',
        '```',
        output.trim().split('\n').slice(-40).join('\n'),
        '```',
      ].join('\n'),
    },
    ctx.actor,
  );
}
