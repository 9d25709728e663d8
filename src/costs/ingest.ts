import { closeSync, existsSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AgentSession } from '../core/agent-store.js';
import { attributeUsage, claimRollout, type HookMark, type SandboxClaim, type UsageEntry } from '../core/costs.js';
import { errorMessage, isRecord } from '../core/errors.js';
import type { TownSettings } from '../core/settings.js';
import type { TownStore } from '../core/town-store.js';
import type { UsageFormat, UsageSource, UsageSourceRead } from '../core/usage-store.js';
import { resolveAgent } from '../runtime/launch.js';
import type { Town } from '../town/town.js';
import { readClaudeTranscript } from './claude.js';
import { codexSessionMeta, codexState, parseCodexState, readCodexRollout, type CodexState } from './codex.js';
import type { RawUsage } from './records.js';

/**
 * The ingest: reads what the agent CLIs recorded since the last read and puts it in the store, attributed to
 * the agent, to our session whose span covers each response, and to the bead the agent was on. The records
 * are the ones agents' start-up hooks named (Claude's transcript_path, the sim's), plus those found: a Claude
 * transcript by the CLI's own session id under `<CLAUDE_CONFIG_DIR or ~/.claude>/projects/`, the transcripts
 * of its subagents beside it (`<session>/subagents/*.jsonl`, looked for whenever the session's own grew), a
 * Codex rollout by its cwd under `<CODEX_HOME or ~/.codex>/sessions/`.
 *
 * Reading is incremental and resumes where it stopped, across restarts: each record's read offset, the size
 * it had then and its reader's running state are kept with it in the store, moved only once the usage read is
 * stored (a failed write reads the same bytes again). A record whose size has not changed is not opened; one
 * that has not changed for a day and whose session is over is not even looked at, but once an hour. Usage is
 * written a batch at a time, so that no transaction holds the write lock long. It is always idempotent (the
 * store keys each response), so a fresh reader, a restarted daemon or two at once never count anything twice.
 */

export type IngestContext = {
  town: Town;
  settings: TownSettings;
  store: TownStore;
  env: Readonly<Record<string, string | undefined>>;
  now: () => number;
};

/**
 * When a record was last looked at, its size then (null: there was none yet, or it is gone), and when it last
 * changed (its mtime; when it was named, for one not there).
 */
type Watch = { checkedAtMs: number; size: number | null; changedAtMs: number };

/** What an ingest remembers between runs (the daemon keeps one; `gt costs` starts afresh). */
export type IngestMemory = {
  watched: Map<string, Watch>;
  /** When the last search for records no hook named ran (they are searched for at most every few minutes). */
  searchedAtMs: number | null;
  /** Codex rollouts seen to be no agent's (another cwd): not opened again. */
  notOurs: Set<string>;
};

export function ingestMemory(): IngestMemory {
  return { watched: new Map(), searchedAtMs: null, notOurs: new Set() };
}

export type IngestReport = {
  /** Records known, those read this time (they had changed), and those not looked at (quiet). */
  sources: number;
  read: number;
  quiet: number;
  /** Responses new to the store, and ones it knew at smaller counts. */
  added: number;
  updated: number;
  /** Records found this time (no hook named them). */
  found: number;
  errors: string[];
};

/** How much is read and written at once (tests make them small). */
export type IngestTuning = {
  /** At most this much of one record is read per run; the rest waits for the next. A longer line is skipped. */
  readBytes: number;
  /** Responses written per transaction. */
  batch: number;
};

const TUNING: IngestTuning = { readBytes: 64 * 1024 * 1024, batch: 2_000 };

/** How often records that no hook named are searched for (a directory listing per place). */
const SEARCH_EVERY_MS = 5 * 60_000;
/** A record unchanged this long, whose session is over, is quiet: looked at only every QUIET_LOOK_EVERY_MS. */
const QUIET_AFTER_MS = 24 * 3_600_000;
const QUIET_LOOK_EVERY_MS = 3_600_000;

