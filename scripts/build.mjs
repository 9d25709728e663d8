// Builds the binaries. Each is a bundle (one CommonJS file: no module graph to resolve at start-up) behind a
// small loader that runs it through V8's code cache, warmed here by running real commands in-process.
// Agents call these binaries many times a minute, so their start-up time is a feature.
import { build } from 'esbuild';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import vm from 'node:vm';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
rmSync(dist, { recursive: true, force: true });

/**
 * commander loads node:child_process at start-up for external executable subcommands, which we never use;
 * that module graph costs ~10 ms per call. Give commander a stand-in that loads the real module on first use.
 */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'lazy-child-process', namespace: 'lazy' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_t, key) => require('node:child_process')[key] });",
      loader: 'js',
    }));
  },
};

const loader = readFileSync(join(root, 'scripts', 'loader.cjs'), 'utf8');

for (const name of ['bd', 'gt']) {
  const bundleName = `${name}.bundle.cjs`;
  const bundleFile = join(dist, bundleName);
  await build({
    entryPoints: [join(root, 'src', 'cli', `${name}-main.ts`)],
    outfile: bundleFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // zod is only needed by import and loads lazily from node_modules. better-sqlite3's JavaScript is bundled;
    // its native addon is loaded by path (src/store/native.ts).
    external: ['zod'],
    plugins: [lazyChildProcessForCommander],
    banner: { js: "const __bundle_url = require('node:url').pathToFileURL(__filename).href;" },
    define: { __GT_VERSION__: JSON.stringify(pkg.version), 'import.meta.url': '__bundle_url' },
    minify: process.env.GT_NO_MINIFY === undefined,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const launcher = join(dist, `${name}.cjs`);
  writeFileSync(launcher, loader.replace('__BUNDLE__', bundleName));
  chmodSync(launcher, 0o755);
  await warmCodeCache(name, bundleFile);
}

/** Runs representative commands in one process, then saves the code V8 compiled for them. */
async function warmCodeCache(name, bundleFile) {
  const script = new vm.Script(createRequire(bundleFile)('node:module').wrap(readFileSync(bundleFile, 'utf8')), { filename: bundleFile });
  const bundle = { exports: {} };
  script.runInThisContext()(bundle.exports, createRequire(bundleFile), bundle, bundleFile, dist);
  const dir = mkdtempSync(join(tmpdir(), 'gt-warm-'));
  const io = { out: () => {}, err: () => {}, stdoutIsTTY: false, stderrIsTTY: false, env: { BD_ACTOR: 'build' }, cwd: dir, readStdin: () => '' };
  try {
    if (name === 'bd') {
      const run = (...argv) => bundle.exports.runBd(argv, io);
      await run('init', '--prefix', 'warm');
      for (const json of [[], ['--json']]) {
        await run('create', 'first', '-p', '1', '-l', 'a', ...json);
        await run('ready', ...json);
        await run('list', ...json);
        await run('blocked', ...json);
        await run('stats', ...json);
        await run('search', 'first', ...json);
      }
      await run('ready', '--claim', '--json');
      await run('create', 'second', '--json', '--deps', 'warm-nope');
      await run('show', 'warm-nope', '--json');
      await run('export', '--json');
      await run('import', '--json');
      await run('--help');
    } else {
      await bundle.exports.runGt(['--help'], io);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeFileSync(`${bundleFile}.v8-cache`, script.createCachedData());
}
