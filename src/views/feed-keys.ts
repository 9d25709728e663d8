import { graphemes } from '../core/term-width.js';
import type { EventTone } from './events.js';
import type { ViewAction } from './actions.js';
import type { TownView } from './model.js';

/**
 * What the person does in the full-screen feed, as pure functions: the terminal's bytes read as keys, and each
 * key turning the feed's state (selection, prompt, question, filter, panels) into the next one, with at most
 * one effect for the feed to carry out (attach, peek, an action through the library, another rig, quit).
 */

type Nav = 'up' | 'down' | 'pageup' | 'pagedown' | 'home' | 'end';

export type Key =
  | { name: Nav }
  | { name: 'enter' | 'escape' | 'backspace' | 'tab' | 'ctrl-c' | 'ctrl-d' }
  | { name: 'char'; char: string };

const CSI_KEYS: Record<string, Nav> = {
  A: 'up',
  B: 'down',
  H: 'home',
  F: 'end',
  '1~': 'home',
  '4~': 'end',
  '5~': 'pageup',
  '6~': 'pagedown',
  '7~': 'home',
  '8~': 'end',
};

/**
 * The keys in a chunk of terminal input (raw mode, UTF-8). Arrow and paging keys in both cursor modes; any
 * other escape sequence is skipped whole; printable text, pasted or typed, comes one character at a time.
 */
export function parseKeys(data: string): Key[] {
  const keys: Key[] = [];
  const chars = [...data];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    if (c === '\u001b') {
      const next = chars[i + 1];
      if (next === '[' || next === 'O') {
        // CSI (ESC [ params final) or SS3 (ESC O final).
        let j = i + 2;
        let body = '';
        while (j < chars.length) {
          const ch = chars[j] ?? '';
          body += ch;
          const code = ch.codePointAt(0) ?? 0;
          if (next === 'O' || (code >= 0x40 && code <= 0x7e)) break;
          j++;
        }
        const name = CSI_KEYS[body.replace(/^[\d;]*(?=[A-HF]$)/u, '')];
        if (name !== undefined) keys.push({ name });
        i = j;
        continue;
      }
      keys.push({ name: 'escape' });
      // Alt+key arrives as ESC key: read as Escape, the key itself dropped.
      if (next !== undefined && next !== '\u001b') i++;
      continue;
    }
    switch (c) {
      case '\r':
      case '\n':
        keys.push({ name: 'enter' });
        // CR LF from a paste is one Enter.
        if (c === '\r' && chars[i + 1] === '\n') i++;
        continue;
      case '\u007f':
      case '\b':
        keys.push({ name: 'backspace' });
        continue;
      case '\t':
        keys.push({ name: 'tab' });
        continue;
      case '\u0003':
        keys.push({ name: 'ctrl-c' });
        continue;
      case '\u0004':
        keys.push({ name: 'ctrl-d' });
        continue;
    }
    const code = c.codePointAt(0) ?? 0;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) continue;
    keys.push({ name: 'char', char: c });
  }
  return keys;
}

/** A row that can be selected: a need with an agent or an escalation to acknowledge, or an agent's row. */
export type Target = { key: string; agent: string | null; escalation: string | null; label: string };

export type Mode =
  | { kind: 'browse' }
  | { kind: 'prompt'; agent: string; text: string }
  | { kind: 'confirm'; action: 'restart' | 'requeue'; agent: string };

export type FeedUi = {
  /** The selected row; unpinned, the selection stays on the top row as the view changes. */
  selected: { key: string; index: number; pinned: boolean } | null;
  mode: Mode;
  peek: { agent: string; text: string } | null;
  help: boolean;
  /** The last action's result or error, or what the feed is doing. */
  status: { text: string; tone: EventTone } | null;
  /** The rig shown (null: all), and every rig of the town, for cycling. */
  rig: string | null;
  rigs: readonly string[];
};

export function initialUi(rig: string | null = null, rigs: readonly string[] = []): FeedUi {
  return { selected: null, mode: { kind: 'browse' }, peek: null, help: false, status: null, rig, rigs };
}

