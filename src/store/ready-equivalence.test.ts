import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { NON_WORK_TYPES, RESOLVED_STATUSES, STATUSES } from '../core/bead.js';
import { openSqliteBeadStore, type SqliteBeadStore } from './sqlite-bead-store.js';

/**
 * "Ready" is computed two ways in SQL: per candidate (READY_SQL, fast with a limit) and as a whole blocked
 * set (BLOCKED_CTE, for `bd blocked` and stats). Both must match a plain reading of the rules, written
 * here independently of either query.
 */

type Rec = {
  id: string;
  status: string;
  issue_type: string;
  ephemeral?: boolean;
  defer_until?: string;
  dependencies?: { depends_on_id: string; type: string; metadata?: string }[];
};

/** Deferral dates in the random graphs are far in the past or far in the future of any test run. */
const NOW = new Date().toISOString();

function referenceReady(records: readonly Rec[]): Set<string> {
  const byId = new Map(records.map((r) => [r.id, r]));
  // A bead deferred to a future date is not ready, nor is anything below it through parent-child edges.
  const deferred = (id: string, depth = 0): boolean => {
    const r = byId.get(id);
    if (r === undefined || depth > 100) return false;
    if (r.defer_until !== undefined && r.defer_until > NOW) return true;
    return (r.dependencies ?? []).some((d) => d.type === 'parent-child' && deferred(d.depends_on_id, depth + 1));
  };
  const children = new Map<string, Rec[]>();
  for (const r of records) {
    for (const d of r.dependencies ?? []) {
      if (d.type === 'parent-child') children.set(d.depends_on_id, [...(children.get(d.depends_on_id) ?? []), r]);
    }
  }
  const unresolved = (id: string): boolean => {
    const b = byId.get(id);
    return b !== undefined && !RESOLVED_STATUSES.has(b.status);
  };
  const memo = new Map<string, boolean>();
  const blocked = (id: string, depth = 0): boolean => {
    const cached = memo.get(id);
    if (cached !== undefined) return cached;
    const r = byId.get(id);
    if (r === undefined || depth > 100) return false;
    const deps = r.dependencies ?? [];
    const kids = (spawner: string) => children.get(spawner) ?? [];
    const result =
      r.status === 'blocked' ||
      r.status === 'deferred' ||
      deps.some((d) => (d.type === 'blocks' || d.type === 'conditional-blocks') && unresolved(d.depends_on_id)) ||
      deps.some((d) => {
        if (d.type !== 'waits-for') return false;
        const open = kids(d.depends_on_id).some((k) => !RESOLVED_STATUSES.has(k.status));
        const anyGate =
          d.metadata !== undefined && (JSON.parse(d.metadata) as { gate?: string }).gate === 'any-children';
        return open && !(anyGate && kids(d.depends_on_id).some((k) => k.status === 'closed'));
      }) ||
      deps.some((d) => d.type === 'parent-child' && blocked(d.depends_on_id, depth + 1));
    memo.set(id, result);
    return result;
  };
  return new Set(
    records
      .filter((r) => r.status === 'open' && r.ephemeral !== true && !NON_WORK_TYPES.includes(r.issue_type))
      .filter((r) => !deferred(r.id))
      .filter((r) => {
        const self = { ...r, status: 'open' };
        byId.set(r.id, self);
        memo.delete(r.id);
        return !blocked(r.id);
      })
      .map((r) => r.id),
  );
}

