import { ValidationError } from './errors.js';
import { sha256Hex } from './sha256.js';

/**
 * Who the agents are: roles, names, addresses, session and branch names. Role names live here and nowhere
 * else; mechanisms ask for capabilities (scope, singleton, sandbox kind) instead of comparing role strings.
 */

export const ROLES = ['mayor', 'deacon', 'boot', 'witness', 'refinery', 'polecat', 'crew'] as const;
export type Role = (typeof ROLES)[number];

export type RoleSpec = {
  /** A town-wide agent, or one that belongs to a rig. */
  scope: 'town' | 'rig';
  /** One per town (town scope) or per rig (rig scope); otherwise many, each with a name. */
  singleton: boolean;
  /** What its sandbox is: a plain directory, a git worktree of the rig, or a full clone. */
  sandbox: 'directory' | 'worktree' | 'clone';
};

export const ROLE_SPECS: Readonly<Record<Role, RoleSpec>> = {
  mayor: { scope: 'town', singleton: true, sandbox: 'directory' },
  deacon: { scope: 'town', singleton: true, sandbox: 'directory' },
  boot: { scope: 'town', singleton: true, sandbox: 'directory' },
  witness: { scope: 'rig', singleton: true, sandbox: 'directory' },
  refinery: { scope: 'rig', singleton: true, sandbox: 'worktree' },
  polecat: { scope: 'rig', singleton: false, sandbox: 'worktree' },
  crew: { scope: 'rig', singleton: false, sandbox: 'clone' },
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** The town's own bead prefix. */
export const TOWN_PREFIX = 'hq';

/**
 * Names that become paths, branches, session names and argv: a letter or digit first, then letters, digits,
 * `_` and `-`; at most 40 characters. No dots (so no `..`), no separators, no shell metacharacters, no spaces,
 * and no leading dash (which a command would read as an option).
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

/** Rig names that would collide with town directories or the town prefix. */
const RESERVED_RIG_NAMES = new Set(['hq', 'mayor', 'deacon', 'settings', 'plugins', 'daemon']);
/** Worker names that would collide with other agents' session names (`<prefix>-witness`, `<prefix>-crew-x`). */
const RESERVED_WORKER_NAMES = new Set(['witness', 'refinery', 'crew', 'mayor', 'deacon', 'boot']);

export type NameKind = 'town' | 'rig' | 'polecat' | 'crew';

export function validateName(kind: NameKind, name: string): string {
  if (!NAME_PATTERN.test(name)) {
    const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
    throw new ValidationError(
      `invalid ${kind} name ${JSON.stringify(shown)}: use 1-40 letters, digits, "_" or "-", starting with a letter or digit`,
    );
  }
  const lower = name.toLowerCase();
  if (kind === 'rig' && RESERVED_RIG_NAMES.has(lower))
    throw new ValidationError(`"${name}" is reserved and cannot name a rig`);
  if ((kind === 'polecat' || kind === 'crew') && (RESERVED_WORKER_NAMES.has(lower) || lower.startsWith('crew-'))) {
    throw new ValidationError(`"${name}" is reserved and cannot name a ${kind}`);
  }
  return name;
}

/** An agent's identity: its role, and for rig agents the rig, and for many-per-rig roles its name. */
export type AgentIdentity =
  | { role: 'mayor' | 'deacon' | 'boot' }
  | { role: 'witness' | 'refinery'; rig: string }
  | { role: 'polecat' | 'crew'; rig: string; name: string };

/**
 * Who hears about an agent's trouble (a stall, a question it waits at, a quarantine): a rig's agents report
 * to the rig's witness; a witness and the mayor to the deacon; the deacon and boot to the mayor. Never the
 * agent itself.
 */
export function supervisorOf(agent: { role: Role; rig: string | null }): string {
  if (agent.rig !== null && agent.role !== 'witness') return `${agent.rig}/witness`;
  return agent.role === 'deacon' || agent.role === 'boot' ? 'mayor' : 'deacon';
}

/** The address (also BD_ACTOR and GT_ROLE) of an agent: `mayor`, `gastown/witness`, `gastown/polecats/toast`. */
export function agentAddress(id: AgentIdentity): string {
  switch (id.role) {
    case 'mayor':
    case 'deacon':
      return id.role;
    case 'boot':
      return 'deacon/boot';
    case 'witness':
    case 'refinery':
      return `${id.rig}/${id.role}`;
    case 'polecat':
      return `${id.rig}/polecats/${id.name}`;
    case 'crew':
      return `${id.rig}/crew/${id.name}`;
  }
}

/** Reads an address back into an identity; rejects anything that is not exactly one. */
export function parseAddress(address: string): AgentIdentity {
  const parts = address.split('/');
  const bad = (): never => {
    throw new ValidationError(
      `invalid agent address "${address}": expected e.g. mayor, <rig>/witness or <rig>/polecats/<name>`,
    );
  };
  const name = (value: string | undefined, kind: NameKind): string => {
    if (value === undefined) return bad();
    validateName(kind, value);
    return value;
  };
  if (parts.length === 1 && (parts[0] === 'mayor' || parts[0] === 'deacon')) return { role: parts[0] };
  if (parts.length === 2 && parts[0] === 'deacon' && parts[1] === 'boot') return { role: 'boot' };
  if (parts.length === 2 && (parts[1] === 'witness' || parts[1] === 'refinery'))
    return { role: parts[1], rig: name(parts[0], 'rig') };
  if (parts.length === 3 && parts[1] === 'polecats')
    return { role: 'polecat', rig: name(parts[0], 'rig'), name: name(parts[2], 'polecat') };
  if (parts.length === 3 && parts[1] === 'crew')
    return { role: 'crew', rig: name(parts[0], 'rig'), name: name(parts[2], 'crew') };
  return bad();
}

/**
 * The tmux session of an agent. Town agents use the town prefix; rig agents the rig's bead prefix, so a
 * session name says which ledger its work lives in: `hq-mayor`, `gt-witness`, `gt-toast`, `gt-crew-ana`.
 */
export function sessionName(id: AgentIdentity, rigPrefix?: string): string {
  const prefix = (): string => {
    if (rigPrefix === undefined) throw new ValidationError(`a ${id.role} session needs its rig's bead prefix`);
    return rigPrefix;
  };
  switch (id.role) {
    case 'mayor':
    case 'deacon':
    case 'boot':
      return `${TOWN_PREFIX}-${id.role}`;
    case 'witness':
    case 'refinery':
      return `${prefix()}-${id.role}`;
    case 'polecat':
      return `${prefix()}-${id.name}`;
    case 'crew':
      return `${prefix()}-crew-${id.name}`;
  }
}

/**
 * The town's private tmux server: a socket name derived from the town's real path, so two towns never share
 * a server and the user's own tmux is never touched.
 */
export function tmuxSocketName(townRealPath: string): string {
  const base =
    townRealPath
      .split('/')
      .filter((p) => p !== '')
      .pop() ?? 'town';
  const safe =
    base
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 20) || 'town';
  return `gt-${safe}-${sha256Hex(townRealPath).slice(0, 8)}`;
}

