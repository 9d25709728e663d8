import { cpus } from 'node:os';
import { join } from 'node:path';
import { errorMessage, InternalError } from '../core/errors.js';
import { mapLimit } from '../core/promise.js';
import { conflictHunks } from '../core/conflict-hunks.js';
import { decideSearch, setKey, suspectsOf, type SearchState, type SetResult } from '../core/batch-search.js';
import { nextBatchSize, orderQueue, pairKey, pickBatch, type BatchSizing } from '../core/merge-queue.js';
import { readMergeRequest, type MergeRequest, type ReturnCause, workTitle } from '../core/merge-request.js';
import type { RefinerySettings } from '../core/settings.js';
import type { TownStore } from '../core/town-store.js';
import { runGate } from '../exec/gate.js';
import { withFileLock } from '../exec/lock.js';
import { fetchOrigin } from '../git/git.js';
import {
  addScratchWorktree,
  changedFiles,
  ancestorsOf,
  commitOf,
  conflictReport,
  conflictsBetween,
  existingCommits,
  isAncestor,
  mergeConflicts,
  mergeOnto,
  removeScratchWorktree,
} from '../git/merge.js';
import { loadRigSettings, rigPaths } from '../town/rig.js';
import {
  closeLanded,
  closeRefusals,
  fileBrokenTarget,
  fileRefusal,
  markState,
  requeueIfFixed,
  returnRequest,
  type RefineryContext,
  type ReturnFacts,
} from './outcomes.js';
import { pushLander } from './lander.js';
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

export type { RefineryContext } from './outcomes.js';

/** One gate run: the requests merged onto the target for it, the commit tested, how it ended. */
export type GateRun = {
  members: string[];
  commit: string;
  gate: string;
  ok: boolean;
  ms: number;
  timedOut: boolean;
};

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
  /** Requests whose own gates' pass (gt gates, recorded by gt done) stood in for a test here. */
  reused: string[];
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

/** Git commands a pass runs side by side while it predicts conflicts. */
const GIT_AT_ONCE = 4;

const BATCH_KEY = (rig: string): string => `refinery.${rig}.batch_size`;
/** The target commit last seen to pass every gate (landed after its test, or tested alone). */
const GREEN_KEY = (rig: string): string => `refinery.${rig}.green_head`;
/** Whether the last batch was red: the next one's first round then also tests its parts. */
const RED_KEY = (rig: string): string => `refinery.${rig}.last_batch`;

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
  // Nothing learned yet: start at the largest batch (a red one halves it).
  const size = Number.isInteger(saved) && saved > 0 ? saved : s.batch_max;
  return { size: Math.min(Math.max(size, s.batch_min), s.batch_max), min: s.batch_min, max: s.batch_max };
}

/** Whether a pass changed the queue: something landed, went back or was escalated, or the target moved. */
export function madeProgress(r: PassReport): boolean {
  return r.landed.length + r.returned.length + r.escalated.length > 0 || r.moved;
}

/**
 * One pass, recorded as an `mq_pass` activity of the rig's refinery (what gt mq status counts). One pass of a
 * rig at a time, across processes (a lock file in `<rig>/refinery/`): a pass that finds another running waits
 * up to `waitMs` (default: not at all), then fails with a ConflictError that says so.
 */
export async function runPass(
  ctx: RefineryContext,
  rigName: string,
  options: { waitMs?: number } = {},
): Promise<PassReport> {
  const lock = join(rigPaths(ctx.town.root, rigName).root, 'refinery', 'pass.lock');
  return withFileLock(
    lock,
    {
      timeoutMs: options.waitMs ?? 0,
      // A live pass holds it as long as its gates run; a dead one's is taken over at once.
      staleMs: 7 * 24 * 3_600_000,
      busy: `another pass of ${rigName}'s refinery is running; its results show in gt mq list ${rigName}`,
    },
    () => recordedPass(ctx, rigName),
  );
}

