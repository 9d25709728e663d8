import type { RegisterAgentInput } from './agent-store.js';

/** The rigs of a town, as the store records them. */
export type Rig = {
  name: string;
  /** Bead prefix of the rig's work, unique in the town. */
  prefix: string;
  /** Where the project was cloned from. */
  url: string;
  default_branch: string;
  /** The rig's directory in the town. */
  path: string;
  created_at: string;
};

export type RigRegistry = {
  /** Records the rig and its agents in one transaction; a taken name or prefix is a ConflictError. */
  registerRig(rig: Omit<Rig, 'created_at'>, agents: readonly RegisterAgentInput[], actor: string): Promise<Rig>;
  rig(name: string): Promise<Rig>;
  rigs(): Promise<Rig[]>;
  /** Forgets the rig and its agents; refuses while any of them has hooked work or an open session. */
  unregisterRig(name: string, actor: string): Promise<void>;
};
