import type { AgentStore } from '../core/agent-store.js';
import type { BeadStore, BeadSummary } from '../core/bead-store.js';
import { STATUSES, type BeadDetails } from '../core/bead.js';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import {
  groupAddress,
  groupMembers,
  MAIL_GROUP_FORMS,
  OVERSEER,
  parseAddress,
  parseRecipient,
} from '../core/identity.js';
import { MAIL_BEAD_PRIORITY, mailPriorityOf, parseMailRef, replySubject, type MailPriority } from '../core/mail.js';
import { formatQueuedNudges } from './nudge.js';

/**
 * Mail between agents and the overseer (the person at the keyboard): beads of type `message` in the town store,
 * one copy per recipient, assigned to it, labelled with the sender. Open means in the inbox; `read` marks it
 * read; archiving closes it; deleting removes it. A message to a group, or with cc, is one copy for each
 * address it reaches, all in one thread. A reply is in the thread of what it answers. New mail is announced
 * once: typed into the recipient's session at once when it sits idle at its prompt (mail-notify.ts), else at
 * its next turn (`gt mail check --inject`, run by its prompt-submit hook) and by its prime; urgent mail to a
 * busy agent is queued as a nudge, which its Stop hook hands over at the end of the turn.
 */

export type Stores = AgentStore & BeadStore;

export const MAIL_LABEL = 'gt:mail';
export const HANDOFF_LABEL = 'gt:handoff';
const READ_LABEL = 'gt:read';
const NOTIFIED_LABEL = 'gt:notified';
const FROM = 'from:';
/** On every message of a thread but its first: the id of the first. */
const THREAD = 'thread:';

/** The metadata keys a message bead carries (mail sent before them has none: see toMail). */
const META = {
  from_name: 'mail_from_name',
  to: 'mail_to',
  cc: 'mail_cc',
  thread: 'mail_thread',
  reply_to: 'mail_reply_to',
  /** One message sent to many: the id of its first copy, on every other copy. */
  copy_of: 'mail_copy_of',
} as const;

export type Mail = {
  id: string;
  /** The sender's address: `overseer`, an agent, or a mechanism (`daemon`, `refinery`). */
  from: string;
  /** The person's name when the overseer wrote it (git user.name or `--from`). */
  from_name: string | null;
  /** As addressed: an agent, `overseer` or a group. */
  to: string;
  cc: string[];
  subject: string;
  body: string;
  priority: MailPriority;
  thread_id: string;
  reply_to: string | null;
  read: boolean;
  handoff: boolean;
  sent_at: string;
  archived: boolean;
  /** Whose inbox holds this copy. */
  recipient: string;
};

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function toMail(b: BeadSummary | BeadDetails): Mail {
  const from = b.labels.find((l) => l.startsWith(FROM))?.slice(FROM.length) ?? 'unknown';
  const cc = b.metadata[META.cc];
  return {
    id: b.id,
    from,
    from_name: text(b.metadata[META.from_name]),
    to: text(b.metadata[META.to]) ?? b.assignee ?? '',
    cc: Array.isArray(cc) ? cc.filter((c): c is string => typeof c === 'string') : [],
    subject: b.title,
    body: b.description,
    priority: mailPriorityOf(b.priority),
    thread_id: text(b.metadata[META.thread]) ?? b.id,
    reply_to: text(b.metadata[META.reply_to]),
    read: b.labels.includes(READ_LABEL),
    handoff: b.labels.includes(HANDOFF_LABEL),
    sent_at: b.created_at,
    archived: b.status === 'closed',
    recipient: b.assignee ?? '',
  };
}

/** Who wrote it, as a person reads it: `overseer (Ada Lovelace)`, `mayor`. */
export function senderLabel(m: Pick<Mail, 'from' | 'from_name'>): string {
  return m.from_name !== null && m.from_name !== m.from ? `${m.from} (${m.from_name})` : m.from;
}

