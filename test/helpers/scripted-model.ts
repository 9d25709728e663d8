import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';

/**
 * A local, scripted stand-in for the Anthropic Messages API, good enough for the real Claude Code CLI
 * (point it here with ANTHROPIC_BASE_URL and any ANTHROPIC_AUTH_TOKEN; see claude-home.ts).
 *
 * Every request is recorded. Requests of the main conversation (POST /v1/messages carrying tools) are
 * answered by the test's script; everything else gets a sensible generic answer:
 *  - side requests (no tools, "stream": false, or a structured output format) get a short text, or, when they
 *    ask for structured output (output_config.format json_schema), a minimal JSON value matching the schema.
 *    The only one Claude Code 2.1.197 was seen to send is the session-title request (streaming, no tools,
 *    schema {"title": string}), at most once per session, not always (and again after /clear);
 *  - compaction requests (/compact or auto-compact: the conversation plus a "create a detailed summary"
 *    instruction, tools still attached) get a canned <analysis>/<summary> text; they are recorded with kind
 *    "compact" (a PreCompact hook's stdout shows up in that request, under "Additional Instructions:");
 *  - POST /v1/messages/count_tokens gets a token estimate;
 *  - HEAD / (the CLI's connectivity probe) gets 200; anything else a JSON 404.
 */

// ---------------------------------------------------------------------------------------------------------
// Request shapes (only what tests look at; the CLI sends more)

export type TextBlock = { type: 'text'; text: string };
export type ToolUseBlock = { type: 'tool_use'; id: string; name: string; input: unknown };
export type ToolResultBlock = {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | ContentBlock[];
  is_error?: boolean;
};
export type ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock | { type: string; [key: string]: unknown };

export type Message = { role: 'user' | 'assistant' | 'system' | (string & {}); content: string | ContentBlock[] };

export type MessagesBody = {
  model?: string;
  messages: Message[];
  system?: string | TextBlock[];
  tools?: { name: string; [key: string]: unknown }[];
  stream?: boolean;
  max_tokens?: number;
  output_config?: { format?: { type: string; schema?: unknown } };
  [key: string]: unknown;
};

/** What kind of request the CLI made, as the fixture classified it. */
export type RequestKind = 'conversation' | 'compact' | 'side' | 'count_tokens' | 'other';

export type RecordedRequest = {
  /** 1-based arrival order over all requests. */
  seq: number;
  method: string;
  /** The request path including the query, e.g. "/v1/messages?beta=true". */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when the body is empty or not JSON. */
  body: unknown;
  kind: RequestKind;
  receivedAt: number;
};

/** Token usage as the Messages API reports it. */
export type SentUsage = {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
};

/** A message the fixture sent in answer to a request, with the usage it reported (the final counts). */
export type SentMessage = {
  /** The request it answered. */
  seq: number;
  kind: RequestKind;
  id: string;
  model: string;
  usage: SentUsage;
  /** The whole reply went out (the client did not hang up first). */
  complete: boolean;
};

/** A request of the main conversation, as handed to the script. */
export type ConversationRequest = RecordedRequest & { kind: 'conversation'; body: MessagesBody };

// ---------------------------------------------------------------------------------------------------------
// Replies

export type ToolCall = { name: string; input: Record<string, unknown>; /** generated when absent */ id?: string };

export type ScriptReply = {
  /** Assistant text (sent before the tool calls when both are given). */
  text?: string;
  /** Tool calls: the reply then ends with stop_reason "tool_use". */
  toolUses?: ToolCall[];
  /**
   * Milliseconds to wait before the content is sent. For streaming requests the response headers and
   * message_start go out at once and pings follow every few seconds, so the CLI shows the agent as busy
   * ("esc to interrupt") for the whole delay.
   */
  delayMs?: number;
};

/** A reply: plain text, or a full ScriptReply. */
export type ReplySpec = string | ScriptReply;

/** Returns the reply, or undefined to fall back to the default reply. */
export type ScriptFn = (req: ConversationRequest) => ReplySpec | undefined | Promise<ReplySpec | undefined>;

export type ScriptRule = {
  when: (req: ConversationRequest) => boolean;
  reply: ReplySpec | ((req: ConversationRequest) => ReplySpec);
  /** How many times the rule may fire (default: unlimited). */
  times?: number;
};

/** A function, or rules tried in order (the first matching rule that has uses left answers). */
export type Script = ScriptFn | ScriptRule[];

