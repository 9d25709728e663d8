import { registerAdminCommands } from './bd/admin-commands.js';
import { registerGraphCommands } from './bd/graph-commands.js';
import { registerIssueCommands } from './bd/issue-commands.js';
import type { Io } from './io.js';
import { createProgram, runProgram } from './program.js';
import { VERSION } from './version.js';

/** `bd`: a beads-compatible issue tracker over the town's store. */
export async function runBd(argv: readonly string[], io: Io): Promise<number> {
  const program = createProgram('bd', 'beads: the issue tracker agents share (beads-compatible)', VERSION, io)
    .option('--json', 'machine-readable output')
    .option('--actor <name>', 'who is acting (default: $BD_ACTOR, $BEADS_ACTOR, git user.name, OS user)')
    .option('--db <path>', 'the database file (default: $BEADS_DB, else the nearest .beads/ above here)')
    .option('-q, --quiet', 'print less');
  registerIssueCommands(program, io);
  registerGraphCommands(program, io);
  registerAdminCommands(program, io);
  return runProgram(program, argv, io);
}
