import type { BeadEvent } from '../core/bead.js';
import { errorMessage, GtError, ValidationError } from '../core/errors.js';
import { durationSeconds, normalizeTimestamp } from '../core/time.js';
import { attachAgent, peek } from '../work/sessions.js';
import { runViewAction, type ViewAction } from './actions.js';
import type { FeedEvent } from './events.js';
import { feedKey, initialUi, parseKeys, type Effect, type FeedUi } from './feed-keys.js';
import { age, clean, renderFeed } from './feed-render.js';
import { frameDiff, type Screen } from './feed-term.js';
import {
  buildTownView,
  eventsAfter,
  feedEvents,
  type Need,
  type TownView,
  type UsageSource,
  type ViewContext,
} from './model.js';
import { watchTown, type TownWatch, type WatchOptions } from './watch.js';

/**
 * `gt feed`: the town live in a terminal (one watcher per feed, so that an open feed costs the town one
 * observe per change), and its plain forms for logs and scripts: the event stream as lines, followed by
 * polling the store's change mark (no subprocess), and what needs a person.
 */

/** A one-line account of an error for the status line: its message, and what to do when it says. */
export function errorLine(err: unknown): string {
  const hint = err instanceof GtError && err.hint !== undefined ? ` (${err.hint})` : '';
  return clean(`${errorMessage(err)}${hint}`);
}

/** `--since 10m`, `2h`, `1d`, `1h30m` (back from now) or an RFC 3339 time, as an ISO instant. */
export function sinceArg(text: string, nowMs: number): string {
  const seconds = durationSeconds(text.trim());
  if (seconds !== undefined) return new Date(nowMs - seconds * 1000).toISOString();
  try {
    return normalizeTimestamp(text.trim());
  } catch {
    throw new ValidationError(`--since "${text}" is neither a duration nor a time`, {
      hint: 'give a duration back from now (90s, 10m, 1h, 2d) or a time such as 2026-01-02T03:04:05Z',
    });
  }
}

/**
 * Whether an event is about a rig: the rig itself, one of its agents (as subject or actor), or one of its
 * beads (by the rig's bead prefix).
 */
export function eventInRig(e: Pick<FeedEvent, 'subject' | 'actor'>, rig: { name: string; prefix: string }): boolean {
  return (
    e.subject === rig.name ||
    e.subject.startsWith(`${rig.name}/`) ||
    e.actor.startsWith(`${rig.name}/`) ||
    e.subject.startsWith(`${rig.prefix}-`)
  );
}

/** One event as a line of `gt feed --plain`: `<time> <actor> <text>`. */
export function plainLine(e: FeedEvent): string {
  return `${e.at} ${clean(e.actor)} ${clean(e.text)}`;
}

/** One need as a line of `gt feed --problems`. */
export function needLine(n: Need, nowMs: number): string {
  const who = n.owner === null ? '' : ` (${n.state}, ${clean(n.owner)})`;
  const seen = Number.isNaN(Date.parse(n.since)) ? '-' : age(nowMs - Date.parse(n.since));
  return `${n.severity.padEnd(8)} ${seen.padStart(4)}  ${n.kind.padEnd(10)} ${clean(n.subject)}: ${clean(n.summary)}${who}`;
}

export type PlainOptions = {
  /** Events at or after this instant (ISO); without it, the newest `last`. */
  since?: string;
  last?: number;
  follow: boolean;
  rig?: string;
  json: boolean;
  out: (text: string) => void;
  /** How often the change mark is read while following (default 200 ms). */
  pollMs?: number;
  /** Ends a follow. */
  signal?: AbortSignal;
};

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** `gt feed --plain`: the stream as lines (or JSON objects, one a line), and with `follow` every new one. */
export async function printEvents(ctx: ViewContext, o: PlainOptions): Promise<void> {
  const store = ctx.store;
  const rig = o.rig === undefined ? undefined : await store.rig(o.rig);
  const print = (events: readonly FeedEvent[]): void => {
    const shown = rig === undefined ? events : events.filter((e) => eventInRig(e, rig));
    if (shown.length > 0)
      o.out(
        shown
          .map((e) => (o.json ? JSON.stringify(e) : plainLine(e)))
          .join('\n')
          .concat('\n'),
      );
  };
  const page = 500;
  // The mark before the first read: whatever is written from here on is seen by the follow.
  let mark = await store.changeMark();
  let cursor: number;
  if (o.since !== undefined) {
    let raw: BeadEvent[] = await store.events({ since: o.since, limit: page });
    cursor = raw.at(-1)?.event_id ?? (await store.events({ newest: true, limit: 1 })).at(-1)?.event_id ?? 0;
    while (raw.length > 0) {
      print(await feedEvents(store, raw));
      if (raw.length < page) break;
      raw = await store.events({ after: cursor, limit: page });
      cursor = raw.at(-1)?.event_id ?? cursor;
    }
  } else {
    // The newest few (none with --last 0: only what comes next); with a rig, read further back so that the
    // rig's own show.
    const last = o.last ?? 20;
    const raw = await store.events({ newest: true, limit: Math.max(1, last * (rig === undefined ? 1 : 5)) });
    cursor = raw.at(-1)?.event_id ?? 0;
    if (last > 0) {
      const events = await feedEvents(store, raw);
      print((rig === undefined ? events : events.filter((e) => eventInRig(e, rig))).slice(-last));
    }
  }
  if (!o.follow) return;
  const stopped = (): boolean => o.signal?.aborted === true;
  while (!stopped()) {
    await sleep(o.pollMs ?? 200, o.signal);
    if (stopped()) return;
    const now = await store.changeMark();
    if (now === mark) continue;
    mark = now;
    for (;;) {
      const next = await eventsAfter(store, cursor, page);
      if (next.cursor === cursor) break;
      cursor = next.cursor;
      print(next.events);
    }
  }
}

