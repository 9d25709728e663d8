import { describe, expect, it } from 'vitest';
import { parseSlingTarget } from './target.js';

describe('parseSlingTarget', () => {
  it('reads rigs and agent addresses', () => {
    expect(parseSlingTarget('gastown')).toEqual({ kind: 'rig', rig: 'gastown' });
    expect(parseSlingTarget('gastown/')).toEqual({ kind: 'rig', rig: 'gastown' });
    expect(parseSlingTarget('gastown/polecats/toast')).toEqual({
      kind: 'agent',
      address: 'gastown/polecats/toast',
      identity: { role: 'polecat', rig: 'gastown', name: 'toast' },
    });
    expect(parseSlingTarget('gastown/crew/ana')).toMatchObject({ kind: 'agent', identity: { role: 'crew' } });
    expect(parseSlingTarget('mayor')).toMatchObject({ kind: 'agent', address: 'mayor' });
    expect(parseSlingTarget('deacon')).toMatchObject({ kind: 'agent', address: 'deacon' });
    expect(parseSlingTarget('gastown/witness')).toMatchObject({
      kind: 'agent',
      identity: { role: 'witness', rig: 'gastown' },
    });
  });

  it('refuses what is neither, hostile text included', () => {
    for (const bad of [
      '',
      '  ',
      'gastown/polecats',
      'gastown/polecats/a/b',
      'gastown/cooks/x',
      '../x',
      '-rf',
      '$(touch x)',
      'a b',
      'hq',
      'gastown/polecats/witness',
    ]) {
      expect(() => parseSlingTarget(bad), bad).toThrow();
    }
  });
});
