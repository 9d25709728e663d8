// Bundles each binary into one CommonJS file: a single file with no module graph to resolve starts as fast
// as `node -e 0` plus the native SQLite binding, and agents call these binaries many times a minute.
import { build } from 'esbuild';
import { URL } from 'node:url';
import { chmodSync, readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

for (const name of ['bd', 'gt']) {
  const outfile = `dist/${name}.cjs`;
  await build({
    entryPoints: [`src/cli/${name}-main.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // The native binding must load from node_modules; zod is only needed by import and loads lazily.
    external: ['better-sqlite3', 'zod'],
    banner: { js: '#!/usr/bin/env node' },
    define: { __GT_VERSION__: JSON.stringify(pkg.version) },
    legalComments: 'none',
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
}
