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
import { bundleOptions } from './bundle-options.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
rmSync(dist, { recursive: true, force: true });

const loader = readFileSync(join(root, 'scripts', 'loader.cjs'), 'utf8');

for (const name of ['bd', 'gt']) {
  const bundleName = `${name}.bundle.cjs`;
  const bundleFile = join(dist, bundleName);
  await build(
    bundleOptions({ entry: join(root, 'src', 'cli', `${name}-main.ts`), outfile: bundleFile, version: pkg.version }),
  );
  if ([...readFileSync(bundleFile)].some((byte) => byte > 0x7f))
    throw new Error(`${bundleFile} is not ASCII; the loader reads it as latin1`);
  const launcher = join(dist, `${name}.cjs`);
  writeFileSync(launcher, loader.replace('__BUNDLE__', bundleName));
  chmodSync(launcher, 0o755);
  await warmCodeCache(name, bundleFile);
}

/** Runs representative commands in one process, then saves the code V8 compiled for them. */
async function warmCodeCache(name, bundleFile) {
  const script = new vm.Script(createRequire(bundleFile)('node:module').wrap(readFileSync(bundleFile, 'latin1')), {
    filename: bundleFile,
  });
  const bundle = { exports: {} };
  script.runInThisContext()(bundle.exports, createRequire(bundleFile), bundle, bundleFile, dist);
  const dir = mkdtempSync(join(tmpdir(), 'gt-warm-'));
  const io = {
    out: () => {},
    err: () => {},
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: { BD_ACTOR: 'build' },
    cwd: dir,
    readStdin: () => '',
  };
  try {
    if (name === 'bd') {
      const run = (...argv) => bundle.exports.runBd(argv, io);
      // The calls agents make many times a minute; everything else compiles on demand. A bigger cache costs
      // more to load on every start than it saves on rare commands.
      await run('init', '--prefix', 'warm');
      await run('create', 'first', '-p', '1', '-l', 'a', '--json');
      await run('ready', '--json');
      await run('list', '--json');
      await run('update', 'warm-nope', '--claim', '--json');
      await run('ready', '--claim', '--json');
      await run('close', 'warm-nope', '--json');
      await run('show', 'warm-nope', '--json');
    } else {
      await bundle.exports.runGt(['--help'], io);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeFileSync(`${bundleFile}.v8-cache`, script.createCachedData());
}
