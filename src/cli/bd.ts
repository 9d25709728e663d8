import { registerAdminCommands } from './bd/admin-commands.js';
import { registerGraphCommands } from './bd/graph-commands.js';
import { registerIssueCommands } from './bd/issue-commands.js';
import { registerLifecycleCommands } from './bd/lifecycle-commands.js';
import { JSON_SCHEMA_VERSION } from './bd/context.js';
import type { ErrorStyle, Io } from './io.js';
import { createProgram, runProgram } from './program.js';
import { VERSION } from './version.js';

const COMMAND_NAMES = [
  ...['create', 'show', 'list', 'ready', 'blocked', 'update', 'close', 'reopen', 'search'],
  ...['delete', 'defer', 'undefer', 'supersede', 'stale'],
  ...['dep', 'label', 'comment', 'comments'],
  ...['init', 'stats', 'export', 'import', 'config', 'events', 'ping'],
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

/**
 * As beads: every error exits 1, its kind stays in the JSON error's `code`; JSON objects (errors included)
 * carry `schema_version`.
 */
const BD_ERRORS: ErrorStyle = { exitCode: 1, jsonFields: { schema_version: JSON_SCHEMA_VERSION } };

/** `bd`: a beads-compatible issue tracker over the town's store. */
export async function runBd(argv: readonly string[], io: Io): Promise<number> {
  // --quiet leaves errors only: ordinary output is dropped (--json output, which was asked for, is not).
  let quiet = false;
  const commandIo: Io = {
    out: (text) => {
      if (!quiet) io.out(text);
    },
    err: (text) => io.err(text),
    get stdoutIsTTY() {
      return io.stdoutIsTTY;
    },
    get stderrIsTTY() {
      return io.stderrIsTTY;
    },
    get stdinIsTTY() {
      return io.stdinIsTTY;
    },
    env: io.env,
    cwd: io.cwd,
    readStdin: () => io.readStdin(),
  };
  const program = createProgram('bd', 'beads: the issue tracker agents share (beads-compatible)', VERSION, io)
    .option('--json', 'machine-readable output')
    .option('-q, --quiet', 'print errors only')
    .option('--actor <name>', 'who is acting (default: $BD_ACTOR, $BEADS_ACTOR, git user.name, OS user)')
    .option('--db <path>', 'the database file (default: $BEADS_DB, else the nearest .beads/ above here)')
    .hook('preAction', (_program, action) => {
      const o = action.optsWithGlobals<Record<string, unknown>>();
      quiet = o.quiet === true && o.json !== true;
    });
  // Agents run bd many times a minute: build only the command being run. Help, a bare `bd` and unknown
  // commands get every command, for the listing and for "did you mean".
  const invoked = invokedCommand(argv);
  const wants = (name: string): boolean => invoked === undefined || invoked === name;
  registerIssueCommands(program, commandIo, wants);
  registerLifecycleCommands(program, commandIo, wants);
  registerGraphCommands(program, commandIo, wants);
  registerAdminCommands(program, commandIo, wants);
  return runProgram(program, argv, io, BD_ERRORS);
}
