import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { normalizeTimestamp } from '../core/time.js';
import { openSqliteBeadStore } from './sqlite-bead-store.js';

/** The real ledger of the beads project at v0.47.0: 1,955 lines, 338 of them tombstones. */
/** Shipped in the repository, gzip-compressed (see test/fixtures/README.md). */
const LEDGER = fileURLToPath(new URL('../../test/fixtures/beads-v0.47.0-issues.jsonl.gz', import.meta.url));
const TIMESTAMP_KEYS = new Set(['created_at', 'updated_at', 'closed_at', 'started_at']);

function freshStore() {
  const store = openSqliteBeadStore(':memory:', { create: true });
  store.setPrefixSync('bd');
  return store;
}

/** The original record as we expect to see it again: timestamps in UTC, empty values and derived keys dropped. */
function expected(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === '' || value === null || (Array.isArray(value) && value.length === 0)) continue;
    if (TIMESTAMP_KEYS.has(key) && typeof value === 'string') out[key] = normalizeTimestamp(value);
    else if (key === 'dependencies' && Array.isArray(value)) {
      out[key] = (value as Record<string, unknown>[])
        .map((d): Record<string, unknown> => ({ ...d, created_at: normalizeTimestamp(String(d.created_at)) }))
        .sort((a, b) => String(a.depends_on_id).localeCompare(String(b.depends_on_id)));
    } else if (key === 'comments' && Array.isArray(value)) {
      out[key] = (value as Record<string, unknown>[]).map((c) => ({
        ...c,
        created_at: normalizeTimestamp(String(c.created_at)),
      }));
    } else if (key === 'labels' && Array.isArray(value)) out[key] = [...(value as string[])].sort();
    else out[key] = value;
  }
  return out;
}

describe('the real beads ledger', () => {
  const text = gunzipSync(readFileSync(LEDGER)).toString('utf8');
  const records = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const live = records.filter((r) => r.status !== 'tombstone');

  it('imports every live bead and loses nothing', async () => {
    const store = freshStore();
    try {
      const report = await store.importJsonl(text, 'importer');
      expect(report).toEqual({
        created: live.length,
        updated: 0,
        unchanged: 0,
        kept_local: 0,
        skipped: records.length - live.length,
        total_lines: 1955,
      });
      expect(live.length).toBe(1617);
      const exported = new Map(
        (await store.exportJsonl({})).text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .map((r) => [String(r.id), r]),
      );
      expect(exported.size).toBe(live.length);
      for (const original of live) {
        expect(exported.get(String(original.id)), String(original.id)).toEqual(expected(original));
      }
      const statuses = new Set(live.map((r) => r.status));
      const types = new Set(live.map((r) => r.issue_type));
      expect(new Set([...exported.values()].map((r) => r.status))).toEqual(statuses);
      expect(new Set([...exported.values()].map((r) => r.issue_type))).toEqual(types);
    } finally {
      store.dispose();
    }
  });

  it('export → import → export is byte-identical, and a second import changes nothing', async () => {
    const a = freshStore();
    const b = freshStore();
    try {
      await a.importJsonl(text, 'importer');
      const first = (await a.exportJsonl({})).text;
      await b.importJsonl(first, 'importer');
      const second = (await b.exportJsonl({})).text;
      expect(second).toBe(first);
      expect(await b.importJsonl(first, 'importer')).toMatchObject({ created: 0, updated: 0, unchanged: 1617 });
      expect((await b.exportJsonl({})).text).toBe(first);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('computes ready work over the imported graph', async () => {
    const store = freshStore();
    try {
      await store.importJsonl(text, 'importer');
      const ready = await store.ready({ limit: 0 });
      expect(ready.length).toBeGreaterThan(0);
      for (const r of ready) {
        expect(r.status).toBe('open');
        const blockers = await store.dependencies(r.id, 'down');
        for (const b of blockers) {
          if (b.dependency_type === 'blocks') expect(['closed', 'pinned']).toContain(b.status);
        }
      }
      const priorities = ready.map((r) => r.priority);
      expect(priorities).toEqual([...priorities].sort((x, y) => x - y));
    } finally {
      store.dispose();
    }
  });
});
