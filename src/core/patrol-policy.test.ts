import { describe, expect, it } from 'vitest';
import { awaitsAnswer, simPatrolDecisions, type PatrolStep } from './patrol-policy.js';
import type { PatrolScan, ScanAgent, ScanDecision, ScanProblem } from './patrol-scan.js';
import type { ProblemKind } from './problem.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const at = (minutesAgo: number): string => new Date(NOW - minutesAgo * 60_000).toISOString();

function problem(kind: ProblemKind, over: Partial<ScanProblem> = {}): ScanProblem {
  return {
    id: 7,
    kind,
    subject: 'rig1/polecats/toast',
    subject_type: 'agent',
    rig: 'rig1',
    owner: 'rig1/witness',
    state: 'open',
    summary: 'something is wrong',
    evidence: { hook: 'rig1-abc' },
    first_seen: at(40),
    last_seen: at(1),
    woken_at: at(1),
    resolved_at: null,
    resolution: null,
    escalation: null,
    decisions: [],
    ...over,
  };
}

const decision = (action: ScanDecision['action'], minutesAgo: number): ScanDecision => ({
  action,
  reason: 'earlier',
  actor: 'rig1/witness',
  at: at(minutesAgo),
});

function scan(problems: ScanProblem[], agents: ScanAgent[] = []): PatrolScan {
  return { at: at(0), owner: 'rig1/witness', rig: 'rig1', problems, agents };
}

function one(p: ScanProblem, agents: ScanAgent[] = []): PatrolStep {
  const steps = simPatrolDecisions(scan([p], agents), NOW);
  expect(steps).toHaveLength(1);
  return steps[0] as PatrolStep;
}

/** [what, problem, expected action, expected argv] */
type Row = [string, ScanProblem, PatrolStep['action'], string[] | null];

const ESC = (text: string, sev: string, related?: string): string[] => [
  'escalate',
  text,
  '-s',
  sev,
  ...(related === undefined ? [] : ['--related', related]),
];

