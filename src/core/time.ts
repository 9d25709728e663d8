import { ValidationError } from './errors.js';

/**
 * Timestamps are RFC 3339 text in UTC (`2026-11-23T22:36:43.123Z`). Text sorts in time order within the same
 * precision, is readable in the database, and round-trips through JSONL without a float in sight.
 */

export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** Midnight of the day `ms` falls in, in this machine's time zone: where "today" starts for a person. */
export function startOfLocalDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Normalise an RFC 3339 timestamp with any offset to UTC `Z` form, keeping its fractional digits exactly
 * (beads ledgers carry microseconds, which a JS Date would drop).
 */
export function normalizeTimestamp(text: string): string {
  const m = RFC3339.exec(text);
  if (m === null)
    throw new ValidationError(`invalid timestamp "${text}": expected RFC 3339, e.g. 2026-01-02T03:04:05Z`);
  const [, y, mo, d, h, mi, s, fraction, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const localMs = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(localMs);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw new ValidationError(`invalid timestamp "${text}": no such date or time`);
  }
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const utc = new Date(localMs - offsetMinutes * 60_000).toISOString();
  return `${utc.slice(0, 19)}${fraction ?? ''}Z`;
}

/** Milliseconds since the epoch of a normalised timestamp. */
export function timestampMs(text: string): number {
  return Date.parse(text);
}

/**
 * Orders two normalised timestamps by instant, even when their fractional precision differs
 * (`…:05Z` < `…:05.1Z` < `…:05.25Z`). Returns a negative, zero or positive number.
 */
export function compareTimestamps(a: string, b: string): number {
  const secondsA = a.slice(0, 19);
  const secondsB = b.slice(0, 19);
  if (secondsA !== secondsB) return secondsA < secondsB ? -1 : 1;
  const fa = fractionDigits(a);
  const fb = fractionDigits(b);
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}

function fractionDigits(t: string): string {
  const dot = t.indexOf('.', 19);
  const digits = dot === -1 ? '' : t.slice(dot + 1, t.length - 1);
  return digits.padEnd(9, '0');
}

const DURATION_UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A duration as people write it in settings: `90s`, `30m`, `4h`, `1d`, or parts together (`1h30m`), in whole
 * seconds; undefined for anything else (the caller says which field was wrong). Never zero.
 */
export function durationSeconds(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d{1,7}[smhd])+$/.test(t)) return undefined;
  let total = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)([smhd])/g))
    total += Number(n) * (DURATION_UNIT_SECONDS[unit ?? 's'] ?? 0);
  return total > 0 ? total : undefined;
}

/** A duration for people: the two largest units that apply (`4h`, `1h30m`, `90s` as `1m30s`, `45s`). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const parts: string[] = [];
  let rest = s;
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.length === 0 ? '0s' : parts.slice(0, 2).join('');
}