export async function ingestUsage(
  ctx: IngestContext,
  memory: IngestMemory = ingestMemory(),
  tuning: Partial<IngestTuning> = {},
): Promise<IngestReport> {
  const t: IngestTuning = { ...TUNING, ...tuning };
  const report: IngestReport = { sources: 0, read: 0, quiet: 0, added: 0, updated: 0, found: 0, errors: [] };
  const searching = memory.searchedAtMs === null || ctx.now() - memory.searchedAtMs >= SEARCH_EVERY_MS;
  if (searching) {
    memory.searchedAtMs = ctx.now();
    try {
      report.found = await findSources(ctx, memory);
    } catch (err) {
      report.errors.push(`searching for records: ${errorMessage(err)}`);
    }
  }
  const sources = await ctx.store.usageSources();
  const known = new Set(sources.map((s) => s.path));
  const open = new Map<string, Promise<AgentSession | null>>();
  const live = async (source: UsageSource): Promise<boolean> => {
    let session = open.get(source.agent);
    if (session === undefined) {
      session = ctx.store.openSession(source.agent).catch(() => null);
      open.set(source.agent, session);
    }
    const s = await session;
    return (
      s !== null &&
      (source.runtime_session_id === null ||
        s.runtime_session_id === null ||
        s.runtime_session_id === source.runtime_session_id)
    );
  };
  const changed = new Map<string, { source: UsageSource; size: number }[]>();
  const look = async (source: UsageSource): Promise<void> => {
    const now = ctx.now();
    const w = memory.watched.get(source.path);
    if (
      w !== undefined &&
      (w.size === null || w.size === source.read_size) &&
      now - w.changedAtMs >= QUIET_AFTER_MS &&
      now - w.checkedAtMs < QUIET_LOOK_EVERY_MS &&
      !(await live(source))
    ) {
      report.quiet++;
      return;
    }
    let size: number;
    try {
      const st = statSync(source.path);
      size = st.size;
      memory.watched.set(source.path, { checkedAtMs: now, size, changedAtMs: st.mtimeMs });
    } catch {
      // Not written yet, or gone (Claude deletes old transcripts): quiet too, once named a day ago.
      memory.watched.set(source.path, { checkedAtMs: now, size: null, changedAtMs: Date.parse(source.recorded_at) });
      return;
    }
    if (size === source.read_size) return;
    const list = changed.get(source.agent) ?? [];
    list.push({ source, size });
    changed.set(source.agent, list);
  };
  for (const source of sources) await look(source);
  // A Claude session that grew may have started subagents: their transcripts are the agent's usage too. (One
  // that starts a long subagent and then waits for it has its subagents looked for at each search as well.)
  const parents = new Map([...changed.values()].flat().map((c) => [c.source.path, c.source]));
  if (searching)
    for (const source of sources) {
      const w = memory.watched.get(source.path);
      if (w !== undefined && w.size !== null && ctx.now() - w.changedAtMs < QUIET_AFTER_MS)
        parents.set(source.path, source);
    }
  for (const source of parents.values()) {
    if (source.format !== 'claude') continue;
    for (const path of subagentRecords(source.path)) {
      if (known.has(path)) continue;
      known.add(path);
      try {
        const named = await ctx.store.recordUsageSource({
          path,
          agent: source.agent,
          runtime: source.runtime,
          format: 'claude',
          runtime_session_id: source.runtime_session_id,
        });
        report.found++;
        await look(named);
      } catch (err) {
        report.errors.push(`${path}: ${errorMessage(err)}`);
      }
    }
  }
  report.sources = known.size;
  for (const [agent, list] of changed) {
    try {
      await ingestAgent(ctx, agent, list, t, report);
    } catch (err) {
      report.errors.push(`${agent}'s usage: ${errorMessage(err)}`);
    }
  }
  return report;
}

/** Responses held in memory at most before they are written (a big first read goes in several rounds). */
const ROUND_ENTRIES = 50_000;

