/**
 * The dashboard's static text: its style sheet, the page's small script and its shared worker, served from
 * the dashboard itself (no CDN, no build step: the page works offline, and the Content-Security-Policy allows
 * only its own origin).
 *
 * The page applies three messages: `view` replaces the sections that changed, `events` adds rows to the
 * event stream, `agent` replaces the sections of the agent page. They come from one stream per browser: a
 * browser opens at most six HTTP/1.1 connections to one host, so a stream per tab would leave the seventh
 * tab loading forever. The shared worker (one per browser and dashboard) holds that stream and hands each of
 * its tabs what it lacks; a browser without shared workers, or whose worker fails to start, gets the tab's
 * own EventSource. Neither polls; EventSource reconnects by itself and sends the id it last saw, so that a
 * stream that lost its connection (the dashboard restarted) catches up. Actions are same-origin POSTs with a
 * JSON body and the X-GT-Action header; the browser adds the session cookie by itself (the page holds no
 * secret, and the stream, a GET, needs none). Their result (or one-line error) shows in the action bar. A
 * page without the session (body without data-actions) drops the buttons from the sections it is sent,
 * which are rendered once for every tab. Every piece of markup the page inserts was rendered and escaped by the
 * server; its own text goes in textContent.
 */

export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --fg: #1b1f23; --bg: #fff; --dim: #6a737d; --line: #e1e4e8; --head: #f6f8fa;
  --bad: #b31d28; --good: #22863a; --warn: #b08800; --accent: #0366d6; }
