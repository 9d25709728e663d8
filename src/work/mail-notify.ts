import { sanitizeTypedText } from '../core/pane.js';
import { agentCli } from '../runtime/launch.js';
import { paneProfile } from '../runtime/presets.js';
import { typeNudge } from '../session/nudge.js';
import { markAnnounced, type Mail, type Stores } from './mail.js';
import { agentRunning, nudgeLockPath, type TownContext } from './sessions.js';

/**
 * New mail announced to its recipient: an agent idle at its prompt has no next turn of its own, so it is told
 * at once, in one typed line saying who wrote and what about. A busy agent gets nothing typed: it hears of the
 * mail at its next turn (its prompt-submit hook), one without a session from its next prime.
 */

export type Announcement = 'typed' | 'next-turn';

/** The line typed into an idle recipient's session. */
export function mailLine(mail: Pick<Mail, 'id' | 'from' | 'subject'>): string {
  return sanitizeTypedText(
    `[mail from ${mail.from}] ${mail.id}: ${mail.subject.slice(0, 200)} (read it with gt mail read ${mail.id})`,
  );
}

export async function announceMail(ctx: TownContext & { store: Stores }, mail: Mail): Promise<Announcement> {
  if (mail.handoff) return 'next-turn'; // a note for the successor, shown by its prime
  const agent = await ctx.store.agent(mail.to);
  if (!(await ctx.provider.isAlive(agent.session_name)) || !(await agentRunning(ctx, agent))) return 'next-turn';
  const resolved = agentCli(ctx.settings, agent);
  const typed = await typeNudge(ctx.provider, agent.session_name, mailLine(mail), {
    profile: paneProfile(resolved.preset),
    lockPath: nudgeLockPath(ctx.town, agent.session_name),
    waitIdleMs: 0,
  });
  if (typed.outcome !== 'delivered') return 'next-turn';
  await markAnnounced(ctx.store, [mail.id], 'mail');
  return 'typed';
}
