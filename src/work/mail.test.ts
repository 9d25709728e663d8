import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../core/errors.js';
import type { AgentIdentity } from '../core/identity.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../store/sqlite-bead-store.js';
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
  sendMail,
  sendMailOnce,
  sendMessage,
  threadOf,
  turnBoundaryNotice,
} from './mail.js';

/** Mail over an in-memory store: addresses, groups, copies, threads, references. */

const stores: SqliteBeadStore[] = [];

/**
 * Mail sent a moment apart: the inbox lists by sending time (milliseconds), and two sent within one
 * millisecond are in id order, which is stable but not the order they were sent in.
 */
async function sendApart(...args: Parameters<typeof sendMail>): ReturnType<typeof sendMail> {
  const m = await sendMail(...args);
  await new Promise((r) => setTimeout(r, 2));
  return m;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.dispose();
});

const AGENTS: [AgentIdentity, string][] = [
  [{ role: 'mayor' }, 'hq-mayor'],
  [{ role: 'deacon' }, 'hq-deacon'],
  [{ role: 'witness', rig: 'gastown' }, 'ga-witness'],
  [{ role: 'refinery', rig: 'gastown' }, 'ga-refinery'],
  [{ role: 'polecat', rig: 'gastown', name: 'toast' }, 'ga-toast'],
  [{ role: 'polecat', rig: 'gastown', name: 'nux' }, 'ga-nux'],
  [{ role: 'witness', rig: 'beads' }, 'be-witness'],
];

async function town(): Promise<SqliteBeadStore> {
  const store = openSqliteBeadStore(':memory:');
  stores.push(store);
  for (const [identity, session_name] of AGENTS)
    await store.registerAgent({ identity, session_name, sandbox_path: `/town/${session_name}` }, 'test');
  return store;
}

describe('mail to the overseer and from it', () => {
  it('the overseer has an inbox without being an agent; a name with spaces is its display name', async () => {
    const s = await town();
    const m = await sendApart(s, { from: 'overseer', fromName: 'Ada Lovelace', to: 'mayor', subject: 'Add /health' });
    expect(m).toMatchObject({
      from: 'overseer',
      from_name: 'Ada Lovelace',
      to: 'mayor',
      cc: [],
      priority: 'normal',
      thread_id: m.id,
      reply_to: null,
      read: false,
      archived: false,
      recipient: 'mayor',
    });
    await sendApart(s, { from: 'gastown/polecats/toast', to: 'overseer', subject: 'Which port?' });
    expect((await inbox(s, 'overseer')).map((x) => [x.from, x.subject])).toEqual([
      ['gastown/polecats/toast', 'Which port?'],
    ]);
    // A sender is one address; the person's name travels beside it.
    await expect(sendMail(s, { from: 'Ada Lovelace', to: 'mayor', subject: 'x' })).rejects.toThrow(
      /invalid sender "Ada Lovelace"/,
    );
  });

  it.each([
    // flag, asking agent, actor → from, from_name
    [undefined, null, 'Ada Lovelace', 'overseer', 'Ada Lovelace'],
    ['Grace Hopper', null, 'Ada Lovelace', 'overseer', 'Grace Hopper'],
    ['overseer', null, 'Ada Lovelace', 'overseer', 'Ada Lovelace'],
    ['mayor', null, 'Ada Lovelace', 'mayor', null],
    [undefined, 'gastown/witness', 'gastown/witness', 'gastown/witness', null],
    [undefined, null, 'gastown/witness', 'gastown/witness', null],
    [undefined, null, 'gastown/polecats/gone', 'overseer', null],
    [undefined, null, 'overseer', 'overseer', null],
  ] as const)('--from %s, asked by %s as %s: from %s (%s)', async (flag, agent, actor, from, fromName) => {
    const s = await town();
    const asking = agent === null ? { address: 'overseer', agent: null } : { address: agent, agent: {} };
    expect(await resolveSender(s, { ...(flag !== undefined ? { flag } : {}), asking, actor })).toEqual({
      from,
      fromName,
    });
  });

  it('refuses a --from that names an agent that does not exist, or a group', async () => {
    const s = await town();
    const asking = { address: 'overseer', agent: null };
    await expect(resolveSender(s, { flag: 'gastown/polecats/gone', asking, actor: 'x' })).rejects.toThrow(
      NotFoundError,
    );
    await expect(resolveSender(s, { flag: '@town', asking, actor: 'x' })).rejects.toThrow(ValidationError);
  });
});

