import type { Bead, BeadDetails, Comment } from '../../core/bead.js';
import type { BeadSummary, BlockedBead, DependencyView, TreeNode } from '../../core/bead-store.js';
import { beadFields } from '../../store/jsonl.js';
import { sanitize } from '../io.js';

/** Text and JSON shapes of beads for `bd`. JSON follows beads' field names; text is for people. */

const STATUS_ICONS: Readonly<Record<string, string>> = {
  open: '○',
  in_progress: '◐',
  blocked: '●',
  deferred: '❄',
  closed: '✓',
  pinned: '📌',
  hooked: '⚓',
};

export function statusIcon(status: string): string {
  return STATUS_ICONS[status] ?? '·';
}

/** One line of user text: control characters made visible, newlines folded. */
export function line(text: string): string {
  return sanitize(text.replace(/\r?\n/g, ' ⏎ '));
}

/** A block of user text: control characters made visible, newlines kept. */
function block(text: string): string {
  return sanitize(text.replace(/\r\n/g, '\n')).replace(/\\x0a/g, '\n');
}

export function listLine(b: BeadSummary | Bead, extra = ''): string {
  const labels = 'labels' in b && b.labels.length > 0 ? ` [${b.labels.map(line).join(', ')}]` : '';
  const assignee = b.assignee !== null && b.assignee !== '' ? ` @${line(b.assignee)}` : '';
  return `${statusIcon(b.status)} ${b.id} [P${b.priority}] [${line(b.issue_type)}]${assignee}${labels} - ${line(b.title)}${extra}\n`;
}

export function summaryJson(s: BeadSummary): Record<string, unknown> {
  const r = beadFields(s);
  if (s.labels.length > 0) r.labels = s.labels;
  if (s.dependencies.length > 0) r.dependencies = s.dependencies;
  r.dependency_count = s.dependency_count;
  r.dependent_count = s.dependent_count;
  r.comment_count = s.comment_count;
  if (s.parent !== null) r.parent = s.parent;
  return r;
}

export function blockedJson(b: BlockedBead): Record<string, unknown> {
  return Object.assign(summaryJson(b), { blocked_by_count: b.blocked_by_count, blocked_by: b.blocked_by });
}

export function viewJson(v: DependencyView): Record<string, unknown> {
  return Object.assign(beadFields(v), { dependency_type: v.dependency_type });
}

export type ShowData = { details: BeadDetails; dependsOn: DependencyView[]; dependents: DependencyView[] };

export function showJson(d: ShowData): Record<string, unknown> {
  const r = beadFields(d.details);
  if (d.details.labels.length > 0) r.labels = d.details.labels;
  const known = new Set(d.dependsOn.map((v) => v.id));
  const dangling = d.details.dependencies
    .filter((e) => !known.has(e.depends_on_id))
    .map((e) => ({ id: e.depends_on_id, dependency_type: e.type, missing: true }));
  if (d.dependsOn.length + dangling.length > 0) r.dependencies = [...d.dependsOn.map(viewJson), ...dangling];
  if (d.dependents.length > 0) r.dependents = d.dependents.map(viewJson);
  if (d.details.comments.length > 0) r.comments = d.details.comments;
  const parent = d.dependsOn.find((v) => v.dependency_type === 'parent-child');
  if (parent !== undefined) r.parent = parent.id;
  r.dependency_count = d.details.dependencies.filter((e) => e.type === 'blocks').length;
  r.dependent_count = d.dependents.filter((v) => v.dependency_type === 'blocks').length;
  r.comment_count = d.details.comments.length;
  return r;
}

export function showText(d: ShowData): string {
  const b = d.details;
  const out: string[] = [];
  out.push(`${statusIcon(b.status)} ${b.id} · ${line(b.title)}   [P${b.priority} · ${b.status.toUpperCase()}]`);
  const who = [`Type: ${line(b.issue_type)}`];
  if (b.assignee !== null) who.push(`Assignee: ${line(b.assignee)}`);
  if (b.created_by !== '') who.push(`Created by: ${line(b.created_by)}`);
  out.push(who.join(' · '));
  const when = [`Created: ${b.created_at}`, `Updated: ${b.updated_at}`];
  if (b.closed_at !== null) when.push(`Closed: ${b.closed_at}`);
  out.push(when.join(' · '));
  if (b.close_reason !== '') out.push(`Close reason: ${line(b.close_reason)}`);
  if (b.external_ref !== null) out.push(`External: ${line(b.external_ref)}`);
  const plan: string[] = [];
  if (b.estimated_minutes !== null) plan.push(`Estimate: ${b.estimated_minutes} min`);
  if (b.due_at !== null) plan.push(`Due: ${b.due_at}`);
  if (b.defer_until !== null) plan.push(`Deferred until: ${b.defer_until}`);
  if (b.spec_id !== null) plan.push(`Spec: ${line(b.spec_id)}`);
  if (plan.length > 0) out.push(plan.join(' · '));
  if (b.labels.length > 0) out.push(`Labels: ${b.labels.map(line).join(', ')}`);
  for (const [title, text] of [
    ['DESCRIPTION', b.description],
    ['DESIGN', b.design],
    ['ACCEPTANCE CRITERIA', b.acceptance_criteria],
    ['NOTES', b.notes],
  ] as const) {
    if (text !== '') out.push('', title, block(text));
  }
  const edge = (v: DependencyView, arrow: string): string =>
    `  ${arrow} ${statusIcon(v.status)} ${v.id}: ${line(v.title)} [P${v.priority}] (${v.dependency_type})`;
  if (d.dependsOn.length > 0) out.push('', 'DEPENDS ON', ...d.dependsOn.map((v) => edge(v, '→')));
  if (d.dependents.length > 0) out.push('', 'DEPENDENTS', ...d.dependents.map((v) => edge(v, '←')));
  if (b.comments.length > 0) out.push('', 'COMMENTS', ...b.comments.map(commentText));
  return `${out.join('\n')}\n`;
}

export function commentText(c: Comment): string {
  return `  [${line(c.author)} at ${c.created_at}] ${block(c.text).replace(/\n/g, '\n    ')}`;
}

export function treeText(nodes: readonly TreeNode[]): string {
  return nodes
    .map((n) => {
      const indent = '  '.repeat(n.depth);
      const via = n.dependency_type === null ? '' : ` (${n.dependency_type})`;
      const seen = n.truncated ? ' (shown above)' : '';
      return `${indent}${statusIcon(n.status)} ${n.id}: ${line(n.title)} [P${n.priority}]${via}${seen}\n`;
    })
    .join('');
}

export function treeJson(nodes: readonly TreeNode[]): Record<string, unknown>[] {
  return nodes.map((n) =>
    Object.assign(beadFields(n), {
      depth: n.depth,
      parent_id: n.parent_id,
      dependency_type: n.dependency_type,
      truncated: n.truncated,
    }),
  );
}

export function detailsJson(d: BeadDetails): Record<string, unknown> {
  const r = beadFields(d);
  if (d.labels.length > 0) r.labels = d.labels;
  if (d.dependencies.length > 0) r.dependencies = d.dependencies;
  if (d.comments.length > 0) r.comments = d.comments;
  return r;
}
