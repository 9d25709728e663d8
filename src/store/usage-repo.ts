import { TOKEN_FIELDS, type UsageEntry, type UsageGroup } from '../core/costs.js';
import { InternalError, isRecord, ValidationError } from '../core/errors.js';
import { normalizeTimestamp } from '../core/time.js';
import {
  USAGE_FORMATS,
  type UsageFilter,
  type UsageFormat,
  type UsageSource,
  type UsageSourceInput,
  type UsageSourceRead,
} from '../core/usage-store.js';
import { cachedStatement, type Db } from './db.js';
import { toIntValue, toNullableStringValue, toStringValue } from './rows.js';

const ENTRY_COLUMNS =
  'key, source, agent, session_id, bead_id, runtime, model, at, ' +
  'input_tokens, output_tokens, cache_read_tokens, cache_write_tokens';
const SOURCE_COLUMNS = 'path, agent, runtime, format, runtime_session_id, recorded_at';
/** A record's columns with where it was read to. */
const SOURCE_SELECT = `${SOURCE_COLUMNS}, read_offset, read_size, reader_state`;

/**
 * Where a filter applies (since and until on the response time, and one agent), from fixed fragments for the
 * parts given, so that SQLite walks usage_at or usage_agent over the window instead of the whole table.
 */
export function usageWhere(filter: UsageFilter): string {
  const parts = [
    filter.agent === undefined ? '' : 'agent = @agent',
    filter.since === undefined ? '' : 'at >= @since',
    filter.until === undefined ? '' : 'at < @until',
  ].filter((p) => p !== '');
  return parts.length === 0 ? '' : `WHERE ${parts.join(' AND ')}`;
}

export const USAGE_GROUPS_SQL = (filter: UsageFilter): string => /* sql */ `
  SELECT agent, bead_id, model, COUNT(*) AS messages, MAX(at) AS last_at,
         SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
         SUM(cache_read_tokens) AS cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens
    FROM usage ${usageWhere(filter)}
   GROUP BY agent, bead_id, model
   ORDER BY agent, bead_id, model`;

function toEntry(row: unknown): UsageEntry {
  return {
    key: toStringValue(row, 'key'),
    source: toStringValue(row, 'source'),
    agent: toStringValue(row, 'agent'),
    session_id: toNullableStringValue(row, 'session_id'),
    bead: toNullableStringValue(row, 'bead_id'),
    runtime: toStringValue(row, 'runtime'),
    model: toStringValue(row, 'model'),
    at: toStringValue(row, 'at'),
    input_tokens: toIntValue(row, 'input_tokens'),
    output_tokens: toIntValue(row, 'output_tokens'),
    cache_read_tokens: toIntValue(row, 'cache_read_tokens'),
    cache_write_tokens: toIntValue(row, 'cache_write_tokens'),
  };
}

function isFormat(v: string): v is UsageFormat {
  return (USAGE_FORMATS as readonly string[]).includes(v);
}

function toSource(row: unknown): UsageSource {
  const format = toStringValue(row, 'format');
  if (!isFormat(format)) throw new InternalError(`usage_sources row with format ${format}`);
  return {
    path: toStringValue(row, 'path'),
    agent: toStringValue(row, 'agent'),
    runtime: toStringValue(row, 'runtime'),
    format,
    runtime_session_id: toNullableStringValue(row, 'runtime_session_id'),
    recorded_at: toStringValue(row, 'recorded_at'),
    read_offset: toIntValue(row, 'read_offset'),
    read_size: isRecord(row) && row.read_size === null ? null : toIntValue(row, 'read_size'),
    reader_state: toNullableStringValue(row, 'reader_state'),
  };
}

/** A read's position checked: whole byte counts, and the reader's state as JSON text (or none). */
function checkedRead(r: UsageSourceRead): UsageSourceRead {
  const whole = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!whole(r.read_offset)) throw new ValidationError(`usage record ${r.path}: read_offset must be a whole number`);
  if (r.read_size !== null && !whole(r.read_size))
    throw new ValidationError(`usage record ${r.path}: read_size must be a whole number or null`);
  if (r.reader_state !== null) {
    let ok = typeof r.reader_state === 'string' && r.reader_state.length <= 65_536;
    try {
      if (ok) JSON.parse(r.reader_state);
    } catch {
      ok = false;
    }
    if (!ok) throw new ValidationError(`usage record ${r.path}: reader_state must be JSON text of at most 64 KB`);
  }
  return { path: r.path, read_offset: r.read_offset, read_size: r.read_size, reader_state: r.reader_state };
}

/** A filter's times in the stored form (UTC, milliseconds), so that text order is time order. */
function filterParams(filter: UsageFilter): { since?: string; until?: string; agent?: string } {
  const at = (v: string | undefined, name: string): string | null => {
    if (v === undefined) return null;
    try {
      return new Date(Date.parse(normalizeTimestamp(v))).toISOString();
    } catch {
      throw new ValidationError(`usage filter: ${name} "${v}" is not a time`, {
        hint: 'give an RFC 3339 time, e.g. 2026-01-02T03:04:05Z',
      });
    }
  };
  const since = at(filter.since, 'since');
  const until = at(filter.until, 'until');
  return {
    ...(since === null ? {} : { since }),
    ...(until === null ? {} : { until }),
    ...(filter.agent === undefined ? {} : { agent: filter.agent }),
  };
}

