import { describe, expect, it } from 'vitest';
import { gatesPassedOn, readGatesRecord, type GatesRecord } from './gate-record.js';

const GATES = [
  { name: 'build', argv: ['npm', 'run', 'build'] },
  { name: 'test', argv: ['npm', 'test'] },
];

function run(commit: string, results: Record<string, boolean>, argv: Record<string, string[]> = {}): GatesRecord {
  const gates = Object.entries(results).map(([name, ok]) => ({
    name,
    argv: argv[name] ?? GATES.find((g) => g.name === name)?.argv ?? [],
    ok,
    exit_code: ok ? 0 : 1,
    timed_out: false,
    ms: 5,
  }));
  return { commit, branch: 'b', rig: 'gastown', ok: gates.every((g) => g.ok), gates };
}

describe('gatesPassedOn', () => {
  it.each([
    ['every gate passed on the commit', [run('c1', { build: true, test: true })], 'c1'],
    [
      'the newest run on the commit counts (it failed since)',
      [run('c1', { build: true, test: true }), run('c1', { build: true, test: false })],
      null,
    ],
    [
      'the newest run on the commit counts (it passed since)',
      [run('c1', { build: false }), run('c1', { build: true, test: true })],
      'c1',
    ],
    ['a run on another commit', [run('c0', { build: true, test: true })], null],
    [
      'runs on other commits after it do not matter',
      [run('c1', { build: true, test: true }), run('c2', { build: false })],
      'c1',
    ],
    ['a gate missing (the rig added one since)', [run('c1', { build: true })], null],
    [
      'a gate whose command changed since',
      [run('c1', { build: true, test: true }, { test: ['npm', 'run', 'quick'] })],
      null,
    ],
    ['no runs', [], null],
  ] as const)('%s', (_what, records, expected) => {
    expect(gatesPassedOn(records, 'c1', GATES)).toBe(expected);
  });

  it('a rig without gates, or no commit, gives nothing', () => {
    expect(gatesPassedOn([run('c1', {})], 'c1', [])).toBeNull();
    expect(gatesPassedOn([run('', { build: true, test: true })], '', GATES)).toBeNull();
  });
});

describe('readGatesRecord', () => {
  it('reads what runOwnGates stores, and refuses what is not a record', () => {
    const r = run('c1', { build: true, test: false });
    expect(readGatesRecord(JSON.stringify(r))).toEqual(r);
    for (const bad of [null, '', 'not json', '[]', '{"commit":1,"gates":[]}', '{"commit":"c","gates":[{"name":1}]}'])
      expect(readGatesRecord(bad)).toBeUndefined();
  });

  it('does not believe a record that says ok over a failed gate', () => {
    const lie = { ...run('c1', { build: true, test: false }), ok: true };
    expect(readGatesRecord(JSON.stringify(lie))?.ok).toBe(false);
  });
});
