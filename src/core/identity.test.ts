import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import {
  agentAddress,
  agentGitIdentity,
  groupAddress,
  groupMembers,
  parseRecipient,
  parseAddress,
  polecatBranch,
  ROLE_SPECS,
  ROLES,
  sessionName,
  supervisorOf,
  tmuxSocketName,
  validateName,
  type AgentIdentity,
  type Recipient,
} from './identity.js';

const IDS: [AgentIdentity, string, string][] = [
  [{ role: 'mayor' }, 'mayor', 'hq-mayor'],
  [{ role: 'deacon' }, 'deacon', 'hq-deacon'],
  [{ role: 'boot' }, 'deacon/boot', 'hq-boot'],
  [{ role: 'witness', rig: 'gastown' }, 'gastown/witness', 'gt-witness'],
  [{ role: 'refinery', rig: 'gastown' }, 'gastown/refinery', 'gt-refinery'],
  [{ role: 'polecat', rig: 'gastown', name: 'toast' }, 'gastown/polecats/toast', 'gt-toast'],
  [{ role: 'crew', rig: 'gastown', name: 'ana' }, 'gastown/crew/ana', 'gt-crew-ana'],
];

describe('identities', () => {
  it.each(IDS)('%j has address %s and session %s, and the address parses back', (id, address, session) => {
    expect(agentAddress(id)).toBe(address);
    expect(sessionName(id, 'gt')).toBe(session);
    expect(parseAddress(address)).toEqual(id);
  });

  it('describes every role in the one registry', () => {
    expect(Object.keys(ROLE_SPECS).sort()).toEqual([...ROLES].sort());
  });

  it.each([
    '',
    'mayor/x',
    'gastown',
    'gastown/polecats',
    'gastown/polecats/a/b',
    '../x/witness',
    'a;b/witness',
    'g/crew/-rf',
  ])('rejects the address %j', (address) => {
    expect(() => parseAddress(address)).toThrow(ValidationError);
  });

  it('needs the rig prefix for rig sessions', () => {
    expect(() => sessionName({ role: 'witness', rig: 'g' })).toThrow(/bead prefix/);
  });
});

describe('names', () => {
  it.each(['gastown', 'toast', 'my-app', 'rig_2', 'A1'])('accepts %s', (name) => {
    expect(validateName('rig', name)).toBe(name);
  });

  it.each(['../x', 'a;b', '-rf', 'two words', 'x'.repeat(300), '', 'a/b', '$(rm)', 'a.b', 'a\nb', '`x`', 'é'])(
    'refuses the hostile name %j',
    (name) => {
      for (const kind of ['town', 'rig', 'polecat', 'crew'] as const)
        expect(() => validateName(kind, name)).toThrow(ValidationError);
    },
  );

  it('keeps reserved names from colliding with town paths and other sessions', () => {
    expect(() => validateName('rig', 'hq')).toThrow(/reserved/);
    expect(() => validateName('rig', 'mayor')).toThrow(/reserved/);
    expect(() => validateName('polecat', 'witness')).toThrow(/reserved/);
    expect(() => validateName('polecat', 'crew-ana')).toThrow(/reserved/);
    expect(validateName('polecat', 'mayorx')).toBe('mayorx');
  });

  it('shortens a very long name in the error', () => {
    expect(() => validateName('rig', 'y'.repeat(300))).toThrow(/"y{40}…"/);
  });
});

