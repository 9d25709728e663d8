import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bd, gt, json, type RunResult } from './helpers/bd.js';
import { eventually, sessionTown } from './helpers/session-town.js';

/** Mail and handoff through the built gt, with real tmux and the sim agent. */

type Fixture = Awaited<ReturnType<typeof sessionTown>>;
const fixtures: Fixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});

type Mail = {
  id: string;
  from: string;
  from_name: string | null;
  to: string;
  cc: string[];
  subject: string;
  body: string;
  priority: string;
  thread_id: string;
  reply_to: string | null;
  read: boolean;
  archived: boolean;
  recipient: string;
};
type Sent = Mail & { announced: string; copies: { to: string; id: string; announced: string }[] };

/** A town whose person is "Ada Lovelace" (in the test's own git config, never the user's). */
async function adasTown(label: string): Promise<Fixture> {
  const f = await sessionTown(label);
  fixtures.push(f);
  writeFileSync(f.env.GIT_CONFIG_GLOBAL ?? join(f.base, 'home', '.gitconfig'), '[user]\n\tname = Ada Lovelace\n');
  return f;
}

describe('gt mail', () => {
  it('round trip: send, inbox, announced once at the next turn, read, archive', async () => {
    const f = await sessionTown('mail');
    fixtures.push(f);
    const as = (who: string, ...args: string[]): ReturnType<typeof gt> =>
      gt(args, { cwd: f.town.root, env: { ...f.env, GT_ROLE: who, BD_ACTOR: who } });
    const sent = json<Mail>(
      as(
        'mayor',
        'mail',
        'send',
        'gastown/witness',
        '-s',
        'Status?',
        '-m',
        'How are the polecats doing?\nAll of them.',
        '--json',
      ),
    );
    expect(sent).toMatchObject({ from: 'mayor', to: 'gastown/witness', subject: 'Status?', read: false });
    expect(json<Mail[]>(as('gastown/witness', 'mail', 'inbox', '--json')).map((m) => m.id)).toEqual([sent.id]);
    expect(json<Mail[]>(as('mayor', 'mail', 'inbox', '--json'))).toEqual([]);

    const first = as('gastown/witness', 'mail', 'check', '--inject');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`${sent.id} from mayor: Status?`);
    expect(as('gastown/witness', 'mail', 'check', '--inject').stdout).toBe('');
    expect(json<{ unread: number }>(as('gastown/witness', 'mail', 'check', '--json')).unread).toBe(1);

    const read = json<Mail>(as('gastown/witness', 'mail', 'read', sent.id, '--json'));
    expect(read.body).toBe('How are the polecats doing?\nAll of them.');
    expect(json<{ unread: number }>(as('gastown/witness', 'mail', 'check', '--json')).unread).toBe(0);
    as('gastown/witness', 'mail', 'archive', sent.id);
    expect(json<Mail[]>(as('gastown/witness', 'mail', 'inbox', '--json'))).toEqual([]);
    expect(json<Mail[]>(as('gastown/witness', 'mail', 'inbox', '--all', '--json')).map((m) => m.archived)).toEqual([
      true,
    ]);

    // Mail is not work: it never shows up as ready.
    expect(json<{ id: string }[]>(bd(['ready', '--json'], { cwd: f.town.root, env: f.env }))).toEqual([]);
    // Bad input: unknown recipient, no subject; a hook run outside any agent still exits 0.
    expect(as('mayor', 'mail', 'send', 'gastown/polecats/nobody', '-s', 'x').status).toBe(3);
    expect(as('mayor', 'mail', 'send', 'gastown/witness', '-s', '  ').status).toBe(2);
    expect(gt(['mail', 'check', '--inject'], { cwd: '/', env: f.env }).status).toBe(0);
  });

  it('mail to an idle agent is typed into its session at once; a busy one hears of it at its next turn', async () => {
    const f = await sessionTown('mail-sim');
    fixtures.push(f);
    f.simAgent('sim-slow', '--busy', '10000'); // long enough that the second send surely finds it busy
    f.run('session', 'start', 'gastown/polecats/toast', '--agent', 'sim-slow');
    const turns = (): number => f.trace('ga-toast').filter((t) => t.step === 'message').length;
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'no_work'), 'the first turn', 30_000);
    await eventually(
      () => json<{ pane: string }>(f.run('session', 'status', 'gastown/polecats/toast', '--json')).pane === 'idle',
      'the sim to be idle',
    );
    const send = (subject: string): Mail & { announced: string } =>
      json<Mail & { announced: string }>(
        gt(['mail', 'send', 'gastown/polecats/toast', '-s', subject, '--json'], {
          cwd: f.town.root,
          env: { ...f.env, BD_ACTOR: 'gastown/witness' },
        }),
      );
    // Idle at its prompt: told at once, who wrote and what about, without anyone prompting it.
    const first = send('Check the logs');
    expect(first.announced).toBe('typed');
    await eventually(
      () =>
        f
          .trace('ga-toast')
          .some(
            (t) =>
              t.step === 'message' &&
              (t.text ?? '').includes(`[mail from gastown/witness] ${first.id}: Check the logs`),
          ),
      'the mail to reach the idle agent',
    );
    // Busy: nothing typed into its work; its next turn's prompt hook announces the mail, once.
    await eventually(
      () => json<{ pane: string }>(f.run('session', 'status', 'gastown/polecats/toast', '--json')).pane === 'busy',
      'the sim to be busy with the mail turn',
    );
    const before = turns();
    const second = send('Busy news');
    expect(second.announced).toBe('next-turn');
    await eventually(
      () => json<{ pane: string }>(f.run('session', 'status', 'gastown/polecats/toast', '--json')).pane === 'idle',
      'the sim to finish its turn',
    );
    expect(turns()).toBe(before);
    f.run('nudge', 'gastown/polecats/toast', 'hello');
    await eventually(
      () =>
        f
          .trace('ga-toast')
          .some(
            (t) => t.step === 'hook_context' && (t.text ?? '').includes(`${second.id} from gastown/witness: Busy news`),
          ),
      'the mail notice at the next turn',
    );
    // The first was announced when it was typed: never again by the prompt hook.
    expect(f.trace('ga-toast').some((t) => t.step === 'hook_context' && (t.text ?? '').includes(first.id))).toBe(false);
    const prime = json<{ unread_mail: Mail[]; text: string }>(
      gt(['prime', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/polecats/toast' } }),
    );
    expect(prime.unread_mail.map((m) => m.id)).toEqual([first.id, second.id]);
    expect(prime.text).toContain('## Mail (2 unread)');
  }, 90_000);
});

