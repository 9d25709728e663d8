// One of N concurrent writer processes: claims ready beads until none is left and reports the latency of
// every claim (the whole immediate transaction, including any wait for the write lock).
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';

async function main(): Promise<void> {
  const [dbPath, actor, startAtText, maxText] = process.argv.slice(2);
  if (dbPath === undefined || actor === undefined || startAtText === undefined)
    throw new Error('usage: claim-worker <db> <actor> <startAtMs> [max]');
  const max = maxText === undefined ? Infinity : Number(maxText);
  const store = openSqliteBeadStore(dbPath);
  const wait = Number(startAtText) - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const latencies: number[] = [];
  const errors: string[] = [];
  const ids: string[] = [];
  while (latencies.length < max) {
    const t0 = performance.now();
    try {
      const claimed = await store.claimReady({}, actor);
      latencies.push(performance.now() - t0);
      if (claimed === null) break;
      ids.push(claimed.id);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
      if (errors.length > 10) break;
    }
  }
  store.dispose();
  process.stdout.write(`${JSON.stringify({ actor, latencies, errors, ids, endedAt: Date.now() })}\n`);
}

void main();
