import { describe, expect, it } from 'vitest';
import type { LiveProblem } from './patrol-wake.js';
import {
  detectProblems,
  ownerOf,
  parseResetTime,
  resolutionOf,
  type DetectAgent,
  type DetectConfig,
  type DetectInput,
} from './problems-detect.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const config: DetectConfig = {
  stalledAfterMs: 60_000,
  inFlightMs: 15_000,
  massDeathCount: 3,
  massDeathWindowMs: 30_000,
  massDeathPauseMs: 300_000,
  refineryStuckMs: 3_600_000,
  respondMs: 120_000,
  standingRoles: ['refinery'],
};
const polecat: DetectAgent = {
  address: 'g/polecats/toast',
  role: 'polecat',
  rig: 'g',
  state: 'working',
  hook: 'g-1',
  hookClosed: false,
  question: null,
  questionKind: null,
  sessionAlive: true,
  lastProgressMs: NOW - 1_000,
  deathsMs: [],
  diedLast: false,
  sandbox: { uncommitted: 0, unpushed: 0 },
};
const input = (over: Partial<DetectInput>): DetectInput => ({
  nowMs: NOW,
  agents: [],
  orphans: [],
  rigs: [],
  live: [],
  ...over,
});
const kinds = (i: DetectInput): string[] => detectProblems(i, config).map((p) => `${p.kind}:${p.subject}>${p.owner}`);

