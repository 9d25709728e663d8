import { describe, expect, it } from 'vitest';
import {
  allowedHosts,
  checkHost,
  checkMutation,
  exchangeToken,
  hasSession,
  isLoopback,
  isWildcard,
  newToken,
  sameToken,
  SECURITY_HEADERS,
  sessionCookie,
  sessionCookieName,
  type Access,
  type RequestFacts,
} from './dashboard-security.js';

const token = newToken();
const session = newToken();
const access: Access = {
  hosts: allowedHosts('127.0.0.1', 8080),
  token,
  session,
  cookie: sessionCookieName(8080),
  readOnly: null,
};
const cookie = `other=1; gt-dashboard-8080=${session}`;

/** A POST as the dashboard's own page sends it. */
const own: RequestFacts = {
  method: 'POST',
  host: '127.0.0.1:8080',
  origin: 'http://127.0.0.1:8080',
  secFetchSite: 'same-origin',
  contentType: 'application/json',
  action: '1',
  cookie,
};

/** A page request, as a browser sends it when the address is typed or opened from a terminal. */
const get = (url: string, secFetchSite: string | undefined = 'none') => {
  const u = new URL(url, 'http://127.0.0.1:8080');
  return { method: 'GET', path: u.pathname, query: u.searchParams, secFetchSite };
};

