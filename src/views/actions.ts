import { ValidationError } from '../core/errors.js';
import { acknowledgeEscalation } from '../patrol/escalation.js';
import { nudgeAgent } from '../work/nudge.js';
import { agentAt, restartAgentSession, stopAgentSession } from '../work/sessions.js';
import { sling, unsling } from '../work/sling.js';
import type { ViewContext } from './model.js';

/**
 * What a person can do from a view (the feed's keys, the dashboard's buttons), each through the same library
 * call as the CLI command it stands for, so that a view can do nothing the CLI would refuse:
 * - nudge: `gt nudge <agent> <text>` (typed at once if the agent sits idle, else queued for its next turn);
 * - restart: `gt session restart <agent>` (same sandbox, same hook);
 * - handoff: a nudge asking the agent to hand off (`gt handoff`) at its next turn boundary: a person cannot
 *   write the agent's note for it;
 * - requeue: the agent's bead goes back to its rig for the next free polecat: the session stops, the bead is
 *   unslung (refused while the sandbox holds uncommitted or unpushed work: the sandbox keeps it) and slung to
 *   the rig again;
 * - ack: `gt escalate ack <id>`.
 */

export const VIEW_ACTIONS = ['nudge', 'restart', 'handoff', 'requeue', 'ack'] as const;
export type ViewActionKind = (typeof VIEW_ACTIONS)[number];

export type ViewAction =
  | { kind: 'nudge'; agent: string; text: string }
  | { kind: 'restart'; agent: string }
  | { kind: 'handoff'; agent: string }
  | { kind: 'requeue'; agent: string }
  | { kind: 'ack'; escalation: string };

export type ActionResult = { ok: true; action: ViewActionKind; text: string };

export function isViewAction(v: string): v is ViewActionKind {
  return (VIEW_ACTIONS as readonly string[]).includes(v);
}

const HANDOFF_ASK =
  'A person asks you to hand off: finish the step you are on, then run gt handoff -m "<where you are and what is next>".';

/** Runs one action as `actor` (who the person is: the overseer, under their name). */
export async function runViewAction(ctx: ViewContext, action: ViewAction, actor: string): Promise<ActionResult> {
  const as = { ...ctx, actor };
  switch (action.kind) {
    case 'nudge': {
      const r = await nudgeAgent(as, { to: action.agent, from: actor, message: action.text, mode: 'wait-idle' });
      return {
        ok: true,
        action: 'nudge',
        text:
          r.result === 'delivered' ? `nudged ${action.agent}` : `queued for ${action.agent} (${r.reason ?? 'busy'})`,
      };
    }
    case 'handoff': {
      const r = await nudgeAgent(as, { to: action.agent, from: actor, message: HANDOFF_ASK, mode: 'wait-idle' });
      return {
        ok: true,
        action: 'handoff',
        text: `${action.agent} asked to hand off${r.result === 'delivered' ? '' : ' at its next turn'}`,
      };
    }
    case 'restart': {
      const r = await restartAgentSession(as, action.agent, { endReason: 'killed' });
      return { ok: true, action: 'restart', text: `restarted ${action.agent} (session ${r.session})` };
    }
    case 'requeue': {
      const agent = await agentAt(as, action.agent);
      const bead = agent.hook_bead;
      if (bead === null || agent.rig === null)
        throw new ValidationError(`${action.agent} has nothing on its hook to requeue`, {
          hint: 'requeue an agent that holds a bead',
        });
      // Stopped first (a running session is a live claim). Should the unsling refuse (work in the sandbox),
      // the hook stays and the daemon starts the agent again: nothing is lost.
      await stopAgentSession(as, agent.address, 'killed');
      await unsling(as, await agentAt(as, agent.address));
      const [slung] = await sling(as, [bead], agent.rig);
      return {
        ok: true,
        action: 'requeue',
        text: `${bead} taken from ${agent.address} and slung to ${agent.rig}${slung?.agent === undefined ? '' : ` (${slung.agent})`}`,
      };
    }
    case 'ack': {
      const r = await acknowledgeEscalation(as, action.escalation, actor);
      return {
        ok: true,
        action: 'ack',
        text: r.already ? `${action.escalation} was acknowledged already` : `acknowledged ${action.escalation}`,
      };
    }
  }
}
