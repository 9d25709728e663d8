import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PaneProfile } from '../core/pane.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { FakeSessionProvider, type FakeInput } from './fake.js';
import { typeNudge } from './nudge.js';
import { waitReady } from './readiness.js';

/**
 * The nudge protocol and readiness against a fake pane played by the test: what gets typed and pressed, and
 * when. (The same code against real tmux and the sim agent: test/sessions.int.test.ts.)
 */

const profile: PaneProfile = {
  promptPrefix: 'sim> ',
  busyText: 'sim: working',
  dialogs: [
    { name: 'folder-trust', match: ['Yes, I trust this folder', 'Enter to confirm'], keys: ['Enter'] },
    { name: 'bypass-permissions', match: ['Bypass Permissions mode', 'Enter to confirm'], keys: ['Down', 'Enter'] },
  ],
};

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function fakeAgent(): Promise<{ p: FakeSessionProvider; lock: string; typed: () => FakeInput[] }> {
  const t = tempDir('nudge-unit');
  cleanups.push(t.cleanup);
  const p = new FakeSessionProvider();
  await p.start({ name: 'agent', argv: ['node'], cwd: t.dir, env: {} });
  return { p, lock: join(t.dir, 'nudge.lock'), typed: () => p.input.get('agent') ?? [] };
}

/** A well-behaved line editor: text shows on the prompt line, Enter submits (after `lag` Enter presses). */
function lineEditor(p: FakeSessionProvider, options: { ignoreEnters?: number } = {}): { submitted: string[] } {
  let draft = '';
  let ignore = options.ignoreEnters ?? 0;
  const submitted: string[] = [];
  const draw = (): void =>
    p.setScreen('agent', `${submitted.map((s) => `sim> ${s}\nsim: noted\n`).join('')}sim> ${draft}`);
  draw();
  p.respond('agent', (input) => {
    if (input.kind === 'text') draft += input.value;
    else if (input.value === 'Enter') {
      if (ignore > 0) ignore--;
      else if (draft !== '') {
        submitted.push(draft);
        draft = '';
      }
    }
    draw();
  });
  return { submitted };
}

describe('typeNudge', () => {
  it('types the text once, presses Enter once, and confirms both on screen', async () => {
    const { p, lock, typed } = await fakeAgent();
    const editor = lineEditor(p);
    const r = await typeNudge(p, 'agent', '[from mayor] hello\nthere', {
      profile,
      lockPath: lock,
      waitIdleMs: 1_000,
      pollMs: 10,
    });
    expect(r).toEqual({ outcome: 'delivered', text: '[from mayor] hello there', verified: true, enterPresses: 1 });
    expect(editor.submitted).toEqual(['[from mayor] hello there']);
    expect(typed()).toEqual([
      { kind: 'text', value: '[from mayor] hello there' },
      { kind: 'key', value: 'Enter' },
    ]);
  });

  it('presses Enter again only while the prompt visibly still holds the text', async () => {
    const { p, lock, typed } = await fakeAgent();
    const editor = lineEditor(p, { ignoreEnters: 1 });
    const r = await typeNudge(p, 'agent', 'second try', { profile, lockPath: lock, waitIdleMs: 1_000, pollMs: 10 });
    expect(r).toMatchObject({ outcome: 'delivered', verified: true, enterPresses: 2 });
    expect(editor.submitted).toEqual(['second try']);
    expect(typed().filter((i) => i.kind === 'text')).toHaveLength(1);
  });

  it('types nothing into a busy agent, a human draft, a dialog or a starting CLI', async () => {
    const { p, lock, typed } = await fakeAgent();
    const cases: [string, string][] = [
      ['sim> x\n· sim: working (esc to interrupt)', 'busy'],
      ['sim> a draft someone is writing', 'typing'],
      [' Bypass Permissions mode\n 1. No, exit\n Enter to confirm', 'not-ready'],
      ['booting…', 'not-ready'],
    ];
    for (const [screen, outcome] of cases) {
      p.setScreen('agent', screen);
      expect(
        (await typeNudge(p, 'agent', 'hi', { profile, lockPath: lock, waitIdleMs: 100, pollMs: 10 })).outcome,
      ).toBe(outcome);
    }
    expect(typed()).toEqual([]);
  });

  it('types nothing into a question, even when told to type at once: Enter or a digit there is an answer', async () => {
    const { p, lock, typed } = await fakeAgent();
    const asking: PaneProfile = {
      ...profile,
      questions: [{ name: 'permission', match: ['Do you want to', '1. Yes'], modal: true }],
    };
    p.setScreen('agent', ' Bash command\n\n Do you want to proceed?\n \u276f 1. Yes\n   2. No\n');
    for (const immediate of [false, true]) {
      const r = await typeNudge(p, 'agent', 'hi 1', {
        profile: asking,
        lockPath: lock,
        waitIdleMs: 5_000,
        pollMs: 10,
        immediate,
      });
      expect(r).toMatchObject({ outcome: 'question', enterPresses: 0 });
    }
    expect(typed()).toEqual([]);
  });

  it('types into an idle prompt below a usage-limit notice: telling it to carry on is what the notice waits for', async () => {
    const { p, lock } = await fakeAgent();
    const asking: PaneProfile = {
      ...profile,
      questions: [{ name: 'usage-limit', match: ['usage limit reached'] }],
    };
    // The notice stays above the prompt; the line editor draws below it.
    const notice = 'Claude usage limit reached \u00b7 resets 3pm';
    const submitted: string[] = [];
    let draft = '';
    p.setScreen('agent', `${notice}\nsim> `);
    p.respond('agent', (input) => {
      if (input.kind === 'text') draft += input.value;
      else if (input.value === 'Enter' && draft !== '') {
        submitted.push(draft);
        draft = '';
      }
      p.setScreen('agent', `${notice}\nsim> ${draft}`);
    });
    const r = await typeNudge(p, 'agent', 'carry on', {
      profile: asking,
      lockPath: lock,
      waitIdleMs: 2_000,
      pollMs: 10,
    });
    expect(r.outcome).toBe('delivered');
    expect(submitted).toEqual(['carry on']);
  });

  it('waits for a busy agent to become idle within the wait, then types', async () => {
    const { p, lock } = await fakeAgent();
    p.setScreen('agent', 'sim> x\n· sim: working');
    setTimeout(() => lineEditor(p), 150);
    const r = await typeNudge(p, 'agent', 'after the turn', { profile, lockPath: lock, waitIdleMs: 2_000, pollMs: 10 });
    expect(r.outcome).toBe('delivered');
  });

  it('serializes typists: concurrent nudges arrive whole and one at a time', async () => {
    const { p, lock } = await fakeAgent();
    const editor = lineEditor(p);
    const texts = Array.from({ length: 8 }, (_, i) => `message number ${i} ${'x'.repeat(300)}`);
    await Promise.all(
      texts.map((t) => typeNudge(p, 'agent', t, { profile, lockPath: lock, waitIdleMs: 5_000, pollMs: 5 })),
    );
    expect([...editor.submitted].sort()).toEqual([...texts].sort());
  });

  it('refuses text that is empty once cleaned', async () => {
    const { p, lock } = await fakeAgent();
    await expect(typeNudge(p, 'agent', '\u001b[0m\n\t', { profile, lockPath: lock, waitIdleMs: 10 })).rejects.toThrow(
      /nothing to type/,
    );
  });
});

