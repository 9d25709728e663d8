import type { SortPolicy } from '../core/bead-store.js';
import { BEAD_COLUMNS, BEAD_COLUMNS_QUALIFIED } from './rows.js';

/**
 * The read queries. Every one is static text with named parameters; optional filters are written as
 * `(@x IS NULL OR …)` and list filters as JSON arrays expanded with json_each, so no SQL is built from data.
 */

const RESOLVED = `('closed', 'pinned')`;

/**
 * `blocked(id)`: every bead that may not be worked on because of its graph.
 *   - stored status blocked or deferred (they pass it on to their descendants),
 *   - a blocks / conditional-blocks edge to an unresolved bead,
 *   - a waits-for edge to a spawner that still has unresolved children (an `any-children` gate is satisfied
 *     by one closed child),
 *   - and, transitively, every child (parent-child) of a blocked bead.
 */
export const BLOCKED_CTE = /* sql */ `
  blocked_root(id) AS (
    SELECT id FROM issues WHERE status IN ('blocked', 'deferred')
    UNION
    SELECT d.issue_id FROM dependencies d JOIN issues b ON b.id = d.depends_on_id
     WHERE d.type IN ('blocks', 'conditional-blocks') AND b.status NOT IN ${RESOLVED}
    UNION
    SELECT DISTINCT w0.issue_id FROM dependencies w0
     WHERE w0.type = 'waits-for' AND ${waitsForUnsatisfied('w0.issue_id')}
  ),
  blocked(id) AS (
    SELECT id FROM blocked_root
    UNION
    SELECT d.issue_id FROM dependencies d JOIN blocked p ON d.depends_on_id = p.id WHERE d.type = 'parent-child'
  )`;

/**
 * `deferred(id)`: beads whose defer_until lies after @now, and every descendant of one. They are not ready
 * work, but they are not blocked either: nothing but time holds them.
 */
const DEFERRED_CTE = /* sql */ `
  deferred(id) AS (
    SELECT id FROM issues WHERE defer_until > @now
    UNION
    SELECT d.issue_id FROM dependencies d JOIN deferred p ON d.depends_on_id = p.id WHERE d.type = 'parent-child'
  )`;

/** `descendants(id)`: every bead below @parent through parent-child edges (empty when @parent is null). */
const DESCENDANTS_CTE = /* sql */ `
  descendants(id) AS (
    SELECT d.issue_id FROM dependencies d WHERE d.type = 'parent-child' AND d.depends_on_id = @parent
    UNION
    SELECT d.issue_id FROM dependencies d JOIN descendants x ON d.depends_on_id = x.id WHERE d.type = 'parent-child'
  )`;

/** Filters shared by list, ready and search; parameters are null when the filter is off. */
const COMMON_FILTERS = /* sql */ `
      AND (@assignee IS NULL OR issues.assignee = @assignee)
      AND (@unassigned = 0 OR issues.assignee IS NULL OR issues.assignee = '')
      AND (@priorities IS NULL OR issues.priority IN (SELECT value FROM json_each(@priorities)))
      AND (@labels IS NULL OR (SELECT COUNT(DISTINCT l.label) FROM labels l
                                WHERE l.issue_id = issues.id
                                  AND l.label IN (SELECT value FROM json_each(@labels))) = json_array_length(@labels))`;

/**
 * One ORDER BY per sort policy. Each is a fixed string, so every query stays static text; a plain column order
 * (rather than CASE expressions) lets the index serve the sort and the scan stop at the LIMIT.
 */
const ORDER_BY: Readonly<Record<SortPolicy, string>> = {
  priority: 'ORDER BY issues.priority ASC, issues.created_at ASC, issues.id ASC',
  oldest: 'ORDER BY issues.created_at ASC, issues.id ASC',
  newest: 'ORDER BY issues.created_at DESC, issues.id ASC',
  updated: 'ORDER BY issues.updated_at DESC, issues.id ASC',
};

