import type { TokenCounts } from '../core/costs.js';

/** One model response as a reader found it in an agent CLI's record, before it is attributed. */
export type RawUsage = TokenCounts & {
  /** Unique over every record: reading the same response twice gives the same key. */
  key: string;
  model: string;
  at: string;
};

/** A chunk read: the complete lines of `text` parsed, and how many bytes of it they take (the rest waits). */
export type ReadResult = { usage: RawUsage[]; consumed: number };

/** The complete lines of a chunk (up to its last newline, blank ones too), and their length in bytes. */
export function completeLines(text: string): { lines: string[]; bytes: number } {
  const end = text.lastIndexOf('\n');
  if (end < 0) return { lines: [], bytes: 0 };
  const head = text.slice(0, end);
  return { lines: head.split('\n'), bytes: Buffer.byteLength(head, 'utf8') + 1 };
}

export function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

export function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** A time as the store keeps it (UTC, milliseconds), or undefined when it is not one. */
export function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}
