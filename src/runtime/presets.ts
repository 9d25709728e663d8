import type { Dialog, PaneProfile, Question } from '../core/pane.js';
import type { UsageFormat } from '../core/usage-store.js';

/**
 * Agent CLIs as data. Each preset says how to launch the CLI with full autonomy in a sandbox, how its first
 * prompt is delivered, which hook mechanism it has, how to tell it is ready (and busy), which process names mean
 * "the agent is alive", and how to resume a session. Facts from the original Gas Town and the CLIs' own docs.
 */

export type PromptDelivery =
  /** The prompt is the last argument. */
  | { kind: 'positional' }
  /** The prompt follows a flag (`-i <prompt>`). */
  | { kind: 'flag'; flag: string }
  /** The CLI takes no prompt on its command line: type it once the CLI is ready. */
  | { kind: 'typed' };

export type Readiness =
  /** A line of the pane starts with this text when the CLI waits for input; give up waiting after fallbackMs. */
  | { kind: 'prompt'; prefix: string; fallbackMs: number }
  /** Nothing to detect: assume ready after a delay. */
  | { kind: 'delay'; ms: number };

export type HookMechanism = 'claude' | 'gemini' | 'cursor' | 'copilot' | 'opencode' | 'pi' | 'sim' | 'none';

export type Preset = {
  name: string;
  command: string;
  /** Autonomy flags and other fixed arguments. */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  prompt: PromptDelivery;
  hooks: HookMechanism;
  readiness: Readiness;
  /** Text in the pane while the agent is working, where it shows one. */
  busyText?: string;
  /** Start-up dialogs the CLI may show, and the keys that accept them. */
  dialogs: readonly Dialog[];
  /** Screens it waits at that only a person (or its supervisor) may answer. */
  questions?: readonly Question[];
  processNames: readonly string[];
  resume?: { kind: 'flag'; flag: string } | { kind: 'subcommand'; subcommand: string };
  /** Environment variable through which the CLI exposes its own session id to hooks. */
  sessionIdEnv?: string;
  /**
   * Where the CLI records its token usage, for `gt costs`: a Claude-format transcript its start-up hook names
   * (`transcript_path`), or a Codex rollout found by its cwd. None: its usage is not read.
   */
  usage?: UsageFormat;
  instructionsFile: 'CLAUDE.md' | 'AGENTS.md' | 'GEMINI.md';
  /** Node-based CLIs: clear NODE_OPTIONS and CLAUDECODE so a nested agent neither inherits debug flags nor refuses to start. */
  node: boolean;
};

/** Claude Code's first-run dialogs (also shown by the sim agent, so tests exercise the same answers). */
export const CLAUDE_DIALOGS: readonly Dialog[] = [
  // "Quick safety check: Is this a project you created or one you trust?" — option 1 is selected.
  { name: 'folder-trust', match: ['Yes, I trust this folder', 'Enter to confirm'], keys: ['Enter'] },
  // Older releases asked "Do you trust the files in this folder?" the same way.
  { name: 'folder-trust', match: ['Do you trust the files in this folder?', 'Enter to confirm'], keys: ['Enter'] },
  // The first option is "No, exit": move to "Yes, I accept" before Enter.
  {
    name: 'bypass-permissions',
    match: ['Bypass Permissions mode', 'Yes, I accept', 'Enter to confirm'],
    keys: ['Down', 'Enter'],
  },
  // First run of a fresh config: theme picker and security notes (Enter keeps the defaults).
  { name: 'theme', match: ['Choose the text style'], keys: ['Enter'] },
  { name: 'security-notes', match: ['Security notes', 'Press Enter to continue'], keys: ['Enter'] },
  // An ANTHROPIC_API_KEY in the environment: the default is "No (recommended)"; the user put the key there.
  { name: 'api-key', match: ['Detected a custom API key', 'Do you want to use this API key?'], keys: ['Up', 'Enter'] },
];

