import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ADDON = join('better-sqlite3', 'build', 'Release', 'better_sqlite3.node');

let cached: string | undefined;

/**
 * Where better-sqlite3's compiled addon lives. Handing the path to the driver skips its search through
 * candidate directories on every start; the binaries bundle the driver's JavaScript and load only this file.
 * The usual places (this package's node_modules, or a hoisting parent's) are checked before module resolution.
 */
export function sqliteAddonPath(): string {
  if (cached !== undefined) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [
    join(here, '..', 'node_modules', ADDON),
    join(here, '..', '..', ADDON),
    join(here, '..', '..', '..', 'node_modules', ADDON),
  ]) {
    if (existsSync(candidate)) return (cached = candidate);
  }
  const require = createRequire(import.meta.url);
  cached = join(dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
  return cached;
}
