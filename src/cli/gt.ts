import type { Io } from './io.js';
import { createProgram, runProgram } from './program.js';
import { VERSION } from './version.js';

/** `gt`: the Gas Town workspace manager. Commands arrive with the issues that build them. */
export async function runGt(argv: readonly string[], io: Io): Promise<number> {
  const program = createProgram('gt', 'Gas Town: run 20-30 AI coding agents on shared git repositories', VERSION, io);
  program.action(() => {
    program.outputHelp();
  });
  return runProgram(program, argv, io);
}
