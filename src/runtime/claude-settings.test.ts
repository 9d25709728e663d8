import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { claudeSettings, writeClaudeSettings } from './claude-settings.js';

type Hooks = Record<string, { matcher: string; hooks: { type: string; command: string }[] }[]>;
const commands = (hooks: Hooks, event: string): string[] =>
  (hooks[event] ?? []).flatMap((e) => e.hooks.map((h) => h.command));

describe('Claude Code settings', () => {
  it('hooks prime, the prompt-submit and stop hand-over, and re-priming after compaction, with no data in any command', () => {
    const s = claudeSettings('witness');
    expect(s.skipDangerousModePermissionPrompt).toBe(true);
    const hooks = s.hooks as Hooks;
    expect(commands(hooks, 'SessionStart')).toEqual(['"$GT_BIN" prime --hook']);
    expect(commands(hooks, 'PreCompact')).toEqual(['"$GT_BIN" prime --hook']);
    expect(commands(hooks, 'UserPromptSubmit')).toEqual(['"$GT_BIN" mail check --inject']);
    expect(commands(hooks, 'Stop')).toEqual(['"$GT_BIN" agent hook stop']);
  });

  it('reminds only polecats to finish with gt done', () => {
    expect(commands(claudeSettings('polecat').hooks as Hooks, 'Stop')).toEqual([
      '"$GT_BIN" agent hook stop --remind-done',
    ]);
    expect(commands(claudeSettings('crew').hooks as Hooks, 'Stop')).toEqual(['"$GT_BIN" agent hook stop']);
  });

  it('runs every shell command of a patrol role and the Mayor past the guard, and no other role’s', () => {
    for (const role of ['witness', 'deacon', 'boot', 'mayor'] as const) {
      const hooks = claudeSettings(role).hooks as Hooks;
      expect(hooks.PreToolUse).toEqual([
        { matcher: 'Bash', hooks: [{ type: 'command', command: '"$GT_BIN" agent hook guard', timeout: 10 }] },
      ]);
    }
    for (const role of ['refinery', 'polecat', 'crew'] as const)
      expect((claudeSettings(role).hooks as Hooks).PreToolUse).toBeUndefined();
  });

  it('writes the file privately and atomically', () => {
    const t = tempDir('claude-settings');
    try {
      const file = writeClaudeSettings(join(t.dir, 'sessions', 'ga-toast', 'claude-settings.json'), 'polecat');
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(claudeSettings('polecat'));
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      t.cleanup();
    }
  });
});
