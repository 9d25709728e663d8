import { describe, expect, it } from 'vitest';
import {
  decideSearch,
  maxSearchRounds,
  setKey,
  simulateSearch,
  splitPoints,
  suspectsOf,
  type SearchDecision,
  type SearchState,
  type SetOracle,
  type SetResult,
} from './batch-search.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `r${i + 1}`);
const fail = (members: string[], extra: Partial<SetResult> = {}): SetResult => ({
  members,
  outcome: 'fail',
  failedGate: 'test',
  ...extra,
});
const pass = (members: string[], extra: Partial<SetResult> = {}): SetResult => ({ members, outcome: 'pass', ...extra });
const rerunOf = (members: string[], outcome: 'pass' | 'fail'): SetResult => ({
  members,
  outcome,
  failedGate: outcome === 'fail' ? 'test' : undefined,
  rerun: true,
});

describe('setKey and splitPoints', () => {
  it('a set is the same key in any order, repeats counted once', () => {
    expect(setKey(['b', 'a', 'b'])).toBe(setKey(['a', 'b']));
    expect(setKey([])).toBe('');
    expect(setKey(['a'])).not.toBe(setKey(['a', 'b']));
  });
  it('cuts (lo, hi) into count + 1 near-equal parts, or takes everything in between', () => {
    expect(splitPoints(0, 8, 1)).toEqual([4]);
    expect(splitPoints(0, 9, 2)).toEqual([3, 6]);
    expect(splitPoints(2, 4, 3)).toEqual([3]);
    expect(splitPoints(3, 4, 2)).toEqual([]);
    expect(splitPoints(0, 8, 0)).toEqual([]);
  });
});

type Case = { name: string; state: SearchState; want: SearchDecision };
const B4 = ids(4);
const B6 = ids(6);
const cases: Case[] = [
  {
    name: 'nothing known: the whole batch, alone',
    state: { batch: B4, results: [], slots: 2 },
    want: { kind: 'test', runs: [{ members: B4 }] },
  },
  {
    name: 'nothing known and a red batch likely: its half beside it',
    state: { batch: B4, results: [], slots: 2, speculate: true },
    want: { kind: 'test', runs: [{ members: B4 }, { members: ['r1', 'r2'] }] },
  },
  {
    name: 'the whole batch passes: it all lands',
    state: { batch: B4, results: [pass(B4)], slots: 2 },
    want: { kind: 'land', landed: B4, culprits: [], flaky: false },
  },
  {
    name: 'the first failure: its gate again beside the first cut',
    state: { batch: B4, results: [fail(B4)], slots: 2, gates: ['test'] },
    want: { kind: 'test', runs: [{ members: B4, gate: 'test' }, { members: ['r1', 'r2'] }] },
  },
  {
    name: 'one slot: only the re-run',
    state: { batch: B4, results: [fail(B4)], slots: 1, gates: ['test'] },
    want: { kind: 'test', runs: [{ members: B4, gate: 'test' }] },
  },
  {
    name: 'the re-run of the last gate passes: a flake, everything lands',
    state: { batch: B4, results: [fail(B4), rerunOf(B4, 'pass')], slots: 1, gates: ['test'] },
    want: { kind: 'land', landed: B4, culprits: [], flaky: true },
  },
  {
    name: 'the re-run of an earlier gate passes: the later gates still have to run, a full test decides',
    state: {
      batch: B4,
      results: [fail(B4, { failedGate: 'build' }), { ...rerunOf(B4, 'pass') }],
      slots: 1,
      gates: ['build', 'test'],
    },
    want: { kind: 'test', runs: [{ members: B4 }] },
  },
  {
    name: 'a failure that names no gate: a second full test is its re-run',
    state: { batch: B4, results: [{ members: B4, outcome: 'fail' }], slots: 1 },
    want: { kind: 'test', runs: [{ members: B4 }] },
  },
  {
    name: 'a suspect named by the output: everything but it is the first cut',
    state: { batch: B4, results: [fail(B4, { suspects: ['r2'] })], slots: 2, gates: ['test'] },
    want: { kind: 'test', runs: [{ members: B4, gate: 'test' }, { members: ['r1', 'r3', 'r4'] }] },
  },
  {
    name: 'everything but the suspect passes and the re-run fails: the suspect is the culprit, the rest lands',
    state: {
      batch: B4,
      results: [fail(B4, { suspects: ['r2'] }), rerunOf(B4, 'fail'), pass(['r1', 'r3', 'r4'])],
      slots: 2,
      gates: ['test'],
    },
    want: {
      kind: 'land',
      landed: ['r1', 'r3', 'r4'],
      culprits: [{ id: 'r2', gate: 'test', named: true }],
      flaky: false,
    },
  },
  {
    name: 'the suspects wrong (everything but them fails too): the search goes on among the others',
    state: {
      batch: B4,
      results: [fail(B4, { suspects: ['r4'] }), rerunOf(B4, 'fail'), fail(['r1', 'r2', 'r3'])],
      slots: 2,
      gates: ['test'],
    },
    want: { kind: 'test', runs: [{ members: ['r1'] }, { members: ['r1', 'r2'] }] },
  },
  {
    name: 'two suspects after everything else passed: each alone on that base, side by side',
    state: {
      batch: B4,
      results: [fail(B4, { suspects: ['r1', 'r3'] }), rerunOf(B4, 'fail'), pass(['r2', 'r4'])],
      slots: 2,
      gates: ['test'],
    },
    want: { kind: 'test', runs: [{ members: ['r2', 'r4', 'r1'] }, { members: ['r2', 'r4', 'r3'] }] },
  },
  {
    name: 'a culprit found in the middle: the rest is tested without it in the same pass',
    state: {
      batch: B6,
      results: [fail(B6), rerunOf(B6, 'fail'), pass(['r1', 'r2', 'r3']), fail(['r1', 'r2', 'r3', 'r4'])],
      slots: 2,
      gates: ['test'],
      targetPasses: true,
    },
    want: { kind: 'test', runs: [{ members: ['r1', 'r2', 'r3', 'r5', 'r6'] }] },
  },
  {
    name: '… and when the rest passes, everything but the culprit lands',
    state: {
      batch: B6,
      results: [
        fail(B6),
        rerunOf(B6, 'fail'),
        pass(['r1', 'r2', 'r3']),
        fail(['r1', 'r2', 'r3', 'r4']),
        pass(['r1', 'r2', 'r3', 'r5', 'r6']),
      ],
      slots: 2,
      gates: ['test'],
    },
    want: {
      kind: 'land',
      landed: ['r1', 'r2', 'r3', 'r5', 'r6'],
      culprits: [{ id: 'r4', gate: 'test', named: false }],
      flaky: false,
    },
  },
  {
    name: 'a batch of one fails: the target is tested beside the re-run',
    state: { batch: ['r1'], results: [fail(['r1'])], slots: 2, gates: ['test'] },
    want: { kind: 'test', runs: [{ members: ['r1'], gate: 'test' }, { members: [] }] },
  },
  {
    name: 'the target is known to pass: a batch of one whose re-run fails is its culprit',
    state: { batch: ['r1'], results: [fail(['r1']), rerunOf(['r1'], 'fail')], slots: 2, targetPasses: true },
    want: { kind: 'land', landed: [], culprits: [{ id: 'r1', gate: 'test', named: false }], flaky: false },
  },
  {
    name: 'the target alone fails: nobody is blamed',
    state: { batch: ['r1'], results: [fail(['r1']), rerunOf(['r1'], 'fail'), fail([])], slots: 2 },
    want: { kind: 'target-broken', gate: 'test' },
  },
  {
    name: 'a longer set passes after a shorter one failed: the failure was a flake',
    state: {
      batch: B4,
      results: [fail(B4), rerunOf(B4, 'fail'), fail(['r1', 'r2']), pass(['r1', 'r2', 'r3'])],
      slots: 1,
      gates: ['test'],
      targetPasses: true,
    },
    want: {
      kind: 'land',
      landed: ['r1', 'r2', 'r3'],
      culprits: [{ id: 'r4', gate: 'test', named: false }],
      flaky: true,
    },
  },
];

