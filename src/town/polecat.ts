import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { Agent, RegisterAgentInput } from '../core/agent-store.js';
import type { Rig } from '../core/rig-registry.js';
import { ConflictError, errorMessage, GtError, ValidationError } from '../core/errors.js';
import { refusePatrol } from '../core/guard.js';
import {
  agentAddress,
  agentGitIdentity,
  polecatBranch,
  sessionName,
  validateName,
  type AgentIdentity,
} from '../core/identity.js';
import { allocateName } from '../core/name-pool.js';
import {
  addWorktreeOnNewBranch,
  deleteBranch,
  excludePattern,
  fetchOrigin,
  hasBranch,
  hasUnpushedCommits,
  removeUnfinishedWorktree,
  removeWorktree,
  setWorktreeIdentity,
  switchToNewBranch,
  worktreeSafety,
  type WorktreeSafety,
} from '../git/git.js';
import { BEADS_DIR_NAME, REDIRECT_FILE_NAME } from '../store/discover.js';
import { withFileLock } from '../exec/lock.js';
import { openTownStore } from '../store/open.js';
import type { TownStore } from '../core/town-store.js';
import { loadRigSettings, rigPaths } from './rig.js';
import { townPaths, type Town } from './town.js';

/**
 * Polecat sandboxes: a persistent name, a git worktree of the rig on its own branch cut from the remote's
 * default branch, a `.beads/redirect` to the town store, and commits signed with the polecat's name. Nothing
 * here ever deletes uncommitted or unpushed work; pushed but unmerged work is removed only with `force`.
 */

export type AddPolecatOptions = {
  name?: string;
  bead?: string;
  actor: string;
  ownerEmail: string;
  nowMs: number;
  theme?: readonly string[];
};

/** Polecat states in which its sandbox may be handed to new work. */
const REUSABLE_STATES: ReadonlySet<string> = new Set(['idle', 'done']);

/**
 * Idle polecats of the rig — no hook, a sandbox on disk — as candidates for new work. Without `openSessions`
 * only those with no session open; with it, those whose session is still open too (their work is handed in,
 * so the running agent can be told the next bead), and those first: reusing one starts no session.
 */
export async function reusablePolecats(
  store: TownStore,
  rigName: string,
  options: { openSessions?: boolean } = {},
): Promise<Agent[]> {
  const open: Agent[] = [];
  const closed: Agent[] = [];
  for (const a of await store.agents({ rig: rigName, role: 'polecat' })) {
    if (!REUSABLE_STATES.has(a.agent_state) || a.hook_bead !== null || a.name === null || !existsSync(a.sandbox_path))
      continue;
    if ((await store.openSession(a.address)) === null) closed.push(a);
    else if (options.openSessions === true) open.push(a);
  }
  return [...open, ...closed];
}

/**
 * Gives a polecat whose old work is safe — nothing uncommitted, every commit pushed — a fresh branch from the
 * remote's default branch. Returns undefined (changing nothing) when its sandbox holds unsaved work.
 */
export async function freshBranch(
  town: Town,
  store: TownStore,
  agent: Agent,
  rig: Rig,
  options: { bead?: string; nowMs: number; actor: string },
): Promise<Agent | undefined> {
  // One at a time in a sandbox: concurrent adds may pick the same idle polecat.
  return withPolecatLock(town, rig.name, agent.sandbox_path, agent.address, () =>
    renewBranch(town, store, agent, rig, options),
  );
}

/**
 * Readies an idle polecat for a bead and only then puts the bead on its hook (`hook`), under the polecat's
 * lock: its sandbox is on the bead's fresh branch before any agent can see the bead — one whose session is
 * still open included. Undefined (nothing hooked) when the polecat is taken meanwhile or its sandbox holds
 * unsaved work; the hook's own refusal (the bead taken, no capacity) is thrown, leaving the polecat idle on
 * an empty fresh branch.
 */
export async function readyIdlePolecat(
  town: Town,
  store: TownStore,
  agent: Agent,
  rig: Rig,
  options: { bead: string; nowMs: number; actor: string },
  hook: () => Promise<Agent>,
): Promise<Agent | undefined> {
  return withPolecatLock(town, rig.name, agent.sandbox_path, agent.address, async () => {
    const now = await store.agent(agent.address);
    if (now.hook_bead !== null || !REUSABLE_STATES.has(now.agent_state)) return undefined;
    const renewed = await renewBranch(town, store, now, rig, options).catch(() => undefined);
    if (renewed === undefined) return undefined;
    return hook();
  });
}

