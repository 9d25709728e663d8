import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { findTown } from '../src/town/town.js';
import { cleanEnv, requireBuild } from './helpers/bd.js';
import { git } from './helpers/town-fixture.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The README, run as written: every command in its `sh` blocks, from "Using gt and bd on your own projects"
 * to the end of the town's sections, in order, in one user's shell (its `cd`s carry over, `~` is a private
 * HOME), with gt and bd installed by the README's own `npm install -g .` into a private npm prefix.
 *
 * A line passes when it exits 0, or, where its comment says it "refuses", when it exits non-zero. The only
 * changes to what is written are below, each with its reason; a line the README gains or loses needs no change
 * here, and a substitution whose text is gone from the README fails the test.
 */
const CLONE = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(CLONE, 'README.md'), 'utf8');

/** Where the walk starts and ends: from the user's install to the end of the town's sections. */
const FIRST_SECTION = '## Using `gt` and `bd` on your own projects';
const END_SECTION = '## How it is built';

type Substitution = { text: string; by: (ctx: { remote: string }) => string; why: string };
const SUBSTITUTIONS: readonly Substitution[] = [
  {
    text: 'https://github.com/you/project.git',
    by: ({ remote }) => remote,
    why: 'no network here: a local repository stands in for the project (the README says a path works)',
  },
  {
    text: 'gt config default-agent claude ',
    by: () => 'gt config default-agent sim ',
    why: 'tests run no AI: the sim agent, which the same line names as a choice, stands in for Claude Code',
  },
];

/** Lines not run, each with the reason (they have their own tests). */
const SKIPPED: readonly { text: string; why: string }[] = [
  { text: 'gt session attach ', why: "needs a person's terminal; test/sessions.int.test.ts attaches from tmux" },
  { text: 'gt status --watch', why: 'runs until interrupted' },
];

/** Before a section's first line, where the user is (a fresh directory for bd, which makes .beads/ there). */
const SECTION_START: Readonly<Record<string, string>> = {
  '## `bd`: the shared issue tracker': '~/tracker',
  '## `gt`: the town': '~',
};

type Line = { section: string; text: string; comment: string };

function readmeLines(): Line[] {
  const start = README.indexOf(FIRST_SECTION);
  const end = README.indexOf(END_SECTION);
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const lines: Line[] = [];
  let section = '';
  let inSh = false;
  for (const raw of README.slice(start, end).split('\n')) {
    if (!inSh && raw.startsWith('## ')) section = raw;
    if (raw.startsWith('```')) {
      inSh = !inSh && raw.trim() === '```sh';
      continue;
    }
    if (!inSh || raw.trim() === '') continue;
    // A comment is " # …" after the command (never inside it, in this README).
    const m = /^(.*?)\s+#\s(.*)$/.exec(raw);
    lines.push({ section, text: (m?.[1] ?? raw).trim(), comment: m?.[2] ?? '' });
  }
  return lines;
}

/** A placeholder id in a comment ("# → gt-a3f") names the id the command printed. */
const PLACEHOLDER = /→\s*([a-z]+-[a-z0-9]+)\b/;
const CREATED = /Created ([a-z0-9]+-[a-z0-9.]+)/;

