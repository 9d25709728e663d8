import type { AgentSession } from '../core/agent-store.js';
import type { FeedEvent } from './events.js';
import { totalTokens, type AgentRow, type Need, type QueueView, type TownView, type UsageTotals } from './model.js';

/**
 * The dashboard's HTML, rendered on the server from the town view: dense tables, one fragment per section,
 * so that an update replaces only the sections that changed. Everything that comes from the town (bead
 * titles, pane text, questions, addresses) is untrusted and goes through `esc`; nothing here builds markup
 * from a value that has not been escaped. Pure: the caller passes the view and what the page may do.
 */

export type RenderOptions = {
  /** Whether the page offers actions (false: read-only, no buttons). */
  actions: boolean;
};

/** The sections every page may show, each a fragment the server pushes when it changes. */
export const SHARED_FRAGMENTS = ['summary', 'needs', 'agents', 'convoys', 'queue', 'landed'] as const;
export type SharedFragment = (typeof SHARED_FRAGMENTS)[number];

/** The sections of one agent's page. */
export const AGENT_FRAGMENTS = ['agent-head', 'agent-pane', 'agent-sessions', 'agent-beads', 'agent-costs'] as const;
export type AgentFragment = (typeof AGENT_FRAGMENTS)[number];

export type Fragments<K extends string> = Record<K, string>;

// eslint-disable-next-line no-control-regex -- terminal escapes and control characters are what is removed
const ANSI = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)|[@-Z\\-_])/gu;
// eslint-disable-next-line no-control-regex -- control characters other than tab and newline
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/gu;

