import { describe, expect, it } from 'vitest';
import {
  convoyExpectation,
  feedHoldsBack,
  convoyView,
  epicLeaves,
  idleWork,
  isComplete,
  landingDecision,
  landingMail,
  landingRecipients,
  landingWrite,
  planFeed,
  progressOf,
  readConvoy,
  slingConvoyName,
  slingConvoyPlan,
  trackedState,
  type FeedCandidate,
  type TrackedFacts,
  type TrackedState,
} from './convoy.js';
import { NO_LIMITS } from './scheduler.js';

function facts(over: Partial<TrackedFacts['bead']> = {}, more: Partial<Omit<TrackedFacts, 'bead'>> = {}): TrackedFacts {
  return {
    bead: { id: 'ga-1', title: 'one', status: 'open', assignee: null, priority: 2, ...over },
    rig: 'gastown',
    blockers: [],
    queued: false,
    mergeRequest: undefined,
    ...more,
  };
}

const landedMr = { id: 'ga-mr1', state: 'landed' as const, source: 'ga-1', landedIn: 'abcdef0123456789' };

describe('trackedState', () => {
  it.each<[string, TrackedFacts, TrackedState]>([
    ['closed by its landed merge request', facts({ status: 'closed' }, { mergeRequest: landedMr }), 'merged'],
    ['closed by hand', facts({ status: 'closed' }), 'closed'],
    [
      'closed while its request was not landed',
      facts({ status: 'closed' }, { mergeRequest: { ...landedMr, state: 'returned' } }),
      'closed',
    ],
    [
      "closed with another bead's request",
      facts({ status: 'closed' }, { mergeRequest: { ...landedMr, source: 'ga-9' } }),
      'closed',
    ],
    ['on a hook', facts({ status: 'hooked', assignee: 'gastown/polecats/toast' }), 'working'],
    [
      'handed in, in the merge queue',
      facts(
        { status: 'in_progress', assignee: 'gastown/polecats/toast' },
        { mergeRequest: { ...landedMr, state: 'queued' } },
      ),
      'working',
    ],
    ['blocked by an open bead', facts({}, { blockers: ['ga-0'] }), 'blocked'],
    ['blocked and queued: it waits for its blockers', facts({}, { blockers: ['ga-0'], queued: true }), 'blocked'],
    ['escalated by gt done (status blocked)', facts({ status: 'blocked' }), 'blocked'],
    ['deferred', facts({ status: 'deferred' }), 'blocked'],
    ['queued for capacity', facts({}, { queued: true }), 'queued'],
    ['open, nobody has it', facts(), 'ready'],
  ])('%s', (_what, f, state) => {
    expect(trackedState(f)).toBe(state);
  });
});

describe('progress and landing', () => {
  const states = (...s: TrackedState[]) => s.map((state) => ({ state }));

  it('counts merged beads among the closed ones, the rest by state', () => {
    expect(progressOf(states('merged', 'closed', 'working', 'queued', 'ready', 'blocked', 'ready'))).toEqual({
      total: 7,
      merged: 1,
      closed: 2,
      working: 1,
      queued: 1,
      ready: 2,
      blocked: 1,
    });
  });

  it.each<[string, TrackedState[], boolean]>([
    ['nothing tracked', [], false],
    ['one still working', ['merged', 'working'], false],
    ['all merged', ['merged', 'merged'], true],
    ['merged and closed by hand', ['merged', 'closed'], true],
  ])('complete: %s', (_what, s, complete) => {
    expect(isComplete(progressOf(states(...s)))).toBe(complete);
  });

  it('lands an open, complete convoy as its next landing; not one landed, or with work open', () => {
    const done = progressOf(states('merged', 'closed'));
    expect(landingDecision({ status: 'open', landings: 0 }, done)).toEqual({ land: true, landing: 1 });
    expect(landingDecision({ status: 'open', landings: 1 }, done)).toEqual({ land: true, landing: 2 });
    expect(landingDecision({ status: 'landed', landings: 1 }, done)).toEqual({
      land: false,
      why: 'it is landed already',
    });
    expect(landingDecision({ status: 'open', landings: 0 }, progressOf(states('merged', 'ready')))).toEqual({
      land: false,
      why: '1 bead(s) still open',
    });
    expect(landingDecision({ status: 'open', landings: 0 }, progressOf([]))).toEqual({
      land: false,
      why: 'it tracks nothing yet',
    });
  });

  it('compares the revision and landing count as stored, and moves both on a landing', () => {
    expect(convoyExpectation({})).toEqual({ convoy_rev: null, convoy_landings: null });
    expect(convoyExpectation({ convoy_rev: 3, convoy_landings: 1, other: 'x' })).toEqual({
      convoy_rev: 3,
      convoy_landings: 1,
    });
    expect(landingWrite({ rev: 3, landings: 1 }, '2026-01-01T00:00:00.000Z')).toEqual({
      convoy_rev: 4,
      convoy_landings: 2,
      convoy_landed_at: '2026-01-01T00:00:00.000Z',
    });
  });
});

