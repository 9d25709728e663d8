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
      const summary = json<{ beads_done: number; merged: number; killed: string | null; restarts_after_a_crash: number; polecats: number; main_commits: number }>(r);
      expect(summary).toMatchObject({ beads_done: 12, merged: 12 });
      expect(summary.killed).toMatch(/^widgets\/polecats\//);
      expect(summary.restarts_after_a_crash).toBeGreaterThanOrEqual(1);
      expect(summary.polecats).toBeLessThanOrEqual(12);
      expect(summary.main_commits).toBeGreaterThanOrEqual(25); // the project, 12 parts, 12 merges
      const town = findTown({ cwd: join(dir, 'town') });
      const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
      expect(await provider.list()).toEqual([]);
      expect(existsSync(provider.socketPath())).toBe(false);
      expect(existsSync(join(town.root, '.runtime', 'daemon.pid'))).toBe(false);
    } finally {
      t.cleanup();
    }
  }, 150_000);
});
