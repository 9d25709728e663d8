import { describe, expect, it } from 'vitest';
import { parsePatrolScan } from './patrol-scan.js';

const SCAN = {
  at: '2026-03-01T12:00:00.000Z',
  owner: 'rig1/witness',
  rig: 'rig1',
  problems: [
    {
      id: 12,
      kind: 'stalled',
      subject: 'rig1/polecats/toast',
      subject_type: 'agent',
      rig: 'rig1',
      owner: 'rig1/witness',
      state: 'open',
      summary: 'no progress on rig1-abc for 31 min',
      evidence: { hook: 'rig1-abc', session_alive: true, sandbox: { uncommitted: 0, unpushed: 1 }, reset_at: null },
      first_seen: '2026-03-01T11:30:00.000Z',
      last_seen: '2026-03-01T11:59:00.000Z',
      woken_at: '2026-03-01T11:59:00.000Z',
      resolved_at: null,
      resolution: null,
      escalation: null,
      decisions: [
        { action: 'nudge', reason: 'asked whether it is stuck', actor: 'rig1/witness', at: '2026-03-01T11:40:00Z' },
      ],
    },
  ],
  agents: [
    { address: 'rig1/polecats/toast', role: 'polecat', state: 'stalled', hook: 'rig1-abc', session_alive: true },
  ],
};

describe('parsePatrolScan', () => {
  it('reads the scan gt patrol scan --json prints', () => {
    const scan = parsePatrolScan(JSON.parse(JSON.stringify(SCAN)));
    // (earlier_decisions, absent here, reads as none.)
    expect(scan).toEqual({ ...SCAN, problems: SCAN.problems.map((p) => ({ ...p, earlier_decisions: [] })) });
  });

  it('fills fields a scan may leave out (decisions, resolution) with their empty values', () => {
    const { decisions: _d, resolved_at: _r, resolution: _s, ...bare } = SCAN.problems[0] ?? {};
    const scan = parsePatrolScan({ ...SCAN, problems: [bare] });
    expect(scan.problems[0]).toMatchObject({ decisions: [], resolved_at: null, resolution: null });
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an object', [], /the scan must be an object/],
    [
      'an unknown kind',
      { ...SCAN, problems: [{ ...SCAN.problems[0], kind: 'sad' }] },
      /problems\[0\]\.kind is not a problem kind/,
    ],
    [
      'an unknown state',
      { ...SCAN, problems: [{ ...SCAN.problems[0], state: 'meh' }] },
      /problems\[0\]\.state must be one of/,
    ],
    [
      'an unknown action',
      { ...SCAN, problems: [{ ...SCAN.problems[0], decisions: [{ action: 'merge', actor: 'x', at: 'y' }] }] },
      /decisions\[0\]\.action is not a patrol action/,
    ],
    [
      'a missing id',
      { ...SCAN, problems: [{ ...SCAN.problems[0], id: '12' }] },
      /problems\[0\]\.id must be a whole number/,
    ],
    ['agents not a list', { ...SCAN, agents: {} }, /agents must be an array/],
  ];
  it.each(bad)('refuses %s, naming the field', (_what, json, message) => {
    expect(() => parsePatrolScan(json)).toThrow(message);
  });
});
