import { describe, expect, it } from 'vitest';
import type { Bead } from './bead.js';
import {
  compareEscalations,
  escalationOf,
  parseRoute,
  parseSeverity,
  raiseOf,
  routeLabel,
  SEVERITY_PRIORITY,
  severityOfPriority,
  staleRaises,
  type EscalationRoute,
  type ParsedRoute,
  type StaleInput,
} from './escalation.js';
import { ValidationError } from './errors.js';

describe('severities', () => {
  it.each([
    ['critical', 0, 'critical', null],
    ['high', 1, 'high', 'critical'],
    ['medium', 2, 'medium', 'high'],
    ['low', 3, 'low', 'medium'],
  ] as const)('%s is P%i, and is raised to %s', (severity, priority, back, up) => {
    expect(SEVERITY_PRIORITY[severity]).toBe(priority);
    expect(severityOfPriority(priority)).toBe(back);
    expect(raiseOf(severity)).toBe(up);
  });

  it('reads a priority beyond P3 as low', () => {
    expect(severityOfPriority(4)).toBe('low');
  });

  it.each([
    ['HIGH', 'high'],
    [' low ', 'low'],
  ])('parses %j as %s', (text, severity) => {
    expect(parseSeverity(text)).toBe(severity);
  });

  it.each(['urgent', '', 'P1'])('rejects %j, naming the four', (text) => {
    expect(() => parseSeverity(text)).toThrow(ValidationError);
    expect(() => parseSeverity(text)).toThrow(/expected critical, high, medium or low/);
  });

  it('orders by severity, then oldest first', () => {
    const list = [
      { id: 'a', severity: 'low' as const, created_at: '2026-01-01T00:00:00Z' },
      { id: 'b', severity: 'high' as const, created_at: '2026-01-02T00:00:00Z' },
      { id: 'c', severity: 'high' as const, created_at: '2026-01-01T00:00:00Z' },
      { id: 'd', severity: 'critical' as const, created_at: '2026-01-03T00:00:00Z' },
    ];
    expect([...list].sort(compareEscalations).map((e) => e.id)).toEqual(['d', 'c', 'b', 'a']);
  });
});

describe('routes', () => {
  it.each([
    ['bead', { kind: 'bead' }, 'bead'],
    ['mail:mayor', { kind: 'mail', to: 'mayor' }, 'mail:mayor'],
    ['mail:gastown/witness', { kind: 'mail', to: 'gastown/witness' }, 'mail:gastown/witness'],
    [{ command: ['notify-send', 'x'] }, { kind: 'command', argv: ['notify-send', 'x'] }, 'command:notify-send'],
  ] as [EscalationRoute, ParsedRoute, string][])('%j', (route, parsed, label) => {
    expect(parseRoute(route)).toEqual(parsed);
    expect(routeLabel(route)).toBe(label);
  });
});

function bead(over: Partial<Bead> & { labels?: string[] } = {}): Bead & { labels: string[] } {
  return {
    id: 'hq-1',
    title: 't',
    description: '',
    design: '',
    acceptance_criteria: '',
    notes: '',
    status: 'open',
    priority: 2,
    issue_type: 'escalation',
    assignee: null,
    created_by: 'gastown/witness',
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    started_at: null,
    closed_at: null,
    close_reason: '',
    external_ref: null,
    estimated_minutes: null,
    due_at: null,
    defer_until: null,
    spec_id: null,
    ephemeral: false,
    metadata: {},
    extra: {},
    labels: ['gt:escalation'],
    ...over,
  };
}

describe('escalationOf', () => {
  it('reads what the bead carries', () => {
    const e = escalationOf(
      bead({
        priority: 0,
        metadata: {
          severity: 'critical',
          original_severity: 'medium',
          source: 'daemon',
          related: 'ga-7',
          raised_count: 2,
          raised_at: '2026-01-01T08:00:00Z',
          acknowledged_at: null,
          routes: [
            { route: 'mail:mayor', severity: 'medium', ok: true, detail: 'hq-2', at: '2026-01-01T00:00:00Z' },
            { route: 'junk' },
          ],
        },
      }),
    );
    expect(e).toMatchObject({
      severity: 'critical',
      original_severity: 'medium',
      source: 'daemon',
      related: 'ga-7',
      raised_count: 2,
      raised_at: '2026-01-01T08:00:00Z',
      acknowledged_at: null,
      status: 'open',
      close_reason: null,
    });
    // A result that is not one is left out, not guessed at.
    expect(e.routes).toEqual([
      { route: 'mail:mayor', severity: 'medium', ok: true, detail: 'hq-2', at: '2026-01-01T00:00:00Z' },
    ]);
  });

  it.each([
    [{ labels: ['gt:escalation', 'severity:low'] }, 'low'],
    [{ priority: 1 }, 'high'],
    [{ priority: 0, metadata: { severity: 'bogus' } }, 'critical'],
  ])('takes the severity of a bead without metadata from its label, else its priority: %j', (over, severity) => {
    const e = escalationOf(bead(over));
    expect(e.severity).toBe(severity);
    expect(e.original_severity).toBe(severity);
    expect(e.source).toBe('gastown/witness');
    expect(e.raised_count).toBe(0);
  });

  it('is closed with its reason once its bead is', () => {
    expect(escalationOf(bead({ status: 'closed', close_reason: 'fixed' }))).toMatchObject({
      status: 'closed',
      close_reason: 'fixed',
    });
  });
});

