import { isRecord } from '../core/errors.js';
import { completeLines, count, isoTime, parseLine, type RawUsage, type ReadResult } from './records.js';

/**
 * Codex's rollout files (`<CODEX_HOME or ~/.codex>/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`): one JSON
 * object per line, `{timestamp, type, payload}`. The first is `session_meta` (the session's id and cwd, which
 * is how a rollout is told to belong to an agent's sandbox); `turn_context` names the model; an `event_msg`
 * whose payload is `token_count` carries `info.last_token_usage` (that response) and `info.total_token_usage`
 * (the session so far). Codex's input_tokens include the cached ones; here they are split into input and
 * cache reads, and reasoning tokens are already part of its output_tokens. It writes no cache writes.
 * Codex repeats a token_count when nothing new was used (a rate-limit update): the running total keys each
 * response, so a repeat counts once.
 */

/** What a reader of one rollout carries from one chunk to the next. */
export type CodexState = {
  sessionId: string | null;
  cwd: string | null;
  model: string | null;
  /** The session's running total at the last token_count, to recover a response from totals alone. */
  lastTotal: RawCounts | null;
};

type RawCounts = { input: number; cached: number; output: number; total: number };

export function codexState(): CodexState {
  return { sessionId: null, cwd: null, model: null, lastTotal: null };
}

function rawCounts(v: unknown): RawCounts | null {
  if (!isRecord(v)) return null;
  const input = count(v.input_tokens);
  const output = count(v.output_tokens);
  return {
    input,
    cached: Math.min(count(v.cached_input_tokens ?? v.cache_read_input_tokens), input),
    output,
    total: count(v.total_tokens) || input + output,
  };
}

/** Reads a chunk of a rollout (starting at byte `offset` of the file), carrying `state` across chunks. */
export function readCodexRollout(text: string, state: CodexState, file: string, offset = 0): ReadResult {
  const { lines, bytes } = completeLines(text);
  const usage: RawUsage[] = [];
  let at = offset;
  for (const line of lines) {
    const lineOffset = at;
    at += Buffer.byteLength(line, 'utf8') + 1;
    const v = parseLine(line);
    if (!isRecord(v) || !isRecord(v.payload)) continue;
    const p = v.payload;
    if (v.type === 'session_meta') {
      if (typeof p.id === 'string') state.sessionId = p.id;
      if (typeof p.cwd === 'string') state.cwd = p.cwd;
      continue;
    }
    if (v.type === 'turn_context') {
      if (typeof p.model === 'string' && p.model !== '') state.model = p.model;
      continue;
    }
    if (v.type !== 'event_msg' || p.type !== 'token_count' || !isRecord(p.info)) continue;
    const when = isoTime(v.timestamp);
    if (when === undefined) continue;
    const total = rawCounts(p.info.total_token_usage);
    const last =
      rawCounts(p.info.last_token_usage) ??
      (total === null
        ? null
        : {
            input: Math.max(0, total.input - (state.lastTotal?.input ?? 0)),
            cached: Math.max(0, total.cached - (state.lastTotal?.cached ?? 0)),
            output: Math.max(0, total.output - (state.lastTotal?.output ?? 0)),
            total: Math.max(0, total.total - (state.lastTotal?.total ?? 0)),
          });
    const repeat = total !== null && state.lastTotal !== null && total.total === state.lastTotal.total;
    if (total !== null) state.lastTotal = total;
    if (last === null || repeat || last.input + last.output === 0) continue;
    const model =
      (typeof p.info.model === 'string' && p.info.model !== '' ? p.info.model : null) ?? state.model ?? 'unknown';
    usage.push({
      key: `codex:${state.sessionId ?? file}:${total !== null ? `t${total.total}` : `@${lineOffset}`}`,
      model,
      at: when,
      input_tokens: last.input - last.cached,
      output_tokens: last.output,
      cache_read_tokens: last.cached,
      cache_write_tokens: 0,
    });
  }
  return { usage, consumed: bytes };
}

/**
 * The session a rollout's first line describes (its id, cwd and when it started: the line's time, else the
 * payload's), or null when it is not a rollout.
 */
export function codexSessionMeta(firstLine: string): { id: string | null; cwd: string; started: string | null } | null {
  const v = parseLine(firstLine);
  if (!isRecord(v) || v.type !== 'session_meta' || !isRecord(v.payload) || typeof v.payload.cwd !== 'string')
    return null;
  return {
    id: typeof v.payload.id === 'string' ? v.payload.id : null,
    cwd: v.payload.cwd,
    started: isoTime(v.timestamp) ?? isoTime(v.payload.timestamp) ?? null,
  };
}

/** A reader's state as stored (JSON), or a fresh one when there is none or it is not one. */
export function parseCodexState(v: unknown): CodexState {
  const counts = (c: unknown): RawCounts | null =>
    isRecord(c) && ['input', 'cached', 'output', 'total'].every((k) => typeof c[k] === 'number')
      ? { input: Number(c.input), cached: Number(c.cached), output: Number(c.output), total: Number(c.total) }
      : null;
  if (!isRecord(v)) return codexState();
  const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);
  return { sessionId: str(v.sessionId), cwd: str(v.cwd), model: str(v.model), lastTotal: counts(v.lastTotal) };
}
