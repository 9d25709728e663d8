import { runBd } from './bd.js';
import { processIo } from './io.js';

/** Entry of the `bd` bundle; scripts/loader.cjs calls it. */
export function main(argv: readonly string[]): Promise<number> {
  return runBd(argv, processIo());
}

export { runBd };