/** What the feed reaches the town through: the watcher, a pane, an action, an attach (tests pass their own). */
export type FeedPorts = {
  watch: (ctx: ViewContext, onView: (view: TownView) => void, options: WatchOptions) => TownWatch;
  peek: (ctx: ViewContext, agent: string, lines: number) => Promise<{ text: string }>;
  act: (ctx: ViewContext, action: ViewAction, actor: string) => Promise<{ text: string }>;
  attach: (ctx: ViewContext, agent: string, options: { before: (session: string) => void }) => Promise<unknown>;
};

const TOWN_PORTS: FeedPorts = { watch: watchTown, peek, act: runViewAction, attach: attachAgent };

export type ProblemsOptions = {
  rig?: string;
  follow: boolean;
  json: boolean;
  out: (text: string) => void;
  /** Where a failed read of the town is told while following (it goes on). */
  err: (text: string) => void;
  usage?: UsageSource;
  signal?: AbortSignal;
  ports?: Pick<FeedPorts, 'watch'>;
};

/** Reads of the town that may fail in a row before a follow of the problems gives up. */
export const PROBLEMS_FAILURES_IN_A_ROW = 5;

function problemsText(view: TownView, nowMs: number): string {
  if (view.needs.length === 0) return 'Nothing needs a person.\n';
  return `${view.needs.map((n) => needLine(n, nowMs)).join('\n')}\n`;
}

/**
 * `gt feed --problems`: what needs a person, once; following, again each time it changes. A failed read of
 * the town (a busy store, an observe that did not answer) is told on `err` and the follow goes on; only
 * `PROBLEMS_FAILURES_IN_A_ROW` failures with no good read between them end it.
 */
export async function printProblems(ctx: ViewContext, o: ProblemsOptions): Promise<void> {
  if (!o.follow) {
    const view = await buildTownView(ctx, { rig: o.rig, events: 1 });
    o.out(
      o.json
        ? `${JSON.stringify({ at: view.at, rig: view.rig, needs: view.needs }, null, 2)}\n`
        : problemsText(view, ctx.now()),
    );
    return;
  }
  if (o.rig !== undefined) await ctx.store.rig(o.rig);
  if (o.signal?.aborted === true) return;
  let last: string | undefined;
  let inARow = 0;
  let failed: GtError | undefined;
  let end: (() => void) | undefined;
  const ended = new Promise<void>((resolve) => {
    end = resolve;
  });
  const onAbort = (): void => end?.();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const watch = (o.ports?.watch ?? watchTown)(
    ctx,
    (view) => {
      if (failed !== undefined) return;
      inARow = 0;
      const key = JSON.stringify(view.needs);
      if (key === last) return;
      last = key;
      if (o.json) o.out(`${JSON.stringify({ at: view.at, rig: view.rig, needs: view.needs })}\n`);
      else o.out(`${view.at}\n${problemsText(view, Date.parse(view.at))}`);
    },
    {
      rig: o.rig,
      events: 1,
      usage: o.usage,
      onError: (m) => {
        if (failed !== undefined) return;
        inARow++;
        o.err(`could not read the town (${inARow} in a row): ${clean(m)}\n`);
        if (inARow < PROBLEMS_FAILURES_IN_A_ROW) return;
        failed = new GtError(
          'internal',
          1,
          `stopped following: ${inARow} reads of the town failed in a row, the last with: ${clean(m)}`,
          { hint: 'check the town with "gt doctor", then follow again' },
        );
        end?.();
      },
    },
  );
  try {
    await ended;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await watch.stop();
  }
  if (failed !== undefined) throw failed;
}

export type FeedOptions = {
  rig?: string;
  color: boolean;
  /** Who acts from the feed (the person, under their name). */
  actor: string;
  usage?: UsageSource;
  /** Ends the feed as `q` does (a signal, a test). */
  signal?: AbortSignal;
  /** Lines of a peeked pane (default: what fits). */
  peekLines?: number;
  ports?: Partial<FeedPorts>;
};