describe('detectProblems', () => {
  const table: [string, Partial<DetectAgent>, string[]][] = [
    ['a working agent: nothing', {}, []],
    ['an idle agent with no hooked work, however long: nothing', { state: 'idle', hook: null, lastProgressMs: 0 }, []],
    ['stopped with no work: nothing', { state: 'stopped', hook: null, sessionAlive: false }, []],
    ['stalled on its hook: the witness', { state: 'stalled' }, ['stalled:g/polecats/toast>g/witness']],
    [
      'a permission question: needs input',
      { state: 'needs-input', question: 'Do you want to proceed?', questionKind: 'permission' },
      ['needs-input:g/polecats/toast>g/witness'],
    ],
    [
      'a usage limit is its own kind, not a question',
      { state: 'needs-input', question: 'Claude usage limit reached. Resets 3pm', questionKind: 'usage-limit' },
      ['usage-limit:g/polecats/toast>g/witness'],
    ],
    ['dead with work', { state: 'dead-with-work', sessionAlive: false }, ['dead-with-work:g/polecats/toast>g/witness']],
    [
      'quarantined after deaths: a crash loop',
      { state: 'stuck', deathsMs: [NOW - 300_000, NOW - 400_000] },
      ['crash-loop:g/polecats/toast>g/witness'],
    ],
    ['stuck by its own word, never died: not a crash loop', { state: 'stuck' }, []],
    ['a closed bead on its hook', { hookClosed: true, state: 'idle' }, ['closed-hooked:g/polecats/toast>g/witness']],
    ['a zombie session', { state: 'zombie', hook: null }, ['zombie:g/polecats/toast>g/witness']],
    ["crew: a person's, never patrolled", { role: 'crew', address: 'g/crew/me', state: 'stalled' }, []],
  ];
  for (const [name, changes, expected] of table) {
    it(name, () => expect(kinds(input({ agents: [{ ...polecat, ...changes }] }))).toEqual(expected));
  }

  it('gives the usage limit its reset time, and the stall its evidence', () => {
    const [limit] = detectProblems(
      input({
        agents: [
          {
            ...polecat,
            state: 'needs-input',
            question: 'You reached your usage limit · resets 3pm',
            questionKind: 'usage-limit',
          },
        ],
      }),
      config,
    );
    expect(limit?.evidence.reset_at).toBe('2026-12-01T15:00:00.000Z');
    const [stall] = detectProblems(
      input({ agents: [{ ...polecat, state: 'stalled', lastProgressMs: NOW - 90_000 }] }),
      config,
    );
    expect(stall?.evidence).toMatchObject({ hook: 'g-1', state: 'stalled', last_progress: '2026-12-01T11:58:30.000Z' });
    expect(stall?.summary).toContain('since 2026-12-01T11:58:30.000Z');
  });

  it('reports work hooked to nobody once past the start grace', () => {
    const orphans = [
      { bead: 'g-9', assignee: null, rig: 'g', updatedAtMs: NOW - 60_000 },
      { bead: 'g-8', assignee: 'g/polecats/new', rig: 'g', updatedAtMs: NOW - 1_000 },
    ];
    expect(kinds(input({ orphans }))).toEqual(['orphan-work:g-9>g/witness']);
  });

  it('sees a mass death: three deaths within 30 s, and keeps the pause until it runs out', () => {
    const dead = (name: string, ago: number): DetectAgent => ({
      ...polecat,
      address: `g/polecats/${name}`,
      state: 'dead-with-work',
      sessionAlive: false,
      deathsMs: [NOW - ago],
    });
    const agents = [dead('a', 1_000), dead('b', 5_000), dead('c', 20_000)];
    const found = detectProblems(input({ agents }), config).filter((p) => p.kind === 'mass-death');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ subject: 'town', owner: 'deacon' });
    expect(found[0]?.evidence.paused_until).toBe(new Date(NOW - 1_000 + 300_000).toISOString());
    // One agent dying three times is a crash loop, not a mass death.
    const one = [{ ...dead('a', 1_000), deathsMs: [NOW - 1_000, NOW - 5_000, NOW - 9_000] }];
    expect(detectProblems(input({ agents: one }), config).some((p) => p.kind === 'mass-death')).toBe(false);
    // Spread out over minutes: no mass death.
    const spread = [dead('a', 1_000), dead('b', 60_000), dead('c', 120_000)];
    expect(detectProblems(input({ agents: spread }), config).some((p) => p.kind === 'mass-death')).toBe(false);
    // Judged already (the deacon lifted the pause): the same burst is not reported again; a newer death is.
    expect(
      detectProblems(input({ agents, massDeathHandledMs: NOW - 1_000 }), config).some((p) => p.kind === 'mass-death'),
    ).toBe(false);
    const again = [...agents, dead('d', 500)];
    expect(
      detectProblems(input({ agents: again, massDeathHandledMs: NOW - 1_000 }), config).some(
        (p) => p.kind === 'mass-death',
      ),
    ).toBe(true);
    // Long after: gone.
    const old = [dead('a', 400_000), dead('b', 401_000), dead('c', 402_000)];
    expect(detectProblems(input({ agents: old }), config).some((p) => p.kind === 'mass-death')).toBe(false);
  });

  it('tells boot when the deacon died, but not when it was simply not started', () => {
    const deacon: DetectAgent = {
      ...polecat,
      address: 'deacon',
      role: 'deacon',
      rig: null,
      hook: null,
      state: 'stopped',
      sessionAlive: false,
      diedLast: true,
      deathsMs: [NOW - 2_000],
    };
    const standing = { ...config, standingRoles: ['deacon' as const] };
    expect(detectProblems(input({ agents: [deacon] }), standing).map((p) => `${p.kind}>${p.owner}`)).toEqual([
      'patrol-unresponsive>deacon/boot',
    ]);
    expect(detectProblems(input({ agents: [{ ...deacon, diedLast: false }] }), standing)).toEqual([]);
    // Not standing and nothing waits for it: nobody needs it.
    expect(detectProblems(input({ agents: [deacon] }), config)).toEqual([]);
  });

  it('says a patrol agent does not respond when woken and silent past the time', () => {
    const witness: DetectAgent = { ...polecat, address: 'g/witness', role: 'witness', hook: null, state: 'idle' };
    const problem: LiveProblem = {
      id: 4,
      kind: 'stalled',
      subject: 'g/polecats/toast',
      subject_type: 'agent',
      rig: 'g',
      owner: 'g/witness',
      summary: '',
      evidence: {},
      state: 'open',
      first_seen: new Date(NOW - 200_000).toISOString(),
      last_seen: new Date(NOW).toISOString(),
      woken_at: new Date(NOW - 130_000).toISOString(),
      resolved_at: null,
      resolution: null,
      escalation: null,
      decidedAtMs: null,
    };
    const agents = [witness, { ...polecat, state: 'stalled' as const }];
    expect(kinds(input({ agents, live: [problem] }))).toContain('patrol-unresponsive:g/witness>deacon');
    // Answered since the wake: fine.
    expect(kinds(input({ agents, live: [{ ...problem, decidedAtMs: NOW - 100_000 }] }))).not.toContain(
      'patrol-unresponsive:g/witness>deacon',
    );
    // Woken a moment ago: give it time.
    expect(
      kinds(input({ agents, live: [{ ...problem, woken_at: new Date(NOW - 10_000).toISOString() }] })),
    ).not.toContain('patrol-unresponsive:g/witness>deacon');
  });

  it('sees a refinery down while requests wait, and a queue that does not move', () => {
    const refinery: DetectAgent = { ...polecat, address: 'g/refinery', role: 'refinery', hook: null, state: 'stopped' };
    const waiting = [{ name: 'g', waiting: 2, oldestWaitingMs: NOW - 7_200_000, lastMovedMs: NOW - 4_000_000 }];
    expect(kinds(input({ agents: [{ ...refinery, sessionAlive: false }], rigs: waiting }))).toEqual([
      'refinery-down:g/refinery>g/witness',
    ]);
    expect(
      kinds(input({ agents: [{ ...refinery, sessionAlive: false }], rigs: [{ ...waiting[0]!, waiting: 0 }] })),
    ).toEqual([]);
    expect(kinds(input({ agents: [{ ...refinery, state: 'idle' }], rigs: waiting }))).toEqual([
      'refinery-stuck:g/refinery>g/witness',
    ]);
    const moved = [{ ...waiting[0]!, lastMovedMs: NOW - 60_000 }];
    expect(kinds(input({ agents: [{ ...refinery, state: 'idle' }], rigs: moved }))).toEqual([]);
  });

  it('names why a problem went away', () => {
    const p = { kind: 'stalled', subject: 'g/polecats/toast' } as LiveProblem;
    expect(resolutionOf(p, input({ agents: [polecat] }))).toBe('it makes progress again');
    expect(resolutionOf({ ...p, kind: 'closed-hooked' }, input({}))).toContain('off its hook');
  });
});

