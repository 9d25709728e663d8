import { describe, expect, it } from 'vitest';
import {
  allowedHosts,
  checkHost,
  checkMutation,
  isLoopback,
  isWildcard,
  newToken,
  sameToken,
  SECURITY_HEADERS,
  type Access,
  type RequestFacts,
} from './dashboard-security.js';

const token = newToken();
const access: Access = { hosts: allowedHosts('127.0.0.1', 8080), token, readOnly: null };

/** A POST as the dashboard's own page sends it. */
const own: RequestFacts = {
  method: 'POST',
  host: '127.0.0.1:8080',
  origin: 'http://127.0.0.1:8080',
  secFetchSite: 'same-origin',
  contentType: 'application/json',
  token,
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

  it("accepts a mutation from the dashboard's own page, and refuses it without the token or from elsewhere", () => {
    expect(checkMutation(own, access)).toBeNull();
    // A client without a browser's headers (curl with the token) is fine too.
    expect(checkMutation({ ...own, origin: undefined, secFetchSite: undefined }, access)).toBeNull();
    expect(checkMutation({ ...own, token: undefined }, access)).toMatchObject({ status: 403 });
    expect(checkMutation({ ...own, token: newToken() }, access)).toMatchObject({ status: 403 });
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
    expect(checkMutation({ ...own, method: 'GET', token: undefined, contentType: undefined }, access)).toBeNull();
    for (const method of ['PUT', 'DELETE', 'PATCH'])
      expect(checkMutation({ ...own, method, token: undefined }, access)).toMatchObject({ status: 403 });
  });

  it('refuses every mutation on a read-only dashboard, even with the token', () => {
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
