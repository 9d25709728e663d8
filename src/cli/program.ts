import { Command, CommanderError } from 'commander';
import { UsageError } from '../core/errors.js';
import { reportError, type ErrorStyle, type Io } from './io.js';

/** A commander program wired to `io`, with its errors routed through our boundary instead of its own. */
export function createProgram(name: string, description: string, version: string, io: Io): Command {
  return new Command(name)
    .description(description)
    .version(version, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true);
}

/** Runs a program and returns its exit code; the only place a binary turns errors into exits. */
export async function runProgram(
  program: Command,
  argv: readonly string[],
  io: Io,
  style: ErrorStyle = {},
): Promise<number> {
  const json = argv.includes('--json');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return err.exitCode;
      }
      const message = err.message.replace(/^error: /, '');
      return reportError(
        io,
        new UsageError(message, { hint: `see ${commandPath(program, argv)} --help` }),
        json,
        style,
      );
    }
    return reportError(io, err, json, style);
  }
}

/** The command line's subcommand, as far as its words name one (`gt polecat remove`), for pointing at its help. */
export function commandPath(program: Command, argv: readonly string[]): string {
  const names = [program.name()];
  let at = program;
  for (const word of argv) {
    if (word.startsWith('-')) continue;
    const sub = at.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub === undefined) break;
    names.push(sub.name());
    at = sub;
  }
  return names.join(' ');
}
