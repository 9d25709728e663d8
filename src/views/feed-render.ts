import type { DerivedState } from '../core/derive.js';
import type { Severity } from '../core/escalation.js';
import { workTitle } from '../core/merge-request.js';
import { termWidth, truncate } from '../core/term-width.js';
import type { EventTone, FeedEvent } from './events.js';
import type { AgentRow, Need, TownView, UsageTotals } from './model.js';
import { selectedTarget, type FeedUi } from './feed-keys.js';

/**
 * The full-screen feed as text: a pure function of the town's view, the screen's size and what the person has
 * selected, typed and filtered, returning exactly `height` lines (each at most `width` columns, with colour
 * codes only when asked). Top to bottom: a header, what needs a person, the agents one row each, the merge
 * queue, the convoys, and the event stream (or the peeked pane, or the help) in what is left; then a status
 * line and the keys (or the prompt being typed).
 */

/** What a piece of text means, which is what its colour says (when colour is on). */
export type Tone = 'plain' | 'head' | 'dim' | 'good' | 'bad' | 'warn' | 'crit' | 'accent';

export type Seg = { text: string; tone?: Tone };
export type Line = { segs: Seg[]; selected?: boolean };

export type RenderOptions = {
  width: number;
  height: number;
  nowMs: number;
  color: boolean;
  /** An event's time as the stream shows it (default: local HH:MM:SS). */
  time?: (iso: string) => string;
};

const SGR: Record<Tone, string> = {
  plain: '',
  head: '1',
  dim: '2',
  good: '32',
  bad: '31',
  warn: '33',
  crit: '1;31',
  accent: '36',
};

/** Text from the town (titles, summaries, pane lines) with every control character made harmless. */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\r\n\t]+/gu, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/gu, '?');
}

/** Columns a string takes in the terminal (wide characters two, combining marks and zero-width ones none). */
export const width = termWidth;

/**
 * Cut to at most `n` columns between characters, with an ellipsis where it was cut (and a space after it when
 * a wide character did not fit), so that a cut text takes exactly `n`.
 */
export const cut = (text: string, n: number): string => truncate(text, n);

/** Left-aligned in exactly `n` columns. */
export function pad(text: string, n: number): string {
  const t = cut(text, n);
  return t + ' '.repeat(Math.max(0, n - width(t)));
}

const padStart = (text: string, n: number): string => {
  const t = cut(text, n);
  return ' '.repeat(Math.max(0, n - width(t))) + t;
};

