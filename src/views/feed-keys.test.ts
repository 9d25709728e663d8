import { describe, expect, it } from 'vitest';
import { agentRow, need, townView } from '../../test/helpers/feed-views.js';
import { feedKey, initialUi, parseKeys, selectables, selectedTarget, type FeedUi, type Key } from './feed-keys.js';
import type { TownView } from './model.js';

const TOAST = 'gastown/polecats/toast';
const NUX = 'gastown/polecats/nux';

const view: TownView = townView({
  needs: [
    need('hq-e1', { kind: 'escalation', severity: 'critical', subject: 'tester', agent: null, state: 'open' }),
    need(TOAST),
    need('hq-m1', { kind: 'mail', subject: 'mayor', agent: null, state: 'unread' }),
    need('#4', { kind: 'problem', subject: 'gastown', agent: null }),
  ],
  agents: [agentRow('mayor'), agentRow(TOAST, { state: 'stalled' }), agentRow(NUX)],
});

const char = (c: string): Key => ({ name: 'char', char: c });

/** Presses keys one after another (a string is typed a character at a time). */
function press(ui: FeedUi, keys: readonly (Key | string)[], v: TownView | undefined = view) {
  let state = ui;
  const effects = [];
  for (const k of keys) {
    for (const key of typeof k === 'string' ? [...k].map(char) : [k]) {
      const r = feedKey(state, key, v);
      state = r.ui;
      if (r.effect !== undefined) effects.push(r.effect);
    }
  }
  return { ui: state, effects };
}

const at = (ui: FeedUi, v: TownView = view): string | undefined => selectedTarget(ui, v)?.key;

describe('the feed: keys from terminal input', () => {
  it.each<[string, string, Key[]]>([
    ['arrows (normal cursor mode)', '\u001b[A\u001b[B', [{ name: 'up' }, { name: 'down' }]],
    ['arrows (application mode)', '\u001bOA\u001bOB', [{ name: 'up' }, { name: 'down' }]],
    ['arrows with a modifier', '\u001b[1;5A', [{ name: 'up' }]],
    [
      'paging and home/end',
      '\u001b[5~\u001b[6~\u001b[H\u001b[4~',
      [{ name: 'pageup' }, { name: 'pagedown' }, { name: 'home' }, { name: 'end' }],
    ],
    ['an unknown sequence is skipped whole', '\u001b[200~x', [char('x')]],
    ['Enter, CR LF as one', 'a\r\nb\r', [char('a'), { name: 'enter' }, char('b'), { name: 'enter' }]],
    ['Backspace (DEL and BS), Tab', '\u007f\b\t', [{ name: 'backspace' }, { name: 'backspace' }, { name: 'tab' }]],
    ['Ctrl-C, Ctrl-D', '\u0003\u0004', [{ name: 'ctrl-c' }, { name: 'ctrl-d' }]],
    ['Escape alone', '\u001b', [{ name: 'escape' }]],
    ['Alt+key is Escape, the key dropped', '\u001bq', [{ name: 'escape' }]],
    ['text beyond ASCII, a character at a time', 'é😀', [char('é'), char('😀')]],
    ['other control characters are dropped', '\u0001\u0007x', [char('x')]],
  ])('%s', (_what, data, keys) => {
    expect(parseKeys(data)).toEqual(keys);
  });
});