describe('staleRaises', () => {
  const H = 3_600_000;
  const T0 = Date.parse('2026-01-01T00:00:00Z');
  const at = (ms: number): string => new Date(ms).toISOString();
  const esc = (over: Partial<StaleInput> = {}): StaleInput => ({
    id: 'hq-1',
    severity: 'medium',
    status: 'open',
    acknowledged_at: null,
    created_at: at(T0),
    raised_at: null,
    raised_count: 0,
    ...over,
  });

  it.each<[string, StaleInput, number, ReturnType<typeof staleRaises>]>([
    ['not yet stale: due at 4h', esc(), T0 + H, { raises: [], nextDueMs: T0 + 4 * H }],
    [
      'stale: raised one level, due again 4h later',
      esc(),
      T0 + 4 * H,
      { raises: [{ id: 'hq-1', from: 'medium', to: 'high', raised_count: 1 }], nextDueMs: T0 + 8 * H },
    ],
    [
      'long stale: still raised once per pass',
      esc(),
      T0 + 20 * H,
      { raises: [{ id: 'hq-1', from: 'medium', to: 'high', raised_count: 1 }], nextDueMs: T0 + 24 * H },
    ],
    [
      'raised once: the clock runs from the raise',
      esc({ severity: 'high', raised_count: 1, raised_at: at(T0 + 4 * H) }),
      T0 + 6 * H,
      { raises: [], nextDueMs: T0 + 8 * H },
    ],
    [
      'the last raise allowed: nothing due after it',
      esc({ severity: 'high', raised_count: 1, raised_at: at(T0 + 4 * H) }),
      T0 + 8 * H,
      { raises: [{ id: 'hq-1', from: 'high', to: 'critical', raised_count: 2 }], nextDueMs: null },
    ],
    [
      'raised max_raises times: never again',
      esc({ severity: 'critical', raised_count: 2, raised_at: at(T0 + 8 * H) }),
      T0 + 100 * H,
      { raises: [], nextDueMs: null },
    ],
    ['acknowledged: never raised', esc({ acknowledged_at: at(T0 + H) }), T0 + 9 * H, { raises: [], nextDueMs: null }],
    ['closed: never raised', esc({ status: 'closed' }), T0 + 9 * H, { raises: [], nextDueMs: null }],
    ['critical: nothing above it', esc({ severity: 'critical' }), T0 + 9 * H, { raises: [], nextDueMs: null }],
    [
      'raised to critical with raises left: nothing above it after',
      esc({ severity: 'high' }),
      T0 + 4 * H,
      { raises: [{ id: 'hq-1', from: 'high', to: 'critical', raised_count: 1 }], nextDueMs: null },
    ],
    ['an unreadable date: left alone', esc({ created_at: 'soon' }), T0 + 9 * H, { raises: [], nextDueMs: null }],
  ])('%s', (_what, e, now, expected) => {
    expect(staleRaises([e], now, 4 * H, 2)).toEqual(expected);
  });

  it('max_raises 0 never raises; several at once: each decided alone, the soonest next due', () => {
    expect(staleRaises([esc()], T0 + 9 * H, 4 * H, 0)).toEqual({ raises: [], nextDueMs: null });
    const r = staleRaises(
      [
        esc({ id: 'a' }),
        esc({ id: 'b', created_at: at(T0 + 3 * H) }),
        esc({ id: 'c', severity: 'low', created_at: at(T0 + 2 * H) }),
      ],
      T0 + 6 * H,
      4 * H,
      2,
    );
    expect(r.raises.map((x) => `${x.id}:${x.to}`)).toEqual(['a:high', 'c:medium']);
    expect(r.nextDueMs).toBe(T0 + 7 * H);
  });
});
