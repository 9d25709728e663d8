import type * as ChildProcess from 'node:child_process';
import { createRequire } from 'node:module';
import { errorMessage, isRecord } from '../core/errors.js';

/**
 * The only module that runs git. Every call is argv-only, with a timeout, never through a shell. The process
 * module is loaded on first use: most `bd` calls never run git, and loading it costs start-up time.
 */

const DEFAULT_TIMEOUT_MS = 10_000;

export type GitResult = { ok: true; stdout: string } | { ok: false; stderr: string; status: number | null };

let childProcess: typeof ChildProcess | undefined;

function loadChildProcess(): typeof ChildProcess {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-type-assertion -- require() is untyped; the module named is child_process.
  childProcess ??= createRequire(import.meta.url)('node:child_process') as typeof ChildProcess;
  return childProcess;
}

export async function runGit(args: readonly string[], options: { cwd: string; timeoutMs?: number }): Promise<GitResult> {
  const { execFile } = loadChildProcess();
  return new Promise((resolve) => {
    execFile(
      'git',
      [...args],
      { cwd: options.cwd, encoding: 'utf8', timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, shell: false, windowsHide: true },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ ok: true, stdout });
          return;
        }
        const e: Record<string, unknown> = isRecord(err) ? err : {};
        resolve({ ok: false, stderr: stderr === '' ? errorMessage(err) : stderr, status: typeof e.code === 'number' ? e.code : null });
      },
    );
  });
}

/** `git config user.name` as seen from `cwd`, or undefined when git or the setting is missing. */
export async function gitUserName(cwd: string): Promise<string | undefined> {
  const result = await runGit(['config', '--get', 'user.name'], { cwd, timeoutMs: 3_000 });
  if (!result.ok) return undefined;
  const name = result.stdout.trim();
  return name === '' ? undefined : name;
}
