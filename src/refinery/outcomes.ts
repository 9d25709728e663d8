import type { CreateInput } from '../core/bead-store.js';
import { ConflictError, errorMessage, NotFoundError, ValidationError } from '../core/errors.js';
import { refusePatrol } from '../core/guard.js';
import {
  byHandRefusal,
  MQ_KEYS,
  workTitle,
  readMergeRequest,
  type MergeRequest,
  type MqState,
  type ReturnCause,
} from '../core/merge-request.js';
import type { RefinerySettings } from '../core/settings.js';
import type { TownStore } from '../core/town-store.js';
import type { Town } from '../town/town.js';
import { checkConvoysTracking } from '../work/convoy.js';
import { sendMailOnce } from '../work/mail.js';
import { attachFormula, closeOpenSteps } from '../work/molecule.js';
import { pushLander, type Lander } from './lander.js';

/**
 * What the refinery writes when a request's fate is known: a landed request closed with its source and
 * branch, a returned one given a task that says what to fix, an escalation after too many returns, the rig's
 * escalation while the remote refuses pushes, and the bug filed when the target itself is red; and what a person
 * does by hand (gt mq retry, gt mq reject). Each write is safe to repeat: a pass killed midway leaves what the
 * next pass finishes without writing anything twice.
 */

export type RefineryContext = {
  town: Town;
  store: TownStore;
  /** The refinery's own address (`<rig>/refinery`), the actor of what it writes. */
  actor: string;
  now: () => number;
  progress?: (line: string) => void;
  /** How tested commits reach the target (default: pushes to the remote; a forge adapter could open pull requests). */
  lander?: Lander;
  /** Routes an escalation the refinery filed (to people, by the town's escalation routes), once. */
  routeEscalation?: (id: string) => Promise<unknown>;
  /** Tells the daemon to look now: a source closed, so slings waiting for it may go. */
  wake?: () => Promise<void>;
};

/**
 * The escalation of a request: one id per escalation, so a pass killed midway never makes two, and one retried by
 * hand (gt mq retry closes its escalation) that fails again gets a new one.
 */
