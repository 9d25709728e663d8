import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bd, cleanEnv, gt, requireBuild } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

/**
 * A damaged store (a truncated file, one overwritten with garbage) is a damaged file, not a bug: one line that
 * says so and what to do, the file left exactly as it was, and gt doctor reporting it as a failed check.
 */
const t = tempDir('damaged');
afterAll(() => t.cleanup());
const digest = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function damage(db: string, how: 'truncate' | 'garbage'): void {
  for (const suffix of ['-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
  if (how === 'truncate') truncateSync(db, 4096);
  else writeFileSync(db, Buffer.from('this is not a database at all, just some bytes that landed here'));
}

describe('a damaged store', () => {
  for (const how of ['truncate', 'garbage'] as const) {
    it(`bd (${how}): exit 1, one line naming the file and what to do, the file untouched`, () => {
      requireBuild();
      const dir = join(t.dir, `bd-${how}`);
      const env = cleanEnv(join(t.dir, 'home'), { BD_ACTOR: 'alice' });
      const run = (...args: string[]) => bd(args, { cwd: dir, env });
      mkdirSync(dir, { recursive: true });
      expect(run('init', '--prefix', 'dm', '-q').status).toBe(0);
      for (let i = 0; i < 40; i++) expect(run('create', `bead ${i}`, '-q').status).toBe(0);
      const db = join(dir, '.beads', 'beads.db');
      damage(db, how);
      const before = digest(db);
      for (const args of [['list'], ['ready'], ['create', 'more'], ['show', 'dm-x']]) {
        const r = run(...args);
        expect(r.status, args.join(' ')).toBe(1);
        expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/is damaged .*nothing was changed — .*gt doctor.*bd import/);
        expect(r.stderr).not.toMatch(/this is a bug/);
      }
      const asJson = run('list', '--json');
      expect(JSON.parse(asJson.stderr)).toMatchObject({ code: 'damaged_store' });
      // bd init does not write over it either.
      expect(run('init', '--prefix', 'dm').status).toBe(1);
      expect(digest(db)).toBe(before);
    });
  }

  it('gt: a one-line error, and gt doctor reports it as a failed check without touching it', () => {
    requireBuild();
    const env = cleanEnv(join(t.dir, 'home'));
    const root = join(t.dir, 'town');
    expect(gt(['install', root], { cwd: t.dir, env }).status).toBe(0);
    const db = join(root, '.beads', 'beads.db');
    damage(db, 'garbage');
    const before = digest(db);
    const status = gt(['status'], { cwd: root, env });
    expect(status.status).toBe(10);
    expect(status.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(status.stderr).toMatch(/the store .*beads\.db is damaged \(file is not a database\); nothing was changed/);
    const doctor = gt(['doctor', '--json'], { cwd: root, env });
    expect(doctor.status).toBe(7);
    const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: { check: string; status: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.check === 'store')).toMatchObject({ status: 'fail' });
    expect(report.checks.find((c) => c.check === 'tmux')?.status).toBe('ok');
    expect(digest(db)).toBe(before);
  });
});
