import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Agent } from '../core/agent-store.js';
import { ConflictError, errorMessage, GtError, ValidationError } from '../core/errors.js';
import { sessionName, validateName, type AgentIdentity } from '../core/identity.js';
import { cloneFull, excludePattern } from '../git/git.js';
import { BEADS_DIR_NAME, REDIRECT_FILE_NAME } from '../store/discover.js';
import { openTownStore } from '../store/open.js';
import { rigPaths } from './rig.js';
import { townPaths, type Town } from './town.js';

/**
 * A crew workspace: a full clone of the rig's project for a human, with a `.beads/redirect` to the town store
 * so `bd` works there as it does for the agents. Humans keep their own git identity.
 */
export async function addCrew(town: Town, rigName: string, name: string, actor: string): Promise<Agent> {
  validateName('crew', name);
  const store = openTownStore(town.dbPath);
  const path = join(rigPaths(town.root, rigName).crew, name);
  let created = false;
  try {
    const rig = await store.rig(rigName);
    if (existsSync(path)) throw new ConflictError(`${path} already exists`);
    mkdirSync(rigPaths(town.root, rigName).crew, { recursive: true });
    created = true;
    await cloneFull(rig.url, path, town.root);
    excludePattern(join(path, '.git'), `/${BEADS_DIR_NAME}/${REDIRECT_FILE_NAME}`);
    mkdirSync(join(path, BEADS_DIR_NAME), { recursive: true });
    writeFileSync(join(path, BEADS_DIR_NAME, REDIRECT_FILE_NAME), `${relative(path, townPaths(town.root).beadsDir)}\n`);
    const identity: AgentIdentity = { role: 'crew', rig: rigName, name };
    return await store.registerAgent(
      { identity, session_name: sessionName(identity, rig.prefix), sandbox_path: path, branch: rig.default_branch },
      actor,
    );
  } catch (err) {
    // The clone was made by this call a moment ago: nothing of anyone's is in it yet.
    if (created && existsSync(path)) rmSync(path, { recursive: true, force: true });
    if (err instanceof GtError) throw err;
    throw new ValidationError(`adding crew ${name} to ${rigName} failed: ${errorMessage(err)}`, { cause: err });
  } finally {
    store.dispose();
  }
}
