import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { findTown } from '../src/town/town.js';
import { cleanEnv, gtAsync, json, requireBuild } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

/** `gt demo`, the README's run command: the whole loop, a crash and its recovery, nothing left running. */
describe('gt demo', () => {
  it('finishes every bead, recovers from the kill, and leaves nothing running', async () => {
    requireBuild();
    const t = tempDir('demo');
    try {
      const dir = join(t.dir, 'demo');
      const r = await gtAsync(['demo', '--dir', dir, '--json'], { cwd: t.dir, env: cleanEnv(join(t.dir, 'home')) });
      const summary = json<{
        beads_done: number;
        merged: number;
        killed: string | null;
        restarts_after_a_crash: number;
        polecats: number;
        main_commits: number;
      }>(r);
      expect(summary).toMatchObject({ beads_done: 12, merged: 12 });
      expect(summary.killed).toMatch(/^widgets\/polecats\//);
      expect(summary.restarts_after_a_crash).toBeGreaterThanOrEqual(1);
      expect(summary.polecats).toBeLessThanOrEqual(12);
      expect(summary.main_commits).toBeGreaterThanOrEqual(25); // the project, 12 parts, 12 merges
      // Each merge says once what it merged: 'Merge <bead>: <title>', not 'Merge <bead>: Merge <bead>: …'.
      const merges = execFileSync('git', ['log', 'main', '--merges', '--format=%s'], {
        cwd: join(dir, 'widgets.git'),
        encoding: 'utf8',
      })
        .trim()
        .split('\n');
      expect(merges).toHaveLength(12);
      for (const subject of merges) expect(subject).toMatch(/^Merge [a-z]+-[a-z0-9]+: Make part \d+$/);
      const town = findTown({ cwd: join(dir, 'town') });
      const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
      expect(await provider.list()).toEqual([]);
      expect(existsSync(provider.socketPath())).toBe(false);
      expect(existsSync(join(town.root, '.runtime', 'daemon.pid'))).toBe(false);
    } finally {
      t.cleanup();
    }
  }, 150_000);

  it('--keep leaves the town running (the daemon, the mayor to attach to) until gt down', async () => {
    requireBuild();
    const t = tempDir('demo-keep');
    const env = cleanEnv(join(t.dir, 'home'));
    const dir = join(t.dir, 'demo');
    let provider: TmuxSessionProvider | undefined;
    try {
      const r = await gtAsync(['demo', '--dir', dir, '--keep', '--json'], { cwd: t.dir, env });
      expect(json<{ beads_done: number; kept: boolean; sessions_running: string[] }>(r)).toMatchObject({
        beads_done: 12,
        kept: true,
        sessions_running: ['hq-mayor'],
      });
      const town = findTown({ cwd: join(dir, 'town') });
      provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
      const status = json<{ daemon: { running: boolean }; agents: { address: string; state: string }[] }>(
        await gtAsync(['status', '--json'], { cwd: town.root, env }),
      );
      expect(status.daemon.running).toBe(true);
      expect(status.agents.find((a) => a.address === 'mayor')?.state).toBe('idle');
      expect((await gtAsync(['down'], { cwd: town.root, env })).status).toBe(0);
      expect(await provider.list()).toEqual([]);
      expect(existsSync(provider.socketPath())).toBe(false);
      expect(existsSync(join(town.root, '.runtime', 'daemon.pid'))).toBe(false);
    } finally {
      await provider?.killServer();
      t.cleanup();
    }
  }, 150_000);
});
