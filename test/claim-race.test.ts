import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bd, bdAsync, cleanEnv, json, requireBuild, type RunResult } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

/**
 * Real processes racing through the real binary on one SQLite file: the claim must be a compare-and-set that
 * exactly one caller wins, and no caller may ever see "database is locked".
 */
const WORKERS = 30;
const BEADS = 300;

let root: { dir: string; cleanup: () => void };
beforeAll(() => {
  requireBuild();
  root = tempDir('claim-race');
});
afterAll(() => root.cleanup());

function setup(name: string, beads: number): { dir: string; env: Record<string, string> } {
  const dir = join(root.dir, name);
  mkdirSync(dir);
  const env = cleanEnv(join(dir, 'home'));
  expect(bd(['init', '--prefix', 'race'], { cwd: dir, env }).status).toBe(0);
  const lines = Array.from({ length: beads }, (_v, i) =>
    JSON.stringify({ id: `race-${i}`, title: `bead ${i}`, priority: i % 5, created_at: '2026-01-01T00:00:00Z' }),
  );
  const imported = json<{ created: number }>(
    bd(['import', '-', '--json', '--actor', 'setup'], { cwd: dir, env, input: `${lines.join('\n')}\n` }),
  );
  expect(imported.created).toBe(beads);
  return { dir, env };
}

function noLockErrors(results: readonly RunResult[]): void {
  const locked = results.filter((r) => /locked|SQLITE_BUSY/i.test(r.stderr));
  expect(locked.map((r) => r.stderr)).toEqual([]);
}

describe('concurrent claims through bd', () => {
  it(`${WORKERS} processes claim ${BEADS} beads: each exactly once, no lock errors, events agree`, async () => {
    const { dir, env } = setup('many', BEADS);
    const claimedBy = new Map<string, string[]>();
    const results: RunResult[] = [];
    const worker = async (n: number): Promise<void> => {
      const actor = `worker-${n}`;
      for (;;) {
        const r = await bdAsync(['ready', '--claim', '--json', '--actor', actor], { cwd: dir, env });
        results.push(r);
        expect(r.status, r.stderr).toBe(0);
        const got = JSON.parse(r.stdout) as { id: string; assignee: string }[];
        if (got.length === 0) return;
        for (const g of got) {
          expect(g.assignee).toBe(actor);
          claimedBy.set(g.id, [...(claimedBy.get(g.id) ?? []), actor]);
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_v, n) => worker(n)));

    noLockErrors(results);
    expect(results.filter((r) => r.stderr !== '').map((r) => r.stderr)).toEqual([]);
    expect(claimedBy.size).toBe(BEADS);
    expect([...claimedBy.values()].filter((actors) => actors.length !== 1)).toEqual([]);
    // Work really was spread over the racing processes.
    expect(new Set([...claimedBy.values()].flat()).size).toBeGreaterThan(1);

    const beads = json<{ id: string; status: string; assignee: string }[]>(
      bd(['list', '--json', '--limit', '0'], { cwd: dir, env }),
    );
    expect(beads).toHaveLength(BEADS);
    for (const b of beads) {
      expect(b.status).toBe('in_progress');
      expect(b.assignee).toBe(claimedBy.get(b.id)?.[0]);
    }
    const events = json<{ issue_id: string; actor: string; new_value: string }[]>(
      bd(['events', '--type', 'claimed', '--json'], { cwd: dir, env }),
    );
    expect(events).toHaveLength(BEADS);
    expect(new Set(events.map((e) => e.issue_id)).size).toBe(BEADS);
    for (const e of events) {
      expect(e.actor).toBe(claimedBy.get(e.issue_id)?.[0]);
      expect(e.new_value).toBe(e.actor);
    }
  });

  it(`${WORKERS} processes claim the same bead: exactly one wins`, async () => {
    const { dir, env } = setup('one', 1);
    const results = await Promise.all(
      Array.from({ length: WORKERS }, (_v, n) =>
        bdAsync(['update', 'race-0', '--claim', '--json', '--actor', `w${n}`], { cwd: dir, env }),
      ),
    );
    noLockErrors(results);
    const winners = results.filter((r) => r.status === 0);
    expect(winners).toHaveLength(1);
    const losers = results.filter((r) => r.status !== 0);
    // bd exits 1 for every error, as beads does; the JSON error says it was a conflict.
    expect(
      losers.every(
        (r) =>
          r.status === 1 &&
          /already claimed by w\d+/.test(r.stderr) &&
          (JSON.parse(r.stderr) as { code: string }).code === 'conflict',
      ),
    ).toBe(true);
    const winner = (JSON.parse(winners[0]?.stdout ?? '[]') as { assignee: string }[])[0]?.assignee;
    const events = json<{ actor: string }[]>(
      bd(['events', 'race-0', '--type', 'claimed', '--json'], { cwd: dir, env }),
    );
    expect(events.map((e) => e.actor)).toEqual([winner]);
  });
});
