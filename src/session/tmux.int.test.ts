import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSessionContract } from './session.contract.js';
import { TmuxSessionProvider } from './tmux.js';

/** Real tmux on a private socket per test; the test kills only that server and removes only its directory. */
function makeTmux() {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gt-tmux-')));
  const socket = `gt-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const provider = new TmuxSessionProvider(socket, join(dir, 'runtime'));
  return {
    provider,
    cwd: dir,
    socket,
    exitProgram: async (name: string) => {
      // The program dies on its own (as an agent crashes); the pane stays (remain-on-exit) and shows it dead.
      // (Not by typing end-of-file: tmux 3.3 skips the pane-died hook for a program that exits while the
      // command typing into it is still being handled.)
      const pid = Number(
        execFileSync('tmux', ['-L', socket, 'display-message', '-p', '-t', `=${name}:`, '#{pane_pid}'], {
          encoding: 'utf8',
        }).trim(),
      );
      process.kill(pid, 'SIGTERM');
      await Promise.resolve();
    },
    cleanup: async () => {
      await provider.killServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

runSessionContract('TmuxSessionProvider', () => Promise.resolve(makeTmux()));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function processArgs(): string {
  return execFileSync('ps', ['-A', '-o', 'args='], { encoding: 'utf8' });
}

describe('TmuxSessionProvider specifics', () => {
  it('gives the program its environment without any secret in argv or in the recorded start command', async () => {
    const t = makeTmux();
    cleanups.push(t.cleanup);
    const secret = `sk-test-${Math.random().toString(36).slice(2)}-'quoted' $(nope) "x" \\back\nnew line\ttab`;
    const out = join(t.cwd, 'seen.txt');
    await t.provider.start({
      name: 'sec',
      argv: ['sh', '-c', 'printf %s "$API_KEY" > "$1"; exec sleep 30', 'sh', out],
      cwd: t.cwd,
      env: { API_KEY: secret },
    });
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8') === secret, 'the program to see its environment');
    expect(processArgs()).not.toContain('sk-test-');
    const recorded = execFileSync(
      'tmux',
      ['-L', t.socket, 'display-message', '-p', '-t', '=sec:', '#{pane_start_command}'],
      { encoding: 'utf8' },
    );
    expect(recorded).not.toContain('sk-test-');
    // The private environment file is gone once the program has started.
    expect(readdirSync(join(t.cwd, 'runtime')).filter((f) => f.startsWith('env-'))).toEqual([]);
  });

  it('stop ends the whole process tree, even a child that ignores hangups and SIGTERM', async () => {
    const t = makeTmux();
    cleanups.push(t.cleanup);
    const pids = join(t.cwd, 'pids.txt');
    await t.provider.start({
      name: 'tree',
      argv: [
        'sh',
        '-c',
        '(trap "" HUP TERM; sleep 300) & echo $! > "$1"; sleep 300 & echo $! >> "$1"; wait',
        'sh',
        pids,
      ],
      cwd: t.cwd,
      env: {},
    });
    await waitFor(
      () => existsSync(pids) && readFileSync(pids, 'utf8').trim().split('\n').length === 2,
      'the children to start',
    );
    const children = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(children.every(alive)).toBe(true);
    await t.provider.stop('tree');
    await waitFor(() => !children.some(alive), 'every child to end');
    expect(await t.provider.isAlive('tree')).toBe(false);
  });

  it('stop and killServer also end what left the tree: a setsid grandchild and an orphan of a double fork', async () => {
    const t = makeTmux();
    cleanups.push(t.cleanup);
    const pids = join(t.cwd, 'pids.txt');
    const spawnDetached = (name: string): Promise<void> =>
      t.provider.start({
        name,
        argv: [
          'sh',
          '-c',
          // Both orphaned at once (init adopts them: no longer descendants of the pane): one in a session of
          // its own (no hangup reaches it), one that ignores hangups and SIGTERM.
          '(setsid sh -c \'echo $$ >> "$1"; exec sleep 300\' sh "$1" &); ' +
            '(trap "" HUP TERM; sh -c \'echo $$ >> "$1"; exec sleep 300\' sh "$1" &); sleep 300',
          'sh',
          pids,
        ],
        cwd: t.cwd,
        env: {},
      });
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
      } catch {
        return false;
      }
    };
    const started = (n: number): number[] => {
      const list = existsSync(pids) ? readFileSync(pids, 'utf8').trim().split('\n').filter(Boolean).map(Number) : [];
      return list.length >= n ? list : [];
    };
    await spawnDetached('detached');
    await waitFor(() => started(2).length === 2, 'the detached processes to start');
    const first = started(2);
    expect(first.every(alive)).toBe(true);
    await t.provider.stop('detached');
    await waitFor(() => !first.some(alive), 'the detached processes to end with their session');

    // gt down's way: the whole server.
    rmSync(pids);
    await spawnDetached('again');
    await waitFor(() => started(2).length === 2, 'the detached processes to start again');
    const second = started(2);
    await t.provider.killServer();
    await waitFor(() => !second.some(alive), 'the detached processes to end with the server');
  });

  it('leaves no server and no socket file behind after killServer', async () => {
    const t = makeTmux();
    cleanups.push(t.cleanup);
    await t.provider.start({ name: 'one', argv: ['cat'], cwd: t.cwd, env: {} });
    const socketPath = execFileSync(
      'tmux',
      ['-L', t.socket, 'display-message', '-p', '-t', '=one:', '#{socket_path}'],
      { encoding: 'utf8' },
    ).trim();
    expect(socketPath).toBe(t.provider.socketPath());
    expect(existsSync(socketPath)).toBe(true);
    // A server whose last session ended exits by itself; its socket file must still go.
    await t.provider.stop('one');
    await t.provider.killServer();
    expect(existsSync(socketPath)).toBe(false);
    expect(await t.provider.list()).toEqual([]);
  });

  it('never touches another server: two providers with different sockets see only their own sessions', async () => {
    const a = makeTmux();
    const b = makeTmux();
    cleanups.push(a.cleanup, b.cleanup);
    await a.provider.start({ name: 'same', argv: ['cat'], cwd: a.cwd, env: {} });
    expect(await b.provider.list()).toEqual([]);
    await b.provider.stop('same');
    expect(await a.provider.isAlive('same')).toBe(true);
  });

  it('reports the server being killed to a waiter, and waits again once a new server runs', async () => {
    const t = makeTmux();
    cleanups.push(t.cleanup);
    await t.provider.start({ name: 'one', argv: ['cat'], cwd: t.cwd, env: {} });
    await t.provider.waitForChange(200); // news from before
    const waiting = t.provider.waitForChange(10_000);
    execFileSync('tmux', ['-L', t.socket, 'kill-server']);
    expect(await waiting).toBe('changed');
    // No server (only its stale socket file): waiting costs nothing and times out.
    expect(await t.provider.waitForChange(300)).toBe('timeout');
    await t.provider.start({ name: 'two', argv: ['cat'], cwd: t.cwd, env: {} });
    const again = t.provider.waitForChange(10_000);
    await t.exitProgram('two');
    expect(await again).toBe('changed');
  });

  it('loses no wake-up sent before its first wait or while the caller is busy, and can stop waiting', async () => {
    // tmux's wait-for keeps a signal that nobody waits for, but a second one drops it again.
    const t = makeTmux();
    cleanups.push(t.cleanup);
    await t.provider.start({ name: 'agent', argv: ['cat'], cwd: t.cwd, env: {} });
    const other = new TmuxSessionProvider(t.socket, join(t.cwd, 'runtime')); // another process (gt agent hook notify)
    // Sent before the first wait (a daemon just started, an agent asking already): the first wait reports news
    // from before, and the signal is still there for the next one (the first pass may have looked too early).
    await other.signalChange();
    expect(await t.provider.waitForChange(5_000)).toBe('changed');
    expect(await t.provider.waitForChange(5_000)).toBe('changed');
    expect(await t.provider.waitForChange(300)).toBe('timeout');
    // Sent after a wait timed out, while the caller is in its pass: the next wait has it.
    await other.signalChange();
    await new Promise((r) => setTimeout(r, 300));
    expect(await t.provider.waitForChange(5_000)).toBe('changed');
    // Two sent while the caller is in the pass after a wake-up (two that find nobody waiting cancel out).
    await new Promise((r) => setTimeout(r, 300));
    await other.signalChange();
    await other.signalChange();
    expect(await t.provider.waitForChange(5_000)).toBe('changed');
    // A caller that stops waiting leaves no tmux client behind.
    await t.provider.stopWaiting();
    const waiting = (): boolean =>
      processArgs()
        .split('\n')
        .some((l) => l.includes(t.socket) && l.trim().endsWith('wait-for gt-events'));
    await waitFor(() => !waiting(), 'no client waiting');
  });

  it('a waiter left by a killed process does not swallow the next death', async () => {
    const t = makeTmux();
    cleanups.push(t.cleanup);
    await t.provider.start({ name: 'agent', argv: ['cat'], cwd: t.cwd, env: {} });
    // What a SIGKILLed daemon leaves: its tmux client still waiting on the events channel.
    const orphan = spawn('tmux', ['-L', t.socket, 'wait-for', 'gt-events'], { stdio: 'ignore' });
    const orphanExit = new Promise((r) => orphan.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    const fresh = new TmuxSessionProvider(t.socket, join(t.cwd, 'runtime2'));
    await fresh.waitForChange(300); // its first wait releases the orphan
    await orphanExit;
    const waiting = fresh.waitForChange(10_000);
    await t.exitProgram('agent');
    expect(await waiting).toBe('changed');
  });

  it('tmux reaps every kill -9 of a program and runs its hook: the waiter holds the pane terminals', async () => {
    // Without the held terminal, tmux here loses about 1 kill in 5 (the pty's end of file first, then a SIGCHLD
    // dropped while libutempter runs): the program stays unreaped, no hook runs, and only the watch sees it.
    const t = makeTmux();
    cleanups.push(t.cleanup);
    const tmux = (...args: string[]): string =>
      execFileSync('tmux', ['-L', t.socket, ...args], { encoding: 'utf8' }).trim();
    const heldByUs = (tty: string): boolean =>
      readdirSync('/proc/self/fd').some((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === tty;
        } catch {
          return false;
        }
      });
    const ttys: string[] = [];
    for (let round = 0; round < 15; round++) {
      await t.provider.start({ name: 'agent', argv: ['sleep', '600'], cwd: t.cwd, env: {} });
      const [pid = '', tty = ''] = tmux('display-message', '-p', '-t', '=agent:', '#{pane_pid} #{pane_tty}').split(' ');
      ttys.push(tty);
      await t.provider.waitForChange(200); // news from before
      const waiting = t.provider.waitForChange(10_000);
      await waitFor(() => heldByUs(tty), 'the waiter to hold the pane terminal');
      process.kill(Number(pid), 'SIGKILL');
      expect(await waiting).toBe('changed');
      // Reaped by tmux (not a zombie left for the watch to find), so the pane is marked dead and its hook ran.
      const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] : '';
      expect(state?.startsWith('Z') ?? false, `round ${round}: killed program not reaped by tmux`).toBe(false);
      expect(tmux('display-message', '-p', '-t', '=agent:', '#{pane_dead}')).toBe('1');
      await t.provider.stop('agent');
    }
    // Dead and gone panes' terminals are let go at the next look.
    await t.provider.waitForChange(200);
    expect(ttys.filter(heldByUs)).toEqual([]);
  });

  it('still notices a death when tmux runs no hook for it (the watch under the hooks)', async () => {
    const t = makeTmux();
    cleanups.push(t.cleanup);
    await t.provider.start({ name: 'agent', argv: ['cat'], cwd: t.cwd, env: {} });
    await t.provider.waitForChange(300); // news from before
    const waiting = t.provider.waitForChange(6_000); // shorter than the panes' full re-listing (10 s)
    await new Promise((r) => setTimeout(r, 300));
    // Remove the hooks the waiter installed: the death below reaches no hook, as tmux sometimes does.
    execFileSync('tmux', ['-L', t.socket, 'set-hook', '-gwu', 'pane-died']);
    execFileSync('tmux', ['-L', t.socket, 'set-hook', '-gwu', 'pane-exited']);
    await t.exitProgram('agent');
    expect(await waiting).toBe('changed');
  });
});
