import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { onPath } from '../exec/path.js';
import { startDaemonProcess, stopDaemonProcess } from '../daemon/daemon.js';
import { cloneBare, cloneFull, commitAll, gitInit, mergeAndPush, runGit } from '../git/git.js';
import { openTownStore } from '../store/open.js';
import { addRig } from '../town/rig.js';
import { installTown, loadSettings, saveSettings } from '../town/town.js';
import { startAgentSession, stopAgentSession } from '../work/sessions.js';
import { sling } from '../work/sling.js';
import { globals } from './bd/context.js';
import { gtBinPath, townContext } from './gt-agents.js';
import { printJson, type Io } from './io.js';

/**
 * `gt demo`: the whole system on a throw-away town — a generated project with a real test command, a dozen
 * beads of real work (some depending on others), the daemon, several polecats running the scripted agent
 * (not AI), one of them killed mid-work to show recovery — until every bead is done and merged.
 */

const PARTS = 12;
const POLECATS = 4;
/** The part whose agent gets killed mid-work. */
const VICTIM = 6;
/**
 * Its work waits until the demo has killed its first agent and says go (a file in the town's runtime
 * directory), so the kill always lands mid-work however slow the machine; the successor finds the file.
 */
const GO_FILE = 'demo-go';
const VICTIM_WAIT = `while [ ! -e "$GT_TOWN_ROOT/.runtime/${GO_FILE}" ]; do sleep 0.2; done`;
const TIMEOUT_MS = 110_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The commands to look around the finished town, runnable as printed (an alias first when gt is not on the PATH). */
function lookAround(io: Io, townRoot: string, killed: string | null, keep: boolean): string[] {
  const quote = (v: string): string => (/^[\w./:=+-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  const gtBin = gtBinPath(io);
  const lines = [`Look around:`, `  cd ${quote(townRoot)}`];
  if (!onPath('gt', io.env.PATH))
    lines.push(
      `  alias gt=${quote(`${process.execPath} ${gtBin}`)} bd=${quote(`${process.execPath} ${join(dirname(gtBin), 'bd.cjs')}`)}`,
    );
  const commands: [string, string][] = [
    ['gt status', 'rigs, agents and their observed state, merge requests'],
    [`gt seance --agent ${killed ?? 'widgets/polecats/aster'}`, "the killed polecat's sessions"],
    ['bd list --all', 'every bead'],
    ...(keep
      ? ([
          ['gt session attach mayor', 'watch and type; detach with Ctrl-b d'],
          ['gt down', 'stop the daemon and every session (the files stay)'],
        ] as [string, string][])
      : []),
  ];
  return [...lines, ...commands.map(([command, what]) => `  ${command.padEnd(33)} # ${what}`)];
}

export function registerDemoCommand(program: Command, io: Io): void {
  program
    .command('demo')
    .description(
      'watch a town work: a project, 12 beads, polecats running the scripted agent, the daemon, a crash and its recovery',
    )
    .option('--dir <dir>', 'where to build the demo town (default: a new temporary directory)')
    .option(
      '--keep',
      'leave the town running afterwards (the daemon and the mayor\'s session) to look around and attach; "gt down" stops it',
    )
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const json = globals(cmd).json;
      const say = (line: string): void => {
        if (!json) io.out(`${line}\n`);
      };
      const started = Date.now();
      const keep = o.keep === true;
      const base = typeof o.dir === 'string' ? o.dir : mkdtempSync(join(tmpdir(), 'gt-demo-'));
      mkdirSync(base, { recursive: true });
      if (readdirSync(base).length > 0)
        throw new ValidationError(`${base} is not empty`, { hint: 'give --dir an empty or new directory' });
      const root = realpathSync(base);

      say(`gt demo: a town in ${root}. The agents here are the scripted sim agent, not AI.`);
      // 1. A small project with a real test command.
      const project = join(root, 'project');
      mkdirSync(project);
      await gitInit(project);
      writeFileSync(join(project, 'README.md'), '# widgets\nParts live in parts/; `sh test.sh` checks each one.\n');
      writeFileSync(
        join(project, 'test.sh'),
        'set -e\nfor f in parts/*.txt; do [ -e "$f" ] || continue; grep -q "^part " "$f" || { echo "bad $f"; exit 1; }; done\necho "tests pass"\n',
      );
      await commitAll(project, 'widgets: the project', { name: 'demo', email: 'demo@example.com' });
      const remote = join(root, 'widgets.git');
      await cloneBare(project, remote, root);

      // 2. The town, the rig, the beads.
      const town = (
        await installTown(join(root, 'town'), {
          owner: 'demo@example.com',
          actor: 'demo',
          nowIso: new Date().toISOString(),
        })
      ).town;
      const s0 = loadSettings(town);
      saveSettings(town, {
        ...s0,
        default_agent: 'sim',
        daemon: { ...s0.daemon, heartbeat_seconds: 5, idle_polecat_seconds: 0 },
      });
      await addRig(town, 'widgets', remote, { actor: 'mayor' });
      say(`✓ town, rig "widgets" (from ${remote})`);
      const store = openTownStore(town.dbPath);
      const ctx = townContext(io, town, store, 'mayor');
      const provider = ctx.provider;
      const ids: string[] = [];
      try {
        for (let n = 1; n <= PARTS; n++) {
          const bead = await store.create(
            {
              title: `Make part ${n}`,
              // Part 6 waits for the go: the demo kills its agent in the middle of it first.
              description: [
                `Add parts/p${n}.txt and keep the tests green.`,
                '',
                '```sh',
                n === VICTIM ? VICTIM_WAIT : 'sleep 2',
                'mkdir -p parts',
                `printf 'part ${n}\\n' > parts/p${n}.txt`,
                'sh test.sh',
                '```',
                '',
              ].join('\n'),
              priority: 2,
              depends_on: n > PARTS - 3 ? [ids[n - PARTS + 2] ?? ''] : [],
            },
            'mayor',
          );
          ids.push(bead.id);
        }
        say(`✓ ${PARTS} beads filed (the last 3 wait for parts 1-3)`);
        say(`✓ daemon running (pid ${await startDaemonProcess(town, ctx.gtBin, io.env, ['--tick', '5'])})`);

        // 3. Dispatch ready work, land finished work, crash one agent once.
        const landing = join(root, 'landing');
        await cloneFull(remote, landing, root);
        let killed: string | null = null;
        let merged = 0;
        for (;;) {
          if (Date.now() - started > TIMEOUT_MS)
            throw new ValidationError('the demo did not finish in time', {
              hint: `look around: cd ${town.root} && gt status`,
            });
          const agents = await store.agents({ rig: 'widgets', role: 'polecat' });
          const busy = agents.filter((a) => a.hook_bead !== null).length;
          const ready = (await store.ready({ limit: 0 })).filter((b) => ids.includes(b.id));
          for (const bead of ready.slice(0, Math.max(0, POLECATS - busy))) {
            const [r] = await sling(ctx, [bead.id], 'widgets', {});
            if (r !== undefined)
              say(`→ ${bead.id} "${bead.title}" slung to ${r.agent}${r.created ? ' (new polecat)' : ''}`);
          }
          // The refinery's job, done here until the refinery exists: land each merge request on main.
          for (const mr of await store.list({ types: ['merge-request'], limit: 0 })) {
            const branch = typeof mr.metadata.branch === 'string' ? mr.metadata.branch : '';
            const source = typeof mr.metadata.source_bead === 'string' ? mr.metadata.source_bead : '';
            await mergeAndPush(landing, branch, 'main', `${mr.title}\n\nMerge request ${mr.id}, branch ${branch}.`, {
              name: 'refinery',
              email: 'demo@example.com',
            });
            await store.close([mr.id], { reason: 'merged' }, 'demo-refinery');
            await store.close([source], { reason: `merged as ${mr.id}` }, 'demo-refinery');
            // The witness's job: a polecat whose work is merged goes idle and its session ends (the sandbox
            // stays, and is reused for the next bead).
            const worker = typeof mr.metadata.worker === 'string' ? mr.metadata.worker : undefined;
            if (worker !== undefined) await stopAgentSession(ctx, worker, 'exited').catch(() => undefined);
            merged++;
            say(`✓ merged ${branch} (${source})`);
          }
          if (killed === null) {
            for (const a of agents.filter((x) => x.hook_bead === ids[VICTIM - 1])) {
              const trace = join(town.root, '.runtime', 'sim', `${a.session_name}.jsonl`);
              const lines = existsSync(trace) ? readFileSync(trace, 'utf8') : '';
              const runningAt = lines.lastIndexOf(`"step":"running","bead":"${a.hook_bead ?? ''}"`);
              if (runningAt < 0 || lines.indexOf('"step":"commit"', runningAt) >= 0) continue; // not in the middle of it
              const pid = await provider.programPid(a.session_name);
              if (pid === undefined) continue;
              process.kill(pid, 'SIGKILL');
              killed = a.address;
              writeFileSync(join(town.root, '.runtime', GO_FILE), '');
              say(
                `✗ killed ${a.address} (kill -9) in the middle of ${a.hook_bead ?? ''}: the daemon should bring it back`,
              );
              break;
            }
          }
          const closed = (await store.show(ids)).filter((b) => b.status === 'closed').length;
          if (!json)
            io.err(
              `  [${Math.round((Date.now() - started) / 1000)}s] done ${closed}/${PARTS} · working ${busy} · merged ${merged}\n`,
            );
          if (closed === PARTS) break;
          await sleep(500);
        }

        // 4. Summary, then nothing left running.
        const sessions = (
          await Promise.all(
            (await store.agents({ rig: 'widgets', role: 'polecat' })).map((a) => store.sessions(a.address)),
          )
        ).flat();
        const restarts = sessions.filter((x) => x.end_reason === 'crashed' || x.end_reason === 'lost').length;
        const testRun = await runGit(['log', '--oneline', 'main'], { cwd: landing });
        const summary = {
          town: town.root,
          beads_done: PARTS,
          merged,
          polecats: (await store.agents({ rig: 'widgets', role: 'polecat' })).length,
          sessions_started: sessions.length,
          restarts_after_a_crash: restarts,
          killed,
          seconds: Math.round((Date.now() - started) / 100) / 10,
          main_commits: testRun.ok ? testRun.stdout.trim().split('\n').length : null,
        };
        // Kept: the mayor (the agent a person talks to) gets a session to attach to; the daemon stays up.
        const mayor = keep ? (await startAgentSession(ctx, 'mayor', { topic: 'demo', sender: 'demo' })).session : null;
        if (json)
          printJson(io, { ...summary, kept: keep, ...(keep ? { sessions_running: await provider.list() } : {}) });
        else {
          say(
            `\nDone: ${PARTS}/${PARTS} beads merged by ${summary.polecats} polecats in ${summary.seconds} s; ` +
              `${summary.sessions_started} sessions, ${restarts} restart(s) after the crash of ${killed ?? 'nobody'}.`,
          );
          say(
            keep
              ? `The town is still running (--keep): the daemon and the mayor's session ${mayor ?? ''}.`
              : 'Everything has stopped ("gt up" starts the daemon again; "gt demo --keep" leaves the town running).',
          );
          say(lookAround(io, town.root, killed, keep).join('\n'));
        }
      } finally {
        if (!keep) {
          await stopDaemonProcess(town);
          await provider.killServer();
        }
        store.dispose();
      }
    });
}
