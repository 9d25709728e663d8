import { describe, expect, it } from 'vitest';
import { viewFixture } from '../../test/helpers/dashboard-view.js';
import type { AgentDetail } from './dashboard-html.js';
import { DashboardHub, KEPT_EVENTS, parsePosition, sseMessage, type Sink } from './dashboard-hub.js';
import type { FeedEvent } from './events.js';

type Message = { id: string | null; event: string | null; data: Record<string, unknown> | null };

/** A tab: what the hub sent it, parsed back into server-sent events. */
function tab(room = Infinity): Sink & { messages(): Message[]; closed: boolean; bytes: number } {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  const t = {
    closed: false,
    bytes: 0,
    send(b: Uint8Array): boolean {
      if (t.bytes + b.byteLength > room) return false;
      t.bytes += b.byteLength;
      chunks.push(decoder.decode(b));
      return true;
    },
    close(): void {
      t.closed = true;
    },
    messages(): Message[] {
      return chunks
        .join('')
        .split('\n\n')
        .filter((m) => m !== '' && !m.startsWith(':') && !m.startsWith('retry:'))
        .map((m) => {
          const field = (name: string): string | null =>
            m
              .split('\n')
              .find((l) => l.startsWith(`${name}: `))
              ?.slice(name.length + 2) ?? null;
          const data = field('data');
          return {
            id: field('id'),
            event: field('event'),
            data: data === null ? null : (JSON.parse(data) as Record<string, unknown>),
          };
        });
    },
  };
  return t;
}

const event = (id: number, text = `event ${id}`): FeedEvent => ({
  id,
  at: '2026-05-01T10:00:00.000Z',
  actor: 'tester',
  subject: 'ga-abc',
  type: 'created',
  text,
  tone: 'info',
});

const frags = (m: Message | undefined): string[] => Object.keys(m?.data?.frags ?? {}).sort();

