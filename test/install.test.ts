import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, requireBuild } from './helpers/bd.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The README's way to put `gt` and `bd` on the PATH for use on your own projects: `npm install -g .` from the
 * clone, here into a temporary prefix, then both run by name from a directory outside the clone.
 */
const CLONE = fileURLToPath(new URL('..', import.meta.url));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

type Run = { status: number | null; stdout: string; stderr: string };

describe('installing gt and bd for use outside the clone', () => {
  it('npm install -g . puts gt and bd on the PATH; both work from a directory outside the clone', () => {
    requireBuild();
    const t = tempDir('install');
    cleanups.push(t.cleanup);
    const prefix = join(t.dir, 'prefix');
    const home = join(t.dir, 'home');
    const work = join(t.dir, 'elsewhere');
    mkdirSync(work, { recursive: true });
    const env = cleanEnv(home, { npm_config_cache: join(t.dir, 'npm-cache') });
    const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '.'], {
      cwd: CLONE,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(install.status, install.stderr).toBe(0);
    const bin = join(prefix, 'bin');
    expect(existsSync(join(bin, 'gt')) && existsSync(join(bin, 'bd'))).toBe(true);

    // By name, as a user types them: the PATH finds the installed commands, and the clone is nowhere near.
    const path = { ...env, PATH: `${bin}:${env.PATH}` };
    const run = (cmd: string, args: string[], cwd = work): Run => {
      const r = spawnSync(cmd, args, { cwd, env: path, encoding: 'utf8', timeout: 60_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    expect(run('sh', ['-c', 'command -v gt']).stdout.trim()).toBe(join(bin, 'gt'));
    expect(run('sh', ['-c', 'command -v bd']).stdout.trim()).toBe(join(bin, 'bd'));
    expect(realpathSync(work).startsWith(realpathSync(CLONE))).toBe(false);

    expect(run('gt', ['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(run('bd', ['init', '--prefix', 'my']).status).toBe(0);
    const created = run('bd', ['create', 'First bead', '--json']);
    expect(created.status, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ title: 'First bead', status: 'open' });

    const installed = run('gt', ['install', join(work, 'town'), '--json']);
    expect(installed.status, installed.stderr).toBe(0);
    const town = run('gt', ['town', '--json'], join(work, 'town', 'mayor'));
    expect(town.status, town.stderr).toBe(0);
    expect(JSON.parse(town.stdout)).toMatchObject({ root: realpathSync(join(work, 'town')) });
  });
});
