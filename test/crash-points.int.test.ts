import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GT_BIN, gtAsync, json } from './helpers/bd.js';
import { useSessionTowns } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';

/**
 * kill -9 at every step of making a polecat and of a fetch: a `gt` that makes a polecat (a sling to the rig, a
 * `gt polecat add`, a sling that reuses an idle polecat) is killed after a delay swept across its whole run —
 * with its git children (the process group) or alone (its git carries on as an orphan). After each kill the
 * rig must take the next sling, the shared clone must fetch, and every half-made polecat must come good when
 * its work starts.
 */
const sessionTown = useSessionTowns();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

type Victim = { pid: number; done: Promise<number | null> };

/** Starts gt in a process group of its own, so that the group (gt and its git) can be killed at once. */
function startGt(args: readonly string[], cwd: string, env: Record<string, string>): Victim {
  const child = spawn(process.execPath, [GT_BIN, ...args], { cwd, env, detached: true, stdio: 'ignore' });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  if (child.pid === undefined) throw new Error('gt did not start');
  return { pid: child.pid, done };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether any process of the group still runs (an orphaned git of the killed gt). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killAfter(v: Victim, delayMs: number, whole: boolean): Promise<void> {
  await sleep(delayMs);
  try {
    if (whole) process.kill(-v.pid, 'SIGKILL');
    else process.kill(v.pid, 'SIGKILL');
  } catch {
    // it had finished already
  }
  await v.done;
}

describe('kill -9 while a polecat is being made or a fetch runs', () => {
  it('leaves the rig usable for the next sling, and every half-made polecat works when started', async () => {
    const t = await sessionTown('crash-points');
    const { env } = t;
    const cwd = t.town.root;
    const repo = join(t.town.root, 'gastown', '.repo.git');
    const work = join(t.base, 'work');
    const remote = join(t.base, 'remote.git');
    const orphans: number[] = [];
    cleanups.push(() => {
      for (const pgid of orphans)
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          // gone
        }
    });
    const store = t.store();
    const newBead = async (title: string): Promise<string> => (await store.create({ title }, 'mayor')).id;
    let upstream = 1;
    const pushUpstream = (): void => {
      // New commits upstream, so that each fetch has objects to bring (a fetch with nothing to do is not a fetch).
      writeFileSync(join(work, 'app.txt'), `v${++upstream}\n`);
      git(work, 'commit', '--quiet', '-am', `change ${upstream}`);
      git(work, 'push', '--quiet', remote, 'main');
    };
    {
      // How long each kind of run takes when nothing kills it: the sweep covers that span.
      const timed = async (args: string[]): Promise<number> => {
        const start = Date.now();
        const r = await gtAsync(args, { cwd, env });
        expect(r.status, r.stderr).toBe(0);
        return Date.now() - start;
      };
      pushUpstream();
      const slingMs = await timed(['hook', await newBead('timing sling'), 'gastown']);
      const addMs = await timed(['polecat', 'add', 'gastown']);
      const killed: string[] = [];
      const steps = 10;
      for (const whole of [true, false]) {
        for (let k = 0; k < steps; k++) {
          // 1. A sling that makes a new polecat (no idle one is left: the last check took it).
          pushUpstream();
          const a = await newBead(`killed sling ${String(whole)} ${k}`);
          killed.push(a);
          let v = startGt(['hook', a, 'gastown'], cwd, env);
          await killAfter(v, (slingMs * k) / steps, whole);
          if (groupAlive(v.pid)) orphans.push(v.pid);
          // 2. gt polecat add.
          pushUpstream();
          v = startGt(['polecat', 'add', 'gastown'], cwd, env);
          await killAfter(v, (addMs * k) / steps, whole);
          if (groupAlive(v.pid)) orphans.push(v.pid);
          // 3. A sling that reuses an idle polecat (the one just added, if it came good): fetch and new branch.
          pushUpstream();
          const c = await newBead(`killed reuse ${String(whole)} ${k}`);
          killed.push(c);
          v = startGt(['hook', c, 'gastown'], cwd, env);
          await killAfter(v, (slingMs * k) / steps, whole);
          if (groupAlive(v.pid)) orphans.push(v.pid);

          // The rig takes the next sling, and its shared clone fetches.
          pushUpstream();
          const next = await gtAsync(['hook', await newBead(`after ${String(whole)} ${k}`), 'gastown', '--json'], {
            cwd,
            env,
          });
          expect(next.status, `after a kill at ${k}/${steps} (whole group: ${String(whole)}): ${next.stderr}`).toBe(0);
          git(repo, 'fetch', '--quiet', 'origin');
        }
      }
      expect(git(repo, 'fsck', '--connectivity-only', '--no-dangling')).toBe('');

      // The sweep hit the making of polecats (else it tested nothing): some were left unfinished.
      const unfinished = (await store.agents({ role: 'polecat' })).filter((a) => a.agent_state === 'spawning');
      expect(unfinished.length).toBeGreaterThan(0);

      // Every killed sling's bead is either back to ready or on a polecat whose session starts and works there.
      for (const id of killed) {
        const [bead] = await store.show([id]);
        if (bead === undefined) throw new Error(`no bead ${id}`);
        if (bead.status === 'open') continue;
        expect(bead.status).toBe('hooked');
        const holder = await store.agent(bead.assignee ?? '');
        const started = await gtAsync(['session', 'start', holder.address, '--json'], { cwd, env });
        expect(started.status, `${holder.address}: ${started.stderr}`).toBe(0);
        expect(json<{ ready: { ready: boolean } }>(started)).toMatchObject({ ready: { ready: true } });
        expect(git(holder.sandbox_path, 'status', '--porcelain')).toBe('');
        expect(existsSync(join(holder.sandbox_path, '.beads', 'redirect'))).toBe(true);
        expect((await store.agent(holder.address)).agent_state).not.toBe('spawning');
        const stopped = await gtAsync(['session', 'stop', holder.address], { cwd, env });
        expect(stopped.status, stopped.stderr).toBe(0);
      }
      // What is left of killed `polecat add`s, gt doctor --fix clears, and then finds nothing wrong.
      const fixed = await gtAsync(['doctor', '--fix', '--json'], { cwd, env });
      const doctor = await gtAsync(['doctor', '--json'], { cwd, env });
      const failing = json<{ checks: { check: string; status: string; detail: string }[] }>(doctor).checks.filter(
        (c) => c.status === 'fail' && c.check !== 'agent CLIs',
      );
      expect(failing, fixed.stdout).toEqual([]);
    }
  }, 600_000);
});