/** The selectable rows, top to bottom: needs first (as they are listed), then every agent. */
export function selectables(view: TownView): Target[] {
  const out: Target[] = [];
  for (const n of view.needs) {
    const escalation = n.kind === 'escalation' ? n.id : null;
    if (n.agent === null && escalation === null) continue;
    out.push({ key: `need:${n.kind}:${n.id}`, agent: n.agent, escalation, label: `${n.kind} ${n.id}` });
  }
  for (const a of view.agents)
    out.push({ key: `agent:${a.address}`, agent: a.address, escalation: null, label: a.address });
  return out;
}

/**
 * The selected row in this view: the same row while it is there, else the one now at its place (a row that
 * went away hands the selection to its neighbour); unpinned, the top row.
 */
export function selectedTarget(ui: FeedUi, view: TownView | undefined): Target | undefined {
  if (view === undefined) return undefined;
  const all = selectables(view);
  if (all.length === 0) return undefined;
  const s = ui.selected;
  if (s === null || !s.pinned) return all[0];
  return all.find((t) => t.key === s.key) ?? all[Math.min(s.index, all.length - 1)];
}

export type Effect =
  | { kind: 'quit' }
  | { kind: 'attach'; agent: string }
  | { kind: 'peek'; agent: string }
  | { kind: 'act'; action: ViewAction }
  | { kind: 'rig'; rig: string | null };

export type KeyResult = { ui: FeedUi; effect?: Effect };

const say = (ui: FeedUi, text: string, tone: EventTone = 'info'): FeedUi => ({ ...ui, status: { text, tone } });

function move(ui: FeedUi, view: TownView | undefined, by: number | 'top' | 'bottom'): FeedUi {
  if (view === undefined) return ui;
  const all = selectables(view);
  if (all.length === 0) return ui;
  const current = selectedTarget(ui, view);
  const at =
    current === undefined
      ? 0
      : Math.max(
          0,
          all.findIndex((t) => t.key === current.key),
        );
  const next = by === 'top' ? 0 : by === 'bottom' ? all.length - 1 : Math.max(0, Math.min(all.length - 1, at + by));
  const t = all[next];
  return t === undefined ? ui : { ...ui, selected: { key: t.key, index: next, pinned: true } };
}

/** The agent of the selected row, or a status saying why there is none. */
function agentOf(ui: FeedUi, view: TownView | undefined, what: string): string | FeedUi {
  const t = selectedTarget(ui, view);
  if (t === undefined) return say(ui, `nothing selected to ${what}`, 'bad');
  if (t.agent === null) return say(ui, `${t.label} has no agent to ${what}; select an agent's row`, 'bad');
  return t.agent;
}

function withAgent(
  ui: FeedUi,
  view: TownView | undefined,
  what: string,
  then: (agent: string) => KeyResult,
): KeyResult {
  const a = agentOf(ui, view, what);
  return typeof a === 'string' ? then(a) : { ui: a };
}

