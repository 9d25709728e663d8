import {
  AGENT_FRAGMENTS,
  agentFragments,
  eventRow,
  SHARED_FRAGMENTS,
  sharedFragments,
  type AgentDetail,
  type AgentFragment,
  type Fragments,
  type RenderOptions,
  type SharedFragment,
} from './dashboard-html.js';
import type { FeedEvent } from './events.js';
import type { TownView } from './model.js';

/**
 * The dashboard's fan-out: what every open tab is sent, rendered once however many tabs are open. Each new
 * view is rendered into its sections, and only the sections whose markup changed go out (`view`), as the
 * same bytes to every tab; new events go out as rows (`events`); an agent's page gets its own sections
 * (`agent`), rendered once per agent watched, not per tab. Every message carries the id `<seq>.<cursor>`
 * (the view's sequence number and the event cursor), which EventSource sends back when it reconnects: a tab
 * that missed views gets every section again, and the events after its cursor that are still kept.
 *
 * The tabs of one browser share a stream (the page's shared worker holds it for all of them), so one stream
 * may watch several agents; a stream that names view sequence 0 has seen no view and gets every section.
 */

/** Where a tab's stream stands: the last view sequence and event cursor it has seen. */
export type StreamPosition = { seq: number; cursor: number };

export function parsePosition(id: string | null | undefined): StreamPosition | null {
  const m = /^(\d{1,15})\.(\d{1,15})$/u.exec(id ?? '');
  return m === null ? null : { seq: Number(m[1]), cursor: Number(m[2]) };
}

/** A stream (a tab's own, or one a browser's tabs share): bytes go in; false when it is full (it is then dropped). */
export type Sink = { send(bytes: Uint8Array): boolean; close(): void };

type Client = { sink: Sink; agents: readonly string[] };

type AgentWatch = { clients: Set<Client>; frags: Fragments<AgentFragment> | null };

const encoder = new TextEncoder();