/**
 * The full-screen feed until the person quits. Takes `screen` over and always gives it back, whatever
 * happens; a failure of the watcher or of an action shows in the status line, not as an end. Once it has
 * ended, nothing more is drawn: it returns only after what it had started (an action, a peek, an attach, a
 * watcher of another rig) has finished, so that an action is never cut off half done and no watcher is left
 * running on a closed store.
 */
export async function runFeed(ctx: ViewContext, screen: Screen, o: FeedOptions): Promise<void> {
  const ports: FeedPorts = { ...TOWN_PORTS, ...o.ports };
  if (o.rig !== undefined) await ctx.store.rig(o.rig);
  const rigs = (await ctx.store.rigs()).map((r) => r.name).sort();
  let ui: FeedUi = initialUi(o.rig ?? null, rigs);
  let view: TownView | undefined;
  let before: string[] | null = null;
  let away = false;
  let closed = false;
  let busy: string | null = null;
  const inFlight = new Set<Promise<void>>();
  let quit: (() => void) | undefined;
  const done = new Promise<void>((resolve) => {
    quit = resolve;
  });
  if (o.signal?.aborted === true) return;
  const onAbort = (): void => quit?.();
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const draw = (): void => {
    if (closed || away) return;
    const lines = renderFeed(view, ui, {
      width: screen.columns(),
      height: screen.rows(),
      nowMs: Date.now(),
      color: o.color,
    });
    screen.write(frameDiff(before, lines));
    before = lines;
  };
  const status = (text: string, tone: 'good' | 'bad' | 'info'): void => {
    if (closed) return;
    ui = { ...ui, status: { text, tone } };
    draw();
  };

  const watcher = (rig: string | null): TownWatch =>
    ports.watch(
      ctx,
      (v) => {
        if (closed) return;
        view = v;
        draw();
      },
      {
        rig: rig ?? undefined,
        // Enough of the stream to fill a tall terminal once the plumbing is left out.
        events: 200,
        usage: o.usage,
        onError: (m) => status(`could not read the town: ${clean(m)}`, 'bad'),
      },
    );
  let watch = watcher(ui.rig);

  const effect = async (e: Effect): Promise<void> => {
    switch (e.kind) {
      case 'quit':
        quit?.();
        return;
      case 'rig': {
        // The new watcher takes over at once, so that whatever comes next (another f, a q) sees it.
        const old = watch;
        watch = watcher(e.rig);
        view = undefined;
        draw();
        await old.stop();
        return;
      }
      case 'peek': {
        const r = await ports.peek(ctx, e.agent, o.peekLines ?? Math.max(5, screen.rows() - 12));
        if (closed) return;
        ui = { ...ui, peek: { agent: e.agent, text: r.text }, status: null };
        draw();
        return;
      }
      case 'attach': {
        try {
          await ports.attach(ctx, e.agent, {
            before: (session) => {
              // Quit while the session was being found: no attach after the feed has ended.
              if (closed) throw new Error('the feed has ended');
              away = true;
              screen.leave();
              screen.write(
                `Attaching to ${e.agent} (session ${session} on the town's tmux server); detach with Ctrl-b d to come back to the feed.\n`,
              );
            },
          });
        } finally {
          if (away) {
            away = false;
            if (!closed) {
              screen.enter();
              before = null;
              watch.refresh();
            }
          }
        }
        status(`back from ${e.agent}`, 'info');
        return;
      }
      case 'act': {
        if (busy !== null) {
          status(`still ${busy}; try again when it is done`, 'bad');
          return;
        }
        busy =
          e.action.kind === 'ack' ? `acknowledging ${e.action.escalation}` : `${e.action.kind} of ${e.action.agent}`;
        try {
          const r = await ports.act(ctx, e.action, o.actor);
          status(r.text, 'good');
        } finally {
          busy = null;
          if (!closed) watch.refresh();
        }
        return;
      }
    }
  };

  screen.onKeys((data) => {
    if (closed) return;
    for (const key of parseKeys(data)) {
      const r = feedKey(ui, key, view);
      ui = r.ui;
      if (r.effect !== undefined) {
        const running: Promise<void> = effect(r.effect)
          .catch((err: unknown) => status(errorLine(err), 'bad'))
          .finally(() => inFlight.delete(running));
        inFlight.add(running);
      }
    }
    draw();
  });
  screen.onResize(() => {
    before = null;
    draw();
  });
  // Ages move on with the clock: once a second, the lines that changed.
  const clock = setInterval(draw, 1000);
  try {
    screen.enter();
    draw();
    await done;
  } finally {
    closed = true;
    clearInterval(clock);
    o.signal?.removeEventListener('abort', onAbort);
    screen.close();
    screen.leave();
    // The watcher in use stops now; what was started finishes (a rig's old watcher stopping among it).
    await Promise.allSettled([watch.stop(), ...inFlight]);
  }
}