function bySort(build: (order: string) => string): Readonly<Record<SortPolicy, string>> {
  return {
    priority: build(ORDER_BY.priority),
    oldest: build(ORDER_BY.oldest),
    newest: build(ORDER_BY.newest),
    updated: build(ORDER_BY.updated),
  };
}

/**
 * The waits-for edge aliased `w` is unsatisfied: its spawner still has unresolved children (an `any-children`
 * gate is satisfied by one closed child). A spawner with no children never blocks.
 */
function waitsForEdgeUnsatisfied(w: string): string {
  return /* sql */ `(EXISTS (SELECT 1 FROM dependencies c JOIN issues ci ON ci.id = c.issue_id
                      WHERE c.depends_on_id = ${w}.depends_on_id AND c.type = 'parent-child'
                        AND ci.status NOT IN ${RESOLVED})
       AND NOT (COALESCE(json_extract(${w}.metadata, '$.gate'), 'all-children') = 'any-children'
                AND EXISTS (SELECT 1 FROM dependencies c JOIN issues ci ON ci.id = c.issue_id
                             WHERE c.depends_on_id = ${w}.depends_on_id AND c.type = 'parent-child'
                               AND ci.status = 'closed')))`;
}

/** Some waits-for edge of the bead named by `x` is unsatisfied. Shared by both formulations of "blocked". */
function waitsForUnsatisfied(x: string): string {
  return /* sql */ `EXISTS (SELECT 1 FROM dependencies w
     WHERE w.issue_id = ${x} AND w.type = 'waits-for' AND ${waitsForEdgeUnsatisfied('w')})`;
}

/**
 * Ready work: open, not ephemeral, of a work type (or of @types when given), and not blocked. "Not blocked"
 * is checked per candidate, walking the candidate's ancestor chain, while the index hands candidates over in
 * sort order: `ready -n 1` (and every claim) looks at a handful of beads instead of computing the blocked set
 * of the whole store. It must agree with BLOCKED_CTE; a test holds the two to the same answers.
 */
export const READY_SQL = bySort(
  (order) => /* sql */ `
  WITH RECURSIVE ${DESCENDANTS_CTE}
  SELECT ${BEAD_COLUMNS} FROM issues
   WHERE issues.status = 'open'
     AND issues.ephemeral = 0
     AND (issues.defer_until IS NULL OR issues.defer_until <= @now)
     AND (CASE WHEN @types IS NULL THEN issues.issue_type NOT IN (SELECT value FROM json_each(@nonWorkTypes))
               ELSE issues.issue_type IN (SELECT value FROM json_each(@types)) END)
     AND (@parent IS NULL OR issues.id IN (SELECT id FROM descendants))
     ${COMMON_FILTERS}
     AND NOT EXISTS (
       WITH RECURSIVE chain(id, depth) AS (
         SELECT issues.id, 0
         UNION
         SELECT d.depends_on_id, chain.depth + 1 FROM dependencies d JOIN chain ON d.issue_id = chain.id
          WHERE d.type = 'parent-child' AND chain.depth < 100
       )
       SELECT 1 FROM chain
        WHERE (chain.depth > 0 AND EXISTS (SELECT 1 FROM issues a
                                            WHERE a.id = chain.id
                                              AND (a.status IN ('blocked', 'deferred') OR a.defer_until > @now)))
           OR EXISTS (SELECT 1 FROM dependencies d JOIN issues b ON b.id = d.depends_on_id
                       WHERE d.issue_id = chain.id AND d.type IN ('blocks', 'conditional-blocks')
                         AND b.status NOT IN ${RESOLVED})
           OR ${waitsForUnsatisfied('chain.id')}
     )
  ${order} LIMIT @limit`,
);

export const READY_COUNT_SQL = /* sql */ `
  WITH RECURSIVE ${BLOCKED_CTE}, ${DEFERRED_CTE}
  SELECT COUNT(*) AS n FROM issues
   WHERE issues.status = 'open' AND issues.ephemeral = 0 AND issues.id NOT IN (SELECT id FROM blocked)
     AND issues.id NOT IN (SELECT id FROM deferred)
     AND issues.issue_type NOT IN (SELECT value FROM json_each(@nonWorkTypes))`;