describe('the overseer', () => {
  it('sends from the town root under its git name, has an inbox there, gets agent mail, replies in a thread; cc and groups deliver; gt status shows it', async () => {
    const f = await adasTown('mail-overseer');
    const me = (...args: string[]): RunResult => gt(args, { cwd: f.town.root, env: f.env });
    const as = (who: string, ...args: string[]): RunResult =>
      gt(args, { cwd: f.town.root, env: { ...f.env, GT_ROLE: who } });
    const ok = (r: RunResult): RunResult => {
      expect(r.status, r.stderr).toBe(0);
      return r;
    };

    // From the town root, outside any sandbox and without GT_ROLE: the overseer, named by git user.name.
    const ask = json<Sent>(
      ok(me('mail', 'send', 'mayor', '-s', 'Add a /health endpoint', '-m', 'By Friday.', '--json')),
    );
    expect(ask).toMatchObject({ from: 'overseer', from_name: 'Ada Lovelace', to: 'mayor', thread_id: ask.id });
    expect(json<Mail[]>(as('mayor', 'mail', 'inbox', '--json')).map((m) => [m.id, m.from_name])).toEqual([
      [ask.id, 'Ada Lovelace'],
    ]);

    // An agent mails the overseer; it is in the overseer's inbox at the town root, numbered.
    const q = json<Sent>(
      ok(
        as('gastown/polecats/toast', 'mail', 'send', 'overseer', '-s', 'Which port?', '-m', '8080 or 9090?', '--json'),
      ),
    );
    expect(q).toMatchObject({ from: 'gastown/polecats/toast', to: 'overseer', announced: 'inbox' });
    expect(json<Mail[]>(me('mail', 'inbox', '--json')).map((m) => m.id)).toEqual([q.id]);
    expect(me('mail', 'inbox').stdout).toMatch(
      new RegExp(`^\\*  1  ${q.id}  gastown/polecats/toast\\s+Which port\\?\\n$`),
    );
    // gt status shows the overseer's unread mail near its top, and in --json.
    const status = ok(me('status')).stdout.split('\n');
    expect(status[1]).toBe(
      `Mail for you (overseer): 1 unread · newest: ${q.id} "Which port?" from gastown/polecats/toast · gt mail inbox`,
    );
    expect(
      json<{ overseer_mail: { unread: number; newest: { id: string }[] } }>(me('status', '--json')).overseer_mail,
    ).toMatchObject({ unread: 1, newest: [{ id: q.id }] });

    // Read by its number, as listed; then a reply threads.
    expect(json<Mail>(ok(me('mail', 'read', '1', '--json')))).toMatchObject({
      id: q.id,
      body: '8080 or 9090?',
      read: true,
    });
    expect(ok(me('status')).stdout).not.toContain('Mail for you');
    const answer = json<Sent>(ok(me('mail', 'reply', '1', '-m', '8080.', '--json')));
    expect(answer).toMatchObject({
      from: 'overseer',
      from_name: 'Ada Lovelace',
      to: 'gastown/polecats/toast',
      subject: 'Re: Which port?',
      thread_id: q.id,
      reply_to: q.id,
    });
    const back = json<Sent>(ok(as('gastown/polecats/toast', 'mail', 'reply', answer.id, '-m', 'Thanks.', '--json')));
    expect(back).toMatchObject({ to: 'overseer', thread_id: q.id, reply_to: answer.id });
    expect(json<Mail[]>(ok(me('mail', 'thread', back.id, '--json'))).map((m) => m.id)).toEqual([
      q.id,
      answer.id,
      back.id,
    ]);

    // cc and groups: one copy per inbox, all in one thread; --from sets the person's name.
    const broadcast = json<Sent>(
      ok(
        me(
          'mail',
          'send',
          '@witnesses',
          '-s',
          'Freeze merges',
          '--cc',
          'mayor,@polecats/gastown',
          '--from',
          'Grace Hopper',
          '--json',
        ),
      ),
    );
    expect(broadcast.copies.map((c) => c.to)).toEqual(['gastown/witness', 'mayor', 'gastown/polecats/toast']);
    expect(broadcast.from_name).toBe('Grace Hopper');
    for (const who of ['gastown/witness', 'mayor', 'gastown/polecats/toast']) {
      const got = json<Mail[]>(as(who, 'mail', 'inbox', '--json')).filter((m) => m.subject === 'Freeze merges');
      expect(
        got.map((m) => [m.thread_id, m.to, m.cc]),
        who,
      ).toEqual([[broadcast.id, '@witnesses', ['mayor', '@polecats/gastown']]]);
    }
    // In an agent's sandbox without GT_ROLE, the inbox is the agent's.
    const sandbox = join(f.town.root, 'gastown', 'polecats', 'toast');
    const inSandbox = json<Mail[]>(gt(['mail', 'inbox', '--json'], { cwd: sandbox, env: f.env }));
    expect(inSandbox.map((m) => m.recipient)).toEqual(inSandbox.map(() => 'gastown/polecats/toast'));
    expect(inSandbox.length).toBeGreaterThan(0);

    // mark-unread, search, delete.
    expect(json<Mail>(ok(me('mail', 'mark-unread', q.id, '--json'))).read).toBe(false);
    expect(json<Mail[]>(me('mail', 'search', 'THANKS', '--json')).map((m) => m.id)).toEqual([back.id]);
    ok(me('mail', 'delete', back.id));
    expect(json<Mail[]>(me('mail', 'inbox', '--all', '--json')).map((m) => m.id)).toEqual([q.id]);

    // Escalations reach the overseer: high is routed to its inbox as well as the mayor's.
    const esc = json<{ id: string; routes: { route: string; ok: boolean }[] }>(
      ok(as('gastown/witness', 'escalate', 'disk full on the runner', '-s', 'high', '--json')),
    );
    expect(esc.routes.map((r) => [r.route, r.ok])).toEqual([
      ['bead', true],
      ['mail:mayor', true],
      ['mail:overseer', true],
    ]);
    expect(json<Mail[]>(me('mail', 'inbox', '--json')).map((m) => m.subject)).toContain(
      `Escalation ${esc.id} (high): disk full on the runner`,
    );

    // Bad input: one line each, saying who exists or what to do.
    const nobody = me('mail', 'send', 'gastown/polecats/nobody', '-s', 'x');
    expect(nobody.status).toBe(3);
    expect(nobody.stderr).toContain('no agent gastown/polecats/nobody to mail; gastown has ');
    expect(me('mail', 'send', '@everyone', '-s', 'x').status).toBe(2);
    expect(me('mail', 'read', '9').stderr).toContain('no mail number 9: the inbox of overseer has');
    expect(me('mail', 'send', 'mayor', '-s', 'x', '--priority', 'asap').status).toBe(2);
    // An agent that is not there cannot be asked for: GT_ROLE names no agent.
    expect(as('gastown/polecats/ghost', 'mail', 'inbox').status).toBe(3);
  }, 90_000);

  it('urgent mail is typed into an idle session at once, and handed to a busy one when its turn ends', async () => {
    const f = await adasTown('mail-urgent');
    f.simAgent('sim-slow', '--busy', '10000'); // long enough that the second send surely finds it busy
    f.run('session', 'start', 'gastown/polecats/toast', '--agent', 'sim-slow');
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'no_work'), 'the first turn', 30_000);
    const pane = (): string =>
      json<{ pane: string }>(f.run('session', 'status', 'gastown/polecats/toast', '--json')).pane;
    await eventually(() => pane() === 'idle', 'the sim to be idle');
    const send = (subject: string): Sent =>
      json<Sent>(
        gt(['mail', 'send', 'gastown/polecats/toast', '-s', subject, '--urgent', '--json'], {
          cwd: f.town.root,
          env: f.env,
        }),
      );
    const first = send('Stop merging');
    expect(first).toMatchObject({ priority: 'urgent', announced: 'typed' });
    await eventually(
      () =>
        f
          .trace('ga-toast')
          .some(
            (t) =>
              t.step === 'message' &&
              (t.text ?? '').includes(`[urgent mail from overseer (Ada Lovelace)] ${first.id}: Stop merging`),
          ),
      'the urgent mail typed into the idle agent',
    );
    await eventually(() => pane() === 'busy', 'the sim to be busy with it');
    const second = send('Also the docs');
    expect(second.announced).toBe('queued');
    await eventually(
      () =>
        f
          .trace('ga-toast')
          .some(
            (t) =>
              t.step === 'hook_context' &&
              t.event === 'stop' &&
              (t.text ?? '').includes(`urgent mail ${second.id} from overseer (Ada Lovelace): Also the docs`),
          ),
      'the stop hook to hand the urgent mail over',
    );
  }, 90_000);
});

