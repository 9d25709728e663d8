import { isRecord } from '../core/errors.js';
import { maxCounts } from '../core/costs.js';
import { completeLines, count, isoTime, parseLine, type RawUsage, type ReadResult } from './records.js';

/**
 * Claude Code's transcripts (`<config>/projects/<project>/<session id>.jsonl`, named to the SessionStart hook
 * as `transcript_path`): one JSON object per line. Each assistant line carries the API message it belongs to
 * (`message.id`, `message.model`, `message.usage`); one message is often written as several lines (one per
 * content block), each with the same usage, so a message is counted once, at the largest counts seen. The
 * sim agent writes its turns in the same form. Lines of other types, and Claude's own `<synthetic>` messages
 * (no model call), carry no usage.
 */

export function readClaudeTranscript(text: string): ReadResult {
  const { lines, bytes } = completeLines(text);
  const byKey = new Map<string, RawUsage>();
  for (const line of lines) {
    const v = parseLine(line);
    if (!isRecord(v) || v.type !== 'assistant' || !isRecord(v.message)) continue;
    const m = v.message;
    if (typeof m.id !== 'string' || m.id === '' || !isRecord(m.usage)) continue;
    if (typeof m.model !== 'string' || m.model === '' || m.model === '<synthetic>') continue;
    const at = isoTime(v.timestamp);
    if (at === undefined) continue;
    const u = m.usage;
    const seen: RawUsage = {
      key: `claude:${m.id}`,
      model: m.model,
      at,
      input_tokens: count(u.input_tokens),
      output_tokens: count(u.output_tokens),
      cache_read_tokens: count(u.cache_read_input_tokens),
      cache_write_tokens: count(u.cache_creation_input_tokens),
    };
    const before = byKey.get(seen.key);
    byKey.set(
      seen.key,
      before === undefined ? seen : { ...before, ...maxCounts(before, seen), at: before.at < at ? before.at : at },
    );
  }
  return { usage: [...byKey.values()], consumed: bytes };
}
