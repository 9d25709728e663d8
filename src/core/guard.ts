import { ConflictError, type GtError, ValidationError } from './errors.js';
import { parseAddress, type Role } from './identity.js';
import { shellCommands } from './shell-words.js';

/**
 * Guardrails: what an agent may do to another agent's work. Two kinds of refusal:
 * - forbidden: patrol agents (a rig's witness, the deacon, boot) judge and act on other agents, but never merge,
 *   discard a merge request, delete branches or remove sandboxes; they escalate those to a person;
 * - work loss: stopping another agent or releasing its work is refused while that would leave uncommitted or
 *   unpushed changes to nobody, or while another session still holds the work (a live claim).
 * The commands check these in their library functions; the patrol roles' agent CLIs also run every shell
 * command past `shellRefusal` first (a second line of defence, for git and rm run by hand).
 */

export const PATROL_ROLES = ['witness', 'deacon', 'boot'] as const satisfies readonly Role[];

export function isPatrolRole(role: Role): boolean {
  return (PATROL_ROLES as readonly Role[]).includes(role);
}

/** Whether an actor is a patrol agent: its address parses to a witness, the deacon or boot. */
export function isPatrolActor(actor: string | undefined): boolean {
  if (actor === undefined) return false;
  try {
    return isPatrolRole(parseAddress(actor.trim()).role);
  } catch {
    return false; // a person, the daemon, or anything else that is not an agent address
  }
}

/**
 * Who acts, for gt: a patrol agent's session (GT_ROLE, set by gt when it launched the agent) acts as that agent
 * whatever `--actor` or BD_ACTOR say, so that no flag lifts its guardrails; everyone else is the resolved actor.
 */
export function actingActor(resolved: string, gtRole: string | undefined): string {
  return gtRole !== undefined && isPatrolActor(gtRole) ? gtRole.trim() : resolved;
}

export type Refusal = { kind: 'forbidden' | 'work-loss'; message: string; hint: string };

/** The error a refusal is thrown as: forbidden is bad input for that actor, work loss a state that can change. */
export function refusalError(r: Refusal): GtError {
  return r.kind === 'forbidden'
    ? new ValidationError(r.message, { hint: r.hint })
    : new ConflictError(r.message, { hint: r.hint });
}

const ESCALATE = 'escalate it to a person with gt escalate "<what and why>"';

type PatrolRule = { command: string; why: string; instead: string };

/** What a patrol agent may never run, each with what it does instead. */
export const PATROL_FORBIDDEN = {
  'refinery-run': {
    command: 'gt refinery run',
    why: 'patrol agents cannot merge',
    instead: `the rig's refinery lands the queue: if it is down or stuck, restart it with "gt session restart <rig>/refinery", or ${ESCALATE}`,
  },
  'mq-reject': {
    command: 'gt mq reject',
    why: 'patrol agents cannot discard merge requests',
    instead: ESCALATE,
  },
  done: {
    command: 'gt done',
    why: 'patrol agents cannot hand in, push or merge work',
    instead: `a polecat runs gt done itself: nudge it, or ${ESCALATE}`,
  },
  'polecat-remove': {
    command: 'gt polecat remove',
    why: 'patrol agents cannot remove sandboxes',
    instead: ESCALATE,
  },
  'rig-remove': {
    command: 'gt rig remove',
    why: 'patrol agents cannot remove rigs or their sandboxes',
    instead: ESCALATE,
  },
  'doctor-remove': {
    command: 'gt doctor --fix',
    why: 'patrol agents cannot remove sandboxes',
    instead: `${ESCALATE}; a person's "gt doctor --fix" removes it`,
  },
  'town-down': {
    command: 'gt down',
    why: "patrol agents cannot stop the whole town (it stops people's sessions too)",
    instead: ESCALATE,
  },
  'force-release': {
    command: '--force',
    why: 'patrol agents cannot force work off another agent',
    instead: `stop it first if it is stuck and its sandbox holds nothing unsaved, restart it in its sandbox, or ${ESCALATE}`,
  },
} as const satisfies Record<string, PatrolRule>;

export type PatrolOperation = keyof typeof PATROL_FORBIDDEN;

