import { errorMessage, NotFoundError } from '../core/errors.js';
import { readMergeRequest, type MergeRequest } from '../core/merge-request.js';
import { sling, type SlingContext, type SlingResult } from './sling.js';

/**
 * What the refinery could not land goes back to who can fix it: a returned request's task is slung to the
 * polecat that wrote the branch (it knows the work, and its sandbox is on the branch or can switch back to
 * it). A polecat busy with other work gets it once it is free (every pass tries again); when the polecat is
 * gone, the task goes to the rig, an idle or new polecat, told to switch to the branch first.
 */

export type SentBack = { request: string; task: string; agent: string; action: SlingResult['action'] };

function instructions(mr: MergeRequest): string {
  return (
    `Fix ${mr.id} on its own branch ${mr.branch}: "git switch ${mr.branch}" first if you are on another one, then ` +
    `"git fetch origin && git merge origin/${mr.target}", fix what the task says, commit, and hand in with gt done.`
  );
}

export async function sendBack(ctx: SlingContext, mr: MergeRequest): Promise<SentBack | undefined> {
  if (mr.state !== 'returned' || mr.waitingOn === null) return undefined;
  const [task] = await ctx.store.show([mr.waitingOn]).catch(() => []);
  // Already on someone's hook (or done): sent back before.
  if (task === undefined || task.status !== 'open' || task.assignee !== null) return undefined;
  const worker = await ctx.store.agent(mr.worker).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  if (worker !== undefined && worker.hook_bead !== null) return undefined; // busy: the next pass tries again
  const target = worker?.address ?? mr.rig;
  const [r] = await sling(ctx, [task.id], target, { args: instructions(mr), wait: false });
  return r === undefined ? undefined : { request: mr.id, task: task.id, agent: r.agent, action: r.action };
}

/** Sends back every returned request of the rig whose task nobody holds yet; what could not be sent is said. */
export async function sendBackAll(
  ctx: SlingContext,
  rig: string,
  onError?: (message: string) => void,
): Promise<SentBack[]> {
  const out: SentBack[] = [];
  for (const b of await ctx.store.list({ types: ['merge-request'], limit: 0 })) {
    const mr = readMergeRequest(b);
    if (mr === undefined || mr.rig !== rig || mr.state !== 'returned') continue;
    try {
      const sent = await sendBack(ctx, mr);
      if (sent !== undefined) out.push(sent);
    } catch (err) {
      onError?.(`${mr.id}: ${errorMessage(err)}`);
    }
  }
  return out;
}
