import { fstatSync, readFileSync, statSync, writeSync } from 'node:fs';
import { GtError, InternalError, UsageError, ValidationError, errorMessage, isRecord } from '../core/errors.js';

/** Everything a command touches of its process, passed in so tests can drive commands without spawning. */
export type Io = {
  out(text: string): void;
  err(text: string): void;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  readonly stdinIsTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** The whole of standard input (for `-` file arguments and `--stdin`). */
  readStdin(): string;
};

/**
 * The real process. Output goes straight to file descriptors 1 and 2 with synchronous writes: creating
 * process.stdout costs a short-lived CLI ~5 ms, and synchronous writes can never be cut off by an early exit.
 */
export function processIo(): Io {
  return {
    out: (text) => writeAll(1, text),
    err: (text) => writeAll(2, text),
    get stdoutIsTTY() {
      return isTerminal(1);
    },
    get stderrIsTTY() {
      return isTerminal(2);
    },
    get stdinIsTTY() {
      return isTerminal(0);
    },
    env: process.env,
    cwd: process.cwd(),
    readStdin: () => decodeUtf8(readFileSync(0), 'standard input'),
  };
}

/**
 * A terminal: a character device other than /dev/null (which is one too). Read with fstat rather than
 * node:tty, whose loading (it brings node:net) would cost every short-lived call a few milliseconds.
 */
let devNull: number | undefined;
function isTerminal(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isCharacterDevice() && st.rdev !== (devNull ??= statSync('/dev/null').rdev);
  } catch {
    return false;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text`, waiting out a non-blocking pipe that is full, and giving up quietly on a closed one. */
function writeAll(fd: number, text: string): void {
  const buffer = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += writeSync(fd, buffer, offset, buffer.length - offset);
    } catch (err) {
      const code = isRecord(err) ? err.code : undefined;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (code === 'EPIPE') return;
      throw err;
    }
  }
}

/** JSON output: 2-space indent like beads, newline-terminated. */
export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Reads a text argument given as a file path, or `-` for standard input. */
export function readTextArg(io: Io, path: string): string {
  if (path === '-') return io.readStdin();
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${errorMessage(err)}`);
  }
  return decodeUtf8(bytes, path);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Text from outside, decoded exactly or refused: bytes that are not UTF-8 would otherwise be stored changed
 * (each bad byte silently replaced by U+FFFD).
 */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ValidationError(`${what} is not valid UTF-8 (byte ${firstInvalidUtf8(bytes)} is the first that is not)`, {
      hint: 'convert it first, e.g. iconv -f latin1 -t utf-8; nothing was stored',
    });
  }
}

/** The offset of the first byte that breaks UTF-8 (an invalid lead or continuation byte, or a cut-off sequence). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    const [n, min] =
      b < 0x80
        ? [0, 0]
        : b >= 0xc2 && b < 0xe0
          ? [1, 0x80]
          : b >= 0xe0 && b < 0xf0
            ? [2, 0x800]
            : b >= 0xf0 && b < 0xf5
              ? [3, 0x10000]
              : [-1, 0];
    if (n < 0) return i;
    let cp = n === 0 ? b : b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * How a binary reports errors. `exitCode` replaces every error's own exit code (bd exits 1 for every error, as
 * beads does, keeping the kind in the JSON `code`); `jsonFields` are added to every JSON error object.
 */
export type ErrorStyle = { exitCode?: number; jsonFields?: Readonly<Record<string, string | number>> };

/**
 * The single error boundary of a binary: maps a thrown error to one line on stderr (or a JSON object with
 * `--json`) and returns the exit code. Unknown errors are bugs and say so.
 */
export function reportError(io: Io, err: unknown, json: boolean, style: ErrorStyle = {}): number {
  const error =
    err instanceof GtError
      ? err
      : new InternalError(errorMessage(err), {
          cause: err,
          hint: 'this is a bug; please report it with the command you ran',
        });
  if (json) {
    const payload: Record<string, string | number> = { error: error.message, code: error.code };
    if (error.hint !== undefined) payload.hint = error.hint;
    Object.assign(payload, style.jsonFields);
    io.err(`${JSON.stringify(payload)}\n`);
  } else {
    const hint = error.hint === undefined ? '' : ` — ${oneLine(error.hint)}`;
    io.err(`Error: ${oneLine(error.message)}${hint}\n`);
  }
  if (
    error instanceof InternalError &&
    err instanceof Error &&
    err.stack !== undefined &&
    io.env.GT_DEBUG !== undefined
  ) {
    io.err(`${err.stack}\n`);
  }
  return style.exitCode ?? error.exitCode;
}

/** Keeps an error message on one line and free of terminal control sequences. */
export function oneLine(text: string): string {
  return sanitize(text).replace(/\s*\n\s*/g, ' ');
}

/** Makes text safe to print to a terminal: control characters (ESC and friends) become visible escapes. */
export function sanitize(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** A duration in the unit that reads best: 42s, 17m, 5h. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/** How long ago an instant was, as `span` says it. */
export function sinceIso(iso: string, nowMs: number): string {
  return span(nowMs - Date.parse(iso));
}
