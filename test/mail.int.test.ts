import { afterEach, describe, expect, it } from 'vitest';
import { bd, gt, json } from './helpers/bd.js';
import { eventually, sessionTown } from './helpers/session-town.js';

/** Mail and handoff through the built gt, with real tmux and the sim agent. */

type Fixture = Awaited<ReturnType<typeof sessionTown>>;
const fixtures: Fixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});

type Mail = { id: string; from: string; to: string; subject: string; body: string; read: boolean; archived: boolean };

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
    f.simAgent('sim-slow', '--busy', '3000');
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