export type ScriptedModelOptions = {
  /** The reply when the script has none (default "ok"). */
  defaultReply?: ReplySpec;
  /** The text for side requests (titles, topic detection; default "ok"). */
  sideReply?: string;
  /** The summary text for compaction requests. */
  compactSummary?: string;
  /**
   * Report prompt-cache reads and writes too (counts derived from each request), as a caching API does; by
   * default they are 0. The CLI counts cache reads as context, so long conversations compact sooner with it.
   */
  cacheUsage?: boolean;
};

export type ScriptedModel = {
  url: string;
  port: number;
  /** Every request received, in order (including probes and side requests). */
  requests: RecordedRequest[];
  /** Every message sent in answer, in the order they went out, with the usage reported for each. */
  sent: SentMessage[];
  /** The main-conversation requests, in order. */
  conversationRequests: () => ConversationRequest[];
  /**
   * Resolves with the first conversation request (already received or still to come) matching the
   * predicate; rejects after timeoutMs (default 20 s) with a summary of what did arrive.
   */
  waitForConversation: (
    predicate: (req: ConversationRequest) => boolean,
    timeoutMs?: number,
  ) => Promise<ConversationRequest>;
  /** Like waitForConversation, over every request (e.g. `(r) => r.kind === 'compact'`). */
  waitForRequest: (predicate: (req: RecordedRequest) => boolean, timeoutMs?: number) => Promise<RecordedRequest>;
  /** Errors the fixture hit (a script that threw, a bad body...): tests can assert this stays empty. */
  errors: string[];
  close: () => Promise<void>;
};

/** A tool call, for scripts: `tool('Bash', { command: 'ls' })`. */
export function tool(name: string, input: Record<string, unknown>): ToolCall {
  return { name, input };
}

/** A Bash tool call (the CLI's Bash tool takes { command, description?, timeout? }). */
export function bash(command: string, description = 'scripted command'): ToolCall {
  return { name: 'Bash', input: { command, description } };
}

// ---------------------------------------------------------------------------------------------------------
// Reading requests

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asMessagesBody(body: unknown): MessagesBody | undefined {
  if (!isRecord(body) || !Array.isArray(body.messages)) return undefined;
  return body as MessagesBody;
}

