import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFixedClock } from '../core/clock.js';
import { runAgentStoreContract } from './agent-store.contract.js';
import { runBeadStoreContract } from './bead-store.contract.js';
import { runSlingQueueContract } from './sling-queue.contract.js';
import { openSqliteBeadStore } from './sqlite-bead-store.js';

/** A clock that ticks 1 ms per read, so every write has its own timestamp. */
function tickingClock() {
  const clock = createFixedClock(Date.UTC(2026, 0, 1));
  return { nowMs: () => (clock.advance(1), clock.nowMs()), advance: (ms: number) => clock.advance(ms) };
}

const inMemory = () => {
  const clock = tickingClock();
  const store = openSqliteBeadStore(':memory:', { create: true, clock });
  store.setPrefixSync('gt');
  return { store, advance: clock.advance, cleanup: () => store.dispose() };
};

const onDisk = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gt-store-'));
  const clock = tickingClock();
  const store = openSqliteBeadStore(join(dir, 'beads.db'), { create: true, clock });
  store.setPrefixSync('gt');
  return {
    store,
    advance: clock.advance,
    cleanup: () => {
      store.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

runBeadStoreContract('SqliteBeadStore (:memory:)', inMemory);
runBeadStoreContract('SqliteBeadStore (file, WAL)', onDisk);
runAgentStoreContract('SqliteBeadStore (:memory:)', inMemory);
runAgentStoreContract('SqliteBeadStore (file, WAL)', onDisk);
runSlingQueueContract('SqliteBeadStore (:memory:)', inMemory);
runSlingQueueContract('SqliteBeadStore (file, WAL)', onDisk);
