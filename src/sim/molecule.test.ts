import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../exec/exec.js';
import { walkMolecule, type WalkDeps } from './molecule.js';

/** The sim's walk of a molecule, over a fake gt that keeps the molecule's state. */

function fakeGt(ids: string[], scripts: Record<string, string> = {}) {
  const done = new Set<string>();
  const calls: string[][] = [];
  const status = () => {
    const current = ids.find((id) => !done.has(id)) ?? null;
    return {
      bead: 'ga-1',
      formula: 'f',
      current,
      done: done.size,
      total: ids.length,
      steps: ids.map((id) => ({ id, bead: `ga-1.${id}`, title: id })),
    };
  };
  const ok = (stdout: string): ExecResult => ({ ok: true, stdout, stderr: '', status: 0 });
  const traces: [string, Record<string, unknown>][] = [];
  const ran: string[] = [];
  const deps: WalkDeps = {
    gt: (args) => {
      calls.push([...args]);
      if (args[0] === 'mol' && args[1] === 'status') return Promise.resolve(ok(JSON.stringify(status())));
      if (args[1] === 'step') {
        done.add(args[3] ?? '');
        return Promise.resolve(ok('{}'));
      }
      return Promise.resolve({ ok: false, stdout: '', stderr: 'unknown', status: 2 });
    },
    describe: (bead) => Promise.resolve(scripts[bead.replace('ga-1.', '')] ?? 'no script'),
    run: (script) => {
      ran.push(script.trim());
      return Promise.resolve({ ok: !script.includes('fail'), status: script.includes('fail') ? 1 : 0, output: '' });
    },
    trace: (step, detail) => traces.push([step, detail]),
    say: () => undefined,
    hang: (at) => Promise.reject(new Error(`hung at ${at}`)),
  };
  return { deps, calls, traces, ran, done };
}

describe('walkMolecule', () => {
  it('does each step (its script, if any), closes it, and leaves the last for the hand-in', async () => {
    const g = fakeGt(['a', 'b', 'c'], { b: 'Do b.\n\n```sh\necho b\n```\n' });
    expect(await walkMolecule(g.deps)).toEqual({ kind: 'final', step: 'c', ran: false });
    expect(g.ran).toEqual(['echo b']);
    expect([...g.done]).toEqual(['a', 'b']);
    expect(g.traces.filter(([s]) => s === 'mol_step').map(([, d]) => d.at)).toEqual(['a', 'b', 'c']);
  });

  it('starts where the molecule stands, stops on a failing script, and hangs at the knob', async () => {
    const g = fakeGt(['a', 'b', 'c'], { b: '```sh\nfail\n```' });
    g.done.add('a');
    expect(await walkMolecule(g.deps)).toEqual({ kind: 'stopped' });
    expect(g.traces.filter(([s]) => s === 'mol_step').map(([, d]) => d.at)).toEqual(['b']);
    const h = fakeGt(['a', 'b']);
    await expect(walkMolecule({ ...h.deps, hangAtStep: 'b' })).rejects.toThrow('hung at b');
    expect([...h.done]).toEqual(['a']);
  });

  it('no molecule (gt mol status fails): the usual work', async () => {
    const g = fakeGt([]);
    expect(
      await walkMolecule({
        ...g.deps,
        gt: () => Promise.resolve({ ok: false, stdout: '', stderr: 'no molecule', status: 3 }),
      }),
    ).toEqual({
      kind: 'none',
    });
  });
});
