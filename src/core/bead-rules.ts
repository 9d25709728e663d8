import type { Bead, EventType } from './bead.js';

/** Pure rules for changing a bead. The store applies them inside its transactions. */

export type FieldChange = { field: string; old: string | null; new: string | null; eventType: EventType };

/** Scalar fields `update` may set directly. */
export type ScalarChanges = {
  title?: string;
  description?: string;
  design?: string;
  acceptance_criteria?: string;
  notes?: string;
  append_notes?: string;
  status?: string;
  priority?: number;
  issue_type?: string;
  assignee?: string | null;
  external_ref?: string | null;
  /** null clears; likewise for the dates and spec_id. */
  estimated_minutes?: number | null;
  due_at?: string | null;
  defer_until?: string | null;
  spec_id?: string | null;
  metadata?: Record<string, unknown>;
  close_reason?: string;
};

const TEXT_FIELDS = ['title', 'description', 'design', 'acceptance_criteria', 'notes', 'issue_type'] as const;

function display(value: string | number | boolean | null | Record<string, unknown>): string | null {
  if (value === null) return null;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The event a status move is recorded as. */
export function statusEventType(from: string, to: string): EventType {
  if (to === 'closed') return 'closed';
  if (from === 'closed') return 'reopened';
  return 'status_changed';
}

/**
 * Moves a bead to `status` with the bookkeeping beads does: entering closed stamps closed_at, leaving closed
 * clears closed_at and close_reason, and the first entry into in_progress stamps started_at.
 */
export function withStatus(bead: Bead, status: string, now: string, closeReason?: string): Bead {
  if (bead.status === status) return bead;
  const next: Bead = { ...bead, status };
  if (status === 'closed') {
    next.closed_at = now;
    next.close_reason = closeReason ?? bead.close_reason;
  } else if (bead.status === 'closed') {
    next.closed_at = null;
    next.close_reason = '';
  }
  if (status === 'in_progress' && next.started_at === null) next.started_at = now;
  return next;
}

/** Applies scalar changes; returns the new bead and one FieldChange per field that really changed. */
export function applyScalarChanges(
  bead: Bead,
  changes: ScalarChanges,
  now: string,
): { next: Bead; changed: FieldChange[] } {
  let next: Bead = { ...bead };
  for (const field of TEXT_FIELDS) {
    const value = changes[field];
    if (value !== undefined) next[field] = value;
  }
  if (changes.append_notes !== undefined) {
    next.notes = next.notes === '' ? changes.append_notes : `${next.notes}\n${changes.append_notes}`;
  }
  if (changes.priority !== undefined) next.priority = changes.priority;
  if (changes.assignee !== undefined) next.assignee = changes.assignee === '' ? null : changes.assignee;
  if (changes.external_ref !== undefined) next.external_ref = changes.external_ref === '' ? null : changes.external_ref;
  if (changes.estimated_minutes !== undefined) next.estimated_minutes = changes.estimated_minutes;
  if (changes.due_at !== undefined) next.due_at = changes.due_at;
  if (changes.defer_until !== undefined) next.defer_until = changes.defer_until;
  if (changes.spec_id !== undefined) next.spec_id = changes.spec_id === '' ? null : changes.spec_id;
  if (changes.metadata !== undefined) next.metadata = { ...next.metadata, ...changes.metadata };
  if (changes.status !== undefined) next = withStatus(next, changes.status, now, changes.close_reason);
  else if (changes.close_reason !== undefined) next.close_reason = changes.close_reason;
  return { next, changed: diffBeads(bead, next) };
}

const DIFF_FIELDS = [
  'title',
  'description',
  'design',
  'acceptance_criteria',
  'notes',
  'status',
  'priority',
  'issue_type',
  'assignee',
  'external_ref',
  'estimated_minutes',
  'due_at',
  'defer_until',
  'spec_id',
  'started_at',
  'closed_at',
  'close_reason',
  'metadata',
] as const;

/** Field-level differences between two versions of a bead, as audit events. */
export function diffBeads(before: Bead, after: Bead): FieldChange[] {
  const out: FieldChange[] = [];
  for (const field of DIFF_FIELDS) {
    const old = display(before[field]);
    const now = display(after[field]);
    if (old === now) continue;
    const eventType = field === 'status' ? statusEventType(before.status, after.status) : 'updated';
    out.push({ field, old, new: now, eventType });
  }
  return out;
}

export type ClaimDecision = { kind: 'claim' } | { kind: 'already_yours' } | { kind: 'conflict'; reason: string };

/** Statuses from which the holder (or nobody) may claim: open work, or work hooked to the claimant. */
const CLAIMABLE_STATUSES: ReadonlySet<string> = new Set(['open', 'hooked']);

/**
 * The compare-and-set rule for a claim. A bead can be claimed when it is open (or hooked) and nobody else is
 * assigned; the holder re-claiming is a no-op; everything else is a conflict that names the holder.
 */
export function decideClaim(bead: Bead, actor: string): ClaimDecision {
  const holder = bead.assignee ?? '';
  if (bead.status === 'in_progress' && holder === actor) return { kind: 'already_yours' };
  if (holder !== '' && holder !== actor) {
    return { kind: 'conflict', reason: `${bead.id} is already claimed by ${holder} (status ${bead.status})` };
  }
  if (!CLAIMABLE_STATUSES.has(bead.status)) {
    return { kind: 'conflict', reason: `${bead.id} cannot be claimed: its status is ${bead.status}` };
  }
  return { kind: 'claim' };
}
