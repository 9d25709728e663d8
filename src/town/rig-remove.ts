import { existsSync, rmSync } from 'node:fs';
import { ConflictError } from '../core/errors.js';
import { refusePatrol } from '../core/guard.js';
import { ROLE_SPECS } from '../core/identity.js';
import { branchesWithUnpushedCommits, fetchOrigin, removeWorktree, worktreeSafety } from '../git/git.js';
import { openTownStore } from '../store/open.js';
import { removalBlocker } from './polecat.js';
import { rigPaths } from './rig.js';
import type { Town } from './town.js';

export type RemoveRigOptions = {
  /** Remove the rig even though some sandboxes hold work; those sandboxes are kept on disk. */
  force?: boolean;
  /** Also delete sandboxes holding uncommitted, unpushed or unmerged work. */
  discardUnmerged?: boolean;
  actor: string;
};

export type RemoveRigResult = {
  rig: string;
  /** The rig directory is gone. */
  deleted: boolean;
  /** Sandboxes left on disk because they hold work (with --force). */
  kept: { path: string; reason: string }[];
  /** Work deleted on purpose (with --discard-unmerged). */
  discarded: { path: string; reason: string }[];
};

/**
 * Removes a rig: its agents, its record, and its directory. Work decides how far it goes:
 *  - an agent with hooked work or an open session stops everything, whatever the flags;
 *  - any sandbox (or branch of the shared clone) with uncommitted, unpushed or unmerged work stops it,
 *    unless `force`; then the rig is forgotten and clean sandboxes go, but sandboxes with work stay on disk
 *    with the shared clone they need;
 *  - only `discardUnmerged` deletes work, and it says so.
 */
export async function removeRig(town: Town, name: string, options: RemoveRigOptions): Promise<RemoveRigResult> {
  refusePatrol(options.actor, 'rig-remove');
  const store = openTownStore(town.dbPath);
  try {
    const rig = await store.rig(name);
    const paths = rigPaths(town.root, name);
    const agents = await store.agents({ rig: name });
    for (const a of agents) {
      if (a.hook_bead !== null)
        throw new ConflictError(`not removing rig ${name}: ${a.address} has ${a.hook_bead} on its hook`);
      if ((await store.sessions(a.address, 1)).some((s) => s.ended_at === null))
        throw new ConflictError(`not removing rig ${name}: ${a.address} has an open session`);
    }

    const risky: { path: string; reason: string }[] = [];
    const safeSandboxes: { path: string; worktree: boolean }[] = [];
    if (existsSync(paths.repo)) {
      try {
        await fetchOrigin(paths.repo);
      } catch (err) {
        if (options.discardUnmerged !== true) {
          throw new ConflictError(`not removing rig ${name}: cannot reach its remote to check that its work is safe`, {
            cause: err,
            hint: 'retry when the remote is reachable',
          });
        }
      }
      for (const branch of await branchesWithUnpushedCommits(paths.repo)) {
        const inSandbox = agents.some((a) => a.branch === branch);
        if (!inSandbox)
          risky.push({ path: paths.repo, reason: `branch ${branch} of the shared clone has unpushed commits` });
      }
    }
    for (const a of agents) {
      if (ROLE_SPECS[a.role].sandbox === 'directory' || !existsSync(a.sandbox_path)) continue;
      if (ROLE_SPECS[a.role].sandbox === 'clone') await fetchOrigin(`${a.sandbox_path}/.git`).catch(() => undefined);
      const safety = await worktreeSafety(a.sandbox_path, rig.default_branch);
      const blocker = removalBlocker(safety, rig.default_branch, false);
      if (blocker !== undefined) risky.push({ path: a.sandbox_path, reason: `${a.address}: ${blocker}` });
      else safeSandboxes.push({ path: a.sandbox_path, worktree: ROLE_SPECS[a.role].sandbox === 'worktree' });
    }

    if (risky.length > 0 && options.force !== true && options.discardUnmerged !== true) {
      throw new ConflictError(`not removing rig ${name}: ${risky.map((r) => r.reason).join('; ')}`, {
        hint: '--force removes the rig but keeps these sandboxes; --discard-unmerged deletes them too',
      });
    }

    await store.unregisterRig(name, options.actor);
    if (options.discardUnmerged === true) {
      rmSync(paths.root, { recursive: true, force: true });
      return { rig: name, deleted: true, kept: [], discarded: risky };
    }
    // Sandbox by sandbox, each removal re-checking on its own, so that work appearing since the check survives:
    // git refuses to remove a dirty worktree, and a clone is assessed again just before it goes.
    const kept = [...risky];
    for (const s of safeSandboxes) {
      if (s.worktree) {
        try {
          await removeWorktree(paths.repo, s.path);
        } catch {
          kept.push({ path: s.path, reason: 'it changed while the rig was being removed' });
        }
        continue;
      }
      const blocker = removalBlocker(await worktreeSafety(s.path, rig.default_branch), rig.default_branch, false);
      if (blocker === undefined) rmSync(s.path, { recursive: true, force: true });
      else kept.push({ path: s.path, reason: blocker });
    }
    if (kept.length === 0) {
      rmSync(paths.root, { recursive: true, force: true });
      return { rig: name, deleted: true, kept: [], discarded: [] };
    }
    return { rig: name, deleted: false, kept, discarded: [] };
  } finally {
    store.dispose();
  }
}
