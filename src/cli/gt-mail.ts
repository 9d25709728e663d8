import type { Command } from 'commander';
import { errorMessage, UsageError } from '../core/errors.js';
import { MAIL_GROUP_FORMS, OVERSEER } from '../core/identity.js';
import { MAIL_PRIORITIES, parseMailPriority, splitRecipients, type MailPriority } from '../core/mail.js';
import {
  archiveMail,
  deleteMail,
  inbox,
  mailByRef,
  markRead,
  readMail,
  replyMail,
  resolveSender,
  searchMail,
  senderLabel,
  sendMessage,
  threadOf,
  turnBoundaryNotice,
  type Mail,
} from '../work/mail.js';
import { announceAll, type Announcement } from '../work/mail-notify.js';
import { whoAmI, whoAsks } from '../work/prime.js';
import type { TownContext } from '../work/sessions.js';
import type { TownStore } from '../core/town-store.js';
import { collect, globals } from './bd/context.js';
import { withTown } from './gt-agents.js';
import { oneLine, printJson, sanitize, type Io } from './io.js';

type Opts = Record<string, unknown>;
type Ctx = TownContext & { store: TownStore };

const PRIORITY_HELP = `${MAIL_PRIORITIES.join(' | ')} (default normal)`;

/** --priority and --urgent as one priority (they must not disagree). */
function priorityOf(o: Opts): MailPriority | undefined {
  const given = typeof o.priority === 'string' ? parseMailPriority(o.priority) : undefined;
  if (o.urgent === true && given !== undefined && given !== 'urgent')
    throw new UsageError(`--urgent and --priority ${given} disagree`, { hint: 'give one of them' });
  return o.urgent === true ? 'urgent' : given;
}

function bodyOf(io: Io, o: Opts): string {
  if (o.stdin === true && typeof o.message === 'string')
    throw new UsageError('give the body with -m or --stdin, not both');
  return o.stdin === true ? io.readStdin() : typeof o.message === 'string' ? o.message : '';
}

/** --cc, given once or more, each a comma list. */
function ccOf(o: Opts): string[] {
  return splitRecipients(Array.isArray(o.cc) ? o.cc.filter((c): c is string => typeof c === 'string') : []);
}

const tag = (m: Mail): string => (m.priority === 'normal' ? '' : ` [${m.priority}]`);

/** One line of an inbox listing: unread mark, its number (open mail only), id, sender, subject. */
function inboxLine(m: Mail, n: number | null): string {
  const num = n === null ? '  -' : String(n).padStart(3);
  return `${m.read ? ' ' : '*'}${num}  ${m.id}  ${oneLine(senderLabel(m)).padEnd(24)} ${oneLine(m.subject)}${tag(m)}${m.archived ? ' (archived)' : ''}\n`;
}

function renderMail(m: Mail): string {
  return [
    `From: ${sanitize(senderLabel(m))}`,
    `To: ${m.to}${m.recipient !== m.to ? ` (this copy: ${m.recipient})` : ''}`,
    ...(m.cc.length > 0 ? [`Cc: ${m.cc.join(', ')}`] : []),
    `Date: ${m.sent_at}`,
    ...(m.priority !== 'normal' ? [`Priority: ${m.priority}`] : []),
    ...(m.reply_to !== null ? [`In reply to: ${m.reply_to} (thread ${m.thread_id}: gt mail thread ${m.id})`] : []),
    `Subject: ${oneLine(m.subject)}`,
    '',
    sanitize(m.body),
    '',
  ].join('\n');
}

function sentLine(first: Mail, copies: readonly { to: string; id: string; announced: Announcement }[]): string {
  const how = (a: Announcement): string =>
    a === 'typed'
      ? 'it was idle: told at once'
      : a === 'queued'
        ? 'busy: told when its turn ends'
        : a === 'inbox'
          ? 'in your inbox: gt mail inbox'
          : 'announced at its next turn';
  if (copies.length === 1 && copies[0] !== undefined)
    return `✓ Sent ${first.id} to ${copies[0].to} (${copies[0].announced === 'inbox' ? 'waits in the inbox' : how(copies[0].announced)})\n`;
  return `✓ Sent "${sanitize(first.subject)}" to ${copies.length} inboxes (thread ${first.thread_id}):\n${copies
    .map((c) => `  ${c.id} ${c.to} (${c.announced === 'inbox' ? 'waits in the inbox' : how(c.announced)})\n`)
    .join('')}`;
}

/** Sends and announces; prints the first copy with what became of each. */
async function deliver(io: Io, cmd: Command, ctx: Ctx, send: () => Promise<Mail[]>): Promise<void> {
  const sent = await send();
  const first = sent[0];
  if (first === undefined) return;
  // An idle recipient is told at once; a busy one at its next turn (urgent: when its turn ends).
  const copies = await announceAll(ctx, sent);
  if (globals(cmd).json) printJson(io, { ...first, announced: copies[0]?.announced ?? 'next-turn', copies });
  else io.out(sentLine(first, copies));
}