@media (prefers-color-scheme: dark) { :root { --fg: #e1e4e8; --bg: #16191d; --dim: #959da5; --line: #2f363d;
  --head: #1f2428; --bad: #f97583; --good: #85e89d; --warn: #ffdf5d; --accent: #79b8ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.35 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1em; padding: 6px 12px; border-bottom: 1px solid var(--line); background: var(--head); }
nav a { margin-right: 1em; color: var(--accent); text-decoration: none; }
nav a[aria-current="page"] { font-weight: 600; color: var(--fg); }
.live { margin-left: auto; font-size: 12px; }
.live.on { color: var(--good); } .live.off { color: var(--bad); }
.summary { display: flex; flex-wrap: wrap; gap: 0.4em 1.4em; padding: 6px 12px; border-bottom: 1px solid var(--line); }
.readonly { margin: 0; padding: 4px 12px; background: var(--head); color: var(--warn); }
.actionbar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.6em; padding: 6px 12px; border-bottom: 1px solid var(--line); }
.nudge { display: flex; flex: 1; gap: 0.4em; min-width: 30em; }
.nudge .grow { flex: 1; } .nudge .grow input { width: 100%; }
output { font-size: 12px; } output.ok { color: var(--good); } output.bad { color: var(--bad); }
main { padding: 0 12px 24px; }
h2 { font-size: 14px; margin: 14px 0 4px; } h3 { font-size: 13px; margin: 10px 0 2px; color: var(--dim); }
h4 { font-size: 12px; margin: 4px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
th { background: var(--head); font-weight: 600; font-size: 12px; }
td.wide { white-space: normal; width: 40%; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.id { font-family: ui-monospace, monospace; font-size: 12px; }
.dim, .empty { color: var(--dim); }
.ask { color: var(--warn); white-space: normal; }
.bad, .tone-bad td:last-child, .sev-critical td:first-child, .sev-high td:first-child { color: var(--bad); }
.good, .tone-good td:last-child { color: var(--good); }
.sev-medium td:first-child { color: var(--warn); }
.state { font-weight: 600; }
.st-working, .st-merged { color: var(--good); }
.st-needs-input, .st-stalled, .st-dead-with-work, .st-zombie, .st-stuck, .st-blocked { color: var(--bad); }
.st-idle, .st-stopped, .st-closed { color: var(--dim); }
td.acts, p.acts { white-space: nowrap; }
button { font: inherit; font-size: 12px; padding: 0 6px; margin-right: 3px; cursor: pointer; }
button:disabled { cursor: progress; }
.stats { display: flex; flex-wrap: wrap; gap: 2px 16px; margin: 4px 0; }
.stats div, .facts div { display: flex; gap: 6px; } dt { color: var(--dim); } dd { margin: 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(22em, 1fr)); gap: 2px 16px; margin: 4px 0; }
.lanes { display: grid; grid-template-columns: repeat(auto-fit, minmax(26em, 1fr)); gap: 10px; }
.pane { margin: 0; padding: 6px; max-height: 32em; overflow: auto; background: var(--head); border: 1px solid var(--line);
  font: 12px/1.25 ui-monospace, monospace; white-space: pre; }
.events td { font-size: 12px; }
`;

/**
 * The shared worker. It keeps, for the tabs that join later, the last full set of sections, the sections of
 * each agent page open, and the recent event rows; each tab says where its page was rendered (`since`, the
 * `<view seq>.<event cursor>` the server wrote into it) and is sent only what it lacks: every section if the
 * view moved on, the rows after its cursor. A tab rendered before the oldest row kept here makes the worker
 * ask the server again from that cursor. The stream names every agent whose page a tab shows, so it is
 * opened again (from the id it last saw, nothing missed) when that set changes. A tab leaves with a `bye`
 * when its page goes, or, where the browser has Web Locks, when the lock it holds is released (a tab that
 * crashed); with no tab left the stream closes.
 */
export const DASHBOARD_WORKER_JS = `'use strict';
(() => {
  const MAX_EVENTS = 300;
  /** MessagePort -> { seq, cursor, agent }: where each tab stands. */
  const tabs = new Map();
  let source = null;
  let streamAgents = null;
  let live = false;
  let timer = null;
  let seq = null;
  let frags = null;
  let lastId = null;
  /** Every event after this cursor is kept here (or was sent to every tab that lacked it). */
  let from = null;
  let refetch = false;
  let rows = [];
  const agentFrags = new Map();

  const post = (port, m) => {
    try {
      port.postMessage(m);
    } catch (err) {
      tabs.delete(port);
    }
  };
  const parse = (since) => {
    const [s, c] = String(since || '').split('.');
    const at = { seq: Number(s), cursor: Number(c) };
    return Number.isInteger(at.seq) && Number.isInteger(at.cursor) && s !== '' && c !== '' ? at : null;
  };
  const wanted = () => [...new Set([...tabs.values()].map((t) => t.agent).filter((a) => a !== null))].sort();

  const setLive = (on) => {
    if (on === live) return;
    live = on;
    for (const port of tabs.keys()) post(port, { type: 'live', on });
  };

  const onView = (m) => {
    seq = m.seq;
    frags = Object.assign({}, frags, m.frags);
    for (const [port, t] of tabs) {
      if (t.seq === m.seq) continue;
      t.seq = m.seq;
      post(port, { type: 'view', frags: m.frags });
    }
  };

  const onEvents = (m) => {
    const ids = Array.isArray(m.ids) ? m.ids : [];
    const got = [];
    m.rows.forEach((html, i) => {
      if (typeof ids[i] === 'number') got.push({ id: ids[i], html });
    });
    const known = new Set(rows.map((r) => r.id));
    rows = rows.concat(got.filter((r) => !known.has(r.id))).sort((a, b) => a.id - b.id);
    if (rows.length > MAX_EVENTS) {
      const dropped = rows.splice(0, rows.length - MAX_EVENTS);
      from = Math.max(from, dropped[dropped.length - 1].id);
    }
    for (const [port, t] of tabs) {
      const mine = got.filter((r) => r.id > t.cursor);
      if (mine.length === 0) continue;
      t.cursor = mine[mine.length - 1].id;
      post(port, { type: 'events', rows: mine.map((r) => r.html) });
    }
  };

  const onAgent = (m) => {
    agentFrags.set(m.address, Object.assign({}, agentFrags.get(m.address), m.frags));
    for (const [port, t] of tabs) if (t.agent === m.address) post(port, { type: 'agent', address: m.address, frags: m.frags });
  };

  const open = () => {
    timer = null;
    if (source !== null) source.close();
    source = null;
    streamAgents = null;
    if (tabs.size === 0) {
      live = false;
      return;
    }
    const agents = wanted();
    for (const a of [...agentFrags.keys()]) if (!agents.includes(a)) agentFrags.delete(a);
    streamAgents = agents.join('\\n');
    // Position 0 has seen no view: the server sends every section, and the events after the cursor.
    const since = refetch || lastId === null ? '0.' + from : lastId;
    refetch = false;
    const s = new EventSource('/events?since=' + encodeURIComponent(since) +
      agents.map((a) => '&agent=' + encodeURIComponent(a)).join(''));
    source = s;
    const on = (type, f) => s.addEventListener(type, (e) => {
      if (s !== source) return;
      if (e.lastEventId) lastId = e.lastEventId;
      f(e);
    });
    on('open', () => setLive(true));
    on('error', () => {
      setLive(false);
      // Refused (not a dropped connection, which EventSource retries itself): try again a little later.
      if (s.readyState === EventSource.CLOSED) schedule(5000);
    });
    on('view', (e) => onView(JSON.parse(e.data)));
    on('events', (e) => onEvents(JSON.parse(e.data)));
    on('agent', (e) => onAgent(JSON.parse(e.data)));
  };

  const schedule = (ms) => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(open, ms);
  };

  /** Opens the stream again when it is missing, refused, asked for the wrong agents, or must go further back. */
  const plan = () => {
    // With no tab left the stream closes, unless one joins soon (a tab going from one page to another).
    if (tabs.size === 0) return schedule(2000);
    const stale =
      source === null || refetch || streamAgents !== wanted().join('\\n') || source.readyState === EventSource.CLOSED;
    if (!stale) {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    } else if (source === null && timer === null) open();
    else schedule(150);
  };

  const join = (port, m) => {
    const at = parse(m.since);
    const t = { seq: at === null ? null : at.seq, cursor: at === null ? 0 : at.cursor, agent: typeof m.agent === 'string' ? m.agent : null };
    tabs.set(port, t);
    post(port, { type: 'live', on: live });
    if (frags !== null && t.seq !== seq) {
      t.seq = seq;
      post(port, { type: 'view', frags });
    }
    if (from === null) from = t.cursor;
    else if (t.cursor < from) {
      from = t.cursor;
      refetch = true;
    } else {
      const mine = rows.filter((r) => r.id > t.cursor);
      if (mine.length > 0) {
        t.cursor = mine[mine.length - 1].id;
        post(port, { type: 'events', rows: mine.map((r) => r.html) });
      }
    }
    if (t.agent !== null && agentFrags.has(t.agent))
      post(port, { type: 'agent', address: t.agent, frags: agentFrags.get(t.agent) });
    if (typeof m.lock === 'string' && self.navigator.locks)
      self.navigator.locks.request(m.lock, () => bye(port)).catch(() => undefined);
    plan();
  };

  const bye = (port) => {
    if (!tabs.delete(port)) return;
    plan();
  };

  self.addEventListener('connect', (e) => {
    const port = e.ports[0];
    port.addEventListener('message', (m) => {
      const d = m.data;
      if (d === null || typeof d !== 'object') return;
      if (d.type === 'join') join(port, d);
      else if (d.type === 'bye') bye(port);
    });
    port.start();
  });
})();
`;

/** A short digest of a text (FNV-1a), so that a changed worker script gets a new URL, hence a new worker. */
function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36);
}

/** Where the page finds its worker: a worker lives on while any tab has it, so its URL names its version. */
export const WORKER_URL = `/worker.js?v=${fingerprint(DASHBOARD_WORKER_JS)}`;

export const DASHBOARD_JS = `'use strict';
(() => {
  const body = document.body;
  const canAct = body.dataset.actions === '1';
  const live = document.getElementById('live');
  const result = document.getElementById('result');
  const eventsBody = document.getElementById('events');
  const agent = body.dataset.agent || null;
  const since = body.dataset.since || '';
  const MAX_EVENTS = 300;

  const setLive = (on) => {
    live.textContent = on ? 'live' : 'reconnecting';
    live.className = 'live ' + (on ? 'on' : 'off');
  };

  const replace = (frags) => {
    for (const [id, html] of Object.entries(frags)) {
      for (const el of document.querySelectorAll('[data-frag="' + id + '"]')) {
        el.innerHTML = html;
        if (!canAct) for (const b of el.querySelectorAll('button[data-action]')) b.remove();
      }
    }
    ages();
  };

  const addEvents = (rows) => {
    if (eventsBody === null) return;
    const t = document.createElement('template');
    t.innerHTML = rows.join('');
    for (const tr of Array.from(t.content.children)) {
      if (eventsBody.querySelector('tr[data-id="' + tr.dataset.id + '"]') !== null) continue;
      // Newest first: a row goes above the first older one (one that fills a gap lands in its place).
      const id = Number(tr.dataset.id);
      let before = eventsBody.firstElementChild;
      while (before !== null && Number(before.dataset.id) > id) before = before.nextElementSibling;
      eventsBody.insertBefore(tr, before);
    }
    while (eventsBody.children.length > MAX_EVENTS) eventsBody.lastElementChild.remove();
  };

  const span = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    const h = Math.floor(m / 60);
    if (h < 24) return h + 'h ' + (m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  };
  const ages = () => {
    const now = Date.now();
    for (const t of document.querySelectorAll('time[data-age]')) {
      const at = Date.parse(t.getAttribute('datetime'));
      if (!Number.isNaN(at)) t.textContent = span(now - at);
    }
  };
  setInterval(ages, 5000);

  const apply = (m) => {
    if (m.type === 'live') setLive(m.on === true);
    else if (m.type === 'view') replace(m.frags);
    else if (m.type === 'events') addEvents(m.rows);
    else if (m.type === 'agent' && m.address === agent) replace(m.frags);
  };

  let leave = () => undefined;

  // The tab's own stream, where the browser has no shared worker.
  const ownStream = () => {
    const source = new EventSource('/events?since=' + encodeURIComponent(since) +
      (agent === null ? '' : '&agent=' + encodeURIComponent(agent)));
    source.addEventListener('open', () => setLive(true));
    source.addEventListener('error', () => setLive(false));
    for (const type of ['view', 'events', 'agent'])
      source.addEventListener(type, (e) => apply(Object.assign(JSON.parse(e.data), { type })));
    leave = () => source.close();
  };

  // The stream this browser's tabs share, held by the dashboard's shared worker.
  const sharedStream = () => {
    if (typeof SharedWorker !== 'function') return false;
    let worker;
    try {
      worker = new SharedWorker(${JSON.stringify(WORKER_URL)}, { name: 'gt-dashboard' });
    } catch (err) {
      return false;
    }
    const port = worker.port;
    let failed = false;
    worker.addEventListener('error', () => {
      if (failed) return;
      failed = true;
      port.close();
      ownStream();
    });
    port.addEventListener('message', (e) => {
      if (!failed && e.data !== null && typeof e.data === 'object') apply(e.data);
    });
    port.start();
    const hello = { type: 'join', since, agent };
    const locks = navigator.locks;
    if (locks && typeof locks.request === 'function') {
      // Held while the page lives: the worker learns from its release that the tab is gone, even if it crashed.
      const lock = 'gt-dashboard-tab-' + Date.now().toString(36) + Math.random().toString(36).slice(2);
      locks
        .request(lock, () => {
          port.postMessage(Object.assign({ lock }, hello));
          return new Promise(() => undefined);
        })
        .catch(() => port.postMessage(hello));
    } else port.postMessage(hello);
    leave = () => {
      if (!failed) port.postMessage({ type: 'bye' });
    };
    return true;
  };

  if (!sharedStream()) ownStream();
  window.addEventListener('pagehide', () => leave());
  // A page brought back from the back-forward cache has left its stream: it loads again.
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) location.reload();
  });

  const show = (ok, text) => {
    if (result === null) return;
    result.textContent = text;
    result.className = ok ? 'ok' : 'bad';
  };

  const act = async (action, button) => {
    if (!canAct) return false;
    if (button) button.disabled = true;
    show(true, action.kind + '…');
    try {
      const res = await fetch('/api/action', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-GT-Action': '1' },
        body: JSON.stringify(action),
      });
      const r = await res.json().catch(() => ({ ok: false, error: res.status + ' ' + res.statusText }));
      show(r.ok === true, r.ok === true ? r.text : 'error: ' + r.error + (r.hint ? ' (' + r.hint + ')' : ''));
      return r.ok === true;
    } catch (err) {
      show(false, 'error: ' + String(err));
      return false;
    } finally {
      if (button) button.disabled = false;
    }
  };

  const form = document.getElementById('nudge');
  const ASK = {
    restart: (a) => 'Restart ' + a + "'s session? (same sandbox, same hook)",
    requeue: (a) => 'Take the bead from ' + a + ' and give it back to its rig?',
    handoff: (a) => 'Ask ' + a + ' to hand off at its next turn?',
  };

  document.addEventListener('click', (e) => {
    const b = e.target instanceof Element ? e.target.closest('button[data-action]') : null;
    if (b === null) return;
    const kind = b.dataset.action;
    if (kind === 'nudge') {
      if (form === null) return;
      form.elements.agent.value = b.dataset.agent;
      form.elements.text.focus();
      return;
    }
    if (kind === 'ack') return void act({ kind: 'ack', escalation: b.dataset.escalation }, b);
    const ask = ASK[kind];
    if (ask !== undefined && !window.confirm(ask(b.dataset.agent))) return;
    void act({ kind, agent: b.dataset.agent }, b);
  });

  if (form !== null)
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = form.elements.text.value;
      const ok = await act({ kind: 'nudge', agent: form.elements.agent.value.trim(), text }, form.querySelector('button'));
      if (ok) form.elements.text.value = '';
    });
})();
`;
