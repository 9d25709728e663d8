import { ValidationError } from './errors.js';
import { formatTimestamp, normalizeTimestamp } from './time.js';

/**
 * Dates and durations users type for `--due`, `--defer`, `--until` and `--estimate`. Pure: the current time
 * is passed in, so every rule is table-tested without a clock.
 */

const DATE_HINT = 'use YYYY-MM-DD, an RFC 3339 time (2026-01-02T15:04:05Z), or +<n>h, +<n>d, +<n>w from now';

const UNIT_MS: Readonly<Record<string, number>> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * A date the user typed, as a normalised UTC timestamp: `YYYY-MM-DD` (midnight UTC), RFC 3339 with any
 * offset, `+<n>m|h|d|w` from now, `today` or `tomorrow` (midnight UTC). `flag` names the option in errors.
 */
export function parseDateInput(text: string, nowMs: number, flag: string): string {
  const t = text.trim();
  if (t === '') throw new ValidationError(`${flag} cannot be empty`, { hint: DATE_HINT });
  const relative = /^\+([0-9]{1,6})([mhdw])$/.exec(t);
  if (relative !== null) return formatTimestamp(nowMs + Number(relative[1]) * (UNIT_MS[relative[2] ?? 'd'] ?? 0));
  const midnight = Math.floor(nowMs / 86_400_000) * 86_400_000;
  if (t === 'today') return formatTimestamp(midnight);
  if (t === 'tomorrow') return formatTimestamp(midnight + 86_400_000);
  const day = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(t);
  try {
    return normalizeTimestamp(day === null ? t : `${t}T00:00:00Z`);
  } catch {
    throw new ValidationError(`invalid date "${text}" for ${flag}`, { hint: DATE_HINT });
  }
}

/** An estimate in whole minutes: `90`, `90m`, `2h`, `1d` (8 hours of work). Never negative. */
export function parseEstimate(text: string): number {
  const m = /^([0-9]{1,7})\s*(m|min|h|d)?$/.exec(text.trim());
  if (m === null) {
    throw new ValidationError(`invalid estimate "${text}": expected minutes, e.g. 90, 90m, 2h or 1d`, {
      hint: 'estimates are whole, non-negative numbers of minutes',
    });
  }
  const n = Number(m[1]);
  const unit = m[2] ?? 'm';
  return unit === 'h' ? n * 60 : unit === 'd' ? n * 8 * 60 : n;
}

/** A bead is deferred while its status is `deferred`, or while its defer_until lies in the future. */
export function isDeferred(bead: { status: string; defer_until: string | null }, nowIso: string): boolean {
  return bead.status === 'deferred' || (bead.defer_until !== null && bead.defer_until > nowIso);
}

/** The days-old threshold of `bd stale --days N`, as the timestamp before which a bead counts as stale. */
export function staleBefore(days: number, nowMs: number): string {
  if (!Number.isInteger(days) || days <= 0) {
    throw new ValidationError(`--days must be a positive whole number of days, got ${days}`, {
      hint: 'e.g. bd stale --days 30',
    });
  }
  return formatTimestamp(nowMs - days * 86_400_000);
}
