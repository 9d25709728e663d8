import { describe, expect, it } from 'vitest';
import { need, NOW } from '../../test/helpers/feed-views.js';
import { NotFoundError } from '../core/errors.js';
import { errorLine, eventInRig, needLine, plainLine, sinceArg } from './feed.js';
import { frameDiff, useColor } from './feed-term.js';

describe('gt feed --plain and --problems: lines', () => {
  it('an event is `<time> <actor> <text>`, with control characters made harmless', () => {
    expect(
      plainLine({
        id: 7,
        at: '2026-12-01T12:00:00.123Z',
        actor: 'mayor',
        subject: 'ga-1',
        type: 'created',
        text: 'ga-1 filed "a\u001b[2Jb"',
        tone: 'info',
      }),
    ).toBe('2026-12-01T12:00:00.123Z mayor ga-1 filed "a?[2Jb"');
  });

  it('a need is severity, age, kind, subject and summary, with who is on it', () => {
    expect(needLine(need('gastown/polecats/toast'), NOW)).toBe(
      'medium     2m  agent      gastown/polecats/toast: stalled on ga-1',
    );
    expect(
      needLine(need('#3', { kind: 'problem', subject: 'gastown', owner: 'gastown/witness', state: 'open' }), NOW),
    ).toBe('medium     2m  problem    gastown: stalled on ga-1 (open, gastown/witness)');
  });

  it.each([
    ['10m', '2026-12-01T11:50:00.000Z'],
    ['1h', '2026-12-01T11:00:00.000Z'],
    ['1h30m', '2026-12-01T10:30:00.000Z'],
    ['2d', '2026-11-29T12:00:00.000Z'],
    ['2026-12-01T13:00:00+02:00', '2026-12-01T11:00:00Z'],
  ])('--since %s is %s', (text, iso) => expect(sinceArg(text, NOW)).toBe(iso));

  it('--since refuses what is neither, saying what to give', () => {
    expect(() => sinceArg('yesterday', NOW)).toThrow('--since "yesterday" is neither a duration nor a time');
    expect(() => sinceArg('0m', NOW)).toThrow('neither');
  });

  it.each([
    [{ subject: 'gastown', actor: 'tester' }, true],
    [{ subject: 'gastown/polecats/toast', actor: 'root' }, true],
    [{ subject: 'hq-1', actor: 'gastown/polecats/toast' }, true],
    [{ subject: 'ga-abc', actor: 'mayor' }, true],
    [{ subject: 'hq-1', actor: 'mayor' }, false],
    [{ subject: 'gastownx/witness', actor: 'mayor' }, false],
    [{ subject: 'problem:4', actor: 'daemon' }, false],
  ])('event %o is about rig gastown: %s', (e, yes) =>
    expect(eventInRig(e, { name: 'gastown', prefix: 'ga' })).toBe(yes),
  );

  it('an error in the status line is its message and its hint, on one line', () => {
    expect(errorLine(new NotFoundError('x has no\nsession', { hint: 'start one' }))).toBe(
      'x has no session (start one)',
    );
    expect(errorLine('plain')).toBe('plain');
  });
});

describe('the feed: the terminal', () => {
  it('writes only the lines that changed, and all of them after a resize', () => {
    expect(frameDiff(['a', 'b', 'c'], ['a', 'B', 'c'])).toBe('\u001b[2;1HB\u001b[K');
    expect(frameDiff(['a', 'b'], ['a', 'b'])).toBe('');
    expect(frameDiff(null, ['a', 'b'])).toBe('\u001b[H\u001b[2J\u001b[1;1Ha\u001b[K\u001b[2;1Hb\u001b[K');
    // Fewer lines than before (a smaller screen is redrawn whole anyway): the rest is cleared.
    expect(frameDiff(['a', 'b', 'c'], ['a'])).toBe('\u001b[2;1H\u001b[K\u001b[3;1H\u001b[K');
  });

  it.each([
    [{ TERM: 'xterm-256color' }, true],
    [{ TERM: 'xterm', NO_COLOR: '1' }, false],
    [{ TERM: 'xterm', NO_COLOR: '' }, true],
    [{ TERM: 'dumb' }, false],
    [{}, true],
  ])('colour with %o: %s', (env, yes) => expect(useColor(env)).toBe(yes));
});