/** A duration as a person reads it at a glance: 42s, 17m, 5h, 3d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const ageOf = (iso: string | null, nowMs: number): string => {
  if (iso === null) return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '-' : age(nowMs - t);
};

/** 950, 12.3k, 4.5M. */
export function tokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(n < 10_000_000 ? 1 : 0)}M`;
}

/** Money, or "unpriced" for a model with no price (never shown as 0). */
export function money(usd: number | null): string {
  if (usd === null) return 'unpriced';
  return `$${usd < 10 ? usd.toFixed(2) : usd.toFixed(0)}`;
}

const usageTokens = (u: UsageTotals): number =>
  u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens;

export const STATE_TONE: Record<DerivedState, Tone> = {
  working: 'good',
  'needs-input': 'warn',
  stalled: 'warn',
  'dead-with-work': 'bad',
  idle: 'accent',
  stopped: 'dim',
  zombie: 'bad',
  stuck: 'bad',
};

export const SEVERITY_TONE: Record<Severity, Tone> = { critical: 'crit', high: 'bad', medium: 'warn', low: 'plain' };

const EVENT_TONE: Record<EventTone, Tone> = { bad: 'bad', good: 'good', info: 'plain' };

function localTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '--:--:--';
  const d = new Date(t);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A line cut to `w` columns; a selected line is padded to the full width (it shows inverted). */
export function fit(line: Line, w: number): Line {
  const out: Seg[] = [];
  let left = w;
  const segs = line.segs.filter((s) => s.text !== '');
  const widths = segs.map((s) => width(s.text));
  // Columns of the segments after each one.
  const after = widths.map(() => 0);
  for (let i = segs.length - 2; i >= 0; i--) after[i] = (after[i + 1] ?? 0) + (widths[i + 1] ?? 0);
  for (const [i, s] of segs.entries()) {
    if (left <= 0) break;
    const n = widths[i] ?? 0;
    const rest = after[i] ?? 0;
    if (n <= left && (n < left || rest === 0)) {
      out.push(s);
      left -= n;
    } else if (n <= left) {
      // Fills the line exactly while more follows: the last column becomes the ellipsis.
      out.push({ ...s, text: cut(`${s.text}…`, left) });
      left = 0;
    } else {
      out.push({ ...s, text: cut(s.text, left) });
      left = 0;
    }
  }
  if (line.selected === true && left > 0) out.push({ text: ' '.repeat(left) });
  return { segs: out, ...(line.selected === true ? { selected: true } : {}) };
}

/** A line as the terminal gets it. */
export function paint(line: Line, color: boolean): string {
  if (!color) return line.segs.map((s) => s.text).join('');
  return line.segs
    .map((s) => {
      const code = [line.selected === true ? '7' : '', SGR[s.tone ?? 'plain']].filter((c) => c !== '').join(';');
      return code === '' ? s.text : `\u001b[${code}m${s.text}\u001b[0m`;
    })
    .join('');
}

const text = (t: string, tone: Tone = 'plain'): Seg => ({ text: t, tone });
const heading = (title: string, note = ''): Line => ({
  segs: [text(title, 'head'), ...(note === '' ? [] : [text(`  ${note}`, 'dim')])],
});

type Section = { head: Line; body: Line[]; floor: number };

/** The rows to show of `all` in `n` lines, keeping row `keep` (the selection) in sight. */
export function windowOf<T>(all: readonly T[], n: number, keep: number): { rows: T[]; from: number } {
  if (all.length <= n) return { rows: [...all], from: 0 };
  if (n <= 0) return { rows: [], from: 0 };
  const from = keep < 0 ? 0 : Math.max(0, Math.min(all.length - n, keep - Math.floor(n / 2)));
  return { rows: all.slice(from, from + n), from };
}

function needLine(n: Need, nowMs: number, selected: boolean, subjectW: number): Line {
  const owner = n.owner === null ? '' : ` (${n.state}, ${n.owner})`;
  return {
    selected,
    segs: [
      text(selected ? '> ' : '  '),
      text(pad(n.severity, 9), SEVERITY_TONE[n.severity]),
      text(padStart(ageOf(n.since, nowMs), 4), 'dim'),
      text(' '),
      text(pad(n.kind, 11)),
      text(pad(clean(n.subject), subjectW)),
      text(' '),
      text(clean(n.summary)),
      text(owner, 'dim'),
    ],
  };
}

function agentLine(
  a: AgentRow,
  nowMs: number,
  selected: boolean,
  cols: { address: number; bead: number; branch: number; usage: boolean },
): Line {
  const bead = a.bead === null ? '-' : `${a.bead.id} ${clean(a.bead.title)}`;
  const u = a.usage;
  const usage: Seg[] = !cols.usage
    ? []
    : [
        text(padStart(u === null ? (a.tokens === null ? '-' : tokens(a.tokens)) : tokens(usageTokens(u)), 7)),
        text(' '),
        text(pad(u === null ? '-' : money(u.usd), 9), u?.usd === null ? 'dim' : 'plain'),
      ];
  return {
    selected,
    segs: [
      text(selected ? '> ' : '  '),
      text(pad(clean(a.address), cols.address)),
      text(' '),
      text(pad(a.state, 15), STATE_TONE[a.state]),
      text(padStart(ageOf(a.since, nowMs), 4), 'dim'),
      text(' '),
      text(pad(bead, cols.bead), a.bead === null ? 'dim' : 'plain'),
      ...(cols.branch > 0 ? [text(' '), text(pad(clean(a.branch ?? '-'), cols.branch), 'dim')] : []),
      text(' '),
      text(padStart(ageOf(a.activity, nowMs), 4), 'dim'),
      text(' '),
      ...usage,
    ],
  };
}

/** Column widths of the agent rows for a screen `w` wide. */
function agentColumns(
  agents: readonly AgentRow[],
  w: number,
  usage: boolean,
): { address: number; bead: number; branch: number; usage: boolean } {
  const address = Math.min(32, Math.max(8, ...agents.map((a) => width(a.address))));
  // marker 2, address+1, state 15, since 4+1, activity 1+4+1, usage 7+1+9
  const fixed = 2 + address + 1 + 15 + 5 + 6 + (usage ? 17 : 0);
  const rest = Math.max(0, w - fixed);
  if (rest < 40) return { address, bead: Math.max(0, rest), branch: 0, usage };
  const branch = Math.min(40, Math.floor(rest * 0.35));
  return { address, bead: Math.min(70, rest - branch - 1), branch, usage };
}

function needsSection(view: TownView, ui: FeedUi, o: RenderOptions, lines: number): Line[] {
  const selected = selectedTarget(ui, view)?.key ?? null;
  const subjectW = Math.min(30, Math.max(8, ...view.needs.map((n) => width(clean(n.subject)))));
  const index = view.needs.findIndex((n) => `need:${n.kind}:${n.id}` === selected);
  const { rows } = windowOf(view.needs, lines, index);
  return rows.map((n) => needLine(n, o.nowMs, `need:${n.kind}:${n.id}` === selected, subjectW));
}

function queueLines(view: TownView, budget: number): Line[] {
  const out: Line[] = [];
  const rigs = view.queue;
  // Every rig's summary first, then its next rows while the budget lasts (shared evenly).
  const perRig = rigs.length === 0 ? 0 : Math.max(0, Math.floor((budget - rigs.length) / rigs.length));
  for (const q of rigs) {
    const s = q.stats;
    out.push({
      segs: [
        text('  '),
        text(pad(clean(q.rig), 14), 'accent'),
        text(` ${s.queued} queued · ${s.testing} testing · `),
        text(`${s.returned} returned`, s.returned > 0 ? 'warn' : 'plain'),
        ...(s.escalated > 0 ? [text(' · '), text(`${s.escalated} escalated`, 'bad')] : []),
        text(` · landed today ${s.landed}`, 'dim'),
        ...(s.oldest_wait_ms === null ? [] : [text(` · oldest waits ${age(s.oldest_wait_ms)}`, 'dim')]),
      ],
    });
    const next = q.rows.filter((r) => r.state === 'queued' || r.state === 'testing' || r.state === 'returned');
    for (const r of next.slice(0, perRig)) {
      out.push({
        segs: [
          text('    '),
          text(padStart(r.position === null ? '' : `${r.position}.`, 3), 'dim'),
          text(' '),
          text(pad(r.id, 12)),
          text(' '),
          text(pad(r.state, 9), r.state === 'returned' ? 'warn' : r.state === 'testing' ? 'accent' : 'plain'),
          text(padStart(age(r.age_ms), 4), 'dim'),
          text(' '),
          text(clean(workTitle(r.title))),
          text(r.cause === null ? '' : ` (${r.cause})`, 'warn'),
          text(` ${clean(r.source)}`, 'dim'),
        ],
      });
    }
  }
  return out.slice(0, Math.max(0, budget));
}

function convoyLines(view: TownView): Line[] {
  const nameW = Math.min(36, Math.max(8, ...view.convoys.map((c) => width(clean(c.name)))));
  return view.convoys.map((c) => {
    const p = c.progress;
    const bar = 10;
    const done = p.total === 0 ? 0 : Math.round((p.merged / p.total) * bar);
    const rest = [
      p.working > 0 ? `${p.working} working` : '',
      p.queued > 0 ? `${p.queued} queued` : '',
      p.ready > 0 ? `${p.ready} ready` : '',
      p.blocked > 0 ? `${p.blocked} blocked` : '',
    ].filter((x) => x !== '');
    return {
      segs: [
        text('  '),
        text(pad(c.id, 12)),
        text(' '),
        text(pad(clean(c.name), nameW)),
        text(' '),
        text(`[${'#'.repeat(done)}${'.'.repeat(bar - done)}]`, c.landed_at !== null ? 'good' : 'accent'),
        text(` ${p.merged}/${p.total} merged`),
        text(rest.length === 0 ? '' : ` · ${rest.join(', ')}`, 'dim'),
        text(c.landed_at !== null ? ' · landed' : c.status === 'open' ? '' : ` · ${c.status}`, 'good'),
      ],
    };
  });
}

/** An event: its time, who did it (unless the text starts with them already), and what happened. */
function eventLine(e: FeedEvent, time: (iso: string) => string): Line {
  return {
    segs: [
      text(`${time(e.at)} `, 'dim'),
      text(e.text.startsWith(`${e.actor} `) ? '' : `${clean(e.actor)} `, 'accent'),
      text(clean(e.text), EVENT_TONE[e.tone]),
    ],
  };
}

/** The words of the keys (the last line, when nothing is being typed). */
export const KEYS_LINE =
  '↑↓/jk select · a attach · p peek · n nudge · h hand off · r restart · u requeue · A ack · f rig · ? help · q quit';

export const HELP_LINES = [
  'up/down or j/k: select a need or an agent (the top one stays selected until you move)',
  'Enter or a: attach to the agent (detach with Ctrl-b d to come back here)',
  'p: peek at its pane (p again: read it again; Esc: close)',
  'n: nudge: type the text, Enter sends it (typed at once if idle, else queued); Esc cancels',
  'h: ask it to hand off at its next turn · r: restart its session (y/n) · u: requeue its bead (y/n)',
  'A: acknowledge the selected escalation · f or /: next rig (then all rigs) · ?: this help · q or Ctrl-C: quit',
];

function headerLine(view: TownView, ui: FeedUi, o: RenderOptions): Line {
  const counts = new Map<string, number>();
  for (const a of view.agents) counts.set(a.state, (counts.get(a.state) ?? 0) + 1);
  const states = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  const cost =
    view.costs === null
      ? ''
      : ` · today ${tokens(usageTokens(view.costs.totals))} tokens ${money(view.costs.totals.usd)}`;
  return {
    segs: [
      text(`Gas Town "${clean(view.town.name)}"`, 'head'),
      text(` · rig ${ui.rig ?? 'all'}`, ui.rig === null ? 'dim' : 'accent'),
      view.daemon.running ? text(` · daemon ${view.daemon.pid ?? ''}`, 'dim') : text(' · daemon not running', 'warn'),
      ...(view.down ? [text(' · DOWN (gt up starts it)', 'bad')] : []),
      text(` · ${view.agents.length} agents${states === '' ? '' : ` (${states})`}`),
      text(` · landed today ${view.landed.count}`, 'dim'),
      text(cost, 'dim'),
      text(` · ${localTime(new Date(o.nowMs).toISOString())}`, 'dim'),
    ],
  };
}

function footer(ui: FeedUi): Line[] {
  const status: Line =
    ui.status === null
      ? { segs: [] }
      : {
          segs: [
            text(
              clean(ui.status.text),
              ui.status.tone === 'bad' ? 'bad' : ui.status.tone === 'good' ? 'good' : 'accent',
            ),
          ],
        };
  let last: Line;
  switch (ui.mode.kind) {
    case 'prompt':
      last = {
        segs: [
          text(`nudge ${ui.mode.agent}: `, 'head'),
          text(clean(ui.mode.text)),
          text('_', 'dim'),
          text('  (Enter sends, Esc cancels)', 'dim'),
        ],
      };
      break;
    case 'confirm':
      last = {
        segs: [
          text(
            `${ui.mode.action === 'restart' ? 'restart the session of' : 'requeue the bead of'} ${ui.mode.agent}? `,
            'head',
          ),
          text('y/n', 'warn'),
        ],
      };
      break;
    case 'browse':
      last = { segs: [text(KEYS_LINE, 'dim')] };
      break;
  }
  return [status, last];
}

/** The whole screen: exactly `height` painted lines. */
export function renderFeed(view: TownView | undefined, ui: FeedUi, o: RenderOptions): string[] {
  const h = Math.max(0, o.height);
  const w = Math.max(1, o.width);
  const time = o.time ?? localTime;
  const lines: Line[] = [];
  if (view === undefined) {
    lines.push({ segs: [text('Gas Town feed', 'head'), text(' · reading the town…', 'dim')] });
  } else {
    lines.push(headerLine(view, ui, o));
    const avail = Math.max(0, h - 3);
    const usage = view.costs !== null || view.agents.some((a) => a.usage !== null || a.tokens !== null);
    const cols = agentColumns(view.agents, w, usage);
    const target = selectedTarget(ui, view)?.key ?? null;

    const sections: (Section & { want: number; fill: (n: number) => Line[] })[] = [
      {
        head: heading(
          'NEEDS YOU',
          view.needs.length === 0 ? 'nothing' : `${view.needs.length}, most severe and oldest first`,
        ),
        body: [],
        floor: Math.min(view.needs.length, 3),
        want: view.needs.length,
        fill: (n) => needsSection(view, ui, o, n),
      },
      {
        head: heading('AGENTS', `${view.agents.length}`),
        body: [],
        floor: Math.min(view.agents.length, 3),
        want: view.agents.length,
        fill: (n) => {
          const index = view.agents.findIndex((a) => `agent:${a.address}` === target);
          return windowOf(view.agents, n, index).rows.map((a) =>
            agentLine(a, o.nowMs, `agent:${a.address}` === target, cols),
          );
        },
      },
      {
        head: heading('MERGE QUEUE', view.queue.length === 0 ? 'no rigs' : ''),
        body: [],
        floor: Math.min(view.queue.length, 2),
        want: view.queue.reduce(
          (m, q) =>
            m +
            1 +
            Math.min(
              3,
              q.rows.filter((r) => r.state === 'queued' || r.state === 'testing' || r.state === 'returned').length,
            ),
          0,
        ),
        fill: (n) => queueLines(view, n),
      },
      {
        head: heading('CONVOYS', view.convoys.length === 0 ? 'none open' : `${view.convoys.length}`),
        body: [],
        floor: Math.min(view.convoys.length, 2),
        want: view.convoys.length,
        fill: (n) => convoyLines(view).slice(0, n),
      },
    ];
    // The bottom panel: the peeked pane, the help, or the event stream.
    const panel: { head: Line; body: Line[] } =
      ui.peek !== null
        ? {
            head: heading(`PEEK ${ui.peek.agent}`, 'p reads it again · Esc closes'),
            body: ui.peek.text.split('\n').map((l) => ({ segs: [text(clean(l))] })),
          }
        : ui.help
          ? { head: heading('KEYS', '? closes'), body: HELP_LINES.map((l) => ({ segs: [text(l)] })) }
          : {
              head: heading('EVENTS', 'newest at the bottom'),
              body: view.events.map((e) => eventLine(e, time)),
            };
    const panelFloor = Math.min(1 + panel.body.length, 6);

    // Every section gets its heading and its floor; what is left goes to them in order, up to what each wants,
    // and the rest to the panel. On a screen too small, the lower sections give up their rows first.
    const sizes = sections.map((s) => s.floor);
    let panelMin = panelFloor;
    const used = (): number => sections.length + sizes.reduce((m, n) => m + n, 0);
    const over = (): number => used() + panelMin - avail;
    for (let i = sections.length - 1; i >= 0; i--)
      while (over() > 0 && (sizes[i] ?? 0) > 0) sizes[i] = (sizes[i] ?? 0) - 1;
    while (over() > 0 && panelMin > 0) panelMin--;
    let extra = avail - used() - panelMin;
    for (const [i, s] of sections.entries()) {
      if (extra <= 0) break;
      const more = Math.min(extra, s.want - (sizes[i] ?? 0));
      if (more > 0) {
        sizes[i] = (sizes[i] ?? 0) + more;
        extra -= more;
      }
    }
    sections.forEach((s, i) => {
      const n = sizes[i] ?? 0;
      const note = n < s.want ? `  (${n} of ${s.want} rows shown)` : '';
      lines.push(note === '' ? s.head : { segs: [...s.head.segs, text(note, 'dim')] });
      lines.push(...s.fill(n));
    });
    const room = h - 2 - lines.length;
    if (room > 0) {
      lines.push(panel.head);
      const n = room - 1;
      // The stream shows its newest lines; a pane its last ones; the help from the top.
      lines.push(
        ...(ui.help && ui.peek === null
          ? panel.body.slice(0, n)
          : panel.body.slice(Math.max(0, panel.body.length - n))),
      );
    }
  }
  const body = lines.slice(0, Math.max(0, h - 2));
  while (body.length < h - 2) body.push({ segs: [] });
  const all = h >= 2 ? [...body, ...footer(ui)] : footer(ui).slice(2 - h);
  return all.map((l) => paint(fit(l, w), o.color));
}
