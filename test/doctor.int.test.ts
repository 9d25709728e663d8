import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addPolecat } from '../src/town/polecat.js';
import { rigPaths } from '../src/town/rig.js';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { GT_BIN, json } from './helpers/bd.js';
import { useSessionTowns } from './helpers/session-town.js';

/** gt doctor: real tmux, git and the store, with real breakage made by hand. */

type Check = { check: string; status: 'ok' | 'warn' | 'fail'; detail: string; fixed?: string[] };
type Report = { ok: boolean; checks: Check[] };
const fixture = useSessionTowns();
const find = (r: Report, name: string): Check => {
  const c = r.checks.find((x) => x.check === name);
  if (c === undefined) throw new Error(`no check ${name}`);
  return c;
};

describe('gt doctor', () => {
  it('finds what is broken, and --fix repairs only what cannot lose work', async () => {
    const f = await fixture('doctor');
    const s = f.store();
    const repo = rigPaths(f.town.root, 'gastown').repo;
    // A polecat whose sandbox directory was deleted by hand: git still lists its worktree.
    const gone = await addPolecat(f.town, 'gastown', {
      name: 'gone',
      actor: 'tester',
      ownerEmail: f.town.owner,
      nowMs: Date.now(),
    });
    rmSync(gone.sandbox_path, { recursive: true, force: true });
    // A worktree nobody registered (someone's experiment): reported, never removed.
    const stray = join(f.base, 'stray-tree');
    execFileSync('git', ['-C', repo, 'worktree', 'add', '--quiet', '-b', 'experiment', stray, 'main']);
    // A ref lock that a git killed a minute ago left in the shared clone.
    const refLock = join(repo, 'refs', 'heads', 'experiment.lock');
    writeFileSync(refLock, '');
    utimesSync(refLock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    // A witness whose CLI died while its session stayed: a zombie.
    f.run('session', 'start', 'gastown/witness');
    await f.killAgent('ga-witness');
    // A launch file left by a launch that failed, from an hour ago.
    const launch = join(f.town.root, '.runtime', 'tmux', 'env-ga-old-1-abc');
    writeFileSync(launch, "export SECRET='x'\n", { mode: 0o600 });
    utimesSync(launch, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    // The pid file of a daemon that was killed.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(join(f.town.root, '.runtime', 'daemon.pid'), `${dead}\n`);
    // Work hooked to an agent that no longer exists, ten minutes ago.
    const old = openSqliteBeadStore(f.town.dbPath, { clock: { nowMs: () => Date.now() - 600_000 } });
    const orphan = await old.create({ title: 'orphan' }, 'mayor');
    await old.update([orphan.id], { status: 'hooked', assignee: 'gastown/polecats/ghost' }, 'mayor');
    old.dispose();
    // A polecat whose `gt polecat add` was killed while it checked out the sandbox: registered, half made.
    const halfway = join(f.town.root, 'gastown', 'polecats', 'halfway');
    await s.registerAgent(
      {
        identity: { role: 'polecat', rig: 'gastown', name: 'halfway' },
        session_name: 'ga-halfway',
        sandbox_path: halfway,
        branch: 'polecat/halfway@x',
        agent_state: 'spawning',
      },
      'tester',
    );
    mkdirSync(halfway, { recursive: true });
    writeFileSync(join(halfway, 'app.txt'), 'v');
    // The refinery quarantined by the daemon (stuck, with its escalation open), and a closed bead left on
    // toast's hook.
    await s.updateAgent('gastown/refinery', { agent_state: 'stuck' }, 'daemon');
    const escalation = await s.create(
      { title: 'Quarantined: gastown/refinery died 5 times', issue_type: 'escalation', labels: ['gt:escalation'] },
      'daemon',
    );
    const finished = await s.create({ title: 'finished elsewhere' }, 'mayor');
    await s.hook('gastown/polecats/toast', finished.id, 'mayor');
    await s.close([finished.id], { reason: 'done by hand' }, 'mayor');
    // The witness is to run codex, which is not installed here.
    const settings = loadSettings(f.town);
    saveSettings(f.town, { ...settings, role_agents: { witness: 'codex' } });

    const before = json<Report>(f.run('doctor', '--json'));
    expect(before.ok).toBe(true); // warnings only
    expect(Object.fromEntries(before.checks.map((c) => [c.check, c.status]))).toEqual({
      tmux: 'ok',
      git: 'ok',
      store: 'ok',
      'town layout': 'ok',
      'agent CLIs': 'warn',
      'unfinished polecats': 'warn',
      worktrees: 'warn',
      sessions: 'warn',
      daemon: 'ok',
      'launch files': 'warn',
      agents: 'warn',
      escalations: 'warn',
      hooks: 'warn',
    });
    expect(find(before, 'unfinished polecats').detail).toBe('the making of gastown/polecats/halfway was cut short');
    expect(find(before, 'agents').detail).toContain('gastown/refinery is stuck');
    expect(find(before, 'escalations').detail).toContain(escalation.id);
    expect(find(before, 'hooks').detail).toContain(
      `closed but still on a hook: ${finished.id} (gastown/polecats/toast)`,
    );
    expect(find(before, 'agent CLIs').detail).toContain('codex (for gastown/witness) is not on PATH');
    expect(find(before, 'worktrees').detail).toMatch(
      /killed gits left refs\/heads\/experiment\.lock in the shared clone.*directories are gone.*belong to no agent: .*stray-tree \(experiment\).*sandbox missing for gastown\/polecats\/gone/,
    );
    expect(find(before, 'sessions').detail).toContain('gastown/witness: its session holds no live agent');
    expect(find(before, 'hooks').detail).toContain(`${orphan.id} (gastown/polecats/ghost)`);
    expect(f.run('doctor').stdout).toMatch(/! worktrees +.*\n(.*\n)*.*5 ok, 8 warning\(s\), 0 failed/);

    const fixed = json<Report>(f.run('doctor', '--fix', '--json'));
    expect(fixed.checks.flatMap((c) => c.fixed ?? []).join('\n')).toMatch(
      /removed gastown\/polecats\/halfway[\s\S]*forgot 1 worktree[\s\S]*stopped ga-witness[\s\S]*pid file[\s\S]*removed 1 launch file[\s\S]*back to open[\s\S]*took the closed/,
    );
    expect((await s.agent('gastown/polecats/toast')).hook_bead).toBeNull();
    await expect(s.agent('gastown/polecats/halfway')).rejects.toThrow(/no agent/);
    expect(existsSync(halfway)).toBe(false);
    expect((await s.show([finished.id]))[0]?.status).toBe('closed');
    expect(existsSync(launch)).toBe(false);
    expect(existsSync(refLock)).toBe(false);
    expect(existsSync(join(f.town.root, '.runtime', 'daemon.pid'))).toBe(false);
    expect(await f.provider.list()).toEqual([]);
    expect((await s.show([orphan.id]))[0]).toMatchObject({ status: 'open', assignee: null });
    expect(execFileSync('git', ['-C', repo, 'worktree', 'list', '--porcelain'], { encoding: 'utf8' })).not.toContain(
      gone.sandbox_path,
    );
    // What may hold work is still there: the stray worktree and its branch, the toast sandbox.
    expect(existsSync(stray)).toBe(true);
    expect(execFileSync('git', ['-C', repo, 'branch', '--list', 'experiment'], { encoding: 'utf8' })).toContain(
      'experiment',
    );
    expect(existsSync((await s.agent('gastown/polecats/toast')).sandbox_path)).toBe(true);

    // Stuck agents and escalations are for people: --fix leaves them; gt agent revive brings the agent back.
    const still = json<Report>(f.run('doctor', '--json'));
    expect(still.checks.filter((c) => c.status !== 'ok').map((c) => c.check)).toEqual([
      'agent CLIs',
      'worktrees',
      'agents',
      'escalations',
    ]);
    const revived = json<{ revived: boolean; closed_escalations: string[] }>(
      f.run('agent', 'revive', 'gastown/refinery', '--json'),
    );
    expect(revived).toEqual({
      address: 'gastown/refinery',
      revived: true,
      hook: null,
      closed_escalations: [escalation.id],
    });
    expect(f.run('agent', 'revive', 'gastown/refinery').status).toBe(4);
    expect(f.run('agent', 'revive', 'refinery').status).toBe(2);
    const after = json<Report>(f.run('doctor', '--json'));
    expect(after.checks.filter((c) => c.status !== 'ok').map((c) => c.check)).toEqual(['agent CLIs', 'worktrees']);
  }, 90_000);

  it('fails, with a non-zero exit and what to do, when tmux is missing', async () => {
    const f = await fixture('doctor-notmux');
    const bin = join(f.base, 'bin-without-tmux');
    mkdirSync(bin);
    const git = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    symlinkSync(git, join(bin, 'git'));
    const r = spawnSync(process.execPath, [GT_BIN, 'doctor', '--json'], {
      cwd: f.town.root,
      env: { ...f.env, PATH: bin },
      encoding: 'utf8',
    });
    expect(r.status).toBe(7);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.ok).toBe(false);
    expect(find(report, 'tmux')).toMatchObject({ status: 'fail', detail: 'tmux is not installed or does not run' });
    expect(find(report, 'git').status).toBe('ok');
    expect(r.stderr).toContain('check(s) failed: tmux');
  }, 60_000);
});
