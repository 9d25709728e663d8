import { describe, expect, it } from 'vitest';
import { DASHBOARD_JS, DASHBOARD_WORKER_JS, WORKER_URL } from './dashboard-assets.js';

/**
 * The shared worker's script, run here against a stand-in EventSource, MessagePorts and timers: what each
 * tab is handed, and when the one stream is opened again. The browser test (test/dashboard.int.test.ts)
 * runs it in a real Chromium.
 */

type Listener = (e: unknown) => void;
type Message = Record<string, unknown>;

class FakeSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = FakeSource.CONNECTING;
  readonly listeners = new Map<string, Listener[]>();
  constructor(readonly url: string) {}
  addEventListener(type: string, f: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), f]);
  }
  close(): void {
    this.readyState = FakeSource.CLOSED;
  }
  emit(type: string, data?: unknown, lastEventId = ''): void {
    if (type === 'open') this.readyState = FakeSource.OPEN;
    const e = { data: JSON.stringify(data ?? null), lastEventId };
    for (const f of this.listeners.get(type) ?? []) f(e);
  }
}

function startWorker() {
  const sources: FakeSource[] = [];
  const timers = new Map<number, () => void>();
  let nextTimer = 1;
  let onConnect: Listener | undefined;
  const self = {
    addEventListener: (type: string, f: Listener) => {
      if (type === 'connect') onConnect = f;
    },
    navigator: {},
  };
  const Source = class extends FakeSource {
    constructor(url: string) {
      super(url);
      sources.push(this);
    }
  };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the script under test is a string
  const run = new Function('self', 'EventSource', 'setTimeout', 'clearTimeout', DASHBOARD_WORKER_JS) as (
    ...args: unknown[]
  ) => void;
  run(
    self,
    Source,
    (f: () => void) => {
      timers.set(nextTimer, f);
      return nextTimer++;
    },
    (id: number) => timers.delete(id),
  );

  /** A tab: what it was posted, and a way to post to the worker. */
  const tab = (since: string, agent: string | null = null) => {
    const got: Message[] = [];
    let onMessage: Listener | undefined;
    const port = {
      postMessage: (m: unknown) => got.push(structuredClone(m) as Message),
      addEventListener: (_type: string, f: Listener) => (onMessage = f),
      start: () => undefined,
    };
    onConnect?.({ ports: [port] });
    const send = (data: unknown): void => onMessage?.({ data });
    send({ type: 'join', since, agent });
    return { got, send, of: (type: string) => got.filter((m) => m.type === type) };
  };
  const runTimers = (): void => {
    for (const [id, f] of [...timers]) {
      timers.delete(id);
      f();
    }
  };
  return { sources, tab, runTimers, last: () => sources.at(-1) };
}

const ALL = { summary: 's1', needs: 'n1', agents: 'a1', convoys: 'c1', queue: 'q1', landed: 'l1' };
const row = (id: number): string => `<tr data-id="${id}"><td>event ${id}</td></tr>`;

