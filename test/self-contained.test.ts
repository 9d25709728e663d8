import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The suite must pass on a fresh clone with nothing beside it: no test reads files from outside the repository. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mjs|cjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

describe('the test suite is self-contained', () => {
  it('reads no data from outside the repository', () => {
    const offenders = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'test'))]
      .filter((file) => !file.endsWith('self-contained.test.ts'))
      .filter((file) => /shared\/data|new URL\(['"`](\.\.\/){3,}|\/work\/shared/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file));
    expect(offenders).toEqual([]);
  });

  it('ships the beads ledger fixture with its README', () => {
    const names = readdirSync(join(ROOT, 'test', 'fixtures'));
    expect(names).toContain('beads-v0.47.0-issues.jsonl.gz');
    expect(readFileSync(join(ROOT, 'test', 'fixtures', 'README.md'), 'utf8')).toMatch(/steveyegge\/beads.*v0\.47\.0/s);
  });
});