/** Refuses an operation to a patrol actor; anyone else may (the operation's own checks still apply). */
export function patrolRefusal(actor: string, op: PatrolOperation): Refusal | null {
  if (!isPatrolActor(actor)) return null;
  const rule: PatrolRule = PATROL_FORBIDDEN[op];
  return { kind: 'forbidden', message: `${rule.why} (${rule.command}, asked by ${actor})`, hint: rule.instead };
}

/** Throws when a patrol actor asks for an operation it may never run. */
export function refusePatrol(actor: string, op: PatrolOperation): void {
  const r = patrolRefusal(actor, op);
  if (r !== null) throw refusalError(r);
}

/** What a sandbox would lose: a git sandbox's changes, no git sandbox (or none on disk), or unreadable. */
export type SandboxFacts =
  { kind: 'git'; uncommitted: number; unpushed: number } | { kind: 'none' } | { kind: 'unreadable'; detail: string };

function unsaved(s: SandboxFacts): string | null {
  if (s.kind === 'unreadable') return `its sandbox's git state cannot be read (${s.detail}), so nothing proves it safe`;
  if (s.kind === 'none') return null;
  const parts = [
    s.uncommitted > 0 ? `${s.uncommitted} uncommitted file(s)` : '',
    s.unpushed > 0 ? `${s.unpushed} unpushed commit(s)` : '',
  ].filter((p) => p !== '');
  return parts.length === 0 ? null : `its sandbox has ${parts.join(' and ')}`;
}

export type ReleaseInput = {
  actor: string;
  /** The agent whose hook holds the work. */
  holder: string;
  bead: string;
  force: boolean;
  /** The holder's agent process runs: it still works on the bead. */
  sessionAlive: boolean;
  sandbox: SandboxFacts;
};

/**
 * Whether `actor` may take `bead` off another agent's hook (gt unsling <agent>): not while the holder runs
 * (stop it first) or its sandbox holds unsaved work, unless forced; patrol agents never force.
 */
export function releaseRefusal(r: ReleaseInput): Refusal | null {
  if (r.holder === r.actor) return null; // one's own hook
  const patrol = isPatrolActor(r.actor);
  if (r.force) return patrol ? patrolRefusal(r.actor, 'force-release') : null;
  const force = patrol ? ESCALATE : 'or --force releases it anyway (the sandbox keeps its files)';
  if (r.sessionAlive)
    return {
      kind: 'work-loss',
      message: `${r.holder} is running and holds ${r.bead} (a live claim)`,
      hint: `stop it first ("gt session stop ${r.holder}"), ${force}`,
    };
  const lost = unsaved(r.sandbox);
  if (lost !== null)
    return {
      kind: 'work-loss',
      message: `not releasing ${r.bead} from ${r.holder}: ${lost}, which the next holder would not have`,
      hint: `restart it in its sandbox to finish the work ("gt session restart ${r.holder}"), ${force}`,
    };
  return null;
}

export type SessionChange = 'stop' | 'restart';

export type SessionChangeInput = {
  actor: string;
  change: SessionChange;
  target: string;
  targetRole: Role;
  sandbox: SandboxFacts;
};

/**
 * Whether `actor` may stop or restart another agent's session. Only patrol agents are held here: never a
 * person's sandbox (crew) or the mayor; and no stop of an agent whose sandbox has uncommitted changes (a restart
 * in the same sandbox keeps them, so it is allowed).
 */
export function sessionChangeRefusal(s: SessionChangeInput): Refusal | null {
  if (s.target === s.actor || !isPatrolActor(s.actor)) return null;
  if (s.targetRole === 'crew' || s.targetRole === 'mayor')
    return {
      kind: 'forbidden',
      message: `patrol agents cannot ${s.change} ${s.targetRole === 'crew' ? "a person's sandbox" : 'the mayor'} (${s.target}, asked by ${s.actor})`,
      hint: ESCALATE,
    };
  if (s.change === 'restart') return null;
  if (s.sandbox.kind === 'unreadable' || (s.sandbox.kind === 'git' && s.sandbox.uncommitted > 0)) {
    const why =
      s.sandbox.kind === 'git'
        ? `its sandbox has ${s.sandbox.uncommitted} uncommitted file(s)`
        : `its sandbox's git state cannot be read (${s.sandbox.detail})`;
    return {
      kind: 'work-loss',
      message: `not stopping ${s.target}: ${why}`,
      hint: `restart it in the same sandbox instead ("gt session restart ${s.target}": the files and its hook stay), or ${ESCALATE}`,
    };
  }
  return null;
}