describe('recipients', () => {
  it('groups expand to their members, one copy each, in one thread; cc copies too; nobody twice', async () => {
    const s = await town();
    const sent = await sendMessage(s, {
      from: 'overseer',
      to: '@polecats/gastown',
      cc: ['gastown/witness', 'gastown/polecats/toast', '@overseer'],
      subject: 'Freeze',
    });
    // Members in the order of their addresses.
    expect(sent.map((m) => m.recipient)).toEqual([
      'gastown/polecats/nux',
      'gastown/polecats/toast',
      'gastown/witness',
      'overseer',
    ]);
    const first = sent[0]?.id ?? '';
    expect(new Set(sent.map((m) => m.thread_id))).toEqual(new Set([first]));
    expect(sent.every((m) => m.to === '@polecats/gastown')).toBe(true);
    expect(sent[2]?.cc).toEqual(['gastown/witness', 'gastown/polecats/toast', '@overseer']);
    expect((await inbox(s, 'gastown/witness')).map((m) => m.subject)).toEqual(['Freeze']);
    // The thread shows the message once.
    expect((await threadOf(s, sent[1]?.id ?? '')).map((m) => m.subject)).toEqual(['Freeze']);
  });

  it.each([
    ['@witnesses', ['gastown/witness', 'beads/witness']],
    ['@rig/gastown', ['gastown/witness', 'gastown/refinery', 'gastown/polecats/toast', 'gastown/polecats/nux']],
    ['@town', AGENTS.length],
    ['@overseer', ['overseer']],
  ] as const)('%s reaches %j', async (to, expected) => {
    const s = await town();
    const got = (await sendMessage(s, { from: 'mayor', to, subject: 'hello' })).map((m) => m.recipient);
    if (typeof expected === 'number') expect(got).toHaveLength(expected);
    else expect([...got].sort()).toEqual([...expected].sort());
  });

  it('an unknown recipient is one line saying who exists; nothing is sent', async () => {
    const s = await town();
    const err = await sendApart(s, { from: 'mayor', to: 'gastown/polecats/nobody', subject: 'x' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe(
      'no agent gastown/polecats/nobody to mail; gastown has gastown/polecats/nux, gastown/polecats/toast, gastown/refinery, gastown/witness',
    );
    expect((err as NotFoundError).hint).toMatch(/"gt agents" lists every address; overseer and the groups/);
    // A cc that does not exist stops the whole message before any copy is written.
    await expect(
      sendMessage(s, { from: 'mayor', to: 'gastown/witness', cc: ['nope/witness'], subject: 'x' }),
    ).rejects.toThrow(/no agent nope\/witness to mail/);
    expect(await inbox(s, 'gastown/witness')).toEqual([]);
    await expect(sendMail(s, { from: 'mayor', to: '@everyone', subject: 'x' })).rejects.toThrow(
      /unknown mail group "@everyone": the groups are @witnesses, @rig\/<rig>, @polecats\/<rig>, @town, @overseer/,
    );
    await expect(sendMail(s, { from: 'mayor', to: '@polecats/beads', subject: 'x' })).rejects.toThrow(
      /@polecats\/beads has no members/,
    );
  });
});

describe('threads, references and the rest', () => {
  it('a reply goes to the sender, in the thread, as Re:; the thread lists both', async () => {
    const s = await town();
    const ask = await sendApart(s, { from: 'overseer', fromName: 'Ada', to: 'mayor', subject: 'Add /health' });
    const [answer] = await replyMail(s, ask.id, { from: 'mayor', body: 'On it: convoy hq-c1.' });
    expect(answer).toMatchObject({
      to: 'overseer',
      subject: 'Re: Add /health',
      thread_id: ask.id,
      reply_to: ask.id,
      recipient: 'overseer',
    });
    const [again] = await replyMail(s, answer?.id ?? '', { from: 'overseer', body: 'thanks' });
    expect(again).toMatchObject({ to: 'mayor', subject: 'Re: Add /health', thread_id: ask.id, reply_to: answer?.id });
    expect((await threadOf(s, again?.id ?? '')).map((m) => m.id)).toEqual([ask.id, answer?.id, again?.id]);
    // Mail from a mechanism has nobody to answer.
    const note = await sendApart(s, { from: 'daemon', to: 'mayor', subject: 'restarted toast' });
    await expect(replyMail(s, note.id, { from: 'mayor', body: 'ok' })).rejects.toThrow(/there is nobody to reply to/);
  });

  it('a number is a place in the open inbox as listed; mark read and unread; archive, search, delete', async () => {
    const s = await town();
    const a = await sendApart(s, { from: 'mayor', to: 'overseer', subject: 'first', body: 'the deploy key' });
    const b = await sendApart(s, { from: 'deacon', to: 'overseer', subject: 'second', priority: 'urgent' });
    expect(b.priority).toBe('urgent');
    expect((await mailByRef(s, 'overseer', '1')).id).toBe(a.id);
    expect((await mailByRef(s, 'overseer', '2')).id).toBe(b.id);
    expect((await mailByRef(s, 'overseer', b.id)).id).toBe(b.id);
    await expect(mailByRef(s, 'overseer', '3')).rejects.toThrow('no mail number 3: the inbox of overseer has 2 (1-2)');
    await expect(mailByRef(s, 'overseer', '0')).rejects.toThrow(ValidationError);
    await expect(mailByRef(s, 'overseer', 'hq-zzz')).rejects.toThrow('no mail hq-zzz');

    expect((await readMail(s, a.id, 'overseer')).read).toBe(true);
    expect((await markRead(s, a.id, false, 'overseer')).read).toBe(false);
    expect((await inbox(s, 'overseer')).map((m) => m.read)).toEqual([false, false]);
    expect((await markRead(s, b.id, true, 'overseer')).read).toBe(true);

    await archiveMail(s, a.id, 'overseer');
    expect((await mailByRef(s, 'overseer', '1')).id).toBe(b.id); // numbers follow the open inbox
    expect((await inbox(s, 'overseer', { all: true })).map((m) => [m.id, m.archived])).toEqual([
      [b.id, false],
      [a.id, true],
    ]);
    expect((await searchMail(s, 'overseer', 'DEPLOY')).map((m) => m.id)).toEqual([a.id]);
    expect((await searchMail(s, 'overseer', 'deacon')).map((m) => m.id)).toEqual([b.id]);
    await expect(searchMail(s, 'overseer', ' ')).rejects.toThrow(ValidationError);

    expect((await deleteMail(s, a.id, 'overseer')).id).toBe(a.id);
    expect((await inbox(s, 'overseer', { all: true })).map((m) => m.id)).toEqual([b.id]);
    await expect(readMail(s, a.id, 'overseer')).rejects.toThrow(NotFoundError);
  });

  it('sendMailOnce with a fixed id sends once; the turn boundary names priority', async () => {
    const s = await town();
    const m = { from: 'refinery', to: 'gastown/witness', subject: 'landed', id: 'hq-mail-landed-1' };
    const one = await sendMailOnce(s, m);
    const two = await sendMailOnce(s, m);
    expect(two.id).toBe(one.id);
    await sendApart(s, {
      from: 'overseer',
      fromName: 'Ada',
      to: 'gastown/witness',
      subject: 'now',
      priority: 'urgent',
    });
    const notice = await turnBoundaryNotice(s, 'gastown/witness', 'prompt-submit');
    expect(notice).toContain(`${one.id} from refinery: landed\n`);
    expect(notice).toContain('from overseer (Ada): now [urgent]');
  });
});
