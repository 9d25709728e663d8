import { closeSync, existsSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentSession } from '../core/agent-store.js';
import { attributeUsage, type HookMark, type UsageEntry } from '../core/costs.js';
import { errorMessage } from '../core/errors.js';
import type { TownSettings } from '../core/settings.js';
import type { TownStore } from '../core/town-store.js';
import type { UsageFormat, UsageSource } from '../core/usage-store.js';
import { resolveAgent } from '../runtime/launch.js';
import type { Town } from '../town/town.js';
import { readClaudeTranscript } from './claude.js';
import { codexSessionMeta, codexState, readCodexRollout, type CodexState } from './codex.js';
import type { RawUsage } from './records.js';

/**
 * The ingest: reads what the agent CLIs recorded since the last read and puts it in the store, attributed to
 * the agent, to our session whose span covers each response, and to the bead the agent was on. The records
 * are the ones agents' start-up hooks named (Claude's transcript_path, the sim's), plus those found: a Claude
 * transcript by the CLI's own session id under `<CLAUDE_CONFIG_DIR or ~/.claude>/projects/`, a Codex rollout
 * by its cwd under `<CODEX_HOME or ~/.codex>/sessions/`. Reading is incremental (the size and offset of each
 * file, in memory: a file that has not grown is not opened) and always idempotent (the store keys each
 * response), so a fresh reader, a restarted daemon or two at once never count anything twice.
 */

export type IngestContext = {
  town: Town;
  settings: TownSettings;
  store: TownStore;
  env: Readonly<Record<string, string | undefined>>;
  now: () => number;
};

type FileState = { size: number; offset: number; codex?: CodexState };

/** What an ingest remembers between runs (the daemon keeps one; `gt costs` starts afresh). */
export type IngestMemory = {
  files: Map<string, FileState>;
  /** When the last search for records no hook named ran (they are searched for at most every few minutes). */
  searchedAtMs: number | null;
  /** Codex rollouts seen to be no agent's (another cwd): not opened again. */
  notOurs: Set<string>;
};

export function ingestMemory(): IngestMemory {
  return { files: new Map(), searchedAtMs: null, notOurs: new Set() };
}

export type IngestReport = {
  /** Records known, and those read this time (they had grown). */
  sources: number;
  read: number;
  /** Responses new to the store, and ones it knew at smaller counts. */
  added: number;
  updated: number;
  /** Records found this time (no hook named them). */
  found: number;
  errors: string[];
};

/** How often records that no hook named are searched for (a directory listing per place). */
const SEARCH_EVERY_MS = 5 * 60_000;
/** At most this much of one record is read per run; the rest waits for the next. */
const MAX_READ_BYTES = 64 * 1024 * 1024;

export async function ingestUsage(ctx: IngestContext, memory: IngestMemory = ingestMemory()): Promise<IngestReport> {
  const report: IngestReport = { sources: 0, read: 0, added: 0, updated: 0, found: 0, errors: [] };
  if (memory.searchedAtMs === null || ctx.now() - memory.searchedAtMs >= SEARCH_EVERY_MS) {
    memory.searchedAtMs = ctx.now();
    try {
      report.found = await findSources(ctx, memory);
    } catch (err) {
      report.errors.push(`searching for records: ${errorMessage(err)}`);
    }
  }
  const sources = await ctx.store.usageSources();
  report.sources = sources.length;
  const grown: { source: UsageSource; state: FileState; usage: RawUsage[]; size: number; capped: boolean }[] = [];
  for (const source of sources) {
    const known = memory.files.get(source.path);
    let size: number;
    try {
      size = statSync(source.path).size;
    } catch {
      continue; // not written yet, or gone
    }
    if (known !== undefined && known.size === size) continue;
    // A file that shrank was rewritten: read it again from the start (the keys keep it idempotent).
    const state: FileState =
      known === undefined || size < known.offset
        ? { size: 0, offset: 0, ...(source.format === 'codex' ? { codex: codexState() } : {}) }
        : { ...known, ...(known.codex !== undefined ? { codex: { ...known.codex } } : {}) };
    try {
      const capped = size - state.offset > MAX_READ_BYTES;
      const text = readFrom(source.path, state.offset, capped ? MAX_READ_BYTES : size - state.offset);
      const r =
        source.format === 'codex'
          ? readCodexRollout(text, (state.codex ??= codexState()), source.path, state.offset)
          : readClaudeTranscript(text);
      state.offset += r.consumed;
      grown.push({ source, state, usage: r.usage, size, capped });
      report.read++;
    } catch (err) {
      report.errors.push(`${source.path}: ${errorMessage(err)}`);
    }
  }
  if (grown.length === 0) return report;
  const entries = await attribute(ctx, grown);
  const recorded = await ctx.store.recordUsage(entries);
  report.added = recorded.added;
  report.updated = recorded.updated;
  // Only once the store has them: a failed write reads the same bytes again next time.
  // (A line still being written waits at the offset until the file grows again; a read cut short by the cap
  // leaves the size unseen, so that the next run reads on.)
  for (const g of grown) memory.files.set(g.source.path, { ...g.state, size: g.capped ? -1 : g.size });
  return report;
}

