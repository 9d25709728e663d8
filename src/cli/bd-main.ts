import { runBd } from './bd.js';
import { processIo } from './io.js';

void runBd(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