/**
 * What Claude Code waits at without bypass permissions or when its plan runs out: a tool's permission question
 * ("Do you want to proceed?" / "…make this edit…?", options "1. Yes …"), and the usage-limit notices.
 */
export const CLAUDE_QUESTIONS: readonly Question[] = [
  // Drawn in place of the input box: with the prompt back below it, it was answered.
  { name: 'permission', match: ['Do you want to', '1. Yes'], modal: true },
  // The menu Claude Code 2.1 may open at a limit ("What do you want to do?": stop and wait, switch to usage
  // credits, upgrade): Enter picks an option, some of which spend money. A person's choice.
  { name: 'usage-limit-options', match: ['What do you want to do?', 'wait for limit to reset'], modal: true },
  { name: 'usage-limit-options', match: ['What do you want to do?', 'Upgrade your plan'], modal: true },
  // Claude Code 2.1: "You've hit your usage limit · resets 3pm (Europe/Berlin)", "…your weekly limit…",
  // "You're out of usage credits · resets …".
  { name: 'usage-limit', match: ["You've hit your", 'limit'], together: true },
  { name: 'usage-limit', match: ["You're out of usage"] },
  // Earlier releases: "Claude usage limit reached. Your limit will reset at 3pm", "5-hour limit reached ∙ resets
  // 3pm" (both on one line: not a rate limit and a reset anywhere in the output).
  { name: 'usage-limit', match: ['usage limit reached'] },
  { name: 'usage-limit', match: ['limit reached', 'resets'], together: true },
];

