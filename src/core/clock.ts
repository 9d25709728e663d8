/** Time as a dependency: decision and store code take a Clock instead of reading the wall clock. */
export type Clock = {
  /** Milliseconds since the epoch. */
  nowMs(): number;
};

/** A clock that stands still until advanced; for tests. */
export function createFixedClock(startMs: number): Clock & { advance(ms: number): void; set(ms: number): void } {
  let now = startMs;
  return {
    nowMs: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    set: (ms: number) => {
      now = ms;
    },
  };
}
