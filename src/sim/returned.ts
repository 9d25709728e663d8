import { NotFoundError } from '../core/errors.js';
import type { TownStore } from '../core/town-store.js';
import { readMergeRequest } from '../core/merge-request.js';
import { returnShellBlock } from './script.js';

/**
 * Work the refinery sent back, as the sim reads it from a task on its hook (`mq_fix_for` in its metadata): the
 * request's branch and target, why it came back, and the script its source bead has for that cause.
 */
export type ReturnedWork = {
  request: string;
  branch: string;
  target: string;
  cause: string;
  script: string | undefined;
};

/** The returned request a task fixes, or undefined when the task is not the refinery's (or the request is gone). */
export async function returnedWork(
  store: Pick<TownStore, 'show'>,
  task: { metadata: Record<string, unknown> },
): Promise<ReturnedWork | undefined> {
  const request = task.metadata.mq_fix_for;
  if (typeof request !== 'string' || request === '') return undefined;
  const one = async (id: string) =>
    (
      await store.show([id]).catch((err: unknown) => {
        if (err instanceof NotFoundError) return [];
        throw err;
      })
    )[0];
  const bead = await one(request);
  const mr = bead === undefined ? undefined : readMergeRequest(bead);
  if (mr === undefined) return undefined;
  const cause = typeof task.metadata.cause === 'string' ? task.metadata.cause : (mr.cause ?? '');
  const source = mr.source === '' ? undefined : await one(mr.source);
  return {
    request: mr.id,
    branch: mr.branch,
    target: mr.target,
    cause,
    script: source === undefined ? undefined : returnShellBlock(source.description, cause),
  };
}
