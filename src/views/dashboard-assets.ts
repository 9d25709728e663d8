/**
 * The dashboard's static text: its style sheet and its one small script, served from the dashboard itself
 * (no CDN, no build step: the page works offline, and the Content-Security-Policy allows only its own origin).
 *
 * The script keeps one EventSource open: `view` replaces the sections that changed, `events` adds rows to the
 * event stream, `agent` replaces the sections of the agent page. It never polls; EventSource reconnects by
 * itself and sends the id it last saw, so that a tab that lost its connection catches up. Actions are POSTs
 * with the page's token in a header and a JSON body; their result (or one-line error) shows in the action bar.
 * Every piece of markup it inserts was rendered and escaped by the server; its own text goes in textContent.
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

export const DASHBOARD_JS = `'use strict';
(() => {
  const body = document.body;
  const tokenMeta = document.querySelector('meta[name="gt-token"]');
  const token = tokenMeta === null ? null : tokenMeta.getAttribute('content');
  const live = document.getElementById('live');
  const result = document.getElementById('result');
  const eventsBody = document.getElementById('events');
  const agent = body.dataset.agent || null;
  const MAX_EVENTS = 300;

  const setLive = (on) => {
    live.textContent = on ? 'live' : 'reconnecting';
    live.className = 'live ' + (on ? 'on' : 'off');
  };

  const replace = (frags) => {
    for (const [id, html] of Object.entries(frags)) {
      for (const el of document.querySelectorAll('[data-frag="' + id + '"]')) el.innerHTML = html;
    }
    ages();
  };

  const addEvents = (rows) => {
    if (eventsBody === null) return;
    const t = document.createElement('template');
    t.innerHTML = rows.join('');
    for (const tr of Array.from(t.content.children)) {
      if (eventsBody.querySelector('tr[data-id="' + tr.dataset.id + '"]') !== null) continue;
      eventsBody.prepend(tr);
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

  const url = '/events?since=' + encodeURIComponent(body.dataset.since || '') +
    (agent === null ? '' : '&agent=' + encodeURIComponent(agent));
  const source = new EventSource(url);
  source.addEventListener('open', () => setLive(true));
  source.addEventListener('error', () => setLive(false));
  source.addEventListener('view', (e) => replace(JSON.parse(e.data).frags));
  source.addEventListener('agent', (e) => {
    const m = JSON.parse(e.data);
    if (m.address === agent) replace(m.frags);
  });
  source.addEventListener('events', (e) => addEvents(JSON.parse(e.data).rows));
  window.addEventListener('pagehide', () => source.close());

  const show = (ok, text) => {
    if (result === null) return;
    result.textContent = text;
    result.className = ok ? 'ok' : 'bad';
  };

  const act = async (action, button) => {
    if (token === null) return;
    if (button) button.disabled = true;
    show(true, action.kind + '…');
    try {
      const res = await fetch('/api/action', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-GT-Token': token },
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
