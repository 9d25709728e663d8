import { describe, expect, it } from 'vitest';
import { deriveState, type AgentFacts } from './derive.js';

const base: AgentFacts = {
  hooked: false,
  reported: 'idle',
  sessionAlive: true,
  liveness: 'alive',
  paneBusy: false,
  sandboxExists: true,
  lastProgressMs: 1_000,
};
const NOW = 1_000 + 60_000;
const STALL = 30 * 60_000;

describe('deriveState', () => {
  const table: [string, Partial<AgentFacts>, number, ReturnType<typeof deriveState>][] = [
    ['hooked, alive, recent progress', { hooked: true }, NOW, 'working'],
    [
      'hooked, alive, busy pane however old the progress',
      { hooked: true, paneBusy: true, lastProgressMs: 0 },
      NOW + STALL * 10,
      'working',
    ],
    ['hooked, alive, silent past the threshold', { hooked: true }, 1_000 + STALL + 1, 'stalled'],
    ['hooked, alive, silent exactly at the threshold', { hooked: true }, 1_000 + STALL, 'working'],
    ['hooked, no session', { hooked: true, sessionAlive: false, liveness: 'dead' }, NOW, 'dead-with-work'],
    ['hooked, session but its CLI exited', { hooked: true, liveness: 'dead' }, NOW, 'dead-with-work'],
    ['hooked, probe failed: assume alive', { hooked: true, liveness: 'unknown' }, NOW, 'working'],
    ['no work, alive', {}, NOW, 'idle'],
    ['no work, idle for days: still idle, never hung', { lastProgressMs: 0 }, NOW * 1000, 'idle'],
    ['no work, no session', { sessionAlive: false, liveness: 'dead' }, NOW, 'stopped'],
    ['no work, session with a dead CLI', { liveness: 'dead' }, NOW, 'zombie'],
    ['session whose sandbox is gone', { sandboxExists: false, hooked: true }, NOW, 'zombie'],
    [
      'no sandbox and no session: stopped',
      { sandboxExists: false, sessionAlive: false, liveness: 'dead' },
      NOW,
      'stopped',
    ],
    ['said it is stuck', { reported: 'stuck', hooked: true }, NOW, 'stuck'],
  ];
  for (const [what, facts, now, expected] of table) {
    it(`${what} → ${expected}`, () => {
      expect(deriveState({ ...base, ...facts }, now, STALL)).toBe(expected);
    });
  }
});
