import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeArgv, claudeAvailable, makeClaudeHome } from './helpers/claude-home.js';
import {
  bash,
  lastToolResults,
  lastUserPrompt,
  lastUserText,
  startScriptedModel,
  systemMessageTexts,
  toolResultText,
  type ScriptedModel,
} from './helpers/scripted-model.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The scripted model fixture against the real Claude Code CLI, interactive in tmux: the first prompt, a
 * SessionStart hook's output, a typed message and a Bash tool call all go through the real CLI.
 */

const FIRST_PROMPT = 'first prompt from the command line';
const SECOND_PROMPT = 'please create the file';
const HOOK_MARKER = `session-start-marker-${randomBytes(4).toString('hex')}`;

const SOCKET = `gt-scripted-model-${process.pid}-${randomBytes(3).toString('hex')}`;
const SESSION = 'agent';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8' });
}

function pane(): string {
  try {
    return tmux('capture-pane', '-p', '-J', '-t', `=${SESSION}:`);
  } catch {
    return '(no pane)';
  }
}

/** Idle: the input line ("❯" + no-break space) and no "esc to interrupt" (the input line shows while busy too). */
function paneIdle(text: string): boolean {
  return /^❯\u00a0/m.test(text) && !text.includes('esc to interrupt');
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; pane:\n${pane()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function withPane<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\npane:\n${pane()}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!claudeAvailable())('the scripted model with the real Claude Code CLI', () => {
  let root: { dir: string; cleanup: () => void };
  let base: string;
  let model: ScriptedModel;
  let claudePid: number | undefined;
  let socketPath: string | undefined;

  beforeAll(async () => {
    root = tempDir('scripted-model');
    base = realpathSync(root.dir);
    model = await startScriptedModel([
      { when: (req) => lastToolResults(req).length > 0, reply: 'the file is there' },
      {
        when: (req) => lastUserPrompt(req) === SECOND_PROMPT,
        reply: { text: 'creating it', toolUses: [bash('touch created-by-tool')] },
      },
      { when: (req) => lastUserPrompt(req) === FIRST_PROMPT, reply: 'first reply' },
    ]);
  });

  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    if (socketPath !== undefined) rmSync(socketPath, { force: true });
    // The pane's process got SIGHUP with the server; make sure the one we started is gone.
    if (claudePid !== undefined) {
      const deadline = Date.now() + 5_000;
      while (alive(claudePid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive(claudePid)) process.kill(claudePid, 'SIGKILL');
    }
    // (optional: beforeAll may have failed half-way)
    await model?.close();
    root?.cleanup();
  });

  it('takes the first prompt, the hook output, typed text and runs a tool', async () => {
    const project = join(base, 'project');
    mkdirSync(project);
    const home = makeClaudeHome(join(base, 'claude-config'), [project]);
    const settings = join(base, 'settings.json');
    writeFileSync(
      settings,
      JSON.stringify({
        skipDangerousModePermissionPrompt: true,
        hooks: { SessionStart: [{ hooks: [{ type: 'command', command: `echo ${HOOK_MARKER}` }] }] },
      }),
    );

    const argv = claudeArgv(home.env(model.url), [
      '--dangerously-skip-permissions',
      '--settings',
      settings,
      FIRST_PROMPT,
    ]);
    tmux('new-session', '-d', '-s', SESSION, '-x', '200', '-y', '50', '-c', project, ...argv);
    claudePid = Number(tmux('display-message', '-p', '-t', `=${SESSION}:`, '#{pane_pid}').trim());
    socketPath = tmux('display-message', '-p', '-t', `=${SESSION}:`, '#{socket_path}').trim();

    // The positional prompt is the conversation's first user message; the hook's stdout comes with it.
    const first = await withPane(model.waitForConversation(() => true, 30_000));
    expect(lastUserText(first)).toBe(FIRST_PROMPT);
    expect(systemMessageTexts(first).join('\n')).toContain(`SessionStart:startup hook success: ${HOOK_MARKER}`);
    await until('the first reply on an idle pane', () => {
      const text = pane();
      return text.includes('first reply') && paneIdle(text);
    });

    // Typed text arrives as the next user message; the script answers it with a Bash tool call.
    tmux('send-keys', '-t', `=${SESSION}:`, '-l', '--', SECOND_PROMPT);
    tmux('send-keys', '-t', `=${SESSION}:`, 'Enter');
    const second = await withPane(model.waitForConversation((req) => lastUserPrompt(req) === SECOND_PROMPT));
    expect(lastUserText(second)).toBe(SECOND_PROMPT);

    const afterTool = await withPane(model.waitForConversation((req) => lastToolResults(req).length > 0));
    const [result] = lastToolResults(afterTool);
    expect(result?.is_error ?? false, `tool result: ${result === undefined ? '' : toolResultText(result)}`).toBe(false);
    expect(existsSync(join(project, 'created-by-tool'))).toBe(true);
    await until('the final reply on an idle pane', () => {
      const text = pane();
      return text.includes('the file is there') && paneIdle(text);
    });

    expect(model.errors).toEqual([]);
  }, 90_000);
});
