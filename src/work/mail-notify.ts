import { OVERSEER } from '../core/identity.js';
import { sanitizeTypedText } from '../core/pane.js';
import { agentCli } from '../runtime/launch.js';
import { handsOverAtTurns, paneProfile } from '../runtime/presets.js';
import { typeNudge } from '../session/nudge.js';
import {
  markAnnounced,
  senderLabel,
  unannouncedMail,
  unmarkAnnounced,
  wakesRecipient,
  type Mail,
  type Stores,
} from './mail.js';
import { watchQueuedNudges } from './nudge.js';
import { agentRunning, nudgeLockPath, type TownContext } from './sessions.js';

/**
 * New mail announced to its recipient: an agent idle at its prompt has no next turn of its own, so it is told
 * at once, in one typed line saying who wrote and what about. A busy agent gets nothing typed: it hears of the
 * mail at its next turn (its prompt-submit hook), one without a session from its next prime. Urgent mail does
 * not wait for the next turn: to a busy agent it is queued as an urgent nudge, which the Stop hook hands over
 * when the current turn ends (or a watcher types, for a CLI without turn hooks). The overseer has no session:
 * its mail waits in its inbox, and `gt status` shows it.
 */

/** typed: into an idle session now; queued: an urgent nudge for the end of the turn; next-turn; inbox: the overseer's. */
export type Announcement = 'typed' | 'queued' | 'next-turn' | 'inbox';

/** The line typed into an idle recipient's session. */
export function mailLine(mail: Pick<Mail, 'id' | 'from' | 'from_name' | 'subject' | 'priority'>): string {
  const urgent = mail.priority === 'urgent' ? 'urgent ' : '';
  return sanitizeTypedText(
    `[${urgent}mail from ${senderLabel(mail)}] ${mail.id}: ${mail.subject.slice(0, 200)} (read it with gt mail read ${mail.id})`,
  );
}

export async function announceMail(ctx: TownContext & { store: Stores }, mail: Mail): Promise<Announcement> {
  if (mail.recipient === OVERSEER) return 'inbox';
  if (mail.handoff) return 'next-turn'; // a note for the successor, shown by its prime
  if (!wakesRecipient(mail)) return 'next-turn'; // for the record: told at a turn it has anyway
  const agent = await ctx.store.agent(mail.recipient);
  if (!(await ctx.provider.isAlive(agent.session_name)) || !(await agentRunning(ctx, agent))) return 'next-turn';
  const resolved = agentCli(ctx.settings, agent);
  // Marked first: the typed line starts a turn whose prompt hook must not announce the same mail again. Marked
  // already, it was told at a turn boundary meanwhile.
  if ((await markAnnounced(ctx.store, [mail.id], 'mail')).length === 0) return 'next-turn';
  const typed = await typeNudge(ctx.provider, agent.session_name, mailLine(mail), {
    profile: paneProfile(resolved.preset),
    lockPath: nudgeLockPath(ctx.town, agent.session_name),
    waitIdleMs: 0,
  }).catch(async (err: unknown) => {
    await unmarkAnnounced(ctx.store, [mail.id], 'mail');
    throw err;
  });
  if (typed.outcome === 'delivered') return 'typed';
  if (mail.priority !== 'urgent') {
    await unmarkAnnounced(ctx.store, [mail.id], 'mail');
    return 'next-turn';
  }
  await ctx.store.queueNudge(
    {
      recipient: agent.address,
      sender: mail.from,
      body: `urgent mail ${mail.id} from ${senderLabel(mail)}: ${mail.subject.slice(0, 200)} (read it with gt mail read ${mail.id})`,
      urgent: true,
    },
    ctx.actor,
  );
  if (!(typed.outcome === 'busy' && handsOverAtTurns(resolved.preset)))
    watchQueuedNudges(ctx, agent.address, resolved.preset);
  return 'queued';
}

/** Announces every copy of a message; a failure to announce one never loses the mail (it waits in the inbox). */
export async function announceAll(
  ctx: TownContext & { store: Stores },
  mail: readonly Mail[],
): Promise<{ to: string; id: string; announced: Announcement }[]> {
  const out: { to: string; id: string; announced: Announcement }[] = [];
  for (const m of mail)
    out.push({
      to: m.recipient,
      id: m.id,
      announced: await announceMail(ctx, m).catch((): Announcement => 'next-turn'),
    });
  return out;
}

/**
 * The daemon's look for mail that slipped between turns: sent while its recipient was busy, after its last turn
 * boundary had run, so that nothing would tell it. Each such mail to an agent now idle at its prompt is typed
 * (one line per mail, as at sending); one still busy is left for its turn boundary. `idle` is the addresses the
 * daemon saw idle at their prompt this pass; mail younger than `graceMs` is its sender's to announce.
 */
export async function announceWaitingMail(
  ctx: TownContext & { store: Stores },
  idle: ReadonlySet<string>,
  graceMs = 5_000,
): Promise<{ to: string; id: string; announced: Announcement }[]> {
  if (idle.size === 0) return [];
  const waiting = (await unannouncedMail(ctx.store, ctx.now() - graceMs)).filter((m) => idle.has(m.recipient));
  return announceAll(ctx, waiting);
}
