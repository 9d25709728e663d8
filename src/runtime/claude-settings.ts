import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { guardedRole } from '../core/guard.js';
import type { Role } from '../core/identity.js';

/**
 * The settings file gt launches Claude Code with (`--settings <file>`), kept in the town's runtime directory,
 * never in the user's project. Hook commands hold no data: they run `$GT_BIN`, which the session's environment
 * names, so no path or name is ever spliced into a shell string.
 *
 * - SessionStart: `gt prime --hook` — the agent learns who it is and what is on its hook;
 * - PreCompact: the same, so a compacted context is re-primed;
 * - UserPromptSubmit (`gt mail check --inject`): queued nudges and news of unread mail join the prompt at
 *   every turn boundary;
 * - Stop: queued nudges that arrived while it worked keep it going; a polecat with unfinished hooked work is
 *   reminded to finish with `gt done`;
 * - Notification (`gt agent hook notify`): it waits for someone; the daemon is woken to look now;
 * - PreToolUse of the Bash tool, for patrol roles (witness, deacon, boot) and the Mayor: `gt agent hook guard`
 *   blocks git that merges, pushes, deletes branches, removes worktrees or discards changes, and recursive rm,
 *   and for the Mayor git that commits. A second line of defence: the gt commands refuse those to patrol agents
 *   themselves. Polecats still push (gt done).
 */

type HookEntry = { matcher: string; hooks: { type: 'command'; command: string; timeout: number }[] };

const command = (args: string, timeout = 30, matcher = ''): HookEntry[] => [
  { matcher, hooks: [{ type: 'command', command: `"$GT_BIN" ${args}`, timeout }] },
];

export function claudeSettings(role: Role): Record<string, unknown> {
  return {
    // gt answers for the autonomy it asked for; the warning would block an unattended start.
    skipDangerousModePermissionPrompt: true,
    hooks: {
      SessionStart: command('prime --hook'),
      PreCompact: command('prime --hook'),
      UserPromptSubmit: command('mail check --inject'),
      Stop: command(`agent hook stop${role === 'polecat' ? ' --remind-done' : ''}`),
      // It waits for someone (a permission question, a limit): the daemon looks at once.
      Notification: command('agent hook notify', 10),
      ...(guardedRole(role) !== null ? { PreToolUse: command('agent hook guard', 10, 'Bash') } : {}),
    },
  };
}

/** Writes the settings for one session atomically; returns the path. */
export function writeClaudeSettings(file: string, role: Role): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(claudeSettings(role), null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}
