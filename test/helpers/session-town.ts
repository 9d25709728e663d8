import { afterEach } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDetached } from '../../src/exec/exec.js';
import { TmuxSessionProvider } from '../../src/session/tmux.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../../src/store/sqlite-bead-store.js';
import { addPolecat } from '../../src/town/polecat.js';
import { loadSettings, saveSettings, type Town } from '../../src/town/town.js';
import type { TownContext } from '../../src/work/sessions.js';
import { cleanEnv, GT_BIN, gt, requireBuild, type RunResult } from './bd.js';
import { townWithRig } from './town-fixture.js';

export type TraceRecord = {
  step: string;
  text?: string;
  bead?: string;
  sha?: string | null;
  exit?: number | null;
  dialog?: string;
  accepted?: boolean;
  event?: string;
  reason?: string;
};

/**
 * A town with rig "gastown" and polecat "toast", whose agents run the sim by default; custom agents for the
 * fault knobs are added per test. Every gt call runs the built binary in a clean environment; `cleanup` ends
 * the town's own tmux server (only it) and removes the directories.
 */
export async function sessionTown(label: string) {
  requireBuild();
  const t = await townWithRig(label);
  const town: Town = t.town;
  const env = cleanEnv(join(t.base, 'home'));
  const settings = loadSettings(town);
  saveSettings(town, { ...settings, default_agent: 'sim' });
  await addPolecat(town, 'gastown', { name: 'toast', actor: 'tester', ownerEmail: town.owner, nowMs: Date.now() });
  const provider = new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux'));
  const stores: SqliteBeadStore[] = [];
  return {
    town,
    env,
    provider,
    base: t.base,
    run: (...args: string[]): RunResult => gt(args, { cwd: town.root, env }),
    store(): SqliteBeadStore {
      const s = openSqliteBeadStore(town.dbPath);
      stores.push(s);
      return s;
    },
    /** A custom agent running the sim with the given knobs (after the preset's own arguments). */
    simAgent(name: string, ...knobs: string[]): void {
      const s = loadSettings(town);
      saveSettings(town, {
        ...s,
        agents: { ...s.agents, [name]: { preset: 'sim', command: 'gt', args: knobs, env: {} } },
      });
    },
    context(store: SqliteBeadStore): TownContext {
      return {
        town,
        settings: loadSettings(town),
        store,
        provider,
        env,
        gtCommand: [process.execPath, GT_BIN],
        gtBin: GT_BIN,
        actor: 'tester',
        now: () => Date.now(),
        // Watchers (gt nudge --flush) end by themselves once the queue is empty or the session is gone.
        spawnGt: (args) =>
          void spawnDetached(process.execPath, [GT_BIN, ...args], {
            cwd: town.root,
            env: { ...env, GT_TOWN_ROOT: town.root },
          }),
      };
    },
    trace(session: string): TraceRecord[] {
      const file = join(town.root, '.runtime', 'sim', `${session}.jsonl`);
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as TraceRecord);
    },
    /** kill -9 of the agent process in a session (the session stays, its pane dead). */
    async killAgent(session: string): Promise<void> {
      const pid = await provider.programPid(session);
      if (pid === undefined) throw new Error(`no agent process in ${session}`);
      process.kill(pid, 'SIGKILL');
    },
    async cleanup(): Promise<void> {
      for (const s of stores) s.dispose();
      await provider.killServer();
      t.cleanup();
    },
  };
}

export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type SessionTown = Awaited<ReturnType<typeof sessionTown>>;

/** A `fixture(label)` for a test file: every town it makes is cleaned up after each test (its daemon too). */
export function useSessionTowns(): (label: string) => Promise<SessionTown> {
  const made: SessionTown[] = [];
  afterEach(async () => {
    for (const f of made.splice(0)) {
      f.run('daemon', 'stop');
      await f.cleanup();
    }
  });
  return async (label) => {
    const f = await sessionTown(label);
    made.push(f);
    return f;
  };
}
