import { createRequire } from 'node:module';
import type * as ZodModule from 'zod';
import type { z as Zod } from 'zod';
import type { Bead, BeadDetails, Comment, Dependency } from '../core/bead.js';
import { errorMessage, isRecord, ValidationError } from '../core/errors.js';
import { isValidId } from '../core/ids.js';
import { normalizeTimestamp } from '../core/time.js';

/**
 * The JSONL ledger format: one bead per line with its labels, dependencies and comments embedded, in beads'
 * field names. Export writes a fixed key order and sorts everything, so the same store always gives the same
 * bytes; import validates every line against a schema before anything is written.
 */

/** Keys this store has columns for; anything else a ledger carries is kept verbatim in `extra`. */
const COLUMN_KEYS = new Set([
  'id',
  'title',
  'description',
  'design',
  'acceptance_criteria',
  'notes',
  'status',
  'priority',
  'issue_type',
  'assignee',
  'created_by',
  'created_at',
  'updated_at',
  'started_at',
  'closed_at',
  'close_reason',
  'external_ref',
  'estimated_minutes',
  'due_at',
  'defer_until',
  'spec_id',
  'ephemeral',
  'wisp',
  'metadata',
  'labels',
  'dependencies',
  'comments',
]);
/** Keys beads derives on export; recomputed here, never stored. */
const DERIVED_KEYS = new Set(['_type', 'dependency_count', 'dependent_count', 'comment_count', 'parent']);

/** The scalar fields of a bead as beads' JSON has them: empty text and nulls left out, priority always in. */
export function beadFields(b: Bead): Record<string, unknown> {
  const r: Record<string, unknown> = { id: b.id, title: b.title };
  if (b.description !== '') r.description = b.description;
  if (b.design !== '') r.design = b.design;
  if (b.acceptance_criteria !== '') r.acceptance_criteria = b.acceptance_criteria;
  if (b.notes !== '') r.notes = b.notes;
  r.status = b.status;
  r.priority = b.priority;
  r.issue_type = b.issue_type;
  if (b.assignee !== null && b.assignee !== '') r.assignee = b.assignee;
  if (b.created_by !== '') r.created_by = b.created_by;
  r.created_at = b.created_at;
  r.updated_at = b.updated_at;
  if (b.started_at !== null) r.started_at = b.started_at;
  if (b.closed_at !== null) r.closed_at = b.closed_at;
  if (b.close_reason !== '') r.close_reason = b.close_reason;
  if (b.external_ref !== null) r.external_ref = b.external_ref;
  if (b.estimated_minutes !== null) r.estimated_minutes = b.estimated_minutes;
  if (b.due_at !== null) r.due_at = b.due_at;
  if (b.defer_until !== null) r.defer_until = b.defer_until;
  if (b.spec_id !== null) r.spec_id = b.spec_id;
  if (b.ephemeral) r.ephemeral = true;
  if (Object.keys(b.metadata).length > 0) r.metadata = b.metadata;
  for (const key of Object.keys(b.extra).sort()) r[key] = b.extra[key];
  return r;
}

export function beadToRecord(b: BeadDetails): Record<string, unknown> {
  const r = beadFields(b);
  if (b.labels.length > 0) r.labels = [...b.labels].sort();
  if (b.dependencies.length > 0) {
    r.dependencies = [...b.dependencies]
      .sort((x, y) => (x.depends_on_id < y.depends_on_id ? -1 : x.depends_on_id > y.depends_on_id ? 1 : 0))
      .map(dependencyRecord);
  }
  if (b.comments.length > 0) r.comments = b.comments.map(commentRecord);
  return r;
}

function dependencyRecord(d: Dependency): Record<string, unknown> {
  const r: Record<string, unknown> = {
    issue_id: d.issue_id,
    depends_on_id: d.depends_on_id,
    type: d.type,
    created_at: d.created_at,
    created_by: d.created_by,
  };
  if (d.metadata !== undefined) r.metadata = d.metadata;
  return r;
}

function commentRecord(c: Comment): Record<string, unknown> {
  return { id: c.id, issue_id: c.issue_id, author: c.author, text: c.text, created_at: c.created_at };
}

export function serializeRecord(b: BeadDetails): string {
  return JSON.stringify(beadToRecord(b));
}

// ---------------------------------------------------------------------------------------------------------
// Import

export type LedgerEntry = {
  line: number;
  bead: Bead;
  labels: string[];
  dependencies: Dependency[];
  /** Comments as the file has them; `id` is the file's id when it is an integer. */
  comments: (Omit<Comment, 'id'> & { id: number | null })[];
};

export type ParsedLedger = { entries: LedgerEntry[]; skipped: number; totalLines: number };

let zod: typeof ZodModule | undefined;

/** zod is loaded on first use: only import needs it, and every other command would pay for loading it. */
function loadZod(): typeof ZodModule {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-type-assertion -- require() is untyped; the module named is zod.
  zod ??= createRequire(import.meta.url)('zod') as typeof ZodModule;
  return zod;
}

