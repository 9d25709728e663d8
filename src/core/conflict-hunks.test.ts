import { describe, expect, it } from 'vitest';
import { conflictHunks } from './conflict-hunks.js';

const file = [
  'one',
  'two',
  '<<<<<<< ours',
  'three, ours',
  '=======',
  'three, theirs',
  '>>>>>>> theirs',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  '<<<<<<< ours',
  'nine',
  '=======',
  '>>>>>>> theirs',
  'ten',
].join('\n');

describe('conflictHunks', () => {
  it('gives each conflicting region with its context and where it starts', () => {
    expect(conflictHunks(file, { context: 1 }).split('\n')).toEqual([
      '@@ line 2 @@',
      'two',
      '<<<<<<< ours',
      'three, ours',
      '=======',
      'three, theirs',
      '>>>>>>> theirs',
      'four',
      '@@ line 12 @@',
      'eight',
      '<<<<<<< ours',
      'nine',
      '=======',
      '>>>>>>> theirs',
      'ten',
    ]);
  });

  it('joins regions whose context meets, and says what it leaves out past maxLines', () => {
    expect(
      conflictHunks(file, { context: 3 })
        .split('\n')
        .filter((l) => l.startsWith('@@')),
    ).toEqual(['@@ line 1 @@']);
    const short = conflictHunks(file, { context: 0, maxLines: 7 }).split('\n');
    expect(short[0]).toBe('@@ line 3 @@');
    expect(short.at(-1)).toBe('… 4 more line(s) of conflicts not shown');
  });

  it('is empty for a file without markers, and ignores a marker that never closes', () => {
    expect(conflictHunks('a\nb\n')).toBe('');
    expect(conflictHunks('<<<<<<< ours\nx\n')).toBe('');
  });
});
