import { runGt } from './gt.js';
import { processIo } from './io.js';

/** Entry of the `gt` bundle; scripts/loader.cjs calls it. */
export function main(argv: readonly string[]): Promise<number> {
  return runGt(argv, processIo());
}

export { runGt };