/** Beads not closed whose last update is before @before, oldest first; @statuses narrows them. */
export const STALE_SQL = /* sql */ `
  SELECT ${BEAD_COLUMNS} FROM issues
   WHERE issues.updated_at < @before
     AND (CASE WHEN @statuses IS NULL THEN issues.status NOT IN ('closed', 'tombstone')
               ELSE issues.status IN (SELECT value FROM json_each(@statuses)) END)
     AND issues.ephemeral = 0
   ORDER BY issues.updated_at ASC, issues.id ASC
   LIMIT @limit`;

/** Unresolved, undeferred beads that cannot be worked on: blocked status or graph; @parent limits to descendants. */
export const BLOCKED_SQL = /* sql */ `
  WITH RECURSIVE ${BLOCKED_CTE}, ${DESCENDANTS_CTE}
  SELECT ${BEAD_COLUMNS} FROM issues
   WHERE issues.status NOT IN ${RESOLVED}
     AND issues.status <> 'deferred'
     AND issues.id IN (SELECT id FROM blocked)
     AND (@parent IS NULL OR issues.id IN (SELECT id FROM descendants))
   ORDER BY issues.priority ASC, issues.created_at ASC, issues.id ASC
   LIMIT @limit`;

/** What directly blocks each bead in the JSON array @ids: unresolved blocks targets, unsatisfied waits-for spawners. */
export const OPEN_BLOCKERS_SQL = /* sql */ `
  SELECT d.issue_id AS issue_id, d.depends_on_id AS blocker_id FROM dependencies d
    JOIN issues b ON b.id = d.depends_on_id
   WHERE d.issue_id IN (SELECT value FROM json_each(@ids))
     AND ((d.type IN ('blocks', 'conditional-blocks') AND b.status NOT IN ${RESOLVED})
          OR (d.type = 'waits-for' AND ${waitsForEdgeUnsatisfied('d')}))
   ORDER BY d.issue_id, d.depends_on_id`;

export const LIST_SQL = bySort(
  (order) => /* sql */ `
  SELECT ${BEAD_COLUMNS} FROM issues
   WHERE (CASE WHEN @statuses IS NULL THEN issues.status <> 'closed'
               ELSE issues.status IN (SELECT value FROM json_each(@statuses)) END)
     AND (@types IS NULL OR issues.issue_type IN (SELECT value FROM json_each(@types)))
     AND (@includeEphemeral = 1 OR issues.ephemeral = 0)
     AND (@updatedSince IS NULL OR issues.updated_at >= @updatedSince)
     AND (@parent IS NULL OR issues.id IN (SELECT d.issue_id FROM dependencies d
                                            WHERE d.type = 'parent-child' AND d.depends_on_id = @parent))
     AND (@query IS NULL OR instr(lower(issues.id), lower(@query)) > 0
                         OR instr(lower(issues.title), lower(@query)) > 0
                         OR instr(lower(issues.description), lower(@query)) > 0
                         OR instr(lower(issues.notes), lower(@query)) > 0
                         OR instr(lower(COALESCE(issues.external_ref, '')), lower(@query)) > 0)
     ${COMMON_FILTERS}
  ${order} LIMIT @limit`,
);

export const GET_BEAD_SQL = /* sql */ `SELECT ${BEAD_COLUMNS} FROM issues WHERE id = ?`;

export const BEADS_BY_IDS_SQL = /* sql */ `
  SELECT ${BEAD_COLUMNS} FROM issues WHERE id IN (SELECT value FROM json_each(?))`;

export const LABELS_FOR_IDS_SQL = /* sql */ `
  SELECT issue_id, label FROM labels WHERE issue_id IN (SELECT value FROM json_each(?)) ORDER BY issue_id, label`;

