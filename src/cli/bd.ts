import { registerAdminCommands } from './bd/admin-commands.js';
import { registerGraphCommands } from './bd/graph-commands.js';
import { registerIssueCommands } from './bd/issue-commands.js';
import type { Io } from './io.js';
import { createProgram, runProgram } from './program.js';
import { VERSION } from './version.js';

const COMMAND_NAMES = [
  ...['create', 'show', 'list', 'ready', 'blocked', 'update', 'close', 'reopen', 'search'],
  ...['dep', 'label', 'comment', 'comments'],
  ...['init', 'stats', 'export', 'import', 'config', 'events'],
];
const ALIASES: readonly (readonly [string, string])[] = [
  ['new', 'create'],
  ['view', 'show'],
  ['done', 'close'],
  ['status', 'stats'],
];
/** Every top-level command, by name and alias. */
const COMMANDS: ReadonlyMap<string, string> = new Map([...COMMAND_NAMES.map((n) => [n, n] as const), ...ALIASES]);

/** Global options that take a value, so that their value is not taken for the command name. */
const GLOBAL_VALUE_OPTIONS = new Set(['--actor', '--db']);

/** The command this argv invokes, when it names one we have. */
export function invokedCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (GLOBAL_VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return COMMANDS.get(arg);
  }
  return undefined;
}

/** `bd`: a beads-compatible issue tracker over the town's store. */
export async function runBd(argv: readonly string[], io: Io): Promise<number> {
  const program = createProgram('bd', 'beads: the issue tracker agents share (beads-compatible)', VERSION, io)
    .option('--json', 'machine-readable output')
    .option('--actor <name>', 'who is acting (default: $BD_ACTOR, $BEADS_ACTOR, git user.name, OS user)')
    .option('--db <path>', 'the database file (default: $BEADS_DB, else the nearest .beads/ above here)');
  // Agents run bd many times a minute: build only the command being run. Help, a bare `bd` and unknown
  // commands get every command, for the listing and for "did you mean".
  const invoked = invokedCommand(argv);
  const wants = (name: string): boolean => invoked === undefined || invoked === name;
  registerIssueCommands(program, io, wants);
  registerGraphCommands(program, io, wants);
  registerAdminCommands(program, io, wants);
  return runProgram(program, argv, io);
}
