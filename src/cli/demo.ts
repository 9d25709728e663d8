import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { workTitle } from '../core/merge-request.js';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { STATUSES } from '../core/bead.js';
import type { MergeRequest } from '../core/merge-request.js';
import type { TownStore } from '../core/town-store.js';
import { onPath } from '../exec/path.js';
import { startDaemonProcess, stopDaemonProcess } from '../daemon/daemon.js';
import { cloneBare, commitAll, gitConfig, gitInit, runGit } from '../git/git.js';
import { mergeRequests } from '../refinery/refinery.js';
import { readQueueStats } from '../refinery/stats.js';
import { openTownStore } from '../store/open.js';
import { addRig, loadRigSettings, rigPaths, saveRigSettings } from '../town/rig.js';
import { installTown, loadSettings, saveSettings } from '../town/town.js';
import { startAgentSession, stopAgentSession, type TownContext } from '../work/sessions.js';
import { sling } from '../work/sling.js';
import { listConvoys } from '../work/convoy.js';
import { inbox, sendMail } from '../work/mail.js';
import { announceMail } from '../work/mail-notify.js';
import type { ConvoyView } from '../core/convoy.js';
import { globals } from './bd/context.js';
import { DEMO_GATES, demoBeads, demoRequest, writeDemoProject } from './demo-project.js';
import { gtBinPath, townContext } from './gt-agents.js';
import { renderQueueStats } from './gt-mq.js';
import { printJson, type Io } from './io.js';

/**
 * `gt demo`: the whole system on a throw-away town — a generated project with a real test suite, a dozen beads
 * of real work (some depending on others), the daemon, several polecats running the scripted agent (not AI),
 * one of them killed mid-work to show recovery, and the rig's refinery landing the work on main through the
 * project's tests: a change that breaks a test and one that conflicts go back to their polecats, are fixed
 * and land — until every bead is done and on main.
 */

const RIG = 'widgets';
const POLECATS = 4;
/**
 * The victim's work waits until the demo has killed its first agent and says go (a file in the town's
 * runtime directory), so the kill always lands mid-work however slow the machine; the successor finds the file.
 */
const GO_FILE = 'demo-go';
const VICTIM_WAIT = `while [ ! -e "$GT_TOWN_ROOT/.runtime/${GO_FILE}" ]; do sleep 0.2; done`;
/** The hung part: its first try sleeps (a frozen screen) until the witness restarts its agent; the next goes on. */
const HUNG_FILE = 'demo-hung-once';
const HANG_ONCE = `if [ ! -e "$GT_TOWN_ROOT/.runtime/${HUNG_FILE}" ]; then touch "$GT_TOWN_ROOT/.runtime/${HUNG_FILE}"; sleep 600; fi`;
const TIMEOUT_MS = 120_000;
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
    ['gt mail inbox', "your inbox: the Mayor's reply and the landing notice"],
    ['gt convoy list --all', 'the convoy that answered your request'],
    [`gt mq list ${RIG} --all`, 'the merge requests: landed, and the two that went back first'],
    [`gt mq status ${RIG}`, "the merge queue's numbers"],
    ['gt feed', 'the town in one screen: what needs you, the agents, the queue, the events (q quits)'],
    ['gt costs --since today', "each agent's tokens (the sim records its turns as Claude Code does)"],
    ['gt dashboard --open', 'the same as a web page (Ctrl-C stops it)'],
    ...(keep
      ? ([
          ['gt mayor attach', 'talk to the Mayor; detach with Ctrl-b d'],
          ['gt down', 'stop the daemon and every session (the files stay)'],
        ] as [string, string][])
      : []),
  ];
  return [...lines, ...commands.map(([command, what]) => `  ${command.padEnd(33)} # ${what}`)];
}

/** A returned request as the demo tells it: what went back, why, to whom, and how it ended. */
type ReturnStory = {
  request: string;
  source: string;
  title: string;
  cause: string;
  task: string;
  sent_to: string | null;
  landed: boolean;
};

const titleOf = (mr: MergeRequest): string => workTitle(mr.title);

/** Every return of the rig's requests, from the store: the refinery's tasks (`mq_fix_for`) and their requests. */
async function returnStories(store: TownStore, requests: readonly MergeRequest[]): Promise<ReturnStory[]> {
  const tasks = await store.list({ types: ['task'], statuses: STATUSES, limit: 0 });
  return tasks.flatMap((t) => {
    const mr = requests.find((m) => m.id === t.metadata.mq_fix_for);
    if (mr === undefined) return [];
    const cause = typeof t.metadata.cause === 'string' ? t.metadata.cause : (mr.cause ?? '');
    return [
      {
        request: mr.id,
        source: mr.source,
        title: titleOf(mr),
        cause,
        task: t.id,
        sent_to: t.assignee,
        landed: mr.state === 'landed',
      },
    ];
  });
}