function escalationId(mr: MergeRequest): string {
  return mr.retries === 0 ? `${mr.id}-esc` : `${mr.id}-esc-r${mr.retries}`;
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
 * Tells who wrote a landed request (its worker) and the rig's witness, by mail with one id per request and
 * recipient, so a pass killed after sending sends nothing again. Mail only, never typed into a session: a
 * landing needs nobody to act, so the polecat reads it at its next turn or prime and the witness at its next
 * patrol, instead of a model turn per merge. Someone gone (a removed polecat) is skipped.
 */
async function tellLanded(ctx: RefineryContext, mr: MergeRequest, at: string, how: string): Promise<void> {
  const subject = `Landed on ${mr.target}: ${workTitle(mr.title)} (${mr.id})`;
  const body = [
    `${mr.id} landed on ${mr.target} at ${at.slice(0, 12)} (${how}).`,
    `Source ${mr.source === '' ? '(none)' : mr.source}, branch ${mr.branch} at ${mr.commit.slice(0, 12)}, by ${mr.worker === '' ? 'unknown' : mr.worker}.`,
    'Its source bead is closed and its branch deleted. Nothing to do: this is for the record.',
  ].join('\n');
  const to: [string, string][] = [
    [mr.worker, 'p'],
    [`${mr.rig}/witness`, 'w'],
  ];
  for (const [address, who] of to) {
    if (address === '') continue;
    // For the record: nobody need act, so it wakes nobody (low priority waits for a turn it has anyway).
    const mail = {
      id: `${mr.id}-landed-${who}`,
      from: ctx.actor,
      to: address,
      subject,
      body,
      priority: 'low' as const,
    };
    await sendMailOnce(ctx.store, mail).catch((err: unknown) => {
      if (!(err instanceof NotFoundError || err instanceof ValidationError)) throw err;
      ctx.progress?.(`no mail to ${address} about ${mr.id}: ${errorMessage(err)}`);
    });
  }
}

/** Failed deletions of a landed request's branch, and how many close it all the same. */
const BRANCH_FAILURES_KEY = 'mq_branch_delete_failures';
const MAX_BRANCH_FAILURES = 3;

/**
 * Closes a request proven in the target at `head`. A pass killed midway leaves it open, and the next pass finds it
 * in the target and calls this again, so the request itself closes last: its source, a fix task a killed return
 * made for an attempt that never came, its branch, one landing comment, the mail that says so, then the request.
 * One rejected by hand while a pass tested it is in the target all the same: it is recorded as landed, and says so.
 */
export async function closeLanded(
  ctx: RefineryContext,
  repo: string,
  mr: MergeRequest,
  head: string,
  how: string,
  options: { branchDeleted?: boolean } = {},
): Promise<void> {
  const [bead] = await ctx.store.show([mr.id]);
  if (bead === undefined) return;
  const rejected = bead.status === 'closed' && bead.metadata[MQ_KEYS.state] === 'rejected';
  if (bead.status === 'closed' && !rejected) return;
  // A killed pass that got this far recorded the commit it landed in.
  const at = mr.state === 'landed' && mr.landedIn !== null ? mr.landedIn : head;
  const where = `${mr.target} at ${at.slice(0, 12)}`;
  await ctx.store.update(
    [mr.id],
    { metadata: { ...bead.metadata, [MQ_KEYS.state]: 'landed', [MQ_KEYS.landedIn]: at } },
    ctx.actor,
  );
  const log = (what: string) => (err: unknown) => ctx.progress?.(`could not ${what}: ${errorMessage(err)}`);
  if (mr.source !== '') {
    // Its molecule's steps first (a gt done killed before it closed them leaves them open, and a bead with
    // open children does not close): the work has merged, so every step is done.
    await closeOpenSteps(ctx.store, mr.source, `merged as ${mr.id} in ${where}`, ctx.actor).catch(
      log(`close the steps of ${mr.source}`),
    );
    await ctx.store
      .close([mr.source], { reason: `merged as ${mr.id} in ${where}` }, ctx.actor)
      .catch(log(`close ${mr.source}`));
    // The convoys tracking it land now if it was their last open bead, and work it blocked may go.
    await checkConvoysTracking(ctx, mr.source).catch(log(`check the convoys of ${mr.source}`));
    await ctx.wake?.().catch(() => undefined);
  }
  const stray = fixTaskId(mr.id, mr.attempts + 1);
  const [task] = await ctx.store.show([stray]).catch(() => []);
  if (task !== undefined && task.status !== 'closed')
    await closeOpenSteps(ctx.store, stray, `not needed: ${mr.id} landed in ${where}`, ctx.actor)
      .then(() => ctx.store.close([stray], { reason: `not needed: ${mr.id} landed in ${where}` }, ctx.actor))
      .catch(log(`close ${stray}`));
  if (options.branchDeleted !== true) {
    let left: string | null = null;
    await (ctx.lander ?? pushLander).deleteBranch(repo, mr.branch).catch((err: unknown) => {
      left = errorMessage(err);
      log(`delete ${mr.branch}`)(err);
    });
    // A branch that could not go now (a push cut short by a kill can leave the remote's ref locked) keeps the
    // request open as landed: the next pass finds it in the target and tries again, a few times at most.
    if (left !== null) {
      const failures = Number(bead.metadata[BRANCH_FAILURES_KEY] ?? 0) + 1;
      if (failures < MAX_BRANCH_FAILURES) {
        const [now] = await ctx.store.show([mr.id]);
        await ctx.store.update(
          [mr.id],
          { metadata: { ...(now?.metadata ?? bead.metadata), [BRANCH_FAILURES_KEY]: failures } },
          ctx.actor,
        );
        return;
      }
      await commentOnce(
        ctx,
        mr.id,
        'Its branch could not be deleted',
        `Its branch could not be deleted after ${failures} tries (${String(left)}): delete ${mr.branch} on the remote by hand.`,
      );
    }
  }
  const late = rejected ? ', after it was rejected by hand while a pass tested it: revert it if it must go' : '';
  await commentOnce(ctx, mr.id, 'Landed in ', `Landed in ${where} (${how})${late}.`);
  await tellLanded(ctx, mr, at, how);
  if (!rejected) await ctx.store.close([mr.id], { reason: `landed in ${where}` }, ctx.actor);
}

export type ReturnFacts = {
  detail: string;
  files?: string[];
  /** Of a conflict: the conflicting regions, per file, as git's merge marks them. */
  hunks?: { file: string; text: string }[];
  /** Of a conflict: the commits that landed on the target since the branch forked, touching those files. */
  landed?: string[];
  gate?: string;
  output?: string;
};

/**
 * Sends a request back: a task bead that says what to fix (the conflicting files, or the failing gate and
 * its output), which the request waits on; or, after max_attempts returns, an escalation. The task's id, or
 * undefined when it was escalated. The request's own state is written last: a pass killed before that leaves
 * it queued, and the next one that sends it back finds the same task (one id per return) and the same comment.
 */
export async function returnRequest(
  ctx: RefineryContext,
  mr: MergeRequest,
  settings: RefinerySettings,
  cause: ReturnCause,
  facts: ReturnFacts,
): Promise<{ id: string; cause: ReturnCause; task: string } | undefined> {
  const [bead] = await ctx.store.show([mr.id]);
  // (closed meanwhile: rejected by hand while the pass tested it)
  if (bead === undefined || bead.status === 'closed') return undefined;
  const attempts = mr.attempts + 1;
  const what = cause === 'conflict' ? 'Resolve a conflict' : cause === 'fix-needed' ? 'Fix needed' : 'Branch missing';
  const lines = [
    `${what} before ${mr.branch} can land on ${mr.target} (merge request ${mr.id}, source ${mr.source}).`,
    '',
    facts.detail,
    ...(facts.files !== undefined && facts.files.length > 0
      ? ['', 'Conflicting files:', ...facts.files.map((f) => `- ${f}`)]
      : []),
    ...(facts.landed !== undefined && facts.landed.length > 0
      ? ['', `Landed on ${mr.target} since the branch forked, touching them:`, ...facts.landed.map((c) => `- ${c}`)]
      : []),
    ...(facts.hunks ?? [])
      .filter((h) => h.text !== '')
      .flatMap((h) => ['', `Conflicts in ${h.file}:`, '```', h.text, '```']),
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
      id: escalationId(mr),
      prefix,
      title: `Merge request ${mr.id} returned ${mr.attempts} times: ${mr.title}`,
      issue_type: 'escalation',
      labels: ['gt:escalation'],
      description: lines.join('\n'),
    });
    await ctx
      .routeEscalation?.(esc.id)
      .catch((err: unknown) => ctx.progress?.(`could not route ${esc.id}: ${errorMessage(err)}`));
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
    title: `${what}: ${workTitle(mr.title)}`,
    issue_type: 'task',
    priority: mr.priority,
    description: lines.join('\n'),
    metadata: { mq_fix_for: mr.id, branch: mr.branch, cause },
  });
  if (cause === 'conflict') await attachConflictFormula(ctx, mr, task.id);
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