/** A message as its sender gives it. */
export type Outgoing = {
  from: string;
  /** An agent, `overseer`, or a group (`@witnesses`, `@rig/<rig>`, `@polecats/<rig>`, `@town`, `@overseer`). */
  to: string;
  subject: string;
  body?: string;
  /** Addresses or groups that get a copy too. */
  cc?: readonly string[];
  priority?: MailPriority;
  /** The mail this answers: the reply joins its thread. */
  replyTo?: string;
  fromName?: string | null;
  handoff?: boolean;
  /** The id of the first copy, so that a sender that may run twice sends it once (see sendMailOnce). */
  id?: string;
};

/** The one line said about an address that takes no mail: what exists, and how to list the rest. */
async function unknownRecipient(store: Stores, address: string): Promise<NotFoundError> {
  const rig = address.split('/')[0] ?? '';
  const agents = await store.agents({});
  const near = agents.filter((a) => a.rig === rig).map((a) => a.address);
  const shown = (near.length > 0 ? near : agents.filter((a) => a.rig === null).map((a) => a.address)).slice(0, 8);
  return new NotFoundError(
    `no agent ${address} to mail${shown.length > 0 ? `; ${near.length > 0 ? `${rig} has` : 'the town has'} ${shown.join(', ')}` : ''}`,
    {
      hint: `"gt agents" lists every address; ${OVERSEER} and the groups ${MAIL_GROUP_FORMS.join(', ')} take mail too`,
    },
  );
}

/** The inboxes an address reaches: itself (an agent that exists, or the overseer), or a group's members. */
export async function recipientsOf(store: Stores, address: string): Promise<string[]> {
  const r = parseRecipient(address);
  if (r.kind === 'overseer') return [OVERSEER];
  if (r.kind === 'agent') {
    try {
      await store.agent(r.address);
    } catch (err) {
      if (err instanceof NotFoundError) throw await unknownRecipient(store, r.address);
      throw err;
    }
    return [r.address];
  }
  const members = groupMembers(r.group, await store.agents({}));
  if (members.length === 0)
    throw new NotFoundError(`${groupAddress(r.group)} has no members`, {
      hint: '"gt agents" lists the agents there are',
    });
  return members;
}

async function mailBead(store: Stores, id: string): Promise<BeadDetails> {
  const [bead] = await store.show([id]).catch((err: unknown) => {
    if (err instanceof NotFoundError) return [];
    throw err;
  });
  if (bead === undefined || bead.issue_type !== 'message' || !bead.labels.includes(MAIL_LABEL))
    throw new NotFoundError(`no mail ${id}`, { hint: 'see "gt mail inbox"' });
  return bead;
}

/**
 * Sends a message: one copy to each inbox its `to` and `cc` reach (a group counts each member once; nobody
 * gets two copies), all in one thread. Every address is checked before anything is written. The copies in the
 * order of their recipients, `to` first.
 */
export async function sendMessage(store: Stores, m: Outgoing): Promise<Mail[]> {
  if (m.subject.trim() === '')
    throw new ValidationError('mail needs a subject', { hint: 'gt mail send <address> -s "<subject>" [-m "<body>"]' });
  if (m.from === '' || /[\s,]/u.test(m.from))
    throw new ValidationError(`invalid sender "${m.from}": a sender is one address (overseer, mayor, <rig>/witness)`, {
      hint: "a person's name goes in --from as the overseer's display name",
    });
  const to = m.to.trim();
  const cc = (m.cc ?? []).map((c) => c.trim()).filter((c) => c !== '');
  const inboxes: string[] = [];
  for (const address of [to, ...cc])
    for (const r of await recipientsOf(store, address)) if (!inboxes.includes(r)) inboxes.push(r);
  const parent = m.replyTo === undefined ? undefined : toMail(await mailBead(store, m.replyTo));
  const priority = m.priority ?? 'normal';
  const sent: Mail[] = [];
  for (const recipient of inboxes) {
    const first = sent[0];
    const thread = parent?.thread_id ?? first?.id;
    const bead = await store.create(
      {
        ...(first === undefined && m.id !== undefined ? { id: m.id } : {}),
        title: m.subject,
        description: m.body ?? '',
        issue_type: 'message',
        assignee: recipient,
        priority: MAIL_BEAD_PRIORITY[priority],
        labels: [
          MAIL_LABEL,
          `${FROM}${m.from}`,
          ...(thread !== undefined ? [`${THREAD}${thread}`] : []),
          ...(m.handoff === true ? [HANDOFF_LABEL] : []),
        ],
        metadata: {
          [META.to]: to,
          ...(cc.length > 0 ? { [META.cc]: cc } : {}),
          ...(m.fromName != null && m.fromName.trim() !== '' ? { [META.from_name]: m.fromName.trim() } : {}),
          ...(thread !== undefined ? { [META.thread]: thread } : {}),
          ...(parent !== undefined ? { [META.reply_to]: parent.id } : {}),
          ...(first !== undefined ? { [META.copy_of]: first.id } : {}),
        },
      },
      m.from,
    );
    sent.push(toMail(bead));
  }
  return sent;
}

