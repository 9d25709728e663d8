import { describe, expect, it } from 'vitest';
import { parseKeys } from './agent.js';
import { firstShellBlock, returnShellBlock } from './script.js';

describe('firstShellBlock', () => {
  it('takes the first sh block and nothing else', () => {
    const d =
      'Make the file.\n\n```js\nconsole.log(1)\n```\n\n```sh\necho one > a.txt\necho two >> a.txt\n```\n\n```sh\nrm -rf nope\n```\n';
    expect(firstShellBlock(d)).toBe('echo one > a.txt\necho two >> a.txt\n');
  });

  it('accepts bash and shell fences, tildes, and indentation', () => {
    expect(firstShellBlock('~~~bash\nls\n~~~')).toBe('ls\n');
    expect(firstShellBlock('  ```shell\n  pwd\n  ```')).toBe('  pwd\n');
  });

  it('finds nothing without a block, with an empty one, or with an unclosed one', () => {
    expect(firstShellBlock('just prose, `sh` inline')).toBeUndefined();
    expect(firstShellBlock('```sh\n\n```')).toBeUndefined();
    expect(firstShellBlock('```sh\necho never closed\n')).toBeUndefined();
    expect(firstShellBlock('```shellcheck\nx\n```')).toBeUndefined();
  });
});

describe('returnShellBlock', () => {
  const d = [
    'Paint it blue.',
    '',
    '```sh conflict',
    'git checkout --theirs -- colours.txt',
    '```',
    '',
    '```sh',
    'echo blue > colours.txt',
    '```',
    '',
    '~~~bash fix-needed',
    'echo fixed',
    '~~~',
  ].join('\n');

  it("finds the block for the refinery's cause, which is never the work itself", () => {
    expect(firstShellBlock(d)).toBe('echo blue > colours.txt\n');
    expect(returnShellBlock(d, 'conflict')).toBe('git checkout --theirs -- colours.txt\n');
    expect(returnShellBlock(d, 'fix-needed')).toBe('echo fixed\n');
  });

  it('finds nothing for another cause, no cause, or a word that only starts like one', () => {
    expect(returnShellBlock(d, 'branch-missing')).toBeUndefined();
    expect(returnShellBlock(d, '')).toBeUndefined();
    expect(returnShellBlock('```sh conflicted\nx\n```', 'conflict')).toBeUndefined();
    expect(returnShellBlock('```sh conflict\n\n```', 'conflict')).toBeUndefined();
  });
});

describe('the sim line editor', () => {
  it('splits raw terminal input into keys', () => {
    expect(parseKeys('hi there\r')).toEqual([{ kind: 'char', text: 'hi there' }, { kind: 'enter' }]);
    expect(parseKeys('\u001b[B\r')).toEqual([{ kind: 'down' }, { kind: 'enter' }]);
    expect(parseKeys('\u001bOA')).toEqual([{ kind: 'up' }]);
    expect(parseKeys('ab\u007f\u001b')).toEqual([
      { kind: 'char', text: 'ab' },
      { kind: 'backspace' },
      { kind: 'escape' },
    ]);
    expect(parseKeys('\u001b[200~x\u0003')).toEqual([{ kind: 'char', text: 'x' }, { kind: 'interrupt' }]);
  });
});