describe('decideSearch', () => {
  for (const c of cases) it(c.name, () => expect(decideSearch(c.state)).toEqual(c.want));

  it('refuses a result for a request that is not in the batch', () => {
    expect(() => decideSearch({ batch: B4, results: [pass(['r9'])], slots: 1 })).toThrow(/not in the batch/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Simulated: every batch size, every placement of culprits

/** A world where a set fails exactly when it holds a culprit; suspects as the output would name them. */
function world(culprits: ReadonlySet<string>, evidence: 'exact' | 'none' | 'wrong', innocent: string): SetOracle {
  return (run) => {
    const bad = run.members.filter((m) => culprits.has(m));
    if (bad.length === 0) return { outcome: 'pass' };
    const suspects = evidence === 'exact' ? bad : evidence === 'wrong' ? [innocent] : [];
    return { outcome: 'fail', failedGate: 'test', suspects };
  };
}

function subsets<T>(items: readonly T[], most: number): T[][] {
  const out: T[][] = [[]];
  for (const item of items) for (const s of [...out]) if (s.length < most) out.push([...s, item]);
  return out;
}

describe('decideSearch, simulated', () => {
  it('without flakes: the exact culprits, everything else lands, within bound, for any evidence', () => {
    let checked = 0;
    for (let n = 1; n <= 9; n++) {
      const batch = ids(n);
      for (const bad of subsets(batch, 3))
        for (const evidence of ['exact', 'none', 'wrong'] as const)
          for (const slots of [1, 2, 3])
            for (const speculate of [false, true]) {
              const culprits = new Set(bad);
              const innocent = batch.find((r) => !culprits.has(r)) ?? 'r1';
              const sim = simulateSearch(batch, slots, world(culprits, evidence, innocent), {
                gates: ['test'],
                targetPasses: n % 2 === 0,
                speculate,
              });
              expect(sim.decision.kind).toBe('land');
              if (sim.decision.kind !== 'land') continue;
              expect(new Set(sim.decision.culprits.map((c) => c.id))).toEqual(culprits);
              expect([...sim.decision.landed].sort()).toEqual(batch.filter((r) => !culprits.has(r)).sort());
              expect(sim.decision.flaky).toBe(false);
              if (evidence === 'exact') expect(sim.decision.culprits.every((c) => c.named)).toBe(true);
              if (evidence === 'none') expect(sim.decision.culprits.some((c) => c.named)).toBe(false);
              expect(sim.rounds).toBeLessThanOrEqual(maxSearchRounds(n));
              checked++;
            }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('with exact evidence, one culprit costs two rounds and three runs, whatever the batch size', () => {
    for (const n of [4, 8, 16, 40]) {
      const batch = ids(n);
      const sim = simulateSearch(batch, 2, world(new Set([`r${n - 1}`]), 'exact', 'r1'), {
        gates: ['test'],
        targetPasses: true,
      });
      expect(sim.rounds).toBe(2);
      expect(sim.results).toHaveLength(3);
    }
  });

  it('a flake on the first test: still the exact answer, marked flaky', () => {
    for (let n = 1; n <= 8; n++) {
      const batch = ids(n);
      for (const bad of subsets(batch, 1)) {
        const culprits = new Set(bad);
        let first = true;
        const oracle: SetOracle = (run) => {
          if (first) {
            first = false;
            return { outcome: 'fail', failedGate: 'test' };
          }
          return world(culprits, 'none', 'r1')(run);
        };
        const sim = simulateSearch(batch, 2, oracle, { gates: ['test'], targetPasses: true });
        if (sim.decision.kind !== 'land') throw new Error('not landed');
        expect(sim.decision.culprits.map((c) => c.id)).toEqual(bad);
        expect([...sim.decision.landed].sort()).toEqual(batch.filter((r) => !culprits.has(r)).sort());
        if (bad.length === 0) expect(sim.decision.flaky).toBe(true);
      }
    }
  });

  it('a failure only two requests make together: one of them goes back, and what lands passes', () => {
    const batch = ids(6);
    for (const [a, b] of [
      ['r1', 'r2'],
      ['r2', 'r5'],
      ['r3', 'r6'],
    ] as const) {
      const oracle: SetOracle = (run) =>
        run.members.includes(a) && run.members.includes(b)
          ? { outcome: 'fail', failedGate: 'test', suspects: [a, b] }
          : { outcome: 'pass' };
      const sim = simulateSearch(batch, 2, oracle, { gates: ['test'], targetPasses: true });
      if (sim.decision.kind !== 'land') throw new Error('not landed');
      expect(sim.decision.culprits).toHaveLength(1);
      expect(oracle({ members: sim.decision.landed }).outcome).toBe('pass');
      expect(sim.decision.landed).toHaveLength(5);
    }
  });

  it('a target that fails alone: target-broken, nobody blamed', () => {
    for (let n = 1; n <= 6; n++) {
      const sim = simulateSearch(ids(n), 2, () => ({ outcome: 'fail', failedGate: 'test' }), { gates: ['test'] });
      expect(sim.decision).toEqual({ kind: 'target-broken', gate: 'test' });
    }
  });

  it('random flakes on good sets: it ends in bound, and what lands holds no culprit', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(random() * 10);
      const batch = ids(n);
      const culprits = new Set(batch.filter(() => random() < 0.2));
      const oracle: SetOracle = (run) => {
        const truth = world(culprits, random() < 0.5 ? 'exact' : 'none', 'r1')(run);
        return truth.outcome === 'pass' && random() < 0.15 ? { outcome: 'fail', failedGate: 'test' } : truth;
      };
      const sim = simulateSearch(batch, 1 + (trial % 2), oracle, { gates: ['test'], targetPasses: true });
      if (sim.decision.kind !== 'land') continue;
      expect(sim.decision.landed.some((r) => culprits.has(r))).toBe(false);
    }
  });
});

describe('suspectsOf', () => {
  const changed = new Map([
    ['a', ['src/m07.mjs']],
    ['b', ['src/parser.ts', 'README.md']],
    ['c', ['lib/x.py']],
    ['d', ['src/util/io.ts']],
  ]);
  const cases: { output: string; want: string[] }[] = [
    { output: 'FAIL\nm07.mjs: add(1) is -6, not 8', want: ['a'] },
    { output: ' FAIL  test/parser.test.ts > parses a header', want: ['b'] },
    { output: 'Traceback:\n  File "/work/lib/x.py", line 3', want: ['c'] },
    { output: 'error at src/util/io.ts:12:4', want: ['d'] },
    { output: 'FAIL test/io.test.ts', want: [] }, // a stem of two letters counts only by full name
    { output: 'all 3 suites failed to start', want: [] },
    { output: 'm07.mjs and parser.ts both fail', want: ['a', 'b'] },
  ];
  for (const c of cases) it(JSON.stringify(c.output), () => expect(suspectsOf(c.output, changed)).toEqual(c.want));
});