/** The fresh branch itself; the caller holds the polecat's lock. */
async function renewBranch(
  town: Town,
  store: TownStore,
  agent: Agent,
  rig: Rig,
  options: { bead?: string; nowMs: number; actor: string },
): Promise<Agent | undefined> {
  const repo = rigPaths(town.root, rig.name).repo;
  const safety = await worktreeSafety(agent.sandbox_path, rig.default_branch);
  if (safety.uncommitted.length > 0 || safety.unpushed > 0) return undefined;
  const branch = polecatBranch(agent.name ?? '', options.bead, options.nowMs);
  // The same name means the same bead within the same second: that branch is as fresh as it gets.
  if (branch === safety.branch) return store.agent(agent.address);
  // Unfinished until the switch is done: a switch killed half way leaves a polecat that is made again from
  // scratch when its work starts (nothing is lost: its old work was just found committed and pushed).
  const before = await store.agent(agent.address);
  await store.updateAgent(agent.address, { branch, agent_state: 'spawning' }, options.actor);
  try {
    await switchToNewBranch(agent.sandbox_path, branch, `origin/${rig.default_branch}`);
  } catch (err) {
    await store.updateAgent(agent.address, { branch: before.branch, agent_state: before.agent_state }, options.actor);
    throw err;
  }
  // The old branch's commits are all on the remote (checked above), so the local branch can go.
  if (!(await hasUnpushedCommits(repo, safety.branch))) await deleteBranch(repo, safety.branch);
  return store.updateAgent(agent.address, { branch, agent_state: 'idle' }, options.actor);
}

/** A new polecat, decided but not yet made: its name, sandbox path, branch and registration. */
export type PolecatPlan = {
  rig: Rig;
  identity: AgentIdentity;
  path: string;
  branch: string;
  registration: RegisterAgentInput;
};

export async function planPolecat(
  town: Town,
  store: TownStore,
  rigName: string,
  options: { name?: string; bead?: string; nowMs: number; theme?: readonly string[] },
): Promise<PolecatPlan> {
  if (options.name !== undefined) validateName('polecat', options.name);
  const rig = await store.rig(rigName);
  const paths = rigPaths(town.root, rigName);
  const custom = loadRigSettings(town.root, rigName).polecat_names;
  const inUse = new Set<string>([
    ...(await store.agents({ rig: rigName, role: 'polecat' })).flatMap((a) => (a.name === null ? [] : [a.name])),
    ...(existsSync(paths.polecats) ? readdirSync(paths.polecats) : []),
  ]);
  if (options.name !== undefined && inUse.has(options.name))
    throw new ConflictError(`rig ${rigName} already has a polecat named ${options.name}`);
  const name = options.name ?? allocateName(inUse, options.theme ?? (custom.length > 0 ? custom : undefined));
  const identity: AgentIdentity = { role: 'polecat', rig: rigName, name };
  const branch = polecatBranch(name, options.bead, options.nowMs);
  const path = join(paths.polecats, name);
  return {
    rig,
    identity,
    path,
    branch,
    registration: {
      identity,
      session_name: sessionName(identity, rig.prefix),
      sandbox_path: path,
      branch,
      agent_state: 'spawning',
    },
  };
}

/** The plan of a polecat registered (`spawning`) whose sandbox is still to be made. */
async function planOf(store: TownStore, agent: Agent): Promise<PolecatPlan> {
  if (agent.role !== 'polecat' || agent.rig === null || agent.name === null || agent.branch === null)
    throw new ValidationError(`${agent.address} is not a polecat with a branch`);
  const identity: AgentIdentity = { role: 'polecat', rig: agent.rig, name: agent.name };
  return {
    rig: await store.rig(agent.rig),
    identity,
    path: agent.sandbox_path,
    branch: agent.branch,
    registration: {
      identity,
      session_name: agent.session_name,
      sandbox_path: agent.sandbox_path,
      branch: agent.branch,
    },
  };
}

/**
 * One maker of a polecat's sandbox at a time, across processes. The lock lives in the shared clone beside git's
 * own files; its holder is known by pid (and its git children by the lock's token), so a maker killed with -9
 * does not keep it — nor does anyone take it while that maker's git still runs.
 */
function withMaking<T>(town: Town, plan: PolecatPlan, fn: () => Promise<T>): Promise<T> {
  return withPolecatLock(town, plan.rig.name, plan.path, agentAddress(plan.identity), fn);
}

function withPolecatLock<T>(
  town: Town,
  rigName: string,
  sandbox: string,
  address: string,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = join(rigPaths(town.root, rigName).repo, `gt-polecat-${basename(sandbox)}.lock`);
  return withFileLock(
    lock,
    { timeoutMs: 180_000, staleMs: 30 * 60_000, busy: `another gt is making or renewing ${address}` },
    fn,
  );
}

