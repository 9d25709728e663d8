import { describe, expect, it } from 'vitest';
import { readClaudeTranscript } from './claude.js';
import { codexSessionMeta, codexState, readCodexRollout } from './codex.js';

/** Lines as Claude Code 2.1 writes them (trimmed of fields no reader looks at). */
const usage = (input: number, output: number, read = 0, write = 0) => ({
  input_tokens: input,
  cache_creation_input_tokens: write,
  cache_read_input_tokens: read,
  output_tokens: output,
  server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
  service_tier: 'standard',
  cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: write },
});
const assistant = (id: string, at: string, u: object, model = 'claude-opus-4-8', extra: object = {}) =>
  JSON.stringify({
    parentUuid: 'p',
    isSidechain: false,
    type: 'assistant',
    message: { id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'hi' }], usage: u },
    requestId: 'req_1',
    timestamp: at,
    sessionId: '117e0fd3-3054-440f-a364-5c85fd2e49fd',
    ...extra,
  });
const user = (at: string) => JSON.stringify({ type: 'user', message: { role: 'user', content: 'go' }, timestamp: at });

describe("Claude Code's transcript", () => {
  const transcript = [
    JSON.stringify({ type: 'queue-operation', operation: 'enqueue', timestamp: '2026-12-02T02:00:36.387Z' }),
    user('2026-12-02T02:00:36.426Z'),
    // One API message written as two lines (a text block, then a tool_use block): counted once.
    assistant('msg_A', '2026-12-02T02:00:36.469Z', usage(1651, 44)),
    assistant('msg_A', '2026-12-02T02:00:36.471Z', usage(1651, 44)),
    user('2026-12-02T02:00:36.977Z'),
    assistant('msg_B', '2026-12-02T02:00:36.997Z', usage(12, 9, 1700, 300)),
    // A subagent's message (Task tool) is usage too; Claude's own synthetic messages are not.
    assistant('msg_C', '2026-12-02T02:00:38.000Z', usage(5, 5), 'claude-haiku-4-5-20251001', { isSidechain: true }),
    assistant('msg_S', '2026-12-02T02:00:39.000Z', usage(0, 0), '<synthetic>'),
    'not json',
    JSON.stringify({ type: 'last-prompt' }),
    '',
  ].join('\n');

  it('reads one entry per API message, with the four counts', () => {
    const r = readClaudeTranscript(transcript);
    expect(r.consumed).toBe(Buffer.byteLength(transcript));
    expect(r.usage).toEqual([
      {
        key: 'claude:msg_A',
        model: 'claude-opus-4-8',
        at: '2026-12-02T02:00:36.469Z',
        input_tokens: 1651,
        output_tokens: 44,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
      },
      {
        key: 'claude:msg_B',
        model: 'claude-opus-4-8',
        at: '2026-12-02T02:00:36.997Z',
        input_tokens: 12,
        output_tokens: 9,
        cache_read_tokens: 1700,
        cache_write_tokens: 300,
      },
      expect.objectContaining({ key: 'claude:msg_C', model: 'claude-haiku-4-5-20251001', output_tokens: 5 }),
    ]);
  });

  it('leaves a line still being written for the next read, and takes the larger counts of a message seen twice', () => {
    const first = `${assistant('msg_A', '2026-12-02T02:00:36.469Z', usage(10, 1))}\n`;
    const partial = assistant('msg_A', '2026-12-02T02:00:36.471Z', usage(10, 40)).slice(0, 30);
    const r = readClaudeTranscript(first + partial);
    expect(r.consumed).toBe(Buffer.byteLength(first));
    expect(r.usage.map((u) => u.output_tokens)).toEqual([1]);
    const both = readClaudeTranscript(`${first}${assistant('msg_A', '2026-12-02T02:00:37Z', usage(10, 40))}\n`);
    expect(both.usage).toEqual([expect.objectContaining({ output_tokens: 40, at: '2026-12-02T02:00:36.469Z' })]);
    expect(readClaudeTranscript('')).toEqual({ usage: [], consumed: 0 });
  });
});

