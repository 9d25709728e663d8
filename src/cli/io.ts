import { readFileSync } from 'node:fs';
import { GtError, InternalError, UsageError, errorMessage } from '../core/errors.js';

/** Everything a command touches of its process, passed in so tests can drive commands without spawning. */
export type Io = {
  out(text: string): void;
  err(text: string): void;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** The whole of standard input (for `-` file arguments and `--stdin`). */
  readStdin(): string;
};

export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    stdoutIsTTY: process.stdout.isTTY,
    stderrIsTTY: process.stderr.isTTY,
    env: process.env,
    cwd: process.cwd(),
    readStdin: () => readFileSync(0, 'utf8'),
  };
}

/** JSON output: 2-space indent like beads, newline-terminated. */
export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Reads a text argument given as a file path, or `-` for standard input. */
export function readTextArg(io: Io, path: string): string {
  if (path === '-') return io.readStdin();
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${errorMessage(err)}`);
  }
}

/**
 * The single error boundary of a binary: maps a thrown error to one line on stderr (or a JSON object with
 * `--json`) and returns the exit code. Unknown errors are bugs and say so.
 */
export function reportError(io: Io, err: unknown, json: boolean): number {
  const error = err instanceof GtError ? err : new InternalError(errorMessage(err), { cause: err, hint: 'this is a bug; please report it with the command you ran' });
  if (json) {
    const payload: Record<string, string> = { error: error.message, code: error.code };
    if (error.hint !== undefined) payload.hint = error.hint;
    io.err(`${JSON.stringify(payload)}\n`);
  } else {
    const hint = error.hint === undefined ? '' : ` — ${oneLine(error.hint)}`;
    io.err(`Error: ${oneLine(error.message)}${hint}\n`);
  }
  if (error instanceof InternalError && err instanceof Error && err.stack !== undefined && io.env.GT_DEBUG !== undefined) {
    io.err(`${err.stack}\n`);
  }
  return error.exitCode;
}

/** Keeps an error message on one line and free of terminal control sequences. */
export function oneLine(text: string): string {
  return sanitize(text).replace(/\s*\n\s*/g, ' ');
}

/** Makes text safe to print to a terminal: control characters (ESC and friends) become visible escapes. */
export function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
