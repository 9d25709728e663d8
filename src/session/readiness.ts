import { classifyPane, type PaneProfile, type PaneState } from '../core/pane.js';
import type { SessionProvider } from './provider.js';

/**
 * Waiting for an agent CLI to be ready for input: its process running, its start-up dialogs (folder trust,
 * permission-mode warnings) answered, and its prompt on screen — or, for a CLI with no prompt to see, a fixed
 * delay. A CLI that is already busy (working on a first prompt given on its command line) is ready too.
 */

export type ReadyOptions = {
  profile: PaneProfile;
  processNames: readonly string[];
  timeoutMs: number;
  /** For profiles without a prompt: assume ready after this long. */
  delayMs?: number;
  pollMs?: number;
  /** Called when a dialog is answered (progress output). */
  onDialog?: (name: string) => void;
};

export type ReadyResult = {
  ready: boolean;
  /** What the pane showed last; `exited` when the agent program died while starting. */
  state: PaneState['kind'] | 'exited';
  dialogs: string[];
  waitedMs: number;
  /** The last lines of the pane, for an error message when not ready. */
  tail: string;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Between two keys of one dialog answer, and before answering the same dialog again. */
const KEY_GAP_MS = 150;
const DIALOG_RETRY_MS = 1_500;
const LIVENESS_EVERY_MS = 1_000;

/** The last non-blank lines (tmux prints "Pane is dead" below a gap of blank lines). */
function lastLines(text: string, n = 8): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-n)
    .join('\n');
}

export async function waitReady(provider: SessionProvider, name: string, options: ReadyOptions): Promise<ReadyResult> {
  const start = Date.now();
  const pollMs = options.pollMs ?? 150;
  const dialogs: string[] = [];
  let answered: { name: string; at: number } | undefined;
  let checkedLiveness = 0;
  let pane = '';
  let state: PaneState['kind'] | 'exited' = 'starting';
  const done = (ready: boolean): ReadyResult => ({
    ready,
    state,
    dialogs,
    waitedMs: Date.now() - start,
    tail: lastLines(pane),
  });
  for (;;) {
    const elapsed = Date.now() - start;
    if (!(await provider.isAlive(name))) {
      state = 'exited';
      return done(false);
    }
    if (Date.now() - checkedLiveness >= LIVENESS_EVERY_MS) {
      checkedLiveness = Date.now();
      // The launcher shell execs the agent at once; after a moment a dead agent means it failed to start.
      if (elapsed > 500 && (await provider.agentLiveness(name, options.processNames)) === 'dead') {
        pane = await provider.capture(name, 20).catch(() => pane);
        state = 'exited';
        return done(false);
      }
    }
    pane = await provider.capture(name).catch(() => pane);
    const seen = classifyPane(pane, options.profile);
    state = seen.kind;
    // Text on the prompt line at start-up is the first prompt, not yet taken: not ready until it is.
    // A question (a permission prompt, a request for help) means the CLI is up and waits for someone: started.
    if ((seen.kind === 'idle' && seen.input === '') || seen.kind === 'busy' || seen.kind === 'question')
      return done(true);
    if (seen.kind === 'unknown' && elapsed >= (options.delayMs ?? 0)) return done(true);
    if (seen.kind === 'dialog' && (answered?.name !== seen.dialog.name || Date.now() - answered.at > DIALOG_RETRY_MS)) {
      for (const [i, key] of seen.dialog.keys.entries()) {
        if (i > 0) await sleep(KEY_GAP_MS);
        await provider.sendKeys(name, [key]);
      }
      answered = { name: seen.dialog.name, at: Date.now() };
      if (!dialogs.includes(seen.dialog.name)) {
        dialogs.push(seen.dialog.name);
        options.onDialog?.(seen.dialog.name);
      }
    }
    if (elapsed >= options.timeoutMs) return done(false);
    await sleep(pollMs);
  }
}
