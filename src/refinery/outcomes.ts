import type { CreateInput } from '../core/bead-store.js';
import { ConflictError, errorMessage } from '../core/errors.js';
import { MQ_KEYS, readMergeRequest, type MergeRequest, type ReturnCause } from '../core/merge-request.js';
import type { RefinerySettings } from '../core/settings.js';
import type { TownStore } from '../core/town-store.js';
import type { Town } from '../town/town.js';
import { pushLander, type Lander } from './lander.js';

/**
 * What the refinery writes when a request's fate is known: a landed request closed with its source and
 * branch, a returned one given a task that says what to fix, an escalation after too many returns, the rig's
 * escalation while the remote refuses pushes, and the bug filed when the target itself is red. Each write is
 * safe to repeat: a pass killed midway leaves what the next pass finishes without writing anything twice.
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
};

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
export async function closeLanded(
  ctx: RefineryContext,
  repo: string,
  mr: MergeRequest,
  head: string,
  how: string,
  options: { branchDeleted?: boolean } = {},
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
  if (options.branchDeleted !== true)
    await (ctx.lander ?? pushLander).deleteBranch(repo, mr.branch).catch(log(`delete ${mr.branch}`));
  await commentOnce(ctx, mr.id, 'Landed in ', `Landed in ${where} (${how}).`);
  await ctx.store.close([mr.id], { reason: `landed in ${where}` }, ctx.actor);
}

export type ReturnFacts = { detail: string; files?: string[]; gate?: string; output?: string };

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
