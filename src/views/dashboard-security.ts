import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What keeps the dashboard safe to leave open. It binds to loopback unless told otherwise; every request must
 * name one of its own hosts (a page of another site that rebinds its DNS name to 127.0.0.1 cannot read it);
 * a mutation must come from the dashboard's own page: the same origin, a JSON body (not a form another site
 * could post) and the per-run token, which only the page the dashboard rendered carries, compared in constant
 * time. Bound to any other address it is read-only (no token on the page, every mutation refused) unless it
 * was started with an explicit option.
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
  token: string;
  /** Why mutations are refused (a non-loopback bind without the option), or null when they are allowed. */
  readOnly: string | null;
};

/** The headers of a request that the checks read (lower-case names). */
export type RequestFacts = {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  contentType: string | undefined;
  token: string | undefined;
};

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
 * Origin header, or Sec-Fetch-Site, where the browser sends them); without the page's token; or with a body
 * that is not JSON (a cross-site form can post only simple content types, and a JSON fetch from another
 * origin needs a preflight this server never grants).
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
  if (!sameToken(r.token, access.token))
    return {
      status: 403,
      error: 'the dashboard token is missing or wrong',
      hint: 'act from the page the dashboard serves (reload it if the dashboard was restarted)',
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
