import { errorMessage } from '../core/errors.js';
import { madeProgress, mergeRequests, runPass, type PassReport, type RefineryContext } from './refinery.js';

/**
 * The refinery as a standing process (`gt refinery run --watch`, the program of the rig's refinery session):
 * a pass whenever the queue changes — a request filed, a returned request's task closed — and otherwise
 * nothing but a look at the store every `pollMs` (no model, no git, no gate while the queue is quiet). A pass
 * that made progress is followed by another at once; one that could not (the target fails its own gates, the
 * remote refuses) is tried again after `retryMs`, or sooner when the queue changes.
 */

export type WatchOptions = {
  pollMs?: number;
  retryMs?: number;
  signal?: AbortSignal;
  onPass?: (report: PassReport) => void | Promise<void>;
  onError?: (message: string) => void;
  onIdle?: (queued: number) => void;
};

/**
 * What the queue looks like to a watcher: changes whenever a pass would see something new, or a returned
 * request's task that nobody holds yet could be sent back (its worker, busy when it was returned, is free).
 */
async function fingerprint(ctx: RefineryContext, rig: string): Promise<{ key: string; queued: number }> {
  const open = await mergeRequests(ctx.store, rig);
  const returned = open.filter((mr) => mr.state === 'returned' && mr.waitingOn !== null);
  const tasks =
    returned.length === 0 ? [] : await ctx.store.show(returned.map((mr) => mr.waitingOn ?? '')).catch(() => []);
  const unsent = returned.filter((mr) =>
    tasks.some((t) => t.id === mr.waitingOn && t.status === 'open' && t.assignee === null),
  );
  const free = await Promise.all(
    unsent.map((mr) =>
      ctx.store.agent(mr.worker).then(
        (a) => a.hook_bead === null,
        () => null,
      ),
    ),
  );
  const key = JSON.stringify([
    open.map((mr) => [mr.id, mr.state, mr.attempts]),
    tasks.map((t) => [t.id, t.status]),
    unsent.map((mr, i) => [mr.id, free[i]]),
  ]);
  return { key, queued: open.filter((mr) => mr.state === 'queued' || mr.state === 'testing').length };
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

export async function watchQueue(ctx: RefineryContext, rig: string, options: WatchOptions = {}): Promise<void> {
  const pollMs = options.pollMs ?? 2_000;
  const retryMs = options.retryMs ?? 30_000;
  let seen = '';
  let retryAt = 0;
  while (options.signal?.aborted !== true) {
    const now = await fingerprint(ctx, rig);
    const due = now.key !== seen || (now.queued > 0 && retryAt > 0 && ctx.now() >= retryAt);
    if (!due) {
      await sleep(pollMs, options.signal);
      continue;
    }
    let progressed = false;
    let stuck = false;
    try {
      const report = await runPass(ctx, rig);
      await options.onPass?.(report);
      progressed = madeProgress(report);
      stuck = report.targetBroken !== null || report.refused !== null || (!progressed && report.batch.length > 0);
    } catch (err) {
      options.onError?.(errorMessage(err));
      stuck = true;
    }
    retryAt = stuck ? ctx.now() + retryMs : 0;
    if (progressed) {
      seen = '';
      continue;
    }
    const after = await fingerprint(ctx, rig);
    seen = after.key;
    options.onIdle?.(after.queued);
    await sleep(pollMs, options.signal);
  }
}