/** The formula a conflict task is worked by: its steps, as a molecule on the task. */
export const CONFLICT_FORMULA = 'conflict-resolve';

/**
 * Attaches the conflict formula to a conflict task (again after a killed pass: the same formula with the same
 * variables is a no-op). A formula that cannot be read (a town's broken copy, say) leaves the task as it is:
 * its description alone says what to do.
 */
async function attachConflictFormula(ctx: RefineryContext, mr: MergeRequest, task: string): Promise<void> {
  try {
    await attachFormula(
      ctx.store,
      ctx.town.root,
      task,
      CONFLICT_FORMULA,
      { request: mr.id, branch: mr.branch, target: mr.target },
      ctx.actor,
      mr.rig,
    );
  } catch (err) {
    ctx.progress?.(`could not attach ${CONFLICT_FORMULA} to ${task}: ${errorMessage(err)}`);
  }
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
export async function fileRefusal(
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
  await ctx
    .routeEscalation?.(esc.id)
    .catch((err: unknown) => ctx.progress?.(`could not route ${esc.id}: ${errorMessage(err)}`));
  return esc.id;
}

/** A push that landed ends the refusal: its escalation is closed. */
export async function closeRefusals(ctx: RefineryContext, rig: string, target: string, head: string): Promise<void> {
  const open = await openRefusals(ctx, rig, target);
  if (open.length === 0) return;
  await ctx.store.close(open, { reason: `the remote took the push of ${target} at ${head.slice(0, 12)}` }, ctx.actor);
}

/** A returned request whose task is closed goes back to the queue, ahead of its peers: the request as it is now. */
export async function requeueIfFixed(ctx: RefineryContext, mr: MergeRequest): Promise<MergeRequest | undefined> {
  if (mr.waitingOn === null) return undefined;
  const [task] = await ctx.store.show([mr.waitingOn]).catch(() => []);
  if (task !== undefined && task.status !== 'closed') return undefined;
  const [bead] = await ctx.store.show([mr.id]);
  if (bead === undefined || bead.status === 'closed') return undefined;
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

export async function fileBrokenTarget(
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

/** The merge request `id`, or a NotFoundError that says how to find one. */
export async function findMergeRequest(store: TownStore, id: string): Promise<MergeRequest> {
  const [bead] = await store.show([id]).catch((err: unknown) => {
    if (err instanceof NotFoundError) return [];
    throw err;
  });
  const mr = bead === undefined ? undefined : readMergeRequest(bead);
  if (mr === undefined)
    throw new NotFoundError(`no merge request ${id}`, { hint: 'see "gt mq list <rig> --all" for the ids' });
  return mr;
}

function refuse(mr: MergeRequest, action: 'retry' | 'reject'): void {
  const refusal = byHandRefusal(mr, action);
  if (refusal !== null) throw new ConflictError(`cannot ${action} ${mr.id}: ${refusal.why}`, { hint: refusal.hint });
}

/** Closes `id` if it is open (a task or escalation nobody needs any more); whether it did. */
async function closeIfOpen(ctx: RefineryContext, id: string, reason: string): Promise<boolean> {
  const [bead] = await ctx.store.show([id]).catch(() => []);
  if (bead === undefined || bead.status === 'closed') return false;
  await closeOpenSteps(ctx.store, id, reason, ctx.actor);
  await ctx.store.close([id], { reason, force: true }, ctx.actor);
  return true;
}

export type RetryResult = { request: MergeRequest; closed: string | null };

/**
 * `gt mq retry`: a returned or escalated request goes back in the queue by hand, ahead of its peers (boost + 1),
 * as if its task were done. The task or escalation it waited on is closed, not left open: whoever retries says
 * the request can land as it is, and an open task would keep a polecat fixing what needs no fix (the daemon
 * takes a closed bead off its hook), and would block the request from closing once it lands. Its count of
 * returns stays, so one retried after max_attempts is escalated again (a new escalation) if it fails again.
 * Written in the order a killed retry can be run again from: the comment, the task closed, then the request.
 */
export async function retryRequest(ctx: RefineryContext, mr: MergeRequest): Promise<RetryResult> {
  refuse(mr, 'retry');
  const n = mr.retries + 1;
  const waited = mr.waitingOn;
  const lead = `Retried by hand (${n})`;
  await commentOnce(
    ctx,
    mr.id,
    lead,
    `${lead} by ${ctx.actor}: back in the queue from ${mr.state}${mr.cause !== null ? ` (${mr.cause})` : ''}${waited !== null ? `; ${waited} closed` : ''}.`,
  );
  const closed =
    waited !== null &&
    (await closeIfOpen(ctx, waited, `not needed: ${mr.id} was retried by hand (gt mq retry by ${ctx.actor})`))
      ? waited
      : null;
  const [bead] = await ctx.store.show([mr.id]);
  if (bead === undefined) throw new NotFoundError(`no merge request ${mr.id}`);
  const [updated] = await ctx.store.update(
    [mr.id],
    {
      metadata: {
        ...bead.metadata,
        [MQ_KEYS.state]: 'queued',
        [MQ_KEYS.waitingOn]: null,
        [MQ_KEYS.boost]: mr.boost + 1,
        [MQ_KEYS.retries]: n,
        [MQ_KEYS.enqueuedAt]: new Date(ctx.now()).toISOString(),
      },
    },
    ctx.actor,
  );
  const request = updated === undefined ? undefined : readMergeRequest(updated);
  if (request === undefined) throw new NotFoundError(`no merge request ${mr.id}`);
  return { request, closed };
}

export type RejectResult = {
  request: MergeRequest;
  /** It was rejected already (nothing was written). */
  already: boolean;
  /** The fix task or escalation it waited on, closed. */
  closed: string[];
  /** The source bead and its status after. */
  source: { id: string; status: string } | null;
};

/**
 * `gt mq reject`: a request out of the queue for good, its branch kept. The fix task or escalation it waited on
 * is closed; its source bead, which gt done left in progress awaiting the merge, is open and unassigned again
 * (so it shows in bd ready for someone to decide: sling it again, or close it), with a comment that names the
 * branch and the reason; the request closes as rejected. A source someone has taken again (hooked) or closed
 * keeps its status and gets the comment. Each step looks before it acts, so a killed reject can be run again.
 */
export async function rejectRequest(ctx: RefineryContext, mr: MergeRequest, reason: string): Promise<RejectResult> {
  refusePatrol(ctx.actor, 'mq-reject');
  refuse(mr, 'reject');
  if (mr.state === 'rejected')
    return { request: mr, already: true, closed: [], source: await sourceStatus(ctx.store, mr.source) };
  const why = reason.trim() === '' ? 'no reason given' : reason.trim();
  const closed: string[] = [];
  for (const id of [...new Set([mr.waitingOn, fixTaskId(mr.id, mr.attempts + 1)])])
    if (id !== null && (await closeIfOpen(ctx, id, `not needed: ${mr.id} was rejected by ${ctx.actor}: ${why}`)))
      closed.push(id);
  let source: RejectResult['source'] = null;
  if (mr.source !== '') {
    const [src] = await ctx.store.show([mr.source]).catch(() => []);
    if (src !== undefined) {
      if (src.status === 'in_progress' || src.status === 'blocked')
        await ctx.store.update([src.id], { status: 'open', assignee: null }, ctx.actor);
      const lead = `Its merge request ${mr.id} was rejected`;
      await commentOnce(
        ctx,
        src.id,
        lead,
        `${lead} by ${ctx.actor}: ${why}. The work stays on branch ${mr.branch} (at ${mr.commit.slice(0, 12)}); nothing was merged. Sling it again, or close it.`,
      );
      source = await sourceStatus(ctx.store, src.id);
    }
  }
  await commentOnce(ctx, mr.id, 'Rejected by ', `Rejected by ${ctx.actor}: ${why}. Branch ${mr.branch} is kept.`);
  await ctx.store.close([mr.id], { reason: `rejected by ${ctx.actor}: ${why}`, force: true }, ctx.actor);
  const [bead] = await ctx.store.show([mr.id]);
  if (bead === undefined) throw new NotFoundError(`no merge request ${mr.id}`);
  const [updated] = await ctx.store.update(
    [mr.id],
    { metadata: { ...bead.metadata, [MQ_KEYS.state]: 'rejected', [MQ_KEYS.waitingOn]: null } },
    ctx.actor,
  );
  const request = updated === undefined ? undefined : readMergeRequest(updated);
  if (request === undefined) throw new NotFoundError(`no merge request ${mr.id}`);
  return { request, already: false, closed, source };
}

async function sourceStatus(store: TownStore, id: string): Promise<{ id: string; status: string } | null> {
  if (id === '') return null;
  const [src] = await store.show([id]).catch(() => []);
  return src === undefined ? null : { id: src.id, status: src.status };
}

/** Writes the queue state of open requests (`testing` while a pass works on them, `queued` after). */
export async function markState(
  ctx: RefineryContext,
  requests: readonly MergeRequest[],
  state: MqState,
): Promise<void> {
  for (const mr of requests) {
    const [bead] = await ctx.store.show([mr.id]);
    if (bead === undefined || bead.status === 'closed' || bead.metadata[MQ_KEYS.state] === state) continue;
    await ctx.store.update([mr.id], { metadata: { ...bead.metadata, [MQ_KEYS.state]: state } }, ctx.actor);
  }
}