/** The text of a file from `offset`, up to `length` bytes, cut after its last complete line. */
function readFrom(path: string, offset: number, length: number): string {
  if (length <= 0) return '';
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  let got: number;
  try {
    got = readSync(fd, buffer, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  const end = buffer.subarray(0, got).lastIndexOf(10);
  return end < 0 ? '' : buffer.subarray(0, end + 1).toString('utf8');
}

/** Each response with its agent, session and bead, from the agents' chains of sessions and their hooks. */
async function attribute(
  ctx: IngestContext,
  grown: readonly { source: UsageSource; usage: readonly RawUsage[] }[],
): Promise<UsageEntry[]> {
  const chains = new Map<string, { sessions: AgentSession[]; hooks: HookMark[] }>();
  const chainOf = async (agent: string) => {
    const known = chains.get(agent);
    if (known !== undefined) return known;
    const sessions = await ctx.store.sessions(agent).catch((): AgentSession[] => []);
    const hooks = (await ctx.store.events({ issueId: agent, eventType: 'hooked' }).catch(() => [])).flatMap((e) =>
      e.new_value === null ? [] : [{ at: e.created_at, bead: e.new_value }],
    );
    const chain = { sessions, hooks };
    chains.set(agent, chain);
    return chain;
  };
  const out: UsageEntry[] = [];
  for (const { source, usage } of grown) {
    if (usage.length === 0) continue;
    const chain = await chainOf(source.agent);
    for (const u of usage) {
      const { session_id, bead } = attributeUsage(Date.parse(u.at), chain.sessions, chain.hooks);
      const session = chain.sessions.find((s) => s.session_id === session_id);
      out.push({
        ...u,
        source: source.path,
        agent: source.agent,
        session_id,
        bead,
        runtime: session?.runtime ?? source.runtime,
      });
    }
  }
  return out;
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
  const text = readFrom(path, 0, Math.min(statSync(path).size, 1024 * 1024));
  return text.slice(0, text.indexOf('\n') + 1);
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
  const codexBySandbox = new Map<string, { agent: string; runtime: string; days: Set<string> }>();
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
        const entry = codexBySandbox.get(real(agent.sandbox_path)) ?? {
          agent: agent.address,
          runtime: s.runtime,
          days: new Set<string>(),
        };
        for (const d of codexDays(s.started_at)) entry.days.add(d);
        codexBySandbox.set(real(agent.sandbox_path), entry);
      }
    }
  }
  if (codexDir !== undefined && codexBySandbox.size > 0) {
    const days = new Set([...codexBySandbox.values()].flatMap((e) => [...e.days]));
    for (const day of days) {
      const dir = join(codexDir, day);
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (!name.startsWith('rollout-') || !name.endsWith('.jsonl') || knownPaths.has(path)) continue;
        if (memory.notOurs.has(path)) continue;
        const meta = codexSessionMeta(firstLine(path));
        const owner = meta === null ? undefined : codexBySandbox.get(real(meta.cwd));
        if (meta !== null && owner !== undefined) await add(path, owner.agent, owner.runtime, 'codex', meta.id);
        // (One with no session line yet may be an agent's that has just started: looked at again next time.)
        else if (meta !== null) memory.notOurs.add(path);
      }
    }
  }
  return found;
}
