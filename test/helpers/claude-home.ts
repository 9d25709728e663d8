import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A private Claude Code configuration (CLAUDE_CONFIG_DIR) that starts straight into the prompt: no theme
 * picker, no security notes, no folder-trust dialog, no bypass-permissions warning. HOME and the git identity
 * stay as they are. Verified with Claude Code 2.1.197; see /tmp/claude-notes.md for what each key avoids.
 */

/** The Claude Code CLI installed as a devDependency (a native binary behind a node_modules/.bin symlink). */
export const CLAUDE_BIN = fileURLToPath(new URL('../../node_modules/.bin/claude', import.meta.url));

export function claudeAvailable(): boolean {
  return existsSync(CLAUDE_BIN);
}

/**
 * Variables a Claude Code session sets for its tools and hooks. A CLI started from inside one (a test run by
 * an agent, an agent launching agents) must not inherit them, nor a real API key (ANTHROPIC_API_KEY makes
 * the CLI ask whether to use it).
 */
export const CLAUDE_INHERITED_VARS = [
  'ANTHROPIC_API_KEY',
  'CLAUDECODE',
  'CLAUDE_CODE_ENTRYPOINT',
  'CLAUDE_CODE_SESSION_ID',
  'CLAUDE_CODE_CHILD_SESSION',
  'CLAUDE_CODE_EXECPATH',
  'CLAUDE_PROJECT_DIR',
  'CLAUDE_ENV_FILE',
  'CLAUDE_EFFORT',
  'AI_AGENT',
] as const;

export type ClaudeHome = {
  configDir: string;
  /** The variables to launch claude with against the model at modelUrl (see claudeEnv). */
  env: (modelUrl: string) => Record<string, string>;
};

function canonical(folder: string): string {
  const abs = resolve(folder);
  return existsSync(abs) ? realpathSync(abs) : abs;
}

/**
 * Writes `<dir>/.claude.json` and `<dir>/settings.json` so that claude, run with CLAUDE_CONFIG_DIR=dir in any
 * of trustedFolders or below them, shows no first-run dialog:
 *  - "hasCompletedOnboarding": true skips the theme picker and the security notes;
 *  - projects[folder].hasTrustDialogAccepted skips "Quick safety check: Is this a project you created or one
 *    you trust?" for that folder and every folder below it (folders are keyed by their real path);
 *  - settings.json "skipDangerousModePermissionPrompt": true skips the "Bypass Permissions mode" warning of
 *    --dangerously-skip-permissions (what the CLI itself writes there when the warning is accepted).
 */
export function makeClaudeHome(dir: string, trustedFolders: readonly string[]): ClaudeHome {
  mkdirSync(dir, { recursive: true });
  const projects = Object.fromEntries(trustedFolders.map((f) => [canonical(f), { hasTrustDialogAccepted: true }]));
  writeFileSync(join(dir, '.claude.json'), `${JSON.stringify({ hasCompletedOnboarding: true, projects }, null, 2)}\n`);
  writeFileSync(
    join(dir, 'settings.json'),
    `${JSON.stringify({ skipDangerousModePermissionPrompt: true }, null, 2)}\n`,
  );
  return { configDir: dir, env: (modelUrl) => claudeEnv(dir, modelUrl) };
}

/**
 * The variables for a claude that uses configDir and talks to the (scripted) model at modelUrl:
 * ANTHROPIC_AUTH_TOKEN rather than ANTHROPIC_API_KEY (no "use this API key?" dialog), IS_SANDBOX=1 (as root,
 * --dangerously-skip-permissions refuses to start without it), no auto-updater (it would run `npm view`) and
 * no nonessential traffic, and XDG_DATA_HOME inside configDir (the CLI writes a claude-cli:// URL-handler
 * .desktop file there on its first turn; by default that lands in ~/.local/share/applications).
 */
export function claudeEnv(configDir: string, modelUrl: string): Record<string, string> {
  return {
    CLAUDE_CONFIG_DIR: configDir,
    ANTHROPIC_BASE_URL: modelUrl,
    ANTHROPIC_AUTH_TOKEN: 'scripted-model-token',
    IS_SANDBOX: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    XDG_DATA_HOME: join(configDir, 'xdg-data'),
  };
}

/**
 * An argv that runs claude with exactly these variables on top of the launcher's environment, minus the
 * CLAUDE_INHERITED_VARS: `env -u ... K=V ... claude args...`. Hand it to `tmux new-session` as separate
 * arguments (tmux then runs it without a shell, so nothing needs quoting).
 */
export function claudeArgv(env: Record<string, string>, args: readonly string[], bin = CLAUDE_BIN): string[] {
  const unset = CLAUDE_INHERITED_VARS.filter((k) => !(k in env)).flatMap((k) => ['-u', k]);
  return ['env', ...unset, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), bin, ...args];
}

/**
 * The gt arguments that make the real CLI a custom agent on the claude preset (it is not on PATH here; the
 * preset keeps --dangerously-skip-permissions), named `name`. XDG_DATA_HOME keeps its desktop-link file
 * inside the test's directory.
 */
export function claudeAgentArgs(claudeEnv: Record<string, string>, name = 'claude-test'): string[] {
  return [
    'config',
    'agent',
    'set',
    name,
    '--preset',
    'claude',
    '--command',
    CLAUDE_BIN,
    '--env',
    `XDG_DATA_HOME=${claudeEnv.XDG_DATA_HOME ?? ''}`,
  ];
}