describe('the dashboard hub', () => {
  it('sends each view once to every tab, and only the sections that changed', () => {
    const hub = new DashboardHub({ actions: true });
    const tabs = [tab(), tab(), tab()];
    for (const t of tabs) hub.connect(t, null, []);
    const v = viewFixture();
    expect(hub.setView(v)).toBe(6);
    for (const t of tabs)
      expect(frags(t.messages()[0])).toEqual(['agents', 'convoys', 'landed', 'needs', 'queue', 'summary']);
    // The same view again: nothing goes out.
    expect(hub.setView({ ...v })).toBe(0);
    // An agent changes state: its section (and nothing else but the summary's clock) goes out.
    const next = viewFixture();
    next.at = '2026-05-01T10:00:05.000Z';
    const toast = next.agents[0];
    if (toast !== undefined) toast.state = 'working';
    hub.setView(next);
    for (const t of tabs) {
      const last = t.messages().at(-1);
      expect(last?.event).toBe('view');
      expect(frags(last)).toEqual(['agents', 'summary']);
      expect(JSON.stringify(last?.data)).toContain('st-working');
      expect(last?.id).toBe(hub.position);
    }
    // Every tab got the same bytes.
    expect(new Set(tabs.map((t) => t.bytes)).size).toBe(1);
  });

  it('catches a reconnecting tab up by the id it last saw', () => {
    const hub = new DashboardHub({ actions: false });
    hub.setView(viewFixture());
    hub.addEvents([event(1), event(2)], 3);
    const seen = hub.position;
    expect(parsePosition(seen)).toEqual({ seq: 1, cursor: 3 });
    // Up to date: no sections again, no old events.
    const fresh = tab();
    hub.connect(fresh, seen, []);
    expect(fresh.messages()).toEqual([]);
    // It missed a view and an event: every section, and the event after its cursor.
    const next = viewFixture();
    next.daemon = { running: false, pid: null };
    hub.setView(next);
    hub.addEvents([event(4, 'the one it missed')], 5);
    const back = tab();
    hub.connect(back, seen, []);
    const [view, events] = back.messages();
    expect(view?.event).toBe('view');
    expect(frags(view)).toHaveLength(6);
    expect(events?.event).toBe('events');
    expect(events?.data?.rows).toEqual([expect.stringContaining('the one it missed')]);
    // Events already sent are not sent again; the cursor only moves forward.
    hub.addEvents([event(4), event(2)], 4);
    expect(hub.cursor).toBe(5);
    expect(back.messages()).toHaveLength(2);
    // A new tab without an id gets the sections, and no backlog (its page was rendered with the rows).
    const newTab = tab();
    hub.connect(newTab, undefined, []);
    expect(newTab.messages().map((m) => m.event)).toEqual(['view']);
  });

  it('keeps a bounded number of event rows for pages and reconnects', () => {
    const hub = new DashboardHub({ actions: false });
    hub.addEvents(
      Array.from({ length: KEPT_EVENTS + 50 }, (_, i) => event(i + 1)),
      KEPT_EVENTS + 50,
    );
    const rows = hub.eventRows();
    expect(rows).toHaveLength(KEPT_EVENTS);
    expect(rows[0]).toContain('data-id="51"');
  });

  it("sends an agent's sections only to the tabs that have it open, and forgets it when the last one goes", () => {
    const hub = new DashboardHub({ actions: true });
    const v = viewFixture();
    hub.setView(v);
    const onToast = tab();
    const elsewhere = tab();
    const leave = hub.connect(onToast, hub.position, ['gastown/polecats/toast']);
    hub.connect(elsewhere, hub.position, []);
    expect(hub.watchedAgents()).toEqual(['gastown/polecats/toast']);
    const d: AgentDetail = {
      address: 'gastown/polecats/toast',
      row: v.agents[0] ?? null,
      pane: { text: 'hello' },
      sessions: [],
      beads: [],
    };
    hub.setAgent(d);
    hub.setAgent({ ...d, pane: { text: 'hello again' } });
    const sent = onToast.messages().filter((m) => m.event === 'agent');
    expect(sent.map(frags)).toEqual([
      ['agent-beads', 'agent-costs', 'agent-head', 'agent-pane', 'agent-sessions'],
      ['agent-pane'],
    ]);
    expect(elsewhere.messages()).toEqual([]);
    // A second tab on the same agent gets the sections kept, without anything gathered again.
    const second = tab();
    hub.connect(second, hub.position, ['gastown/polecats/toast']);
    expect(frags(second.messages()[0])).toHaveLength(5);
    leave();
    expect(hub.watchedAgents()).toEqual(['gastown/polecats/toast']);
    hub.closeAll();
    expect(second.closed).toBe(true);
    expect(hub.watchedAgents()).toEqual([]);
    expect(hub.streams).toBe(0);
  });

  it("serves a browser's tabs on one stream: several agents, event ids, and every section for position 0", () => {
    const hub = new DashboardHub({ actions: true }, { seqFrom: 1_000 });
    const v = viewFixture();
    hub.setView(v);
    expect(parsePosition(hub.position)).toEqual({ seq: 1_001, cursor: 0 });
    hub.addEvents([event(1), event(2), event(3)], 3);
    // A shared worker starts from the oldest cursor its tabs were rendered at, and has seen no view.
    const shared = tab();
    hub.connect(shared, '0.1', ['gastown/polecats/toast', 'mayor', 'mayor']);
    const [view, events] = shared.messages();
    expect(frags(view)).toHaveLength(6);
    expect(events?.data?.ids).toEqual([2, 3]);
    expect(events?.data?.rows).toEqual([expect.stringContaining('event 2'), expect.stringContaining('event 3')]);
    expect(hub.watchedAgents().sort()).toEqual(['gastown/polecats/toast', 'mayor']);
    const d = (address: string): AgentDetail => ({
      address,
      row: v.agents.find((a) => a.address === address) ?? null,
      pane: { text: `pane of ${address}` },
      sessions: [],
      beads: [],
    });
    hub.setAgent(d('gastown/polecats/toast'));
    hub.setAgent(d('mayor'));
    const agents = shared.messages().filter((m) => m.event === 'agent');
    expect(agents.map((m) => m.data?.address)).toEqual(['gastown/polecats/toast', 'mayor']);
    hub.addEvents([event(4)], 4);
    expect(shared.messages().at(-1)?.data?.ids).toEqual([4]);
    expect(hub.streams).toBe(1);
    hub.closeAll();
    expect(hub.watchedAgents()).toEqual([]);
  });

  it('drops a tab that cannot keep up (it reconnects and catches up) without holding the others back', () => {
    const hub = new DashboardHub({ actions: false });
    const slow = tab(100);
    const fine = tab();
    hub.connect(slow, null, []);
    hub.connect(fine, null, []);
    hub.setView(viewFixture());
    expect(slow.closed).toBe(true);
    expect(hub.streams).toBe(1);
    expect(fine.messages()).toHaveLength(1);
  });

  it('writes server-sent events on one data line', () => {
    const text = new TextDecoder().decode(sseMessage('view', { a: 'line\nbreak' }, '1.2'));
    expect(text).toBe('id: 1.2\nevent: view\ndata: {"a":"line\\nbreak"}\n\n');
  });
});
