import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { ConflictError, ValidationError } from '../core/errors.js';
import { openSqliteBeadStore } from '../store/sqlite-bead-store.js';
import { addRig, derivePrefix, rigPaths } from './rig.js';
import { installTown, type Town } from './town.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@e.x',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@e.x',
};
const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });

/** A project repository (the "remote") with one commit on `branch`, optionally tracking a beads ledger. */
function project(base: string, options: { branch?: string; ledger?: string } = {}): string {
  const dir = join(base, `project-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir);
  git(dir, 'init', '--quiet', `--initial-branch=${options.branch ?? 'main'}`);
  writeFileSync(join(dir, 'README.md'), '# project\n');
  if (options.ledger !== undefined) {
    mkdirSync(join(dir, '.beads'));
    writeFileSync(join(dir, '.beads', 'issues.jsonl'), options.ledger);
  }
  git(dir, 'add', '.');
  git(dir, 'commit', '--quiet', '-m', 'first');
  return dir;
}

async function town(): Promise<{ town: Town; base: string }> {
  const t = tempDir('rig');
  cleanups.push(t.cleanup);
  const base = realpathSync(t.dir);
  const result = await installTown(join(base, 'town'), {
    owner: 'o@e.x',
    actor: 'tester',
    nowIso: '2026-11-23T00:00:00.000Z',
  });
  return { town: result.town, base };
}

async function inStore<T>(t: Town, fn: (s: ReturnType<typeof openSqliteBeadStore>) => Promise<T>): Promise<T> {
  const s = openSqliteBeadStore(t.dbPath);
  try {
    return await fn(s);
  } finally {
    s.dispose();
  }
}

describe('derivePrefix', () => {
  it.each([
    ['gastown', [], 'ga'],
    ['gastown', ['ga'], 'gas'],
    ['my-app', [], 'ma'],
    ['my-app', ['ma'], 'my'],
    ['42things', [], 'r4'],
    ['hq', [], 'hq2'],
  ] as const)('%s with %j taken → %s', (name, taken, expected) => {
    expect(derivePrefix(name, new Set(taken))).toBe(expected);
  });
});

describe('gt rig add', () => {
  it('clones the project, makes the refinery worktree on the default branch and registers rig and agents', async () => {
    const { town: t, base } = await town();
    const src = project(base, { branch: 'trunk' });
    const { rig, imported } = await addRig(t, 'gastown', src, { actor: 'tester' });
    const p = rigPaths(t.root, 'gastown');
    expect(rig).toMatchObject({ name: 'gastown', prefix: 'ga', default_branch: 'trunk', path: p.root, url: src });
    expect(imported).toBeNull();
    expect(git(p.repo, 'rev-parse', '--is-bare-repository').trim()).toBe('true');
    expect(git(p.refinery, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('trunk');
    expect(existsSync(join(p.refinery, 'README.md'))).toBe(true);
    expect(git(p.refinery, 'config', 'user.name').trim()).toBe('gastown/refinery');
    expect(git(p.refinery, 'status', '--porcelain')).toBe('');
    expect(JSON.parse(readFileSync(p.settings, 'utf8'))).toEqual({
      version: 1,
      polecat_names: [],
      refinery: {
        gates: {},
        gate_timeout_seconds: 1800,
        batch_min: 4,
        batch_max: 16,
        parallel: 2,
        max_attempts: 3,
        age_boost_per_hour: 1,
      },
    });
    expect(git(p.repo, 'rev-parse', '--verify', 'origin/trunk').trim()).toMatch(/^[0-9a-f]{40}$/);
    for (const d of [p.witness, p.polecats, p.crew]) expect(existsSync(d)).toBe(true);
    const agents = await inStore(t, (s) => s.agents({ rig: 'gastown' }));
    expect(agents.map((a) => [a.address, a.session_name, a.sandbox_path])).toEqual([
      ['gastown/refinery', 'ga-refinery', p.refinery],
      ['gastown/witness', 'ga-witness', p.witness],
    ]);
    expect((await inStore(t, (s) => s.rigs())).map((r) => r.name)).toEqual(['gastown']);
  });

  it('imports the beads ledger the project already tracks', async () => {
    const { town: t, base } = await town();
    const ledger = [
      { id: 'pr-1', title: 'first', created_at: '2026-01-01T00:00:00Z' },
      {
        id: 'pr-2',
        title: 'second',
        created_at: '2026-01-01T00:00:00Z',
        dependencies: [{ depends_on_id: 'pr-1', type: 'blocks' }],
      },
    ]
      .map((b) => JSON.stringify(b))
      .join('\n');
    const { imported } = await addRig(t, 'proj', project(base, { ledger }), { actor: 'tester' });
    expect(imported).toMatchObject({ created: 2 });
    expect((await inStore(t, (s) => s.ready({}))).map((b) => b.id)).toEqual(['pr-1']);
  });

  it('derives distinct prefixes and refuses taken or reserved ones', async () => {
    const { town: t, base } = await town();
    const src = project(base);
    expect((await addRig(t, 'gastown', src, { actor: 'x' })).rig.prefix).toBe('ga');
    expect((await addRig(t, 'galaxy', src, { actor: 'x' })).rig.prefix).toBe('gal');
    await expect(addRig(t, 'other', src, { actor: 'x', prefix: 'ga' })).rejects.toThrow(ConflictError);
    await expect(addRig(t, 'other', src, { actor: 'x', prefix: 'hq' })).rejects.toThrow(ValidationError);
    expect(await addRig(t, 'gastown', src, { actor: 'x' })).toMatchObject({
      created: false,
      imported: null,
      rig: { prefix: 'ga' },
    });
    await expect(addRig(t, 'gastown', project(base), { actor: 'x' })).rejects.toThrow(
      /already has a rig named gastown/,
    );
    expect(existsSync(join(t.root, 'other'))).toBe(false);
  });

  it.each([
    ['a repository that does not exist', (base: string) => ({ src: join(base, 'nowhere'), opts: {} })],
    ['a branch the repository lacks', (base: string) => ({ src: project(base), opts: { branch: 'nope' } })],
    ['a ledger that will not import', (base: string) => ({ src: project(base, { ledger: '{not json\n' }), opts: {} })],
  ])('leaves nothing behind after a failure part-way: %s', async (_what, setup) => {
    const { town: t, base } = await town();
    const { src, opts } = setup(base);
    await expect(addRig(t, 'broken', src, { actor: 'x', ...opts })).rejects.toThrow();
    expect(existsSync(join(t.root, 'broken'))).toBe(false);
    expect(await inStore(t, (s) => s.rigs())).toEqual([]);
    expect((await inStore(t, (s) => s.agents({}))).map((a) => a.address)).toEqual(['deacon', 'deacon/boot', 'mayor']);
    expect(await inStore(t, (s) => s.list({ statuses: ['open'] }))).toEqual([]);
  });

  it('refuses hostile rig names and option values, creating nothing', async () => {
    const { town: t, base } = await town();
    const src = project(base);
    const before = readdirSync(t.root).sort();
    for (const name of ['../x', 'a;b', '-rf', 'two words', 'x'.repeat(300), 'mayor']) {
      await expect(addRig(t, name, src, { actor: 'x' })).rejects.toThrow(ValidationError);
    }
    await expect(addRig(t, 'ok', '--upload-pack=touch /tmp/pwned', { actor: 'x' })).rejects.toThrow(ValidationError);
    await expect(addRig(t, 'ok', src, { actor: 'x', branch: '-x' })).rejects.toThrow(ValidationError);
    expect(readdirSync(t.root).sort()).toEqual(before);
  });
});
