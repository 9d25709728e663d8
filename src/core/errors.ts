/**
 * The error hierarchy shared by every layer. Each class carries a stable `code` (for --json output) and an
 * `exitCode` (for the CLI boundary). Library code throws these; only the CLI entry points map them to exits.
 */
export type ErrorCode =
  | 'validation'
  | 'not_found'
  | 'conflict'
  | 'no_database'
  | 'no_town'
  | 'already_initialized'
  | 'cycle'
  | 'usage'
  | 'setup'
  | 'git'
  | 'agent_exited'
  | 'agent_not_ready'
  | 'damaged_store'
  | 'town_down'
  | 'at_capacity'
  | 'internal';

export class GtError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  /** What the user can do about it, printed after the message. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, exitCode: number, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options?.hint;
  }
}

/** Bad input: an invalid status, type, priority, empty title, malformed id or file. Nothing was written. */
export class ValidationError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('validation', 2, message, options);
  }
}

/** Wrong command-line usage (unknown flag, missing argument). */
export class UsageError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('usage', 2, message, options);
  }
}

/** An id that names nothing in the store. */
export class NotFoundError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('not_found', 3, message, options);
  }
}

/** A compare-and-set lost: the bead is held by someone else, or an id is already taken. */
export class ConflictError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('conflict', 4, message, options);
  }
}

/** A dependency that would close a loop of blocking edges. */
export class CycleError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('cycle', 4, message, options);
  }
}

/** No `.beads/` database could be found or opened. */
export class NoDatabaseError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('no_database', 5, message, options);
  }
}

/** A `gt` command run outside any town. */
export class NoTownError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('no_town', 5, message, options);
  }
}

/** `init` over an existing workspace. */
export class AlreadyInitializedError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('already_initialized', 6, message, options);
  }
}

/** The installation is broken: a native module built for another Node.js, a missing dependency. */
export class SetupError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('setup', 7, message, options);
  }
}

/**
 * The store's file is damaged (truncated, overwritten, not a database): not a bug, and not something to
 * repair by writing over it. Nothing was changed; the message says what to do.
 */
export class DamagedStoreError extends GtError {
  constructor(path: string, detail: string, options?: { cause?: unknown }) {
    super('damaged_store', 10, `the store ${path} is damaged (${detail}); nothing was changed`, {
      ...options,
      hint: `"gt doctor" checks it; to restore it from the ledger, move it aside and run "bd init" then "bd import" of .beads/issues.jsonl`,
    });
  }
}

/**
 * The town was told to stay down (`gt down`): no session starts until `gt up`. Nothing was started; work
 * already hooked stays on its hook.
 */
export class TownDownError extends GtError {
  constructor(hold?: { since: string; by: string }) {
    super(
      'town_down',
      4,
      `the town is down${hold === undefined ? '' : ` (gt down by ${hold.by} at ${hold.since})`}: no session starts until "gt up"`,
      { hint: 'start the town with "gt up"; work on a hook starts then' },
    );
  }
}

/**
 * No room for one more busy polecat (`scheduler.max_polecats`): nothing was hooked. `gt sling` queues the sling
 * instead; the scheduler tries again when a polecat frees up.
 */
export class AtCapacityError extends GtError {
  constructor(why: string) {
    super('at_capacity', 4, why, { hint: 'it waits in the queue: "gt scheduler status" shows it' });
  }
}

/** A bug: an invariant the code relies on did not hold. */
export class InternalError extends GtError {
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super('internal', 70, message, options);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A type guard for plain JSON-like objects (not arrays, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
