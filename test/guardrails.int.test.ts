import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gt, json, type RunResult } from './helpers/bd.js';
import { fileMergeRequest } from './helpers/merge-requests.js';
import { useSessionTowns } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';

/**
 * The guardrails of patrol agents, through the built gt, in a session that is the rig's witness (GT_ROLE, as gt
 * launches it): it cannot remove sandboxes, merge or discard requests; nobody releases another agent's unsaved
 * work without --force, and the witness never forces; it cannot stop a person's sandbox; and its shell tool's
 * hook blocks git push.
 */

const fixture = useSessionTowns();
const WITNESS = 'gastown/witness';
const TOAST = 'gastown/polecats/toast';

type Town = Awaited<ReturnType<typeof fixture>>;

function as(f: Town, who: string, ...args: string[]): RunResult {
  return gt(args, { cwd: f.town.root, env: { ...f.env, GT_ROLE: who } });
}

describe('what a patrol agent may never run', () => {
  it('refuses the witness polecat remove, rig remove, refinery run, mq reject and done, and changes nothing', async () => {
    const f = await fixture('guard-ops');
    const sandbox = (await f.store().agent(TOAST)).sandbox_path;

    const remove = as(f, WITNESS, 'polecat', 'remove', TOAST);
    expect(remove.status).toBe(2);
    expect(remove.stderr).toBe(
      'Error: patrol agents cannot remove sandboxes (gt polecat remove, asked by gastown/witness) — escalate it to a person with gt escalate "<what and why>"\n',
    );
    // Naming another actor does not make the witness someone else.
    const disguised = gt(['polecat', 'remove', TOAST], {
      cwd: f.town.root,
      env: { ...f.env, GT_ROLE: WITNESS, BD_ACTOR: 'tester' },
    });
    expect(disguised.stderr).toMatch(/patrol agents cannot remove sandboxes/);
    expect(existsSync(sandbox)).toBe(true);
    expect((await f.store().agent(TOAST)).address).toBe(TOAST);

    const rig = as(f, WITNESS, 'rig', 'remove', 'gastown');
    expect(rig.status).toBe(2);
    expect(rig.stderr).toMatch(/patrol agents cannot remove rigs or their sandboxes/);
    expect(existsSync(join(f.town.root, 'gastown'))).toBe(true);

    const run = as(f, WITNESS, 'refinery', 'run', 'gastown');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/patrol agents cannot merge \(gt refinery run.*gt session restart <rig>\/refinery/);

    const done = as(f, WITNESS, 'done');
    expect(done.status).toBe(2);
    expect(done.stderr).toMatch(/patrol agents cannot hand in, push or merge work/);

    // A merge request, filed as gt done files one: the witness cannot reject it; a person can.
    const work = join(f.base, 'work-clone');
    git(f.base, 'clone', '--quiet', join(f.base, 'remote.git'), work);
    const filed = await fileMergeRequest(f.store(), {
      work,
      remote: join(f.base, 'remote.git'),
      name: 'toast',
      branch: 'polecat/toast/x@1',
      worker: 'toast',
      change: (dir) => writeFileSync(join(dir, 'app.txt'), 'v2\n'),
    });
    const reject = as(f, WITNESS, 'mq', 'reject', filed.mr, '-r', 'looks wrong');
    expect(reject.status).toBe(2);
    expect(reject.stderr).toMatch(/patrol agents cannot discard merge requests \(gt mq reject/);
    expect((await f.store().show([filed.mr]))[0]?.status).toBe('open');
    const byPerson = f.run('mq', 'reject', filed.mr, '-r', 'looks wrong');
    expect(byPerson.status, byPerson.stderr).toBe(0);
  });

  it('lets the witness run gt doctor --fix, but it removes no sandbox for it', async () => {
    const f = await fixture('guard-doctor');
    // A polecat whose making was cut short: a person's doctor --fix removes it (nobody has worked in it).
    const halfway = join(f.town.root, 'gastown', 'polecats', 'halfway');
    await f.store().registerAgent(
      {
        identity: { role: 'polecat', rig: 'gastown', name: 'halfway' },
        session_name: 'ga-halfway',
        sandbox_path: halfway,
        branch: 'polecat/halfway@x',
        agent_state: 'spawning',
      },
      'tester',
    );
    mkdirSync(halfway, { recursive: true });
    type Report = { checks: { check: string; status: string; detail: string; fixed?: string[] }[] };
    const unfinished = (r: RunResult) => json<Report>(r).checks.find((c) => c.check === 'unfinished polecats');
    const byWitness = unfinished(as(f, WITNESS, 'doctor', '--fix', '--json'));
    expect(byWitness?.status).toBe('warn');
    expect(byWitness?.detail).toMatch(
      /gastown\/polecats\/halfway was not removed: patrol agents cannot remove sandboxes \(gt doctor --fix, asked by gastown\/witness\)/,
    );
    expect(existsSync(halfway)).toBe(true);
    expect(unfinished(f.run('doctor', '--fix', '--json'))?.fixed).toEqual([
      'removed gastown/polecats/halfway, whose making was cut short before it had any work',
    ]);
    expect(existsSync(halfway)).toBe(false);
  });
});

describe("releasing and stopping another agent's work", () => {
  it('refuses to release a polecat with an unpushed commit; a person may force it, the witness never', async () => {
    const f = await fixture('guard-unsling');
    const bead = await f.store().create({ title: 'a job' }, 'mayor');
    expect(f.run('hook', bead.id, TOAST).status).toBe(0);
    const sandbox = (await f.store().agent(TOAST)).sandbox_path;
    writeFileSync(join(sandbox, 'work.txt'), 'done half\n');
    git(sandbox, 'add', 'work.txt');
    git(sandbox, 'commit', '--quiet', '-m', 'half of it');

    const witness = as(f, WITNESS, 'unsling', TOAST);
    expect(witness.status).toBe(4);
    expect(witness.stderr).toMatch(
      new RegExp(`not releasing ${bead.id} from ${TOAST}: its sandbox has 1 unpushed commit\\(s\\)`),
    );
    expect(witness.stderr).not.toMatch(/--force/);
    const forced = as(f, WITNESS, 'unsling', TOAST, '--force');
    expect(forced.status).toBe(2);
    expect(forced.stderr).toMatch(/patrol agents cannot force work off another agent/);
    expect((await f.store().agent(TOAST)).hook_bead).toBe(bead.id);

    const person = f.run('unsling', TOAST);
    expect(person.status).toBe(4);
    expect(person.stderr).toMatch(/or --force releases it anyway/);
    const released = f.run('unsling', TOAST, '--force', '--json');
    expect(released.status, released.stderr).toBe(0);
    expect(json<{ agent: string; unhooked: string }>(released)).toEqual({ agent: TOAST, unhooked: bead.id });
    expect((await f.store().show([bead.id]))[0]).toMatchObject({ status: 'open', assignee: null });
    // Released, not discarded: the commit is still in the sandbox.
    expect(git(sandbox, 'log', '--format=%s', '-1').trim()).toBe('half of it');
  });

  it("refuses the witness a stop of a person's sandbox, and of a polecat with uncommitted files", async () => {
    const f = await fixture('guard-stop');
    expect(f.run('crew', 'add', 'gastown/crew/ana').status).toBe(0);
    const crew = as(f, WITNESS, 'session', 'stop', 'gastown/crew/ana');
    expect(crew.status).toBe(2);
    expect(crew.stderr).toMatch(
      /patrol agents cannot stop a person's sandbox \(gastown\/crew\/ana, asked by gastown\/witness\)/,
    );
    expect(as(f, WITNESS, 'session', 'restart', 'gastown/crew/ana').stderr).toMatch(
      /patrol agents cannot restart a person's sandbox/,
    );

    writeFileSync(join((await f.store().agent(TOAST)).sandbox_path, 'notes.txt'), 'unsaved\n');
    const dirty = as(f, WITNESS, 'session', 'stop', TOAST);
    expect(dirty.status).toBe(4);
    expect(dirty.stderr).toMatch(
      /not stopping gastown\/polecats\/toast: its sandbox has 1 uncommitted file\(s\) — restart it in the same sandbox instead/,
    );
    // A person may; so may the witness of itself.
    expect(f.run('session', 'stop', TOAST).status).toBe(0);
    expect(as(f, WITNESS, 'session', 'stop', WITNESS).status).toBe(0);
  });
});

describe('gt agent hook guard', () => {
  it("blocks git push in a witness's shell tool and lets git status through; the Mayor may not commit; a polecat's is not held", async () => {
    const f = await fixture('guard-hook');
    const hook = (who: string, input: string): RunResult =>
      gt(['agent', 'hook', 'guard'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: who }, input });
    const bash = (command: string): string =>
      JSON.stringify({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command } });

    const push = hook(WITNESS, bash('git status && git push origin main'));
    expect(push.status).toBe(2);
    expect(push.stderr).toMatch(/^Error: patrol agents cannot push: blocked "git push origin main" — /);
    const status = hook(WITNESS, bash('git status'));
    expect(status).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(hook('deacon', bash('rm -rf gastown')).status).toBe(2);
    // Fails closed: input it cannot read is not let through.
    expect(hook(WITNESS, 'not json').status).toBe(2);
    expect(hook(TOAST, bash('git push origin HEAD')).status).toBe(0);
    // The Mayor plans: it may not commit or push by hand; filing and slinging go through.
    const commit = hook('mayor', bash('cd gastown/refinery/rig && git commit -am "health"'));
    expect(commit.status).toBe(2);
    expect(commit.stderr).toMatch(/^Error: the Mayor cannot commit: blocked "git commit -am health" — .*gt sling/);
    expect(hook('mayor', bash('bd create "Add a health endpoint" --prefix ga && gt sling ga-1 gastown')).status).toBe(
      0,
    );
  });
});