describe('town tmux socket, branches and git identity', () => {
  it('derives a stable socket per town path that differs between towns', () => {
    const a = tmuxSocketName('/home/me/town');
    expect(a).toMatch(/^gt-town-[0-9a-f]{8}$/);
    expect(tmuxSocketName('/home/me/town')).toBe(a);
    expect(tmuxSocketName('/home/you/town')).not.toBe(a);
    expect(tmuxSocketName('/weird path/$(x) ;')).toMatch(/^gt-x-[0-9a-f]{8}$/);
  });

  it('names polecat branches with the bead and a sortable stamp', () => {
    const at = Date.UTC(2026, 10, 23, 14, 5, 9, 123);
    expect(polecatBranch('toast', 'gt-abc', at)).toBe('polecat/toast/gt-abc@20261123T140509Z');
    expect(polecatBranch('toast', undefined, at)).toBe('polecat/toast@20261123T140509Z');
    expect(() => polecatBranch('toast', '../etc', at)).toThrow(ValidationError);
    expect(() => polecatBranch('-rf', undefined, at)).toThrow(ValidationError);
  });

  it("signs an agent's commits with its name and the owner's email", () => {
    expect(agentGitIdentity({ role: 'polecat', rig: 'g', name: 'toast' }, 'me@example.com')).toEqual({
      name: 'toast',
      email: 'me@example.com',
    });
    expect(agentGitIdentity({ role: 'witness', rig: 'g' }, 'me@example.com').name).toBe('g/witness');
  });
});

describe('supervisorOf', () => {
  it.each([
    [{ role: 'polecat', rig: 'gastown' }, 'gastown/witness'],
    [{ role: 'refinery', rig: 'gastown' }, 'gastown/witness'],
    [{ role: 'crew', rig: 'gastown' }, 'gastown/witness'],
    [{ role: 'witness', rig: 'gastown' }, 'deacon'],
    [{ role: 'mayor', rig: null }, 'deacon'],
    [{ role: 'deacon', rig: null }, 'mayor'],
    [{ role: 'boot', rig: null }, 'mayor'],
  ] as const)('%o reports to %s', (agent, expected) => {
    expect(supervisorOf(agent)).toBe(expected);
  });
});

describe('mail recipients', () => {
  it.each([
    ['overseer', { kind: 'overseer' }],
    ['mayor', { kind: 'agent', address: 'mayor' }],
    ['gastown/polecats/toast', { kind: 'agent', address: 'gastown/polecats/toast' }],
    ['@witnesses', { kind: 'group', group: { kind: 'witnesses' } }],
    ['@town', { kind: 'group', group: { kind: 'town' } }],
    ['@overseer', { kind: 'group', group: { kind: 'overseer' } }],
    ['@rig/gastown', { kind: 'group', group: { kind: 'rig', rig: 'gastown' } }],
    ['@polecats/gastown', { kind: 'group', group: { kind: 'polecats', rig: 'gastown' } }],
  ] as [string, Recipient][])('%s is %j', (address, expected) => {
    expect(parseRecipient(address)).toEqual(expected);
    if (expected.kind === 'group') expect(groupAddress(expected.group)).toBe(address);
  });

  it.each([
    ['@everyone', /unknown mail group "@everyone": the groups are @witnesses, @rig\/<rig>, @polecats\/<rig>, @town/],
    ['@rig', /unknown mail group/],
    ['@rig/a.b', /invalid rig name/],
    ['@polecats/gastown/toast', /unknown mail group/],
    ['Ada Lovelace', /invalid agent address/],
    ['overseer/x', /invalid agent address/],
  ])('refuses %s', (address, message) => {
    expect(() => parseRecipient(address)).toThrow(message);
  });

  const AGENTS = [
    { address: 'mayor', role: 'mayor', rig: null },
    { address: 'gastown/witness', role: 'witness', rig: 'gastown' },
    { address: 'gastown/polecats/toast', role: 'polecat', rig: 'gastown' },
    { address: 'gastown/crew/ana', role: 'crew', rig: 'gastown' },
    { address: 'beads/witness', role: 'witness', rig: 'beads' },
    { address: 'beads/polecats/nux', role: 'polecat', rig: 'beads' },
  ] as const;

  it.each([
    ['@witnesses', ['gastown/witness', 'beads/witness']],
    ['@rig/gastown', ['gastown/witness', 'gastown/polecats/toast', 'gastown/crew/ana']],
    ['@polecats/beads', ['beads/polecats/nux']],
    ['@polecats/nowhere', []],
    ['@town', AGENTS.map((a) => a.address)],
    ['@overseer', ['overseer']],
  ])('%s has %j', (address, members) => {
    const r = parseRecipient(address);
    if (r.kind !== 'group') throw new Error('not a group');
    expect(groupMembers(r.group, AGENTS)).toEqual(members);
  });
});
