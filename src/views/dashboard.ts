import { createRequire } from 'node:module';
import { hostname, networkInterfaces } from 'node:os';
import type * as HonoModule from 'hono';
import type * as NodeServerModule from '@hono/node-server';
import { errorMessage, GtError, isRecord, ValidationError } from '../core/errors.js';
import { parseAddress } from '../core/identity.js';
import { peek } from '../work/sessions.js';
import { runViewAction, isViewAction, type ViewAction } from './actions.js';
import { DASHBOARD_CSS, DASHBOARD_JS, DASHBOARD_WORKER_JS } from './dashboard-assets.js';
import {
  agentFragments,
  forwardPage,
  notFoundPage,
  PAGE_NAMES,
  PAGES,
  renderPage,
  sharedFragments,
  type AgentDetail,
  type PageName,
} from './dashboard-html.js';
import { DashboardHub, type Sink } from './dashboard-hub.js';
import {
  allowedHosts,
  checkHost,
  checkMutation,
  exchangeToken,
  hasSession,
  hostPort,
  isLoopback,
  isWildcard,
  newToken,
  SECURITY_HEADERS,
  sessionCookieName,
  type Access,
  type Exchange,
  type Refusal,
} from './dashboard-security.js';
import { eventsAfter, type TownView, type UsageSource, type ViewContext } from './model.js';
import { watchTown, type WatchOptions } from './watch.js';

/**
 * `gt dashboard`'s server: a small HTTP server in the gt process (Hono on Node's http), one watcher of the
 * town for every tab, and pushed updates over server-sent events. A tab costs the town nothing but the bytes
 * it is sent: the view is built once per change (watch.ts), rendered once (dashboard-hub.ts), and the same
 * bytes go to every stream. The tabs of one browser share one stream, which the page's shared worker holds
 * (a browser opens at most six HTTP/1.1 connections to one host, so a stream per tab would stall the
 * seventh tab); a browser without shared workers opens one per tab. An agent's page adds, while a tab has it
 * open, one capture of that agent's pane every `paneMs` (not one per tab). The web server's libraries are
 * loaded here, on first use, so that no other gt command pays for them.
 */

export type DashboardOptions = {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  bind?: string;
  /** Allow actions on a non-loopback bind (otherwise such a dashboard is read-only). */
  allowRemoteActions?: boolean;
  /** Who the person acting from the page is (default: the context's actor). */
  actor?: string;
  usage?: UsageSource;
  watch?: Pick<WatchOptions, 'pollMs' | 'safetyMs' | 'minGapMs' | 'rig'>;
  /** How often an open agent page's pane is captured again (default 2 s). */
  paneMs?: number;
  onError?: (message: string) => void;
};

export type Dashboard = {
  /**
   * Where to open it: with the per-run token in the query when it offers actions (the browser that opens
   * it gets the session; tell it only to the person who started it), else the bare address.
   */
  url: string;
  port: number;
  bind: string;
  /** Why actions are refused, or null when the page offers them. */
  readOnly: string | null;
  /** How many streams are open now (one per browser, or per tab where the browser has no shared workers). */
  streams(): number;
  close(): Promise<void>;
};

const PANE_LINES = 200;
const HEARTBEAT_MS = 20_000;
/** A stream that has this much unsent is dropped (it reconnects and catches up). */
const MAX_BUFFERED = 4 * 1024 * 1024;
/** The most agents one stream watches (a browser's tabs on as many agent pages). */
const MAX_STREAM_AGENTS = 50;

/** This machine's names, which a dashboard bound to every interface answers to. */
function machineNames(): string[] {
  const names = [hostname()];
  for (const list of Object.values(networkInterfaces())) for (const n of list ?? []) names.push(n.address);
  return names;
}

const STATUS: Partial<Record<string, 400 | 404 | 409>> = {
  validation: 400,
  usage: 400,
  not_found: 404,
  conflict: 409,
  town_down: 409,
  agent_not_ready: 409,
  agent_exited: 409,
  at_capacity: 409,
};