describe('dashboard security', () => {
  it('makes a fresh long token per run and compares tokens whatever their length', () => {
    const other = newToken();
    expect(other).not.toBe(token);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    expect(sameToken(token, token)).toBe(true);
    expect(sameToken(other, token)).toBe(false);
    expect(sameToken(token.slice(0, -1), token)).toBe(false);
    expect(sameToken(`${token}x`, token)).toBe(false);
    expect(sameToken('', token)).toBe(false);
    expect(sameToken(undefined, token)).toBe(false);
  });

  it('tells loopback binds from the others', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopback(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.com', '128.0.0.1', '::ffff:10.0.0.1'])
      expect(isLoopback(a), a).toBe(false);
    expect(isWildcard('0.0.0.0')).toBe(true);
    expect(isWildcard('[::]')).toBe(true);
    expect(isWildcard('127.0.0.1')).toBe(false);
  });

  it('answers only to its own host names (no DNS rebinding)', () => {
    expect([...allowedHosts('127.0.0.1', 8080)].sort()).toEqual(['127.0.0.1:8080', '[::1]:8080', 'localhost:8080']);
    expect([...allowedHosts('192.168.1.5', 9000)]).toEqual(['192.168.1.5:9000']);
    expect([...allowedHosts('0.0.0.0', 80, ['box', 'fe80::1'])]).toEqual(
      expect.arrayContaining(['127.0.0.1:80', '127.0.0.1', 'box:80', 'box', '[fe80::1]:80']),
    );
    expect(checkHost({ host: 'localhost:8080' }, access)).toBeNull();
    expect(checkHost({ host: 'LOCALHOST:8080' }, access)).toBeNull();
    expect(checkHost({ host: 'evil.example:8080' }, access)?.status).toBe(421);
    expect(checkHost({ host: '127.0.0.1:8081' }, access)?.status).toBe(421);
    expect(checkHost({ host: undefined }, access)?.status).toBe(421);
  });

  it('exchanges the right token for a strict, script-proof session cookie, and sends the browser on without it', () => {
    expect(sessionCookieName(8080)).toBe('gt-dashboard-8080');
    expect(sessionCookie(access)).toBe(`gt-dashboard-8080=${session}; HttpOnly; SameSite=Strict; Path=/`);
    expect(sessionCookie(access)).not.toContain(token);
    expect(exchangeToken(get(`/?token=${token}`), access)).toEqual({
      location: '/',
      setCookie: sessionCookie(access),
      hop: false,
    });
    // Any page: the rest of its query is kept.
    expect(exchangeToken(get(`/agent?address=gastown%2Fpolecats%2Ftoast&token=${token}`), access)).toMatchObject({
      location: '/agent?address=gastown%2Fpolecats%2Ftoast',
      setCookie: sessionCookie(access),
    });
    // A navigation another site or a local file started: a page of its own sends the browser on.
    expect(exchangeToken(get(`/queue?token=${token}`, 'cross-site'), access)).toMatchObject({
      location: '/queue',
      hop: true,
    });
    expect(exchangeToken(get(`/?token=${token}`, undefined), access)?.hop).toBe(false);
    // Never a location on another host (a request for http://127.0.0.1:8080//evil.example/x has that path).
    const path = new URL(`http://127.0.0.1:8080//evil.example/x?token=${token}`).pathname;
    expect(path).toBe('//evil.example/x');
    const query = new URLSearchParams({ token });
    expect(exchangeToken({ method: 'GET', path, query, secFetchSite: 'none' }, access)?.location).toBe(
      '/evil.example/x',
    );
  });

  it('sets no cookie for a wrong token, and exchanges nothing where there is no token or no actions', () => {
    for (const wrong of [newToken(), token.slice(0, -1), `${token}x`, '', session])
      expect(exchangeToken(get(`/flight?token=${encodeURIComponent(wrong)}`), access), wrong).toEqual({
        location: '/flight',
        setCookie: null,
        hop: false,
      });
    expect(exchangeToken(get('/?address=x'), access)).toBeNull();
    expect(exchangeToken({ ...get(`/?token=${token}`), method: 'POST' }, access)).toBeNull();
    expect(exchangeToken(get(`/?token=${token}`), { ...access, readOnly: 'it listens on 0.0.0.0' })).toBeNull();
  });

  it('finds the session among the cookies, only under its own name and only with its value', () => {
    expect(hasSession(cookie, access)).toBe(true);
    expect(hasSession(`gt-dashboard-8080=${session}`, access)).toBe(true);
    expect(hasSession(`gt-dashboard-8080=stale; gt-dashboard-8080=${session}`, access)).toBe(true);
    expect(hasSession(undefined, access)).toBe(false);
    expect(hasSession('', access)).toBe(false);
    expect(hasSession(`gt-dashboard-8080=${token}`, access)).toBe(false);
    expect(hasSession(`gt-dashboard-8081=${session}`, access)).toBe(false);
    expect(hasSession(`gt-dashboard-8080=${session.slice(1)}`, access)).toBe(false);
    expect(hasSession('gt-dashboard-8080=', access)).toBe(false);
  });

  it("accepts a mutation from the dashboard's own page, and refuses it without the session or from elsewhere", () => {
    expect(checkMutation(own, access)).toBeNull();
    // A client without a browser's headers (curl with the cookie) is fine too.
    expect(checkMutation({ ...own, origin: undefined, secFetchSite: undefined }, access)).toBeNull();
    const noCookie = checkMutation({ ...own, cookie: undefined }, access);
    expect(noCookie).toMatchObject({ status: 403 });
    expect(noCookie?.error).toContain('no session');
    expect(noCookie?.hint).toContain('?token=');
    expect(checkMutation({ ...own, cookie: `gt-dashboard-8080=${newToken()}` }, access)).toMatchObject({
      status: 403,
    });
    // The token itself is not the session: it only buys one.
    expect(checkMutation({ ...own, cookie: `gt-dashboard-8080=${token}` }, access)).toMatchObject({ status: 403 });
    // Without the action header (a form another site posts cannot set it), even with the cookie.
    for (const action of [undefined, '', '0'])
      expect(checkMutation({ ...own, action }, access)).toMatchObject({ status: 403 });
    expect(checkMutation({ ...own, origin: 'http://evil.example' }, access)).toMatchObject({ status: 403 });
    expect(checkMutation({ ...own, origin: 'https://127.0.0.1:8080' }, access)).toMatchObject({ status: 403 });
    expect(checkMutation({ ...own, origin: 'null' }, access)).toMatchObject({ status: 403 });
    expect(checkMutation({ ...own, origin: undefined, secFetchSite: 'cross-site' }, access)).toMatchObject({
      status: 403,
    });
    // A form another site posts has a simple content type.
    for (const contentType of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data', undefined])
      expect(checkMutation({ ...own, contentType }, access)).toMatchObject({ status: 415 });
    expect(checkMutation({ ...own, contentType: 'application/json; charset=utf-8' }, access)).toBeNull();
    // Reading is not a mutation.
    expect(checkMutation({ ...own, method: 'GET', cookie: undefined, contentType: undefined }, access)).toBeNull();
    for (const method of ['PUT', 'DELETE', 'PATCH'])
      expect(checkMutation({ ...own, method, cookie: undefined }, access)).toMatchObject({ status: 403 });
  });

  it('refuses every mutation on a read-only dashboard, even with a session', () => {
    const ro: Access = { ...access, readOnly: 'it listens on 0.0.0.0' };
    const r = checkMutation(own, ro);
    expect(r).toMatchObject({ status: 403 });
    expect(r?.error).toContain('read-only: it listens on 0.0.0.0');
    expect(r?.hint).toContain('--allow-remote-actions');
    expect(checkMutation({ ...own, method: 'GET' }, ro)).toBeNull();
  });

  it('allows only its own origin to load anything and nothing to frame it', () => {
    const csp = SECURITY_HEADERS['Content-Security-Policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    // The page's shared worker comes from the dashboard itself.
    expect(csp).toContain("worker-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(SECURITY_HEADERS['X-Frame-Options']).toBe('DENY');
  });
});
