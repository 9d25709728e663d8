/**
 * Versioned schema migrations. Each migration runs once, in order, inside one immediate transaction together
 * with the bump of `PRAGMA user_version`; a database newer than this code is refused rather than guessed at.
 * Never edit a migration that has shipped: add the next one.
 */
export type Migration = { version: number; description: string; sql: string };

/**
 * SQL for a timestamp that an older import kept in `extra` under `field`, as the column holds it: UTC text.
 * A UTC value is kept verbatim (its fractional digits too); one with an offset is converted to UTC; anything
 * that is not a date (text like "tomorrow", a number) is NULL, so it stays in `extra` untouched.
 */
function utcTimestampFromExtra(field: string): string {
  const v = `json_extract(extra, '$.${field}')`;
  return `CASE WHEN json_type(extra, '$.${field}') = 'text' AND ${v} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'
                 AND strftime('%s', ${v}) IS NOT NULL
            THEN CASE WHEN ${v} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'
                      THEN ${v} ELSE strftime('%Y-%m-%dT%H:%M:%fZ', ${v}) END END`;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'beads, dependencies, labels, comments, events, config',
    sql: /* sql */ `
      CREATE TABLE issues (
        id                  TEXT PRIMARY KEY NOT NULL,
        title               TEXT NOT NULL CHECK (length(title) > 0),
        description         TEXT NOT NULL DEFAULT '',
        design              TEXT NOT NULL DEFAULT '',
        acceptance_criteria TEXT NOT NULL DEFAULT '',
        notes               TEXT NOT NULL DEFAULT '',
        status              TEXT NOT NULL DEFAULT 'open' CHECK (length(status) > 0),
        priority            INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
        issue_type          TEXT NOT NULL DEFAULT 'task' CHECK (length(issue_type) > 0),
        assignee            TEXT,
        created_by          TEXT NOT NULL DEFAULT '',
        created_at          TEXT NOT NULL,
        updated_at          TEXT NOT NULL,
        started_at          TEXT,
        closed_at           TEXT,
        close_reason        TEXT NOT NULL DEFAULT '',
        external_ref        TEXT,
        ephemeral           INTEGER NOT NULL DEFAULT 0 CHECK (ephemeral IN (0, 1)),
        metadata            TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
        extra               TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra))
      ) STRICT;
      CREATE INDEX issues_status_priority ON issues (status, priority, created_at);
      CREATE INDEX issues_assignee ON issues (assignee) WHERE assignee IS NOT NULL;
      CREATE INDEX issues_external_ref ON issues (external_ref) WHERE external_ref IS NOT NULL;

      -- (issue_id depends on depends_on_id). The target may name a bead this ledger does not hold.
      CREATE TABLE dependencies (
        issue_id      TEXT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
        depends_on_id TEXT NOT NULL,
        type          TEXT NOT NULL DEFAULT 'blocks' CHECK (length(type) > 0),
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL DEFAULT '',
        metadata      TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
        PRIMARY KEY (issue_id, depends_on_id),
        CHECK (issue_id <> depends_on_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX dependencies_target ON dependencies (depends_on_id, type);

      CREATE TABLE labels (
        issue_id TEXT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
        label    TEXT NOT NULL CHECK (length(label) > 0),
        PRIMARY KEY (issue_id, label)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX labels_label ON labels (label);

      CREATE TABLE comments (
        id         INTEGER PRIMARY KEY,
        issue_id   TEXT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
        author     TEXT NOT NULL DEFAULT '',
        text       TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX comments_issue ON comments (issue_id, created_at);

      -- The audit trail: one row per changed field, written in the same transaction as the change.
      CREATE TABLE events (
        event_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        issue_id   TEXT NOT NULL,
        event_type TEXT NOT NULL,
        actor      TEXT NOT NULL,
        field      TEXT,
        old_value  TEXT,
        new_value  TEXT,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX events_issue ON events (issue_id, event_id);
      CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
      CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

      CREATE TABLE child_counters (
        parent_id  TEXT PRIMARY KEY NOT NULL,
        last_child INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE config (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    description: 'covering indexes for ready work and blocker checks',
    sql: /* sql */ `
      -- Ready work walks this index in priority order and stops at the limit, never touching wide rows.
      CREATE INDEX issues_ready ON issues (status, ephemeral, priority, created_at, id);
      -- Blocker checks read a bead's status by id without loading its text.
      CREATE INDEX issues_id_status ON issues (id, status);
      -- Target-first, covering: "who depends on X" probes (blocked propagation, counts) never scan by type.
      DROP INDEX dependencies_target;
      CREATE INDEX dependencies_target ON dependencies (depends_on_id, type, issue_id);
      DROP INDEX issues_status_priority;
    `,
  },
  {
    version: 3,
    description: 'agents and their chains of sessions',
    sql: /* sql */ `
      -- Persistent identities. Nothing here says whether an agent is running: that is observed from tmux.
      CREATE TABLE agents (
        address       TEXT PRIMARY KEY NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('mayor', 'deacon', 'boot', 'witness', 'refinery', 'polecat', 'crew')),
        rig           TEXT,
        name          TEXT,
        hook_bead     TEXT REFERENCES issues (id) ON DELETE SET NULL,
        agent_state   TEXT NOT NULL DEFAULT 'idle' CHECK (agent_state IN ('spawning', 'working', 'idle', 'stuck', 'done')),
        runtime       TEXT,
        session_name  TEXT NOT NULL UNIQUE,
        sandbox_path  TEXT NOT NULL UNIQUE,
        branch        TEXT,
        created_at    TEXT NOT NULL,
        last_activity TEXT
      ) STRICT;
      CREATE INDEX agents_rig ON agents (rig, role);
      CREATE UNIQUE INDEX agents_hook ON agents (hook_bead) WHERE hook_bead IS NOT NULL;

      -- Each agent's CV: the sessions that ran it, in order.
      CREATE TABLE sessions (
        session_id         TEXT PRIMARY KEY NOT NULL,
        agent              TEXT NOT NULL REFERENCES agents (address) ON DELETE CASCADE,
        bead_id            TEXT,
        runtime            TEXT NOT NULL,
        runtime_session_id TEXT,
        started_at         TEXT NOT NULL,
        ended_at           TEXT,
        end_reason         TEXT CHECK (end_reason IS NULL OR end_reason IN ('exited', 'handoff', 'killed', 'crashed', 'replaced', 'lost')),
        CHECK ((ended_at IS NULL) = (end_reason IS NULL))
      ) STRICT;
      CREATE INDEX sessions_agent ON sessions (agent, started_at);
      -- At most one open session per agent.
      CREATE UNIQUE INDEX sessions_open ON sessions (agent) WHERE ended_at IS NULL;
    `,
  },
  {
    version: 4,
    description: 'rigs',
    sql: /* sql */ `
      CREATE TABLE rigs (
        name           TEXT PRIMARY KEY NOT NULL,
        prefix         TEXT NOT NULL UNIQUE,
        url            TEXT NOT NULL,
        default_branch TEXT NOT NULL,
        path           TEXT NOT NULL UNIQUE,
        created_at     TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    description: 'nudges queued for busy or absent agents',
    sql: /* sql */ `
      -- Text for an agent that could not take it when it was sent: delivered at its next turn boundary (a
      -- prompt-submit or stop hook), when it is idle, or by its next prime; then marked, never deleted.
      CREATE TABLE nudges (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient    TEXT NOT NULL REFERENCES agents (address) ON DELETE CASCADE,
        sender       TEXT NOT NULL,
        body         TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 16384),
        urgent       INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1)),
        created_at   TEXT NOT NULL,
        delivered_at TEXT,
        delivered_by TEXT
      ) STRICT;
      CREATE INDEX nudges_pending ON nudges (recipient, id) WHERE delivered_at IS NULL;
    `,
  },
  {
    version: 6,
    description: 'estimates, due dates, deferral and spec links on beads',
    sql: /* sql */ `
      -- beads' estimated_minutes, due_at, defer_until and spec_id. A bead with defer_until in the future is
      -- not ready work; the others are information for people and tools.
      ALTER TABLE issues ADD COLUMN estimated_minutes INTEGER CHECK (estimated_minutes IS NULL OR estimated_minutes >= 0);
      ALTER TABLE issues ADD COLUMN due_at TEXT;
      ALTER TABLE issues ADD COLUMN defer_until TEXT;
      ALTER TABLE issues ADD COLUMN spec_id TEXT;
      -- Ledgers imported before this version kept these fields verbatim in extra: move them into their columns.
      UPDATE issues SET
        estimated_minutes = CASE WHEN json_type(extra, '$.estimated_minutes') = 'integer'
                                  AND json_extract(extra, '$.estimated_minutes') >= 0
                                 THEN json_extract(extra, '$.estimated_minutes') END,
        due_at = ${utcTimestampFromExtra('due_at')},
        defer_until = ${utcTimestampFromExtra('defer_until')},
        spec_id = CASE WHEN json_type(extra, '$.spec_id') = 'text' AND json_extract(extra, '$.spec_id') <> ''
                       THEN json_extract(extra, '$.spec_id') END
       WHERE json_type(extra, '$.estimated_minutes') = 'integer' AND json_extract(extra, '$.estimated_minutes') >= 0
          OR json_type(extra, '$.due_at') = 'text' OR json_type(extra, '$.defer_until') = 'text'
          OR (json_type(extra, '$.spec_id') = 'text' AND json_extract(extra, '$.spec_id') <> '');
      -- Each moved field leaves extra; one that did not move (an odd value) stays there as it was.
${['estimated_minutes', 'due_at', 'defer_until', 'spec_id']
  .map(
    (f) =>
      `      UPDATE issues SET extra = json_remove(extra, '$.${f}') WHERE ${f} IS NOT NULL AND json_type(extra, '$.${f}') IS NOT NULL;`,
  )
  .join('\n')}
    `,
  },
  {
    version: 7,
    description: 'the town held down (gt down) until gt up',
    sql: /* sql */ `
      -- One row at most: present while the town was told to stay down. An intent, not an observation; while
      -- it holds no session starts (the check is in the transaction that opens a session's record).
      CREATE TABLE town_hold (
        id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
        since TEXT NOT NULL,
        actor TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 8,
    description: 'slings queued for capacity (scheduler.max_polecats), and the scheduler paused',
    sql: /* sql */ `
      -- A sling beyond capacity waits here until a polecat frees up; a dispatcher claims it by compare-and-set
      -- (state and claim in one update), so two never start the same one. Ended slings stay, as the record.
      CREATE TABLE sling_queue (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        bead_id     TEXT NOT NULL,
        rig         TEXT NOT NULL,
        target      TEXT NOT NULL CHECK (length(target) > 0),
        create_new  INTEGER NOT NULL DEFAULT 0 CHECK (create_new IN (0, 1)),
        args        TEXT,
        agent_cli   TEXT,
        priority    INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 4),
        queued_by   TEXT NOT NULL,
        queued_at   TEXT NOT NULL,
        state       TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'dispatching', 'dispatched', 'dropped', 'cancelled')),
        claimed_by  TEXT,
        claimed_at  TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        last_error  TEXT,
        failed_at   TEXT,
        finished_at TEXT,
        outcome     TEXT,
        CHECK ((state = 'dispatching') = (claimed_by IS NOT NULL))
      ) STRICT;
      -- One pending sling per bead.
      CREATE UNIQUE INDEX sling_queue_pending ON sling_queue (bead_id) WHERE state IN ('queued', 'dispatching');
      CREATE INDEX sling_queue_state ON sling_queue (state, id);

      -- One row at most: present while the scheduler is paused (gt scheduler pause), an intent like town_hold.
      CREATE TABLE scheduler_pause (
        id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
        since TEXT NOT NULL,
        actor TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 9,
    description: "problems the daemon saw, and the patrol agents' decisions about them",
    sql: /* sql */ `
      -- What may need judgment, as detected by code: operational state, not ledger beads (never exported).
      -- kind is checked by the code that writes it, not here: new kinds come with new detectors, and a CHECK
      -- would make each one a table rebuild. Resolved problems stay, as the record decisions are judged by.
      CREATE TABLE problems (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT NOT NULL CHECK (length(kind) > 0),
        subject      TEXT NOT NULL CHECK (length(subject) > 0),
        subject_type TEXT NOT NULL CHECK (subject_type IN ('agent', 'bead', 'merge-request', 'rig', 'town')),
        rig          TEXT,
        owner        TEXT NOT NULL CHECK (length(owner) > 0),
        summary      TEXT NOT NULL CHECK (length(summary) > 0),
        evidence     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(evidence)),
        state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'handling', 'escalated', 'resolved')),
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL,
        woken_at     TEXT,
        resolved_at  TEXT,
        resolution   TEXT,
        escalation   TEXT,
        CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
        CHECK ((state = 'resolved') = (resolution IS NOT NULL))
      ) STRICT;
      -- One live problem per subject and kind: two detection passes racing cannot open a second one. The
      -- daemon's sync reads the live problems of its kinds through this index too.
      CREATE UNIQUE INDEX problems_live ON problems (kind, subject) WHERE state <> 'resolved';
      -- A patrol agent's scan: its own problems by state.
      CREATE INDEX problems_owner ON problems (owner, state, id);
      CREATE INDEX problems_state ON problems (state, id);
      -- Recurrence: the latest resolved problem of a subject and kind.
      CREATE INDEX problems_resolved ON problems (kind, subject, resolved_at) WHERE state = 'resolved';

      -- Each decision keeps the evidence it was made on; its outcome is set later by what the problem did
      -- (went away: recovered; came back soon after: recurred). Escalations are settled when made.
      CREATE TABLE patrol_decisions (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        problem_id INTEGER NOT NULL REFERENCES problems (id),
        actor      TEXT NOT NULL CHECK (length(actor) > 0),
        action     TEXT NOT NULL CHECK (action IN ('nudge', 'wait', 'restart', 'start', 'handoff', 'resling',
                                                   'release', 'escalate', 'resume', 'dismiss')),
        reason     TEXT NOT NULL CHECK (length(reason) > 0),
        evidence   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(evidence)),
        decided_at TEXT NOT NULL,
        outcome    TEXT NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'recovered', 'recurred', 'escalated')),
        outcome_at TEXT,
        CHECK ((outcome = 'pending') = (outcome_at IS NULL))
      ) STRICT;
      CREATE INDEX patrol_decisions_problem ON patrol_decisions (problem_id, outcome);
      -- gt patrol history: the latest decisions, or those since a time.
      CREATE INDEX patrol_decisions_decided ON patrol_decisions (decided_at);
    `,
  },
  {
    version: 10,
    description: "token usage read from the agent CLIs' records, and the records to read",
    sql: /* sql */ `
      -- One row per model response. key is unique over every record (Claude's message id, say), so that
      -- reading a transcript twice never counts twice. Operational data, never exported; kept when its agent
      -- goes (what was spent stays spent).
      CREATE TABLE usage (
        key                TEXT PRIMARY KEY NOT NULL CHECK (length(key) > 0),
        source             TEXT NOT NULL,
        agent              TEXT NOT NULL CHECK (length(agent) > 0),
        session_id         TEXT,
        bead_id            TEXT,
        runtime            TEXT NOT NULL,
        model              TEXT NOT NULL,
        at                 TEXT NOT NULL,
        input_tokens       INTEGER NOT NULL CHECK (input_tokens >= 0),
        output_tokens      INTEGER NOT NULL CHECK (output_tokens >= 0),
        cache_read_tokens  INTEGER NOT NULL CHECK (cache_read_tokens >= 0),
        cache_write_tokens INTEGER NOT NULL CHECK (cache_write_tokens >= 0)
      ) STRICT;
      -- Totals since a time (the day's, for budgets), and one agent's.
      CREATE INDEX usage_at ON usage (at);
      CREATE INDEX usage_agent ON usage (agent, at);

      -- The records to read: each named by an agent's start-up hook (Claude's transcript_path) or found.
      CREATE TABLE usage_sources (
        path               TEXT PRIMARY KEY NOT NULL CHECK (length(path) > 0),
        agent              TEXT NOT NULL CHECK (length(agent) > 0),
        runtime            TEXT NOT NULL,
        format             TEXT NOT NULL CHECK (format IN ('claude', 'codex')),
        runtime_session_id TEXT,
        recorded_at        TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 11,
    description: 'where each usage record was read to, so that a restarted reader resumes there',
    sql: /* sql */ `
      -- The byte after the last line taken; the file's size then (NULL: never read, or that read stopped
      -- short and the next reads on); what the reader carries between reads (Codex's running totals, JSON).
      ALTER TABLE usage_sources ADD COLUMN read_offset INTEGER NOT NULL DEFAULT 0 CHECK (read_offset >= 0);
      ALTER TABLE usage_sources ADD COLUMN read_size INTEGER CHECK (read_size IS NULL OR read_size >= 0);
      ALTER TABLE usage_sources ADD COLUMN reader_state TEXT CHECK (reader_state IS NULL OR json_valid(reader_state));
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);