function buildSchema(z: typeof Zod) {
  const text = z.string();
  const timestamp = z.string().transform((value, ctx) => {
    try {
      return normalizeTimestamp(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  });
  const jsonObject = z.union([
    z.record(z.string(), z.unknown()),
    z.string().transform((value, ctx) => {
      try {
        const parsed: unknown = JSON.parse(value === '' ? '{}' : value);
        if (isRecord(parsed)) return parsed;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'metadata must be a JSON object' });
      return z.NEVER;
    }),
  ]);
  const dependency = z.object({
    issue_id: text.optional(),
    depends_on_id: text.min(1),
    type: text.min(1).default('blocks'),
    created_at: timestamp.optional(),
    created_by: text.nullish(),
    metadata: z.union([text, z.record(z.string(), z.unknown())]).nullish(),
  });
  const comment = z.object({
    id: z.union([z.number().int().positive(), text]).nullish(),
    issue_id: text.optional(),
    author: text.nullish(),
    text: z.string(),
    created_at: timestamp.optional(),
  });
  return z.looseObject({
    id: text.refine(isValidId, 'invalid id'),
    title: z.string().refine((t) => t.trim() !== '', 'title cannot be empty'),
    description: text.nullish(),
    design: text.nullish(),
    acceptance_criteria: text.nullish(),
    notes: text.nullish(),
    status: text.min(1).default('open'),
    priority: z.number().int().min(0).max(4).default(2),
    issue_type: text.min(1).default('task'),
    assignee: text.nullish(),
    created_by: text.nullish(),
    created_at: timestamp,
    updated_at: timestamp.optional(),
    started_at: timestamp.nullish(),
    closed_at: timestamp.nullish(),
    close_reason: text.nullish(),
    external_ref: text.nullish(),
    estimated_minutes: z.number().int().min(0).nullish(),
    due_at: timestamp.nullish(),
    defer_until: timestamp.nullish(),
    spec_id: text.nullish(),
    ephemeral: z.boolean().nullish(),
    wisp: z.boolean().nullish(),
    metadata: jsonObject.nullish(),
    labels: z.array(text.min(1)).nullish(),
    dependencies: z.array(dependency).nullish(),
    comments: z.array(comment).nullish(),
  });
}

/**
 * Parses a whole ledger. Throws a ValidationError naming the first bad line; returns nothing partial.
 * Tombstones (deleted beads in old ledgers) and non-bead lines (`_type` other than issue) are skipped.
 */
export function parseLedger(text: string): ParsedLedger {
  const { z } = loadZod();
  const schema = buildSchema(z);
  const lines = text.split('\n');
  const entries: LedgerEntry[] = [];
  let skipped = 0;
  let totalLines = 0;
  const seen = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').trim();
    if (raw === '') continue;
    totalLines++;
    const lineNo = i + 1;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      throw new ValidationError(`line ${lineNo}: not valid JSON (${errorMessage(err)})`);
    }
    if (!isRecord(json)) throw new ValidationError(`line ${lineNo}: expected a JSON object`);
    const obj = json;
    if ((obj._type !== undefined && obj._type !== 'issue') || obj.status === 'tombstone') {
      skipped++;
      continue;
    }
    const result = schema.safeParse(obj);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue === undefined || issue.path.length === 0 ? '' : ` (field ${issue.path.join('.')})`;
      throw new ValidationError(`line ${lineNo}${where}: ${issue?.message ?? 'invalid record'}`);
    }
    const r = result.data;
    if (seen.has(r.id)) throw new ValidationError(`line ${lineNo}: duplicate id ${r.id}`);
    seen.add(r.id);
    const extra: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(obj)) {
      if (!COLUMN_KEYS.has(key) && !DERIVED_KEYS.has(key)) extra[key] = value;
    }
    const bead: Bead = {
      id: r.id,
      title: r.title,
      description: r.description ?? '',
      design: r.design ?? '',
      acceptance_criteria: r.acceptance_criteria ?? '',
      notes: r.notes ?? '',
      status: r.status,
      priority: r.priority,
      issue_type: r.issue_type,
      assignee: r.assignee === undefined || r.assignee === null || r.assignee === '' ? null : r.assignee,
      created_by: r.created_by ?? '',
      created_at: r.created_at,
      updated_at: r.updated_at ?? r.created_at,
      started_at: r.started_at ?? null,
      closed_at: r.closed_at ?? null,
      close_reason: r.close_reason ?? '',
      external_ref: r.external_ref ?? null,
      estimated_minutes: r.estimated_minutes ?? null,
      due_at: r.due_at ?? null,
      defer_until: r.defer_until ?? null,
      spec_id: r.spec_id === undefined || r.spec_id === null || r.spec_id === '' ? null : r.spec_id,
      ephemeral: r.ephemeral ?? r.wisp ?? false,
      metadata: r.metadata ?? {},
      extra,
    };
    const dependencies: Dependency[] = [];
    for (const d of r.dependencies ?? []) {
      if (d.depends_on_id === r.id) throw new ValidationError(`line ${lineNo}: ${r.id} depends on itself`);
      const dep: Dependency = {
        issue_id: r.id,
        depends_on_id: d.depends_on_id,
        type: d.type,
        created_at: d.created_at ?? bead.created_at,
        created_by: d.created_by ?? '',
      };
      if (d.metadata !== undefined && d.metadata !== null) {
        dep.metadata = typeof d.metadata === 'string' ? d.metadata : JSON.stringify(d.metadata);
      }
      dependencies.push(dep);
    }
    const comments = (r.comments ?? []).map((c) => ({
      id: typeof c.id === 'number' ? c.id : null,
      issue_id: r.id,
      author: c.author ?? '',
      text: c.text,
      created_at: c.created_at ?? bead.created_at,
    }));
    entries.push({ line: lineNo, bead, labels: [...new Set(r.labels ?? [])].sort(), dependencies, comments });
  }
  return { entries, skipped, totalLines };
}