/**
 * Sends mail to one address (or group) and returns its first copy. With `id`, the first copy gets that id, so a
 * sender that may run twice for one event (a pass killed midway) sends it once: the second send rejects with
 * ConflictError (see sendMailOnce).
 */
export async function sendMail(store: Stores, m: Outgoing): Promise<Mail> {
  const [first] = await sendMessage(store, m);
  if (first === undefined) throw new NotFoundError(`nobody to mail at ${m.to}`);
  return first;
}

/** Mail with a deterministic id, sent unless it was already: the mail either way. */
export async function sendMailOnce(store: Stores, m: Outgoing & { id: string }): Promise<Mail> {
  try {
    return await sendMail(store, m);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    return mailBead(store, m.id).then(toMail);
  }
}

/**
 * Who sends, and under what name: `--from` when given (an address, `overseer`, or a person's name, which makes
 * the overseer the sender under that name); else the agent asking; else the acting identity when it is an
 * agent's address (BD_ACTOR, --actor); else the overseer, named by the acting identity (git user.name).
 */
export async function resolveSender(
  store: Stores,
  s: { flag?: string; asking: { address: string; agent: unknown }; actor: string },
): Promise<{ from: string; fromName: string | null }> {
  const name = (v: string): string | null => (v === OVERSEER || isAgentAddress(v) || v === '' ? null : v);
  const flag = s.flag?.trim();
  if (flag !== undefined && flag !== '') {
    if (flag === OVERSEER) return { from: OVERSEER, fromName: name(s.actor.trim()) };
    if (isAgentAddress(flag)) {
      await recipientsOf(store, flag); // the one line that says who exists
      return { from: flag, fromName: null };
    }
    if (/^[@]/u.test(flag) || flag.includes('/'))
      throw new ValidationError(`--from ${flag} is neither an agent, the overseer nor a name`, {
        hint: '--from <address> (mayor, <rig>/witness) or --from "<your name>"',
      });
    return { from: OVERSEER, fromName: flag };
  }
  if (s.asking.agent !== null) return { from: s.asking.address, fromName: null };
  const actor = s.actor.trim();
  if (actor === OVERSEER) return { from: OVERSEER, fromName: null };
  if (isAgentAddress(actor)) {
    try {
      await store.agent(actor);
      return { from: actor, fromName: null };
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  return { from: OVERSEER, fromName: name(actor) };
}

/** An answer to `id`, to whoever sent it, in its thread: `Re: <subject>` unless a subject is given. */
export async function replyMail(
  store: Stores,
  id: string,
  m: Omit<Outgoing, 'to' | 'subject' | 'replyTo'> & { subject?: string },
): Promise<Mail[]> {
  const original = toMail(await mailBead(store, id));
  if (original.from !== OVERSEER && !isAgentAddress(original.from))
    throw new ValidationError(
      `${original.id} is from ${original.from}, which takes no mail: there is nobody to reply to`,
    );
  return sendMessage(store, {
    ...m,
    to: original.from,
    subject: m.subject ?? replySubject(original.subject),
    replyTo: original.id,
  });
}

function isAgentAddress(address: string): boolean {
  try {
    parseAddress(address);
    return true;
  } catch {
    return false;
  }
}

async function inboxBeads(store: Stores, address: string, all: boolean): Promise<BeadSummary[]> {
  if (address !== OVERSEER) await store.agent(address);
  return store.list({
    assignee: address,
    types: ['message'],
    labels: [MAIL_LABEL],
    statuses: all ? STATUSES : ['open'],
    sort: 'oldest',
    limit: 0,
  });
}

/** An inbox, oldest first: open mail, numbered 1… in this order; with `all`, archived mail after it. */
export async function inbox(store: Stores, address: string, options: { all?: boolean } = {}): Promise<Mail[]> {
  const list = (await inboxBeads(store, address, options.all === true)).map(toMail);
  return [...list.filter((m) => !m.archived), ...list.filter((m) => m.archived)];
}

/** The mail a reference names: its number in `address`'s inbox listing (1 is the first), or its id. */
export async function mailByRef(store: Stores, address: string, ref: string): Promise<Mail> {
  const r = parseMailRef(ref);
  if (r.kind === 'id') return toMail(await mailBead(store, r.id));
  const open = await inbox(store, address);
  const m = open[r.index - 1];
  if (m === undefined)
    throw new NotFoundError(
      `no mail number ${r.index}: the inbox of ${address} has ${open.length === 0 ? 'no open mail' : `${open.length} (1-${open.length})`}`,
      { hint: 'see "gt mail inbox"' },
    );
  return m;
}

export async function readMail(store: Stores, id: string, reader: string): Promise<Mail> {
  const bead = await mailBead(store, id);
  if (!bead.labels.includes(READ_LABEL)) await store.addLabels([id], [READ_LABEL], reader);
  return { ...toMail(bead), read: true };
}

/** Marks mail read or unread (without showing it). */
export async function markRead(store: Stores, id: string, read: boolean, actor: string): Promise<Mail> {
  const bead = await mailBead(store, id);
  if (read && !bead.labels.includes(READ_LABEL)) await store.addLabels([id], [READ_LABEL], actor);
  if (!read && bead.labels.includes(READ_LABEL)) await store.removeLabels([id], [READ_LABEL], actor);
  return { ...toMail(bead), read };
}

export async function archiveMail(store: Stores, id: string, actor: string): Promise<Mail> {
  const bead = await mailBead(store, id);
  if (bead.status !== 'closed') await store.close([id], { reason: 'archived' }, actor);
  return { ...toMail(bead), archived: true };
}

/** Removes a message from the store for good: the mail as it was. */
export async function deleteMail(store: Stores, id: string, actor: string): Promise<Mail> {
  const mail = toMail(await mailBead(store, id));
  await store.delete(id, { force: true }, actor);
  return mail;
}

/** An inbox's mail (archived too) whose subject, body or sender holds `query`, case aside; oldest first. */
export async function searchMail(store: Stores, address: string, query: string): Promise<Mail[]> {
  const q = query.trim().toLowerCase();
  if (q === '') throw new ValidationError('search for what?', { hint: 'gt mail search "<text>"' });
  return (await inbox(store, address, { all: true })).filter((m) =>
    [m.subject, m.body, m.from, m.from_name ?? ''].some((field) => field.toLowerCase().includes(q)),
  );
}

/**
 * The thread a message is in, oldest first: every message of it once (a message sent to many is shown by one
 * copy, the reader's own where it has one).
 */
export async function threadOf(store: Stores, id: string, reader?: string): Promise<Mail[]> {
  const thread = toMail(await mailBead(store, id)).thread_id;
  const beads = await store.list({
    types: ['message'],
    labels: [MAIL_LABEL, `${THREAD}${thread}`],
    statuses: STATUSES,
    sort: 'oldest',
    limit: 0,
  });
  const root = await mailBead(store, thread).then(
    (b) => [b],
    () => [],
  );
  const byMessage = new Map<string, Mail>();
  for (const b of [...root, ...beads]) {
    const m = toMail(b);
    const key = text(b.metadata[META.copy_of]) ?? m.id;
    const seen = byMessage.get(key);
    if (seen === undefined || (reader !== undefined && m.recipient === reader && seen.recipient !== reader))
      byMessage.set(key, m);
  }
  return [...byMessage.values()].sort((a, b) => a.sent_at.localeCompare(b.sent_at) || a.id.localeCompare(b.id));
}

/**
 * Whether mail wakes its recipient: typed into it when it sits idle, handed over at the end of a busy turn (which
 * then goes on), typed by the daemon if it slipped past both. Low-priority mail is for the record (a landing
 * the recipient need not act on, a report a patrol agent hears of through its problem): it waits for a turn
 * the agent has anyway, or its next prime, and never costs a turn of its own.
 */
export function wakesRecipient(m: Pick<Mail, 'priority'>): boolean {
  return m.priority !== 'low';
}

/**
 * What an agent is told at a turn boundary: queued nudges, and unread mail it has not been told about yet
 * (each piece of mail is announced once; it stays unread until `gt mail read`). Empty when there is nothing.
 * `wakingOnly` (the end of a turn, where anything told makes the agent go on): mail that wakes its recipient.
 */
export async function turnBoundaryNotice(
  store: Stores,
  address: string,
  by: string,
  options: { wakingOnly?: boolean } = {},
): Promise<string> {
  const parts: string[] = [];
  const nudges = await store.takeNudges(address, by);
  if (nudges.length > 0) parts.push(formatQueuedNudges(nudges));
  // Run at every turn: one query, the labels come with it.
  const unannounced = (await inboxBeads(store, address, false))
    .filter((b) => !b.labels.includes(NOTIFIED_LABEL))
    .map(toMail)
    .filter((m) => !m.read && !m.handoff && (options.wakingOnly !== true || wakesRecipient(m)));
  const mine = new Set(
    await markAnnounced(
      store,
      unannounced.map((m) => m.id),
      by,
    ),
  );
  const told = unannounced.filter((m) => mine.has(m.id));
  if (told.length > 0) parts.push(formatMailNotice(told));
  return parts.join('\n');
}

/**
 * Unread mail that wakes its recipient and that nobody has been told about yet, to agents (never the overseer,
 * whose inbox is read by a person), sent before `beforeMs`, oldest first: one query for the whole town.
 */
export async function unannouncedMail(store: Stores, beforeMs: number): Promise<Mail[]> {
  const open = await store.list({
    types: ['message'],
    labels: [MAIL_LABEL],
    statuses: ['open'],
    sort: 'oldest',
    limit: 0,
  });
  return open
    .filter((b) => !b.labels.includes(NOTIFIED_LABEL) && Date.parse(b.created_at) < beforeMs)
    .map(toMail)
    .filter((m) => !m.read && !m.handoff && wakesRecipient(m) && m.recipient !== OVERSEER && m.recipient !== '');
}

/** Marks mail as announced: the turn boundary does not announce it again. */
export async function markAnnounced(store: Stores, ids: readonly string[], by: string): Promise<string[]> {
  if (ids.length === 0) return [];
  // A compare-and-set: of two announcers (a sender typing it, a turn boundary), one marks each mail.
  const changes = await store.addLabels(ids, [NOTIFIED_LABEL], by);
  return changes.filter((c) => c.status === 'added').map((c) => c.issue_id);
}

/** Takes the mark back (the announcement did not go through): the turn boundary announces it after all. */
export async function unmarkAnnounced(store: Stores, ids: readonly string[], by: string): Promise<void> {
  if (ids.length > 0) await store.removeLabels(ids, [NOTIFIED_LABEL], by);
}

export function formatMailNotice(mail: readonly Mail[]): string {
  return [
    '<system-reminder>',
    `You have ${mail.length} new message(s):`,
    ...mail.map(
      (m) => `  ${m.id} from ${senderLabel(m)}: ${m.subject}${m.priority === 'normal' ? '' : ` [${m.priority}]`}`,
    ),
    'Read one with `gt mail read <id>`; answer with `gt mail reply <id> -m "<text>"`.',
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