/** Follows the rig's merge queue between two looks: says what went back, where its task went, what landed. */
function queueWatcher(store: TownStore, say: (line: string) => void) {
  const landed = new Set<string>();
  const told = new Map<string, string | null>();
  return async (): Promise<MergeRequest[]> => {
    const all = await mergeRequests(store, RIG, true);
    const stories = await returnStories(store, all);
    for (const r of stories) {
      if (!told.has(r.task)) say(`↩ ${r.request} "${r.title}" went back (${r.cause}): ${r.task} says what to fix`);
      if ((told.get(r.task) ?? null) === null && r.sent_to !== null)
        say(`→ ${r.task} slung back to ${r.sent_to}, who wrote the branch`);
      told.set(r.task, r.sent_to);
    }
    // A fix before the request it fixed (which lands with it): in the order they landed.
    const fixes = new Set(stories.map((r) => r.task));
    const fixed = new Set(stories.map((r) => r.request));
    for (const mr of [...all.filter((m) => fixes.has(m.source)), ...all.filter((m) => !fixes.has(m.source))]) {
      if (mr.state !== 'landed' || landed.has(mr.id)) continue;
      landed.add(mr.id);
      say(`✓ landed ${mr.source} "${titleOf(mr)}" (${mr.id}${fixed.has(mr.id) ? ', with its fix' : ''})`);
    }
    return all;
  };
}

/** Says each patrol decision as it is recorded: who judged what, and what it did. */
function patrolWatcher(store: TownStore, say: (line: string) => void) {
  const told = new Set<number>();
  return async (): Promise<void> => {
    for (const d of (await store.decisions({ limit: 0 })).reverse()) {
      if (told.has(d.id)) continue;
      told.add(d.id);
      say(`⚑ ${d.actor}: ${d.kind} ${d.subject} → ${d.action} (${d.reason})`);
    }
  };
}

/** What the patrol did, for the summary: each problem its witness decided on, with the decisions in order. */
async function patrolStories(store: TownStore): Promise<PatrolStory[]> {
  const decisions = (await store.decisions({ limit: 0 })).reverse();
  const ids = [...new Set(decisions.map((d) => d.problem_id))];
  const problems = ids.length === 0 ? [] : await store.problems({ ids });
  return problems.map((p) => ({
    problem: p.id,
    kind: p.kind,
    subject: p.subject,
    hook: typeof p.evidence.hook === 'string' ? p.evidence.hook : null,
    actions: decisions.filter((d) => d.problem_id === p.id).map((d) => d.action),
    by: decisions.find((d) => d.problem_id === p.id)?.actor ?? '',
    resolved: p.state === 'resolved',
    resolution: p.resolution,
  }));
}

/** A patrol decision as the summary tells it. */
const DONE: Readonly<Record<string, string>> = {
  nudge: 'nudged it',
  wait: 'waited',
  restart: 'restarted it in its sandbox (hook kept)',
  start: 'started it',
  escalate: 'escalated it',
  resume: 'lifted the pause',
  dismiss: 'found nothing wrong',
};

type PatrolStory = {
  problem: number;
  kind: string;
  subject: string;
  hook: string | null;
  actions: string[];
  by: string;
  resolved: boolean;
  resolution: string | null;
};

/**
 * At the end, the witness's job: polecats whose work is all handed in go idle, and their sessions end (the
 * sandboxes stay). While the demo runs they stay up: the next bead slung to the rig, or work the refinery sends
 * back, goes to an idle polecat's running session.
 */
/** The overseer's request as the demo tells it: the convoy that answers it and the notice of its landing. */
type RequestStory = {
  mail: string;
  subject: string;
  convoy: string | null;
  beads: string[];
  landed: boolean;
  notice: string | null;
};

async function requestStory(
  ctx: TownContext & { store: TownStore },
  mail: string,
  subject: string,
): Promise<RequestStory> {
  const convoy: ConvoyView | undefined = (await listConvoys(ctx, { all: true })).find((c) => c.request === mail);
  const notice =
    convoy === undefined
      ? undefined
      : (await inbox(ctx.store, 'overseer')).find(
          (m) => m.subject.startsWith('Convoy landed') && m.subject.includes(convoy.id),
        );
  return {
    mail,
    subject,
    convoy: convoy?.id ?? null,
    beads: convoy?.beads.map((b) => b.id) ?? [],
    landed: convoy?.status === 'landed',
    notice: notice?.subject ?? null,
  };
}

async function endIdlePolecats(ctx: TownContext & { store: TownStore }): Promise<void> {
  for (const a of await ctx.store.agents({ rig: RIG, role: 'polecat' })) {
    if (a.hook_bead !== null || (await ctx.store.openSession(a.address)) === null) continue;
    await stopAgentSession(ctx, a.address, 'exited').catch(() => undefined);
  }
}