/** The HTTP status of a failed action: the caller's mistake, something missing, a refusal, or ours. */
function statusOf(err: unknown): 400 | 404 | 409 | 500 {
  return err instanceof GtError ? (STATUS[err.code] ?? 500) : 500;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** An action as the page posts it, checked: its kind, and the agent or escalation it names. */
export function readAction(body: unknown): ViewAction {
  if (!isRecord(body))
    throw new ValidationError('an action is a JSON object', { hint: '{"kind": "nudge", "agent": "…", "text": "…"}' });
  const b = body;
  const kind = str(b.kind) ?? '';
  if (!isViewAction(kind))
    throw new ValidationError(`unknown action "${kind}"`, { hint: 'one of nudge, restart, handoff, requeue, ack' });
  if (kind === 'ack') {
    const escalation = str(b.escalation)?.trim() ?? '';
    if (escalation === '' || escalation.length > 200)
      throw new ValidationError('ack needs the escalation id', { hint: 'acknowledge from its row' });
    return { kind, escalation };
  }
  const agent = str(b.agent)?.trim() ?? '';
  if (agent === '')
    throw new ValidationError(`${kind} needs an agent address`, { hint: 'e.g. gastown/polecats/toast' });
  parseAddress(agent);
  if (kind === 'nudge') {
    const text = str(b.text) ?? '';
    if (text.trim() === '') throw new ValidationError('a nudge needs text', { hint: 'type the message first' });
    if (text.length > 4000) throw new ValidationError('a nudge is at most 4000 characters');
    return { kind, agent, text };
  }
  return { kind, agent };
}

const oneLine = (s: string): string => s.replace(/\s+/gu, ' ').trim();

/** Why a page opened without the session offers no actions. */
const NO_SESSION =
  'this browser has no session. To act from it, open the address gt dashboard printed (the one with ?token=).';

export async function startDashboard(ctx: ViewContext, options: DashboardOptions = {}): Promise<Dashboard> {
  const load = createRequire(import.meta.url);
  // eslint-disable-next-line @typescript-eslint/no-unsafe-type-assertion -- require() is untyped; the module is hono.
  const { Hono } = load('hono') as typeof HonoModule;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-type-assertion -- the module is @hono/node-server.
  const { serve } = load('@hono/node-server') as typeof NodeServerModule;

  const bind = options.bind ?? '127.0.0.1';
  const requestedPort = options.port ?? 8080;
  const readOnly =
    isLoopback(bind) || options.allowRemoteActions === true
      ? null
      : `it listens on ${bind}, not on loopback only, and was started without --allow-remote-actions`;
  const actor = options.actor ?? ctx.actor;
  const onError = options.onError ?? (() => undefined);
  const hub = new DashboardHub({ actions: readOnly === null }, { seqFrom: Date.now() });
  const token = newToken();
  const session = newToken();
  const paneMs = options.paneMs ?? 2_000;

  // ---------------------------------------------------------------------------------------------------------
  // the town, watched once

  let chain: Promise<void> = Promise.resolve();
  let firstView: (() => void) | undefined;
  let firstError: ((err: Error) => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    firstView = resolve;
    firstError = reject;
  });

  const serially = (job: () => Promise<void>): Promise<void> => {
    const run = chain.then(job).catch((err: unknown) => onError(errorMessage(err)));
    chain = run;
    return run;
  };

  async function paneOf(address: string, row: AgentDetail['row']): Promise<AgentDetail['pane']> {
    if (row !== null && row.state === 'stopped') return { missing: 'Its session is not running.' };
    try {
      return { text: (await peek(ctx, address, PANE_LINES)).text };
    } catch (err) {
      return { missing: `No pane: ${oneLine(errorMessage(err))}` };
    }
  }

  /** What an agent's page shows: its row, its pane, its chain of sessions, its beads. */
  async function detailOf(address: string, view: TownView): Promise<AgentDetail> {
    const row = view.agents.find((a) => a.address === address) ?? null;
    const [pane, sessions, assigned] = await Promise.all([
      paneOf(address, row),
      ctx.store.sessions(address, 20),
      ctx.store.list({ assignee: address, limit: 20 }),
    ]);
    // Its open beads, and those its sessions worked on (closed ones included).
    const worked = [...new Set(sessions.map((s) => s.bead_id).filter((id): id is string => id !== null))];
    const seen = new Set(assigned.map((b) => b.id));
    const past = await ctx.store.show(worked.filter((id) => !seen.has(id)));
    const beads = [...assigned, ...past]
      .map((b) => ({ id: b.id, title: b.title, status: b.status, issue_type: b.issue_type, updated_at: b.updated_at }))
      .sort((a, b) => b.updated_at.localeCompare(a.updated_at));
    return { address, row, pane, sessions, beads };
  }

  /** The last detail gathered per watched agent (a pane-only refresh keeps the rest). */
  const details = new Map<string, AgentDetail>();

  async function refreshAgents(paneOnly: boolean, only?: string): Promise<void> {
    const view = hub.view;
    if (view === null) return;
    const watched = hub.watchedAgents();
    for (const k of details.keys()) if (!watched.includes(k)) details.delete(k);
    await Promise.all(
      (only === undefined ? watched : [only]).map(async (address) => {
        const before = details.get(address);
        const d =
          paneOnly && before !== undefined
            ? { ...before, pane: await paneOf(address, before.row) }
            : await detailOf(address, view);
        details.set(address, d);
        hub.setAgent(d);
      }),
    );
  }

  const watch = watchTown(
    ctx,
    (view) =>
      void serially(async () => {
        const first = hub.view === null;
        hub.setView(view);
        if (first) hub.addEvents(view.events, view.cursor);
        else if (view.cursor > hub.cursor) {
          const next = await eventsAfter(ctx.store, hub.cursor);
          hub.addEvents(next.events, next.cursor);
        }
        await refreshAgents(false);
        firstView?.();
      }),
    {
      ...options.watch,
      usage: options.usage,
      onError: (message) => {
        if (hub.view === null) firstError?.(new Error(message));
        onError(message);
      },
    },
  );
  try {
    await ready;
  } catch (err) {
    await watch.stop();
    throw err;
  }

  let paneBusy = false;
  const paneTimer = setInterval(() => {
    if (paneBusy || hub.watchedAgents().length === 0) return;
    paneBusy = true;
    void serially(() => refreshAgents(true)).finally(() => {
      paneBusy = false;
    });
  }, paneMs);
  const heartbeat = setInterval(() => hub.heartbeat(), HEARTBEAT_MS);
  paneTimer.unref();
  heartbeat.unref();

  // ---------------------------------------------------------------------------------------------------------
  // the HTTP server

  let access: Access = { hosts: new Set(), token, session, cookie: sessionCookieName(requestedPort), readOnly };
  const app = new Hono();

  const refuse = (r: Refusal): Response =>
    new Response(JSON.stringify({ ok: false, error: r.error, ...(r.hint === undefined ? {} : { hint: r.hint }) }), {
      status: r.status,
      headers: { 'Content-Type': 'application/json' },
    });

  /** The answer to an address with a token: on to the same page without it, with the session if it was right. */
  const forward = (x: Exchange): Response => {
    const headers = new Headers(x.hop ? { 'Content-Type': 'text/html; charset=utf-8' } : { Location: x.location });
    if (x.setCookie !== null) headers.set('Set-Cookie', x.setCookie);
    return new Response(x.hop ? forwardPage(x.location) : null, { status: x.hop ? 200 : 303, headers });
  };

  app.use('*', async (c, next) => {
    const h = (name: string): string | undefined => c.req.header(name);
    const hostRefused = checkHost({ host: h('host') }, access);
    const asked = new URL(c.req.url);
    const exchange =
      hostRefused === null
        ? exchangeToken(
            {
              method: c.req.method,
              path: asked.pathname,
              query: asked.searchParams,
              secFetchSite: h('sec-fetch-site'),
            },
            access,
          )
        : null;
    if (exchange !== null) c.res = forward(exchange);
    else {
      const refused =
        hostRefused ??
        checkMutation(
          {
            method: c.req.method,
            host: h('host'),
            origin: h('origin'),
            secFetchSite: h('sec-fetch-site'),
            contentType: h('content-type'),
            action: h('x-gt-action'),
            cookie: h('cookie'),
          },
          access,
        );
      if (refused !== null) c.res = refuse(refused);
      else await next();
    }
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  });

  const html = (body: string, status = 200): Response =>
    new Response(body, { status, headers: { 'Content-Type': 'text/html; charset=utf-8' } });

  /**
   * A page as this browser may use it: with actions when it has the session, else read-only (its sections
   * rendered without buttons here; the page's script drops those in the sections it is sent later).
   */
  const page = (name: PageName, cookie: string | undefined, agent?: AgentDetail): Response => {
    const view = hub.view;
    if (hub.fragments === null || view === null) return html(notFoundPage('The town view is not ready yet.'), 503);
    const actions = readOnly === null && hasSession(cookie, access);
    const without = { actions: false };
    const agentFrags = (a: AgentDetail) =>
      actions ? (hub.agentFragments(a.address) ?? hub.setAgent(a)) : agentFragments(a, Date.parse(view.at), without);
    return html(
      renderPage({
        page: name,
        town: view.town.name,
        actions,
        readOnlyReason: actions ? null : (readOnly ?? NO_SESSION),
        since: hub.position,
        shared: actions || readOnly !== null ? hub.fragments : sharedFragments(view, without),
        events: hub.eventRows(),
        ...(agent === undefined ? {} : { agent: { address: agent.address, fragments: agentFrags(agent) } }),
      }),
    );
  };

  for (const name of PAGE_NAMES) app.get(PAGES[name].path, (c) => page(name, c.req.header('cookie')));

  app.get('/agent', async (c) => {
    const address = c.req.query('address') ?? '';
    const view = hub.view;
    if (view === null) return html(notFoundPage('The town view is not ready yet.'), 503);
    if (!view.agents.some((a) => a.address === address))
      return html(notFoundPage(`No agent "${address}" in this town.`), 404);
    const known = details.get(address);
    return page('agent', c.req.header('cookie'), known ?? (await detailOf(address, view)));
  });

  const script = (text: string) => () =>
    new Response(text, { headers: { 'Content-Type': 'text/javascript; charset=utf-8' } });
  app.get('/app.js', script(DASHBOARD_JS));
  app.get('/worker.js', script(DASHBOARD_WORKER_JS));
  app.get('/app.css', () => new Response(DASHBOARD_CSS, { headers: { 'Content-Type': 'text/css; charset=utf-8' } }));
  app.get('/favicon.ico', () => new Response(null, { status: 204 }));
  app.get('/api/view', () => Response.json(hub.view));
  // Whether it answers, and how many streams it feeds (the browser test counts them; no secrets here).
  app.get('/healthz', () =>
    Response.json({ ok: true, streams: hub.streams, watched_agents: hub.watchedAgents().length }),
  );

  app.get('/events', (c) => {
    // The agents whose pages the stream's tabs show (a shared worker names every one its tabs have open).
    const known = new Set(hub.view?.agents.map((a) => a.address));
    const agents = [...new Set(c.req.queries('agent') ?? [])].filter((a) => known.has(a)).slice(0, MAX_STREAM_AGENTS);
    const lastId = c.req.header('last-event-id') ?? c.req.query('since');
    let disconnect: (() => void) | undefined;
    const stream = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          const sink: Sink = {
            send(bytes) {
              if ((controller.desiredSize ?? 0) < -MAX_BUFFERED) return false;
              controller.enqueue(bytes);
              return true;
            },
            close: () => controller.close(),
          };
          disconnect = hub.connect(sink, lastId, agents);
          for (const agent of agents)
            if (hub.agentFragments(agent) === null) void serially(() => refreshAgents(false, agent));
        },
        cancel() {
          disconnect?.();
        },
      },
      { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
    );
    return new Response(stream, {
      headers: { 'Content-Type': 'text/event-stream; charset=utf-8', 'X-Accel-Buffering': 'no' },
    });
  });

  app.post('/api/action', async (c) => {
    let action: ViewAction;
    try {
      action = readAction(await c.req.json());
    } catch (err) {
      const status = err instanceof SyntaxError ? 400 : statusOf(err);
      return Response.json({ ok: false, error: oneLine(errorMessage(err)) }, { status });
    }
    try {
      const r = await runViewAction(ctx, action, actor);
      watch.refresh();
      return Response.json(r);
    } catch (err) {
      const hint = err instanceof GtError ? err.hint : undefined;
      return Response.json(
        { ok: false, error: oneLine(errorMessage(err)), ...(hint === undefined ? {} : { hint }) },
        { status: statusOf(err) },
      );
    }
  });

  app.notFound(() => html(notFoundPage('Nothing here.'), 404));
  app.onError((err) => {
    onError(errorMessage(err));
    return Response.json({ ok: false, error: 'the dashboard failed to answer (see its log)' }, { status: 500 });
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: requestedPort, hostname: bind }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ValidationError(`port ${requestedPort} on ${bind} is in use`, {
              hint: 'pick another with --port (0 picks a free one)',
            })
          : err.code === 'EADDRNOTAVAIL'
            ? new ValidationError(`${bind} is not an address of this machine`, { hint: 'pass --bind 127.0.0.1' })
            : err,
      );
    });
  }).catch(async (err: unknown) => {
    clearInterval(paneTimer);
    clearInterval(heartbeat);
    await watch.stop();
    throw err;
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : requestedPort;
  access = {
    ...access,
    hosts: allowedHosts(bind, port, isWildcard(bind) ? machineNames() : []),
    cookie: sessionCookieName(port),
  };
  const shown = isWildcard(bind) ? '127.0.0.1' : bind;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostPort(shown, port)}/${readOnly === null ? `?token=${token}` : ''}`,
    port,
    bind,
    readOnly,
    streams: () => hub.streams,
    close: () =>
      (closed ??= (async () => {
        clearInterval(paneTimer);
        clearInterval(heartbeat);
        await watch.stop();
        await chain;
        hub.closeAll();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
      })()),
  };
}
