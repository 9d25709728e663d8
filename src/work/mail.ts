import type { AgentStore } from '../core/agent-store.js';
import type { BeadStore, BeadSummary } from '../core/bead-store.js';
import { STATUSES, type BeadDetails } from '../core/bead.js';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { parseAddress } from '../core/identity.js';
import { formatQueuedNudges } from './nudge.js';

/**
 * Mail between agents: beads of type `message` in the town store, assigned to the recipient, labelled with
 * the sender. Open means in the inbox; `read` marks it read; archiving closes it. New mail is announced once:
 * typed into the recipient's session at once when it sits idle at its prompt (mail-notify.ts), else at its
 * next turn (`gt mail check --inject`, run by its prompt-submit hook) and by its prime.
 */

export type Stores = AgentStore & BeadStore;

export const MAIL_LABEL = 'gt:mail';
export const HANDOFF_LABEL = 'gt:handoff';
const READ_LABEL = 'gt:read';
const NOTIFIED_LABEL = 'gt:notified';
const FROM = 'from:';

export type Mail = {
  id: string;
  from: string;
  to: string;
  subject: string;
  body: string;
  read: boolean;
  handoff: boolean;
  sent_at: string;
  archived: boolean;
};

function toMail(b: BeadSummary | BeadDetails): Mail {
  const from = b.labels.find((l) => l.startsWith(FROM))?.slice(FROM.length) ?? 'unknown';
  return {
    id: b.id,
    from,
    to: b.assignee ?? '',
    subject: b.title,
    body: 'description' in b ? b.description : '',
    read: b.labels.includes(READ_LABEL),
    handoff: b.labels.includes(HANDOFF_LABEL),
    sent_at: b.created_at,
    archived: b.status === 'closed',
  };
}

/**
 * Sends mail. With `id`, the mail gets that id, so a sender that may run twice for one event (a pass killed
 * midway) sends it once: the second send rejects with ConflictError (see sendMailOnce).
 */
export async function sendMail(
  store: Stores,
  m: { from: string; to: string; subject: string; body?: string; handoff?: boolean; id?: string },
): Promise<Mail> {
  parseAddress(m.to);
  await store.agent(m.to); // NotFound for an agent that does not exist
  if (m.subject.trim() === '')
    throw new ValidationError('mail needs a subject', { hint: 'gt mail send <address> -s "<subject>" [-m "<body>"]' });
  if (/[\s,]/u.test(m.from) || m.from === '') throw new ValidationError(`invalid sender "${m.from}"`);
  const bead = await store.create(
    {
      ...(m.id !== undefined ? { id: m.id } : {}),
      title: m.subject,
      description: m.body ?? '',
      issue_type: 'message',
      assignee: m.to,
      priority: 2,
      labels: [MAIL_LABEL, `${FROM}${m.from}`, ...(m.handoff === true ? [HANDOFF_LABEL] : [])],
    },
    m.from,
  );
  return toMail(bead);
}

/** Mail with a deterministic id, sent unless it was already: the mail either way. */
export async function sendMailOnce(
  store: Stores,
  m: { from: string; to: string; subject: string; body?: string; id: string },
): Promise<Mail> {
  try {
    return await sendMail(store, m);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    return mailBead(store, m.id).then(toMail);
  }
}

async function inboxBeads(store: Stores, address: string, all: boolean): Promise<BeadSummary[]> {
  await store.agent(address);
  return store.list({
    assignee: address,
    types: ['message'],
    labels: [MAIL_LABEL],
    statuses: all ? STATUSES : ['open'],
    sort: 'oldest',
    limit: 0,
  });
}

export async function inbox(store: Stores, address: string, options: { all?: boolean } = {}): Promise<Mail[]> {
  return (await inboxBeads(store, address, options.all === true)).map(toMail);
}

async function mailBead(store: Stores, id: string): Promise<BeadDetails> {
  const [bead] = await store.show([id]);
  if (bead === undefined || bead.issue_type !== 'message' || !bead.labels.includes(MAIL_LABEL))
    throw new NotFoundError(`no mail ${id}`, { hint: 'see "gt mail inbox"' });
  return bead;
}

export async function readMail(store: Stores, id: string, reader: string): Promise<Mail> {
  const bead = await mailBead(store, id);
  if (!bead.labels.includes(READ_LABEL)) await store.addLabels([id], [READ_LABEL], reader);
  return { ...toMail(bead), read: true };
}

export async function archiveMail(store: Stores, id: string, actor: string): Promise<Mail> {
  const bead = await mailBead(store, id);
  if (bead.status !== 'closed') await store.close([id], { reason: 'archived' }, actor);
  return { ...toMail(bead), archived: true };
}

/**
 * What an agent is told at a turn boundary: queued nudges, and unread mail it has not been told about yet
 * (each piece of mail is announced once; it stays unread until `gt mail read`). Empty when there is nothing.
 */
export async function turnBoundaryNotice(store: Stores, address: string, by: string): Promise<string> {
  const parts: string[] = [];
  const nudges = await store.takeNudges(address, by);
  if (nudges.length > 0) parts.push(formatQueuedNudges(nudges));
  // Run at every turn: one query, the labels come with it.
  const unannounced = (await inboxBeads(store, address, false))
    .filter((b) => !b.labels.includes(NOTIFIED_LABEL))
    .map(toMail)
    .filter((m) => !m.read && !m.handoff);
  if (unannounced.length > 0) {
    await store.addLabels(
      unannounced.map((m) => m.id),
      [NOTIFIED_LABEL],
      by,
    );
    parts.push(formatMailNotice(unannounced));
  }
  return parts.join('\n');
}

/** Marks mail as announced: the turn boundary does not announce it again. */
export async function markAnnounced(store: Stores, ids: readonly string[], by: string): Promise<void> {
  if (ids.length > 0) await store.addLabels(ids, [NOTIFIED_LABEL], by);
}

export function formatMailNotice(mail: readonly Mail[]): string {
  return [
    '<system-reminder>',
    `You have ${mail.length} new message(s):`,
    ...mail.map((m) => `  ${m.id} from ${m.from}: ${m.subject}`),
    'Read one with `gt mail read <id>`.',
    '</system-reminder>',
  ].join('\n');
}

/** The newest unread handoff note to this agent, marked read as it is handed over. */
export async function takeHandoffNote(store: Stores, address: string): Promise<Mail | undefined> {
  const notes = (await inbox(store, address)).filter((m) => m.handoff && !m.read);
  const note = notes.at(-1);
  if (note === undefined) return undefined;
  for (const n of notes) await readMail(store, n.id, address);
  const [bead] = await store.show([note.id]);
  return bead === undefined ? note : { ...toMail(bead), read: true };
}
