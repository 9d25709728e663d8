import { execFileSync } from 'node:child_process';
import { errorMessage, isRecord } from '../core/errors.js';

/** The only module that runs git. Every call is argv-only, with a timeout, never through a shell. */

const DEFAULT_TIMEOUT_MS = 10_000;

export type GitResult = { ok: true; stdout: string } | { ok: false; stderr: string; status: number | null };

export function runGit(args: readonly string[], options: { cwd: string; timeoutMs?: number }): GitResult {
  try {
    const stdout = execFileSync('git', args, {
      cwd: options.cwd,
      encoding: 'utf8',
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
    });
    return { ok: true, stdout };
  } catch (err) {
    const e: Record<string, unknown> = isRecord(err) ? err : {};
    return {
      ok: false,
      stderr: typeof e.stderr === 'string' ? e.stderr : errorMessage(err),
      status: typeof e.status === 'number' ? e.status : null,
    };
  }
}

/** `git config user.name` as seen from `cwd`, or undefined when git or the setting is missing. */
export function gitUserName(cwd: string): string | undefined {
  const result = runGit(['config', '--get', 'user.name'], { cwd, timeoutMs: 3_000 });
  if (!result.ok) return undefined;
  const name = result.stdout.trim();
  return name === '' ? undefined : name;
}
