import type { Role } from '../core/identity.js';
import type { TownSettings } from '../core/settings.js';
import { onPath } from '../exec/path.js';
import { resolveAgent } from '../runtime/launch.js';

/** Which agent CLI a role will launch, and whether its command is on the PATH. */
export type AgentCliCheck = { roles: Role[]; agent: string; command: string; on_path: boolean };

/** The agent CLIs the given roles will launch, one row per distinct agent. */
export function agentCliChecks(
  settings: TownSettings,
  roles: readonly Role[],
  path: string | undefined,
): AgentCliCheck[] {
  const rows = new Map<string, AgentCliCheck>();
  for (const role of roles) {
    const resolved = resolveAgent(settings, role);
    const command = resolved.preset.command;
    const row = rows.get(resolved.name);
    if (row !== undefined) row.roles.push(role);
    else
      rows.set(resolved.name, {
        roles: [role],
        agent: resolved.name,
        command,
        // The sim agent is this very program.
        on_path: command === 'gt' || onPath(command, path),
      });
  }
  return [...rows.values()];
}

/** Lines saying what each agent CLI is and whether it can start, with the way out when it cannot. */
export function renderAgentChecks(checks: readonly AgentCliCheck[]): string {
  return checks
    .map((c) => {
      const who = `${c.roles.join(', ')} will run ${c.agent}`;
      if (c.command === 'gt') return `  ${who} (the scripted sim agent built into gt: not AI)\n`;
      if (c.on_path) return `  ${who} (\`${c.command}\`, on your PATH)\n`;
      return `  ${who}, but \`${c.command}\` is not on your PATH: install it, or pick another agent with "gt config default-agent <name>" (gt config agent list)\n`;
    })
    .join('');
}

/** Numbered-free "Next:" block of commands with what each does. */
export function renderNextSteps(steps: readonly (readonly [string, string])[]): string {
  const width = Math.max(...steps.map(([c]) => c.length));
  return `Next:\n${steps.map(([c, what]) => `  ${c.padEnd(width)}   ${what}\n`).join('')}`;
}