/** Reads one agent's changed records, stores what they hold, then where each read got to. */
async function ingestAgent(
  ctx: IngestContext,
  agent: string,
  list: readonly { source: UsageSource; size: number }[],
  t: IngestTuning,
  report: IngestReport,
): Promise<void> {
  let reads: UsageSourceRead[] = [];
  let found: { source: UsageSource; usage: RawUsage }[] = [];
  const flush = async (): Promise<void> => {
    if (found.length > 0) {
      let fromMs = Infinity;
      let toMs = -Infinity;
      for (const f of found) {
        const ms = Date.parse(f.usage.at);
        if (ms < fromMs) fromMs = ms;
        if (ms > toMs) toMs = ms;
      }
      const chain = await chainOf(ctx, agent, fromMs, toMs);
      const entries = found.map(({ source, usage }): UsageEntry => {
        const { session_id, bead } = attributeUsage(Date.parse(usage.at), chain.sessions, chain.hooks);
        const session = chain.sessions.find((s) => s.session_id === session_id);
        return { ...usage, source: source.path, agent, session_id, bead, runtime: session?.runtime ?? source.runtime };
      });
      for (let i = 0; i < entries.length; i += t.batch) {
        const r = await ctx.store.recordUsage(entries.slice(i, i + t.batch));
        report.added += r.added;
        report.updated += r.updated;
      }
    }
    // Only once the store has them: a failed write reads the same bytes again next time.
    await ctx.store.recordUsageReads(reads);
    reads = [];
    found = [];
  };
  for (const { source, size } of list) {
    try {
      const r = readSource(source, size, t.readBytes);
      if (r.skippedAt !== null)
        report.errors.push(
          `${source.path}: skipped a line of more than ${t.readBytes} bytes at byte ${r.skippedAt} (no record has lines that long)`,
        );
      reads.push(r.read);
      for (const usage of r.usage) found.push({ source, usage });
      report.read++;
    } catch (err) {
      report.errors.push(`${source.path}: ${errorMessage(err)}`);
    }
    if (found.length >= ROUND_ENTRIES) await flush();
  }
  await flush();
}

/** What a reader carries between reads, as stored: Codex's running state; the rest of a line being skipped. */
type ReaderState = { codex?: CodexState; skipping?: boolean };

function readerState(source: UsageSource): ReaderState {
  let v: unknown = null;
  try {
    v = source.reader_state === null ? null : JSON.parse(source.reader_state);
  } catch {
    v = null;
  }
  const state: ReaderState = {};
  if (source.format === 'codex') state.codex = parseCodexState(isRecord(v) ? v.codex : null);
  if (isRecord(v) && v.skipping === true) state.skipping = true;
  return state;
}

/**
 * Reads a record on from where it was read to (from the start when it shrank: rewritten), at most `readBytes`
 * of it. A line still being written waits at the offset until the file changes again; a read cut short leaves
 * the size unset, so that the next run reads on. A line longer than a whole read is skipped to its end.
 */
function readSource(
  source: UsageSource,
  size: number,
  readBytes: number,
): { usage: RawUsage[]; read: UsageSourceRead; skippedAt: number | null } {
  let offset = source.read_offset;
  let state = readerState(source);
  if (size < offset) {
    offset = 0;
    state = source.format === 'codex' ? { codex: codexState() } : {};
  }
  const capped = size - offset > readBytes;
  let buf = readChunk(source.path, offset, capped ? readBytes : size - offset);
  const nextSize = !capped && offset + buf.length === size ? size : null;
  const at = (o: number, s: ReaderState): UsageSourceRead => ({
    path: source.path,
    read_offset: o,
    read_size: nextSize,
    reader_state: s.codex === undefined && s.skipping !== true ? null : JSON.stringify(s),
  });
  if (state.skipping === true) {
    const nl = buf.indexOf(10);
    if (nl < 0) return { usage: [], read: at(offset + buf.length, state), skippedAt: null };
    offset += nl + 1;
    buf = buf.subarray(nl + 1);
    delete state.skipping;
  }
  const end = buf.lastIndexOf(10);
  if (end < 0 && buf.length >= readBytes)
    return { usage: [], read: at(offset + buf.length, { ...state, skipping: true }), skippedAt: offset };
  if (end < 0) return { usage: [], read: at(offset, state), skippedAt: null };
  const text = buf.subarray(0, end + 1).toString('utf8');
  const r =
    source.format === 'codex'
      ? readCodexRollout(text, (state.codex ??= codexState()), source.path, offset)
      : readClaudeTranscript(text);
  return { usage: r.usage, read: at(offset + r.consumed, state), skippedAt: null };
}

