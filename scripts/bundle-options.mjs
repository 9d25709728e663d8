// The esbuild options every CommonJS bundle of this project needs (the binaries, benchmark workers).

/**
 * commander loads node:child_process at start-up for external executable subcommands, which we never use;
 * that module graph costs ~10 ms per call. Give commander a stand-in that loads the real module on first use.
 */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
        ? { path: 'lazy-child-process', namespace: 'lazy' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_t, key) => require('node:child_process')[key] });",
      loader: 'js',
    }));
  },
};

export function bundleOptions({ entry, outfile, version = 'dev' }) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    charset: 'ascii',
    // zod is only needed by import and is required on first use from node_modules. better-sqlite3's
    // JavaScript is bundled; its native addon is loaded by path (src/store/native.ts). OpenTelemetry is
    // required from node_modules only by a daemon whose environment asks for export (src/telemetry/otel.ts);
    // the web server of gt dashboard (hono, @hono/node-server) only by that command.
    external: ['zod', '@opentelemetry/*', 'hono', 'hono/*', '@hono/node-server'],
    plugins: [lazyChildProcessForCommander],
    // Sources are ESM and use import.meta.url (for createRequire); give the CommonJS bundle its own.
    banner: { js: "const __bundle_url = require('node:url').pathToFileURL(__filename).href;" },
    define: { __GT_VERSION__: JSON.stringify(version), 'import.meta.url': '__bundle_url' },
    minify: process.env.GT_NO_MINIFY === undefined,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
  };
}
