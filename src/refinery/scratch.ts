import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../core/errors.js';
import { processAlive } from '../exec/exec.js';
import { GATE_OWNER_ENV, killGatesOf } from '../exec/gate.js';
import { removeScratchArea } from '../git/merge.js';

/**
 * A refinery pass's scratch area: `<rig>/refinery/scratch/<pass>/`, where `<pass>` is `<pid>-<random>`, holding
 * the worktrees it stacks and gates in; its gates carry the pass in their environment (GATE_OWNER_ENV). A pass
 * killed with -9 leaves both behind: its worktrees, and its gates, which run in process groups of their own and
 * so outlive it. The next pass of the rig, at its start, finds the passes that are gone (their process is dead,
 * or it is this process and the pass is over), ends their gates and removes their areas (clearDeadPasses).
 */

export type PassScratch = {
  /** `<pid>-<random>`: names the area and tags the gates. */
  id: string;
  dir: string;
  /** The environment for the pass's gates: the caller's, with the pass as the gates' owner. */
  gateEnv: NodeJS.ProcessEnv;
};

const PASS_NAME = /^(\d+)-[0-9a-f]+$/u;

/** Passes of this process that have not ended: a pass of a live process is gone only when it is not one of these. */
const livePasses = new Set<string>();

function isGone(name: string): boolean {
  if (livePasses.has(name)) return false;
  const m = PASS_NAME.exec(name);
  // Anything else in the scratch root was left by an older refinery: no live pass owns it.
  if (m === null) return true;
  const pid = Number(m[1]);
  return pid === process.pid || !processAlive(pid);
}

/**
 * Ends what dead passes of the rig left under `scratchRoot`: their gates first (they may still run in their
 * worktrees), then their areas. `progress` hears what was cleared, and what could not be (left for a later pass).
 */
export async function clearDeadPasses(
  repo: string,
  scratchRoot: string,
  progress?: (line: string) => void,
): Promise<void> {
  for (const name of existsSync(scratchRoot) ? readdirSync(scratchRoot) : []) {
    if (!isGone(name)) continue;
    const killed = killGatesOf(name);
    if (killed.length > 0) progress?.(`ended ${killed.length} process(es) of the gates of dead pass ${name}`);
    try {
      await removeScratchArea(repo, join(scratchRoot, name));
      progress?.(`removed the scratch of dead pass ${name}`);
    } catch (err) {
      progress?.(`could not remove the scratch of dead pass ${name}: ${errorMessage(err)}`);
    }
  }
}

/** A scratch area for a new pass, under `scratchRoot`. */
export function openPassScratch(scratchRoot: string): PassScratch {
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  livePasses.add(id);
  const dir = join(scratchRoot, id);
  mkdirSync(dir, { recursive: true });
  return { id, dir, gateEnv: { ...process.env, [GATE_OWNER_ENV]: id } };
}

/** Ends a pass's scratch area: its gates (none should be left) and its worktrees. */
export async function closePassScratch(repo: string, scratch: PassScratch): Promise<void> {
  try {
    killGatesOf(scratch.id);
    if (existsSync(scratch.dir)) await removeScratchArea(repo, scratch.dir);
  } finally {
    livePasses.delete(scratch.id);
  }
}
