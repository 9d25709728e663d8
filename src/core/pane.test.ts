import { describe, expect, it } from 'vitest';
import {
  classifyPane,
  paneShowsTyped,
  progressText,
  sanitizeTypedText,
  stillUnsubmitted,
  type PaneProfile,
} from './pane.js';

const claude: PaneProfile = {
  promptPrefix: '❯\u00a0',
  busyText: 'esc to interrupt',
  dialogs: [
    { name: 'folder-trust', match: ['Yes, I trust this folder', 'Enter to confirm'], keys: ['Enter'] },
    {
      name: 'bypass-permissions',
      match: ['Bypass Permissions mode', 'Yes, I accept', 'Enter to confirm'],
      keys: ['Down', 'Enter'],
    },
  ],
};

const rule = '─'.repeat(40);
const idle = (input = ''): string =>
  `● earlier reply\n\n${rule}\n❯\u00a0${input}\n${rule}\n  ⏵⏵ bypass permissions on (shift+tab to cycle)\n\n`;
const busy = `✶ Creating… (2s)\n${rule}\n❯\u00a0\n${rule}\n  ⏵⏵ bypass permissions on (shift+tab to cycle) · esc to interrupt\n`;

describe('classifyPane', () => {
  it('reads Claude Code: idle at an empty prompt, idle with a draft, busy while the input box still shows', () => {
    expect(classifyPane(idle(), claude)).toEqual({ kind: 'idle', input: '' });
    expect(classifyPane(idle('half a thought'), claude)).toEqual({ kind: 'idle', input: 'half a thought' });
    expect(classifyPane(busy, claude)).toEqual({ kind: 'busy' });
  });

  it('does not take a submitted prompt in the transcript (normal space) for the input line', () => {
    expect(classifyPane('❯ an old prompt\n● reply\n', claude)).toEqual({ kind: 'starting' });
  });

  it('recognises dialogs before anything else, and only with every marker present', () => {
    const trust =
      ' Quick safety check: Is this a project you created or one you trust?\n ❯ 1. Yes, I trust this folder\n   2. No, exit\n Enter to confirm · Esc to cancel\n';
    expect(classifyPane(trust, claude)).toMatchObject({
      kind: 'dialog',
      dialog: { name: 'folder-trust', keys: ['Enter'] },
    });
    const bypass =
      ' WARNING: Claude Code running in Bypass Permissions mode\n ❯ 1. No, exit\n   2. Yes, I accept\n Enter to confirm · Esc to cancel\n';
    expect(classifyPane(bypass, claude)).toMatchObject({
      kind: 'dialog',
      dialog: { name: 'bypass-permissions', keys: ['Down', 'Enter'] },
    });
    // A transcript that merely mentions the words is not a dialog.
    expect(classifyPane(`● we talked about Bypass Permissions mode\n${idle()}`, claude)).toEqual({
      kind: 'idle',
      input: '',
    });
  });

  it('looks only at the last lines for the busy marker, and says unknown without a prompt to look for', () => {
    const old = `esc to interrupt\n${'line\n'.repeat(20)}${idle()}`;
    expect(classifyPane(old, claude).kind).toBe('idle');
    expect(classifyPane('anything', { dialogs: [] })).toEqual({ kind: 'unknown' });
    expect(classifyPane('loading…', claude)).toEqual({ kind: 'starting' });
  });

  it('reads the sim prompt, framed or not', () => {
    const sim: PaneProfile = { promptPrefix: 'sim> ', busyText: 'sim: working', dialogs: [] };
    expect(classifyPane('sim> hello\nsim: noted\nsim> ', sim)).toEqual({ kind: 'idle', input: '' });
    expect(classifyPane('│ sim> draft │', sim)).toEqual({ kind: 'idle', input: 'draft' });
    expect(classifyPane('sim> x\n· sim: working (esc to interrupt)', sim)).toEqual({ kind: 'busy' });
  });
});

