import { ValidationError } from '../core/errors.js';
import { agentAddress, type AgentIdentity, type Role } from '../core/identity.js';
import type { AgentPreset, TownSettings } from '../core/settings.js';
import { presetNamed, type Preset } from './presets.js';

/**
 * From settings and an identity to what a session runs: `{argv, env, cwd}`, never a shell string. Pure: the
 * caller gathers paths, credentials and the beacon first.
 */

export type ResolvedAgent = { name: string; preset: Preset };

/** The agent for a role: the role's override, else the town default; custom agents extend a built-in preset. */
export function resolveAgent(settings: TownSettings, role: Role, explicit?: string): ResolvedAgent {
  // The refinery is mechanical: its own program, unless a setting asks for an agent CLI.
  const name = explicit ?? settings.role_agents[role] ?? (role === 'refinery' ? 'refinery' : settings.default_agent);
  const custom: AgentPreset | undefined = Object.hasOwn(settings.agents, name) ? settings.agents[name] : undefined;
  const base = presetNamed(custom?.preset ?? name);
  if (base === undefined) {
    throw new ValidationError(`unknown agent "${name}"`, {
      hint: 'use a built-in preset (claude, codex, gemini, copilot, opencode, cursor, amp, pi, sim) or define it in settings.json "agents"',
    });
  }
  if (custom === undefined) return { name, preset: base };
  return {
    name,
    preset: {
      ...base,
      name,
      command: custom.command,
      args: customArgs(base.args, custom),
      env: { ...base.env, ...custom.env },
    },
  };
}

/**
 * A custom agent's arguments: the preset's (its autonomy flags among them) followed by its own, unless it
 * replaces them. Arguments that repeat the preset's at their start (settings written when they had to) are
 * not given twice.
 */
export function customArgs(
  presetArgs: readonly string[],
  custom: Pick<AgentPreset, 'args' | 'replace_args'>,
): string[] {
  if (custom.replace_args === true) return [...custom.args];
  const repeats = presetArgs.length > 0 && presetArgs.every((a, i) => custom.args[i] === a);
  return [...presetArgs, ...(repeats ? custom.args.slice(presetArgs.length) : custom.args)];
}

/** The agent CLI an agent runs: an explicit choice, else its own recorded one, else its role's or the town's. */
export function agentCli(
  settings: TownSettings,
  agent: { role: Role; runtime: string | null },
  explicit?: string,
): ResolvedAgent {
  return resolveAgent(settings, agent.role, explicit ?? agent.runtime ?? undefined);
}

export type LaunchInput = {
  agent: ResolvedAgent;
  identity: AgentIdentity;
  sessionName: string;
  townRoot: string;
  sandboxPath: string;
  /** The first prompt: who, from whom, when, what, and "prime". */
  beacon: string;
  /** Settings file for CLIs that take one on the command line (Claude's --settings). */
  settingsFile?: string;
  /** Credentials and other variables the caller chose to pass through from its own environment. */
  passthrough?: Readonly<Record<string, string>>;
  /** The program that runs `gt` (for the sim preset). */
  gtCommand?: readonly string[];
  /** An executable `gt`, for the agent's hooks (`"$GT_BIN" prime --hook`). */
  gtBin?: string;
  /** The CLI's own id of a previous session to resume (presets that support it). */
  resume?: string;
};

export type LaunchSpec = {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Text to type once the CLI is ready, for CLIs that take no prompt on their command line. */
  typedPrompt?: string;
};

export function identityEnv(identity: AgentIdentity, sessionName: string, townRoot: string): Record<string, string> {
  const address = agentAddress(identity);
  const env: Record<string, string> = {
    GT_ROLE: address,
    BD_ACTOR: address,
    GT_SESSION: sessionName,
    GT_TOWN_ROOT: townRoot,
    // git inside a sandbox never climbs out of the town into some enclosing repository.
    GIT_CEILING_DIRECTORIES: townRoot,
  };
  if ('rig' in identity) env.GT_RIG = identity.rig;
  if (identity.role === 'polecat') env.GT_POLECAT = identity.name;
  if (identity.role === 'crew') env.GT_CREW = identity.name;
  return env;
}

export function buildLaunch(input: LaunchInput): LaunchSpec {
  const p = input.agent.preset;
  const command = p.command === 'gt' && input.gtCommand !== undefined ? [...input.gtCommand] : [p.command];
  const argv = [...command];
  if (input.resume !== undefined) {
    if (p.resume === undefined)
      throw new ValidationError(`${input.agent.name} cannot resume a previous session`, {
        hint: 'start a fresh session instead',
      });
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(input.resume))
      throw new ValidationError(`invalid session id to resume "${input.resume}"`);
    if (p.resume.kind === 'subcommand') argv.push(p.resume.subcommand, input.resume);
  }
  argv.push(...p.args);
  if (input.resume !== undefined && p.resume?.kind === 'flag') argv.push(p.resume.flag, input.resume);
  if (input.settingsFile !== undefined && p.hooks === 'claude') argv.push('--settings', input.settingsFile);
  let typedPrompt: string | undefined;
  switch (p.prompt.kind) {
    case 'positional':
      argv.push(input.beacon);
      break;
    case 'flag':
      argv.push(p.prompt.flag, input.beacon);
      break;
    case 'typed':
      typedPrompt = input.beacon;
      break;
  }
  const env: Record<string, string> = {
    ...(input.passthrough ?? {}),
    ...p.env,
    ...identityEnv(input.identity, input.sessionName, input.townRoot),
    GT_AGENT: input.agent.name,
    GT_PROCESS_NAMES: p.processNames.join(','),
  };
  if (input.gtBin !== undefined) env.GT_BIN = input.gtBin;
  if (p.node) {
    env.NODE_OPTIONS = '';
    env.CLAUDECODE = '';
  }
  return typedPrompt === undefined
    ? { argv, env, cwd: input.sandboxPath }
    : { argv, env, cwd: input.sandboxPath, typedPrompt };
}

/**
 * What an agent session inherits from the environment of whoever starts it: the basics a program needs, and
 * the credentials and endpoints agent CLIs read. Nothing else crosses over, so one agent's identity variables
 * never leak into another's session. Values reach the agent through a private file, never argv.
 */
export const PASSTHROUGH_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_BASE_URL',
  'ANTHROPIC_MODEL',
  'ANTHROPIC_SMALL_FAST_MODEL',
  'CLAUDE_CONFIG_DIR',
  'CLAUDE_CODE_USE_BEDROCK',
  'CLAUDE_CODE_USE_VERTEX',
  'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC',
  'DISABLE_AUTOUPDATER',
  'IS_SANDBOX',
  'AWS_REGION',
  'AWS_PROFILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'CLOUD_ML_REGION',
  'ANTHROPIC_VERTEX_PROJECT_ID',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'GEMINI_API_KEY',
  'GOOGLE_API_KEY',
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'COPILOT_GITHUB_TOKEN',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_NOSYSTEM',
];

export function passthroughEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of PASSTHROUGH_ENV) {
    const value = env[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
