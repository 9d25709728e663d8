import { describe, expect, it } from 'vitest';
import { deriveState, type AgentFacts } from './derive.js';

const base: AgentFacts = {
  hooked: false,
  reported: 'idle',
  sessionAlive: true,
  liveness: 'alive',
  paneBusy: false,
  question: null,
  sandboxExists: true,
  lastProgressMs: 1_000,
  lastWorkMs: 1_000,
  paneStillSinceMs: null,
  stallReportedMs: null,
};
const NOW = 1_000 + 60_000;
const STALL = 30 * 60_000;
const LATER = 1_000 + STALL * 10;

describe('deriveState', () => {
  const table: [string, Partial<AgentFacts>, number, ReturnType<typeof deriveState>][] = [
    ['hooked, alive, recent progress', { hooked: true }, NOW, 'working'],
    [
      'hooked, busy pane, nobody watched the pane, no stall report',
      { hooked: true, paneBusy: true, lastProgressMs: 0 },
      LATER,
      'working',
    ],
    [
      'hooked, busy pane that has not moved past the threshold (a hung agent)',
      { hooked: true, paneBusy: true, paneStillSinceMs: 1_000, lastProgressMs: LATER },
      LATER,
      'stalled',
    ],
    [
      'hooked, busy pane that moved a moment ago',
      { hooked: true, paneBusy: true, paneStillSinceMs: LATER - 1_000, lastWorkMs: 0 },
      LATER,
      'working',
    ],
    [
      'hooked, busy pane still, but the bead was updated a moment ago',
      { hooked: true, paneBusy: true, paneStillSinceMs: 1_000, lastWorkMs: LATER - 1_000 },
      LATER,
      'working',
    ],
    [
      'hooked, busy pane, not watched here, the daemon reported a stall after the last update',
      { hooked: true, paneBusy: true, stallReportedMs: 5_000 },
      LATER,
      'stalled',
    ],
    [
      'hooked, busy pane, not watched here, the work moved after the stall report',
      { hooked: true, paneBusy: true, stallReportedMs: 5_000, lastWorkMs: 6_000 },
      LATER,
      'working',
    ],
    [
      'hooked, busy pane, the stall report is older than a move this watcher saw',
      {
        hooked: true,
        paneBusy: true,
        stallReportedMs: 5_000,
        paneStillSinceMs: LATER - 1_000,
        paneMovedMs: LATER - 1_000,
      },
      LATER,
      'working',
    ],
    [
      'hooked, busy pane, a watcher that just started and saw no move takes the stall report',
      { hooked: true, paneBusy: true, stallReportedMs: 5_000, paneStillSinceMs: LATER - 1_000, paneMovedMs: null },
      LATER,
      'stalled',
    ],
    ['hooked, alive, silent past the threshold', { hooked: true }, 1_000 + STALL + 1, 'stalled'],
    ['hooked, alive, silent exactly at the threshold', { hooked: true }, 1_000 + STALL, 'working'],
    [
      'hooked, waiting at a permission question',
      { hooked: true, question: 'Do you want to proceed?' },
      NOW,
      'needs-input',
    ],
    [
      'hooked, a question on a busy pane: the question wins',
      { hooked: true, paneBusy: true, question: 'Do you want to proceed?' },
      NOW,
      'needs-input',
    ],
    ['no work, a usage limit on screen', { question: 'usage limit reached' }, NOW, 'needs-input'],
    [
      'a question in a dead pane is no question',
      { hooked: true, liveness: 'dead', question: 'x?' },
      NOW,
      'dead-with-work',
    ],
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
    ['quarantined, whatever its pane shows', { reported: 'stuck', question: 'x?' }, NOW, 'stuck'],
  ];
  for (const [what, facts, now, expected] of table) {
    it(`${what} → ${expected}`, () => {
      expect(deriveState({ ...base, ...facts }, now, STALL)).toBe(expected);
    });
  }
});