/** Whose shell commands are guarded: the patrol roles' and the Mayor's. */
export type GuardedRole = 'patrol' | 'mayor';

/** The agent CLIs whose shell commands run past the guard first. */
export function guardedRole(role: Role): GuardedRole | null {
  return isPatrolRole(role) ? 'patrol' : role === 'mayor' ? 'mayor' : null;
}

const MAYOR_PLANS = 'the Mayor plans and polecats write the code: file a bead with bd create and gt sling it to a rig';

/**
 * The shell commands guarded agents' CLIs may not run by hand, by rule: what they cannot do, and what they do
 * instead (the Mayor's own where its way differs). `commit` guards the Mayor only: it must not change a rig's
 * code itself (patrol agents, who may fix up their own notes, are not asked).
 */
export const SHELL_RULES = {
  push: {
    what: 'push',
    instead: `a polecat pushes its own work with gt done; or ${ESCALATE}`,
    mayor: MAYOR_PLANS,
  },
  merge: {
    what: 'merge',
    instead: `the refinery lands work; if it is stuck, "gt session restart <rig>/refinery", or ${ESCALATE}`,
    mayor: 'the refinery lands work: gt convoy status shows where it stands',
  },
  'delete-branch': { what: 'delete branches', instead: ESCALATE },
  'remove-worktree': { what: 'remove sandboxes', instead: ESCALATE },
  'discard-changes': { what: 'discard changes', instead: ESCALATE },
  'remove-files': { what: 'delete files recursively', instead: ESCALATE },
  commit: { what: 'commit', instead: MAYOR_PLANS, mayorOnly: true },
} as const satisfies Record<string, { what: string; instead: string; mayor?: string; mayorOnly?: true }>;

export type ShellRule = keyof typeof SHELL_RULES;

function ruleApplies(rule: ShellRule, who: GuardedRole): boolean {
  return who === 'mayor' || !('mayorOnly' in SHELL_RULES[rule]);
}

export type ShellRefusal = { rule: ShellRule; command: string };

/** Commands that run the rest of their words as a command, with their options that take a value. */
const WRAPPERS: Readonly<Record<string, { valued: readonly string[]; positional?: number }>> = {
  command: { valued: [] },
  builtin: { valued: [] },
  exec: { valued: ['-a'] },
  nohup: { valued: [] },
  time: { valued: ['-f', '-o'] },
  sudo: { valued: ['-u', '-g', '-C', '-D', '-h', '-p', '-U', '-r', '-t'] },
  env: { valued: ['-u', '-C', '--unset', '--chdir'] },
  nice: { valued: ['-n', '--adjustment'] },
  ionice: { valued: ['-c', '-n', '-p'] },
  stdbuf: { valued: ['-i', '-o', '-e'] },
  timeout: { valued: ['-k', '-s', '--kill-after', '--signal'], positional: 1 },
  xargs: { valued: ['-I', '-n', '-P', '-L', '-d', '-E', '-s', '-a', '--max-args', '--max-procs', '--delimiter'] },
};

const KEYWORDS = new Set(['!', '{', '}', 'if', 'then', 'else', 'elif', 'do', 'while', 'until']);
const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** Options of git itself (before the subcommand) that take a separate value. */
const GIT_VALUED = new Set(['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--super-prefix', '--config-env']);

/** A short-option cluster (`-fd`) containing any of `letters`, or one of the long forms. */
function hasFlag(args: readonly string[], letters: string, long: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (long.includes(a)) return true;
    if (/^-[A-Za-z]+$/.test(a) && [...letters].some((l) => a.includes(l))) return true;
  }
  return false;
}

function gitRule(args: readonly string[]): ShellRule | null {
  let i = 0;
  while (i < args.length && (args[i] ?? '').startsWith('-')) i += GIT_VALUED.has(args[i] ?? '') ? 2 : 1;
  const sub = args[i] ?? '';
  const rest = args.slice(i + 1);
  switch (sub) {
    case 'push':
      return 'push';
    case 'commit':
    case 'cherry-pick':
    case 'revert':
    case 'am':
      return 'commit';
    case 'merge':
      return 'merge';
    case 'branch':
      return hasFlag(rest, 'dD', ['--delete']) ? 'delete-branch' : null;
    case 'update-ref':
      return hasFlag(rest, 'd', []) ? 'delete-branch' : null;
    case 'worktree':
      return rest[0] === 'remove' ? 'remove-worktree' : null;
    case 'reset':
      return rest.includes('--hard') ? 'discard-changes' : null;
    case 'clean':
      return hasFlag(rest, 'f', ['--force']) ? 'discard-changes' : null;
    default:
      return null;
  }
}