/** An entry checked and in the stored form (its time in UTC with milliseconds). */
function checked(e: UsageEntry, index: number): UsageEntry {
  const bad = (what: string): never => {
    throw new ValidationError(`usage entry ${index + 1} (${e.key || 'no key'}): ${what}`);
  };
  if (typeof e.key !== 'string' || e.key === '' || e.key.length > 512) bad('needs a key of 1-512 characters');
  if (typeof e.agent !== 'string' || e.agent === '') bad('needs an agent');
  if (typeof e.model !== 'string' || e.model === '') bad('needs a model');
  if (typeof e.runtime !== 'string') bad('needs a runtime');
  for (const f of TOKEN_FIELDS)
    if (!Number.isSafeInteger(e[f]) || e[f] < 0) bad(`${f} must be a whole number, 0 or more`);
  let at: string;
  try {
    at = new Date(Date.parse(normalizeTimestamp(e.at))).toISOString();
  } catch {
    return bad(`"${e.at}" is not a time`);
  }
  return { ...e, at };
}

/** The usage and usage_sources tables. Methods run inside the caller's transaction (reads may run alone). */
export class UsageRepo {
  constructor(
    private readonly db: Db,
    private readonly now: () => string,
  ) {}

  record(entries: readonly UsageEntry[]): { added: number; updated: number } {
    const rows = entries.map(checked);
    let added = 0;
    let updated = 0;
    const find = cachedStatement(this.db, `SELECT ${ENTRY_COLUMNS} FROM usage WHERE key = ?`);
    const insert = cachedStatement(
      this.db,
      `INSERT INTO usage (${ENTRY_COLUMNS})
       VALUES (@key, @source, @agent, @session_id, @bead, @runtime, @model, @at,
               @input_tokens, @output_tokens, @cache_read_tokens, @cache_write_tokens)`,
    );
    const grow = cachedStatement(
      this.db,
      `UPDATE usage SET input_tokens = @input_tokens, output_tokens = @output_tokens,
              cache_read_tokens = @cache_read_tokens, cache_write_tokens = @cache_write_tokens
        WHERE key = @key`,
    );
    for (const e of rows) {
      const row: unknown = find.get(e.key);
      if (row === undefined) {
        insert.run(e);
        added++;
        continue;
      }
      const old = toEntry(row);
      if (TOKEN_FIELDS.every((f) => e[f] <= old[f])) continue;
      grow.run({
        key: e.key,
        input_tokens: Math.max(e.input_tokens, old.input_tokens),
        output_tokens: Math.max(e.output_tokens, old.output_tokens),
        cache_read_tokens: Math.max(e.cache_read_tokens, old.cache_read_tokens),
        cache_write_tokens: Math.max(e.cache_write_tokens, old.cache_write_tokens),
      });
      updated++;
    }
    return { added, updated };
  }

  groups(filter: UsageFilter): UsageGroup[] {
    return cachedStatement(this.db, USAGE_GROUPS_SQL(filter))
      .all(filterParams(filter))
      .map((row) => ({
        agent: toStringValue(row, 'agent'),
        bead: toNullableStringValue(row, 'bead_id'),
        model: toStringValue(row, 'model'),
        messages: toIntValue(row, 'messages'),
        last_at: toStringValue(row, 'last_at'),
        input_tokens: toIntValue(row, 'input_tokens'),
        output_tokens: toIntValue(row, 'output_tokens'),
        cache_read_tokens: toIntValue(row, 'cache_read_tokens'),
        cache_write_tokens: toIntValue(row, 'cache_write_tokens'),
      }));
  }

  entries(filter: UsageFilter & { limit?: number }): UsageEntry[] {
    const limit = filter.limit === undefined || filter.limit <= 0 ? -1 : filter.limit;
    return cachedStatement(
      this.db,
      `SELECT ${ENTRY_COLUMNS} FROM usage ${usageWhere(filter)} ORDER BY at DESC, key LIMIT @limit`,
    )
      .all({ ...filterParams(filter), limit })
      .map(toEntry);
  }

  recordSource(input: UsageSourceInput): UsageSource {
    if (
      typeof input.path !== 'string' ||
      !input.path.startsWith('/') ||
      input.path.length > 4096 ||
      input.path.includes('\0')
    )
      throw new ValidationError(`usage record "${String(input.path)}" must be an absolute path`);
    if (typeof input.agent !== 'string' || input.agent === '')
      throw new ValidationError('a usage record needs an agent');
    if (!isFormat(input.format))
      throw new ValidationError(
        `usage record format "${String(input.format)}" is not one of ${USAGE_FORMATS.join(', ')}`,
      );
    cachedStatement(
      this.db,
      `INSERT INTO usage_sources (${SOURCE_COLUMNS})
       VALUES (@path, @agent, @runtime, @format, @runtime_session_id, @now)
       ON CONFLICT (path) DO NOTHING`,
    ).run({ ...input, runtime_session_id: input.runtime_session_id ?? null, now: this.now() });
    const row: unknown = cachedStatement(this.db, `SELECT ${SOURCE_SELECT} FROM usage_sources WHERE path = ?`).get(
      input.path,
    );
    return toSource(row);
  }

  sources(): UsageSource[] {
    return cachedStatement(this.db, `SELECT ${SOURCE_SELECT} FROM usage_sources ORDER BY recorded_at, path`)
      .all()
      .map(toSource);
  }

  recordReads(reads: readonly UsageSourceRead[]): void {
    const rows = reads.map(checkedRead);
    const update = cachedStatement(
      this.db,
      `UPDATE usage_sources SET read_offset = @read_offset, read_size = @read_size, reader_state = @reader_state
        WHERE path = @path`,
    );
    for (const r of rows) update.run(r);
  }
}