/**
 * Makes the sandbox of a polecat registered as `spawning`, then marks it idle: from then on sessions may start
 * in it. A maker killed part-way leaves the polecat `spawning`; the next one to make it (a session start, gt
 * doctor --fix) first clears what the killed one left — a directory however far its checkout got, a worktree
 * entry, the new branch. A `spawning` polecat has never had a session, so nothing of anyone's work is there;
 * still, a branch with commits no remote has is never deleted.
 */
export async function makePolecatSandbox(
  town: Town,
  store: TownStore,
  plan: PolecatPlan,
  ownerEmail: string,
  actor: string,
): Promise<Agent> {
  const address = agentAddress(plan.identity);
  return withMaking(town, plan, async () => {
    const agent = await store.agent(address);
    if (agent.agent_state !== 'spawning') return agent; // made meanwhile by someone else
    await clearUnfinishedSandbox(town, plan);
    await createPolecatSandbox(town, plan, ownerEmail);
    return store.updateAgent(address, { agent_state: 'idle' }, actor);
  });
}

/** A polecat whose making was cut short (it is still `spawning`): makes its sandbox now. */
export async function finishPolecat(town: Town, store: TownStore, agent: Agent, actor: string): Promise<Agent> {
  if (agent.agent_state !== 'spawning') return agent;
  return makePolecatSandbox(town, store, await planOf(store, agent), town.owner, actor);
}

/**
 * Removes a polecat whose making was cut short and that holds no work (a killed `gt polecat add`): what was
 * made of its sandbox, and its registration.
 */
export async function dropUnfinishedPolecat(town: Town, store: TownStore, agent: Agent, actor: string): Promise<void> {
  const plan = await planOf(store, agent);
  await withMaking(town, plan, async () => {
    const now = await store.agent(agent.address);
    if (now.agent_state !== 'spawning' || now.hook_bead !== null) return; // finished, or given work, meanwhile
    await clearUnfinishedSandbox(town, plan);
    await store.removeAgent(agent.address, actor);
  });
}

async function clearUnfinishedSandbox(town: Town, plan: PolecatPlan): Promise<void> {
  const repo = rigPaths(town.root, plan.rig.name).repo;
  const branch = await hasBranch(repo, plan.branch);
  if (!branch && !existsSync(plan.path) && !existsSync(join(repo, 'worktrees', basename(plan.path)))) return;
  if (branch && (await hasUnpushedCommits(repo, plan.branch)))
    throw new ConflictError(
      `${agentAddress(plan.identity)} was never finished, yet its branch ${plan.branch} has commits that no remote has`,
      { hint: `look at them yourself (git -C ${repo} log ${plan.branch}); gt will not delete them` },
    );
  await removeUnfinishedWorktree(repo, plan.path);
  if (branch) await deleteBranch(repo, plan.branch);
}

