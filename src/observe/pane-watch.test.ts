import { describe, expect, it } from 'vitest';
import { PaneWatch } from './snapshot.js';

describe('PaneWatch', () => {
  const idle = { kind: 'idle', input: '' } as const;

  it('reuses a capture while tmux reports no activity after it, and captures again once it does', () => {
    const w = new PaneWatch();
    expect(w.unchanged('s', 1_000)).toBeUndefined(); // never seen
    w.record('s', 1_000, idle, 'text', 5_000);
    expect(w.unchanged('s', 1_000)?.state).toEqual(idle);
    expect(w.unchanged('s', 6_000)).toBeUndefined(); // activity since: look again
    expect(w.unchanged('s', null)).toBeUndefined();
  });

  it('captures again when the capture fell in the same second as the last activity (tmux counts seconds)', () => {
    const w = new PaneWatch();
    w.record('s', 5_000, idle, 'text', 5_400);
    expect(w.unchanged('s', 5_000)).toBeUndefined();
  });

  it('knows since when the text has not changed, and when it last saw it move', () => {
    const w = new PaneWatch();
    // Seen first at 10 s, tmux last saw it print at 1 s: still since then, not since the first look.
    expect(w.record('s', 1_000, idle, 'a', 10_000)).toMatchObject({ stillSinceMs: 1_000, movedAtMs: null });
    expect(w.record('s', 2_000, idle, 'a', 20_000)).toMatchObject({ stillSinceMs: 1_000, movedAtMs: null });
    expect(w.record('s', 3_000, idle, 'b', 30_000)).toMatchObject({ stillSinceMs: 30_000, movedAtMs: 30_000 });
    expect(w.record('s', 4_000, idle, 'b', 40_000)).toMatchObject({ stillSinceMs: 30_000, movedAtMs: 30_000 });
  });

  it('forgets sessions that are gone: a new session of that name starts afresh', () => {
    const w = new PaneWatch();
    w.record('s', 1_000, idle, 'a', 10_000);
    w.keepOnly(new Set());
    expect(w.record('s', 45_000, idle, 'a', 50_000)).toMatchObject({ stillSinceMs: 45_000, movedAtMs: null });
    // With no activity time known, the first look is all there is.
    w.keepOnly(new Set());
    expect(w.record('s', null, idle, 'a', 60_000)).toMatchObject({ stillSinceMs: 60_000, movedAtMs: null });
  });
});