export function registerDemoCommand(program: Command, io: Io): void {
  program
    .command('demo')
    .description(
      'watch a town work: a project with tests, 12 beads, polecats running the scripted agent, the daemon, a crash and its recovery, the refinery landing it all (a broken test and a conflict sent back and fixed)',
    )
    .option('--dir <dir>', 'where to build the demo town (default: a new temporary directory)')
    .option(
      '--keep',
      'leave the town running afterwards (the daemon and the standing agents: the mayor, the deacon, the witness and the refinery) to look around and attach; "gt down" stops it',
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
      // 1. A small project with a real test suite.
      const project = join(root, 'project');
      mkdirSync(project);
      await gitInit(project);
      writeDemoProject(project);
      await commitAll(project, 'widgets: the project and its tests', { name: 'demo', email: 'demo@example.com' });
      const remote = join(root, 'widgets.git');
      await cloneBare(project, remote, root);

      // 2. The town, the rig (its refinery gated on the project's tests), the beads.
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
        daemon: {
          ...s0.daemon,
          heartbeat_seconds: 5,
          idle_polecat_seconds: 0,
          start_grace_seconds: 5,
          // A screen frozen this long is stalled; the witness looks again this soon after a decision.
          stalled_after_seconds: 6,
        },
        patrol: { ...s0.patrol, recheck_seconds: 3 },
      });
      await addRig(town, RIG, remote, { actor: 'mayor' });
      const r0 = loadRigSettings(town.root, RIG);
      saveRigSettings(town.root, RIG, { ...r0, refinery: { ...r0.refinery, gates: DEMO_GATES } });
      say(
        `✓ town, rig "${RIG}" (from ${remote}); its refinery's gate: sh test.sh (${rigPaths(town.root, RIG).settings})`,
      );
      const store = openTownStore(town.dbPath);
      const ctx = townContext(io, town, store, 'mayor');
      const provider = ctx.provider;
      const specs = demoBeads(VICTIM_WAIT, HANG_ONCE);
      const ids: string[] = [];
      try {
        for (const spec of specs) {
          const bead = await store.create(
            {
              title: spec.title,
              description: spec.description,
              priority: spec.priority,
              depends_on: spec.after.map((i) => ids[i] ?? ''),
            },
            'mayor',
          );
          ids.push(bead.id);
        }
        const victim = ids[specs.findIndex((b) => b.victim)] ?? '';
        say(
          `✓ ${ids.length} beads filed: two paint the same line, one part breaks a test, the last 3 parts wait for parts 1-3`,
        );
        say(
          `✓ daemon running (pid ${await startDaemonProcess(town, ctx.gtBin, io.env, ['--tick', '5'])}); it starts the refinery`,
        );

        // The person at the keyboard (the overseer) asks the Mayor for more, in words, by mail.
        const ask = demoRequest(RIG);
        const person = await gitConfig(root, 'user.name').catch(() => undefined);
        const request = await sendMail(store, {
          from: 'overseer',
          ...(person !== undefined && person.trim() !== '' ? { fromName: person.trim() } : {}),
          to: 'mayor',
          subject: ask.subject,
          body: ask.body,
        });
        await announceMail(ctx, request).catch(() => 'next-turn');
        say(`✉ you (the overseer) → the Mayor: "${ask.subject}" (${request.id}); the Mayor is the sim here`);
        let story = await requestStory(ctx, request.id, ask.subject);
        let toldFiled = false;

        // 3. Dispatch ready work, let the refinery land it, crash one agent once.
        const lookAtQueue = queueWatcher(store, say);
        const lookAtPatrol = patrolWatcher(store, say);
        let killed: string | null = null;
        for (;;) {
          if (Date.now() - started > TIMEOUT_MS)
            throw new ValidationError('the demo did not finish in time', {
              hint: `look around: cd ${town.root} && gt status && gt mq list ${RIG}`,
            });
          const agents = await store.agents({ rig: RIG, role: 'polecat' });
          const busy = agents.filter((a) => a.hook_bead !== null).length;
          const ready = (await store.ready({ limit: 0 })).filter((b) => ids.includes(b.id));
          for (const bead of ready.slice(0, Math.max(0, POLECATS - busy))) {
            const [r] = await sling(ctx, [bead.id], RIG, {});
            if (r !== undefined)
              say(`→ ${bead.id} "${bead.title}" slung to ${r.agent}${r.created ? ' (new polecat)' : ''}`);
          }
          const requests = await lookAtQueue();
          await lookAtPatrol();
          if (killed === null) {
            for (const a of agents.filter((x) => x.hook_bead === victim)) {
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
          story = await requestStory(ctx, request.id, ask.subject);
          if (!toldFiled && story.convoy !== null) {
            toldFiled = true;
            say(
              `→ the Mayor filed ${story.beads.join(', ')} (the second after the first) as convoy ${story.convoy} and slung them`,
            );
          }
          const closed = (await store.show(ids)).filter((b) => b.status === 'closed').length;
          const open = requests.filter((m) => m.status !== 'closed');
          const landed = requests.filter((m) => m.state === 'landed').length;
          if (!json)
            io.err(
              `  [${Math.round((Date.now() - started) / 1000)}s] done ${closed}/${ids.length} · working ${busy} · ` +
                `queued ${open.filter((m) => m.state === 'queued' || m.state === 'testing').length} · ` +
                `landed ${landed} · returned ${open.filter((m) => m.state === 'returned').length} · ` +
                `your request ${story.notice !== null ? 'landed' : story.convoy !== null ? 'filed' : 'sent'}\n`,
            );
          if (closed === ids.length && open.length === 0 && story.notice !== null) break;
          await sleep(500);
        }
        await endIdlePolecats(ctx);

        // 4. Summary, then nothing left running.
        const polecats = await store.agents({ rig: RIG, role: 'polecat' });
        const sessions = (await Promise.all(polecats.map((a) => store.sessions(a.address)))).flat();
        const restarts = sessions.filter((x) => x.end_reason === 'crashed' || x.end_reason === 'lost').length;
        const log = await runGit(['log', '--oneline', 'main'], { cwd: remote });
        const seconds = Math.round((Date.now() - started) / 100) / 10;
        // The numbers gt mq status shows, over the demo's own run.
        const stats = await readQueueStats(store, RIG, { nowMs: Date.now(), windowMs: Date.now() - started });
        const returned = await returnStories(store, await mergeRequests(store, RIG, true));
        const patrol = await patrolStories(store);
        const summary = {
          town: town.root,
          beads_done: ids.length,
          merged: stats.landed,
          polecats: polecats.length,
          sessions_started: sessions.length,
          restarts_after_a_crash: restarts,
          killed,
          seconds,
          main_commits: log.ok ? log.stdout.trim().split('\n').length : null,
          returned,
          patrol,
          request: story,
          merge_queue: { rig: RIG, ...stats },
        };
        // Kept: the mayor (the agent a person talks to) gets a session to attach to; the daemon stays up, and
        // keeps the refinery running.
        // (a standing agent: the daemon started it, unless settings say otherwise)
        const mayorAgent = await store.agent('mayor');
        const mayor = !keep
          ? null
          : (await provider.isAlive(mayorAgent.session_name))
            ? mayorAgent.session_name
            : (await startAgentSession(ctx, 'mayor', { topic: 'demo', sender: 'demo' })).session;
        if (json)
          printJson(io, {
            ...summary,
            kept: keep,
            ...(keep ? { sessions_running: (await provider.list()).sort() } : {}),
          });
        else {
          say(
            `\nDone: ${ids.length}/${ids.length} beads on main in ${seconds} s: ${stats.landed} merge requests landed ` +
              `by the refinery in ${stats.batches} batch(es), through the project's tests; ${summary.polecats} polecats, ` +
              `${summary.sessions_started} sessions, ${restarts} restart(s) after the crash of ${killed ?? 'nobody'}.`,
          );
          for (const r of returned)
            say(
              `  ↩ "${r.title}" went back (${r.cause}, ${r.task}) to ${r.sent_to ?? 'nobody yet'}, who ` +
                `${r.cause === 'conflict' ? 'merged main, resolved it' : 'fixed it'} and handed it in: ${r.landed ? 'landed' : 'not landed'}`,
            );
          for (const p of patrol)
            say(
              `  ⚑ ${p.by} noticed ${p.subject} ${p.kind === 'stalled' ? `frozen on ${p.hook ?? 'its work'}` : `(${p.kind})`}: ` +
                `${p.actions.map((a) => DONE[a] ?? a).join(', then ')}${p.resolved ? `; ${p.resolution ?? 'resolved'}` : ' (still open)'}`,
            );
          say(
            `  ✉ you asked the Mayor "${story.subject}": it filed ${story.beads.join(' then ')} as convoy ${story.convoy ?? '-'}, ` +
              `which landed; your inbox (gt mail inbox): "${story.notice ?? ''}"`,
          );
          say(`\nThe merge queue (gt mq status ${RIG}):`);
          say(renderQueueStats(RIG, stats, Date.now()).trimEnd());
          say(
            keep
              ? `\nThe town is still running (--keep): the daemon and the standing agents (the mayor in ${mayor ?? ''}, the deacon, the rig's witness and refinery).`
              : '\nEverything has stopped ("gt up" starts the daemon and the standing agents again; "gt demo --keep" leaves the town running).',
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