/** One key: the next state, and what the feed should do. */
export function feedKey(ui: FeedUi, key: Key, view: TownView | undefined): KeyResult {
  const mode = ui.mode;
  if (mode.kind === 'prompt') {
    switch (key.name) {
      case 'escape':
      case 'ctrl-c':
        return { ui: say({ ...ui, mode: { kind: 'browse' } }, 'nudge not sent') };
      case 'enter': {
        const text = mode.text.trim();
        const next = { ...ui, mode: { kind: 'browse' } as const };
        if (text === '') return { ui: say(next, 'nudge not sent: no text') };
        return {
          ui: say(next, `nudging ${mode.agent}…`),
          effect: { kind: 'act', action: { kind: 'nudge', agent: mode.agent, text } },
        };
      }
      case 'backspace':
        // The last character as it shows: a letter with its accents, a flag, an emoji sequence.
        return { ui: { ...ui, mode: { ...mode, text: graphemes(mode.text).slice(0, -1).join('') } } };
      case 'tab':
        return { ui: { ...ui, mode: { ...mode, text: `${mode.text} ` } } };
      case 'char':
        return { ui: { ...ui, mode: { ...mode, text: mode.text + key.char } } };
      case 'up':
      case 'down':
      case 'pageup':
      case 'pagedown':
      case 'home':
      case 'end':
      case 'ctrl-d':
        return { ui };
    }
  }
  if (mode.kind === 'confirm') {
    const next = { ...ui, mode: { kind: 'browse' } as const };
    if (key.name === 'char' && (key.char === 'y' || key.char === 'Y'))
      return {
        ui: say(next, `${mode.action === 'restart' ? 'restarting' : 'requeueing'} ${mode.agent}…`),
        effect: { kind: 'act', action: { kind: mode.action, agent: mode.agent } },
      };
    return { ui: say(next, `${mode.action} of ${mode.agent} not done`) };
  }

  switch (key.name) {
    case 'ctrl-c':
    case 'ctrl-d':
      return { ui, effect: { kind: 'quit' } };
    case 'up':
      return { ui: move(ui, view, -1) };
    case 'down':
      return { ui: move(ui, view, 1) };
    case 'pageup':
      return { ui: move(ui, view, -10) };
    case 'pagedown':
      return { ui: move(ui, view, 10) };
    case 'home':
      return { ui: move(ui, view, 'top') };
    case 'end':
      return { ui: move(ui, view, 'bottom') };
    case 'escape':
      return { ui: { ...ui, peek: null, help: false, status: null } };
    case 'enter':
      return withAgent(ui, view, 'attach to', (agent) => ({ ui, effect: { kind: 'attach', agent } }));
    case 'backspace':
    case 'tab':
      return { ui };
    case 'char':
      break;
  }
  switch (key.char) {
    case 'q':
      return { ui, effect: { kind: 'quit' } };
    case 'k':
      return { ui: move(ui, view, -1) };
    case 'j':
      return { ui: move(ui, view, 1) };
    case 'g':
      return { ui: move(ui, view, 'top') };
    case 'G':
      return { ui: move(ui, view, 'bottom') };
    case 'a':
      return withAgent(ui, view, 'attach to', (agent) => ({ ui, effect: { kind: 'attach', agent } }));
    case 'p':
      return withAgent(ui, view, 'peek at', (agent) => ({
        ui: say({ ...ui, help: false }, `reading ${agent}'s pane…`),
        effect: { kind: 'peek', agent },
      }));
    case 'n':
      return withAgent(ui, view, 'nudge', (agent) => ({
        ui: { ...ui, status: null, mode: { kind: 'prompt', agent, text: '' } },
      }));
    case 'h':
      return withAgent(ui, view, 'hand off', (agent) => ({
        ui: say(ui, `asking ${agent} to hand off…`),
        effect: { kind: 'act', action: { kind: 'handoff', agent } },
      }));
    case 'r':
      return withAgent(ui, view, 'restart', (agent) => ({
        ui: { ...ui, status: null, mode: { kind: 'confirm', action: 'restart', agent } },
      }));
    case 'u':
      return withAgent(ui, view, 'requeue', (agent) => ({
        ui: { ...ui, status: null, mode: { kind: 'confirm', action: 'requeue', agent } },
      }));
    case 'A': {
      const t = selectedTarget(ui, view);
      if (t?.escalation == null) return { ui: say(ui, 'select an escalation (under NEEDS YOU) to acknowledge', 'bad') };
      return {
        ui: say(ui, `acknowledging ${t.escalation}…`),
        effect: { kind: 'act', action: { kind: 'ack', escalation: t.escalation } },
      };
    }
    case 'f':
    case '/': {
      if (ui.rigs.length === 0) return { ui: say(ui, 'the town has no rigs to filter by', 'bad') };
      const at = ui.rig === null ? -1 : ui.rigs.indexOf(ui.rig);
      const rig = ui.rigs[at + 1] ?? null;
      return {
        ui: say({ ...ui, rig, selected: null }, rig === null ? 'showing every rig' : `showing rig ${rig}`),
        effect: { kind: 'rig', rig },
      };
    }
    case '?':
      return { ui: { ...ui, help: !ui.help, peek: null } };
    default:
      return { ui };
  }
}
