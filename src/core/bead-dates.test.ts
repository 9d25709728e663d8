import { describe, expect, it } from 'vitest';
import { isDeferred, parseDateInput, parseEstimate, staleBefore } from './bead-dates.js';

const NOW = Date.UTC(2026, 11, 1, 11, 30, 0);

describe('parseDateInput', () => {
  it.each([
    ['2026-12-24', '2026-12-24T00:00:00Z'],
    ['2026-12-24T10:00:00+02:00', '2026-12-24T08:00:00Z'],
    ['2026-12-24T10:00:00.5Z', '2026-12-24T10:00:00.5Z'],
    ['+2h', '2026-12-01T13:30:00.000Z'],
    ['+3d', '2026-12-04T11:30:00.000Z'],
    ['+1w', '2026-12-08T11:30:00.000Z'],
    ['+90m', '2026-12-01T13:00:00.000Z'],
    ['today', '2026-12-01T00:00:00.000Z'],
    ['tomorrow', '2026-12-02T00:00:00.000Z'],
  ])('%s → %s', (text, expected) => {
    expect(parseDateInput(text, NOW, '--due')).toBe(expected);
  });

  it.each([['next tuesday'], ['2026-13-01'], ['2026-02-30'], ['+3y'], ['']])('refuses %j in one line', (text) => {
    expect(() => parseDateInput(text, NOW, '--due')).toThrow(/--due/);
  });
});

describe('parseEstimate', () => {
  it.each([
    ['90', 90],
    ['0', 0],
    ['45m', 45],
    ['2h', 120],
    ['1d', 480],
  ])('%s → %d minutes', (text, minutes) => {
    expect(parseEstimate(text)).toBe(minutes);
  });

  it.each([['-5'], ['1.5'], ['soon'], ['']])('refuses %j', (text) => {
    expect(() => parseEstimate(text)).toThrow(/invalid estimate/);
  });
});

describe('isDeferred', () => {
  const now = '2026-12-01T11:30:00.000Z';
  it.each([
    [{ status: 'deferred', defer_until: null }, true],
    [{ status: 'open', defer_until: '2026-12-02T00:00:00.000Z' }, true],
    [{ status: 'open', defer_until: '2026-11-30T00:00:00.000Z' }, false],
    [{ status: 'open', defer_until: null }, false],
    [{ status: 'in_progress', defer_until: null }, false],
  ])('%j → %s', (bead, expected) => {
    expect(isDeferred(bead, now)).toBe(expected);
  });
});

describe('staleBefore', () => {
  it('is N whole days before now', () => {
    expect(staleBefore(3, NOW)).toBe('2026-11-28T11:30:00.000Z');
  });
  it.each([[0], [-1], [1.5]])('refuses %d days with a clear error', (days) => {
    expect(() => staleBefore(days, NOW)).toThrow(/--days must be a positive whole number/);
  });
});
