import type { UsageEntry, UsageGroup } from './costs.js';

/**
 * The usage port: token usage read from the agent CLIs' own records, one entry per model response, and the
 * records to read (a transcript an agent's start-up hook named). Same rules as the other ports: every
 * operation is atomic, validates before it writes, and returns a Promise. Usage is operational data: it is
 * never exported to the ledger, and records no events (it changes every few seconds).
 */

/** How a record is written: Claude Code's transcript JSONL (the sim writes the same), or Codex's rollout. */
export const USAGE_FORMATS = ['claude', 'codex'] as const;
export type UsageFormat = (typeof USAGE_FORMATS)[number];

/** A record of an agent's usage to read: a file its CLI writes, and whose it is. */
export type UsageSource = {
  path: string;
  agent: string;
  /** The preset the agent ran under when the record was named. */
  runtime: string;
  format: UsageFormat;
  /** The agent CLI's own session id the record belongs to, where known. */
  runtime_session_id: string | null;
  recorded_at: string;
  /** How far it has been read: the byte after the last line taken (0: not yet). */
  read_offset: number;
  /** The file's size at that read; null when never read, or when that read stopped short (read on). */
  read_size: number | null;
  /** What its reader carries from one read to the next (JSON; Codex's running totals), or null. */
  reader_state: string | null;
};

export type UsageSourceInput = Pick<UsageSource, 'path' | 'agent' | 'runtime' | 'format' | 'runtime_session_id'>;

/** Where a read of a record got to, to resume there (a restarted daemon, `gt costs`). */
export type UsageSourceRead = Pick<UsageSource, 'path' | 'read_offset' | 'read_size' | 'reader_state'>;

export type UsageFilter = {
  /** Responses at or after this time (RFC 3339). */
  since?: string;
  /** Responses before this time. */
  until?: string;
  agent?: string;
};

export type UsageStore = {
  /**
   * Records responses in one transaction, keyed by `key`: one already recorded keeps its attribution and
   * takes the larger of each count (a response written on several lines, or read part-written, is counted
   * once, at its final size). A bad entry is a ValidationError, and nothing is written.
   */
  recordUsage(entries: readonly UsageEntry[]): Promise<{ added: number; updated: number }>;
  /** Usage summed per agent, bead and model, for totals and budgets. */
  usageGroups(filter?: UsageFilter): Promise<UsageGroup[]>;
  /** The responses themselves, newest first (limit 0: all). */
  usageEntries(filter?: UsageFilter & { limit?: number }): Promise<UsageEntry[]>;
  /** Names a record to read; naming one again keeps the first naming (a record belongs to one agent). */
  recordUsageSource(source: UsageSourceInput): Promise<UsageSource>;
  /** Every record named, oldest first. */
  usageSources(): Promise<UsageSource[]>;
  /**
   * Where reads of records got to, in one transaction (after the usage they read is recorded: a read whose
   * usage failed to be stored is read again). A path not named is ignored; a bad value is a ValidationError.
   */
  recordUsageReads(reads: readonly UsageSourceRead[]): Promise<void>;
};