describe('the README, run as written', () => {
  const t = tempDir('readme');
  const home = join(t.dir, 'home');
  const prefix = join(t.dir, 'npm-prefix');
  let townRoot: string | undefined;
  afterAll(async () => {
    if (townRoot !== undefined) {
      const town = findTown({ cwd: townRoot });
      spawnSync(process.execPath, [join(CLONE, 'dist', 'gt.cjs'), 'down'], { cwd: townRoot, env: cleanEnv(home) });
      await new TmuxSessionProvider(town.tmuxSocket, join(town.root, '.runtime', 'tmux')).killServer();
    }
    t.cleanup();
  });

  it('every command from "Using gt and bd" to the end of the town does what it says', () => {
    requireBuild();
    // The project the town works on: a local repository with a commit.
    const project = join(t.dir, 'project');
    mkdirSync(project, { recursive: true });
    git(project, 'init', '--quiet', '--initial-branch=main');
    git(project, '-c', 'user.name=t', '-c', 'user.email=t@e.x', 'commit', '--quiet', '--allow-empty', '-m', 'init');
    const env = {
      ...cleanEnv(home, { npm_config_prefix: prefix, npm_config_cache: join(t.dir, 'npm-cache') }),
      PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    };
    mkdirSync(join(home, 'tracker'), { recursive: true });

    const lines = readmeLines();
    for (const s of SUBSTITUTIONS) expect(README, s.why).toContain(s.text);
    for (const s of SKIPPED)
      expect(
        lines.some((l) => l.text.includes(s.text.trim())),
        s.why,
      ).toBe(true);
    expect(lines.length).toBeGreaterThan(30);

    const ids = new Map<string, string>();
    let cwd = CLONE;
    let section = '';
    const failures: string[] = [];
    const cwdFile = join(t.dir, 'cwd');
    for (const line of lines) {
      if (line.section !== section) {
        section = line.section;
        const start = SECTION_START[section];
        if (start !== undefined) cwd = start.replace(/^~/, home);
      }
      if (SKIPPED.some((s) => line.text.includes(s.text.trim()))) continue;
      let text = line.text;
      for (const s of SUBSTITUTIONS) text = text.replace(s.text.trim(), s.by({ remote: project }).trim());
      for (const [placeholder, id] of ids) text = text.replaceAll(placeholder, id);
      const r = spawnSync('bash', ['-c', `${text}\n__status=$?; pwd > "$1"; exit $__status`, 'readme', cwdFile], {
        cwd,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      cwd = readFileSync(cwdFile, 'utf8').trim() || cwd;
      const output = `${r.stdout}${r.stderr}`;
      const refuses = /^refuses\b/.test(line.comment);
      const ok = refuses ? r.status !== 0 && r.status !== 70 : r.status === 0;
      if (!ok) failures.push(`${line.text}\n  → exit ${r.status}: ${output.trim().split('\n').slice(-4).join(' | ')}`);
      if (/this is a bug/.test(output)) failures.push(`${line.text}\n  → internal error: ${output.trim()}`);
      const placeholder = PLACEHOLDER.exec(line.comment)?.[1];
      if (placeholder !== undefined) {
        const id = CREATED.exec(output)?.[1];
        if (id === undefined) failures.push(`${line.text}\n  → printed no id for ${placeholder}: ${output.trim()}`);
        else ids.set(placeholder, id);
      }
      if (/^gt install /.test(text) && r.status === 0) townRoot = join(home, 'gt');
    }
    expect(failures).toEqual([]);
  }, 600_000);

  it('names only commands and options that exist, wherever it mentions one in its text', () => {
    requireBuild();
    const helps = new Map<string, { ok: boolean; text: string }>();
    const help = (bin: string, path: readonly string[]): { ok: boolean; text: string } => {
      const key = [bin, ...path].join(' ');
      const cached = helps.get(key);
      if (cached !== undefined) return cached;
      const r = spawnSync(process.execPath, [join(CLONE, 'dist', `${bin}.cjs`), ...path, '--help'], {
        encoding: 'utf8',
        env: cleanEnv(home),
      });
      const result = { ok: r.status === 0, text: r.stdout };
      helps.set(key, result);
      return result;
    };
    const subcommands = (text: string): string[] => {
      const at = text.indexOf('\nCommands:\n');
      if (at < 0) return [];
      return [...text.slice(at).matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1] ?? '');
    };
    const spans = [...README.matchAll(/`((?:gt|bd) [^`]+)`/g)].map((m) => (m[1] ?? '').replace(/\s+/g, ' '));
    expect(spans.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const span of spans) {
      const [bin = '', ...words] = span.split(' ');
      const path: string[] = [];
      let i = 0;
      // The command's own words: each one a subcommand of the one before (a|b or a/b: each of them).
      for (; i < words.length; i++) {
        const alternatives = (words[i] ?? '').split(/[|/]/);
        const known = subcommands(help(bin, path).text);
        if (!alternatives.every((a) => known.includes(a))) break;
        for (const a of alternatives.slice(1))
          if (!help(bin, [...path, a]).ok) problems.push(`${span}: "${bin} ${[...path, a].join(' ')}" has no help`);
        path.push(alternatives[0] ?? '');
      }
      if (path.length === 0 && /^[a-z]/.test(words[0] ?? ''))
        problems.push(`${span}: ${bin} has no command ${words[0]}`);
      const own = help(bin, path);
      if (!own.ok) problems.push(`${span}: "${bin} ${path.join(' ')}" is no command`);
      const rest = words.slice(i);
      for (let j = 0; j < rest.length; j++) {
        const flag = /^(--?[a-zA-Z][\w-]*)/.exec(rest[j] ?? '')?.[1];
        if (flag === undefined || flag === '--help' || flag === '-h') continue;
        if (!new RegExp(`(^|[\\s,])${flag}\\b`, 'm').test(own.text))
          problems.push(`${span}: "${bin} ${path.join(' ')}" has no option ${flag}`);
        // An option that takes a value: the next word is its value, even one that looks like an option.
        else if (new RegExp(`${flag} [<[]`).test(own.text)) j++;
      }
    }
    expect(problems).toEqual([]);
  });
});