/** A polecat's branch: `polecat/<name>/<bead>@<stamp>`, or `polecat/<name>@<stamp>` with no bead. */
export function polecatBranch(name: string, bead: string | undefined, stampMs: number): string {
  validateName('polecat', name);
  const stamp = new Date(stampMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  if (bead === undefined) return `polecat/${name}@${stamp}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/.test(bead) || bead.includes('..'))
    throw new ValidationError(`invalid bead id "${bead}" for a branch name`);
  return `polecat/${name}/${bead}@${stamp}`;
}

/** The git author and committer an agent's commits carry, so the project's history says which agent did what. */
export function agentGitIdentity(id: AgentIdentity, ownerEmail: string): { name: string; email: string } {
  return { name: 'name' in id ? id.name : agentAddress(id), email: ownerEmail };
}

/**
 * The person at the keyboard: an address for mail (an inbox, a sender), not an agent. It has no row, no session
 * and no sandbox; `gt` run in a town outside every sandbox and without GT_ROLE acts as the overseer.
 */
export const OVERSEER = 'overseer';

/** Mail to many: every witness, every agent of a rig, a rig's polecats, every agent, the overseer. */
export type MailGroup =
  | { kind: 'witnesses' }
  | { kind: 'rig'; rig: string }
  | { kind: 'polecats'; rig: string }
  | { kind: 'town' }
  | { kind: 'overseer' };

/** The groups as they are written, for help texts and errors. */
export const MAIL_GROUP_FORMS = ['@witnesses', '@rig/<rig>', '@polecats/<rig>', '@town', '@overseer'] as const;

/** Where mail may go: an agent, the overseer, or a group of them. */
export type Recipient = { kind: 'agent'; address: string } | { kind: 'overseer' } | { kind: 'group'; group: MailGroup };

/** Reads a mail address: `overseer`, an agent's address, or a group (`@witnesses`, `@rig/<rig>`, …). */
export function parseRecipient(address: string): Recipient {
  const a = address.trim();
  if (a === OVERSEER) return { kind: 'overseer' };
  if (!a.startsWith('@')) {
    parseAddress(a);
    return { kind: 'agent', address: a };
  }
  const parts = a.slice(1).split('/');
  const bad = (): never => {
    throw new ValidationError(`unknown mail group "${address}": the groups are ${MAIL_GROUP_FORMS.join(', ')}`);
  };
  if (parts.length === 1) {
    if (parts[0] === 'witnesses') return { kind: 'group', group: { kind: 'witnesses' } };
    if (parts[0] === 'town') return { kind: 'group', group: { kind: 'town' } };
    if (parts[0] === 'overseer') return { kind: 'group', group: { kind: 'overseer' } };
    return bad();
  }
  if (parts.length === 2 && (parts[0] === 'rig' || parts[0] === 'polecats')) {
    const rig = parts[1] ?? '';
    validateName('rig', rig);
    return { kind: 'group', group: parts[0] === 'rig' ? { kind: 'rig', rig } : { kind: 'polecats', rig } };
  }
  return bad();
}

/** A group as written: `@witnesses`, `@rig/gastown`. */
export function groupAddress(group: MailGroup): string {
  return group.kind === 'rig' || group.kind === 'polecats' ? `@${group.kind}/${group.rig}` : `@${group.kind}`;
}

/** The addresses a group stands for, among the town's agents, in the order given. */
export function groupMembers(
  group: MailGroup,
  agents: readonly { address: string; role: Role; rig: string | null }[],
): string[] {
  const pick = (keep: (a: { role: Role; rig: string | null }) => boolean): string[] =>
    agents.filter(keep).map((a) => a.address);
  switch (group.kind) {
    case 'witnesses':
      return pick((a) => a.role === 'witness');
    case 'rig':
      return pick((a) => a.rig === group.rig);
    case 'polecats':
      return pick((a) => a.rig === group.rig && a.role === 'polecat');
    case 'town':
      return pick(() => true);
    case 'overseer':
      return [OVERSEER];
  }
}
