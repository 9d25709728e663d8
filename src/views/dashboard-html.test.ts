import { describe, expect, it } from 'vitest';
import { viewFixture } from '../../test/helpers/dashboard-view.js';
import {
  agentFragments,
  count,
  esc,
  eventRow,
  forwardPage,
  paneText,
  renderPage,
  sharedFragments,
  span,
  tokensCell,
  usdCell,
  type AgentDetail,
} from './dashboard-html.js';

const HOSTILE = `<script>alert(1)</script><img src=x onerror="alert(2)">'"&`;

/** Markup an attacker would want on the page, none of which may come through. */
function expectNoInjection(html: string): void {
  expect(html).not.toContain('<script>alert');
  expect(html).not.toContain('<img');
  expect(html).not.toContain('onerror="');
  expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
}

function detail(pane: string): AgentDetail {
  const v = viewFixture(HOSTILE);
  return {
    address: 'gastown/polecats/toast',
    row: v.agents[0] ?? null,
    pane: { text: pane },
    sessions: [
      {
        session_id: 'ses-1',
        agent: 'gastown/polecats/toast',
        bead_id: 'ga-abc',
        runtime: 'claude',
        runtime_session_id: null,
        started_at: '2026-05-01T09:00:00.000Z',
        ended_at: '2026-05-01T09:30:00.000Z',
        end_reason: 'crashed',
      },
    ],
    beads: [{ id: 'ga-abc', title: HOSTILE, status: 'hooked', issue_type: 'task', updated_at: '2026-05-01T09:00:00Z' }],
  };
}

describe('dashboard html', () => {
  it('escapes text for content and attributes, and drops control characters', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(esc('a\u0000b\u001b[31mc')).toBe('ab[31mc');
    expect(esc(null)).toBe('');
    expect(esc(3)).toBe('3');
  });

  it('shows a pane as plain text: no terminal escapes, no trailing blank lines', () => {
    expect(paneText('\u001b[1;32mgreen\u001b[0m\r\n\u001b]0;title\u0007next\n\n  \n')).toBe('green\nnext');
  });

  it('escapes every piece of the town it shows (titles, questions, summaries, pane text, events)', () => {
    const v = viewFixture(HOSTILE);
    const shared = sharedFragments(v, { actions: true });
    for (const html of Object.values(shared)) expect(html).not.toContain('<script>alert');
    expectNoInjection(shared.needs);
    expectNoInjection(shared.agents);
    expectNoInjection(shared.convoys);
    expectNoInjection(shared.queue);
    expectNoInjection(shared.landed);
    const e = v.events[0];
    if (e === undefined) throw new Error('fixture has an event');
    expectNoInjection(eventRow(e));
    const agent = agentFragments(detail(`$ echo ${HOSTILE}\n`), Date.parse(v.at), { actions: true });
    expectNoInjection(agent['agent-pane']);
    expectNoInjection(agent['agent-beads']);
    expectNoInjection(agent['agent-head']);
    // An address an attacker chose is escaped in the link and its data attributes too.
    const evil = viewFixture();
    const row = evil.agents[0];
    if (row === undefined) throw new Error('fixture has an agent');
    row.address = `x"><script>alert(3)</script>`;
    const agents = sharedFragments(evil, { actions: true }).agents;
    expect(agents).not.toContain('<script>');
    expect(agents).toContain('href="/agent?address=x%22%3E%3Cscript%3Ealert(3)%3C%2Fscript%3E"');
    expect(agents).toContain('data-agent="x&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"');
  });

  it('offers actions only when the dashboard allows them', () => {
    const v = viewFixture();
    const on = sharedFragments(v, { actions: true });
    expect(on.agents).toContain('data-action="restart"');
    expect(on.agents).toContain('data-action="requeue"');
    expect(on.needs).toContain('data-action="ack" data-escalation="hq-esc1"');
    const off = sharedFragments(v, { actions: false });
    for (const html of Object.values(off)) expect(html).not.toContain('data-action');
    expect(agentFragments(detail(''), 0, { actions: false })['agent-head']).not.toContain('<button');
    // The mayor holds no bead: nothing to requeue.
    expect(on.agents.split('<tr').find((r) => r.includes('data-agent="mayor"'))).not.toContain('requeue');
  });

  it('renders actions only when the page may act, never a secret, and says why it is read-only', () => {
    const v = viewFixture();
    const base = {
      page: 'needs' as const,
      town: v.town.name,
      since: '3.9',
      shared: sharedFragments(v, { actions: true }),
      events: [],
    };
    const rw = renderPage({ ...base, actions: true, readOnlyReason: null });
    expect(rw).not.toContain('<meta name="gt-token"');
    expect(rw).toContain('<body data-since="3.9" data-actions="1"');
    expect(rw).toContain('<form id="nudge"');
    expect(rw).toContain('data-since="3.9"');
    expect(rw).not.toContain('Read-only');
    const ro = renderPage({
      ...base,
      shared: sharedFragments(v, { actions: false }),
      actions: false,
      readOnlyReason: 'it listens on 0.0.0.0',
    });
    expect(ro).not.toContain('gt-token');
    expect(ro).not.toContain('data-actions');
    expect(ro).not.toContain('<form');
    expect(ro).not.toContain('<button');
    expect(ro).toContain('Read-only: it listens on 0.0.0.0');
    // No inline script or style: the page works under a Content-Security-Policy of its own origin only.
    expect(rw).not.toMatch(/<script>|<script [^>]*>[^<]|\sstyle=|\son[a-z]+=/u);
  });

  it('forwards a browser with a page of its own, its address escaped', () => {
    const page = forwardPage('/agent?address=a%2Fb&x="><script>');
    expect(page).toContain(
      '<meta http-equiv="refresh" content="0;url=/agent?address=a%2Fb&amp;x=&quot;&gt;&lt;script&gt;">',
    );
    expect(page).not.toContain('<script');
  });

  it('shows raw tokens first, and money as unpriced when the model has no price', () => {
    const u = viewFixture().agents[0]?.usage ?? null;
    expect(tokensCell(u)).toContain('>1,500<');
    expect(tokensCell(u)).toContain('in 1,000, out 200, cache read 250, cache write 50');
    expect(usdCell(u)).toContain('unpriced');
    expect(usdCell(u === null ? null : { ...u, usd: 0.456 })).toBe('$0.46');
    expect(usdCell(null)).not.toContain('0');
    const costs = agentFragments(detail(''), 0, { actions: false })['agent-costs'];
    expect(costs.indexOf('1,000')).toBeLessThan(costs.indexOf('unpriced'));
  });

  it('lays the merge queue out in lanes with its numbers, and the sessions with how each ended', () => {
    const v = viewFixture();
    const q = sharedFragments(v, { actions: false }).queue;
    expect(q).toContain('testing (the batch under test)');
    expect(q).toContain('<dt>queue time p95</dt><dd>5m</dd>');
    expect(q).toContain('<dt>returns by cause</dt><dd>conflict 1</dd>');
    const s = agentFragments(detail(''), Date.parse(v.at), { actions: false })['agent-sessions'];
    expect(s).toContain('data-session="ses-1"');
    expect(s).toContain('crashed');
    expect(s).toContain('<td>30m</td>');
  });

  it('formats spans and counts', () => {
    expect([span(500), span(59_000), span(61_000), span(3_700_000), span(90_000_000)]).toEqual([
      '1s',
      '59s',
      '1m',
      '1h 1m',
      '1d 1h',
    ]);
    expect(count(1234567)).toBe('1,234,567');
  });
});
