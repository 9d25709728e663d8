import { existsSync } from 'node:fs';
import type { Agent } from '../core/agent-store.js';
import { errorMessage } from '../core/errors.js';
import {
  isPatrolActor,
  refusalError,
  releaseRefusal,
  sessionChangeRefusal,
  type SandboxFacts,
  type SessionChange,
} from '../core/guard.js';
import { ROLE_SPECS } from '../core/identity.js';
import type { TownStore } from '../core/town-store.js';
import { worktreeSafety } from '../git/git.js';
import { agentCli } from '../runtime/launch.js';
import type { TownSettings } from '../core/settings.js';
import type { SessionProvider } from '../session/provider.js';

/**
 * The facts the guardrails of src/core/guard.ts decide on, read from git and tmux, and the checks that throw
 * their refusals. The decisions stay pure; this only gathers.
 */

/** What an agent's sandbox would lose: read from git for worktrees and clones that are on disk. */
export async function sandboxFacts(store: Pick<TownStore, 'rig'>, agent: Agent): Promise<SandboxFacts> {
  if (ROLE_SPECS[agent.role].sandbox === 'directory' || agent.rig === null || !existsSync(agent.sandbox_path))
    return { kind: 'none' };
  try {
    const rig = await store.rig(agent.rig);
    const s = await worktreeSafety(agent.sandbox_path, rig.default_branch);
    return { kind: 'git', uncommitted: s.uncommitted.length, unpushed: s.unpushed };
  } catch (err) {
    return { kind: 'unreadable', detail: errorMessage(err).split('\n')[0] ?? 'git failed' };
  }
}

/**
 * Refuses `ctx.actor` a stop or restart of `agent`'s session that a patrol agent may not make. The sandbox is
 * read only when a patrol agent stops another agent: no other change depends on it.
 */
export async function checkSessionChange(
  ctx: { actor: string; store: Pick<TownStore, 'rig'> },
  agent: Agent,
  change: SessionChange,
): Promise<void> {
  if (!isPatrolActor(ctx.actor) || agent.address === ctx.actor) return;
  const sandbox: SandboxFacts = change === 'stop' ? await sandboxFacts(ctx.store, agent) : { kind: 'none' };
  const r = sessionChangeRefusal({ actor: ctx.actor, change, target: agent.address, targetRole: agent.role, sandbox });
  if (r !== null) throw refusalError(r);
}

/**
 * Refuses `ctx.actor` taking `bead` off `holder`'s hook while that would lose work (see releaseRefusal). tmux
 * and git are asked only when another agent's work is released without --force.
 */
export async function checkRelease(
  ctx: { actor: string; store: Pick<TownStore, 'rig'>; settings: TownSettings; provider: SessionProvider },
  holder: Agent,
  bead: string,
  force: boolean,
): Promise<void> {
  if (holder.address === ctx.actor) return;
  const input = { actor: ctx.actor, holder: holder.address, bead, force };
  const r = force
    ? releaseRefusal({ ...input, sessionAlive: false, sandbox: { kind: 'none' } })
    : releaseRefusal({
        ...input,
        sessionAlive:
          (await ctx.provider.agentLiveness(
            holder.session_name,
            agentCli(ctx.settings, holder).preset.processNames,
          )) !== 'dead',
        sandbox: await sandboxFacts(ctx.store, holder),
      });
  if (r !== null) throw refusalError(r);
}
