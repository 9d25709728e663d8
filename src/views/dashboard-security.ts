import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What keeps the dashboard safe to leave open. It binds to loopback unless told otherwise; every request must
 * name one of its own hosts (a page of another site that rebinds its DNS name to 127.0.0.1 cannot read it).
 * Reading needs nothing more, but acting does, because a nudge is typed into an agent that may run tools:
 * any process or user of the machine can fetch a page from a loopback port. So the person who started the
 * dashboard is told an address carrying a per-run token (printed once, never in a page); opening it gives
 * that browser a session cookie (HttpOnly, SameSite=Strict) and sends it on to the same page without the
 * token. A mutation must then carry that cookie, come from the dashboard's own origin, name itself with a
 * header no cross-site form can set, and have a JSON body; secrets are compared in constant time. Bound to
 * any other address it is read-only (no token, every mutation refused) unless started with an explicit option.
 */

/** A fresh per-run token: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether two tokens are the same, in time that does not depend on where they differ (or on their lengths). */
export function sameToken(given: string | undefined | null, expected: string): boolean {
  if (given === undefined || given === null || given === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A bind address without its brackets: `[::1]` → `::1`. */
const bare = (host: string): string => host.replace(/^\[(.*)\]$/u, '$1').toLowerCase();

/** Whether an address to bind to (or a host name) is this machine's loopback only. */
export function isLoopback(address: string): boolean {
  const a = bare(address);
  if (a === 'localhost' || a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/u.exec(a);
  return v4 !== null && v4[1] === '127';
}

/** Whether the address listens on every interface. */
export function isWildcard(address: string): boolean {
  const a = bare(address);
  return a === '0.0.0.0' || a === '::' || a === '0:0:0:0:0:0:0:0';
}

/** `host:port` as a Host header names it (IPv6 literals in brackets). */
export function hostPort(host: string, port: number): string {
  const h = bare(host);
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * The Host header values the dashboard answers to: its bind address, and for loopback or every-interface
 * binds the loopback names; for every-interface binds also `names` (this machine's host name and interface
 * addresses, which the caller looks up). Port 80 may be left out of a Host header.
 */
export function allowedHosts(bind: string, port: number, names: readonly string[] = []): Set<string> {
  const hosts = [bind];
  if (isLoopback(bind) || isWildcard(bind)) hosts.push('127.0.0.1', 'localhost', '::1');
  if (isWildcard(bind)) hosts.push(...names);
  const out = new Set<string>();
  for (const h of hosts) {
    if (isWildcard(h)) continue;
    out.add(hostPort(h, port));
    if (port === 80) out.add(hostPort(h, port).replace(/:80$/u, ''));
  }
  return out;
}

export type Access = {
  /** Host header values this dashboard answers to (allowedHosts). */
  hosts: ReadonlySet<string>;
  /** The per-run token of the printed address, which a browser exchanges for the session cookie. */
  token: string;
  /** What the session cookie holds (another per-run secret). */
  session: string;
  /** The session cookie's name (sessionCookieName). */
  cookie: string;
  /** Why mutations are refused (a non-loopback bind without the option), or null when they are allowed. */
  readOnly: string | null;
};

/** The header every action carries: a form cannot set it, and a fetch from elsewhere that does needs a preflight. */
export const ACTION_HEADER = 'X-GT-Action';

/**
 * The session cookie's name. A browser keeps cookies per host, not per port, so two dashboards on one
 * machine (other towns, other ports) need names of their own.
 */
export function sessionCookieName(port: number): string {
  return `gt-dashboard-${port}`;
}

/** The Set-Cookie value that gives a browser the session: only for this server's requests, never to scripts. */
export function sessionCookie(access: Pick<Access, 'cookie' | 'session'>): string {
  return `${access.cookie}=${access.session}; HttpOnly; SameSite=Strict; Path=/`;
}

/** Whether a Cookie header holds this dashboard's session (any cookie of that name with the right value). */
export function hasSession(cookieHeader: string | undefined, access: Pick<Access, 'cookie' | 'session'>): boolean {
  let found = false;
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== access.cookie) continue;
    // Every candidate is compared, so the time taken does not say which one matched.
    if (sameToken(part.slice(eq + 1).trim(), access.session)) found = true;
  }
  return found;
}

/** The headers of a request that the checks read (lower-case names). */
export type RequestFacts = {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  contentType: string | undefined;
  /** The X-GT-Action header. */
  action: string | undefined;
  /** The Cookie header. */
  cookie: string | undefined;
};

/** What to answer a page request that carries a token. */
export type Exchange = {
  /** The same address without the token, relative to the server (path and the rest of the query). */
  location: string;
  /** Set-Cookie, when the token is right; null when it is wrong (the browser gets no session). */
  setCookie: string | null;
  /**
   * Send the browser on with a page of the dashboard's own (which moves to `location` at once) rather than an
   * HTTP redirect: a navigation that another site or a local file started counts as cross-site through its
   * redirects, so a SameSite=Strict cookie would not go with the redirected request, and the page would open
   * read-only. A navigation that the page starts itself is same-site.
   */
  hop: boolean;
};

/**
 * A GET of any address with a `token` in its query: the right token gets the session cookie, a wrong one
 * none; either way the browser is sent on to the address without it, so that the token stays neither in the
 * address bar nor in the history. Null when there is nothing to exchange (no token, not a GET, or a
 * read-only dashboard, which has no sessions).
 */
export function exchangeToken(
  r: { method: string; path: string; query: URLSearchParams; secFetchSite: string | undefined },
  access: Access,
): Exchange | null {
  if (!['GET', 'HEAD'].includes(r.method.toUpperCase()) || !r.query.has('token') || access.readOnly !== null)
    return null;
  const right = r.query.getAll('token').some((t) => sameToken(t, access.token));
  const rest = new URLSearchParams(r.query);
  rest.delete('token');
  const search = rest.toString();
  // Only a path of this server's own (never `//elsewhere`): the location is always relative to it.
  const path = r.path.startsWith('/') ? `/${r.path.replace(/^\/+/u, '')}` : '/';
  const site = r.secFetchSite;
  return {
    location: `${path}${search === '' ? '' : `?${search}`}`,
    setCookie: right ? sessionCookie(access) : null,
    hop: site !== undefined && site !== 'none' && site !== 'same-origin',
  };
}

export type Refusal = { status: 403 | 415 | 421; error: string; hint?: string };

/** Any request: it must name one of the dashboard's own hosts. */
export function checkHost(r: Pick<RequestFacts, 'host'>, access: Pick<Access, 'hosts'>): Refusal | null {
  const host = (r.host ?? '').toLowerCase();
  if (access.hosts.has(host)) return null;
  return {
    status: 421,
    error: `this dashboard does not answer to host "${host}"`,
    hint: `open it at ${[...access.hosts][0] ?? 'its own address'}`,
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A mutation (any method but GET/HEAD/OPTIONS): refused on a read-only dashboard; from another origin (the
 * Origin header, or Sec-Fetch-Site, where the browser sends them); without the action header; without the
 * session cookie; or with a body that is not JSON (a cross-site form can post only simple content types and
 * headers, and a fetch from another origin that sets them needs a preflight this server never grants).
 */
export function checkMutation(r: RequestFacts, access: Access): Refusal | null {
  if (SAFE_METHODS.has(r.method.toUpperCase())) return null;
  if (access.readOnly !== null)
    return {
      status: 403,
      error: `the dashboard is read-only: ${access.readOnly}`,
      hint: 'start it with --allow-remote-actions to act from another machine',
    };
  const host = (r.host ?? '').toLowerCase();
  if (r.origin !== undefined && r.origin.toLowerCase() !== `http://${host}`)
    return { status: 403, error: `a request from another origin (${r.origin}) is refused` };
  if (r.secFetchSite !== undefined && r.secFetchSite !== 'same-origin' && r.secFetchSite !== 'none')
    return { status: 403, error: `a ${r.secFetchSite} request is refused` };
  if (r.action !== '1')
    return {
      status: 403,
      error: `an action must carry the header ${ACTION_HEADER}: 1, as the dashboard's page sends it`,
    };
  if (!hasSession(r.cookie, access))
    return {
      status: 403,
      error: 'this browser has no session of this dashboard (no session cookie, or one of an earlier run)',
      hint: 'open the address gt dashboard printed, the one with ?token=, and act from that page',
    };
  const type = (r.contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return { status: 415, error: 'actions take a JSON body (application/json)' };
  return null;
}

/** Headers on every response: only the dashboard's own origin may load anything, and nothing may frame it. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};