describe("the dashboard's shared worker", () => {
  it('holds one stream for every tab, and hands a tab that joins later the state it lacks', () => {
    const w = startWorker();
    const first = w.tab('7.10');
    expect(w.sources).toHaveLength(1);
    // It has seen no view (position 0): the server sends every section, and the events after the tab's cursor.
    expect(w.last()?.url).toBe('/events?since=0.10');
    const s = w.last();
    if (s === undefined) throw new Error('no stream');
    s.emit('open');
    expect(first.of('live').at(-1)).toEqual({ type: 'live', on: true });
    // The page was rendered at view 7: a full set for view 7 changes nothing on it.
    s.emit('view', { seq: 7, frags: ALL }, '7.10');
    expect(first.of('view')).toEqual([]);
    s.emit('events', { rows: [row(11), row(12)], ids: [11, 12] }, '7.12');
    expect(first.of('events')).toEqual([{ type: 'events', rows: [row(11), row(12)] }]);
    s.emit('view', { seq: 8, frags: { needs: 'n2' } }, '8.12');
    expect(first.of('view').at(-1)).toEqual({ type: 'view', frags: { needs: 'n2' } });

    // A tab rendered at view 7, cursor 11: it gets every section as they stand now, the row after its cursor.
    const late = w.tab('7.11');
    expect(late.got).toEqual([
      { type: 'live', on: true },
      { type: 'view', frags: { ...ALL, needs: 'n2' } },
      { type: 'events', rows: [row(12)] },
    ]);
    // A tab rendered now gets nothing but the stream's state.
    const now = w.tab('8.12');
    expect(now.got).toEqual([{ type: 'live', on: true }]);
    // A page rendered just after the server sent an event the worker has not passed on yet already shows it.
    const ahead = w.tab('8.13');
    // Every tab gets a new event once, and still one stream.
    s.emit('events', { rows: [row(13)], ids: [13] }, '8.13');
    for (const t of [first, late, now]) expect(t.of('events').at(-1)).toEqual({ type: 'events', rows: [row(13)] });
    expect(ahead.of('events')).toEqual([]);
    w.runTimers();
    expect(w.sources).toHaveLength(1);
    expect(s.readyState).toBe(FakeSource.OPEN);
  });

  it('asks again from further back for a tab rendered before its oldest event, without repeating rows', () => {
    const w = startWorker();
    const first = w.tab('3.20');
    const s = w.last();
    s?.emit('view', { seq: 3, frags: ALL }, '3.20');
    s?.emit('events', { rows: [row(21)], ids: [21] }, '3.21');
    const old = w.tab('3.15');
    expect(old.of('events')).toEqual([]);
    w.runTimers();
    expect(w.sources).toHaveLength(2);
    expect(s?.readyState).toBe(FakeSource.CLOSED);
    expect(w.last()?.url).toBe('/events?since=0.15');
    w.last()?.emit('view', { seq: 3, frags: ALL }, '3.21');
    w.last()?.emit('events', { rows: [16, 17, 18, 19, 20, 21].map(row), ids: [16, 17, 18, 19, 20, 21] }, '3.21');
    expect(old.of('events')).toEqual([{ type: 'events', rows: [16, 17, 18, 19, 20, 21].map(row) }]);
    expect(first.of('events')).toEqual([{ type: 'events', rows: [row(21)] }]);
    expect(first.of('view')).toEqual([]);
  });

  it("names every open agent page on its stream, hands each agent's sections only to its tabs, and follows tabs that leave", () => {
    const w = startWorker();
    const home = w.tab('1.5');
    const s1 = w.last();
    s1?.emit('open');
    s1?.emit('view', { seq: 1, frags: ALL }, '1.5');
    const toast = w.tab('1.5', 'gastown/polecats/toast');
    w.runTimers();
    // Opened again from the id it last saw (nothing missed, no sections resent), now naming the agent.
    expect(w.last()?.url).toBe('/events?since=1.5&agent=gastown%2Fpolecats%2Ftoast');
    const s2 = w.last();
    s2?.emit('open');
    expect(toast.of('live').every((m) => m.on === true)).toBe(true);
    s2?.emit('agent', { address: 'gastown/polecats/toast', frags: { 'agent-pane': 'p1', 'agent-head': 'h1' } });
    s2?.emit('agent', { address: 'gastown/polecats/toast', frags: { 'agent-pane': 'p2' } });
    expect(toast.of('agent').map((m) => m.frags)).toEqual([
      { 'agent-pane': 'p1', 'agent-head': 'h1' },
      { 'agent-pane': 'p2' },
    ]);
    expect(home.of('agent')).toEqual([]);
    // A second tab on the same agent: the sections kept, at once, and no new stream.
    const again = w.tab('1.5', 'gastown/polecats/toast');
    expect(again.of('agent')).toEqual([
      { type: 'agent', address: 'gastown/polecats/toast', frags: { 'agent-pane': 'p2', 'agent-head': 'h1' } },
    ]);
    w.runTimers();
    expect(w.sources).toHaveLength(2);
    // Both agent tabs leave: the stream stops naming the agent.
    toast.send({ type: 'bye' });
    again.send({ type: 'bye' });
    w.runTimers();
    expect(w.last()?.url).toBe('/events?since=1.5');
    expect(w.sources).toHaveLength(3);
    // The last tab leaves: the stream closes.
    home.send({ type: 'bye' });
    w.runTimers();
    expect(w.last()?.readyState).toBe(FakeSource.CLOSED);
  });

  it('opens a refused stream again, and tells its tabs while it is down', () => {
    const w = startWorker();
    const t = w.tab('1.1');
    const s = w.last();
    s?.emit('open');
    if (s !== undefined) s.readyState = FakeSource.CLOSED;
    s?.emit('error');
    expect(t.of('live').at(-1)).toEqual({ type: 'live', on: false });
    w.runTimers();
    expect(w.sources).toHaveLength(2);
    w.last()?.emit('open');
    expect(t.of('live').at(-1)).toEqual({ type: 'live', on: true });
  });

  it('is served as scripts that parse, the page naming the worker by its version', () => {
    for (const text of [DASHBOARD_JS, DASHBOARD_WORKER_JS])
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- only parsed, never run
      expect(() => new Function(text)).not.toThrow();
    expect(WORKER_URL).toMatch(/^\/worker\.js\?v=[0-9a-z]+$/u);
    expect(DASHBOARD_JS).toContain(JSON.stringify(WORKER_URL));
    expect(DASHBOARD_JS).not.toMatch(/https?:\/\//u);
    expect(DASHBOARD_WORKER_JS).not.toMatch(/https?:\/\//u);
  });
});
