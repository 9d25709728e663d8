import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import {
  compareTimestamps,
  durationSeconds,
  formatDuration,
  formatTimestamp,
  normalizeTimestamp,
  startOfLocalDay,
} from './time.js';

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

describe('durations', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['4h', 14_400],
    ['1d', 86_400],
    ['1h30m', 5400],
    [' 2m ', 120],
    ['1s', 1],
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(durationSeconds(text)).toBe(seconds);
  });

  it.each(['', '4', 'h', '4 h', '4hours', '-1h', '0s', '0h0m', '1.5h', '4h!', '1w'])('rejects %j', (text) => {
    expect(durationSeconds(text)).toBeUndefined();
  });

  it.each([
    [0, '0s'],
    [45, '45s'],
    [90, '1m30s'],
    [14_400, '4h'],
    [5400, '1h30m'],
    [90_061, '1d1h'],
  ])('writes %i seconds as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('startOfLocalDay', () => {
  it("is the local midnight of the day a time falls in, and that midnight's own", () => {
    const noon = new Date(2026, 11, 2, 12, 34, 56, 789).getTime();
    const midnight = new Date(2026, 11, 2).getTime();
    expect(startOfLocalDay(noon)).toBe(midnight);
    expect(startOfLocalDay(midnight)).toBe(midnight);
    expect(startOfLocalDay(midnight - 1)).toBe(new Date(2026, 11, 1).getTime());
  });
});
