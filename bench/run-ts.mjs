// Bundles a benchmark written in TypeScript (bench/<name>.ts: it uses the TypeScript sources and test
// fixtures) and runs it, exiting as it does. The sections' .mjs entry points call this with their name.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function runBenchTs(name) {
  const out = join(ROOT, 'bench', '.work', `${name}.cjs`);
  mkdirSync(join(ROOT, 'bench', '.work'), { recursive: true });
  await build({
    entryPoints: [join(ROOT, 'bench', `${name}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: out,
    external: ['better-sqlite3', 'zod', 'puppeteer-core'],
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
  });
  const r = spawnSync(process.execPath, [out], { stdio: 'inherit', env: { ...process.env, GT_BENCH_ROOT: ROOT } });
  process.exitCode = r.status ?? 1;
}