function blocksOf(content: Message['content']): ContentBlock[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

const REMINDER = /^\s*<system-reminder>[\s\S]*<\/system-reminder>\s*$/;

/** The text of a tool_result block (its string content, or its text blocks joined). */
export function toolResultText(block: ToolResultBlock): string {
  if (block.content === undefined) return '';
  if (typeof block.content === 'string') return block.content;
  return block.content.map((b) => (b.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('\n');
}

/**
 * The text of one message: its text blocks and tool_result contents joined with "\n". Blocks that are only a
 * <system-reminder> (the CLI adds those to user messages: date, context...) are left out unless asked for.
 */
export function messageText(message: Message, options: { withReminders?: boolean } = {}): string {
  const parts: string[] = [];
  for (const block of blocksOf(message.content)) {
    if (block.type === 'text' && typeof block.text === 'string') {
      if (options.withReminders !== true && REMINDER.test(block.text)) continue;
      parts.push(block.text);
    } else if (block.type === 'tool_result') {
      parts.push(toolResultText(block as ToolResultBlock));
    }
  }
  return parts.join('\n');
}

function messagesOf(req: RecordedRequest | MessagesBody): Message[] {
  const body = 'messages' in req ? req : asMessagesBody(req.body);
  return body?.messages ?? [];
}

/** The text of each user message, in order (see messageText). */
export function allUserTexts(req: RecordedRequest | MessagesBody): string[] {
  return messagesOf(req)
    .filter((m) => m.role === 'user')
    .map((m) => messageText(m));
}

/** The text of the last user message (tool results included, reminders left out); '' when there is none. */
export function lastUserText(req: RecordedRequest | MessagesBody): string {
  return allUserTexts(req).at(-1) ?? '';
}

/** The text of the first user message: in a fresh session, the first prompt. */
export function firstUserText(req: RecordedRequest | MessagesBody): string {
  return allUserTexts(req)[0] ?? '';
}

/**
 * The texts of the role "system" messages inside `messages`. Claude Code 2.1 puts hook output there, right
 * after the user message of that turn, e.g. "SessionStart:startup hook success: <stdout>" and
 * "UserPromptSubmit hook success: <stdout>" (several such parts joined with blank lines, alongside the
 * agent/skill listings).
 */
export function systemMessageTexts(req: RecordedRequest | MessagesBody): string[] {
  return messagesOf(req)
    .filter((m) => m.role === 'system')
    .map((m) => messageText(m, { withReminders: true }));
}

const TYPED_WHILE_WORKING =
  /^The user sent a new message while you were working:\n([\s\S]*?)\n\nIMPORTANT: After completing your current task/;

/**
 * Text the user typed while a tool was running. Claude Code 2.1.197 does not make that a user turn: it hands
 * it to the model within the running turn, after the tool_result, as a role "system" message
 * "The user sent a new message while you were working:\n<text>\n\nIMPORTANT: ..." (and no UserPromptSubmit
 * hook runs for it). Text typed while the model is generating is queued instead and becomes the next user
 * turn.
 */
export function typedWhileWorking(req: RecordedRequest | MessagesBody): string[] {
  return systemMessageTexts(req).flatMap((t) => {
    const m = TYPED_WHILE_WORKING.exec(t);
    return m?.[1] === undefined ? [] : [m[1]];
  });
}

/** Every text of every message, any role, reminders included: for "does the model see X anywhere?". */
export function allMessageTexts(req: RecordedRequest | MessagesBody): string[] {
  return messagesOf(req).map((m) => messageText(m, { withReminders: true }));
}

/** All tool_result blocks of the request, in order. */
export function toolResults(req: RecordedRequest | MessagesBody): ToolResultBlock[] {
  return messagesOf(req)
    .filter((m) => m.role === 'user')
    .flatMap((m) => blocksOf(m.content))
    .filter((b): b is ToolResultBlock => b.type === 'tool_result');
}

function lastUserMessage(req: RecordedRequest | MessagesBody): Message | undefined {
  return messagesOf(req).findLast((m) => m.role === 'user');
}

/**
 * The tool_result blocks of the last user message: the results of the previous reply's tool calls, or []
 * when the last user message is a new prompt. (Role "system" messages may follow it: hook output, or text the
 * user typed while the tool ran.)
 */
export function lastToolResults(req: RecordedRequest | MessagesBody): ToolResultBlock[] {
  const last = lastUserMessage(req);
  if (last === undefined) return [];
  return blocksOf(last.content).filter((b): b is ToolResultBlock => b.type === 'tool_result');
}

/**
 * The last non-reminder text block of the last user message: the prompt the user typed, even when the CLI put
 * other blocks before it in the same message (e.g. the record of a /compact or /clear command).
 */
export function lastUserPrompt(req: RecordedRequest | MessagesBody): string {
  const last = lastUserMessage(req);
  if (last === undefined) return '';
  const texts = blocksOf(last.content).filter(
    (b): b is TextBlock => b.type === 'text' && typeof b.text === 'string' && !REMINDER.test(b.text),
  );
  return texts.at(-1)?.text ?? '';
}

/** The tool_use blocks the assistant sent in the conversation so far. */
export function toolUses(req: RecordedRequest | MessagesBody): ToolUseBlock[] {
  return messagesOf(req)
    .filter((m) => m.role === 'assistant')
    .flatMap((m) => blocksOf(m.content))
    .filter((b): b is ToolUseBlock => b.type === 'tool_use');
}

// ---------------------------------------------------------------------------------------------------------
// The server

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomId(prefix: string): string {
  const bytes = randomBytes(24);
  let s = '';
  for (const b of bytes) s += ID_ALPHABET[b % ID_ALPHABET.length] ?? 'A';
  return `${prefix}01${s}`;
}

function classify(method: string, path: string, body: unknown): RequestKind {
  const route = path.split('?')[0] ?? '';
  if (method === 'POST' && route === '/v1/messages/count_tokens') return 'count_tokens';
  if (method !== 'POST' || route !== '/v1/messages') return 'other';
  const messages = asMessagesBody(body);
  if (messages === undefined) return 'other';
  const hasTools = Array.isArray(messages.tools) && messages.tools.length > 0;
  const structured = messages.output_config?.format !== undefined;
  if (!hasTools || messages.stream === false || structured) return 'side';
  return isCompaction(messages) ? 'compact' : 'conversation';
}

/** Claude Code's compaction prompt, appended as text to the last user message (as of 2.1.197). */
function isCompaction(body: MessagesBody): boolean {
  const last = body.messages.findLast((m) => m.role === 'user');
  if (last === undefined) return false;
  return blocksOf(last.content).some(
    (b) =>
      b.type === 'text' &&
      typeof b.text === 'string' &&
      b.text.includes('CRITICAL: Respond with TEXT ONLY') &&
      b.text.includes('summary'),
  );
}

/** A minimal JSON value matching a JSON schema (enough for the CLI's structured side requests). */
export function sampleForSchema(schema: unknown, fallbackText: string): unknown {
  if (!isRecord(schema)) return fallbackText;
  const first = (v: unknown): unknown => (Array.isArray(v) ? (v as unknown[])[0] : undefined);
  if (first(schema.enum) !== undefined) return first(schema.enum);
  if ('const' in schema) return schema.const;
  const variant = first(schema.anyOf) ?? first(schema.oneOf);
  if (variant !== undefined) return sampleForSchema(variant, fallbackText);
  const type = Array.isArray(schema.type) ? first(schema.type) : schema.type;
  switch (type) {
    case 'object': {
      const props = isRecord(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required)
        ? schema.required.filter((k): k is string => typeof k === 'string')
        : Object.keys(props);
      return Object.fromEntries(required.map((k) => [k, sampleForSchema(props[k], fallbackText)]));
    }
    case 'array':
      return [];
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return fallbackText;
  }
}

function normalize(reply: ReplySpec): ScriptReply {
  return typeof reply === 'string' ? { text: reply } : reply;
}

type Block =
  { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

function contentOf(reply: ScriptReply): Block[] {
  const blocks: Block[] = [];
  if (reply.text !== undefined && reply.text !== '') blocks.push({ type: 'text', text: reply.text });
  for (const call of reply.toolUses ?? [])
    blocks.push({ type: 'tool_use', id: call.id ?? randomId('toolu_'), name: call.name, input: call.input });
  if (blocks.length === 0) blocks.push({ type: 'text', text: '(empty)' });
  return blocks;
}

function approxTokens(value: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(value ?? '').length / 4));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/** Starts the scripted model on 127.0.0.1 with an ephemeral port. Call close() when done. */
export async function startScriptedModel(
  script: Script = [],
  options: ScriptedModelOptions = {},
): Promise<ScriptedModel> {
  const requests: RecordedRequest[] = [];
  const sent: SentMessage[] = [];
  const errors: string[] = [];
  const waiters = new Set<() => void>();
  const open = new Set<ServerResponse>();
  const inflight = new Set<AbortController>();
  const ruleUses = new Map<ScriptRule, number>();
  const defaultReply = options.defaultReply ?? 'ok';
  const sideReply = options.sideReply ?? 'ok';
  const compactSummary =
    options.compactSummary ??
    '<analysis>Scripted conversation.</analysis>\n<summary>Scripted summary of the conversation so far.</summary>';

  async function replyFor(req: ConversationRequest): Promise<ScriptReply> {
    if (typeof script === 'function') return normalize((await script(req)) ?? defaultReply);
    for (const rule of script) {
      const used = ruleUses.get(rule) ?? 0;
      if (rule.times !== undefined && used >= rule.times) continue;
      if (!rule.when(req)) continue;
      ruleUses.set(rule, used + 1);
      return normalize(typeof rule.reply === 'function' ? rule.reply(req) : rule.reply);
    }
    return normalize(defaultReply);
  }

  function sideReplyFor(body: MessagesBody | undefined): ScriptReply {
    const format = body?.output_config?.format;
    if (format?.type === 'json_schema') return { text: JSON.stringify(sampleForSchema(format.schema, sideReply)) };
    return { text: sideReply };
  }

  function sendJson(res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': randomId('req_') });
    res.end(JSON.stringify(value));
  }

  async function answerMessages(
    res: ServerResponse,
    request: RecordedRequest,
    body: MessagesBody,
    reply: ScriptReply,
    gone: AbortSignal,
  ): Promise<void> {
    const id = randomId('msg_');
    const model = body.model ?? 'claude-scripted';
    const blocks = contentOf(reply);
    const stopReason = blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
    const inputTokens = approxTokens(body.messages);
    const outputTokens = approxTokens(blocks);
    // Cache counts as a prompt-caching API reports them, derived from the request so that each differs.
    const cacheRead = options.cacheUsage === true ? inputTokens * 2 : 0;
    const cacheWrite = options.cacheUsage === true ? 7 + (inputTokens % 13) : 0;
    const usage: SentUsage = {
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      cache_creation_input_tokens: cacheWrite,
      cache_read_input_tokens: cacheRead,
    };
    const record: SentMessage = { seq: request.seq, kind: request.kind, id, model, usage, complete: false };
    sent.push(record);
    const delayMs = reply.delayMs ?? 0;

    if (body.stream !== true) {
      if (delayMs > 0) await sleep(delayMs, gone);
      if (gone.aborted) return;
      record.complete = true;
      sendJson(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: blocks,
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      });
      return;
    }

    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'request-id': randomId('req_'),
    });
    const event = (type: string, data: Record<string, unknown>): void => {
      if (!gone.aborted) res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    };
    event('message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    });
    event('ping', {});
    for (let left = delayMs; left > 0 && !gone.aborted; left -= 5_000) {
      await sleep(Math.min(left, 5_000), gone);
      event('ping', {});
    }
    blocks.forEach((block, index) => {
      if (block.type === 'text') {
        event('content_block_start', { index, content_block: { type: 'text', text: '' } });
        event('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
      } else {
        event('content_block_start', {
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        });
        event('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) },
        });
      }
      event('content_block_stop', { index });
    });
    event('message_delta', {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: outputTokens },
    });
    event('message_stop', {});
    if (!gone.aborted) {
      record.complete = true;
      res.end();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    let body: unknown = undefined;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        errors.push(`${method} ${path}: body is not JSON`);
      }
    }
    const kind = classify(method, path, body);
    const recorded: RecordedRequest = {
      seq: requests.length + 1,
      method,
      path,
      headers: req.headers,
      body,
      kind,
      receivedAt: Date.now(),
    };
    requests.push(recorded);
    for (const wake of [...waiters]) wake();

    // Stops waiting (delays) when the client hangs up, e.g. the user interrupted with Esc, or on close().
    const gone = new AbortController();
    inflight.add(gone);
    res.on('close', () => {
      gone.abort();
      inflight.delete(gone);
    });

    switch (kind) {
      case 'count_tokens':
        return sendJson(res, 200, { input_tokens: approxTokens(isRecord(body) ? body.messages : body) });
      case 'compact':
        return answerMessages(
          res,
          recorded,
          asMessagesBody(body) ?? { messages: [] },
          { text: compactSummary },
          gone.signal,
        );
      case 'side': {
        const messages = asMessagesBody(body);
        return answerMessages(res, recorded, messages ?? { messages: [] }, sideReplyFor(messages), gone.signal);
      }
      case 'conversation': {
        const conv = recorded as ConversationRequest;
        let reply: ScriptReply;
        try {
          reply = await replyFor(conv);
        } catch (e) {
          errors.push(
            `script failed on request ${recorded.seq}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
          );
          return sendJson(res, 500, {
            type: 'error',
            error: { type: 'api_error', message: 'scripted model: the script threw' },
          });
        }
        return answerMessages(res, recorded, conv.body, reply, gone.signal);
      }
      case 'other':
        if (method === 'HEAD' || (method === 'GET' && path === '/')) {
          res.writeHead(200);
          res.end();
          return;
        }
        return sendJson(res, 404, {
          type: 'error',
          error: { type: 'not_found_error', message: `scripted model: no route for ${method} ${path}` },
        });
    }
  }

  const server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((e: unknown) => {
        errors.push(`handler failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        if (!res.headersSent)
          sendJson(res, 500, {
            type: 'error',
            error: { type: 'api_error', message: 'scripted model: internal error' },
          });
        else res.end();
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const conversationRequests = (): ConversationRequest[] =>
    requests.filter((r): r is ConversationRequest => r.kind === 'conversation');

  function waitForRequest(predicate: (req: RecordedRequest) => boolean, timeoutMs = 20_000): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = requests.find(predicate);
        if (found === undefined) return false;
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(found);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        waiters.delete(wake);
        const seen = requests.map(
          (r) =>
            `#${r.seq} ${r.method} ${r.path} ${r.kind}${r.kind === 'conversation' ? ` last user text: ${JSON.stringify(lastUserText(r).slice(0, 200))}` : ''}`,
        );
        reject(
          new Error(
            `scripted model: no matching request within ${timeoutMs} ms; received:\n${seen.join('\n') || '(none)'}`,
          ),
        );
      }, timeoutMs);
      waiters.add(wake);
      check();
    });
  }

  const isConversation = (r: RecordedRequest): r is ConversationRequest => r.kind === 'conversation';
  const waitForConversation = async (
    predicate: (req: ConversationRequest) => boolean,
    timeoutMs?: number,
  ): Promise<ConversationRequest> =>
    (await waitForRequest((r) => isConversation(r) && predicate(r), timeoutMs)) as ConversationRequest;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    sent,
    conversationRequests,
    waitForConversation,
    waitForRequest,
    errors,
    close: async () => {
      for (const c of inflight) c.abort();
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