/** The words after wrappers (env, sudo, xargs, …), assignments and keywords: the command that runs. */
function unwrap(words: readonly string[]): string[] {
  let w = [...words];
  for (let guard = 0; guard < 16 && w.length > 0; guard++) {
    const head = w[0] ?? '';
    if (KEYWORDS.has(head) || ASSIGNMENT.test(head)) {
      w = w.slice(1);
      continue;
    }
    const wrapper = WRAPPERS[basename(head)];
    if (wrapper === undefined) break;
    let i = 1;
    while (i < w.length) {
      const a = w[i] ?? '';
      if (a === '--') {
        i++;
        break;
      }
      if (ASSIGNMENT.test(a)) i++;
      else if (a.startsWith('-')) i += wrapper.valued.includes(a) ? 2 : 1;
      else break;
    }
    w = w.slice(i + (wrapper.positional ?? 0));
  }
  return w;
}

function basename(word: string): string {
  return word.slice(word.lastIndexOf('/') + 1);
}

function commandRule(words: readonly string[], depth: number, who: GuardedRole): ShellRefusal | null {
  const w = unwrap(words);
  const name = basename(w[0] ?? '');
  const args = w.slice(1);
  const found = (rule: ShellRule | null): ShellRefusal | null =>
    rule === null || !ruleApplies(rule, who) ? null : { rule, command: w.join(' ') };
  if (name === 'git') return found(gitRule(args));
  if (name === 'rm') return found(hasFlag(args, 'rR', ['--recursive']) ? 'remove-files' : null);
  if (depth >= 4) return null;
  if (SHELLS.has(name)) {
    // sh -c '<script>' (also -lc, -ec): the script is read as commands of its own.
    const at = args.findIndex((a) => /^-[A-Za-z]*c[A-Za-z]*$/.test(a));
    const script = at === -1 ? undefined : args.slice(at + 1).find((a) => !a.startsWith('-'));
    return script === undefined ? null : scriptRule(script, depth + 1, who);
  }
  if (name === 'eval') return scriptRule(args.join(' '), depth + 1, who);
  if (name === 'find') {
    if (args.includes('-delete')) return found('remove-files');
    for (let i = 0; i < args.length; i++) {
      if (args[i] !== '-exec' && args[i] !== '-execdir' && args[i] !== '-ok' && args[i] !== '-okdir') continue;
      const end = args.findIndex((a, j) => j > i && (a === ';' || a === '+'));
      const r = commandRule(args.slice(i + 1, end === -1 ? undefined : end), depth + 1, who);
      if (r !== null) return r;
    }
  }
  return null;
}

function scriptRule(text: string, depth: number, who: GuardedRole): ShellRefusal | null {
  for (const words of shellCommands(text)) {
    const r = commandRule(words, depth, who);
    if (r !== null) return r;
  }
  return null;
}

/**
 * The first command in a shell command line that a guarded agent may not run by hand — git that merges, pushes,
 * deletes branches, removes worktrees or discards changes, and recursive rm; for the Mayor also git that
 * commits — or null when there is none.
 */
export function shellRefusal(text: string, who: GuardedRole = 'patrol'): ShellRefusal | null {
  return scriptRule(text, 0, who);
}

/** A shell refusal in words, as the agent CLI shows it to the agent. */
export function shellRefusalText(r: ShellRefusal, who: GuardedRole = 'patrol'): Refusal {
  const rule = SHELL_RULES[r.rule];
  const mayor = 'mayor' in rule ? rule.mayor : undefined;
  const shown = r.command.length > 80 ? `${r.command.slice(0, 80)}…` : r.command;
  const subject = who === 'mayor' ? 'the Mayor' : 'patrol agents';
  return {
    kind: 'forbidden',
    message: `${subject} cannot ${rule.what}: blocked "${shown}"`,
    hint: who === 'mayor' ? (mayor ?? rule.instead) : rule.instead,
  };
}
