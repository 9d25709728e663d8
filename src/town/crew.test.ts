import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, townWithRig } from '../../test/helpers/town-fixture.js';
import { ConflictError, ValidationError } from '../core/errors.js';
import { discoverWorkspace } from '../store/discover.js';
import { openSqliteBeadStore } from '../store/sqlite-bead-store.js';
import { addCrew } from './crew.js';
import type { Town } from './town.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
async function setup(): Promise<{ town: Town; remote: string }> {
  const fixture = await townWithRig('crew');
  cleanups.push(fixture.cleanup);
  return fixture;
}

describe('crew workspaces', () => {
  it('are full clones of the project, registered, with bd reaching the town store', async () => {
    const { town, remote } = await setup();
    const crew = await addCrew(town, 'gastown', 'ana', 'ana');
    expect(crew).toMatchObject({ address: 'gastown/crew/ana', session_name: 'ga-crew-ana', branch: 'main' });
    expect(git(crew.sandbox_path, 'rev-parse', '--is-bare-repository').trim()).toBe('false');
    expect(git(crew.sandbox_path, 'remote', 'get-url', 'origin').trim()).toBe(remote);
    expect(git(crew.sandbox_path, 'status', '--porcelain')).toBe('');
    expect(discoverWorkspace({ cwd: crew.sandbox_path }).dbPath).toBe(town.dbPath);
  });

  it('refuse hostile or taken names and leave nothing behind on failure', async () => {
    const { town } = await setup();
    for (const name of ['../x', 'a;b', '-rf', 'crew-x', 'x'.repeat(300)])
      await expect(addCrew(town, 'gastown', name, 't')).rejects.toThrow(ValidationError);
    await addCrew(town, 'gastown', 'ana', 't');
    await expect(addCrew(town, 'gastown', 'ana', 't')).rejects.toThrow(ConflictError);
    const store = openSqliteBeadStore(town.dbPath);
    await store.registerRig(
      {
        name: 'ghost',
        prefix: 'gh',
        url: join(town.root, 'no-such-repo'),
        default_branch: 'main',
        path: join(town.root, 'ghost'),
      },
      [],
      't',
    );
    store.dispose();
    await expect(addCrew(town, 'ghost', 'bob', 't')).rejects.toThrow(/git clone/);
    expect(existsSync(join(town.root, 'ghost', 'crew', 'bob'))).toBe(false);
  });
});
