/**
 * Reading an agent CLI's terminal: what a captured pane says about the program in it (a start-up dialog, busy,
 * waiting at its prompt), and how text must look before it is typed into it. Pure: the session layer captures
 * and types; this decides.
 */

/** Keys gt may press in an agent's pane. Escape and Ctrl-C are absent on purpose: they cancel generation. */
export const SAFE_KEYS = ['Enter', 'Down', 'Up'] as const;
export type SafeKey = (typeof SAFE_KEYS)[number];

/** A start-up dialog: recognised when every `match` string is on screen, dismissed (accepting) with `keys`. */
export type Dialog = { name: string; match: readonly string[]; keys: readonly SafeKey[] };

/**
 * A screen the agent waits at and gt must not answer: a permission question, a usage limit, a request for help.
 * Recognised when every `match` string is on one of the last lines (on one and the same line when `together`)
 * and the agent has not moved on below it: no busy marker under it (it works again: the text is its output),
 * and for a `modal` question (one drawn in place of the input prompt) no input prompt under it either. The line
 * holding the first string is the question shown to people.
 */
export type Question = { name: string; match: readonly string[]; together?: boolean; modal?: boolean };

/** How to read one CLI's pane. */
export type PaneProfile = {
  /** A line starting with this (after box-drawing and spaces) is the input prompt; absent: no detection. */
  promptPrefix?: string;
  /** Text on the last lines while the agent works. */
  busyText?: string;
  dialogs: readonly Dialog[];
  questions?: readonly Question[];
};

export type PaneState =
  | { kind: 'dialog'; dialog: Dialog }
  /** Waiting for someone to answer (`text`: the question as the pane shows it). */
  | { kind: 'question'; question: string; text: string }
  | { kind: 'busy' }
  /** At its prompt; `input` is what sits typed but unsubmitted on the prompt line. */
  | { kind: 'idle'; input: string }
  /** Running, but showing neither a prompt nor a busy marker yet (starting, or printing). */
  | { kind: 'starting' }
  /** The profile has no prompt to look for: nothing can be told from the pane. */
  | { kind: 'unknown' };

/**
 * The pane as someone about to type reads it: only a modal question (a permission prompt, a menu, where a key
 * is an answer) stops the typing. A notice printed above an idle prompt (a usage limit) does not: the prompt
 * takes text as ever, and telling the agent to carry on after the reset is what the notice waits for.
 */
export function typistProfile(profile: PaneProfile): PaneProfile {
  return { ...profile, questions: (profile.questions ?? []).filter((q) => q.modal === true) };
}

/** How many of the last non-empty lines carry the prompt and the busy marker. */
const TAIL_LINES = 12;
/** Box drawing around a TUI's input: │ ┃ ╭ ╰ ─ (escaped: bundles stay ASCII). */
const LEADING_FRAME = /^[\s\u2502\u2503|\u256d\u2570\u2500]*/u;

function tail(text: string): string[] {
  const lines = text.split('\n').map((l) => l.replace(/\s+$/u, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-TAIL_LINES);
}

export function classifyPane(text: string, profile: PaneProfile): PaneState {
  for (const dialog of profile.dialogs)
    if (dialog.match.every((m) => text.includes(m))) return { kind: 'dialog', dialog };
  const lines = tail(text);
  const busy = (l: string): boolean => profile.busyText !== undefined && l.includes(profile.busyText);
  for (const q of profile.questions ?? []) {
    const at = questionLine(lines, q);
    if (at === undefined) continue;
    const below = lines.slice(at + 1);
    if (below.some(busy) || (q.modal === true && below.some((l) => promptInput(l, profile) !== undefined))) continue;
    const line = lines[at] ?? '';
    return { kind: 'question', question: q.name, text: line.replace(LEADING_FRAME, '').trim().slice(0, 200) };
  }
  if (lines.some(busy)) return { kind: 'busy' };
  if (profile.promptPrefix === undefined) return { kind: 'unknown' };
  for (let i = lines.length - 1; i >= 0; i--) {
    const input = promptInput(lines[i] ?? '', profile);
    if (input !== undefined) return { kind: 'idle', input };
  }
  return { kind: 'starting' };
}

/** Where a question shows in the last lines: the last line holding its first string, once every string is there. */
function questionLine(lines: readonly string[], q: Question): number | undefined {
  const [first] = q.match;
  if (first === undefined) return undefined;
  if (q.together === true) {
    const i = lines.findLastIndex((l) => q.match.every((m) => l.includes(m)));
    return i < 0 ? undefined : i;
  }
  const last = q.match.map((m) => lines.findLastIndex((l) => l.includes(m)));
  if (last.some((i) => i < 0)) return undefined;
  return last[0];
}

/** What sits typed on `line` if it is the input prompt; undefined when it is not the prompt. */
function promptInput(line: string, profile: PaneProfile): string | undefined {
  if (profile.promptPrefix === undefined) return undefined;
  const prefix = profile.promptPrefix.trimEnd();
  const bare = line.replace(LEADING_FRAME, '');
  if (!bare.startsWith(profile.promptPrefix) && bare !== prefix) return undefined;
  return bare
    .slice(prefix.length)
    .replace(/[\s\u2502\u2503|]+$/u, '')
    .trim();
}

/** A spinner's status line with its running timer ("✶ Creating… (12s · ↑ 1.2k tokens)"). */
const SPINNER_LINE = /\u2026\s*\(\d/u;

/**
 * The pane with its busy line(s) removed (spinners and timers redraw there while nothing else moves): two
 * captures that give the same progress text show no progress between them.
 */
export function progressText(text: string, profile: PaneProfile): string {
  const busy = profile.busyText;
  return text
    .split('\n')
    .map((l) => l.replace(/\s+$/u, ''))
    .filter((l) => (busy === undefined || !l.includes(busy)) && !SPINNER_LINE.test(l))
    .join('\n')
    .trimEnd();
}

/**
 * Text as it may be typed: one line (newlines and tabs become spaces: in a TUI a typed newline submits), no
 * terminal escape sequences, no control characters. Never empty unless the input was.
 */
export function sanitizeTypedText(text: string): string {
  /* eslint-disable no-control-regex -- removing control characters is the point */
  return text
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/gu, '') // CSI sequences (colours, cursor moves)
    .replace(/\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/gu, '') // OSC sequences (titles, links)
    .replace(/\r\n|[\r\n\t\v\f]/gu, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f]/gu, '')
    .replace(/ {2,}/gu, ' ')
    .trim();
  /* eslint-enable no-control-regex */
}

/** Whitespace and frame characters removed: a TUI re-wraps typed text inside its own box. */
export function squash(text: string): string {
  return text.replace(/[\s\u2502\u2503|\u256d\u256e\u2570\u256f\u2500]+/gu, '');
}

/** Whether the pane shows `typed` (its last characters, wherever the TUI wrapped them). */
export function paneShowsTyped(pane: string, typed: string): boolean {
  const s = squash(typed);
  return s === '' || squash(pane).includes(s.slice(-32));
}

/** Whether the prompt line still holds the start of `typed` (Enter not taken yet). */
export function stillUnsubmitted(state: PaneState, typed: string): boolean {
  if (state.kind !== 'idle') return false;
  const head = squash(typed).slice(0, 16);
  return head !== '' && squash(state.input).startsWith(head);
}