/** Lines as Codex writes its rollouts. */
const meta = JSON.stringify({
  timestamp: '2026-03-01T10:00:00.000Z',
  type: 'session_meta',
  payload: { id: '019a9776-0a34-7842-8627-112b63d66e90', cwd: '/town/gastown/polecats/toast', cli_version: '0.58.0' },
});
const turn = (model: string) =>
  JSON.stringify({ timestamp: '2026-03-01T10:00:01.000Z', type: 'turn_context', payload: { model, cwd: '/x' } });
const tokens = (at: string, total: object | null, last: object | null) =>
  JSON.stringify({
    timestamp: at,
    type: 'event_msg',
    payload: {
      type: 'token_count',
      info:
        total === null && last === null
          ? null
          : {
              ...(total === null ? {} : { total_token_usage: total }),
              ...(last === null ? {} : { last_token_usage: last }),
            },
      rate_limits: { primary: { used_percent: 7 } },
    },
  });
const u = (input: number, cached: number, output: number, reasoning = 0) => ({
  input_tokens: input,
  cached_input_tokens: cached,
  output_tokens: output,
  reasoning_output_tokens: reasoning,
  total_tokens: input + output,
});

describe("Codex's rollout", () => {
  const file = '/home/u/.codex/sessions/2026/03/01/rollout-2026-03-01T10-00-00-019a9776.jsonl';
  const rollout = [
    meta,
    turn('gpt-5-codex'),
    tokens('2026-03-01T10:00:02.000Z', null, null),
    tokens('2026-03-01T10:00:03.000Z', u(1200, 200, 500, 100), u(1200, 200, 500, 100)),
    // The same totals again (a rate-limit update): nothing new.
    tokens('2026-03-01T10:00:04.000Z', u(1200, 200, 500, 100), u(1200, 200, 500, 100)),
    // Totals alone (older builds): the response is the difference.
    tokens('2026-03-01T10:00:05.000Z', u(2000, 300, 800), null),
    '',
  ].join('\n');

  it('reads each response once, splitting cached input from the rest', () => {
    const state = codexState();
    const r = readCodexRollout(rollout, state, file);
    expect(r.usage).toEqual([
      {
        key: 'codex:019a9776-0a34-7842-8627-112b63d66e90:t1700',
        model: 'gpt-5-codex',
        at: '2026-03-01T10:00:03.000Z',
        input_tokens: 1000,
        output_tokens: 500,
        cache_read_tokens: 200,
        cache_write_tokens: 0,
      },
      {
        key: 'codex:019a9776-0a34-7842-8627-112b63d66e90:t2800',
        model: 'gpt-5-codex',
        at: '2026-03-01T10:00:05.000Z',
        input_tokens: 700,
        output_tokens: 300,
        cache_read_tokens: 100,
        cache_write_tokens: 0,
      },
    ]);
    expect(state).toMatchObject({
      sessionId: '019a9776-0a34-7842-8627-112b63d66e90',
      cwd: '/town/gastown/polecats/toast',
    });
  });

  it('reads on from where it stopped with the same keys as a read from the start', () => {
    const cut = rollout.indexOf('\n', rollout.indexOf('10:00:03')) + 1;
    const state = codexState();
    const a = readCodexRollout(rollout.slice(0, cut), state, file);
    const b = readCodexRollout(rollout.slice(a.consumed), state, file, a.consumed);
    expect([...a.usage, ...b.usage]).toEqual(readCodexRollout(rollout, codexState(), file).usage);
  });

  it("tells a rollout's session and cwd from its first line", () => {
    expect(codexSessionMeta(meta)).toEqual({
      id: '019a9776-0a34-7842-8627-112b63d66e90',
      cwd: '/town/gastown/polecats/toast',
      started: '2026-03-01T10:00:00.000Z',
    });
    expect(codexSessionMeta(turn('x'))).toBeNull();
    expect(codexSessionMeta('{')).toBeNull();
  });
});
