#!/usr/bin/env node
'use strict';
// Starts a bundled program through V8's code cache. Node 20 has no compile cache of its own, and compiling
// the bundle's functions costs a short-lived CLI more than most commands' work. A missing or stale cache
// (another Node version) is only slower: the program compiles as usual and the cache is written afresh.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const file = path.join(__dirname, '__BUNDLE__');
const cacheFile = `${file}.v8-cache`;
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
// The bundle is ASCII (esbuild escapes the rest), so latin1 reads it without a UTF-8 decode.
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'latin1')), { filename: file, cachedData });
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, Module.createRequire(file), bundle, file, __dirname);
if (cachedData === undefined || script.cachedDataRejected) {
  process.once('exit', () => {
    // Best effort, and atomic: a reader sees the old cache or the new one, never half of one.
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // a read-only install: run without a cache
      }
    }
  });
}
bundle.exports.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
