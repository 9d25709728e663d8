import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { compareTimestamps, formatTimestamp, normalizeTimestamp } from './time.js';

describe('timestamps', () => {
  it.each([
    ['2025-11-02T21:58:07.295058-08:00', '2025-11-03T05:58:07.295058Z'],
    ['2025-12-26T23:20:20Z', '2025-12-26T23:20:20Z'],
    ['2026-01-01T00:30:00+01:00', '2025-12-31T23:30:00Z'],
    ['2026-01-01 00:00:00.123456789z', '2026-01-01T00:00:00.123456789Z'],
  ])('normalises %s to %s, keeping every fractional digit', (input, expected) => {
    expect(normalizeTimestamp(input)).toBe(expected);
  });

  it.each(['yesterday', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00', '2026-01-01'])(
    'rejects %s with a ValidationError',
    (input) => {
      expect(() => normalizeTimestamp(input)).toThrow(ValidationError);
    },
  );

  it('formats milliseconds as RFC 3339 UTC', () => {
    expect(formatTimestamp(Date.UTC(2026, 10, 23, 1, 2, 3, 4))).toBe('2026-11-23T01:02:03.004Z');
  });

  it('compares instants across fractional precision', () => {
    expect(compareTimestamps('2026-01-01T00:00:05Z', '2026-01-01T00:00:05.1Z')).toBeLessThan(0);
    expect(compareTimestamps('2026-01-01T00:00:05.25Z', '2026-01-01T00:00:05.1Z')).toBeGreaterThan(0);
    expect(compareTimestamps('2026-01-01T00:00:05.100Z', '2026-01-01T00:00:05.1Z')).toBe(0);
    expect(compareTimestamps('2026-01-01T00:00:04.999Z', '2026-01-01T00:00:05Z')).toBeLessThan(0);
  });
});
