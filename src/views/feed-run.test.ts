import { describe, expect, it } from 'vitest';
import { agentRow, townView } from '../../test/helpers/feed-views.js';
import { PROBLEMS_FAILURES_IN_A_ROW, printProblems, runFeed, type FeedPorts } from './feed.js';
import { crashHandler, type Screen } from './feed-term.js';
import type { TownView, ViewContext } from './model.js';
import type { TownWatch, WatchOptions } from './watch.js';

/**
 * The feed's life, driven through fakes of the terminal and of the town: it ends cleanly whatever was in flight
 * (no watcher left running, nothing drawn after it gave the terminal back), and a follow of the problems
 * outlives a failed read.
 */

const TOAST = 'gastown/polecats/toast';

/** Lets what is queued (promise callbacks, immediates) run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve: (v: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

type Entry = 'enter' | 'leave' | 'close' | 'frame' | 'text';

/** A terminal that records what is done to it, in order; `press` types, `resize` resizes. */
function fakeScreen(over: Partial<Screen> = {}): Screen & { log: Entry[]; press(data: string): void; resize(): void } {
  const log: Entry[] = [];
  let keys: ((data: string) => void) | undefined;
  let resized: (() => void) | undefined;
  return {
    log,
    columns: () => 100,
    rows: () => 40,
    write: (text) => log.push(text.startsWith('\u001b') ? 'frame' : 'text'),
    enter: () => log.push('enter'),
    leave: () => log.push('leave'),
    onKeys: (fn) => {
      keys = fn;
    },
    onResize: (fn) => {
      resized = fn;
    },
    close: () => log.push('close'),
    press: (data) => keys?.(data),
    resize: () => resized?.(),
    ...over,
  };
}

type FakeWatch = {
  rig: string | undefined;
  onView: (view: TownView) => void;
  options: WatchOptions;
  stopped: boolean;
};

/** Watchers of the town, each recorded; stopping one takes a moment, as a rebuild in flight does. */
function fakeWatches(): { started: FakeWatch[]; watch: FeedPorts['watch'] } {
  const started: FakeWatch[] = [];
  return {
    started,
    watch: (_ctx, onView, options): TownWatch => {
      const w: FakeWatch = { rig: options.rig, onView, options, stopped: false };
      started.push(w);
      return {
        latest: () => undefined,
        refresh: () => undefined,
        stop: async () => {
          w.stopped = true;
          await new Promise((r) => setImmediate(r));
        },
      };
    },
  };
}

const ctxWithRigs = (...rigs: string[]): ViewContext =>
  ({
    store: {
      rigs: () => Promise.resolve(rigs.map((name) => ({ name }))),
      rig: (name: string) => Promise.resolve({ name }),
    },
  }) as unknown as ViewContext;

/** What the screen saw after the feed let go of it (its close): only leaves, no frame, no enter. */
const afterEnd = (log: readonly Entry[]): Entry[] =>
  log.slice(log.lastIndexOf('close') + 1).filter((e) => e !== 'leave');

