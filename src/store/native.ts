import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Where better-sqlite3's compiled addon lives. Handing the path to the driver skips its search through
 * candidate directories on every start; the binaries bundle the driver's JavaScript and load only this file.
 */
export function sqliteAddonPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
}