describe('the feed: selection', () => {
  it('selects needs with an agent or an escalation, then every agent (mail and a rig problem cannot be acted on)', () => {
    expect(selectables(view).map((t) => t.key)).toEqual([
      'need:escalation:hq-e1',
      `need:agent:${TOAST}`,
      'agent:mayor',
      `agent:${TOAST}`,
      `agent:${NUX}`,
    ]);
  });

  it('stays on the top row until the person moves, then keeps the row they chose', () => {
    const ui = initialUi();
    expect(at(ui)).toBe('need:escalation:hq-e1');
    // A new need on top: still the top row.
    const more = { ...view, needs: [need(NUX, { severity: 'critical' }), ...view.needs] };
    expect(at(ui, more)).toBe(`need:agent:${NUX}`);
    const moved = press(ui, [{ name: 'down' }, { name: 'down' }]).ui;
    expect(at(moved)).toBe('agent:mayor');
    // Pinned: the same row when rows come above it.
    expect(at(moved, more)).toBe('agent:mayor');
  });

  it('moves with the arrows and j/k, and stops at either end', () => {
    const ui = initialUi();
    expect(at(press(ui, ['jjj']).ui)).toBe(`agent:${TOAST}`);
    expect(at(press(ui, ['jjjk']).ui)).toBe('agent:mayor');
    expect(at(press(ui, [{ name: 'up' }, 'k']).ui)).toBe('need:escalation:hq-e1');
    expect(at(press(ui, ['jjjjjjjjjj']).ui)).toBe(`agent:${NUX}`);
    expect(at(press(ui, ['G']).ui)).toBe(`agent:${NUX}`);
    expect(at(press(ui, ['Gg']).ui)).toBe('need:escalation:hq-e1');
    expect(at(press(ui, [{ name: 'pagedown' }]).ui)).toBe(`agent:${NUX}`);
  });

  it('a row that goes away hands the selection to the one now at its place', () => {
    const ui = press(initialUi(), ['jjj']).ui;
    expect(at(ui)).toBe(`agent:${TOAST}`);
    const gone = { ...view, agents: view.agents.filter((a) => a.address !== TOAST) };
    expect(at(ui, gone)).toBe(`agent:${NUX}`);
    const fewer = { ...view, needs: [], agents: [agentRow('mayor')] };
    expect(at(ui, fewer)).toBe('agent:mayor');
    expect(selectedTarget(ui, { ...view, needs: [], agents: [] })).toBeUndefined();
    expect(selectedTarget(ui, undefined)).toBeUndefined();
  });
});

describe('the feed: acting on the selected row', () => {
  const onToast = press(initialUi(), ['j']).ui;

  it('n prompts for text; everything typed is text (q too), Backspace takes back, Enter sends it trimmed', () => {
    const opened = press(onToast, ['n']);
    expect(opened.ui.mode).toEqual({ kind: 'prompt', agent: TOAST, text: '' });
    expect(opened.effects).toEqual([]);
    const typed = press(opened.ui, ['  quit? no; $(x) ', { name: 'backspace' }, 'y ']);
    expect(typed.ui.mode).toEqual({ kind: 'prompt', agent: TOAST, text: '  quit? no; $(x)y ' });
    expect(typed.effects).toEqual([]);
    const sent = press(typed.ui, [{ name: 'enter' }]);
    expect(sent.effects).toEqual([{ kind: 'act', action: { kind: 'nudge', agent: TOAST, text: 'quit? no; $(x)y' } }]);
    expect(sent.ui.mode).toEqual({ kind: 'browse' });
    expect(sent.ui.status?.text).toBe(`nudging ${TOAST}…`);
  });

  it('Backspace takes back a whole character: a flag, an emoji family, a letter with its accent', () => {
    const flag = '\u{1f1eb}\u{1f1f7}';
    const family = '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}';
    const accented = 'e\u0301';
    const back = { name: 'backspace' } as const;
    const typed = press(onToast, ['n', `ok${accented}${flag}${family}`]).ui;
    const texts = [1, 2, 3, 4].map((n) => {
      const r = press(
        typed,
        Array.from({ length: n }, () => back),
      ).ui.mode;
      return r.kind === 'prompt' ? r.text : null;
    });
    expect(texts).toEqual([`ok${accented}${flag}`, `ok${accented}`, 'ok', 'o']);
  });

  it('a prompt is cancelled by Escape or Ctrl-C, and sends nothing when empty', () => {
    for (const key of [{ name: 'escape' }, { name: 'ctrl-c' }] as const) {
      const r = press(onToast, ['n', 'hello', key]);
      expect(r.effects).toEqual([]);
      expect(r.ui.mode.kind).toBe('browse');
      expect(r.ui.status?.text).toBe('nudge not sent');
    }
    const empty = press(onToast, ['n', '   ', { name: 'enter' }]);
    expect(empty.effects).toEqual([]);
    expect(empty.ui.status?.text).toBe('nudge not sent: no text');
  });

  it.each([
    ['r', 'restart'],
    ['u', 'requeue'],
  ] as const)('%s asks first: y does it, anything else does not', (key, action) => {
    const asked = press(onToast, [key]);
    expect(asked.ui.mode).toEqual({ kind: 'confirm', action, agent: TOAST });
    expect(asked.effects).toEqual([]);
    expect(press(asked.ui, ['y']).effects).toEqual([{ kind: 'act', action: { kind: action, agent: TOAST } }]);
    expect(press(asked.ui, ['Y']).effects).toHaveLength(1);
    const no = press(asked.ui, ['n']);
    expect(no.effects).toEqual([]);
    expect(no.ui.mode.kind).toBe('browse');
    expect(no.ui.status?.text).toBe(`${action} of ${TOAST} not done`);
    expect(press(asked.ui, [{ name: 'enter' }]).effects).toEqual([]);
  });

  it('h hands off, Enter and a attach, p peeks: each on the selected agent', () => {
    expect(press(onToast, ['h']).effects).toEqual([{ kind: 'act', action: { kind: 'handoff', agent: TOAST } }]);
    expect(press(onToast, [{ name: 'enter' }]).effects).toEqual([{ kind: 'attach', agent: TOAST }]);
    expect(press(onToast, ['a']).effects).toEqual([{ kind: 'attach', agent: TOAST }]);
    expect(press(onToast, ['p']).effects).toEqual([{ kind: 'peek', agent: TOAST }]);
    // The agent's own row: the same agent.
    const row = press(initialUi(), ['jjj']).ui;
    expect(press(row, ['h']).effects).toEqual([{ kind: 'act', action: { kind: 'handoff', agent: TOAST } }]);
  });

  it('A acknowledges the selected escalation; on anything else it says what to select', () => {
    expect(press(initialUi(), ['A']).effects).toEqual([{ kind: 'act', action: { kind: 'ack', escalation: 'hq-e1' } }]);
    const r = press(onToast, ['A']);
    expect(r.effects).toEqual([]);
    expect(r.ui.status).toEqual({ text: 'select an escalation (under NEEDS YOU) to acknowledge', tone: 'bad' });
  });

  it('an escalation with no agent, or nothing at all, cannot be nudged, attached or restarted', () => {
    for (const key of ['n', 'a', 'r', 'u', 'h', 'p']) {
      const r = press(initialUi(), [key]);
      expect(r.effects).toEqual([]);
      expect(r.ui.mode.kind).toBe('browse');
      expect(r.ui.status?.tone).toBe('bad');
      expect(r.ui.status?.text).toMatch(/^escalation hq-e1 has no agent to /u);
    }
    const empty = { ...view, needs: [], agents: [] };
    expect(press(initialUi(), ['n'], empty).ui.status?.text).toBe('nothing selected to nudge');
    expect(feedKey(initialUi(), char('n'), undefined).ui.status?.text).toBe('nothing selected to nudge');
  });
});