describe('the full-screen feed ends cleanly', () => {
  it('f then q at once: the watcher of the new rig is stopped too, and none starts after the end', async () => {
    const screen = fakeScreen();
    const w = fakeWatches();
    const run = runFeed(ctxWithRigs('gastown', 'beads'), screen, { color: false, actor: 'Ada', ports: w });
    await settle();
    screen.press('fq');
    await run;
    await settle();
    expect(w.started.map((x) => x.rig)).toEqual([undefined, 'beads']);
    expect(w.started.filter((x) => !x.stopped)).toEqual([]);
  });

  it('f twice quickly: each watcher replaced is stopped, and the last at the end', async () => {
    const screen = fakeScreen();
    const w = fakeWatches();
    const run = runFeed(ctxWithRigs('gastown', 'beads'), screen, { color: false, actor: 'Ada', ports: w });
    await settle();
    screen.press('ff');
    expect(w.started.map((x) => x.rig)).toEqual([undefined, 'beads', 'gastown']);
    expect(w.started.map((x) => x.stopped)).toEqual([true, true, false]);
    screen.press('q');
    await run;
    await settle();
    expect(w.started.filter((x) => !x.stopped)).toEqual([]);
  });

  it('after the end nothing is drawn: not for a failed read, a late view, a resize', async () => {
    const screen = fakeScreen();
    const w = fakeWatches();
    const run = runFeed(ctxWithRigs('gastown'), screen, { color: false, actor: 'Ada', ports: w });
    await settle();
    expect(screen.log).toContain('frame');
    screen.press('q');
    await run;
    for (const x of w.started) {
      x.options.onError?.('the store is closed');
      x.onView(townView());
    }
    screen.resize();
    await settle();
    expect(afterEnd(screen.log)).toEqual([]);
  });

  it('q during an action: the feed returns once the action is done, and draws nothing after', async () => {
    const screen = fakeScreen();
    const w = fakeWatches();
    const acted = deferred<{ text: string }>();
    const actions: string[] = [];
    const act: FeedPorts['act'] = (_ctx, action) => {
      actions.push(action.kind);
      return acted.promise;
    };
    let returned = false;
    const run = runFeed(ctxWithRigs('gastown'), screen, { color: false, actor: 'Ada', ports: { ...w, act } }).then(
      () => {
        returned = true;
      },
    );
    await settle();
    w.started[0]?.onView(townView({ agents: [agentRow(TOAST)] }));
    screen.press('hq');
    await settle();
    expect(actions).toEqual(['handoff']);
    expect(returned).toBe(false);
    acted.resolve({ text: `asked ${TOAST} to hand off` });
    await run;
    await settle();
    expect(afterEnd(screen.log)).toEqual([]);
  });

  it('ended while attached (a signal): coming back from the agent does not take the terminal again', async () => {
    const screen = fakeScreen();
    const w = fakeWatches();
    const detached = deferred<null>();
    const attach: FeedPorts['attach'] = (_ctx, _agent, options) => {
      options.before('ga-toast');
      return detached.promise;
    };
    const ac = new AbortController();
    const run = runFeed(ctxWithRigs('gastown'), screen, {
      color: false,
      actor: 'Ada',
      signal: ac.signal,
      ports: { ...w, attach },
    });
    await settle();
    w.started[0]?.onView(townView({ agents: [agentRow(TOAST)] }));
    screen.press('\r');
    expect(screen.log.at(-1)).toBe('text');
    ac.abort();
    await settle();
    detached.resolve(null);
    await run;
    await settle();
    expect(afterEnd(screen.log)).toEqual([]);
    expect(w.started.filter((x) => !x.stopped)).toEqual([]);
  });

  it('a terminal that cannot be taken over: the error comes out, the watcher is stopped, the terminal given back', async () => {
    const screen = fakeScreen({
      enter: () => {
        throw new Error('setRawMode EIO');
      },
    });
    const w = fakeWatches();
    await expect(runFeed(ctxWithRigs('gastown'), screen, { color: false, actor: 'Ada', ports: w })).rejects.toThrow(
      'setRawMode EIO',
    );
    expect(w.started.filter((x) => !x.stopped)).toEqual([]);
    expect(screen.log.at(-1)).toBe('leave');
  });

  it('a crash gives the terminal back first, then says what happened, then exits non-zero', () => {
    const seen: string[] = [];
    const crash = crashHandler(
      { leave: () => seen.push('leave') },
      (t) => seen.push(`err ${t}`),
      (code) => seen.push(`exit ${code}`),
    );
    crash(new Error('boom'));
    expect(seen[0]).toBe('leave');
    expect(seen[1]).toMatch(/^err gt feed crashed .*: Error: boom\n/su);
    expect(seen[2]).toBe('exit 70');
  });
});

describe('gt feed --problems --follow', () => {
  const follow = (
    w: ReturnType<typeof fakeWatches>,
    out: string[],
    err: string[],
    signal?: AbortSignal,
  ): Promise<void> =>
    printProblems(ctxWithRigs(), {
      follow: true,
      json: false,
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      signal,
      ports: w,
    });

  it('a failed read is told on stderr and the follow goes on; a good read starts the count again', async () => {
    const w = fakeWatches();
    const out: string[] = [];
    const err: string[] = [];
    const ac = new AbortController();
    let returned = false;
    const run = follow(w, out, err, ac.signal).then(() => {
      returned = true;
    });
    const watch = w.started[0];
    const fail = (n: number): void => {
      for (let i = 0; i < n; i++) watch?.options.onError?.('SQLITE_BUSY: database is locked');
    };
    fail(PROBLEMS_FAILURES_IN_A_ROW - 1);
    watch?.onView(townView());
    fail(PROBLEMS_FAILURES_IN_A_ROW - 1);
    await settle();
    expect(returned).toBe(false);
    expect(out.join('')).toContain('Nothing needs a person.');
    expect(err).toHaveLength(2 * (PROBLEMS_FAILURES_IN_A_ROW - 1));
    expect(err[0]).toBe('could not read the town (1 in a row): SQLITE_BUSY: database is locked\n');
    ac.abort();
    await run;
    expect(watch?.stopped).toBe(true);
  });

  it(`${PROBLEMS_FAILURES_IN_A_ROW} failed reads in a row end it, saying so in one line`, async () => {
    const w = fakeWatches();
    const err: string[] = [];
    const run = follow(w, [], err);
    for (let i = 0; i < PROBLEMS_FAILURES_IN_A_ROW; i++) w.started[0]?.options.onError?.('observe timed out');
    await expect(run).rejects.toThrow(
      `stopped following: ${PROBLEMS_FAILURES_IN_A_ROW} reads of the town failed in a row, the last with: observe timed out`,
    );
    expect(err).toHaveLength(PROBLEMS_FAILURES_IN_A_ROW);
    expect(w.started[0]?.stopped).toBe(true);
  });
});