/** Up to `length` bytes of a file from `offset` (fewer when it is shorter now). */
function readChunk(path: string, offset: number, length: number): Buffer {
  if (length <= 0) return Buffer.alloc(0);
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    return buffer.subarray(0, readSync(fd, buffer, 0, length, offset));
  } finally {
    closeSync(fd);
  }
}

/**
 * The agent's sessions and hook changes that can hold responses recorded from `fromMs` to `toMs`: its newest
 * sessions back to the one that started last before `fromMs` (a page at a time; an agent's sessions follow one
 * another), and the hooks and unhooks since the earliest of them.
 */
async function chainOf(
  ctx: IngestContext,
  agent: string,
  fromMs: number,
  toMs: number,
): Promise<{ sessions: AgentSession[]; hooks: HookMark[] }> {
  let all: AgentSession[] = [];
  for (const limit of [8, 64, 512, 0]) {
    all = await ctx.store.sessions(agent, limit).catch((): AgentSession[] => []);
    if (limit === 0 || all.length < limit || all.some((s) => Date.parse(s.started_at) <= fromMs)) break;
  }
  const before = all.find((s) => Date.parse(s.started_at) <= fromMs); // newest first
  const sessions = all.filter((s) => {
    const start = Date.parse(s.started_at);
    if (start > toMs) return false;
    return s === before || start >= fromMs || s.ended_at === null || Date.parse(s.ended_at) >= fromMs;
  });
  if (sessions.length === 0) return { sessions, hooks: [] };
  const since = sessions.reduce((a, s) => (s.started_at < a ? s.started_at : a), sessions[0]?.started_at ?? '');
  const marks = async (eventType: 'hooked' | 'unhooked') =>
    (await ctx.store.events({ issueId: agent, eventType, since }).catch(() => [])).map((e) => ({
      id: e.event_id,
      at: e.created_at,
      bead: eventType === 'hooked' ? e.new_value : null,
    }));
  const hooks = [...(await marks('hooked')), ...(await marks('unhooked'))]
    .sort((a, b) => a.id - b.id)
    .map(({ at, bead }) => ({ at, bead }));
  return { sessions, hooks };
}

