import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BD_BIN = fileURLToPath(new URL('../../dist/bd.cjs', import.meta.url));
export const GT_BIN = fileURLToPath(new URL('../../dist/gt.cjs', import.meta.url));

export function requireBuild(): void {
  if (!existsSync(BD_BIN) || !existsSync(GT_BIN))
    throw new Error('dist/ is missing: run "npm run build" (npm test does it first)');
}

export type RunResult = { status: number | null; stdout: string; stderr: string };

/**
 * An environment with nothing of the developer's: a private HOME and git config, no actor variables, so
 * black-box tests see what a fresh machine sees.
 */
export function cleanEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  mkdirSync(home, { recursive: true });
  const gitconfig = join(home, '.gitconfig');
  if (!existsSync(gitconfig)) writeFileSync(gitconfig, '');
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    USER: 'tester',
    LANG: 'C.UTF-8',
    GIT_CONFIG_GLOBAL: gitconfig,
    GIT_CONFIG_NOSYSTEM: '1',
    ...extra,
  };
}

export function bd(
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; input?: string; bin?: string },
): RunResult {
  return runBin(options.bin ?? BD_BIN, args, options);
}

export function gt(
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; input?: string },
): RunResult {
  return runBin(GT_BIN, args, options);
}

function runBin(
  bin: string,
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; input?: string },
): RunResult {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    env: options.env,
    input: options.input ?? '',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same as `bd`, without blocking the event loop: for many processes at once. */
export function bdAsync(
  args: readonly string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<RunResult> {
  return runBinAsync(BD_BIN, args, options);
}

/**
 * The same as `gt`, without blocking the event loop: needed whenever a server in the test process (the
 * scripted model) must keep answering while gt runs.
 */
export function gtAsync(
  args: readonly string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<RunResult> {
  return runBinAsync(GT_BIN, args, options);
}

function runBinAsync(
  bin: string,
  args: readonly string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export function json<T = unknown>(r: RunResult): T {
  if (r.status !== 0) throw new Error(`bd failed (${String(r.status)}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