describe('waitReady', () => {
  it('answers each dialog with its keys, then waits for the prompt', async () => {
    const { p, typed } = await fakeAgent();
    const screens = [
      ' Quick safety check\n ❯ 1. Yes, I trust this folder\n Enter to confirm',
      ' Bypass Permissions mode\n ❯ 1. No, exit\n 2. Yes, I accept\n Enter to confirm',
      'sim> ',
    ];
    let shown = 0;
    p.setScreen('agent', screens[0] ?? '');
    p.respond('agent', (input) => {
      if (input.kind === 'key' && input.value === 'Enter') p.setScreen('agent', screens[++shown] ?? '');
    });
    const r = await waitReady(p, 'agent', { profile, processNames: ['node'], timeoutMs: 5_000, pollMs: 10 });
    expect(r).toMatchObject({ ready: true, state: 'idle', dialogs: ['folder-trust', 'bypass-permissions'] });
    expect(typed()).toEqual([
      { kind: 'key', value: 'Enter' },
      { kind: 'key', value: 'Down' },
      { kind: 'key', value: 'Enter' },
    ]);
  });

  it('gives up after the timeout, and notices an agent that exited', async () => {
    const { p } = await fakeAgent();
    p.setScreen('agent', 'still loading');
    expect(await waitReady(p, 'agent', { profile, processNames: ['node'], timeoutMs: 200, pollMs: 10 })).toMatchObject({
      ready: false,
      state: 'starting',
    });
    p.exitProgram('agent');
    expect(
      await waitReady(p, 'agent', { profile, processNames: ['node'], timeoutMs: 5_000, pollMs: 10 }),
    ).toMatchObject({ ready: false, state: 'exited' });
  });

  it('for a CLI with no prompt to see, is ready after its delay', async () => {
    const { p } = await fakeAgent();
    const r = await waitReady(p, 'agent', {
      profile: { dialogs: [] },
      processNames: ['node'],
      timeoutMs: 5_000,
      delayMs: 300,
      pollMs: 10,
    });
    expect(r.ready).toBe(true);
    expect(r.waitedMs).toBeGreaterThanOrEqual(300);
  });
});