describe('simPatrolDecisions', () => {
  const rows: Row[] = [
    // stalled: nudge, then restart, then escalate.
    [
      'stalled, never answered: nudge with a question',
      problem('stalled'),
      'nudge',
      [
        'nudge',
        'rig1/polecats/toast',
        'No progress seen on rig1-abc for a while. Are you stuck? If you are working, carry on; if something blocks you, say what on the bead.',
      ],
    ],
    [
      'stalled, nudged and woken again: restart in the sandbox',
      problem('stalled', { decisions: [decision('nudge', 10)], woken_at: at(1), state: 'handling' }),
      'restart',
      ['session', 'restart', 'rig1/polecats/toast'],
    ],
    [
      'stalled, nudged and restarted, still there: escalate high',
      problem('stalled', {
        decisions: [decision('restart', 5), decision('nudge', 10)],
        woken_at: at(1),
        state: 'handling',
        summary: 'no progress for 31 min',
      }),
      'escalate',
      ESC(
        'rig1/polecats/toast is still stalled after a nudge and a restart: no progress for 31 min',
        'high',
        'rig1-abc',
      ),
    ],
    [
      'stalled, but the pane moved two minutes ago: wait',
      problem('stalled', { decisions: [decision('nudge', 10)], evidence: { hook: 'rig1-abc', pane_moved_at: at(2) } }),
      'wait',
      null,
    ],
    [
      'stalled, pane moved long ago: the ladder goes on',
      problem('stalled', { decisions: [decision('nudge', 10)], evidence: { hook: 'rig1-abc', pane_moved_at: at(45) } }),
      'restart',
      ['session', 'restart', 'rig1/polecats/toast'],
    ],
    [
      'stalled with no hooked work in the evidence: dismiss, never touch an idle agent',
      problem('stalled', { evidence: { hook: null } }),
      'dismiss',
      null,
    ],
    // needs-input
    [
      'needs-input: escalate medium',
      problem('needs-input', { summary: 'Do you want to proceed?' }),
      'escalate',
      ESC(
        'rig1/polecats/toast waits at a question the patrol cannot answer safely: Do you want to proceed?',
        'medium',
        'rig1-abc',
      ),
    ],
    // usage-limit
    [
      'usage limit with a reset ahead: wait',
      problem('usage-limit', { evidence: { hook: 'rig1-abc', reset_at: '2026-03-01T15:00:00Z' } }),
      'wait',
      null,
    ],
    ['usage limit, reset unknown: wait', problem('usage-limit', { evidence: { reset_at: null } }), 'wait', null],
    [
      'usage limit whose reset has passed: nudge to carry on',
      problem('usage-limit', { evidence: { reset_at: at(10) } }),
      'nudge',
      ['nudge', 'rig1/polecats/toast', 'Your usage limit has reset. Carry on with the work on your hook.'],
    ],
    [
      'usage limit past its reset, already told to carry on: wait',
      problem('usage-limit', { evidence: { reset_at: at(10) }, decisions: [decision('nudge', 5)], woken_at: at(1) }),
      'wait',
      null,
    ],
    // dead-with-work
    ['dead with work: wait for the daemon', problem('dead-with-work'), 'wait', null],
    [
      'dead with work, quarantined: escalate high',
      problem('dead-with-work', { evidence: { hook: 'rig1-abc', quarantined: true }, summary: 'died 5 times' }),
      'escalate',
      ESC('rig1/polecats/toast is quarantined with work on its hook', 'high', 'rig1-abc'),
    ],
    [
      'dead with work, stuck and already escalated: report only',
      problem('dead-with-work', { evidence: { hook: 'rig1-abc', state: 'stuck', escalation: 'hq-esc1' } }),
      'escalate',
      null,
    ],
    // crash-loop
    [
      'crash loop, not escalated yet: escalate high',
      problem('crash-loop', { summary: 'died 5 times in 15 min' }),
      'escalate',
      ESC('rig1/polecats/toast keeps dying and is quarantined: died 5 times in 15 min', 'high', 'rig1-abc'),
    ],
    [
      'crash loop the daemon escalated (evidence): report only',
      problem('crash-loop', { evidence: { escalation: 'hq-e9' } }),
      'escalate',
      null,
    ],
    [
      'crash loop with an escalation on the problem: report only',
      problem('crash-loop', { escalation: 'hq-e10' }),
      'escalate',
      null,
    ],
    // orphan-work
    [
      'orphan work with its rig: re-sling to the rig',
      problem('orphan-work', { subject: 'rig1-abc', subject_type: 'bead', evidence: { rig: 'rig1' } }),
      'resling',
      ['sling', 'rig1-abc', 'rig1'],
    ],
    [
      'orphan work whose last holder keeps unpushed commits: sling it back there',
      problem('orphan-work', {
        subject: 'rig1-abc',
        subject_type: 'bead',
        evidence: { rig: 'rig1', previous_agent: 'rig1/polecats/nux', sandbox: { uncommitted: 0, unpushed: 2 } },
      }),
      'resling',
      ['sling', 'rig1-abc', 'rig1/polecats/nux'],
    ],
    [
      'orphan work, no rig known: escalate',
      problem('orphan-work', {
        subject: 'hq-x1',
        subject_type: 'bead',
        rig: null,
        owner: 'deacon',
        evidence: {},
      }),
      'escalate',
      ESC('hq-x1 is on a hook nobody holds, and no rig to sling it to is known', 'medium', 'hq-x1'),
    ],
    // the daemon clears these
    ['closed bead on a hook: wait', problem('closed-hooked'), 'wait', null],
    ['zombie session: wait', problem('zombie', { evidence: { hook: null } }), 'wait', null],
    // mass death
    [
      'mass death, just now: wait',
      problem('mass-death', {
        subject: 'town',
        subject_type: 'town',
        rig: null,
        owner: 'deacon',
        evidence: { deaths: 4, last_death: at(0.5), paused_until: at(-1.5) },
      }),
      'wait',
      null,
    ],
    [
      'mass death, quiet for the pause window: resume',
      problem('mass-death', {
        subject: 'town',
        subject_type: 'town',
        rig: null,
        owner: 'deacon',
        evidence: { deaths: 4, last_death: at(6), pause_window_seconds: 300 },
      }),
      'resume',
      null,
    ],
    [
      'mass death, paused_until passed: resume',
      problem('mass-death', { subject: 'town', subject_type: 'town', evidence: { paused_until: at(1) } }),
      'resume',
      null,
    ],
    [
      'mass death, waited once already: resume',
      problem('mass-death', {
        subject: 'town',
        subject_type: 'town',
        evidence: { last_death: at(1), paused_until: at(-1) },
        decisions: [decision('wait', 4)],
        woken_at: at(1),
      }),
      'resume',
      null,
    ],
    // refinery
    [
      'refinery down: start it',
      problem('refinery-down', { subject: 'rig1/refinery', evidence: {} }),
      'start',
      ['session', 'start', 'rig1/refinery'],
    ],
    [
      'refinery still down after a start: escalate high',
      problem('refinery-down', {
        subject: 'rig1/refinery',
        evidence: {},
        summary: '3 requests wait',
        decisions: [decision('start', 5)],
      }),
      'escalate',
      ESC("rig1's refinery is still down after a start: 3 requests wait", 'high'),
    ],
    [
      'refinery stuck: escalate high',
      problem('refinery-stuck', { subject: 'rig1/refinery', evidence: {}, summary: 'queue unmoved for 2 h' }),
      'escalate',
      ESC("rig1's merge queue has not moved: queue unmoved for 2 h", 'high'),
    ],
    // patrol-unresponsive
    [
      'a witness with no session: start it',
      problem('patrol-unresponsive', {
        subject: 'rig1/witness',
        owner: 'deacon',
        evidence: { session_alive: false },
      }),
      'start',
      ['session', 'start', 'rig1/witness'],
    ],
    [
      'a deacon whose program was killed in a session that stays: start it',
      problem('patrol-unresponsive', {
        subject: 'deacon',
        rig: null,
        owner: 'deacon/boot',
        evidence: { session_alive: true, agent_running: false },
      }),
      'start',
      ['session', 'start', 'deacon'],
    ],
    [
      'a live deacon that did not answer: nudge first',
      problem('patrol-unresponsive', {
        subject: 'deacon',
        subject_type: 'agent',
        rig: null,
        owner: 'deacon/boot',
        evidence: { session_alive: true },
      }),
      'nudge',
      ['nudge', 'deacon', 'You have open problems with no answer. Run gt patrol scan and report a decision for each.'],
    ],
    [
      'a deacon nudged before and still silent: restart',
      problem('patrol-unresponsive', {
        subject: 'deacon',
        rig: null,
        owner: 'deacon/boot',
        evidence: { session_alive: true },
        decisions: [decision('nudge', 6)],
      }),
      'restart',
      ['session', 'restart', 'deacon'],
    ],
    [
      'a deacon nudged before whose pane is moving: wait for its turn to end, never restart',
      problem('patrol-unresponsive', {
        subject: 'deacon',
        rig: null,
        owner: 'deacon/boot',
        evidence: { session_alive: true, pane_moved_at: at(0.5) },
        decisions: [decision('nudge', 6)],
      }),
      'wait',
      null,
    ],
    [
      'a witness at a usage limit that resets later: wait',
      problem('patrol-unresponsive', {
        subject: 'rig1/witness',
        owner: 'deacon',
        evidence: { session_alive: true, reset_at: '2026-03-01T13:00:00Z' },
        decisions: [decision('nudge', 6)],
      }),
      'wait',
      null,
    ],
  ];

  it.each(rows)('%s', (_what, p, action, argv) => {
    const step = one(p);
    expect(step.action).toBe(action);
    expect(step.argv).toEqual(argv);
    expect(step.problem).toBe(p.id);
    expect(step.reason.length).toBeGreaterThan(5);
  });

  it('names an escalation already filed, for the report', () => {
    expect(one(problem('crash-loop', { escalation: 'hq-e10' })).escalation).toBe('hq-e10');
    expect(one(problem('crash-loop', { evidence: { escalation: 'hq-e9' } })).escalation).toBe('hq-e9');
    expect(one(problem('crash-loop')).escalation).toBeUndefined();
  });

  it('names the reset time of a usage limit in the reason', () => {
    const step = one(problem('usage-limit', { evidence: { reset_at: '2026-03-01T15:00:00Z' } }));
    expect(step.reason).toContain('2026-03-01T15:00:00Z');
    expect(step.reason).toContain('3 h');
  });

  it('reads an idle agent with no hook from the agent list when the evidence does not say', () => {
    const idle: ScanAgent = {
      address: 'rig1/polecats/toast',
      role: 'polecat',
      state: 'idle',
      hook: null,
      session_alive: true,
    };
    expect(one(problem('stalled', { evidence: {} }), [idle]).action).toBe('dismiss');
    expect(one(problem('stalled', { evidence: {} }), [{ ...idle, hook: 'rig1-abc', state: 'stalled' }]).action).toBe(
      'nudge',
    );
  });

  it('escalates a stall that came back after a restart, instead of nudging and restarting it forever', () => {
    const again = problem('stalled', { earlier_decisions: [decision('nudge', 90), decision('restart', 80)] });
    const step = one(again);
    expect(step.action).toBe('escalate');
    expect(step.reason).toContain('stalled again after the last one');
    // Without the earlier history it starts from a nudge.
    expect(one(problem('stalled')).action).toBe('nudge');
  });

  it('sorts decisions by time whatever order the scan gives them in', () => {
    const p = problem('stalled', { decisions: [decision('nudge', 20), decision('restart', 3)], woken_at: at(1) });
    expect(one(p).action).toBe('escalate');
    const reversed = { ...p, decisions: [...p.decisions].reverse() };
    expect(one(reversed).action).toBe('escalate');
  });

  it('gives one step per problem that waits for an answer, in scan order', () => {
    const steps = simPatrolDecisions(
      scan([
        problem('stalled', { id: 1 }),
        problem('zombie', { id: 2, state: 'escalated' }),
        problem('closed-hooked', { id: 3 }),
        problem('needs-input', { id: 4, state: 'resolved' }),
        problem('dead-with-work', { id: 5, decisions: [decision('wait', 0.5)], woken_at: at(1) }),
      ]),
      NOW,
    );
    expect(steps.map((s) => [s.problem, s.action])).toEqual([
      [1, 'nudge'],
      [3, 'wait'],
    ]);
  });

  it('returns nothing for a quiet scan', () => {
    expect(simPatrolDecisions(scan([]), NOW)).toEqual([]);
  });
});

describe('awaitsAnswer', () => {
  const rows: [string, Partial<ScanProblem>, boolean][] = [
    ['open, no decision', { decisions: [] }, true],
    ['open, never woken, no decision', { woken_at: null }, true],
    [
      'handling, decided before the last wake',
      { state: 'handling', decisions: [decision('nudge', 5)], woken_at: at(1) },
      true,
    ],
    [
      'handling, decided after the last wake',
      { state: 'handling', decisions: [decision('nudge', 1)], woken_at: at(5) },
      false,
    ],
    ['decided at the same instant as the wake', { decisions: [decision('nudge', 3)], woken_at: at(3) }, true],
    ['decided, never woken', { decisions: [decision('nudge', 3)], woken_at: null }, false],
    ['escalated', { state: 'escalated' }, false],
    ['resolved', { state: 'resolved' }, false],
  ];
  it.each(rows)('%s', (_what, over, expected) => {
    expect(awaitsAnswer(problem('stalled', over))).toBe(expected);
  });
});
