import { describe, expect, it } from 'vitest';
import { firstShellBlock } from './script.js';

describe('firstShellBlock', () => {
  it('takes the first sh block and nothing else', () => {
    const d = 'Make the file.\n\n```js\nconsole.log(1)\n```\n\n```sh\necho one > a.txt\necho two >> a.txt\n```\n\n```sh\nrm -rf nope\n```\n';
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