describe('the convoy record and view', () => {
  const bead = (status: string, metadata: Record<string, unknown>) => ({
    id: 'hq-c1',
    title: 'health endpoint',
    status,
    created_by: 'mayor',
    metadata,
  });

  it('reads open, landed and closed-without-landing convoys; the owner defaults to who made it', () => {
    expect(readConvoy(bead('open', {}))).toMatchObject({ status: 'open', owner: 'mayor', landings: 0, feed: false });
    expect(
      readConvoy(
        bead('closed', { convoy_landed_at: '2026-01-01T00:00:00Z', convoy_landings: 2, convoy_owner: 'overseer' }),
      ),
    ).toMatchObject({ status: 'landed', owner: 'overseer', landings: 2, landedAt: '2026-01-01T00:00:00Z' });
    expect(readConvoy(bead('closed', { convoy_landings: 1 }))).toMatchObject({ status: 'closed', landedAt: null });
    // Opened again after a landing: the stamp does not show.
    expect(readConvoy(bead('open', { convoy_landed_at: '2026-01-01T00:00:00Z' })).landedAt).toBeNull();
    expect(readConvoy(bead('open', { convoy_made_by: 'sling' })).feed).toBe(true);
    expect(readConvoy(bead('open', { convoy_feed: true })).feed).toBe(true);
  });

  it('shows each bead with its state, request and commit, and the progress', () => {
    const v = convoyView(bead('open', { convoy_request: 'hq-m1' }), [
      facts({ status: 'closed', assignee: 'gastown/polecats/toast' }, { mergeRequest: landedMr }),
      facts({ id: 'bd-2', title: 'two', status: 'hooked', assignee: 'beads/polecats/nux' }, { rig: 'beads' }),
    ]);
    expect(v).toMatchObject({
      id: 'hq-c1',
      name: 'health endpoint',
      status: 'open',
      owner: 'mayor',
      created_by: 'mayor',
      request: 'hq-m1',
      landed_at: null,
      landings: 0,
      progress: { total: 2, merged: 1, closed: 1, working: 1, queued: 0, ready: 0, blocked: 0 },
    });
    expect(v.beads).toEqual([
      {
        id: 'ga-1',
        title: 'one',
        rig: 'gastown',
        status: 'closed',
        priority: 2,
        state: 'merged',
        assignee: 'gastown/polecats/toast',
        merge_request: 'ga-mr1',
        merged_in: 'abcdef0123456789',
        blocked_by: [],
      },
      {
        id: 'bd-2',
        title: 'two',
        rig: 'beads',
        status: 'hooked',
        priority: 2,
        state: 'working',
        assignee: 'beads/polecats/nux',
        merge_request: null,
        merged_in: null,
        blocked_by: [],
      },
    ]);
  });
});

