import { describe, expect, it } from 'vitest';
import { shellCommands } from './shell-words.js';

describe('shellCommands', () => {
  it.each<[string, string[][]]>([
    ['', []],
    ['git status', [['git', 'status']]],
    ['  git   log  --oneline ', [['git', 'log', '--oneline']]],
    // separators
    ['cd a && git push || echo no; ls', [['cd', 'a'], ['git', 'push'], ['echo', 'no'], ['ls']]],
    ['git push & wait', [['git', 'push'], ['wait']]],
    ['a | b |& c', [['a'], ['b'], ['c']]],
    ['one\ntwo', [['one'], ['two']]],
    // quoting comes off; quoted operators are text
    [`git commit -m 'a && git push'`, [['git', 'commit', '-m', 'a && git push']]],
    [`echo "x; y" z`, [['echo', 'x; y', 'z']]],
    [`g"i"t 'pu'sh`, [['git', 'push']]],
    [`echo "say \\"hi\\" \\$HOME"`, [['echo', 'say "hi" $HOME']]],
    ['echo a\\ b', [['echo', 'a b']]],
    ['git \\\npush', [['git', 'push']]],
    [`echo ''`, [['echo', '']]],
    // redirections: the descriptor and the target are no arguments, and & in them separates nothing
    [
      'git push 2>&1 | tee log',
      [
        ['git', 'push'],
        ['tee', 'log'],
      ],
    ],
    ['git push >/dev/null 2>err', [['git', 'push']]],
    ['git push &>out', [['git', 'push']]],
    ['cat <in >>out', [['cat']]],
    ['cmd >| file', [['cmd']]],
    // nested commands are listed too
    [
      'echo $(git push)',
      [
        ['git', 'push'],
        ['echo', ''],
      ],
    ],
    [
      'echo "now: $(git push origin)"',
      [
        ['git', 'push', 'origin'],
        ['echo', 'now: '],
      ],
    ],
    [
      'echo `git push`',
      [
        ['git', 'push'],
        ['echo', ''],
      ],
    ],
    [
      '(cd x && git push)',
      [
        ['cd', 'x'],
        ['git', 'push'],
      ],
    ],
    [
      'diff <(git show a) b',
      [
        ['git', 'show', 'a'],
        ['diff', 'b'],
      ],
    ],
    [
      'echo $((1 + 2))',
      [
        ['1', '+', '2'],
        ['echo', ''],
      ],
    ],
    [`echo '$(git push)'`, [['echo', '$(git push)']]],
    // comments
    ['git status # then git push', [['git', 'status']]],
    ['echo a#b', [['echo', 'a#b']]],
    // what cannot be parsed is still split
    [`echo 'open`, [['echo', 'open']]],
    ['echo "open', [['echo', 'open']]],
    ['a ) b', [['a'], ['b']]],
  ])('%j', (text, expected) => {
    expect(shellCommands(text)).toEqual(expected);
  });
});