/** Text made safe for HTML content and for quoted attribute values. */
export function esc(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return String(value)
    .replace(CONTROL, '')
    .replace(/&/gu, '&amp;')
    .replace(/</gu, '&lt;')
    .replace(/>/gu, '&gt;')
    .replace(/"/gu, '&quot;')
    .replace(/'/gu, '&#39;');
}

/** A pane as text: terminal escapes and control characters removed, trailing blank lines dropped. */
export function paneText(raw: string): string {
  return raw.replace(ANSI, '').replace(/\r/gu, '').replace(CONTROL, '').replace(/\s+$/u, '');
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** A span of time in a few characters: 42s, 12m, 3h 5m, 2d 3h. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A count with thousands separators. */
export function count(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/gu, ',');
}

/** A time as how long ago, which the page's script keeps current; the exact time in the tooltip. */
function ago(iso: string | null, nowMs: number): string {
  if (iso === null) return '<span class="dim">-</span>';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '<span class="dim">-</span>';
  return `<time datetime="${esc(iso)}" data-age title="${esc(iso)}">${esc(span(nowMs - t))}</time>`;
}

/** A clock time (HH:MM:SS, local) with the full time in the tooltip. */
function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return esc(iso);
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}</time>`;
}

const agentLink = (address: string): string =>
  `<a href="/agent?address=${encodeURIComponent(address)}">${esc(address)}</a>`;

const stateCell = (state: string): string => `<span class="state st-${esc(state)}">${esc(state)}</span>`;

function button(action: string, label: string, data: Record<string, string>, title: string): string {
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  return `<button type="button" data-action="${esc(action)}"${attrs} title="${esc(title)}">${esc(label)}</button>`;
}

function agentButtons(a: { address: string; bead: unknown }, o: RenderOptions): string {
  if (!o.actions) return '';
  const agent = { agent: a.address };
  return [
    button('nudge', 'nudge', agent, `type a message to ${a.address}`),
    button('restart', 'restart', agent, 'restart its session (same sandbox, same hook)'),
    button('handoff', 'hand off', agent, 'ask it to hand off at its next turn'),
    ...(a.bead === null ? [] : [button('requeue', 'requeue', agent, 'give its bead back to the rig')]),
  ].join('');
}

/** Raw tokens first (for subscribers money means nothing), then money, or "unpriced" when a model has none. */
export function tokensCell(u: UsageTotals | null): string {
  if (u === null) return '<span class="dim">-</span>';
  const parts = `in ${count(u.input_tokens)}, out ${count(u.output_tokens)}, cache read ${count(u.cache_read_tokens)}, cache write ${count(u.cache_write_tokens)}`;
  return `<span title="${esc(parts)}">${esc(count(totalTokens(u)))}</span>`;
}

export function usdCell(u: UsageTotals | null): string {
  if (u === null) return '<span class="dim">-</span>';
  return u.usd === null ? '<span class="dim">unpriced</span>' : `$${esc(u.usd.toFixed(2))}`;
}

function table(head: readonly string[], rows: readonly string[], empty: string, cls = ''): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table${cls === '' ? '' : ` class="${cls}"`}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

// ------------------------------------------------------------------------------------------------------------
// the shared sections

function summary(v: TownView, nowMs: number): string {
  const w = v.work;
  const items = [
    `<span><b>${esc(v.town.name)}</b>${v.rig === null ? '' : ` · rig ${esc(v.rig)}`}</span>`,
    v.daemon.running
      ? `<span class="good">daemon running (pid ${esc(v.daemon.pid)})</span>`
      : '<span class="bad">daemon not running</span>',
    ...(v.down ? ['<span class="bad">town down (gt up starts it)</span>'] : []),
    `<span>${esc(v.agents.length)} agents</span>`,
    `<span>work: ${esc(w.open)} open (${esc(w.ready)} ready), ${esc(w.in_progress)} in progress, ${esc(w.hooked)} hooked, ${esc(w.blocked)} blocked</span>`,
    `<span>landed today: ${esc(v.landed.count)}</span>`,
    ...(v.costs === null
      ? []
      : [`<span>today: ${tokensCell(v.costs.totals)} tokens, ${usdCell(v.costs.totals)}</span>`]),
    `<span class="dim">as of ${ago(v.at, nowMs)} ago</span>`,
  ];
  return items.join('');
}

function needRow(n: Need, nowMs: number, o: RenderOptions): string {
  const acts: string[] = [];
  if (o.actions && n.kind === 'escalation' && n.state === 'open')
    acts.push(button('ack', 'acknowledge', { escalation: n.id }, `acknowledge ${n.id}`));
  if (n.agent !== null && o.actions) acts.push(button('nudge', 'nudge', { agent: n.agent }, `type to ${n.agent}`));
  return (
    `<tr class="sev-${esc(n.severity)}"><td>${esc(n.severity)}</td><td>${esc(n.kind)}</td><td class="id">${esc(n.id)}</td>` +
    `<td>${n.agent === null ? esc(n.subject) : agentLink(n.agent)}</td><td class="wide">${esc(n.summary)}</td>` +
    `<td>${ago(n.since, nowMs)}</td><td>${esc(n.state)}</td><td>${esc(n.owner ?? '-')}</td><td class="acts">${acts.join('')}</td></tr>`
  );
}

function needs(v: TownView, nowMs: number, o: RenderOptions): string {
  return table(
    ['severity', 'kind', 'id', 'about', 'what', 'for', 'state', 'owner', ''],
    v.needs.map((n) => needRow(n, nowMs, o)),
    'Nothing needs you.',
  );
}

function agentRow(a: AgentRow, nowMs: number, o: RenderOptions): string {
  const bead =
    a.bead === null
      ? '<span class="dim">-</span>'
      : `<span class="id">${esc(a.bead.id)}</span> ${esc(a.bead.title)} <span class="dim">(${esc(a.bead.status)})</span>`;
  return (
    `<tr data-agent="${esc(a.address)}"><td>${agentLink(a.address)}</td><td>${esc(a.role)}</td><td>${stateCell(a.state)}</td>` +
    `<td>${ago(a.since, nowMs)}</td><td>${esc(a.cli)}${a.model === null ? '' : ` <span class="dim">${esc(a.model)}</span>`}</td>` +
    `<td class="wide">${bead}${a.question === null ? '' : `<div class="ask">waits at: ${esc(a.question)}</div>`}</td>` +
    `<td class="id">${esc(a.branch ?? '-')}</td><td>${ago(a.activity, nowMs)}</td><td class="num">${tokensCell(a.usage)}</td>` +
    `<td class="num">${usdCell(a.usage)}</td><td class="acts">${agentButtons(a, o)}</td></tr>`
  );
}

const AGENT_HEAD = ['agent', 'role', 'state', 'for', 'cli', 'bead', 'branch', 'active', 'tokens', 'cost', ''];

function agents(v: TownView, nowMs: number, o: RenderOptions): string {
  if (v.agents.length === 0) return '<p class="empty">No agents.</p>';
  const groups = new Map<string, AgentRow[]>();
  for (const a of v.agents) {
    const key = a.rig ?? '';
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  const order = [...groups.keys()].sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
  return order
    .map((rig) => {
      const rows = groups.get(rig) ?? [];
      return `<h3>${rig === '' ? 'town' : `rig ${esc(rig)}`}</h3>${table(
        AGENT_HEAD,
        rows.map((a) => agentRow(a, nowMs, o)),
        'No agents.',
      )}`;
    })
    .join('');
}

function convoys(v: TownView): string {
  if (v.convoys.length === 0) return '<p class="empty">No open convoys.</p>';
  const rows = v.convoys.map((c) => {
    const p = c.progress;
    const done = p.merged + p.closed;
    return (
      `<tr><td class="id">${esc(c.id)}</td><td>${esc(c.name)}</td><td>${esc(c.status)}</td>` +
      `<td><progress max="${esc(Math.max(1, p.total))}" value="${esc(done)}"></progress> ${esc(done)}/${esc(p.total)}</td>` +
      `<td class="num">${esc(p.merged)}</td><td class="num">${esc(p.closed)}</td><td class="num">${esc(p.working)}</td>` +
      `<td class="num">${esc(p.queued)}</td><td class="num">${esc(p.ready)}</td><td class="num">${esc(p.blocked)}</td>` +
      `<td>${esc(c.owner)}</td><td>${c.landed_at === null ? '<span class="dim">-</span>' : clock(c.landed_at)}</td></tr>`
    );
  });
  const beads = v.convoys.flatMap((c) =>
    c.beads.map(
      (b) =>
        `<tr><td class="id">${esc(c.id)}</td><td class="id">${esc(b.id)}</td><td class="wide">${esc(b.title)}</td>` +
        `<td>${stateCell(b.state)}</td><td>${b.assignee === null ? '<span class="dim">-</span>' : agentLink(b.assignee)}</td></tr>`,
    ),
  );
  return (
    table(
      [
        'convoy',
        'name',
        'status',
        'progress',
        'merged',
        'closed',
        'working',
        'queued',
        'ready',
        'blocked',
        'owner',
        'landed',
      ],
      rows,
      'No open convoys.',
    ) + `<h3>their beads</h3>${table(['convoy', 'bead', 'title', 'state', 'assignee'], beads, 'No beads tracked.')}`
  );
}

const msOrDash = (ms: number | null): string => (ms === null ? '-' : span(ms));
const numOrDash = (n: number | null, digits = 1): string => (n === null ? '-' : n.toFixed(digits));

/** The lanes a request moves through while it is open, in order. */
const LANES = ['queued', 'testing', 'returned', 'escalated'] as const;

function queueRig(q: QueueView): string {
  const s = q.stats;
  const returns = Object.entries(s.returns)
    .map(([cause, n]) => `${cause} ${n}`)
    .join(', ');
  const numbers: [string, string][] = [
    ['queued', String(s.queued)],
    ['testing', String(s.testing)],
    ['returned', String(s.returned)],
    ['escalated', String(s.escalated)],
    ['oldest wait', msOrDash(s.oldest_wait_ms)],
    [`landed (${numOrDash(s.window_hours)} h)`, String(s.landed)],
    ['merges per hour', numOrDash(s.merges_per_hour)],
    ['queue time p50', msOrDash(s.queue_ms_p50)],
    ['queue time p95', msOrDash(s.queue_ms_p95)],
    ['gate runs per landed', numOrDash(s.gate_runs_per_landed)],
    ['batches', String(s.batches)],
    ['mean batch size', numOrDash(s.batch_size_mean)],
    ['isolation rounds per red batch', numOrDash(s.isolation_rounds_per_red)],
    ['flakes', String(s.flakes)],
    ['returns by cause', returns === '' ? '-' : returns],
  ];
  const stats = `<dl class="stats">${numbers.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`;
  const lanes = LANES.map((lane) => {
    const rows = q.rows
      .filter((r) => r.state === lane)
      .map(
        (r) =>
          `<tr><td class="num">${esc(r.position ?? '')}</td><td class="id">${esc(r.id)}</td><td class="wide">${esc(r.title)}</td>` +
          `<td class="id">${esc(r.source)}</td><td>${esc(span(r.age_ms))}</td><td class="num">${esc(r.attempts)}</td>` +
          `<td>${esc(r.cause ?? '')}</td></tr>`,
      );
    const title = lane === 'testing' ? 'testing (the batch under test)' : lane;
    return `<div class="lane lane-${lane}"><h4>${esc(title)} <span class="dim">${esc(rows.length)}</span></h4>${table(['#', 'request', 'title', 'source', 'age', 'tries', 'cause'], rows, 'none')}</div>`;
  });
  return `<h3>rig ${esc(q.rig)}</h3>${stats}<div class="lanes">${lanes.join('')}</div>`;
}

function queue(v: TownView): string {
  return v.queue.length === 0 ? '<p class="empty">No rigs.</p>' : v.queue.map(queueRig).join('');
}

function landed(v: TownView): string {
  const rows = v.landed.recent.map(
    (m) =>
      `<tr><td>${clock(m.landed_at)}</td><td class="id">${esc(m.id)}</td><td class="wide">${esc(m.title)}</td>` +
      `<td>${esc(m.rig)}</td><td class="id">${esc(m.source)}</td><td class="id">${esc((m.landed_in ?? '-').slice(0, 10))}</td></tr>`,
  );
  const convoysLanded = v.convoys
    .filter((c) => c.landed_at !== null)
    .map(
      (c) =>
        `<tr><td>${clock(c.landed_at ?? '')}</td><td class="id">${esc(c.id)}</td><td class="wide">${esc(c.name)}</td><td class="num">${esc(c.progress.total)}</td></tr>`,
    );
  return (
    `<p>${esc(v.landed.count)} merge request(s) landed since ${clock(v.landed.since)}${v.landed.count > rows.length ? ` (the newest ${esc(rows.length)} shown)` : ''}.</p>` +
    table(['at', 'request', 'title', 'rig', 'source', 'landed in'], rows, 'Nothing landed today yet.') +
    `<h3>convoys landed today</h3>${table(['at', 'convoy', 'name', 'beads'], convoysLanded, 'None yet.')}`
  );
}

/** Every shared section of the view, rendered. */
export function sharedFragments(v: TownView, o: RenderOptions): Fragments<SharedFragment> {
  const nowMs = Date.parse(v.at);
  return {
    summary: summary(v, nowMs),
    needs: needs(v, nowMs, o),
    agents: agents(v, nowMs, o),
    convoys: convoys(v),
    queue: queue(v),
    landed: landed(v),
  };
}

/** One row of the event stream. */
export function eventRow(e: FeedEvent): string {
  return (
    `<tr data-id="${esc(e.id)}" class="tone-${esc(e.tone)}"><td>${clock(e.at)}</td><td>${esc(e.actor)}</td>` +
    `<td class="id">${esc(e.subject)}</td><td class="wide">${esc(e.text)}</td></tr>`
  );
}

// ------------------------------------------------------------------------------------------------------------
// one agent

export type AgentDetail = {
  address: string;
  /** Its row in the view; null when the view does not show it (another rig, or gone). */
  row: AgentRow | null;
  /** Its pane as captured, or why there is none. */
  pane: { text: string } | { missing: string };
  sessions: AgentSession[];
  beads: { id: string; title: string; status: string; issue_type: string; updated_at: string }[];
};

function agentHead(d: AgentDetail, nowMs: number, o: RenderOptions): string {
  const a = d.row;
  if (a === null) return `<p class="empty">${esc(d.address)} is not in the view (removed, or in another rig).</p>`;
  const facts: [string, string][] = [
    ['state', `${stateCell(a.state)} for ${ago(a.since, nowMs)}`],
    ['role', esc(a.role)],
    ['rig', esc(a.rig ?? '-')],
    ['session', `<span class="id">${esc(a.session)}</span>`],
    ['cli', `${esc(a.cli)}${a.model === null ? '' : ` (${esc(a.model)})`}`],
    [
      'bead',
      a.bead === null ? '-' : `<span class="id">${esc(a.bead.id)}</span> ${esc(a.bead.title)} (${esc(a.bead.status)})`,
    ],
    ['branch', `<span class="id">${esc(a.branch ?? '-')}</span>`],
    ['last active', ago(a.activity, nowMs)],
    ...(a.question === null ? [] : [['waits at', `<span class="ask">${esc(a.question)}</span>`] as [string, string]]),
  ];
  const acts = agentButtons(a, o);
  return `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>${acts === '' ? '' : `<p class="acts">${acts}</p>`}`;
}

function agentPane(d: AgentDetail): string {
  if ('missing' in d.pane) return `<p class="empty">${esc(d.pane.missing)}</p>`;
  const text = paneText(d.pane.text);
  return text === '' ? '<p class="empty">(the pane is empty)</p>' : `<pre class="pane">${esc(text)}</pre>`;
}

function agentSessions(d: AgentDetail, nowMs: number): string {
  const rows = d.sessions.map(
    (s) =>
      `<tr data-session="${esc(s.session_id)}"><td class="id">${esc(s.session_id)}</td><td>${clock(s.started_at)}</td>` +
      `<td>${s.ended_at === null ? '<span class="good">open</span>' : clock(s.ended_at)}</td>` +
      `<td>${s.ended_at === null ? ago(s.started_at, nowMs) : esc(span(Date.parse(s.ended_at) - Date.parse(s.started_at)))}</td>` +
      `<td class="end-${esc(s.end_reason ?? 'open')}">${esc(s.end_reason ?? '-')}</td><td class="id">${esc(s.bead_id ?? '-')}</td>` +
      `<td>${esc(s.runtime)}</td><td class="id">${esc(s.runtime_session_id ?? '-')}</td></tr>`,
  );
  return table(
    ['session', 'started', 'ended', 'lasted', 'end', 'bead', 'cli', 'cli session'],
    rows,
    'No sessions yet.',
  );
}

function agentBeads(d: AgentDetail): string {
  const rows = d.beads.map(
    (b) =>
      `<tr><td class="id">${esc(b.id)}</td><td class="wide">${esc(b.title)}</td><td>${esc(b.issue_type)}</td>` +
      `<td>${esc(b.status)}</td><td>${clock(b.updated_at)}</td></tr>`,
  );
  return table(['bead', 'title', 'type', 'status', 'updated'], rows, 'No beads.');
}

function agentCosts(d: AgentDetail): string {
  const u = d.row?.usage ?? null;
  if (u === null) return '<p class="empty">No usage recorded today.</p>';
  return table(
    ['input', 'output', 'cache read', 'cache write', 'total', 'cost', 'model'],
    [
      `<tr><td class="num">${esc(count(u.input_tokens))}</td><td class="num">${esc(count(u.output_tokens))}</td>` +
        `<td class="num">${esc(count(u.cache_read_tokens))}</td><td class="num">${esc(count(u.cache_write_tokens))}</td>` +
        `<td class="num">${esc(count(totalTokens(u)))}</td><td class="num">${usdCell(u)}</td><td>${esc(u.model ?? '-')}</td></tr>`,
    ],
    '',
  );
}

export function agentFragments(d: AgentDetail, nowMs: number, o: RenderOptions): Fragments<AgentFragment> {
  return {
    'agent-head': agentHead(d, nowMs, o),
    'agent-pane': agentPane(d),
    'agent-sessions': agentSessions(d, nowMs),
    'agent-beads': agentBeads(d),
    'agent-costs': agentCosts(d),
  };
}

// ------------------------------------------------------------------------------------------------------------
// pages

export const PAGES = {
  needs: { path: '/', title: 'Needs you' },
  flight: { path: '/flight', title: 'In flight' },
  queue: { path: '/queue', title: 'Merge queue' },
  landed: { path: '/landed', title: 'Landed today' },
} as const;
export const PAGE_NAMES = ['needs', 'flight', 'queue', 'landed'] as const satisfies readonly (keyof typeof PAGES)[];
export type PageName = keyof typeof PAGES | 'agent';

export type PageInput = {
  page: PageName;
  town: string;
  /**
   * Whether the page offers actions (its browser has the session cookie, on a dashboard that allows them).
   * A page never carries a secret: the cookie goes with the page's own requests by itself.
   */
  actions: boolean;
  /** Why it offers none, in one line (shown at the top); null when it offers them. */
  readOnlyReason: string | null;
  /** Where the page's stream resumes: `<view seq>.<event cursor>`. */
  since: string;
  shared: Fragments<SharedFragment>;
  events: readonly string[];
  agent?: { address: string; fragments: Fragments<AgentFragment> };
};

const section = (id: string, title: string, html: string): string =>
  `<section><h2>${esc(title)}</h2><div data-frag="${esc(id)}">${html}</div></section>`;

function nudgeForm(agent: string): string {
  return (
    `<form id="nudge" class="nudge" autocomplete="off"><label>nudge <input name="agent" placeholder="agent address" value="${esc(agent)}" required></label>` +
    `<label class="grow"><input name="text" placeholder="message to type into its session" maxlength="4000" required></label>` +
    `<button type="submit">send</button></form>`
  );
}

export function renderPage(p: PageInput): string {
  const title = p.page === 'agent' ? (p.agent?.address ?? 'agent') : PAGES[p.page].title;
  const nav = Object.entries(PAGES)
    .map(([name, pg]) => `<a href="${pg.path}"${name === p.page ? ' aria-current="page"' : ''}>${esc(pg.title)}</a>`)
    .join('');
  const events = `<section><h2>Events</h2><table class="events"><tbody id="events">${[...p.events].reverse().join('')}</tbody></table></section>`;
  let main: string;
  switch (p.page) {
    case 'needs':
      main = section('needs', 'Needs you', p.shared.needs) + section('agents', 'Agents', p.shared.agents) + events;
      break;
    case 'flight':
      main =
        section('convoys', 'In flight by convoy', p.shared.convoys) +
        section('agents', 'In flight by rig', p.shared.agents);
      break;
    case 'queue':
      main = section('queue', 'Merge queue', p.shared.queue);
      break;
    case 'landed':
      main = section('landed', 'Landed today', p.shared.landed);
      break;
    case 'agent': {
      const f = p.agent?.fragments;
      main =
        f === undefined
          ? ''
          : section('agent-head', p.agent?.address ?? '', f['agent-head']) +
            section('agent-pane', 'Pane', f['agent-pane']) +
            section('agent-sessions', 'Sessions', f['agent-sessions']) +
            section('agent-beads', 'Beads', f['agent-beads']) +
            section('agent-costs', 'Costs today', f['agent-costs']);
      break;
    }
  }
  const readOnly = p.readOnlyReason === null ? '' : `<p class="readonly">Read-only: ${esc(p.readOnlyReason)}</p>`;
  const actions = !p.actions
    ? ''
    : `<div class="actionbar">${nudgeForm(p.agent?.address ?? '')}<output id="result" aria-live="polite"></output></div>`;
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${esc(title)} · ${esc(p.town)} · gt dashboard</title>` +
    '<link rel="stylesheet" href="/app.css"><script src="/app.js" defer></script></head>' +
    `<body data-since="${esc(p.since)}"${p.actions ? ' data-actions="1"' : ''}${p.agent === undefined ? '' : ` data-agent="${esc(p.agent.address)}"`}>` +
    `<header><nav>${nav}</nav><span id="live" class="live off">connecting</span></header>` +
    `<div class="summary" data-frag="summary">${p.shared.summary}</div>${readOnly}${actions}<main>${main}</main></body></html>`
  );
}

/** A page for what was not found (an unknown agent, a wrong path). */
export function notFoundPage(what: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>not found · gt dashboard</title>' +
    `<link rel="stylesheet" href="/app.css"></head><body><main><p>${esc(what)}</p><p><a href="/">back to the dashboard</a></p></main></body></html>`
  );
}

/**
 * A page that sends the browser on to `url` at once (a link too, should it not): the hop from an address
 * with the token to the same page without it (see exchangeToken), and the file `gt dashboard --open` hands
 * the browser, so that the token is in no command line.
 */
export function forwardPage(url: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="refresh" content="0;url=${esc(url)}"><title>gt dashboard</title></head>` +
    `<body><p><a href="${esc(url)}">On to the dashboard</a></p></body></html>`
  );
}
