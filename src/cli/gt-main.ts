import { runGt } from './gt.js';
import { processIo } from './io.js';

void runGt(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