describe('the feed: filter, help, quit', () => {
  it('f and / go through the rigs, then back to all', () => {
    const ui = initialUi(null, ['beta', 'gastown']);
    const one = press(ui, ['f']);
    expect(one.ui.rig).toBe('beta');
    expect(one.effects).toEqual([{ kind: 'rig', rig: 'beta' }]);
    expect(press(one.ui, ['/']).effects).toEqual([{ kind: 'rig', rig: 'gastown' }]);
    const back = press(one.ui, ['//']);
    expect(back.ui.rig).toBeNull();
    expect(back.effects.at(-1)).toEqual({ kind: 'rig', rig: null });
    expect(back.ui.status?.text).toBe('showing every rig');
    // Another rig's rows: the selection starts again at the top.
    expect(press(press(ui, ['jj']).ui, ['f']).ui.selected).toBeNull();
    expect(press(initialUi(), ['f']).ui.status).toEqual({ text: 'the town has no rigs to filter by', tone: 'bad' });
  });

  it('? toggles the help, Escape closes a peek and the help', () => {
    const help = press(initialUi(), ['?']).ui;
    expect(help.help).toBe(true);
    expect(press(help, ['?']).ui.help).toBe(false);
    const peeking: FeedUi = { ...initialUi(), peek: { agent: TOAST, text: 'x' }, status: { text: 's', tone: 'info' } };
    const closed = press(peeking, [{ name: 'escape' }]).ui;
    expect([closed.peek, closed.help, closed.status]).toEqual([null, false, null]);
  });

  it('q, Ctrl-C and Ctrl-D quit (but not while typing)', () => {
    for (const key of ['q', { name: 'ctrl-c' }, { name: 'ctrl-d' }] as const)
      expect(press(initialUi(), [key]).effects).toEqual([{ kind: 'quit' }]);
    expect(press(initialUi(), ['j', 'n', 'q']).effects).toEqual([]);
    expect(press(initialUi(), ['x', 'Z', { name: 'tab' }]).effects).toEqual([]);
  });
});
