import { errorMessage } from '../core/errors.js';
import { PaneWatch } from '../observe/snapshot.js';
import { buildTownView, StateMemory, type TownView, type UsageSource, type ViewContext } from './model.js';

/**
 * One watcher of the town for any number of viewers (every open dashboard tab, a feed): it asks the store for
 * its change mark a few times a second (one PRAGMA, no subprocess) and rebuilds the view (one observe) only
 * when the mark moved, or on a slow safety tick for what only tmux shows (a pane that moved, an agent that
 * died with no daemon to record it). Rebuilds never overlap, and two are at least `minGapMs` apart, so a busy
 * town costs a viewer a bounded number of observes however fast the store changes.
 */

export type WatchCause = 'first' | 'store' | 'tick' | 'asked';

export type WatchOptions = {
  /** How often the change mark is read (default 250 ms). */
  pollMs?: number;
  /** A rebuild at least this often even when the store did not change (default 10 s). */
  safetyMs?: number;
  /** Two rebuilds at least this far apart (default 500 ms). */
  minGapMs?: number;
  rig?: string;
  events?: number;
  usage?: UsageSource;
  onError?: (message: string) => void;
};

export type TownWatch = {
  /** The last view built, once there is one. */
  latest(): TownView | undefined;
  /** Rebuild as soon as the gap allows (after an action taken from a view). */
  refresh(): void;
  /** Resolves once the watcher has stopped (an in-flight rebuild finishes first). */
  stop(): Promise<void>;
};

export function watchTown(
  ctx: ViewContext,
  onView: (view: TownView, cause: WatchCause) => void,
  options: WatchOptions = {},
): TownWatch {
  const pollMs = options.pollMs ?? 250;
  const safetyMs = options.safetyMs ?? 10_000;
  const minGapMs = options.minGapMs ?? 500;
  const panes = new PaneWatch();
  const states = new StateMemory();
  let latest: TownView | undefined;
  let mark: string | undefined;
  let lastBuild = -Infinity;
  let asked = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  const loop = async (): Promise<void> => {
    let first = true;
    while (!stopped) {
      try {
        const now = Date.now();
        const current = await ctx.store.changeMark();
        const cause: WatchCause | undefined = first
          ? 'first'
          : asked
            ? 'asked'
            : current !== mark
              ? 'store'
              : now - lastBuild >= safetyMs
                ? 'tick'
                : undefined;
        if (cause !== undefined && now - lastBuild >= minGapMs) {
          asked = false;
          first = false;
          lastBuild = now;
          latest = await buildTownView(ctx, {
            watch: panes,
            states,
            rig: options.rig,
            events: options.events,
            usage: options.usage,
          });
          // Only a view that was built moves the mark: a failed rebuild is tried again at the next poll.
          mark = current;
          if (!stopped) onView(latest, cause);
        }
      } catch (err) {
        first = false;
        lastBuild = Date.now();
        if (!stopped) options.onError?.(errorMessage(err));
      }
      if (!stopped) await sleep(pollMs);
    }
  };
  const running = loop();

  return {
    latest: () => latest,
    refresh: () => {
      asked = true;
      if (timer !== undefined) clearTimeout(timer);
      wake?.();
    },
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      wake?.();
      await running;
    },
  };
}