describe('the landing mail', () => {
  it('goes to the owner and, if another, the creator, each with one id per landing', () => {
    expect(landingRecipients('hq-c1', 1, 'overseer', 'mayor')).toEqual([
      { to: 'overseer', id: 'hq-c1-landed1-o' },
      { to: 'mayor', id: 'hq-c1-landed1-c' },
    ]);
    expect(landingRecipients('hq-c1', 2, 'mayor', 'mayor')).toEqual([{ to: 'mayor', id: 'hq-c1-landed2-o' }]);
  });

  it('names the convoy and lists each bead with its merge request and commit', () => {
    const v = convoyView({ id: 'hq-c1', title: 'health endpoint', status: 'open', created_by: 'mayor', metadata: {} }, [
      facts({ status: 'closed' }, { mergeRequest: landedMr }),
      facts({ id: 'ga-2', title: 'two', status: 'closed' }),
    ]);
    const m = landingMail(v, 1);
    expect(m.subject).toBe('Convoy landed: health endpoint (hq-c1)');
    expect(m.body).toContain('all 2 of its beads are closed, 1 merged');
    expect(m.body).toContain('- ga-1 one: merged as ga-mr1 in abcdef012345');
    expect(m.body).toContain('- ga-2 two: closed without a merge');
    expect(landingMail(v, 2).body).toContain('landed again (landing 2)');
  });
});

describe('gt sling and convoys', () => {
  it('names the convoy after the first bead and counts the others', () => {
    expect(slingConvoyName(['Add /health', 'Test it', 'Docs'])).toBe('Work: Add /health (+2 more)');
    expect(slingConvoyName(['Add /health'])).toBe('Work: Add /health');
  });

  it.each<[string, string[], Record<string, string[]>, boolean, ReturnType<typeof slingConvoyPlan>]>([
    ['one bead: none', ['a'], {}, false, { kind: 'none' }],
    ['--no-convoy: none', ['a', 'b'], {}, true, { kind: 'none' }],
    ['untracked beads: a new one', ['a', 'b'], {}, false, { kind: 'new' }],
    ['tracked by different convoys: a new one', ['a', 'b'], { a: ['hq-1'], b: ['hq-2'] }, false, { kind: 'new' }],
    [
      'all tracked by one open convoy: that one',
      ['a', 'b'],
      { a: ['hq-1', 'hq-3'], b: ['hq-2', 'hq-3'] },
      false,
      { kind: 'existing', convoy: 'hq-3' },
    ],
  ])('%s', (_what, beads, tracking, noConvoy, plan) => {
    expect(slingConvoyPlan(beads, new Map(Object.entries(tracking)), noConvoy)).toEqual(plan);
  });
});