async function sender(io: Io, ctx: Ctx, o: Opts): Promise<{ from: string; fromName: string | null }> {
  return resolveSender(ctx.store, {
    ...(typeof o.from === 'string' ? { flag: o.from } : {}),
    asking: await whoAsks(ctx.store, io.env, io.cwd),
    actor: ctx.actor,
  });
}

/** `gt mail …`: mail between agents and the overseer. */
export function registerMailCommands(program: Command, io: Io): void {
  const mail = program
    .command('mail')
    .description(
      `messages between agents and the overseer (you, at the town root): beads of type message in the town store. Addresses: agents, ${OVERSEER}, groups ${MAIL_GROUP_FORMS.join(', ')}`,
    );
  /** Runs `fn` for whoever asks: the agent (GT_ROLE or its sandbox), else the overseer. */
  const asMe = (cmd: Command, fn: (ctx: Ctx, me: string) => Promise<void>): Promise<void> =>
    withTown(io, cmd, async (ctx) => fn(ctx, (await whoAsks(ctx.store, io.env, io.cwd)).address));
  const json = (cmd: Command): boolean => globals(cmd).json === true;

  mail
    .command('send')
    .description(`send mail to an agent, ${OVERSEER}, or a group (one copy each, one thread)`)
    .argument('<address>', `an agent, ${OVERSEER}, or ${MAIL_GROUP_FORMS.join(', ')}`)
    .requiredOption('-s, --subject <subject>')
    .option('-m, --message <body>', 'the body')
    .option('--stdin', 'read the body from standard input')
    .option('--cc <addresses>', 'copies to these too (comma-separated, repeatable; groups too)', collect)
    .option('--priority <priority>', PRIORITY_HELP)
    .option('--urgent', 'priority urgent: a busy agent is told when its current turn ends')
    .option('--from <address-or-name>', `the sender: an address, or your name as ${OVERSEER}`)
    .action((address: string, o: Opts, cmd: Command) =>
      withTown(io, cmd, async (ctx) => {
        const body = bodyOf(io, o);
        const priority = priorityOf(o);
        const from = await sender(io, ctx, o);
        await deliver(io, cmd, ctx, () =>
          sendMessage(ctx.store, {
            ...from,
            to: address,
            subject: String(o.subject),
            body,
            cc: ccOf(o),
            ...(priority !== undefined ? { priority } : {}),
          }),
        );
      }),
    );
  mail
    .command('reply')
    .description('answer a message: to its sender, in its thread ("Re: <subject>" unless -s)')
    .argument('<mail>', 'its id, or its number in "gt mail inbox"')
    .option('-m, --message <body>', 'the body')
    .option('--stdin', 'read the body from standard input')
    .option('-s, --subject <subject>', 'instead of "Re: <subject>"')
    .option('--cc <addresses>', 'copies to these too (comma-separated, repeatable; groups too)', collect)
    .option('--priority <priority>', PRIORITY_HELP)
    .option('--urgent', 'priority urgent')
    .option('--from <address-or-name>', `the sender: an address, or your name as ${OVERSEER}`)
    .action((ref: string, o: Opts, cmd: Command) =>
      asMe(cmd, async (ctx, me) => {
        const body = bodyOf(io, o);
        if (body.trim() === '')
          throw new UsageError('a reply needs a body', { hint: `gt mail reply ${ref} -m "<text>" (or --stdin)` });
        const priority = priorityOf(o);
        const original = await mailByRef(ctx.store, me, ref);
        const from = await sender(io, ctx, o);
        await deliver(io, cmd, ctx, () =>
          replyMail(ctx.store, original.id, {
            ...from,
            body,
            cc: ccOf(o),
            ...(typeof o.subject === 'string' ? { subject: o.subject } : {}),
            ...(priority !== undefined ? { priority } : {}),
          }),
        );
      }),
    );
  mail
    .command('inbox')
    .description(
      `your open mail, oldest first and numbered ("gt mail read 1" reads the first); at the town root, outside any sandbox, the ${OVERSEER}'s`,
    )
    .option('--all', 'archived too (after the open mail, unnumbered)')
    .option('--unread', 'unread only')
    .action((o: Opts, cmd: Command) =>
      asMe(cmd, async (ctx, me) => {
        const all = await inbox(ctx.store, me, { all: o.all === true });
        const list = o.unread === true ? all.filter((m) => !m.read) : all;
        if (json(cmd)) printJson(io, list);
        else if (list.length === 0) io.out(`No ${o.unread === true ? 'unread ' : ''}mail for ${me}.\n`);
        else {
          // Numbers are places in the open inbox, whatever is shown.
          const place = new Map(all.filter((m) => !m.archived).map((m, i) => [m.id, i + 1]));
          io.out(list.map((m) => inboxLine(m, place.get(m.id) ?? null)).join(''));
        }
      }),
    );
  mail
    .command('read')
    .description('show a message and mark it read')
    .argument('<mail>', 'its id, or its number in "gt mail inbox"')
    .action((ref: string, _o: Opts, cmd: Command) =>
      asMe(cmd, async (ctx, me) => {
        const m = await readMail(ctx.store, (await mailByRef(ctx.store, me, ref)).id, me);
        if (json(cmd)) printJson(io, m);
        else io.out(renderMail(m));
      }),
    );
  for (const [name, read] of [
    ['mark-read', true],
    ['mark-unread', false],
  ] as const)
    mail
      .command(name)
      .description(`mark a message ${read ? 'read' : 'unread'} without showing it`)
      .argument('<mail>', 'its id, or its number in "gt mail inbox"')
      .action((ref: string, _o: Opts, cmd: Command) =>
        asMe(cmd, async (ctx, me) => {
          const m = await markRead(ctx.store, (await mailByRef(ctx.store, me, ref)).id, read, me);
          if (json(cmd)) printJson(io, m);
          else io.out(`✓ ${m.id} marked ${read ? 'read' : 'unread'}\n`);
        }),
      );
  mail
    .command('thread')
    .description('the conversation a message is in, oldest first')
    .argument('<mail>', 'its id, or its number in "gt mail inbox"')
    .action((ref: string, _o: Opts, cmd: Command) =>
      asMe(cmd, async (ctx, me) => {
        const list = await threadOf(ctx.store, (await mailByRef(ctx.store, me, ref)).id, me);
        if (json(cmd)) printJson(io, list);
        else
          io.out(
            `Thread ${list[0]?.thread_id ?? ''} (${list.length} message(s))\n${list
              .map(
                (m) =>
                  `\n${m.id}  ${m.sent_at}  ${oneLine(senderLabel(m))} → ${m.to}${m.cc.length > 0 ? `, cc ${m.cc.join(', ')}` : ''}${tag(m)}\n  ${oneLine(m.subject)}\n${m.body.trim() === '' ? '' : `${sanitize(m.body.trim()).replace(/^/gmu, '    ')}\n`}`,
              )
              .join('')}`,
          );
      }),
    );
  mail
    .command('search')
    .description('your mail (archived too) whose subject, body or sender holds the text, case aside')
    .argument('<text>')
    .action((query: string, _o: Opts, cmd: Command) =>
      asMe(cmd, async (ctx, me) => {
        const list = await searchMail(ctx.store, me, query);
        if (json(cmd)) printJson(io, list);
        else if (list.length === 0) io.out(`No mail for ${me} mentions "${sanitize(query)}".\n`);
        else io.out(list.map((m) => inboxLine(m, null)).join(''));
      }),
    );
  mail
    .command('archive')
    .description('archive a message (closes its bead; "gt mail inbox --all" still shows it)')
    .argument('<mail>', 'its id, or its number in "gt mail inbox"')
    .action((ref: string, _o: Opts, cmd: Command) =>
      asMe(cmd, async (ctx, me) => {
        const m = await archiveMail(ctx.store, (await mailByRef(ctx.store, me, ref)).id, me);
        if (json(cmd)) printJson(io, m);
        else io.out(`✓ Archived ${m.id}\n`);
      }),
    );
  mail
    .command('delete')
    .description('remove a message from the store for good (archive keeps it)')
    .argument('<mail>', 'its id, or its number in "gt mail inbox"')
    .action((ref: string, _o: Opts, cmd: Command) =>
      asMe(cmd, async (ctx, me) => {
        const m = await deleteMail(ctx.store, (await mailByRef(ctx.store, me, ref)).id, me);
        if (json(cmd)) printJson(io, { ...m, deleted: true });
        else io.out(`✓ Deleted ${m.id} (${oneLine(m.subject)})\n`);
      }),
    );
  mail
    .command('check')
    .description(
      'unread mail; with --inject, what the prompt-submit hook shows the agent (queued nudges, new mail) — never fails',
    )
    .option('--inject', 'format for the agent, announce each message once, take queued nudges')
    .action(async (o: Opts, cmd: Command) => {
      if (o.inject === true) {
        if (!io.stdinIsTTY) io.readStdin(); // the hook's JSON: nothing in it is needed
        try {
          await withTown(io, cmd, async (ctx) => {
            const me = await whoAmI(ctx.store, io.env, io.cwd);
            const text = await turnBoundaryNotice(ctx.store, me.address, 'prompt-submit');
            if (text !== '') io.out(`${text}\n`);
          });
        } catch (err) {
          io.err(`gt mail check: ${errorMessage(err)}\n`);
        }
        return;
      }
      await asMe(cmd, async (ctx, me) => {
        const unread = (await inbox(ctx.store, me)).filter((m) => !m.read);
        if (json(cmd)) printJson(io, { agent: me, unread: unread.length });
        else io.out(`${unread.length} unread\n`);
      });
    });
}