describe('questions', () => {
  const asking: PaneProfile = {
    ...claude,
    questions: [
      { name: 'permission', match: ['Do you want to', '1. Yes'], modal: true },
      { name: 'usage-limit', match: ['usage limit reached'] },
      { name: 'usage-limit', match: ['limit reached', 'resets'], together: true },
    ],
  };
  it('reads a permission question as a question (with its text), never as busy or idle', () => {
    const pane = `● Bash(touch x)\n\n Bash command\n   touch x\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. No, and tell Claude what to do differently (esc)\n`;
    expect(classifyPane(pane, asking)).toEqual({
      kind: 'question',
      question: 'permission',
      text: 'Do you want to proceed?',
    });
    // As Claude Code 2.1 draws it: its own key hints below, no input box, no busy line.
    expect(classifyPane(`${pane}\n Esc to cancel · Tab to amend · ctrl+e to explain\n`, asking)).toMatchObject({
      kind: 'question',
      question: 'permission',
    });
    expect(classifyPane('Claude usage limit reached. Your limit will reset at 5pm.\n❯\u00a0\n', asking)).toMatchObject({
      kind: 'question',
      question: 'usage-limit',
    });
  });
  it('is no question once the agent moved on below it: busy again, or (for a modal question) back at its prompt', () => {
    const printed = ` Do you want to continue?\n ❯ 1. Yes\n   2. No\n`;
    // Output of a program the agent ran, with the agent still at work under it.
    expect(classifyPane(`${printed}● Reading the menu code\n  esc to interrupt\n`, asking)).toEqual({ kind: 'busy' });
    // The same words above the input prompt: history (a permission question hides the prompt while it waits).
    expect(classifyPane(`${printed}\n● Done.\n${idle()}`, asking)).toEqual({ kind: 'idle', input: '' });
    // A usage limit is printed above the prompt, and waits there all the same.
    expect(classifyPane(`● Claude usage limit reached · resets 3pm\n${idle()}`, asking)).toMatchObject({
      kind: 'question',
      question: 'usage-limit',
    });
    // Busy under the notice: the agent works again, the notice is old.
    expect(classifyPane(`● Claude usage limit reached · resets 3pm\n● Writing\n  esc to interrupt\n`, asking)).toEqual({
      kind: 'busy',
    });
  });
  it('reads "limit reached" and "resets" as a usage limit only on one line', () => {
    expect(classifyPane(`● 5-hour limit reached \u2219 resets 3pm\n${idle()}`, asking)).toMatchObject({
      kind: 'question',
      question: 'usage-limit',
      text: '● 5-hour limit reached \u2219 resets 3pm',
    });
    const output = `● The retry loop stops when the rate limit reached its cap.\n● The counter resets at midnight.\n${idle()}`;
    expect(classifyPane(output, asking)).toEqual({ kind: 'idle', input: '' });
  });
  it('needs every marker on the last lines: an old question scrolled away is no question', () => {
    expect(classifyPane('Do you want to proceed?\n', asking).kind).not.toBe('question');
    const old = `Do you want to proceed?\n❯ 1. Yes\n${'line\n'.repeat(20)}${idle()}`;
    expect(classifyPane(old, asking)).toEqual({ kind: 'idle', input: '' });
  });
});

describe('progressText', () => {
  it('leaves out the busy line and the spinner timer, keeps everything else', () => {
    const at = (s: number): string =>
      `● working on it\n✶ Creating… (${s}s · ↑ 1.2k tokens)\n  ⏵⏵ bypass · esc to interrupt\n`;
    expect(progressText(at(2), claude)).toBe(progressText(at(97), claude));
    expect(progressText(at(2), claude)).not.toBe(progressText(`● more output\n${at(3)}`, claude));
  });
});

describe('sanitizeTypedText', () => {
  it('makes one plain line: no escapes, no control characters, newlines and tabs as spaces', () => {
    expect(sanitizeTypedText('a\nb\r\nc\td')).toBe('a b c d');
    expect(sanitizeTypedText('\u001b[31mred\u001b[0m \u001b]0;title\u0007text')).toBe('red text');
    expect(sanitizeTypedText('bell\u0007 nul\u0000 del\u007f c1\u009b end')).toBe('bell nul del c1 end');
    expect(sanitizeTypedText('  $(rm -rf ~) `x` "q" \'s\'  ')).toBe('$(rm -rf ~) `x` "q" \'s\'');
    expect(sanitizeTypedText('\u001b\u001b\n')).toBe('');
  });
});

describe('typing checks', () => {
  it('finds typed text however the TUI wrapped it', () => {
    const text = '[from mayor] please look at the failing build on main before lunch';
    expect(paneShowsTyped('❯\u00a0[from mayor] please look at the failing\n│ build on main before lunch', text)).toBe(
      true,
    );
    expect(paneShowsTyped('❯\u00a0[from mayor] please look at', text)).toBe(false);
  });

  it('knows whether the prompt still holds the text after Enter', () => {
    const text = '[from mayor] hello there';
    expect(stillUnsubmitted({ kind: 'idle', input: '[from mayor] hello there' }, text)).toBe(true);
    expect(stillUnsubmitted({ kind: 'idle', input: '' }, text)).toBe(false);
    expect(stillUnsubmitted({ kind: 'busy' }, text)).toBe(false);
  });
});
