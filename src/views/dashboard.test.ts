import { describe, expect, it } from 'vitest';
import { readAction } from './dashboard.js';

describe("the dashboard's actions", () => {
  it('reads what the page posts into the actions the library runs', () => {
    expect(readAction({ kind: 'nudge', agent: ' gastown/polecats/toast ', text: 'look up' })).toEqual({
      kind: 'nudge',
      agent: 'gastown/polecats/toast',
      text: 'look up',
    });
    expect(readAction({ kind: 'restart', agent: 'mayor', text: 'ignored' })).toEqual({
      kind: 'restart',
      agent: 'mayor',
    });
    expect(readAction({ kind: 'ack', escalation: 'hq-abc' })).toEqual({ kind: 'ack', escalation: 'hq-abc' });
  });

  it('refuses what is not an action, in one line that says what to send', () => {
    expect(() => readAction(null)).toThrow('an action is a JSON object');
    expect(() => readAction([])).toThrow('an action is a JSON object');
    expect(() => readAction({ kind: 'delete-town' })).toThrow('unknown action "delete-town"');
    expect(() => readAction({ kind: 'restart' })).toThrow('restart needs an agent address');
    expect(() => readAction({ kind: 'restart', agent: 'not an address' })).toThrow();
    expect(() => readAction({ kind: 'nudge', agent: 'mayor', text: '  ' })).toThrow('a nudge needs text');
    expect(() => readAction({ kind: 'nudge', agent: 'mayor', text: 'x'.repeat(4001) })).toThrow('at most 4000');
    expect(() => readAction({ kind: 'ack' })).toThrow('ack needs the escalation id');
  });
});
