import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bd, BD_BIN, cleanEnv, gt, json, requireBuild, type RunResult } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

type Issue = Record<string, unknown> & { id: string; title: string; status: string };

let root: { dir: string; cleanup: () => void };
beforeAll(() => {
  requireBuild();
  root = tempDir('bd-cli');
});
afterAll(() => root.cleanup());

let counter = 0;
/** A fresh workspace with prefix "t" and actor "alice". */
function workspace(extraEnv: Record<string, string> = {}) {
  const dir = join(root.dir, `ws${++counter}`);
  mkdirSync(dir, { recursive: true });
  const env = cleanEnv(join(dir, 'home'), { BD_ACTOR: 'alice', ...extraEnv });
  const run = (...args: string[]): RunResult => bd(args, { cwd: dir, env });
  const runIn = (input: string, ...args: string[]): RunResult => bd(args, { cwd: dir, env, input });
  expect(run('init', '--prefix', 't').status).toBe(0);
  const create = (...args: string[]): Issue => json<Issue>(run('create', ...args, '--json'));
  const ledger = (): string =>
    run('export', '-o', '-', '--include-ephemeral').stdout + JSON.stringify(json(run('events', '--json')));
  return { dir, env, run, runIn, create, ledger };
}

/** An error is one line on stderr, a non-zero exit, nothing on stdout. */
function expectOneLineError(r: RunResult, pattern: RegExp, exitCode?: number): void {
  expect(r.status, r.stderr).not.toBe(0);
  if (exitCode !== undefined) expect(r.status).toBe(exitCode);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe('bd init', () => {
  it('creates .beads with a database and a .gitignore, and refuses to run twice', () => {
    const ws = workspace();
    expect(existsSync(join(ws.dir, '.beads', 'beads.db'))).toBe(true);
    expect(readFileSync(join(ws.dir, '.beads', '.gitignore'), 'utf8')).toContain('beads.db');
    const id = ws.create('keep me').id;
    expectOneLineError(ws.run('init', '--prefix', 'other'), /already holds a beads workspace/, 1);
    expect(json<Issue[]>(ws.run('show', id, '--json'))[0]?.title).toBe('keep me');
    expect(json<Record<string, string>>(ws.run('config', 'list', '--json')).issue_prefix).toBe('t');
  });

  it('rejects a bad prefix without creating anything', () => {
    const dir = join(root.dir, 'badprefix');
    mkdirSync(dir);
    expectOneLineError(
      bd(['init', '--prefix', 'Bad Prefix'], { cwd: dir, env: cleanEnv(join(dir, 'h')) }),
      /invalid prefix/,
      1,
    );
    expect(existsSync(join(dir, '.beads'))).toBe(false);
  });
});

describe('bd JSON shapes', () => {
  it('create prints the object, show an array with embedded dependencies, list/ready/blocked arrays', () => {
    const ws = workspace();
    const a = ws.create('A', '-p', '1', '-t', 'bug', '-l', 'x,y');
    expect(a).toMatchObject({
      title: 'A',
      priority: 1,
      issue_type: 'bug',
      status: 'open',
      created_by: 'alice',
      labels: ['x', 'y'],
    });
    expect(a.id).toMatch(/^t-[0-9a-z]{3}$/);
    expect(a.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const b = ws.create('B', '--deps', a.id);
    const shown = json<Issue[]>(ws.run('show', b.id, a.id, '--json'));
    expect(shown.map((s) => s.id)).toEqual([b.id, a.id]);
    expect(shown[0]?.dependencies).toEqual([
      expect.objectContaining({ id: a.id, title: 'A', dependency_type: 'blocks' }),
    ]);
    expect(shown[1]?.dependents).toEqual([expect.objectContaining({ id: b.id, dependency_type: 'blocks' })]);
    expect(shown[0]).toMatchObject({ dependency_count: 1, dependent_count: 0, comment_count: 0 });
    const ready = json<Issue[]>(ws.run('ready', '--json'));
    expect(ready.map((r) => r.id)).toEqual([a.id]);
    const blocked = json<Issue[]>(ws.run('blocked', '--json'));
    expect(blocked).toEqual([expect.objectContaining({ id: b.id, blocked_by: [a.id], blocked_by_count: 1 })]);
    const list = json<Issue[]>(ws.run('list', '--json'));
    expect(list.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
    expect(json<unknown[]>(ws.run('ready', '--json', '--type', 'epic'))).toEqual([]);
  });

  it('answers --json on every command', () => {
    const ws = workspace();
    const a = ws.create('A');
    const b = ws.create('B');
    const commands: string[][] = [
      ['show', a.id],
      ['list'],
      ['ready'],
      ['blocked'],
      ['search', 'A'],
      ['update', a.id, '--notes', 'n'],
      ['dep', 'add', b.id, a.id],
      ['dep', 'list', b.id],
      ['dep', 'tree', b.id],
      ['dep', 'remove', b.id, a.id],
      ['label', 'add', a.id, 'l'],
      ['label', 'list', a.id],
      ['label', 'list'],
      ['label', 'remove', a.id, 'l'],
      ['comment', 'add', a.id, 'hello'],
      ['comments', a.id],
      ['comments', 'add', a.id, 'again'],
      ['stats'],
      ['config', 'set', 'types.custom', 'rocket'],
      ['config', 'get', 'types.custom'],
      ['config', 'list'],
      ['events', a.id],
      ['close', a.id, '-r', 'done'],
      ['reopen', a.id],
      ['ready', '--claim'],
      ['export'],
      ['import'],
    ];
    for (const args of commands) {
      const r = ws.run(...args, '--json');
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(() => JSON.parse(r.stdout) as unknown, args.join(' ')).not.toThrow();
    }
  });
});

describe('bd text fidelity', () => {
  it('stores titles and descriptions with any text byte for byte', () => {
    const ws = workspace();
    const nasty = `it's "quoted" $(touch pwned) \`touch pwned2\` ; rm -rf / | cat & \\ \n second line \u001b[31mred\u001b[0m ünïcødé 日本 🚀`;
    const created = ws.create(nasty, '-d', nasty);
    const [shown] = json<Issue[]>(ws.run('show', created.id, '--json'));
    expect(shown?.title).toBe(nasty);
    expect(shown?.description).toBe(nasty);
    expect(existsSync(join(ws.dir, 'pwned'))).toBe(false);
    expect(existsSync(join(ws.dir, 'pwned2'))).toBe(false);
    // Human output makes terminal escapes visible instead of obeying them.
    const text = ws.run('show', created.id).stdout;
    expect(text).not.toContain('\u001b');
    expect(text).toContain('\\x1b[31mred');
  });

  it('takes a 1 MB description from a file and from stdin', () => {
    const ws = workspace();
    const big = `${'0123456789abcdef'.repeat(65536)}\nend ✓`;
    const file = join(ws.dir, 'desc.txt');
    writeFileSync(file, big);
    const fromFile = ws.create('big', '--body-file', file);
    const fromStdin = json<Issue>(ws.runIn(big, 'create', 'big2', '--stdin', '--json'));
    for (const id of [fromFile.id, fromStdin.id]) {
      expect(json<Issue[]>(ws.run('show', id, '--json'))[0]?.description).toBe(big);
    }
  });

  it('refuses text that is not UTF-8, from a file or stdin, storing nothing (never a changed copy)', () => {
    const ws = workspace();
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]); // "café\n" in Latin-1
    const file = join(ws.dir, 'latin1.txt');
    writeFileSync(file, latin1);
    const before = ws.ledger();
    expectOneLineError(ws.run('create', 'from a file', '--body-file', file), /latin1\.txt is not valid UTF-8 \(byte 3/);
    for (const args of [
      ['create', 'from stdin', '--stdin'],
      ['update', 'x', '--body-file', '-'],
    ]) {
      const r = spawnSync(process.execPath, [BD_BIN, ...args, '--json'], {
        cwd: ws.dir,
        env: ws.env,
        input: latin1,
        encoding: 'utf8',
      });
      expect(r.status).toBe(1);
      const error = JSON.parse(r.stderr) as { code: string; error: string };
      expect(error.code).toBe('validation');
      expect(error.error).toMatch(/standard input is not valid UTF-8/);
    }
    expect(ws.ledger()).toBe(before);
  });
});

describe('bd errors', () => {
  it('each bad input is one line, a non-zero exit, and writes nothing', () => {
    const ws = workspace();
    const a = ws.create('A');
    const b = ws.create('B', '--deps', a.id);
    ws.run('update', a.id, '--claim');
    const before = ws.ledger();
    // Every bd error exits 1, as beads does; the kind of error is in the JSON error's code.
    const cases: [string[], RegExp, number][] = [
      [['show', 't-nope'], /issue t-nope not found/, 1],
      [['update', 't-nope', '--status', 'open'], /issue t-nope not found/, 1],
      [['update', a.id, '--status', 'done'], /invalid status "done"/, 1],
      [['create', 'x', '-t', 'spaceship'], /invalid issue type "spaceship"/, 1],
      [['create', 'x', '-p', '7'], /invalid priority "7"/, 1],
      [['create', ''], /title cannot be empty/, 1],
      [['create', '   '], /title cannot be empty/, 1],
      [['dep', 'add', a.id, b.id], /would create a dependency cycle/, 1],
      [['dep', 'add', a.id, a.id], /cannot depend on itself/, 1],
      [['update', a.id, '--claim', '--actor', 'bob'], /already claimed by alice/, 1],
      [['close', b.id], /blocked by open issue/, 1],
      [['list', '--status', 'bogus'], /invalid status/, 1],
      [['ready', '--sort', 'sideways'], /invalid sort/, 1],
      [['update', a.id], /nothing to update/, 1],
      [['frobnicate'], /unknown command/, 1],
      [['list', '--bogus'], /unknown option/, 1],
    ];
    for (const [args, pattern, code] of cases) expectOneLineError(ws.run(...args), pattern, code);
    expect(ws.ledger()).toBe(before);
  });

  it('--json errors are a JSON object on stderr', () => {
    const ws = workspace();
    const r = ws.run('show', 't-nope', '--json');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toMatchObject({
      error: 'issue t-nope not found',
      code: 'not_found',
      schema_version: 1,
    });
  });

  it('says what to do when there is no database', () => {
    const dir = join(root.dir, 'nodb');
    mkdirSync(dir);
    const r = bd(['list'], { cwd: dir, env: cleanEnv(join(dir, 'h')) });
    expectOneLineError(r, /no \.beads\/ database found.*bd init/, 1);
  });
});

describe('bd workspace discovery and actor', () => {
  it('finds the database from a subdirectory and through a redirect', () => {
    const ws = workspace();
    const a = ws.create('A');
    const sub = join(ws.dir, 'deep', 'er');
    mkdirSync(sub, { recursive: true });
    expect(json<Issue[]>(bd(['show', a.id, '--json'], { cwd: sub, env: ws.env }))[0]?.id).toBe(a.id);
    const worktree = join(ws.dir, 'polecats', 'toast');
    mkdirSync(join(worktree, '.beads'), { recursive: true });
    writeFileSync(join(worktree, '.beads', 'redirect'), '../../.beads\n');
    expect(json<Issue[]>(bd(['show', a.id, '--json'], { cwd: worktree, env: ws.env }))[0]?.id).toBe(a.id);
    expect(
      json<Issue[]>(
        bd(['show', a.id, '--json'], {
          cwd: root.dir,
          env: { ...ws.env, BEADS_DB: join(ws.dir, '.beads', 'beads.db') },
        }),
      )[0]?.id,
    ).toBe(a.id);
  });

  it('takes the actor from --actor, BD_ACTOR, BEADS_ACTOR, git user.name, then the OS user', () => {
    const ws = workspace();
    const home = join(ws.dir, 'home');
    writeFileSync(join(home, '.gitconfig'), '[user]\n\tname = Git Person\n');
    const base = cleanEnv(home);
    const creator = (env: Record<string, string>, ...args: string[]): unknown =>
      json<Issue>(bd(['create', 'x', '--json', ...args], { cwd: ws.dir, env })).created_by;
    expect(creator({ ...base, BD_ACTOR: 'bd-actor', BEADS_ACTOR: 'beads-actor' }, '--actor', 'flag')).toBe('flag');
    expect(creator({ ...base, BD_ACTOR: 'bd-actor', BEADS_ACTOR: 'beads-actor' })).toBe('bd-actor');
    expect(creator({ ...base, BEADS_ACTOR: 'beads-actor' })).toBe('beads-actor');
    expect(creator(base)).toBe('Git Person');
    writeFileSync(join(home, '.gitconfig'), '');
    expect(typeof creator(base)).toBe('string');
    expect(creator(base)).not.toBe('Git Person');
  });
});

describe('bd export and import', () => {
  it('round-trips a workspace through .beads/issues.jsonl', () => {
    const ws = workspace();
    const a = ws.create('A', '-l', 'x');
    ws.create('B', '--deps', a.id);
    ws.run('comment', 'add', a.id, 'a comment');
    const exported = json<{ path: string; count: number }>(ws.run('export', '--json'));
    expect(exported).toMatchObject({ path: join(ws.dir, '.beads', 'issues.jsonl'), count: 2 });
    const other = workspace();
    const report = json<Record<string, number>>(
      bd(['import', exported.path, '--json'], { cwd: other.dir, env: other.env }),
    );
    expect(report).toMatchObject({ created: 2, updated: 0 });
    expect(other.run('export', '-o', '-').stdout).toBe(readFileSync(exported.path, 'utf8'));
  });

  it('rejects a bad file with the line number and imports nothing', () => {
    const ws = workspace();
    const file = join(ws.dir, 'bad.jsonl');
    writeFileSync(file, `${JSON.stringify({ id: 't-1', title: 'ok', created_at: '2026-01-01T00:00:00Z' })}\n{oops\n`);
    expectOneLineError(ws.run('import', file), /line 2: not valid JSON/, 1);
    expect(json<unknown[]>(ws.run('list', '--json', '--all'))).toEqual([]);
  });
});

describe('the code-cache loader', () => {
  it('runs with a missing or corrupt cache, and writes a good one back', () => {
    const dist = join(root.dir, 'dist-copy');
    mkdirSync(dist);
    for (const f of ['bd.cjs', 'bd.bundle.cjs']) copyFileSync(join(BD_BIN, '..', f), join(dist, f));
    const cache = join(dist, 'bd.bundle.cjs.v8-cache');
    const env = cleanEnv(join(root.dir, 'cache-home'));
    const version = (): RunResult => bd(['--version'], { cwd: root.dir, env, bin: join(dist, 'bd.cjs') });
    expect(version().stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(existsSync(cache)).toBe(true);
    writeFileSync(cache, 'not a code cache');
    const again = version();
    expect(again.status).toBe(0);
    expect(again.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(readFileSync(cache).length).toBeGreaterThan(1000);
  });
});

describe('gt', () => {
  it('prints its version and help', () => {
    const env = cleanEnv(join(root.dir, 'gh'));
    const version = gt(['--version'], { cwd: root.dir, env });
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = gt(['--help'], { cwd: root.dir, env });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: gt');
    expectOneLineError(gt(['frobnicate'], { cwd: root.dir, env }), /unknown command|too many arguments/, 2);
  });

  it('installs a town, finds it from inside, and says clearly when outside one', () => {
    const env = cleanEnv(join(root.dir, 'gt-town-home'), { BD_ACTOR: 'tester' });
    const town = join(root.dir, 'gt-town');
    const installed = json<{ root: string; name: string; created: boolean; changes: string[] }>(
      gt(['install', town, '--owner', 'me@example.com', '--json'], { cwd: root.dir, env }),
    );
    expect(installed).toMatchObject({ name: 'gt-town', created: true });
    expect(json<{ changes: string[] }>(gt(['install', town, '--json'], { cwd: root.dir, env })).changes).toEqual([]);
    const inside = join(town, 'mayor');
    const info = json<{ root: string; owner: string; tmux_socket: string; agents: { address: string }[] }>(
      gt(['town', '--json'], { cwd: inside, env }),
    );
    expect(info).toMatchObject({ root: installed.root, owner: 'me@example.com' });
    expect(info.agents.map((a) => a.address)).toEqual(['deacon', 'deacon/boot', 'mayor']);
    // bd inside the town finds the town store.
    expect(json<{ id: string }>(bd(['create', 'town work', '--json'], { cwd: inside, env })).id).toMatch(/^hq-/);
    const outside = join(root.dir, 'not-a-town');
    mkdirSync(outside, { recursive: true });
    expectOneLineError(gt(['town'], { cwd: outside, env }), /not inside a Gas Town town.*gt install/, 5);
    expectOneLineError(
      gt(['install', join(root.dir, 'evil'), '--name', '../x'], { cwd: root.dir, env }),
      /invalid town name/,
      2,
    );
    expect(existsSync(join(root.dir, 'evil'))).toBe(false);

    // A rig from a local repository, listed and shown; a bad one leaves nothing behind.
    const project = join(root.dir, 'gt-project');
    mkdirSync(project);
    const gitEnv = {
      ...env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@e.x',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@e.x',
    };
    for (const args of [
      ['init', '--quiet', '--initial-branch=main'],
      ['commit', '--quiet', '--allow-empty', '-m', 'first'],
    ]) {
      execFileSync('git', args, { cwd: project, env: gitEnv });
    }
    const added = json<{ name: string; prefix: string }>(
      gt(['rig', 'add', 'gastown', project, '--json'], { cwd: inside, env }),
    );
    expect(added).toMatchObject({ name: 'gastown', prefix: 'ga' });
    expect(json<{ name: string }[]>(gt(['rig', 'list', '--json'], { cwd: inside, env })).map((r) => r.name)).toEqual([
      'gastown',
    ]);
    expect(
      json<{ agents: { address: string }[] }>(
        gt(['rig', 'show', 'gastown', '--json'], { cwd: inside, env }),
      ).agents.map((a) => a.address),
    ).toEqual(['gastown/refinery', 'gastown/witness']);
    expectOneLineError(
      gt(['rig', 'add', 'broken', join(root.dir, 'no-such-repo')], { cwd: inside, env }),
      /git clone of .* failed/,
      8,
    );
    expect(existsSync(join(town, 'broken'))).toBe(false);
    expectOneLineError(gt(['rig', 'show', 'nope'], { cwd: inside, env }), /no rig nope/, 3);

    // A polecat: made, listed, protected while it holds uncommitted work, removed once clean.
    const pc = json<{ address: string; sandbox_path: string }>(
      gt(['polecat', 'add', 'gastown', '--json'], { cwd: inside, env }),
    );
    expect(pc.address).toBe('gastown/polecats/aster');
    expect(
      json<{ name: string }[]>(gt(['polecat', 'list', 'gastown', '--json'], { cwd: inside, env })).map((p) => p.name),
    ).toEqual(['aster']);
    writeFileSync(join(pc.sandbox_path, 'wip.txt'), 'unsaved work');
    expectOneLineError(
      gt(['polecat', 'remove', 'gastown/aster', '--force'], { cwd: inside, env }),
      /uncommitted changes \(wip\.txt\)/,
      4,
    );
    expect(readFileSync(join(pc.sandbox_path, 'wip.txt'), 'utf8')).toBe('unsaved work');
    rmSync(join(pc.sandbox_path, 'wip.txt'));
    expect(gt(['polecat', 'remove', 'gastown/aster'], { cwd: inside, env }).status).toBe(0);
    expect(existsSync(pc.sandbox_path)).toBe(false);
    const crew = json<{ address: string; sandbox_path: string }>(
      gt(['crew', 'add', 'ana', '--rig', 'gastown', '--json'], { cwd: inside, env }),
    );
    expect(crew.address).toBe('gastown/crew/ana');
    writeFileSync(join(crew.sandbox_path, 'draft.txt'), 'half-written');
    expectOneLineError(
      gt(['rig', 'remove', 'gastown'], { cwd: inside, env }),
      /not removing rig gastown: .*crew\/ana.*uncommitted/,
      4,
    );
    rmSync(join(crew.sandbox_path, 'draft.txt'));
    expect(json<{ deleted: boolean }>(gt(['rig', 'remove', 'gastown', '--json'], { cwd: inside, env })).deleted).toBe(
      true,
    );
    expect(existsSync(join(town, 'gastown'))).toBe(false);
  });
});
