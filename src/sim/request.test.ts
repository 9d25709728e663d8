import { describe, expect, it } from 'vitest';
import { parseRequestPlan } from './request.js';

describe('the sim Mayor reads a spelled-out request', () => {
  it('makes one bead per ## heading, in order, with the text under it as its description', () => {
    const plan = parseRequestPlan(
      [
        'Please add a health endpoint and a test for it.',
        'rig: gastown',
        '',
        '## Add a health endpoint',
        'Serve GET /health.',
        '```sh',
        'echo ok > health.txt',
        '## not a heading: inside the script',
        '```',
        '',
        '## Test the health endpoint',
        '```sh',
        'test -f health.txt',
        '```',
      ].join('\n'),
    );
    expect(plan.rig).toBe('gastown');
    expect(plan.beads.map((b) => b.title)).toEqual(['Add a health endpoint', 'Test the health endpoint']);
    expect(plan.beads[0]?.description).toBe(
      'Serve GET /health.\n```sh\necho ok > health.txt\n## not a heading: inside the script\n```',
    );
    expect(plan.beads[1]?.description).toBe('```sh\ntest -f health.txt\n```');
  });

  it.each([
    ['plain words only', 'add a health endpoint and a test for it', { rig: null, beads: [] }],
    [
      'a rig line after the first heading is text',
      '## one\nrig: other',
      { rig: null, beads: [{ title: 'one', description: 'rig: other' }] },
    ],
    ['CRLF line ends', 'rig: r1\r\n## one\r\nbody\r\n', { rig: 'r1', beads: [{ title: 'one', description: 'body' }] }],
    ['a bad rig name is not a rig', 'rig: ../x\n## one', { rig: null, beads: [{ title: 'one', description: '' }] }],
  ])('%s', (_name, body, want) => {
    expect(parseRequestPlan(body)).toEqual(want);
  });
});