/** The transcripts of a Claude session's subagents (`<dir>/<session>/subagents/*.jsonl`), where there are any. */
function subagentRecords(path: string): string[] {
  if (!path.endsWith('.jsonl') || basename(dirname(path)) === 'subagents') return [];
  const dir = join(path.slice(0, -'.jsonl'.length), 'subagents');
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.jsonl'))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return []; // none (most sessions start no subagent)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Records no hook named

/** The usage format of the preset a session ran under; null when its usage is not read (or it is unknown). */
function formatOf(settings: TownSettings, runtime: string): UsageFormat | null {
  try {
    return resolveAgent(settings, 'polecat', runtime).preset.usage ?? null;
  } catch {
    return null;
  }
}

/** Where Claude Code keeps its projects: CLAUDE_CONFIG_DIR (ours, and each agent preset's), else ~/.claude. */
function claudeProjectDirs(ctx: IngestContext): string[] {
  const dirs = [
    ctx.env.CLAUDE_CONFIG_DIR,
    ...Object.values(ctx.settings.agents).map((a) => a.env.CLAUDE_CONFIG_DIR),
    ctx.env.HOME === undefined ? undefined : join(ctx.env.HOME, '.claude'),
  ].filter((d): d is string => d !== undefined && d !== '');
  return [...new Set(dirs.map((d) => join(d, 'projects')))].filter((d) => existsSync(d));
}

function codexSessionsDir(ctx: IngestContext): string | undefined {
  const home =
    ctx.env.CODEX_HOME ??
    Object.values(ctx.settings.agents).find((a) => a.env.CODEX_HOME !== undefined)?.env.CODEX_HOME ??
    (ctx.env.HOME === undefined ? undefined : join(ctx.env.HOME, '.codex'));
  if (home === undefined) return undefined;
  const dir = join(home, 'sessions');
  return existsSync(dir) ? dir : undefined;
}

/** The day directories (YYYY/MM/DD) Codex may have filed a session started at this time under. */
function codexDays(startedAt: string): string[] {
  const ms = Date.parse(startedAt);
  const days = new Set<string>();
  for (const d of [ms - 86_400_000, ms, ms + 86_400_000]) {
    const t = new Date(d);
    const pad = (n: number): string => String(n).padStart(2, '0');
    days.add(`${t.getFullYear()}/${pad(t.getMonth() + 1)}/${pad(t.getDate())}`);
    days.add(`${t.getUTCFullYear()}/${pad(t.getUTCMonth() + 1)}/${pad(t.getUTCDate())}`);
  }
  return [...days];
}

/** The first line of a file (at most 1 MB of it; Codex's session_meta carries the instructions). */
function firstLine(path: string): string {
  const buf = readChunk(path, 0, Math.min(statSync(path).size, 1024 * 1024));
  const end = buf.indexOf(10);
  return end < 0 ? '' : buf.subarray(0, end + 1).toString('utf8');
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Searches for the records of sessions no hook named; returns how many it found (and recorded as sources). */
async function findSources(ctx: IngestContext, memory: IngestMemory): Promise<number> {
  const sources = await ctx.store.usageSources();
  const knownPaths = new Set(sources.map((s) => s.path));
  const knownIds = new Set(sources.flatMap((s) => (s.runtime_session_id === null ? [] : [s.runtime_session_id])));
  const agents = await ctx.store.agents({});
  const claudeDirs = claudeProjectDirs(ctx);
  const codexDir = codexSessionsDir(ctx);
  let projects: string[] | undefined;
  // The agents that ran Codex in each sandbox, with the spans of those sessions (two may share one sandbox).
  const codexBySandbox = new Map<string, Map<string, { runtime: string; spans: AgentSession[] }>>();
  const codexDaysToList = new Set<string>();
  let found = 0;
  const add = async (path: string, agent: string, runtime: string, format: UsageFormat, id: string | null) => {
    if (knownPaths.has(path)) return;
    knownPaths.add(path);
    await ctx.store.recordUsageSource({ path, agent, runtime, format, runtime_session_id: id });
    found++;
  };
  for (const agent of agents) {
    for (const s of await ctx.store.sessions(agent.address, 20)) {
      const format = formatOf(ctx.settings, s.runtime);
      if (format === 'claude' && s.runtime_session_id !== null && !knownIds.has(s.runtime_session_id)) {
        if (claudeDirs.length === 0) continue;
        projects ??= claudeDirs.flatMap((d) => readdirSync(d).map((p) => join(d, p)));
        const file = projects.map((p) => join(p, `${s.runtime_session_id}.jsonl`)).find((f) => existsSync(f));
        if (file !== undefined) await add(file, agent.address, s.runtime, 'claude', s.runtime_session_id);
        knownIds.add(s.runtime_session_id);
      } else if (format === 'codex' && codexDir !== undefined) {
        const sandbox = real(agent.sandbox_path);
        const claims = codexBySandbox.get(sandbox) ?? new Map<string, { runtime: string; spans: AgentSession[] }>();
        const claim = claims.get(agent.address) ?? { runtime: s.runtime, spans: [] };
        claim.spans.push(s);
        claims.set(agent.address, claim);
        codexBySandbox.set(sandbox, claims);
        for (const d of codexDays(s.started_at)) codexDaysToList.add(d);
      }
    }
  }
  if (codexDir !== undefined && codexBySandbox.size > 0) {
    for (const day of codexDaysToList) {
      const dir = join(codexDir, day);
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (!name.startsWith('rollout-') || !name.endsWith('.jsonl') || knownPaths.has(path)) continue;
        if (memory.notOurs.has(path)) continue;
        const meta = codexSessionMeta(firstLine(path));
        // (One with no session line yet may be an agent's that has just started: looked at again next time.)
        if (meta === null) continue;
        const claims = codexBySandbox.get(real(meta.cwd));
        if (claims === undefined) {
          memory.notOurs.add(path);
          continue;
        }
        const list: SandboxClaim[] = [...claims].map(([agent, c]) => ({ agent, spans: c.spans }));
        const owner = claimRollout(meta.started === null ? null : Date.parse(meta.started), list);
        // (Several agents in the sandbox and none of them had started then: looked at again next time.)
        const claim = owner === null ? undefined : claims.get(owner);
        if (owner !== null && claim !== undefined) await add(path, owner, claim.runtime, 'codex', meta.id);
      }
    }
  }
  return found;
}