describe('ownerOf', () => {
  it('sends rig agents to their witness, witnesses to the deacon, the deacon to boot', () => {
    expect(ownerOf({ role: 'polecat', rig: 'g' })).toBe('g/witness');
    expect(ownerOf({ role: 'refinery', rig: 'g' })).toBe('g/witness');
    expect(ownerOf({ role: 'witness', rig: 'g' })).toBe('deacon');
    expect(ownerOf({ role: 'mayor', rig: null })).toBe('deacon');
    expect(ownerOf({ role: 'deacon', rig: null })).toBe('deacon/boot');
  });
});

describe('parseResetTime', () => {
  const table: [string, string | null][] = [
    ['Claude usage limit reached. Your limit will reset at 3pm', '2026-12-01T15:00:00.000Z'],
    ['5-hour limit reached ∙ resets 5:30am', '2026-12-02T05:30:00.000Z'],
    ['limit reached, resets 13:15', '2026-12-01T13:15:00.000Z'],
    ['rate limited: try again in 2 hours', '2026-12-01T14:00:00.000Z'],
    ['usage limit reached, resets in 45 minutes', '2026-12-01T12:45:00.000Z'],
    ['usage limit reached', null],
    ['resets 3', null],
    ['resets 25:00', null],
    // Claude Code 2.1 names the zone of its clock; the screen's own words.
    ["You've hit your usage limit · resets 3pm (Europe/Berlin)", '2026-12-01T14:00:00.000Z'],
    ["You've hit your weekly limit · resets 11:30am (America/New_York)", '2026-12-01T16:30:00.000Z'],
    ["You've hit your limit · resets 1pm (UTC)", '2026-12-01T13:00:00.000Z'],
    // Past already today in that zone: tomorrow.
    ["You've hit your usage limit · resets 1pm (Asia/Tokyo)", '2026-12-02T04:00:00.000Z'],
    // More than a day away, with its date; a date already past is next year's.
    ["You've hit your weekly limit · resets Dec 5, 3pm (Europe/Berlin)", '2026-12-05T14:00:00.000Z'],
    ['resets Jan 2, 9am (UTC)', '2027-01-02T09:00:00.000Z'],
    ['resets Nov 30, 9am (UTC)', '2027-11-30T09:00:00.000Z'],
    // A daylight-saving zone in summer.
    ['resets Jul 1, 3pm (Europe/Berlin)', '2027-07-01T13:00:00.000Z'],
    ['resets 3pm (Nowhere/Atlantis)', null],
    // Next year's date, as Claude Code writes it then; minutes with a date; the day of a clock change.
    ["You've hit your weekly limit · resets Jan 2, 2027, 9am (Europe/Berlin)", '2027-01-02T08:00:00.000Z'],
    ['resets Dec 5, 3:30pm (UTC)', '2026-12-05T15:30:00.000Z'],
    ['resets Mar 28, 2027, 3pm (Europe/Berlin)', '2027-03-28T13:00:00.000Z'],
    ['resets Mar 27, 2027, 3pm (Europe/Berlin)', '2027-03-27T14:00:00.000Z'],
    ['resets Nov 1, 2026, 3pm (UTC)', null],
  ];
  for (const [text, expected] of table) it(text, () => expect(parseResetTime(text, NOW)).toBe(expected));
  it('reads a time the screen shows without a zone in the zone of the agents', () => {
    expect(parseResetTime('resets 3pm', NOW, 'Europe/Berlin')).toBe('2026-12-01T14:00:00.000Z');
    expect(parseResetTime('resets 3pm', NOW, 'America/Los_Angeles')).toBe('2026-12-01T23:00:00.000Z');
    // A named zone wins over the agents'.
    expect(parseResetTime('resets 3pm (UTC)', NOW, 'Europe/Berlin')).toBe('2026-12-01T15:00:00.000Z');
  });
});
