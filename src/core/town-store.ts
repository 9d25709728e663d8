import type { AgentStore } from './agent-store.js';
import type { BeadStore, StoreHealth } from './bead-store.js';
import type { ProblemStore } from './problem.js';
import type { RigRegistry } from './rig-registry.js';
import type { SlingQueueStore } from './sling-queue.js';
import type { UsageStore } from './usage-store.js';

/** What `gt doctor` asks of the store (also part of the BeadStore port, for `bd ping`). */
export type { StoreHealth };

/**
 * Everything a town keeps in its store, as the layers above `store/` see it: beads, agents with their session
 * chains, rigs, slings queued for capacity, the problems the daemon saw with the patrol's decisions, and the
 * agents' token usage. Code
 * above the store depends on this port, never on a backend's class, so that a second backend can slot in by
 * passing the same conformance suites.
 */
export type TownStore = BeadStore &
  AgentStore &
  RigRegistry &
  SlingQueueStore &
  ProblemStore &
  UsageStore & {
    health(): Promise<StoreHealth>;
    /**
     * A mark that moves whenever anything is written to the store, by this process or any other: a watcher
     * compares two marks to know whether to look again. Cheap enough to ask several times a second.
     */
    changeMark(): Promise<string>;
  };
