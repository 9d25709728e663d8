import type { TownStore } from '../../src/core/town-store.js';
import { git } from './town-fixture.js';

export type FiledRequest = { mr: string; source: string; branch: string; commit: string };

/**
 * What a polecat's work and `gt done` leave for the refinery, made by hand: a branch cut from the remote's main
 * in the work clone `work`, changed, committed and pushed to `remote`; a source bead in progress; and the merge
 * request bead (rig gastown, target main) with the id gt done gives it.
 */
export async function fileMergeRequest(
  store: TownStore,
  options: {
    work: string;
    remote: string;
    name: string;
    branch: string;
    worker: string;
    change: (dir: string) => void;
    /** The source bead to use (else a new one is made); like gt done, it gets the request's id in its metadata. */
    source?: string;
  },
): Promise<FiledRequest> {
  const { work, remote, name, branch } = options;
  const worker = `gastown/polecats/${options.worker}`;
  git(work, 'fetch', '--quiet', remote, '+refs/heads/main:refs/remotes/origin/main');
  git(work, 'checkout', '--quiet', '-B', branch, 'origin/main');
  options.change(work);
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '-m', `${name}'s change`);
  git(work, 'push', '--quiet', remote, `${branch}:refs/heads/${branch}`);
  const commit = git(work, 'rev-parse', 'HEAD').trim();
  const source =
    options.source === undefined ? await store.create({ title: `${name}'s job` }, 'mayor') : { id: options.source };
  await store.update([source.id], { status: 'in_progress', assignee: worker }, 'mayor');
  const mr = await store.create(
    {
      id: `ga-mr${commit.slice(0, 12)}`,
      title: `Merge ${source.id}: ${name}'s job`,
      issue_type: 'merge-request',
      metadata: { branch, target: 'main', source_bead: source.id, rig: 'gastown', worker, commit },
    },
    worker,
  );
  if (options.source !== undefined) await store.update([source.id], { metadata: { gt_merge_request: mr.id } }, worker);
  return { mr: mr.id, source: source.id, branch, commit };
}
