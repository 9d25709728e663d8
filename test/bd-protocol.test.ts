import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bd, cleanEnv, gt, json, requireBuild, type RunResult } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

/**
 * beads' command-line contract, black-box, as its protocol suite pins it down: exit status 1 for every error,
 * schema_version on JSON objects (arrays bare), --quiet, partial close, and the newer commands (delete,
 * defer/undefer, supersede, stale, ping) with their fields. Plus Gas Town's per-rig prefixes.
 */

type Issue = Record<string, unknown> & { id: string; title: string; status: string };

let root: { dir: string; cleanup: () => void };
beforeAll(() => {
  requireBuild();
  root = tempDir('bd-protocol');
});
afterAll(() => root.cleanup());

let counter = 0;
function workspace() {
  const dir = join(root.dir, `ws${++counter}`);
  mkdirSync(dir, { recursive: true });
  const env = cleanEnv(join(dir, 'home'), { BD_ACTOR: 'alice' });
  const run = (...args: string[]): RunResult => bd(args, { cwd: dir, env });
  const init = run('init', '--prefix', 't', '--quiet');
  expect(init).toMatchObject({ status: 0, stdout: '', stderr: '' });
  const create = (...args: string[]): Issue => json<Issue>(run('create', ...args, '--json'));
  const show = (id: string): Issue => {
    const [issue] = json<Issue[]>(run('show', id, '--json'));
    if (issue === undefined) throw new Error(`no ${id}`);
    return issue;
  };
  const readyIds = (): string[] => json<Issue[]>(run('ready', '--json')).map((i) => i.id);
  const ledger = (): string =>
    run('export', '-o', '-', '--include-ephemeral').stdout + JSON.stringify(json(run('events', '--json')));
  return { dir, env, run, create, show, readyIds, ledger };
}

function expectFailure(r: RunResult, pattern: RegExp): void {
  expect(r.status, r.stdout + r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe('exit status and error JSON', () => {
  it('exits 1 for every kind of error, the kind kept in the JSON code', () => {
    const ws = workspace();
    const a = ws.create('A');
    const b = ws.create('B', '--deps', a.id);
    const cases: [string[], string][] = [
      [['show', 't-nope'], 'not_found'],
      [['create', 'x', '-p', '9'], 'validation'],
      [['dep', 'add', a.id, b.id], 'cycle'],
      [['close', b.id], 'conflict'],
      [['frobnicate'], 'usage'],
      [['init', '--prefix', 't'], 'already_initialized'],
    ];
    for (const [args, code] of cases) {
      const r = ws.run(...args, '--json');
      expect(r.status, args.join(' ')).toBe(1);
      expect(JSON.parse(r.stderr), args.join(' ')).toMatchObject({ code, schema_version: 1 });
    }
    const nodb = join(root.dir, 'nodb');
    mkdirSync(nodb);
    const r = bd(['list', '--json'], { cwd: nodb, env: cleanEnv(join(nodb, 'h')) });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ code: 'no_database', schema_version: 1 });
  });
});

describe('JSON shapes', () => {
  it('puts schema_version on every object and leaves arrays bare; show stays an array', () => {
    const ws = workspace();
    const a = ws.create('A');
    const b = ws.create('B');
    expect(a.schema_version).toBe(1);
    const objects: string[][] = [
      ['ping'],
      ['stats'],
      ['dep', 'add', b.id, a.id],
      ['dep', 'remove', b.id, a.id],
      ['config', 'get', 'issue_prefix'],
      ['comment', 'add', a.id, 'hi'],
      ['delete', b.id, '--dry-run'],
    ];
    for (const args of objects) {
      const value = json<Record<string, unknown>>(ws.run(...args, '--json'));
      expect(Array.isArray(value), args.join(' ')).toBe(false);
      expect(value.schema_version, args.join(' ')).toBe(1);
    }
    const arrays: string[][] = [['show', a.id], ['list'], ['ready'], ['blocked'], ['update', a.id, '--notes', 'n']];
    for (const args of arrays) {
      const value = json<unknown>(ws.run(...args, '--json'));
      expect(Array.isArray(value), args.join(' ')).toBe(true);
      expect(JSON.stringify(value)).not.toContain('schema_version');
    }
  });

  it('ping is a health check of the database', () => {
    const ws = workspace();
    expect(json<Record<string, unknown>>(ws.run('ping', '--json'))).toMatchObject({
      status: 'ok',
      integrity: 'ok',
      database: join(ws.dir, '.beads', 'beads.db'),
      schema_version: 1,
    });
    expect(ws.run('ping').stdout).toMatch(/^✓ ok/);
  });
});