async function recordedPass(ctx: RefineryContext, rigName: string): Promise<PassReport> {
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
    reused: [],
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
  const present = await existingCommits(
    repo,
    open.map((mr) => mr.commit),
  );
  const inTarget = await ancestorsOf(repo, head, [...present]);
  for (const found of open) {
    let mr = found;
    if (mr.state === 'returned') {
      const back = await requeueIfFixed(ctx, mr);
      if (back === undefined) continue;
      mr = back; // its task is done: in the queue again, this pass
    }
    if (mr.state === 'escalated') continue;
    if (!present.has(mr.commit)) {
      const r = await returnRequest(ctx, mr, settings, 'branch-missing', {
        detail: `the commit ${mr.commit.slice(0, 12)} of ${mr.branch} is not in the rig's clone (was the branch deleted before it landed?)`,
      });
      if (r !== undefined) report.returned.push(r);
      else report.escalated.push(mr.id);
      continue;
    }
    if (inTarget.has(mr.commit)) {
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
  const window = ordered.slice(0, sizing.size + Math.ceil(sizing.size / 2));
  const withTarget = new Set<string>();
  const conflictFiles = new Map<string, string[]>();
  const changed = new Map<string, string[]>();
  // Per request: its conflicts with the target, and the files it changes (git calls, a few at once).
  const facts = await mapLimit(window, GIT_AT_ONCE, async (mr) => ({
    mr,
    conflicts: await mergeConflicts(repo, head, mr.commit),
    files: await changedFiles(repo, head, mr.commit),
  }));
  for (const { mr, conflicts, files } of facts) {
    changed.set(mr.id, files);
    if (conflicts.length > 0) {
      withTarget.add(mr.id);
      conflictFiles.set(mr.id, conflicts);
    }
  }
  // Only requests that touch a common path (or a path and a directory of it) can conflict with each other.
  const pairs = new Set<string>();
  const clean = window.filter((mr) => !withTarget.has(mr.id));
  for (let i = 0; i < clean.length; i++)
    for (let j = i + 1; j < clean.length; j++) {
      const a = clean[i];
      const b = clean[j];
      if (a === undefined || b === undefined) continue;
      if (!pathsMeet(changed.get(a.id) ?? [], changed.get(b.id) ?? [])) continue;
      if ((await conflictsBetween(repo, head, a.commit, b.commit)).length > 0) pairs.add(pairKey(a.id, b.id));
    }
  const pick = pickBatch(window, sizing.size, { withTarget, pairs });
  const byId = new Map(queued.map((mr) => [mr.id, mr]));
  for (const id of pick.conflicts) {
    const mr = byId.get(id);
    if (mr === undefined) continue;
    const r = await returnRequest(ctx, mr, settings, 'conflict', {
      ...(await conflictFacts(repo, head, mr.commit, conflictFiles.get(id) ?? [])),
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

  // The batch is `testing` while the pass works on it (gt mq reject and retry leave it alone meanwhile).
  await markState(ctx, batch, 'testing');
  const scratch = openPassScratch(scratchRoot);
  try {
    await testAndLand(ctx, { report, batch, byId, settings, sizing, repo, head, scratch, changed });
  } finally {
    await closePassScratch(repo, scratch).catch((err: unknown) =>
      ctx.progress?.(`could not remove the scratch ${scratch.dir}: ${errorMessage(err)}`),
    );
    // What neither landed nor went back is queued again (a pass that threw leaves it to the next one).
    const decided = new Set([...report.landed, ...report.returned.map((r) => r.id), ...report.escalated]);
    await markState(
      ctx,
      batch.filter((mr) => !decided.has(mr.id)),
      'queued',
    ).catch((err: unknown) => ctx.progress?.(`could not put the batch back in the queue: ${errorMessage(err)}`));
  }
  return report;
}

/** The files, the marked regions and the commits landed since, for a conflict's task; the files alone if git fails. */
async function conflictFacts(
  repo: string,
  base: string,
  theirs: string,
  files: string[],
): Promise<Pick<ReturnFacts, 'files' | 'hunks' | 'landed'>> {
  try {
    const r = await conflictReport(repo, base, theirs);
    return {
      files: r.files.length > 0 ? r.files : files,
      hunks: r.texts.map((t) => ({ file: t.file, text: conflictHunks(t.text) })),
      landed: r.landed,
    };
  } catch {
    return { files };
  }
}

/** Whether two lists of changed paths share a path, or one is a directory of the other's. */
function pathsMeet(a: readonly string[], b: readonly string[]): boolean {
  const dirs = (paths: readonly string[]): Set<string> => {
    const out = new Set<string>();
    for (const p of paths) {
      out.add(p);
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('/'));
    }
    return out;
  };
  const [da, db] = [dirs(a), dirs(b)];
  return a.some((p) => db.has(p)) || b.some((p) => da.has(p));
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
  /** The files each request of the window changes since it forked from the target (for the evidence). */
  changed: Map<string, string[]>;
};

/** Tests the batch as the search asks, lands the largest passing set and returns the culprits. */
async function testAndLand(ctx: RefineryContext, b: Batch): Promise<void> {
  const { report, byId, settings, sizing, repo, head, scratch, changed } = b;
  const { rig: rigName, target } = report;
  const author = { name: ctx.actor, email: `${rigName}-refinery@gastown.local` };
  let batch = b.batch;

  // Stacks are made of objects alone (merge-tree and commit-tree, no worktree), once per ordered prefix.
  const stacks = new Map<string, string>([['', head]]);
  const stackOf = async (
    members: readonly string[],
  ): Promise<{ ok: true; commit: string } | { ok: false; at: MergeRequest; onto: string; files: string[] }> => {
    let commit = head;
    let key = '';
    for (const id of members) {
      const mr = byId.get(id);
      if (mr === undefined) throw new InternalError(`${id} is not in the batch`);
      key = `${key}\u0000${id}`;
      let next = stacks.get(key);
      if (next === undefined) {
        // The request's title is "Merge <bead>: <what>" (gt done's): the commit says the branch and the request once.
        const what = workTitle(mr.title);
        const m = await mergeOnto(repo, commit, mr.commit, `Merge ${mr.branch} (${mr.id}: ${what})`, author);
        if (!m.ok) return { ok: false, at: mr, onto: commit, files: m.files };
        next = m.commit;
        stacks.set(key, next);
      }
      commit = next;
    }
    return { ok: true, commit };
  };

  // The whole batch stacks first: one predicted clean that conflicts in the stack goes back, the rest go on.
  for (;;) {
    const whole = await stackOf(batch.map((mr) => mr.id));
    if (whole.ok) break;
    const culprit = whole.at;
    const r = await returnRequest(ctx, culprit, settings, 'conflict', {
      ...(await conflictFacts(repo, whole.onto, culprit.commit, whole.files)),
      detail: `merging ${culprit.branch} onto ${target} together with the requests before it conflicts`,
    });
    if (r !== undefined) report.returned.push(r);
    else report.escalated.push(culprit.id);
    batch = batch.filter((mr) => mr !== culprit);
  }
  report.batch = batch.map((mr) => mr.id);
  if (batch.length === 0) return;

  // test: the search says which sets; each run gets its own scratch worktree, `parallel` at once.
  const slots = Math.max(1, Math.min(settings.parallel, cpus().length));
  const results: SetResult[] = [];
  const passed = new Map<string, string>(); // set → the commit that passed
  const failures = new Map<string, { members: string[]; tail: string; timedOut: boolean }>();
  const targetPasses = (await ctx.store.getConfig(GREEN_KEY(rigName))) === head;
  const speculate = (await ctx.store.getConfig(RED_KEY(rigName))) === 'red';
  const state = (): SearchState => ({
    batch: report.batch,
    results,
    slots,
    gates: settings.gates.map((g) => g.name),
    targetPasses,
    speculate,
  });
  // Reuse: a request whose own gates passed on its commit, with the target still inside it, merges onto the
  // target as that very tree: it is known to pass alone, untested here.
  for (const mr of batch) {
    if (mr.gatesPassedOn !== mr.commit || !(await isAncestor(repo, head, mr.commit))) continue;
    const alone = await stackOf([mr.id]);
    if (!alone.ok) continue;
    results.push({ members: [mr.id], outcome: 'pass' });
    passed.set(setKey([mr.id]), alone.commit);
    report.reused.push(mr.id);
  }
  let decision = decideSearch(state());
  let seq = 0;
  while (decision.kind === 'test') {
    report.rounds++;
    const commits: string[] = [];
    for (const run of decision.runs) {
      const stacked = await stackOf(run.members);
      if (!stacked.ok) {
        // A part of a batch that stacked whole conflicts: nothing is blamed, the batch waits for the next pass.
        ctx.progress?.(`${stacked.at.id} conflicts with part of the batch only: the batch goes back to the queue`);
        report.requeued.push(...report.batch);
        return;
      }
      commits.push(stacked.commit);
    }
    const round = await Promise.all(
      decision.runs.map(async (run, i): Promise<SetResult> => {
        const dir = join(scratch.dir, `gate-${seq++}`);
        const commit = commits[i] ?? head;
        const gates = run.gate === undefined ? settings.gates : settings.gates.filter((g) => g.name === run.gate);
        const rerun = run.gate !== undefined ? { rerun: true } : {};
        if (gates.length === 0) {
          // A rig with no gate: the clean merge is the whole check, and no checkout is needed for it.
          passed.set(setKey(run.members), commit);
          return { members: run.members, outcome: 'pass', ...rerun };
        }
        await addScratchWorktree(repo, dir, commit);
        try {
          for (const gate of gates) {
            const g = await runGate(gate.argv, dir, settings.gate_timeout_seconds * 1000, scratch.gateEnv);
            report.gateRuns.push({
              members: run.members,
              commit,
              gate: gate.name,
              ok: g.ok,
              ms: g.ms,
              timedOut: g.timedOut,
            });
            if (!g.ok) {
              failures.set(setKey(run.members), { members: run.members, tail: g.tail, timedOut: g.timedOut });
              const inRun = new Map(run.members.map((id) => [id, changed.get(id) ?? []]));
              const suspects = suspectsOf(g.tail, inRun);
              return { members: run.members, outcome: 'fail', failedGate: gate.name, suspects, ...rerun };
            }
          }
          passed.set(setKey(run.members), commit);
          return { members: run.members, outcome: 'pass', ...rerun };
        } finally {
          await removeScratchWorktree(repo, dir).catch(() => undefined);
        }
      }),
    );
    results.push(...round);
    decision = decideSearch(state());
  }

  if (decision.kind === 'target-broken') {
    report.targetBroken = decision.gate;
    await fileBrokenTarget(ctx, rigName, target, head, decision.gate, failures.get(setKey([]))?.tail ?? '');
    report.requeued.push(...report.batch);
    return;
  }

  // land: the set that passed, by compare-and-swap.
  report.flaky = decision.flaky;
  let newHead = head;
  let landed = decision.landed;
  if (landed.length > 0) {
    const tested = passed.get(setKey(landed));
    if (tested === undefined) throw new InternalError(`the set to land (${landed.join(', ')}) was never tested`);
    const pushed = await (ctx.lander ?? pushLander).land(repo, tested, target, head);
    if (!pushed.landed && pushed.reason === 'moved') {
      report.moved = true;
      report.requeued.push(...report.batch);
      return;
    }
    if (pushed.landed) {
      newHead = pushed.commit;
      report.head = newHead;
      await ctx.store.setConfig(GREEN_KEY(rigName), newHead, ctx.actor);
      await closeRefusals(ctx, rigName, target, newHead);
    } else {
      // Refused (a hook, permissions): nothing landed, so nothing is closed; the set waits in the queue for
      // a remote that takes it, and the refusal is recorded once for the rig. The culprits found stand.
      const escalation = await fileRefusal(ctx, rigName, target, pushed.detail, landed);
      report.refused = { detail: pushed.detail, escalation };
      report.requeued.push(...landed);
      landed = [];
    }
  } else if (passed.has(setKey([]))) {
    await ctx.store.setConfig(GREEN_KEY(rigName), head, ctx.actor);
  }
  const landing = landed.map((id) => byId.get(id)).filter((mr): mr is MergeRequest => mr !== undefined);
  // Proven in the new target before anything is closed or deleted.
  const proven = await ancestorsOf(
    repo,
    newHead,
    landing.map((mr) => mr.commit),
  );
  for (const mr of landing)
    if (!proven.has(mr.commit)) throw new InternalError(`${mr.id} is not in ${target} at ${newHead} after landing it`);
  // Their branches go in one push; a request closes only after its branch is gone (or left to closeLanded).
  const gone = await (ctx.lander ?? pushLander)
    .deleteBranches(
      repo,
      landing.map((mr) => mr.branch),
    )
    .catch((err: unknown) => {
      ctx.progress?.(`could not delete the landed branches in one push: ${errorMessage(err)}`);
      return new Map<string, string>();
    });
  for (const mr of landing) {
    await closeLanded(ctx, repo, mr, newHead, `landed in a batch of ${landed.length}`, {
      branchDeleted: gone.get(mr.branch) === 'deleted',
    });
    report.landed.push(mr.id);
  }
  for (const c of decision.culprits) {
    const mr = byId.get(c.id);
    if (mr === undefined) continue;
    // The evidence: the smallest failing set with it.
    const failure = [...failures.values()]
      .filter((f) => f.members.includes(c.id))
      .sort((x, y) => x.members.length - y.members.length)[0];
    const how =
      failure?.timedOut === true
        ? `did not finish within ${settings.gate_timeout_seconds} s (it was stopped)`
        : 'fails';
    const others = (failure?.members.length ?? 1) - 1;
    const r = await returnRequest(ctx, mr, settings, 'fix-needed', {
      gate: c.gate,
      output: failure?.tail ?? '',
      detail:
        `with ${mr.branch} merged onto ${target}${others > 0 ? ` and ${others} other request(s) that pass without it` : ''}, ` +
        `the gate "${c.gate}" ${how} (without it, it passes)`,
    });
    if (r !== undefined) report.returned.push(r);
    else report.escalated.push(mr.id);
  }
  // Culprits the output named were cheap to find: the size stays, and the next batch needs no parts tested.
  const outcome = decision.culprits.length === 0 ? 'green' : decision.culprits.every((c) => c.named) ? 'named' : 'red';
  const next = nextBatchSize(sizing, outcome);
  await ctx.store.setConfig(BATCH_KEY(rigName), String(next.size), ctx.actor);
  await ctx.store.setConfig(RED_KEY(rigName), outcome, ctx.actor);
}
