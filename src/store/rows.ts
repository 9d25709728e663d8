import type { Bead, BeadEvent, Comment, Dependency } from '../core/bead.js';
import { InternalError, isRecord } from '../core/errors.js';

/**
 * Rows come back from SQLite as `unknown`; these mappers check every field's type instead of casting, so a
 * schema drift shows up as a clear InternalError rather than as a wrong value three layers up.
 */

type Row = Record<string, unknown>;

function asRow(value: unknown): Row {
  if (!isRecord(value)) throw new InternalError('expected a row from the database');
  return value;
}

function str(row: Row, key: string): string {
  const v = row[key];
  if (typeof v !== 'string') throw new InternalError(`column ${key}: expected text, got ${typeof v}`);
  return v;
}

function strOrNull(row: Row, key: string): string | null {
  const v = row[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new InternalError(`column ${key}: expected text or null, got ${typeof v}`);
  return v;
}

function int(row: Row, key: string): number {
  const v = row[key];
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new InternalError(`column ${key}: expected an integer, got ${typeof v}`);
  }
  return v;
}

function intOrNull(row: Row, key: string): number | null {
  const v = row[key];
  return v === null || v === undefined ? null : int(row, key);
}

function jsonObject(row: Row, key: string): Record<string, unknown> {
  const text = str(row, key);
  if (text === '{}') return {};
  const parsed: unknown = JSON.parse(text);
  if (!isRecord(parsed)) throw new InternalError(`column ${key}: expected a JSON object`);
  return parsed;
}

export const BEAD_COLUMNS =
  'id, title, description, design, acceptance_criteria, notes, status, priority, issue_type, assignee, ' +
  'created_by, created_at, updated_at, started_at, closed_at, close_reason, external_ref, ephemeral, metadata, extra, ' +
  'estimated_minutes, due_at, defer_until, spec_id';

/** The same columns qualified with the `issues` table name, for joins. */
export const BEAD_COLUMNS_QUALIFIED = BEAD_COLUMNS.split(', ')
  .map((c) => `issues.${c}`)
  .join(', ');

export function toBead(value: unknown): Bead {
  const r = asRow(value);
  return {
    id: str(r, 'id'),
    title: str(r, 'title'),
    description: str(r, 'description'),
    design: str(r, 'design'),
    acceptance_criteria: str(r, 'acceptance_criteria'),
    notes: str(r, 'notes'),
    status: str(r, 'status'),
    priority: int(r, 'priority'),
    issue_type: str(r, 'issue_type'),
    assignee: strOrNull(r, 'assignee'),
    created_by: str(r, 'created_by'),
    created_at: str(r, 'created_at'),
    updated_at: str(r, 'updated_at'),
    started_at: strOrNull(r, 'started_at'),
    closed_at: strOrNull(r, 'closed_at'),
    close_reason: str(r, 'close_reason'),
    external_ref: strOrNull(r, 'external_ref'),
    estimated_minutes: intOrNull(r, 'estimated_minutes'),
    due_at: strOrNull(r, 'due_at'),
    defer_until: strOrNull(r, 'defer_until'),
    spec_id: strOrNull(r, 'spec_id'),
    ephemeral: int(r, 'ephemeral') === 1,
    metadata: jsonObject(r, 'metadata'),
    extra: jsonObject(r, 'extra'),
  };
}

/** Bind parameters for an INSERT or full-row UPDATE of `issues`. */
export function beadParams(b: Bead): Record<string, string | number | null> {
  return {
    id: b.id,
    title: b.title,
    description: b.description,
    design: b.design,
    acceptance_criteria: b.acceptance_criteria,
    notes: b.notes,
    status: b.status,
    priority: b.priority,
    issue_type: b.issue_type,
    assignee: b.assignee,
    created_by: b.created_by,
    created_at: b.created_at,
    updated_at: b.updated_at,
    started_at: b.started_at,
    closed_at: b.closed_at,
    close_reason: b.close_reason,
    external_ref: b.external_ref,
    estimated_minutes: b.estimated_minutes,
    due_at: b.due_at,
    defer_until: b.defer_until,
    spec_id: b.spec_id,
    ephemeral: b.ephemeral ? 1 : 0,
    metadata: JSON.stringify(b.metadata),
    extra: JSON.stringify(b.extra),
  };
}

export function toDependency(value: unknown): Dependency {
  const r = asRow(value);
  const dep: Dependency = {
    issue_id: str(r, 'issue_id'),
    depends_on_id: str(r, 'depends_on_id'),
    type: str(r, 'type'),
    created_at: str(r, 'created_at'),
    created_by: str(r, 'created_by'),
  };
  const metadata = strOrNull(r, 'metadata');
  if (metadata !== null) dep.metadata = metadata;
  return dep;
}

export function toComment(value: unknown): Comment {
  const r = asRow(value);
  return {
    id: int(r, 'id'),
    issue_id: str(r, 'issue_id'),
    author: str(r, 'author'),
    text: str(r, 'text'),
    created_at: str(r, 'created_at'),
  };
}

export function toEvent(value: unknown): BeadEvent {
  const r = asRow(value);
  return {
    event_id: int(r, 'event_id'),
    issue_id: str(r, 'issue_id'),
    event_type: str(r, 'event_type'),
    actor: str(r, 'actor'),
    field: strOrNull(r, 'field'),
    old_value: strOrNull(r, 'old_value'),
    new_value: strOrNull(r, 'new_value'),
    created_at: str(r, 'created_at'),
  };
}

export function toStringValue(value: unknown, key: string): string {
  return str(asRow(value), key);
}

export function toIntValue(value: unknown, key: string): number {
  return int(asRow(value), key);
}

export function toNullableStringValue(value: unknown, key: string): string | null {
  return strOrNull(asRow(value), key);
}
