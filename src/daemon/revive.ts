import { ConflictError } from '../core/errors.js';
import { parseAddress } from '../core/identity.js';
import type { TownContext } from '../work/sessions.js';

/**
 * `gt agent revive <address>`: brings a stuck agent (quarantined by the daemon after it died again and again,
 * or one that said it was stuck) back, once someone has fixed the cause. Its state goes back to idle — an
 * event in the store, from which the daemon counts deaths afresh — and the escalations filed for its
 * quarantine are closed. Its hook, sandbox and branch are as they were: with work on its hook the daemon
 * restarts it at its next pass (or `gt session start` does now).
 */

export type ReviveResult = {
  address: string;
  revived: boolean;
  hook: string | null;
  closed_escalations: string[];
};

/** The title of the escalation the daemon files when it quarantines an agent. */
export function quarantineTitlePrefix(address: string): string {
  return `Quarantined: ${address} `;
}

export async function reviveAgent(
  ctx: Pick<TownContext, 'store'>,
  address: string,
  actor: string,
): Promise<ReviveResult> {
  parseAddress(address);
  const agent = await ctx.store.agent(address);
  if (agent.agent_state !== 'stuck')
    throw new ConflictError(`${address} is not stuck (it reported "${agent.agent_state}")`, {
      hint: `"gt agents" shows what it is doing; "gt session restart ${address}" gives it a fresh session`,
    });
  await ctx.store.updateAgent(address, { agent_state: 'idle' }, actor);
  const open = await ctx.store.list({ types: ['escalation'], labels: ['gt:escalation'], limit: 0 });
  const mine = open.filter((e) => e.title.startsWith(quarantineTitlePrefix(address))).map((e) => e.id);
  if (mine.length > 0) await ctx.store.close(mine, { reason: `revived by ${actor}` }, actor);
  return { address, revived: true, hook: agent.hook_bead, closed_escalations: mine };
}