/** Makes a planned polecat's sandbox; on failure removes what it made, and throws. */
async function createPolecatSandbox(town: Town, plan: PolecatPlan, ownerEmail: string): Promise<void> {
  const paths = rigPaths(town.root, plan.rig.name);
  let made = false;
  try {
    await fetchOrigin(paths.repo);
    mkdirSync(paths.polecats, { recursive: true });
    made = true;
    await addWorktreeOnNewBranch(paths.repo, plan.path, plan.branch, `origin/${plan.rig.default_branch}`);
    const git = agentGitIdentity(plan.identity, ownerEmail);
    await setWorktreeIdentity(paths.repo, plan.path, git.name, git.email);
    // bd inside the sandbox reaches the town store; the redirect is never part of the polecat's work.
    excludePattern(paths.repo, `/${BEADS_DIR_NAME}/${REDIRECT_FILE_NAME}`);
    mkdirSync(join(plan.path, BEADS_DIR_NAME), { recursive: true });
    writeFileSync(
      join(plan.path, BEADS_DIR_NAME, REDIRECT_FILE_NAME),
      `${relative(plan.path, townPaths(town.root).beadsDir)}\n`,
    );
  } catch (err) {
    if (made) await discardNewSandbox(town, plan);
    if (err instanceof GtError) throw err;
    throw new ValidationError(`making the sandbox of ${agentAddress(plan.identity)} failed: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * Removes a sandbox this process made moments ago (a failed sling or add): its worktree and branch. Never
 * called on a sandbox an agent has worked in.
 */
export async function discardNewSandbox(town: Town, plan: PolecatPlan): Promise<void> {
  const repo = rigPaths(town.root, plan.rig.name).repo;
  if (existsSync(plan.path)) {
    await removeWorktree(repo, plan.path).catch(() => undefined);
    rmSync(plan.path, { recursive: true, force: true });
  }
  await deleteBranch(repo, plan.branch).catch(() => undefined);
}

/** Gives the rig a polecat: an idle one reused when its old work is safe, else a new one. */
export async function addPolecat(town: Town, rigName: string, options: AddPolecatOptions): Promise<Agent> {
  const store = openTownStore(town.dbPath);
  try {
    const rig = await store.rig(rigName);
    loadRigSettings(town.root, rigName); // a broken settings file is reported before anything changes
    if (options.name === undefined) {
      const candidates = await reusablePolecats(store, rigName);
      if (candidates.length > 0) await fetchOrigin(rigPaths(town.root, rigName).repo);
      for (const agent of candidates) {
        const reused = await freshBranch(town, store, agent, rig, options);
        if (reused !== undefined) return reused;
      }
    }
    // The name is taken in the store first (of concurrent adds exactly one gets it), then the sandbox is made.
    for (let attempt = 0; ; attempt++) {
      const plan = await planPolecat(town, store, rigName, options);
      try {
        await store.registerAgent(plan.registration, options.actor, { fresh: true });
      } catch (err) {
        if (options.name === undefined && attempt < 10 && err instanceof ConflictError) continue; // taken: pick again
        throw err;
      }
      try {
        return await makePolecatSandbox(town, store, plan, options.ownerEmail, options.actor);
      } catch (err) {
        await store.removeAgent(agentAddress(plan.identity), options.actor).catch(() => undefined);
        throw err;
      }
    }
  } finally {
    store.dispose();
  }
}

export type PolecatView = Agent & { sandbox_exists: boolean };

export async function listPolecats(town: Town, rigName: string): Promise<PolecatView[]> {
  const store = openTownStore(town.dbPath);
  try {
    await store.rig(rigName);
    return (await store.agents({ rig: rigName, role: 'polecat' })).map((a) =>
      Object.assign(a, { sandbox_exists: existsSync(a.sandbox_path) }),
    );
  } finally {
    store.dispose();
  }
}

/** Why a sandbox may not be removed, or undefined when it may. */
export function removalBlocker(s: WorktreeSafety, defaultBranch: string, force: boolean): string | undefined {
  if (s.uncommitted.length > 0) {
    const files =
      s.uncommitted.slice(0, 3).join(', ') + (s.uncommitted.length > 3 ? `, … (${s.uncommitted.length} files)` : '');
    return `branch ${s.branch} has uncommitted changes (${files}); commit and push them first`;
  }
  if (s.unpushed > 0) return `branch ${s.branch} has ${s.unpushed} commit(s) that are not pushed; push them first`;
  if (s.unmerged > 0 && !force) {
    return `branch ${s.branch} has ${s.unmerged} commit(s) not merged into origin/${defaultBranch}; they are pushed, so --force may remove the sandbox (the branch stays on the remote)`;
  }
  return undefined;
}

export type RemovePolecatOptions = { force?: boolean; actor: string };

/**
 * Removes a polecat: its worktree, its local branch and its identity. Refuses while it has hooked work or an
 * open session, and whenever removal would lose work (uncommitted or unpushed, whatever `force` says). Patrol
 * agents may not remove sandboxes at all (src/core/guard.ts).
 */
export async function removePolecat(
  town: Town,
  rigName: string,
  name: string,
  options: RemovePolecatOptions,
): Promise<void> {
  refusePatrol(options.actor, 'polecat-remove');
  validateName('polecat', name);
  const store = openTownStore(town.dbPath);
  const paths = rigPaths(town.root, rigName);
  try {
    const rig = await store.rig(rigName);
    const address = agentAddress({ role: 'polecat', rig: rigName, name });
    const agent = await store.agent(address);
    if (agent.hook_bead !== null)
      throw new ConflictError(`${address} has ${agent.hook_bead} on its hook`, {
        hint: 'let it finish, or unhook the work first',
      });
    const open = (await store.sessions(address, 1)).find((s) => s.ended_at === null);
    if (open !== undefined)
      throw new ConflictError(`${address} has an open session (${open.session_id})`, {
        hint: 'stop the session first',
      });
    if (existsSync(agent.sandbox_path)) {
      // Decide on fresh knowledge of the remote: an unreachable remote means we cannot prove the work is safe.
      await fetchOrigin(paths.repo);
      const safety = await worktreeSafety(agent.sandbox_path, rig.default_branch);
      const blocker = removalBlocker(safety, rig.default_branch, options.force === true);
      if (blocker !== undefined) throw new ConflictError(`not removing ${address}: ${blocker}`);
      await removeWorktree(paths.repo, agent.sandbox_path);
      // The worktree is gone, so nothing can add to the branch now; delete it only if the remote has its commits.
      if (!(await hasUnpushedCommits(paths.repo, safety.branch))) await deleteBranch(paths.repo, safety.branch);
    }
    await store.removeAgent(address, options.actor);
  } finally {
    store.dispose();
  }
}
