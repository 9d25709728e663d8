import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering of ARCHITECTURE.md, checked mechanically: imports only go downward, and each outside system is
 * reached from one layer only.
 */
const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** Rank of each layer; a file may import its own layer or a lower rank, and nothing imports cli. */
const RANK: Readonly<Record<string, number>> = {
  core: 0,
  store: 1,
  exec: 1,
  git: 2,
  session: 2,
  runtime: 2,
  town: 2,
  work: 3,
  observe: 3,
  daemon: 3,
  patrol: 3,
  refinery: 3,
  sim: 3,
  costs: 3,
  telemetry: 3,
  views: 4,
  cli: 5,
};

/** Same-tier imports that are allowed, with the reason. */
const SIBLINGS: Readonly<Record<string, readonly string[]>> = {
  // A town's sandboxes are git clones and worktrees.
  town: ['git'],
  // The daemon observes, then acts through the same operations users run (start a session, send mail).
  // It exports its telemetry (the town's traces and metrics) from its own long-lived process.
  daemon: ['observe', 'work', 'patrol', 'telemetry', 'costs'],
  // The patrol wakes its agents by the same operations (a nudge, a session start) and reads observations; it
  // tells people by mail.
  patrol: ['observe', 'work'],
  // The refinery tells who wrote a request, and the rig's witness, what landed: by the mail agents send.
  refinery: ['work'],
  // Costs read the sessions and hooks the work records, and tell people of a budget reached by an escalation.
  costs: ['work', 'patrol'],
};

/** Modules only one layer may import. */
const OWNERS: readonly { module: RegExp; layers: readonly string[]; why: string }[] = [
  { module: /^better-sqlite3$/, layers: ['store'], why: 'SQL lives only in the store' },
  {
    module: /^(node:)?child_process$/,
    layers: ['exec'],
    why: 'subprocesses only through exec/exec.ts: argv arrays, timeouts, no shell',
  },
  { module: /^commander$/, layers: ['cli'], why: 'commander is CLI wiring' },
];

/** What core may not touch: it stays pure. */
const CORE_FORBIDDEN = [/^(node:)?(fs|child_process|net|os|process)$/, /^better-sqlite3$/];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.contract.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) out.push(m[1] ?? '');
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] ?? '');
  return out;
}

function layerOf(file: string): string {
  return relative(SRC, file).split(sep)[0] ?? '';
}

describe('architecture', () => {
  const files = sourceFiles(SRC);

  it('finds the source tree', () => {
    expect(files.length).toBeGreaterThan(10);
    expect(new Set(files.map(layerOf))).toEqual(
      new Set([
        'core',
        'store',
        'exec',
        'git',
        'session',
        'runtime',
        'town',
        'work',
        'observe',
        'daemon',
        'patrol',
        'refinery',
        'sim',
        'costs',
        'telemetry',
        'views',
        'cli',
      ]),
    );
  });

  it('puts every file in a known layer', () => {
    expect(files.map(layerOf).filter((l) => RANK[l] === undefined)).toEqual([]);
  });

  it('only imports downward', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of imports(file).filter((s) => s.startsWith('.'))) {
        const to = layerOf(resolve(file, '..', spec));
        const ok = to === from || (RANK[to] ?? 99) < (RANK[from] ?? -1) || (SIBLINGS[from] ?? []).includes(to);
        if (!ok) violations.push(`${relative(SRC, file)} imports ${spec} (${from} → ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('reaches each outside system from its own layer only', () => {
    const violations: string[] = [];
    for (const file of files) {
      const layer = layerOf(file);
      for (const spec of imports(file)) {
        for (const owner of OWNERS) {
          if (owner.module.test(spec) && !owner.layers.includes(layer)) {
            violations.push(`${relative(SRC, file)} imports ${spec}: ${owner.why}`);
          }
        }
        if (layer === 'core' && CORE_FORBIDDEN.some((r) => r.test(spec)))
          violations.push(`${relative(SRC, file)} imports ${spec}: core is pure`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('reaches the store through its ports above store/, never through the SQLite class', () => {
    const violations = files
      .filter((f) => layerOf(f) !== 'store')
      .filter((f) => imports(f).some((s) => /store\/sqlite-bead-store(\.js)?$/.test(s)))
      .map((f) => relative(SRC, f));
    expect(violations).toEqual([]);
  });

  it('has no import circles', () => {
    const edges = new Map(
      files.map((f) => [
        f,
        imports(f)
          .filter((s) => s.startsWith('.'))
          .map((s) => resolve(f, '..', s).replace(/\.js$/, '.ts')),
      ]),
    );
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        circles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const to of edges.get(f) ?? []) if (edges.has(to)) visit(to, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(circles).toEqual([]);
  });

  it('keeps the wall clock, the environment and SQL text out of core', () => {
    const violations: string[] = [];
    for (const file of files.filter((f) => layerOf(f) === 'core')) {
      const text = readFileSync(file, 'utf8');
      if (/Date\.now\(|new Date\(\)|process\.env|Math\.random\(/.test(text)) violations.push(relative(SRC, file));
      if (/\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b/.test(text))
        violations.push(`${relative(SRC, file)} (SQL)`);
    }
    expect(violations).toEqual([]);
  });

  it('prepares and closes SQLite handles only through store/db.ts (Node 24 finaliser abort, see db.ts)', () => {
    const violations = files
      .filter((f) => layerOf(f) === 'store' && relative(SRC, f) !== join('store', 'db.ts'))
      .filter((f) =>
        /\b(db|#db|database)\.(prepare|pragma|transaction|close)\(/.test(
          readFileSync(f, 'utf8').replace(/\/\/.*$/gm, ''),
        ),
      )
      .map((f) => relative(SRC, f));
    expect(violations).toEqual([]);
  });

  it('uses no dynamic import(): the code-cache loader cannot resolve one at run time', () => {
    const violations = files
      .filter((f) => /(?<![.\w])import\(\s*['"]/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(violations).toEqual([]);
  });

  it('runs no shell: every spawn is argv-only', () => {
    const violations = files
      .filter((f) => /(?<![.\w])exec(Sync)?\(|shell:\s*true/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(violations).toEqual([]);
  });
});