export const PRESETS: Readonly<Record<string, Preset>> = {
  claude: {
    name: 'claude',
    command: 'claude',
    args: ['--dangerously-skip-permissions'],
    env: {},
    prompt: { kind: 'positional' },
    hooks: 'claude',
    readiness: { kind: 'prompt', prefix: '❯\u00a0', fallbackMs: 10_000 },
    busyText: 'esc to interrupt',
    dialogs: CLAUDE_DIALOGS,
    questions: CLAUDE_QUESTIONS,
    processNames: ['claude', 'claude.exe', 'node'],
    resume: { kind: 'flag', flag: '--resume' },
    sessionIdEnv: 'CLAUDE_CODE_SESSION_ID',
    usage: 'claude',
    instructionsFile: 'CLAUDE.md',
    node: true,
  },
  codex: {
    name: 'codex',
    command: 'codex',
    args: ['--dangerously-bypass-approvals-and-sandbox'],
    env: {},
    prompt: { kind: 'typed' },
    hooks: 'none',
    readiness: { kind: 'prompt', prefix: '› ', fallbackMs: 3_000 },
    busyText: 'esc to interrupt',
    dialogs: [],
    processNames: ['codex'],
    resume: { kind: 'subcommand', subcommand: 'resume' },
    usage: 'codex',
    instructionsFile: 'AGENTS.md',
    node: false,
  },
  gemini: {
    name: 'gemini',
    command: 'gemini',
    args: ['--approval-mode', 'yolo'],
    env: {},
    prompt: { kind: 'flag', flag: '-i' },
    hooks: 'gemini',
    readiness: { kind: 'delay', ms: 5_000 },
    dialogs: [],
    processNames: ['gemini', 'node'],
    resume: { kind: 'flag', flag: '--resume' },
    sessionIdEnv: 'GEMINI_SESSION_ID',
    instructionsFile: 'GEMINI.md',
    node: true,
  },
  copilot: {
    name: 'copilot',
    command: 'copilot',
    args: ['--yolo'],
    env: {},
    prompt: { kind: 'flag', flag: '-i' },
    hooks: 'copilot',
    readiness: { kind: 'delay', ms: 5_000 },
    dialogs: [],
    processNames: ['copilot', 'node'],
    instructionsFile: 'AGENTS.md',
    node: true,
  },
  opencode: {
    name: 'opencode',
    command: 'opencode',
    args: [],
    env: { OPENCODE_PERMISSION: '{"*":"allow"}' },
    prompt: { kind: 'flag', flag: '--prompt' },
    hooks: 'opencode',
    readiness: { kind: 'delay', ms: 8_000 },
    dialogs: [],
    processNames: ['opencode', 'node', 'bun'],
    instructionsFile: 'AGENTS.md',
    node: true,
  },
  cursor: {
    name: 'cursor',
    command: 'cursor-agent',
    args: ['-f'],
    env: {},
    prompt: { kind: 'positional' },
    hooks: 'cursor',
    readiness: { kind: 'delay', ms: 5_000 },
    dialogs: [],
    processNames: ['cursor-agent', 'agent'],
    instructionsFile: 'AGENTS.md',
    node: false,
  },
  amp: {
    name: 'amp',
    command: 'amp',
    args: ['--dangerously-allow-all', '--no-ide'],
    env: {},
    prompt: { kind: 'positional' },
    hooks: 'none',
    readiness: { kind: 'delay', ms: 5_000 },
    dialogs: [],
    processNames: ['amp', 'node'],
    instructionsFile: 'AGENTS.md',
    node: true,
  },
  pi: {
    name: 'pi',
    command: 'pi',
    args: [],
    env: {},
    prompt: { kind: 'positional' },
    hooks: 'pi',
    readiness: { kind: 'delay', ms: 8_000 },
    dialogs: [],
    processNames: ['pi', 'node', 'bun'],
    instructionsFile: 'AGENTS.md',
    node: true,
  },
  /**
   * The refinery's own program (`gt refinery run --watch`): the merge queue is mechanical, so the rig's refinery
   * session runs no model unless a role_agents.refinery setting asks for one.
   */
  refinery: {
    name: 'refinery',
    command: 'gt',
    args: ['refinery', 'run', '--watch'],
    env: {},
    prompt: { kind: 'flag', flag: '--beacon' },
    hooks: 'none',
    readiness: { kind: 'prompt', prefix: 'refinery> ', fallbackMs: 10_000 },
    dialogs: [],
    processNames: ['node', 'gt'],
    instructionsFile: 'AGENTS.md',
    node: true,
  },
  /** The built-in scripted agent (`gt agent sim`): for the demo and tests, never presented as AI. */
  sim: {
    name: 'sim',
    command: 'gt',
    args: ['agent', 'sim'],
    env: {},
    prompt: { kind: 'positional' },
    hooks: 'sim',
    readiness: { kind: 'prompt', prefix: 'sim> ', fallbackMs: 5_000 },
    busyText: 'sim: working',
    dialogs: CLAUDE_DIALOGS,
    // Claude's questions (--ask-at shows its permission question), and its own request for help.
    questions: [...CLAUDE_QUESTIONS, { name: 'needs-help', match: ['sim: needs help'] }],
    processNames: ['node', 'gt'],
    // It writes a transcript of its turns in Claude's form, and names it to its start-up hook.
    usage: 'claude',
    instructionsFile: 'AGENTS.md',
    node: true,
  },
};

/**
 * Whether the CLI takes queued nudges at its own turn boundaries (a prompt-submit or stop hook that runs
 * `gt agent hook`). Others need someone to type them in once the agent is idle.
 */
export function handsOverAtTurns(preset: Preset): boolean {
  return preset.hooks === 'claude' || preset.hooks === 'sim';
}

/** How to read this CLI's pane. */
export function paneProfile(preset: Preset): PaneProfile {
  const profile: PaneProfile = { dialogs: preset.dialogs, questions: preset.questions ?? [] };
  if (preset.readiness.kind === 'prompt') profile.promptPrefix = preset.readiness.prefix;
  if (preset.busyText !== undefined) profile.busyText = preset.busyText;
  return profile;
}

export function presetNamed(name: string): Preset | undefined {
  return Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
}