describe('feeding and stranded work', () => {
  const c = (convoy: string, bead: string, rig = 'gastown', priority = 2): FeedCandidate => ({
    convoy,
    bead,
    rig,
    priority,
  });
  const busy = (town: number, rigs: Record<string, number> = {}) => ({ town, rigs });

  it.each<[string, Parameters<typeof planFeed>[0], string[]]>([
    [
      'everything when nothing caps it',
      { candidates: [c('hq-1', 'a'), c('hq-1', 'b')], limits: NO_LIMITS, busy: busy(0), waiting: {}, paused: false },
      ['a', 'b'],
    ],
    [
      'nothing while the scheduler is paused',
      { candidates: [c('hq-1', 'a')], limits: NO_LIMITS, busy: busy(0), waiting: {}, paused: true },
      [],
    ],
    [
      'only the free room, older convoys first, then by priority',
      {
        candidates: [c('hq-1', 'a', 'gastown', 3), c('hq-1', 'b', 'gastown', 1), c('hq-2', 'c', 'gastown', 0)],
        limits: { town: null, rigs: { gastown: 3 } },
        busy: busy(1, { gastown: 1 }),
        waiting: {},
        paused: false,
      },
      ['b', 'a'],
    ],
    [
      'queued slings take the room first',
      {
        candidates: [c('hq-1', 'a'), c('hq-1', 'b', 'beads')],
        limits: { town: null, rigs: { gastown: 2 } },
        busy: busy(1, { gastown: 1 }),
        waiting: { gastown: 1 },
        paused: false,
      },
      ['b'],
    ],
    [
      'a bead two convoys track goes once',
      { candidates: [c('hq-1', 'a'), c('hq-2', 'a')], limits: NO_LIMITS, busy: busy(0), waiting: {}, paused: false },
      ['a'],
    ],
    [
      'the town cap across rigs',
      {
        candidates: [c('hq-1', 'a'), c('hq-1', 'b', 'beads'), c('hq-1', 'd')],
        limits: { town: 2, rigs: {} },
        busy: busy(0),
        waiting: {},
        paused: false,
      },
      ['a', 'b'],
    ],
  ])('%s', (_what, input, beads) => {
    expect(planFeed(input).map((f) => f.bead)).toEqual(beads);
  });

  it('is ready work nobody has, of open convoys, going to its own rig or else the convoy’s', () => {
    const v = convoyView({ id: 'hq-1', title: 'x', status: 'open', created_by: 'mayor', metadata: {} }, [
      facts({ id: 'ga-1' }),
      facts({ id: 'hq-2' }, { rig: null }),
      facts({ id: 'ga-3', assignee: 'ada' }),
      facts({ id: 'ga-4' }, { queued: true }),
      facts({ id: 'ga-5' }, { blockers: ['ga-1'] }),
    ]);
    expect(idleWork(v, 'gastown').map((w) => [w.bead.id, w.rig])).toEqual([
      ['ga-1', 'gastown'],
      ['hq-2', 'gastown'],
    ]);
    expect(idleWork(v, null).map((w) => w.rig)).toEqual(['gastown', null]);
    expect(idleWork({ ...v, status: 'landed' }, 'gastown')).toEqual([]);
  });
});

describe('what the feed leaves alone', () => {
  const at = Date.parse('2026-11-24T00:00:00Z');
  it.each([
    ['a bead with nothing said', {}, 0, false],
    ['one taken back by hand', { gt_unslung: { by: 'overseer', at: '2026-11-24T00:00:00Z' } }, 60_000, true],
    [
      'one whose last feed sling failed 2 s ago',
      { convoy_feed_failures: 1, convoy_feed_failed_at: '2026-11-24T00:00:00Z' },
      2_000,
      true,
    ],
    [
      '… and 6 s ago (5 s back-off)',
      { convoy_feed_failures: 1, convoy_feed_failed_at: '2026-11-24T00:00:00Z' },
      6_000,
      false,
    ],
    ['three failures: 20 s', { convoy_feed_failures: 3, convoy_feed_failed_at: '2026-11-24T00:00:00Z' }, 19_000, true],
    ['a failure with no time is not held', { convoy_feed_failures: 2 }, 0, false],
  ] as const)('%s', (_name, metadata, afterMs, held) => {
    expect(feedHoldsBack(metadata, at + afterMs)).toBe(held);
  });
});

describe('epicLeaves', () => {
  it('walks breadth first and tracks the open leaves only', () => {
    const kids = new Map([
      [
        'e',
        [
          { id: 'e.1', status: 'open' },
          { id: 'e.2', status: 'open' },
          { id: 'e.3', status: 'closed' },
        ],
      ],
      [
        'e.1',
        [
          { id: 'e.1.1', status: 'open' },
          { id: 'e.1.2', status: 'hooked' },
        ],
      ],
    ]);
    expect(epicLeaves('e', kids)).toEqual(['e.2', 'e.1.1', 'e.1.2']);
    expect(epicLeaves('x', kids)).toEqual([]);
  });
});
