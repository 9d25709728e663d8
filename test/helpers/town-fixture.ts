import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addRig } from '../../src/town/rig.js';
import { installTown, loadSettings, saveSettings, type Town } from '../../src/town/town.js';
import { tempDir } from './tmp.js';

/** git with a fixed identity in the environment (so test commits never depend on the machine's config). */
export const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@e.x',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@e.x',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });
}

/**
 * A town with the rig "gastown", cloned from a bare "remote" that pushes can reach; the project has one
 * commit on main with app.txt = "v1". Call `cleanup` when done.
 */
export async function townWithRig(
  label: string,
): Promise<{ town: Town; remote: string; base: string; cleanup: () => void }> {
  const t = tempDir(label);
  const base = realpathSync(t.dir);
  const work = join(base, 'work');
  mkdirSync(work);
  git(work, 'init', '--quiet', '--initial-branch=main');
  writeFileSync(join(work, 'app.txt'), 'v1\n');
  git(work, 'add', '.');
  git(work, 'commit', '--quiet', '-m', 'first');
  const remote = join(base, 'remote.git');
  git(base, 'clone', '--quiet', '--bare', work, remote);
  const town = (
    await installTown(join(base, 'town'), {
      owner: 'owner@example.com',
      actor: 'tester',
      nowIso: '2026-11-23T00:00:00.000Z',
    })
  ).town;
  // A test starts only the agents it is about: of the standing agents (by default the mayor, the deacon and
  // each rig's witness and refinery), only the refinery, which lands work. test/standing.int.test.ts covers
  // the default.
  const settings = loadSettings(town);
  saveSettings(town, { ...settings, daemon: { ...settings.daemon, standing_roles: ['refinery'] } });
  await addRig(town, 'gastown', remote, { actor: 'tester' });
  return { town, remote, base, cleanup: t.cleanup };
}
