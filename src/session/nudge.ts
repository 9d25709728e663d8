import {
  classifyPane,
  paneShowsTyped,
  sanitizeTypedText,
  stillUnsubmitted,
  typistProfile,
  type PaneProfile,
  type PaneState,
} from '../core/pane.js';
import { ValidationError } from '../core/errors.js';
import { withFileLock } from '../exec/lock.js';
import { SessionNotFoundError, type SessionProvider } from './provider.js';

/**
 * Typing a message into a live agent's pane so that it arrives whole, once, and on its own:
 *
 * 1. one typist per session at a time, across processes (a lock file);
 * 2. wait until the agent is idle at an empty prompt (never type into its work, never onto a human's draft);
 * 3. one line of plain text, typed literally in chunks;
 * 4. check the pane shows what was typed, then press Enter;
 * 5. check the prompt let go of it, pressing Enter again (with back-off) only while it visibly has not.
 *
 * No Escape, no Ctrl-C: nothing that could cancel the agent's work. A busy agent gets nothing typed: the
 * caller queues the message for the agent's next turn boundary instead. An agent waiting at a modal question
 * (a permission prompt, a menu) gets nothing typed either, `immediate` or not: there Enter or a digit picks an
 * answer, and the answer is for a person to give. A notice above an idle prompt (a usage limit) is no such
 * question: the prompt takes the text (core/pane typistProfile).
 */

export type NudgeOptions = {
  profile: PaneProfile;
  /** Lock file for this session (one per session, shared by every gt process). */
  lockPath: string;
  /** How long to wait for the agent to become idle before giving up with `busy`. */
  waitIdleMs: number;
  /** Type even into a busy agent (a CLI that queues typed input, or a human's explicit choice). */
  immediate?: boolean;
  pollMs?: number;
};

export type NudgeOutcome = 'delivered' | 'busy' | 'typing' | 'not-ready' | 'question';

export type NudgeResult = {
  outcome: NudgeOutcome;
  /** The text as typed. */
  text: string;
  /** The pane confirmed both the typing and the submission. */
  verified: boolean;
  enterPresses: number;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Re-press Enter only after these waits, while the prompt still visibly holds the text. */
const ENTER_BACKOFF_MS = [500, 1_000, 2_000] as const;
const LOCK_TIMEOUT_MS = 60_000;
/** A profile without a prompt to watch: give the CLI this long to take typed text before Enter. */
const BLIND_SETTLE_MS = 500;

/** Why nothing is typed into a pane in this state (a busy pane, or a draft on the prompt, unless told to type). */
export function untypedOutcome(state: PaneState): Exclude<NudgeOutcome, 'delivered'> {
  switch (state.kind) {
    case 'busy':
      return 'busy';
    case 'idle':
      return 'typing';
    case 'question':
      return 'question';
    case 'dialog':
    case 'starting':
    case 'unknown':
      return 'not-ready';
  }
}

async function idleState(
  provider: SessionProvider,
  name: string,
  options: NudgeOptions,
  typist: PaneProfile,
): Promise<PaneState> {
  const deadline = Date.now() + options.waitIdleMs;
  const pollMs = options.pollMs ?? 150;
  let idleSeen = 0;
  for (;;) {
    const state = classifyPane(await provider.capture(name), typist);
    // Idle at an empty prompt twice in a row: right after Enter some CLIs still show their prompt for a
    // moment, and text on the prompt line (a human's draft, a first prompt about to be submitted) may clear.
    idleSeen = state.kind === 'idle' && state.input === '' ? idleSeen + 1 : 0;
    if (idleSeen >= 2 || state.kind === 'unknown' || state.kind === 'question') return state;
    if (Date.now() >= deadline) return state;
    await sleep(pollMs);
  }
}

async function waitUntil(fn: () => Promise<boolean>, timeoutMs: number, pollMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

export async function typeNudge(
  provider: SessionProvider,
  name: string,
  message: string,
  options: NudgeOptions,
): Promise<NudgeResult> {
  const text = sanitizeTypedText(message);
  if (text === '')
    throw new ValidationError('nothing to type: the message is empty once control characters are removed');
  const pollMs = options.pollMs ?? 100;
  const typist = typistProfile(options.profile);
  return withFileLock(
    options.lockPath,
    { timeoutMs: LOCK_TIMEOUT_MS, busy: 'another gt is typing into this session; try again' },
    async () => {
      if (!(await provider.isAlive(name))) throw new SessionNotFoundError(name);
      const before = await idleState(provider, name, options, typist);
      const typeable =
        before.kind === 'unknown' ||
        (before.kind === 'idle' && (before.input === '' || options.immediate === true)) ||
        (before.kind === 'busy' && options.immediate === true);
      if (!typeable) return { outcome: untypedOutcome(before), text, verified: false, enterPresses: 0 };

      await provider.sendText(name, text);
      const watchable = options.profile.promptPrefix !== undefined;
      if (!watchable) {
        await sleep(BLIND_SETTLE_MS);
        await provider.sendKeys(name, ['Enter']);
        return { outcome: 'delivered', text, verified: false, enterPresses: 1 };
      }
      const typed = await waitUntil(async () => paneShowsTyped(await provider.capture(name, 5), text), 3_000, pollMs);
      await provider.sendKeys(name, ['Enter']);
      const takenWithin = (ms: number): Promise<boolean> =>
        waitUntil(async () => !stillUnsubmitted(classifyPane(await provider.capture(name), typist), text), ms, pollMs);
      let presses = 1;
      for (const wait of ENTER_BACKOFF_MS) {
        if (await takenWithin(wait)) return { outcome: 'delivered', text, verified: typed, enterPresses: presses };
        await provider.sendKeys(name, ['Enter']);
        presses++;
      }
      return { outcome: 'delivered', text, verified: typed && (await takenWithin(2_000)), enterPresses: presses };
    },
  );
}