describe('gt handoff', () => {
  it('leaves a note, restarts the session in place, and the successor is primed with the note', async () => {
    const f = await sessionTown('handoff');
    fixtures.push(f);
    f.run('session', 'start', 'gastown/witness');
    await eventually(() => f.trace('ga-witness').some((t) => t.step === 'patrol_scan'), 'the first turn');
    const s = f.store();
    const before = (await s.openSession('gastown/witness'))?.session_id;
    const r = gt(
      ['handoff', '-s', 'Context full', '-m', 'toast is stuck on the flaky test; nudge it at 10:00', '--json'],
      {
        cwd: f.town.root,
        env: { ...f.env, GT_ROLE: 'gastown/witness', BD_ACTOR: 'gastown/witness' },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    await eventually(
      async () => {
        const open = await s.openSession('gastown/witness');
        return open !== null && open.session_id !== before;
      },
      'the new session',
      30_000,
    );
    const chain = await s.sessions('gastown/witness');
    expect(chain[1]).toMatchObject({ session_id: before, end_reason: 'handoff' });
    await eventually(
      () => f.trace('ga-witness').filter((t) => t.step === 'prime').length === 2,
      'the successor to prime',
    );
    const primes = f.trace('ga-witness').filter((t) => t.step === 'message');
    expect(primes.at(-1)?.text).toMatch(/^\[GAS TOWN\] witness \(rig: gastown\) <- gastown\/witness • .* • handoff/);
    // The note went to the successor's prime once and is read now.
    const mail = json<Mail[]>(
      gt(['mail', 'inbox', '--all', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/witness' } }),
    );
    expect(mail.map((m) => [m.subject, m.read])).toEqual([['Context full', true]]);
  }, 60_000);
});
