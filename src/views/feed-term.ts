/**
 * The terminal under the full-screen feed: the alternate screen with the cursor hidden and wrapping off, keys
 * read raw, and a frame written as only the lines that changed. Leaving restores the terminal as it was, and is
 * safe to call more than once (on quit, on a signal, on a crash, at exit).
 */

export type Screen = {
  columns(): number;
  rows(): number;
  write(text: string): void;
  /** Takes over the terminal: alternate screen, no cursor, no wrapping, raw keys. */
  enter(): void;
  /** Gives the terminal back as it was (also before attaching to an agent, which needs it whole). */
  leave(): void;
  onKeys(fn: (data: string) => void): void;
  onResize(fn: () => void): void;
  /** Stops listening (keys and resizes), so that the process can end. */
  close(): void;
};

const ENTER = '\u001b[?1049h\u001b[?25l\u001b[?7l\u001b[H\u001b[2J';
const LEAVE = '\u001b[0m\u001b[?7h\u001b[?25h\u001b[?1049l';

/**
 * What to write to turn the screen `before` into `after` (both one string per line): only the lines that
 * differ, each from its first column and cleared to the end; everything when there is no `before` (first
 * frame, after a resize, after coming back from an attach).
 */
export function frameDiff(before: readonly string[] | null, after: readonly string[]): string {
  let out = before === null ? '\u001b[H\u001b[2J' : '';
  after.forEach((line, i) => {
    if (before !== null && before[i] === line) return;
    out += `\u001b[${i + 1};1H${line}\u001b[K`;
  });
  if (before !== null) for (let i = after.length; i < before.length; i++) out += `\u001b[${i + 1};1H\u001b[K`;
  return out;
}

/** Whether to colour: a terminal that can, and no NO_COLOR (https://no-color.org) set to anything. */
export function useColor(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

/** This process's own terminal (standard input and output must both be terminals). */
export function processScreen(): Screen {
  const stdin = process.stdin;
  const stdout = process.stdout;
  let inside = false;
  let keys: ((data: string) => void) | undefined;
  let resize: (() => void) | undefined;
  const onData = (chunk: Buffer | string): void => keys?.(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  const onResize = (): void => resize?.();
  return {
    columns: () => stdout.columns,
    rows: () => stdout.rows,
    write: (text) => {
      stdout.write(text);
    },
    enter: () => {
      if (inside) return;
      inside = true;
      stdout.write(ENTER);
      stdin.setRawMode(true);
      stdin.on('data', onData);
      stdin.resume();
    },
    leave: () => {
      if (!inside) return;
      inside = false;
      // Not reading while away: an attached tmux client gets every key.
      stdin.off('data', onData);
      stdin.pause();
      stdin.setRawMode(false);
      stdout.write(LEAVE);
    },
    onKeys: (fn) => {
      keys = fn;
    },
    onResize: (fn) => {
      resize = fn;
      stdout.on('resize', onResize);
    },
    close: () => {
      keys = undefined;
      resize = undefined;
      stdout.off('resize', onResize);
      stdin.off('data', onData);
      stdin.pause();
    },
  };
}

/**
 * What ends the process when the full-screen feed crashes (an uncaught exception, an unhandled rejection):
 * the terminal given back first, so that what happened shows on the normal screen, then the error, then a
 * non-zero exit (70, as for any bug).
 */
export function crashHandler(
  screen: Pick<Screen, 'leave'>,
  err: (text: string) => void,
  exit: (code: number) => void,
): (error: unknown) => void {
  return (error) => {
    try {
      screen.leave();
    } finally {
      const what = error instanceof Error ? (error.stack ?? error.message) : String(error);
      err(`gt feed crashed (this is a bug; please report it with what you were doing): ${what}\n`);
      exit(70);
    }
  };
}
