import { describe, expect, it } from 'vitest';
import { invokedCommand, runBd } from './bd.js';
import type { Io } from './io.js';

function memoryIo(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: {},
    cwd: '/nonexistent',
    readStdin: () => '',
    stdinIsTTY: false,
  };
  return io;
}

describe('invokedCommand', () => {
  it.each([
    [['show', 'x'], 'show'],
    [['--json', 'ready'], 'ready'],
    [['--db', 'show', 'list'], 'list'],
    [['--actor', 'me', 'new', 't'], 'create'],
    [['done', 'x'], 'close'],
    [['--json'], undefined],
    [['frobnicate'], undefined],
    [['help', 'show'], undefined],
    [['-q', 'delete', 'x'], 'delete'],
    [['--quiet', 'ping'], 'ping'],
  ])('%j → %s', (argv, expected) => {
    expect(invokedCommand(argv)).toBe(expected);
  });
});

describe('runBd', () => {
  it('lists every command in the top-level help', async () => {
    const io = memoryIo();
    expect(await runBd(['--help'], io)).toBe(0);
    for (const name of [
      'create',
      'show',
      'list',
      'ready',
      'blocked',
      'update',
      'close',
      'reopen',
      'search',
      'dep',
      'label',
      'comment',
      'comments',
      'init',
      'stats',
      'export',
      'import',
      'config',
      'events',
      'delete',
      'defer',
      'undefer',
      'supersede',
      'stale',
      'ping',
    ]) {
      expect(io.stdout).toMatch(new RegExp(`\\n  ${name}\\b`));
    }
  });

  it('suggests a command for a typo', async () => {
    const io = memoryIo();
    expect(await runBd(['redy'], io)).toBe(1);
    expect(io.stderr).toMatch(/unknown command 'redy'.*ready/);
  });

  it('shows help for one command', async () => {
    const io = memoryIo();
    expect(await runBd(['ready', '--help'], io)).toBe(0);
    expect(io.stdout).toContain('Usage: bd ready');
    expect(io.stdout).toContain('--claim');
  });
});