async function bothWays(store: SqliteBeadStore): Promise<{ perCandidate: Set<string>; viaSet: Set<string> }> {
  const perCandidate = new Set((await store.ready({ limit: 0 })).map((b) => b.id));
  const blockedIds = new Set((await store.blocked({})).map((b) => b.id));
  const work = await store.list({ statuses: ['open'], limit: 0 });
  const all = new Map(
    (await store.list({ statuses: [...STATUSES, 'tombstone'], includeEphemeral: true, limit: 0 })).map((b) => [
      b.id,
      b,
    ]),
  );
  const deferred = (id: string | null, depth = 0): boolean => {
    const b = id === null ? undefined : all.get(id);
    if (b === undefined || depth > 100) return false;
    return (b.defer_until !== null && b.defer_until > NOW) || deferred(b.parent, depth + 1);
  };
  const viaSet = new Set(
    work
      .filter((b) => !NON_WORK_TYPES.includes(b.issue_type) && !blockedIds.has(b.id) && !deferred(b.id))
      .map((b) => b.id),
  );
  expect((await store.stats()).ready_issues).toBe(viaSet.size);
  return { perCandidate, viaSet };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function randomGraph(seed: number, n: number): Rec[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const statuses = [
    'open',
    'open',
    'open',
    'in_progress',
    'blocked',
    'deferred',
    'closed',
    'closed',
    'pinned',
    'hooked',
  ];
  const records: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const deps: NonNullable<Rec['dependencies']> = [];
    const target = (): string => `r-${Math.floor(rand() * i)}`;
    if (i > 0 && rand() < 0.5) deps.push({ depends_on_id: target(), type: 'parent-child' });
    if (i > 0 && rand() < 0.35)
      deps.push({ depends_on_id: target(), type: pick(['blocks', 'conditional-blocks', 'related', 'tracks']) });
    if (i > 0 && rand() < 0.08)
      deps.push({
        depends_on_id: target(),
        type: 'waits-for',
        ...(rand() < 0.5 ? { metadata: '{"gate":"any-children"}' } : {}),
      });
    if (rand() < 0.03) deps.push({ depends_on_id: 'elsewhere-1', type: 'blocks' });
    const unique = deps.filter((d, k) => deps.findIndex((e) => e.depends_on_id === d.depends_on_id) === k);
    records.push({
      id: `r-${i}`,
      status: pick(statuses),
      issue_type: pick(['task', 'task', 'bug', 'epic', 'message', 'molecule']),
      ephemeral: rand() < 0.05,
      ...(rand() < 0.1 ? { defer_until: rand() < 0.5 ? '2000-01-01T00:00:00Z' : '2999-01-01T00:00:00Z' } : {}),
      dependencies: unique,
    });
  }
  return records;
}

function toJsonl(records: readonly Rec[]): string {
  return records
    .map((r) =>
      JSON.stringify({
        ...r,
        title: r.id,
        created_at: '2026-01-01T00:00:00Z',
        dependencies: (r.dependencies ?? []).map((d) => ({ ...d, issue_id: r.id, created_at: '2026-01-01T00:00:00Z' })),
      }),
    )
    .join('\n');
}

function store(): SqliteBeadStore {
  const s = openSqliteBeadStore(':memory:', { create: true });
  s.setPrefixSync('r');
  return s;
}

describe('ready: per-candidate query, blocked-set query and the rules agree', () => {
  it.each(Array.from({ length: 40 }, (_v, i) => i + 1))('on random graph #%i', async (seed) => {
    const records = randomGraph(seed, 120);
    const s = store();
    try {
      await s.importJsonl(toJsonl(records), 'test');
      const expected = referenceReady(records);
      const { perCandidate, viaSet } = await bothWays(s);
      expect([...perCandidate].sort()).toEqual([...expected].sort());
      expect([...viaSet].sort()).toEqual([...expected].sort());
    } finally {
      s.dispose();
    }
  });

  it('on the real beads ledger', async () => {
    const text = gunzipSync(
      readFileSync(fileURLToPath(new URL('../../test/fixtures/beads-v0.47.0-issues.jsonl.gz', import.meta.url))),
    ).toString('utf8');
    const records = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Rec)
      .filter((r) => r.status !== 'tombstone');
    const s = store();
    try {
      await s.importJsonl(text, 'test');
      const expected = referenceReady(records);
      const { perCandidate, viaSet } = await bothWays(s);
      expect(expected.size).toBeGreaterThan(0);
      expect([...perCandidate].sort()).toEqual([...expected].sort());
      expect([...viaSet].sort()).toEqual([...expected].sort());
    } finally {
      s.dispose();
    }
  });
});