export const DEPENDENCIES_FOR_IDS_SQL = /* sql */ `
  SELECT issue_id, depends_on_id, type, created_at, created_by, metadata FROM dependencies
   WHERE issue_id IN (SELECT value FROM json_each(?)) ORDER BY issue_id, depends_on_id`;

export const COMMENTS_FOR_IDS_SQL = /* sql */ `
  SELECT id, issue_id, author, text, created_at FROM comments
   WHERE issue_id IN (SELECT value FROM json_each(?)) ORDER BY issue_id, created_at, id`;

/** Incoming `blocks` edges per bead (beads' dependent_count), for the JSON array of ids. */
export const DEPENDENT_COUNTS_SQL = /* sql */ `
  SELECT depends_on_id AS id, COUNT(*) AS n FROM dependencies
   WHERE depends_on_id IN (SELECT value FROM json_each(?)) AND type = 'blocks'
   GROUP BY depends_on_id`;

/** Comments per bead, for the JSON array of ids. */
export const COMMENT_COUNTS_SQL = /* sql */ `
  SELECT issue_id AS id, COUNT(*) AS n FROM comments
   WHERE issue_id IN (SELECT value FROM json_each(?))
   GROUP BY issue_id`;

/** Edges from @id (down) joined with the bead they point at. */
export const DEPENDS_ON_SQL = /* sql */ `
  SELECT ${BEAD_COLUMNS_QUALIFIED}, d.type AS dependency_type FROM dependencies d
    JOIN issues ON issues.id = d.depends_on_id
   WHERE d.issue_id = ? ORDER BY issues.priority, issues.id`;

/** Edges into @id (up) joined with the bead they come from. */
export const DEPENDENTS_SQL = /* sql */ `
  SELECT ${BEAD_COLUMNS_QUALIFIED}, d.type AS dependency_type FROM dependencies d
    JOIN issues ON issues.id = d.issue_id
   WHERE d.depends_on_id = ? ORDER BY issues.priority, issues.id`;

/** True when @to can already reach @from over blocking edges and child→parent edges: a new edge would loop. */
export const WOULD_CYCLE_SQL = /* sql */ `
  WITH RECURSIVE reach(id) AS (
    SELECT @to
    UNION
    SELECT d.depends_on_id FROM dependencies d JOIN reach r ON d.issue_id = r.id
     WHERE d.type IN ('blocks', 'conditional-blocks', 'waits-for', 'parent-child')
  )
  SELECT 1 AS hit FROM reach WHERE id = @from LIMIT 1`;

/** Top-level ids with the given prefix (`p-…` without a dot), for the adaptive id length. */
export const COUNT_TOP_LEVEL_SQL = /* sql */ `
  SELECT COUNT(*) AS n FROM issues
   WHERE id >= @prefix || '-' AND id < @prefix || '.' AND instr(substr(id, length(@prefix) + 2), '.') = 0`;

/** Ids directly under @parent (`parent.n`), for allocating the next child number. */
export const CHILD_IDS_SQL = /* sql */ `
  SELECT id FROM issues WHERE id >= @parent || '.' AND id < @parent || '/'`;

/**
 * The events query for one shape of filter, from fixed fragments (never from data), so that SQLite walks the
 * primary key or the events_issue index instead of scanning and sorting the whole table.
 */
export function eventsSql(f: {
  issueId?: string;
  eventType?: string;
  actor?: string;
  after?: number;
  since?: string;
  newest?: boolean;
}): string {
  const where = [
    f.issueId === undefined ? '' : 'issue_id = @issueId',
    f.eventType === undefined ? '' : 'event_type = @eventType',
    f.actor === undefined ? '' : 'actor = @actor',
    f.after === undefined ? '' : 'event_id > @after',
    f.since === undefined ? '' : 'created_at >= @since',
  ].filter((w) => w !== '');
  return /* sql */ `SELECT event_id, issue_id, event_type, actor, field, old_value, new_value, created_at FROM events
    ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
    ORDER BY event_id${f.newest === true ? ' DESC' : ''} LIMIT @limit`;
}