/** One server-sent event. JSON has no raw newlines, so the data is one line. */
export function sseMessage(event: string, data: unknown, id?: string): Uint8Array {
  return encoder.encode(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** An `events` message: the rows, and their event ids (a shared worker hands each tab the rows it lacks). */
function eventsData(rows: readonly { id: number; html: string }[]): { rows: string[]; ids: number[] } {
  return { rows: rows.map((r) => r.html), ids: rows.map((r) => r.id) };
}

/** How many event rows are kept for tabs that open or reconnect. */
export const KEPT_EVENTS = 300;

export type HubOptions = {
  /**
   * The view sequence to count on from (default 0). A server passes its start time, so that an id a tab
   * kept from a dashboard that has since restarted does not name one of the new dashboard's views.
   */
  seqFrom?: number;
};

export class DashboardHub {
  readonly #render: RenderOptions;
  readonly #clients = new Set<Client>();
  readonly #agents = new Map<string, AgentWatch>();
  #seq = 0;
  #cursor = 0;
  #frags: Fragments<SharedFragment> | null = null;
  #view: TownView | null = null;
  #events: { id: number; html: string }[] = [];

  constructor(render: RenderOptions, options: HubOptions = {}) {
    this.#render = render;
    this.#seq = options.seqFrom ?? 0;
  }

  get view(): TownView | null {
    return this.#view;
  }

  get cursor(): number {
    return this.#cursor;
  }

  /** Where a page rendered now stands (the id its stream resumes from). */
  get position(): string {
    return `${this.#seq}.${this.#cursor}`;
  }

  get fragments(): Fragments<SharedFragment> | null {
    return this.#frags;
  }

  /** The kept event rows, oldest first. */
  eventRows(): string[] {
    return this.#events.map((e) => e.html);
  }

  /** How many streams are open (a browser's tabs share one; a tab without a shared worker has its own). */
  get streams(): number {
    return this.#clients.size;
  }

  /** A new view: the sections that changed go to every tab. Returns how many sections changed. */
  setView(view: TownView): number {
    this.#view = view;
    const next = sharedFragments(view, this.#render);
    const changed: Partial<Fragments<SharedFragment>> = {};
    for (const k of SHARED_FRAGMENTS) if (this.#frags === null || this.#frags[k] !== next[k]) changed[k] = next[k];
    const n = Object.keys(changed).length;
    this.#frags = next;
    if (n === 0) return 0;
    this.#seq++;
    this.#broadcast(sseMessage('view', { seq: this.#seq, frags: changed }, this.position));
    return n;
  }

  /** Events after the cursor, as the stream shows them; the cursor moves to `cursor`. */
  addEvents(events: readonly FeedEvent[], cursor: number): void {
    const fresh = events.filter((e) => e.id > this.#cursor);
    this.#cursor = Math.max(this.#cursor, cursor);
    if (fresh.length === 0) return;
    const rows = fresh.map((e) => ({ id: e.id, html: eventRow(e) }));
    this.#events = [...this.#events, ...rows].slice(-KEPT_EVENTS);
    this.#broadcast(sseMessage('events', eventsData(rows), this.position));
  }

  /**
   * A stream connects; it is sent what it has not seen: every section unless it saw this view, newer events,
   * and the sections kept of each agent it watches.
   */
  connect(sink: Sink, lastId: string | null | undefined, agents: readonly string[]): () => void {
    const client: Client = { sink, agents: [...new Set(agents)] };
    this.#clients.add(client);
    let ok = sink.send(encoder.encode('retry: 1000\n\n'));
    const at = parsePosition(lastId);
    if (this.#frags !== null && (at === null || at.seq !== this.#seq))
      ok &&= sink.send(sseMessage('view', { seq: this.#seq, frags: this.#frags }, this.position));
    const after = at?.cursor ?? this.#cursor;
    const missed = this.#events.filter((e) => e.id > after);
    if (missed.length > 0) ok &&= sink.send(sseMessage('events', eventsData(missed), this.position));
    for (const agent of client.agents) {
      const w = this.#agents.get(agent) ?? { clients: new Set<Client>(), frags: null };
      w.clients.add(client);
      this.#agents.set(agent, w);
      if (w.frags !== null) ok &&= sink.send(sseMessage('agent', { address: agent, frags: w.frags }));
    }
    if (!ok) this.#fail(client);
    return () => this.#drop(client);
  }

  /** The agents some stream watches, whose sections the server keeps fresh. */
  watchedAgents(): string[] {
    return [...this.#agents.keys()];
  }

  /** The sections of an agent's page as last sent, if a tab has it open. */
  agentFragments(address: string): Fragments<AgentFragment> | null {
    return this.#agents.get(address)?.frags ?? null;
  }

  /** An agent's sections, rendered from what the server gathered: what changed goes to its tabs. */
  setAgent(detail: AgentDetail): Fragments<AgentFragment> {
    const next = agentFragments(detail, Date.parse(this.#view?.at ?? new Date(0).toISOString()), this.#render);
    const w = this.#agents.get(detail.address);
    if (w === undefined) return next;
    const changed: Partial<Fragments<AgentFragment>> = {};
    for (const k of AGENT_FRAGMENTS) if (w.frags === null || w.frags[k] !== next[k]) changed[k] = next[k];
    w.frags = next;
    if (Object.keys(changed).length === 0) return next;
    const bytes = sseMessage('agent', { address: detail.address, frags: changed });
    for (const c of [...w.clients]) if (!c.sink.send(bytes)) this.#fail(c);
    return next;
  }

  /** A comment line to every tab, so that no proxy or idle timer closes a quiet stream. */
  heartbeat(): void {
    this.#broadcast(encoder.encode(': still here\n\n'));
  }

  /** Ends every tab's stream (the server is stopping). */
  closeAll(): void {
    for (const c of [...this.#clients]) this.#fail(c);
  }

  #broadcast(bytes: Uint8Array): void {
    for (const c of [...this.#clients]) if (!c.sink.send(bytes)) this.#fail(c);
  }

  /** A stream that cannot take more (or the server stopping) ends, and EventSource reconnects. */
  #fail(client: Client): void {
    this.#drop(client);
    try {
      client.sink.close();
    } catch {
      // already closed by the tab
    }
  }

  #drop(client: Client): void {
    this.#clients.delete(client);
    for (const agent of client.agents) {
      const w = this.#agents.get(agent);
      if (w === undefined) continue;
      w.clients.delete(client);
      if (w.clients.size === 0) this.#agents.delete(agent);
    }
  }
}
