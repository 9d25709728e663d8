// `npm run demo`: a short walkthrough of bd in a throw-away workspace: the loop every agent runs
// (ready → claim → work → close), dependencies, and the ledger in git.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, URL } from 'node:url';

const BD = fileURLToPath(new URL('../dist/bd.cjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gt-demo-'));
const env = { ...process.env, BD_ACTOR: 'mayor' };
const bold = (s) => (process.stdout.isTTY ? `\u001b[1m${s}\u001b[0m` : s);

function bd(args, { actor, quiet = false } = {}) {
  const shown = ['bd', ...args.map((a) => (/[\s"'$`]/.test(a) ? JSON.stringify(a) : a))].join(' ');
  if (!quiet) console.log(bold(`\n$ ${actor === undefined ? '' : `BD_ACTOR=${actor} `}${shown}`));
  const r = spawnSync(process.execPath, [BD, ...args], {
    cwd: dir,
    env: actor === undefined ? env : { ...env, BD_ACTOR: actor },
    encoding: 'utf8',
  });
  if (!quiet) process.stdout.write(r.stdout + r.stderr);
  if (r.status !== 0 && !quiet) console.log(`(exit ${r.status})`);
  return r.stdout.trim();
}

function note(text) {
  console.log(`\n# ${text}`);
}

try {
  note('A workspace: one SQLite ledger under .beads/, found from any directory below it.');
  bd(['init', '--prefix', 'gt']);

  note('Work items ("beads"). An epic, and tasks under it; ids are short hashes, children are <epic>.<n>.');
  const epic = bd(['create', 'Ship the login page', '-t', 'epic', '-p', '2', '--silent']);
  console.log(`epic: ${epic}`);
  const schema = bd(['create', 'Design the session schema', '--parent', epic, '-p', '1', '--silent'], { quiet: true });
  const api = bd(['create', 'Build the login API', '--parent', epic, '-p', '1', '--deps', schema, '--silent'], {
    quiet: true,
  });
  const ui = bd(['create', 'Build the login form', '--parent', epic, '-p', '2', '--deps', api, '--silent'], {
    quiet: true,
  });
  bd(['create', 'Fix typo in footer', '-t', 'bug', '-p', '3', '-l', 'good-first-issue']);
  bd(['dep', 'tree', ui]);

  note('Ready work: open, nothing blocking it, most urgent first. This is what an agent asks for.');
  bd(['ready']);

  note('Two agents race for the same bead: a claim is a compare-and-set, exactly one wins.');
  bd(['update', schema, '--claim'], { actor: 'gt/polecats/toast' });
  bd(['update', schema, '--claim'], { actor: 'gt/polecats/nux' });

  note('Toast finishes; closing the blocker makes the next step ready.');
  bd(['close', schema, '--reason', 'schema merged'], { actor: 'gt/polecats/toast' });
  bd(['ready', '--json', '-n', '1']);
  bd(['blocked']);

  note('Every change is in the audit trail, with who did it.');
  bd(['events', schema]);

  note('The ledger as JSONL, deterministic, so it can live in git next to the code.');
  bd(['export']);
  bd(['stats']);
  console.log(`\n(The demo workspace was ${dir}; it has been removed. Try "npx bd --help" next.)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
