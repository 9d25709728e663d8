import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { daemonPid, runDaemon } from '../src/daemon/daemon.js';
import { FakeSessionProvider } from '../src/session/fake.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { installTown, loadSettings, saveSettings } from '../src/town/town.js';
import { tempDir } from './helpers/tmp.js';

/** The daemon's loop itself, over the in-memory session provider. */

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A provider whose next `failures` waits throw, as tmux does when its server goes away mid-call. */
class FlakyProvider extends FakeSessionProvider {
  constructor(private failures: number) {
    super();
  }

  override waitForChange(timeoutMs: number, signal?: AbortSignal): Promise<'changed' | 'timeout'> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new Error('lost server'));
    }
    return super.waitForChange(timeoutMs, signal);
  }
}

describe('the daemon loop', () => {
  it('survives a failed look: logs it, looks again, and keeps its slot until it stops', async () => {
    const t = tempDir('daemon-loop');
    cleanups.push(t.cleanup);
    const { town } = await installTown(join(t.dir, 'town'), {
      owner: 'owner@example.com',
      actor: 'tester',
      nowIso: '2026-11-23T00:00:00.000Z',
    });
    // Nothing standing to start (the daemon reads the file every pass): this is about the loop.
    const s = loadSettings(town);
    saveSettings(town, { ...s, daemon: { ...s.daemon, standing_roles: [] } });
    const store = openSqliteBeadStore(town.dbPath);
    cleanups.unshift(() => store.dispose());
    const provider = new FlakyProvider(2);
    const log: Record<string, unknown>[] = [];
    await runDaemon(
      {
        town,
        settings: loadSettings(town),
        store,
        provider,
        env: {},
        gtCommand: ['gt'],
        gtBin: 'gt',
        actor: 'daemon',
        now: () => Date.now(),
        spawnGt: () => undefined,
      },
      { tickMs: 20, passes: 4, log: (e) => log.push(e) },
    );
    expect(log.filter((e) => e.event === 'error').map((e) => e.message)).toEqual([
      'pass failed: lost server',
      'pass failed: lost server',
    ]);
    expect(log.at(-1)).toMatchObject({ event: 'stopped' });
    expect(daemonPid(town)).toBeUndefined(); // its slot is released
  });
});
