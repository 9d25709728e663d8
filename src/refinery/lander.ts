import { deleteLandedBranch, deleteLandedBranches, pushIfUnchanged, type LandResult } from '../git/merge.js';

/**
 * How a tested commit reaches the target, and how landed branches go: the one step a forge's pull requests
 * would do differently (open or update a pull request and let the forge merge it) from the plain push here.
 * A lander must keep the refinery's promises: the target moves only from `expected` to `commit` (never
 * overwriting someone else's push: 'moved'), a refusal comes back with the remote's words ('refused'), and a
 * branch is deleted only while it still is what was landed.
 */
export type Lander = {
  /** Moves `target` from `expected` to `commit` (a descendant of it), or says why not. */
  land(repo: string, commit: string, target: string, expected: string): Promise<LandResult>;
  /** Deletes landed branches at once; each branch's outcome ('deleted', or left to `deleteBranch`). */
  deleteBranches(repo: string, branches: readonly string[]): Promise<Map<string, string>>;
  /** Deletes one landed branch (a pass that resumes what a killed one left). */
  deleteBranch(repo: string, branch: string): Promise<string>;
};

/** Landing by compare-and-swap pushes to the rig's remote. */
export const pushLander: Lander = {
  land: pushIfUnchanged,
  deleteBranches: deleteLandedBranches,
  deleteBranch: deleteLandedBranch,
};