describe('--quiet', () => {
  it('prints nothing but errors, globally and on init', () => {
    const ws = workspace();
    const created = ws.run('-q', 'create', 'quiet one');
    expect(created).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const [issue] = json<Issue[]>(ws.run('list', '--json'));
    expect(issue?.title).toBe('quiet one');
    expect(ws.run('close', issue?.id ?? '', '--quiet')).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const later = ws.create('later');
    expect(ws.run('--quiet', 'defer', later.id, '--until', '2020-01-01')).toMatchObject({ status: 0, stderr: '' });
    expect(ws.run('defer', later.id, '--until', '2020-01-01').stderr).toMatch(/in the past/);
    expectFailure(ws.run('-q', 'show', 't-nope'), /issue t-nope not found/);
  });
});

describe('close several', () => {
  it('closes every issue it can, reports the rest on stderr, and fails only when none closed', () => {
    const ws = workspace();
    const blocker = ws.create('blocker');
    const blocked = ws.create('blocked', '--deps', blocker.id);
    const free = ws.create('free');
    const r = ws.run('close', blocked.id, free.id, 't-nope');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Closed ${free.id}`);
    expect(r.stderr).toContain(`cannot close ${blocked.id}`);
    expect(r.stderr).toContain('issue t-nope not found');
    expect(ws.show(free.id).status).toBe('closed');
    expect(ws.show(blocked.id).status).toBe('open');
    const before = ws.ledger();
    expectFailure(ws.run('close', blocked.id, 't-nope'), /cannot close .*; issue t-nope not found/);
    expect(ws.ledger()).toBe(before);
    const both = json<Issue[]>(ws.run('close', blocked.id, blocker.id, '--json'));
    expect(both.map((i) => i.status)).toEqual(['closed', 'closed']);
  });
});

describe('messages tools match on', () => {
  it('says cannot be empty, not found, already open and not deferred', () => {
    const ws = workspace();
    const a = ws.create('A');
    expectFailure(ws.run('create', '  '), /title cannot be empty/);
    expectFailure(ws.run('update', a.id, '--title', ''), /title cannot be empty/);
    expectFailure(ws.run('dep', 'add', a.id, 't-zzz'), /issue t-zzz not found/);
    const reopen = ws.run('reopen', a.id);
    expect(reopen.status).toBe(0);
    expect(reopen.stderr).toMatch(new RegExp(`${a.id} is already open`));
    expectFailure(ws.run('undefer', a.id), new RegExp(`${a.id} is not deferred`));
  });
});

describe('delete', () => {
  it('removes the issue and every edge naming it; refuses without --force while others depend on it', () => {
    const ws = workspace();
    const target = ws.create('target', '-l', 'x');
    const dependent = ws.create('dependent', '--deps', target.id);
    const before = ws.ledger();
    expect(ws.run('export', '-o', join(ws.dir, 'before.jsonl')).status).toBe(0);
    expectFailure(ws.run('delete', target.id), new RegExp(`cannot delete ${target.id}: 1 issue\\(s\\) depend on it`));
    const preview = ws.run('delete', target.id, '--dry-run');
    expect(preview.stdout).toContain('DELETE PREVIEW');
    expect(json<Record<string, unknown>>(ws.run('delete', target.id, '--dry-run', '--json'))).toMatchObject({
      status: 'preview',
      dependencies_removed: 0,
      dependencies: [expect.objectContaining({ issue_id: dependent.id, depends_on_id: target.id })],
    });
    expect(ws.ledger()).toBe(before);
    expect(json<Record<string, unknown>>(ws.run('delete', target.id, '--force', '--json'))).toMatchObject({
      status: 'deleted',
      id: target.id,
      dependencies_removed: 1,
      dependents: [dependent.id],
    });
    expectFailure(ws.run('show', target.id), /not found/);
    expect(ws.show(dependent.id).dependencies).toBeUndefined();
    expect(ws.readyIds()).toEqual([dependent.id]);
    expect(ws.run('delete', dependent.id).status).toBe(0);
    expect(json<unknown[]>(ws.run('list', '--json', '--all'))).toEqual([]);
    // The ledger written before the deletion does not bring it back.
    expect(ws.run('import', join(ws.dir, 'before.jsonl')).status).toBe(0);
    expectFailure(ws.run('show', target.id), /not found/);
  });
});

describe('defer, undefer and scheduling fields', () => {
  it('keeps a deferred issue out of ready until its date; a past date warns', () => {
    const ws = workspace();
    const a = ws.create('A');
    const b = ws.create('B');
    const deferred = json<Issue[]>(ws.run('defer', a.id, '--until', '+2d', '--json'));
    expect(deferred[0]?.defer_until).toMatch(/^\d{4}-/);
    expect(ws.readyIds()).toEqual([b.id]);
    const undeferred = ws.run('undefer', a.id);
    expect(undeferred.status).toBe(0);
    expect(ws.readyIds().sort()).toEqual([a.id, b.id].sort());
    ws.run('update', b.id, '--defer', 'tomorrow');
    expect(ws.readyIds()).toEqual([a.id]);
    const past = ws.run('update', b.id, '--defer', '2020-01-01');
    expect(past.status).toBe(0);
    expect(past.stderr).toMatch(/in the past/);
    expect(ws.readyIds().sort()).toEqual([a.id, b.id].sort());
    ws.run('update', b.id, '--defer', '');
    expect(ws.show(b.id).defer_until).toBeUndefined();
    ws.run('defer', b.id);
    expect(ws.show(b.id).status).toBe('deferred');
    expect(ws.readyIds()).toEqual([a.id]);
    ws.run('undefer', b.id);
    expect(ws.show(b.id).status).toBe('open');
    expectFailure(ws.run('defer', a.id, '--until', 'someday'), /invalid date "someday" for --until/);
  });

  it('takes --estimate, --due and --spec-id on create and update, refusing bad values writing nothing', () => {
    const ws = workspace();
    const a = ws.create('A', '--estimate', '90', '--due', '2027-03-01', '--spec-id', 'docs/auth.md');
    expect(a).toMatchObject({ estimated_minutes: 90, due_at: '2027-03-01T00:00:00Z', spec_id: 'docs/auth.md' });
    expect(ws.run('show', a.id).stdout).toContain('Estimate: 90 min · Due: 2027-03-01T00:00:00Z · Spec: docs/auth.md');
    const [u] = json<Issue[]>(ws.run('update', a.id, '-e', '2h', '--due', '', '--json'));
    expect(u).toMatchObject({ estimated_minutes: 120 });
    expect(u?.due_at).toBeUndefined();
    const before = ws.ledger();
    expectFailure(ws.run('update', a.id, '--estimate', '-5'), /invalid estimate "-5"/);
    expectFailure(ws.run('create', 'x', '--due', 'next week'), /invalid date "next week" for --due/);
    expect(ws.ledger()).toBe(before);
  });

  it('round-trips the new fields through export and import in beads field names', () => {
    const ws = workspace();
    const a = ws.create('A', '-e', '30', '--due', '2027-01-02', '--spec-id', 'S-1');
    ws.run('update', a.id, '--defer', '2027-01-01');
    const text = ws.run('export', '-o', '-').stdout;
    expect(JSON.parse(text)).toMatchObject({
      estimated_minutes: 30,
      due_at: '2027-01-02T00:00:00Z',
      defer_until: '2027-01-01T00:00:00Z',
      spec_id: 'S-1',
    });
    const other = workspace();
    const file = join(other.dir, 'in.jsonl');
    writeFileSync(file, text);
    expect(other.run('import', file).status).toBe(0);
    expect(other.run('export', '-o', '-').stdout).toBe(text);
  });
});

describe('supersede and caused-by', () => {
  it('supersede closes the issue and records a supersedes edge; caused-by never blocks', () => {
    const ws = workspace();
    const old = ws.create('old');
    const fresh = ws.create('new');
    const r = json<Issue>(ws.run('supersede', old.id, '--with', fresh.id, '--json'));
    expect(r).toMatchObject({ id: old.id, status: 'closed', schema_version: 1 });
    expect(ws.show(old.id).dependencies).toEqual([
      expect.objectContaining({ id: fresh.id, dependency_type: 'supersedes' }),
    ]);
    expectFailure(ws.run('supersede', fresh.id), /--with/);
    const bug = ws.create('bug', '-t', 'bug');
    expect(ws.run('dep', 'add', bug.id, fresh.id, '--type', 'caused-by').status).toBe(0);
    expect(ws.readyIds().sort()).toEqual([bug.id, fresh.id].sort());
  });
});

describe('stale', () => {
  it('lists issues not updated for N days, and refuses N ≤ 0 clearly', () => {
    const ws = workspace();
    const file = join(ws.dir, 'old.jsonl');
    const old = { title: 'old', created_at: '2020-01-01T00:00:00Z', updated_at: '2020-01-01T00:00:00Z' };
    writeFileSync(
      file,
      [
        { id: 't-old', ...old },
        { id: 't-done', ...old, status: 'closed', closed_at: '2020-01-01T00:00:00Z' },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    expect(ws.run('import', file).status).toBe(0);
    ws.create('fresh');
    expect(json<Issue[]>(ws.run('stale', '--days', '30', '--json')).map((i) => i.id)).toEqual(['t-old']);
    expect(ws.run('stale', '--days', '3650').stdout).toMatch(/Nothing has gone 3650 days/);
    expectFailure(ws.run('stale', '--days', '0'), /--days must be a positive whole number/);
    expectFailure(ws.run('stale', '--days', '-2'), /--days must be a positive whole number/);
  });
});

describe('per-rig prefixes in a town', () => {
  it('gives a bead created inside a rig the rig prefix, and finds every prefix from anywhere', () => {
    const base = join(root.dir, 'townbase');
    mkdirSync(base);
    const env = cleanEnv(join(base, 'home'), { BD_ACTOR: 'tester' });
    const gitEnv = {
      ...env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@e.x',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@e.x',
    };
    const project = join(base, 'project');
    mkdirSync(project);
    execFileSync('git', ['init', '--quiet', '--initial-branch=main'], { cwd: project, env: gitEnv });
    execFileSync('git', ['commit', '--quiet', '--allow-empty', '-m', 'first'], { cwd: project, env: gitEnv });
    const town = join(base, 'town');
    expect(gt(['install', town, '--owner', 'me@example.com'], { cwd: base, env }).status).toBe(0);
    const mayor = join(town, 'mayor');
    const rig = json<{ prefix: string }>(gt(['rig', 'add', 'gastown', project, '--json'], { cwd: mayor, env }));
    const polecat = json<{ sandbox_path: string }>(gt(['polecat', 'add', 'gastown', '--json'], { cwd: mayor, env }));

    const inPolecat = json<Issue>(bd(['create', 'rig work', '--json'], { cwd: polecat.sandbox_path, env }));
    expect(inPolecat.id.startsWith(`${rig.prefix}-`)).toBe(true);
    const deep = join(polecat.sandbox_path, 'src', 'lib');
    mkdirSync(deep, { recursive: true });
    expect(json<Issue>(bd(['create', 'deeper', '--json'], { cwd: deep, env })).id).toMatch(
      new RegExp(`^${rig.prefix}-`),
    );
    const inRefinery = json<Issue>(
      bd(['create', 'merge', '--json'], { cwd: join(town, 'gastown', 'refinery', 'rig'), env }),
    );
    expect(inRefinery.id).toMatch(new RegExp(`^${rig.prefix}-`));
    const inWitness = json<Issue>(bd(['create', 'watch', '--json'], { cwd: join(town, 'gastown', 'witness'), env }));
    expect(inWitness.id).toMatch(new RegExp(`^${rig.prefix}-`));
    const explicit = json<Issue>(
      bd(['create', 'mine', '--prefix', 'zz', '--json'], { cwd: polecat.sandbox_path, env }),
    );
    expect(explicit.id).toMatch(/^zz-/);
    const byId = json<Issue>(bd(['create', 'fixed', '--id', 'hq-fixed', '--json'], { cwd: polecat.sandbox_path, env }));
    expect(byId.id).toBe('hq-fixed');

    const townBead = json<Issue>(bd(['create', 'town work', '--json'], { cwd: mayor, env }));
    expect(townBead.id).toMatch(/^hq-/);
    // Found from anywhere in the town, whatever the prefix.
    const shown = json<Issue[]>(bd(['show', inPolecat.id, townBead.id, '--json'], { cwd: mayor, env }));
    expect(shown.map((i) => i.title)).toEqual(['rig work', 'town work']);
    expect(json<Issue[]>(bd(['show', townBead.id, '--json'], { cwd: polecat.sandbox_path, env }))[0]?.id).toBe(
      townBead.id,
    );
    expect(bd(['dep', 'add', townBead.id, inPolecat.id], { cwd: town, env }).status).toBe(0);
    expect(bd(['close', inPolecat.id], { cwd: polecat.sandbox_path, env }).status).toBe(0);
  });
});
