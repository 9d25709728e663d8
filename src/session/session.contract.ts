import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/errors.js';
import { SessionExistsError, SessionNotFoundError, type SessionProvider } from './provider.js';

/**
 * What every SessionProvider must do. `make` gives a provider with no sessions, a working directory, a way to
 * make a session's program exit while the session stays, and a cleanup that removes everything it started.
 */
export type SessionFactory = () => Promise<{
  provider: SessionProvider;
  cwd: string;
  exitProgram: (name: string) => Promise<void>;
  cleanup: () => Promise<void>;
}>;

/** Polls until `check` holds (terminal output and process state settle asynchronously). */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function runSessionContract(label: string, make: SessionFactory): void {
  const withProvider = async (fn: (f: Awaited<ReturnType<SessionFactory>>) => Promise<void>): Promise<void> => {
    const f = await make();
    try {
      await fn(f);
    } finally {
      await f.cleanup();
    }
  };

  describe(`${label} satisfies SessionProvider`, () => {
    it('starts, lists and stops sessions; stop is idempotent; duplicates are refused', () =>
      withProvider(async ({ provider: p, cwd }) => {
        await p.start({ name: 'gt-toast', argv: ['cat'], cwd, env: {} });
        await p.start({ name: 'gt', argv: ['cat'], cwd, env: {} });
        expect(await p.list()).toEqual(['gt', 'gt-toast']);
        expect(await p.isAlive('gt-toast')).toBe(true);
        await expect(p.start({ name: 'gt-toast', argv: ['cat'], cwd, env: {} })).rejects.toThrow(SessionExistsError);
        await p.stop('gt');
        expect(await p.isAlive('gt')).toBe(false);
        // Exact names: stopping "gt" never touched "gt-toast".
        expect(await p.isAlive('gt-toast')).toBe(true);
        await p.stop('gt');
        await p.stop('never-existed');
        expect(await p.list()).toEqual(['gt-toast']);
      }));

    it('types text literally, whatever it contains', () =>
      withProvider(async ({ provider: p, cwd }) => {
        await p.start({ name: 'echo', argv: ['cat'], cwd, env: {} });
        const text = `-x $(touch pwned) ; echo 'q' "d" \`b\` C-c Enter ${'long '.repeat(80)}end`;
        await p.sendText('echo', text);
        await p.sendKeys('echo', ['Enter']);
        await eventually(
          async () => (await p.capture('echo', 50)).replace(/\n/g, '').includes(text),
          'the text in the pane',
        );
      }));

    it('tells a live agent from a dead one while the session stays', () =>
      withProvider(async ({ provider: p, cwd, exitProgram }) => {
        await p.start({ name: 'agent', argv: ['cat'], cwd, env: {} });
        await eventually(async () => (await p.agentLiveness('agent', ['cat'])) === 'alive', 'cat to run');
        expect(await p.agentLiveness('agent', ['claude'])).toBe('dead');
        const [before] = await p.panes();
        expect(before).toMatchObject({ session: 'agent', dead: false });
        await exitProgram('agent');
        await eventually(async () => (await p.agentLiveness('agent', ['cat'])) === 'dead', 'cat to exit');
        expect(await p.panes()).toEqual([{ session: 'agent', pane: before?.pane, dead: true }]);
        expect(await p.programPid('agent')).toBeUndefined();
        expect(await p.isAlive('agent')).toBe(true);
        // A session started again under the same name has a new pane: a watcher never mistakes it for the old one.
        await p.stop('agent');
        await p.start({ name: 'agent', argv: ['cat'], cwd, env: {} });
        const [after] = await p.panes();
        expect(after).toMatchObject({ session: 'agent', dead: false });
        expect(after?.pane).not.toBe(before?.pane);
        expect(await p.agentLiveness('nobody', ['cat'])).toBe('dead');
        // Many at one look: the same answers.
        await p.start({ name: 'other', argv: ['cat'], cwd, env: {} });
        await eventually(async () => (await p.agentLiveness('other', ['cat'])) === 'alive', 'the other cat to run');
        await exitProgram('agent');
        await eventually(async () => (await p.agentLiveness('agent', ['cat'])) === 'dead', 'cat to exit again');
        const survey = await p.survey(
          new Map([
            ['agent', ['cat']],
            ['other', ['cat']],
            ['nobody', ['cat']],
          ]),
        );
        expect([...survey.keys()].sort()).toEqual(['agent', 'other']);
        expect(survey.get('agent')?.liveness).toBe('dead');
        expect(survey.get('other')?.liveness).toBe('alive');
        expect((await p.survey(new Map([['other', ['claude']]]))).get('other')?.liveness).toBe('dead');
        expect(survey.get('other')?.activityMs).toBeGreaterThan(Date.now() - 60_000);
      }));

    it('wakes a waiter when a program exits or a session closes, and keeps a change nobody waited for', () =>
      withProvider(async ({ provider: p, cwd, exitProgram }) => {
        await p.start({ name: 'w1', argv: ['cat'], cwd, env: {} });
        await p.start({ name: 'w2', argv: ['cat'], cwd, env: {} });
        await p.waitForChange(300); // news from before (a provider's first wait may report some)
        expect(await p.waitForChange(300)).toBe('timeout'); // starting sessions is no news
        const waiting = p.waitForChange(10_000);
        await exitProgram('w1');
        expect(await waiting).toBe('changed');
        await p.stop('w2'); // nobody is waiting now: the change is kept
        await new Promise((r) => setTimeout(r, 200));
        expect(await p.waitForChange(10_000)).toBe('changed');
        // Once reality is quiet, so is the wait (a change may be reported twice, never endlessly).
        const after: string[] = [];
        for (let i = 0; i < 3 && after.at(-1) !== 'timeout'; i++) after.push(await p.waitForChange(300));
        expect(after.at(-1)).toBe('timeout');
        expect(after.length).toBeLessThanOrEqual(2);
        const abort = new AbortController();
        const aborted = p.waitForChange(60_000, abort.signal);
        abort.abort();
        expect(await aborted).toBe('timeout');
      }));

    it('wakes a waiter when told to (news the sessions do not show), and keeps it when nobody waits', () =>
      withProvider(async ({ provider: p, cwd }) => {
        await p.start({ name: 's1', argv: ['cat'], cwd, env: {} });
        await p.waitForChange(300); // news from before
        expect(await p.waitForChange(300)).toBe('timeout');
        const waiting = p.waitForChange(10_000);
        await new Promise((r) => setTimeout(r, 100));
        await p.signalChange();
        expect(await waiting).toBe('changed');
        await p.signalChange(); // nobody waits: kept
        expect(await p.waitForChange(10_000)).toBe('changed');
        expect(await p.waitForChange(300)).toBe('timeout');
        await p.stop('s1');
      }));

    it('keeps a session environment and reports activity', () =>
      withProvider(async ({ provider: p, cwd }) => {
        const before = Date.now() - 2_000;
        await p.start({ name: 'env', argv: ['cat'], cwd, env: {} });
        expect(await p.getEnv('env', 'GT_ROLE')).toBeUndefined();
        await p.setEnv('env', 'GT_ROLE', 'gastown/polecats/toast');
        expect(await p.getEnv('env', 'GT_ROLE')).toBe('gastown/polecats/toast');
        await p.sendText('env', 'x');
        expect(await p.lastActivity('env')).toBeGreaterThanOrEqual(before);
      }));

    it('refuses bad input and missing sessions clearly, starting nothing', () =>
      withProvider(async ({ provider: p, cwd }) => {
        for (const name of ['', '-t', 'a b', 'a:b', 'a.b', '../x', 'x'.repeat(100)]) {
          await expect(p.start({ name, argv: ['cat'], cwd, env: {} })).rejects.toThrow(ValidationError);
        }
        await expect(p.start({ name: 'ok', argv: [], cwd, env: {} })).rejects.toThrow(ValidationError);
        await expect(p.start({ name: 'ok', argv: ['cat'], cwd, env: { 'BAD-KEY': 'x' } })).rejects.toThrow(
          ValidationError,
        );
        expect(await p.list()).toEqual([]);
        await expect(p.capture('missing')).rejects.toThrow(SessionNotFoundError);
        await expect(p.sendText('missing', 'x')).rejects.toThrow(SessionNotFoundError);
        await expect(p.getEnv('missing', 'X')).rejects.toThrow(SessionNotFoundError);
        await expect(p.attach('missing')).rejects.toThrow(SessionNotFoundError);
        await p.start({ name: 'keys', argv: ['cat'], cwd, env: {} });
        for (const key of ['Escape', 'C-c', 'Enter; kill-server']) {
          await expect(p.sendKeys('keys', [key as 'Enter'])).rejects.toThrow(/never presses/);
        }
        await expect(p.lastActivity('missing')).rejects.toThrow(SessionNotFoundError);
      }));
  });
}
