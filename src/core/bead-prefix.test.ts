import { describe, expect, it } from 'vitest';
import { choosePrefix, rigPrefixFor } from './bead-prefix.js';

const RIGS = [
  { prefix: 'ga', path: '/town/gastown' },
  { prefix: 'gas', path: '/town/gas' },
  { prefix: 'bd', path: '/town/beads/' },
];

describe('rigPrefixFor', () => {
  it.each([
    ['/town/gastown', 'ga'],
    ['/town/gastown/polecats/toast', 'ga'],
    ['/town/gastown/refinery/rig/src', 'ga'],
    ['/town/gas/crew/ana', 'gas'],
    ['/town/beads/witness', 'bd'],
    ['/town/gastowner', undefined],
    ['/town/mayor', undefined],
    ['/town', undefined],
    ['/elsewhere/gastown', undefined],
  ])('%s → %s', (dir, expected) => {
    expect(rigPrefixFor(dir, RIGS)).toBe(expected);
  });

  it('takes the deepest rig should two nest', () => {
    expect(
      rigPrefixFor('/t/a/b/c', [
        { prefix: 'a', path: '/t/a' },
        { prefix: 'b', path: '/t/a/b' },
      ]),
    ).toBe('b');
  });
});

describe('choosePrefix', () => {
  it.each([
    ['x', 'ga', 'hq', 'x'],
    [undefined, 'ga', 'hq', 'ga'],
    [undefined, undefined, 'hq', 'hq'],
  ])('explicit %s, rig %s, store %s → %s', (explicit, rig, store, expected) => {
    expect(choosePrefix(explicit, rig, store)).toBe(expected);
  });
});
