import { describe, expect, it } from 'vitest';
import { backoffMs, reconcile, type ReconcileAgent, type ReconcileConfig } from './reconcile.js';

const config: ReconcileConfig = {
  backoffInitialMs: 10_000,
  backoffMaxMs: 600_000,
  quarantineAfter: 5,
  quarantineWindowMs: 900_000,
  standingRoles: ['witness'],
  idlePolecatMs: 3_600_000,
  inFlightMs: 30_000,
};
const NOW = 10_000_000;
const polecat: ReconcileAgent = {
  address: 'g/polecats/toast',
  role: 'polecat',
  state: 'working',
  hook: 'g-1',
  sessionAlive: true,
  openSessionId: 's1',
  endings: [],
  lastProgressMs: NOW,
  startingSinceMs: NOW - 600_000,
};
const deaths = (n: number, lastAgoMs: number): ReconcileAgent['endings'] =>
  Array.from({ length: n }, (_, i) => ({ endedAtMs: NOW - lastAgoMs - i * 1000, reason: 'crashed' as const }));

describe('reconcile', () => {
  const table: [string, Partial<ReconcileAgent>, string[]][] = [
    ['a working agent: nothing', {}, []],
    [
      'no work, its tmux session gone, its record still open: the record closes (lost), nothing restarts',
      { state: 'stopped', hook: null, sessionAlive: false },
      ['record-death:lost'],
    ],
    [
      'the same a moment after its start: a start in flight, nothing yet',
      { state: 'stopped', hook: null, sessionAlive: false, startingSinceMs: NOW - 1_000 },
      [],
    ],
    [
      'an idle agent, however long: never restarted or killed as hung',
      { state: 'idle', hook: null, role: 'witness', lastProgressMs: 0 },
      [],
    ],
    [
      'dead with work, session record open, pane dead: record and restart at once',
      { state: 'dead-with-work' },
      ['record-death:crashed', 'restart'],
    ],
    [
      'dead with work, tmux session gone: lost, restart',
      { state: 'dead-with-work', sessionAlive: false },
      ['record-death:lost', 'restart'],
    ],
    [
      'dead with work, already recorded, one death: restart',
      { state: 'dead-with-work', sessionAlive: false, openSessionId: null, endings: deaths(1, 1000) },
      ['restart'],
    ],
    [
      'second death 5 s ago: wait (back-off 10 s)',
      { state: 'dead-with-work', sessionAlive: false, openSessionId: null, endings: deaths(2, 5000) },
      ['wait@5000'],
    ],
    [
      'second death 11 s ago: restart',
      { state: 'dead-with-work', sessionAlive: false, openSessionId: null, endings: deaths(2, 11_000) },
      ['restart'],
    ],
    [
      'fifth death in the window: quarantine, no restart',
      { state: 'dead-with-work', endings: deaths(4, 60_000) },
      ['record-death:crashed', 'quarantine'],
    ],
    [
      'old deaths outside the window do not count',
      { state: 'dead-with-work', openSessionId: null, sessionAlive: false, endings: deaths(6, 1_000_000) },
      ['restart'],
    ],
    ['stuck (quarantined or said so): left alone', { state: 'stuck' }, []],
    [
      'hooked a moment ago, no tmux session yet: a sling in flight, looked at again when the grace ends',
      { state: 'dead-with-work', sessionAlive: false, startingSinceMs: NOW - 2_000 },
      ['wait@28000'],
    ],
    [
      'hooked a moment ago but its pane died: a real crash, acted on',
      { state: 'dead-with-work', startingSinceMs: NOW - 2_000 },
      ['record-death:crashed', 'restart'],
    ],
    [
      'standing role stopped: started',
      { role: 'witness', state: 'stopped', hook: null, sessionAlive: false, openSessionId: null },
      ['restart'],
    ],
    [
      'non-standing role stopped: left alone',
      { role: 'refinery', state: 'stopped', hook: null, sessionAlive: false, openSessionId: null },
      [],
    ],
    ['stalled: reported to the witness, not judged', { state: 'stalled' }, ['report-stalled']],
    ['zombie without work: stopped', { state: 'zombie', hook: null }, ['stop:crashed']],
    [
      'idle polecat past the idle time: session ended',
      { state: 'idle', hook: null, lastProgressMs: NOW - 3_600_001 },
      ['stop:exited'],
    ],
    ['idle polecat within the idle time: left alone', { state: 'idle', hook: null, lastProgressMs: NOW - 60_000 }, []],
    [
      'waiting at a question: the witness is told, nothing restarted or stopped',
      { state: 'needs-input', question: 'Do you want to proceed?' },
      ['report-needs-input'],
    ],
    [
      'waiting at a question already reported: nothing (once per question, not every pass)',
      { state: 'needs-input', question: 'Do you want to proceed?', questionReported: true },
      [],
    ],
    [
      'a question while it is still starting (a start-up dialog being answered): not yet',
      { state: 'needs-input', question: 'dialog: folder-trust', startingSinceMs: NOW - 2_000 },
      [],
    ],
    ['closed bead still on the hook: cleared', { state: 'working', hookClosedAtMs: NOW - 60_000 }, ['clear-hook']],
    [
      'closed a moment ago by its live agent (handing in): left alone for the grace',
      { state: 'working', hookClosedAtMs: NOW - 2_000 },
      ['wait@28000'],
    ],
    [
      'closed bead on the hook of a dead agent: cleared at once, not restarted',
      { state: 'dead-with-work', sessionAlive: false, hookClosedAtMs: NOW - 2_000 },
      ['clear-hook'],
    ],
    [
      "crew with work and no session: a person's sandbox, never started by the daemon",
      { role: 'crew', address: 'g/crew/ana', state: 'dead-with-work', sessionAlive: false, openSessionId: null },
      [],
    ],
    ['crew zombie: left alone', { role: 'crew', address: 'g/crew/ana', state: 'zombie', hook: null }, []],
    [
      'working again after it was reported stalled: its supervisor hears the stall is over',
      { state: 'working', stallReported: true },
      ['report-moving'],
    ],
    [
      'stalled and already reported: reported (the daemon sends it once)',
      { state: 'stalled', stallReported: true },
      ['report-stalled'],
    ],
    [
      'revived after quarantine: the deaths before the revival no longer count',
      { state: 'dead-with-work', endings: deaths(4, 60_000), revivedAtMs: NOW - 30_000 },
      ['record-death:crashed', 'restart'],
    ],
  ];
  for (const [what, agent, expected] of table) {
    it(what, () => {
      const actions = reconcile([{ ...polecat, ...agent }], config, NOW);
      expect(
        actions.map((a) =>
          a.kind === 'record-death'
            ? `${a.kind}:${a.reason}`
            : a.kind === 'stop'
              ? `stop:${a.endReason}`
              : a.kind === 'wait'
                ? `wait@${a.untilMs - NOW}`
                : a.kind,
        ),
      ).toEqual(expected);
      for (const a of actions) expect(a.why.length).toBeGreaterThan(10);
    });
  }

  it('sends work whose assignee no longer holds it back to open, but not work being hooked right now', () => {
    const work = [
      { bead: 'g-1', assignee: 'g/polecats/gone', held: false, updatedAtMs: NOW - 600_000 },
      { bead: 'g-2', assignee: null, held: false, updatedAtMs: NOW - 600_000 },
      { bead: 'g-3', assignee: 'g/polecats/toast', held: true, updatedAtMs: NOW - 600_000 },
      { bead: 'g-4', assignee: 'g/polecats/new', held: false, updatedAtMs: NOW - 1_000 },
    ];
    const actions = reconcile([], config, NOW, work);
    expect(
      actions.map((a) =>
        a.kind === 'release-work' ? [a.bead, a.address] : a.kind === 'wait' ? [a.kind, a.untilMs - NOW] : a.kind,
      ),
    ).toEqual([
      ['g-1', 'g/polecats/gone'],
      ['g-2', ''],
      ['wait', 29_000],
    ]);
    expect(actions[0]?.why).toContain('no longer');
  });

  it('records deaths but restarts nothing while a mass death pauses restarts, and leaves what the patrol triages', () => {
    const dead: ReconcileAgent = { ...polecat, state: 'dead-with-work', sessionAlive: false };
    const paused = reconcile([dead], { ...config, restartsPausedUntilMs: NOW + 60_000 }, NOW);
    expect(paused.map((a) => a.kind)).toEqual(['record-death', 'wait']);
    expect(paused[1]).toMatchObject({ untilMs: NOW + 60_000 });
    expect(paused[1]?.why).toContain('mass death');
    const over = reconcile([dead], { ...config, restartsPausedUntilMs: NOW - 1 }, NOW);
    expect(over.map((a) => a.kind)).toEqual(['record-death', 'restart']);
    const deacon: ReconcileAgent = { ...dead, address: 'deacon', role: 'deacon', hook: null, state: 'stopped' };
    const standing = { ...config, standingRoles: ['deacon' as const] };
    expect(reconcile([deacon], { ...standing, leftToPatrol: new Set(['deacon']) }, NOW).map((a) => a.kind)).toEqual([
      'record-death',
      'wait',
    ]);
    expect(reconcile([deacon], standing, NOW).map((a) => a.kind)).toEqual(['record-death', 'restart']);
  });

  it('backs off exponentially to a cap', () => {
    expect([1, 2, 3, 4, 10].map((k) => backoffMs(k, config))).toEqual([0, 10_000, 20_000, 40_000, 600_000]);
  });
});
