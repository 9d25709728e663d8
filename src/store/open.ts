import type { TownStore } from '../core/town-store.js';
import { openSqliteBeadStore, type SqliteStoreOptions } from './sqlite-bead-store.js';

/** Opens a town's store (a `.beads/beads.db` file, or `:memory:`) behind its port. */
export function openTownStore(path: string, options: SqliteStoreOptions = {}): TownStore {
  return openSqliteBeadStore(path, options);
}
