import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { json } from './helpers/bd.js';
import { useSessionTowns } from './helpers/session-town.js';

/**
 * Commands behave as a user expects, through the built `gt`: bad targets are refused as bad targets, every
 * command takes the addresses the others print, usage errors point at the right help, and a start says
 * "started" only when the agent is up.
 */

const fixture = useSessionTowns();
const TOAST = 'gastown/polecats/toast';
const CEDAR = 'gastown/polecats/cedar';

describe('gt sling and gt hook targets', () => {
  it('refuses a polecat name that does not exist, listing the polecats; --create makes it; nothing is half made', async () => {
    const f = await fixture('cmd-target');
    const bead = await f.store().create({ title: 'a job' }, 'mayor');
    const refused = f.run('sling', bead.id, CEDAR);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/gastown has no polecat cedar — its polecats: toast; .*--create/);
    expect((await f.store().show([bead.id]))[0]).toMatchObject({ status: 'open', assignee: null });
    expect(existsSync(`${f.town.root}/gastown/polecats/cedar`)).toBe(false);
    expect(await f.provider.list()).toEqual([]);

    // A bad rig is a bad target, even for a bead that is already on someone's hook.
    expect(f.run('hook', bead.id, TOAST).status).toBe(0);
    const badRig = f.run('sling', bead.id, 'nowhere', '--json');
    expect(badRig.status).toBe(3);
    expect(JSON.parse(badRig.stderr)).toMatchObject({ code: 'not_found', error: 'no rig nowhere' });
    expect(f.run('unsling', TOAST).status).toBe(0);

    // gt hook with --create: the polecat is made and hooked, and nothing is started.
    const hooked = f.run('hook', bead.id, CEDAR, '--create');
    expect(hooked.status, hooked.stderr).toBe(0);
    expect(hooked.stdout).toMatch(/is on the hook of gastown\/polecats\/cedar \(new polecat\)/);
    expect(hooked.stdout).toMatch(/not started: "gt session start gastown\/polecats\/cedar" starts it now/);
    expect((await f.store().agent(CEDAR)).hook_bead).toBe(bead.id);
    expect(await f.provider.list()).toEqual([]);

    // gt polecat remove takes the address that gt polecat list prints (and the short rig/name form).
    expect(f.run('unsling', CEDAR).status).toBe(0);
    const listed = json<{ address: string }[]>(f.run('polecat', 'list', '--json')).map((p) => p.address);
    expect(listed).toContain(CEDAR);
    const removed = f.run('polecat', 'remove', CEDAR, '--json');
    expect(removed.status, removed.stderr).toBe(0);
    expect(json<{ removed: string }>(removed).removed).toBe(CEDAR);
    expect(f.run('polecat', 'remove', 'gastown/witness').stderr).toMatch(/gastown\/witness is not a polecat/);
    const short = f.run('polecat', 'remove', 'gastown/toast');
    expect(short.status, short.stderr).toBe(0);
    expect(short.stdout).toContain(`Removed polecat ${TOAST}`);
  });

  it("points a usage error at the subcommand's own help", async () => {
    const f = await fixture('cmd-usage');
    const missing = f.run('polecat', 'remove');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument.* — see gt polecat remove --help/);
    const unknown = f.run('session', 'start', TOAST, '--bogus');
    expect(unknown.stderr).toMatch(/unknown option '--bogus' — see gt session start --help/);
    expect(f.run('--json', 'mail', 'send').stderr).toContain('"hint":"see gt mail send --help"');
  });
});

describe('gt session start and restart', () => {
  it('says "started" only when the agent is ready; one that never gets ready fails the command', async () => {
    const f = await fixture('cmd-notready');
    f.simAgent('slow', '--slow-start', '60000');
    const r = f.run('session', 'start', TOAST, '--agent', 'slow', '--timeout', '1');
    expect(r.status).toBe(9);
    expect(r.stdout).not.toMatch(/Started|✓/);
    expect(r.stdout).toMatch(/session ga-toast \(slow\) is up, but its agent was not ready after/);
    expect(r.stderr).toMatch(/did not become ready .*gt peek gastown\/polecats\/toast/);
    expect(r.stderr).not.toMatch(/started/i);

    const quick = f.run('session', 'restart', TOAST, '--agent', 'sim');
    expect(quick.status, quick.stderr).toBe(0);
    expect(quick.stdout).toMatch(/^✓ Started gastown\/polecats\/toast in session ga-toast \(sim\), ready in /);
    expect(f.run('session', 'stop', TOAST).status).toBe(0);
    const launched = f.run('session', 'start', TOAST, '--no-wait');
    expect(launched.stdout).toMatch(/^Launched gastown\/polecats\/toast .*not waited for/);
  });

  it('restart --resume is refused before the running session is touched when the CLI cannot resume', async () => {
    const f = await fixture('cmd-resume');
    expect(f.run('session', 'start', TOAST).status).toBe(0);
    const r = f.run('session', 'restart', TOAST, '--resume');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/sim cannot resume a previous session/);
    expect(await f.provider.list()).toEqual(['ga-toast']);
    expect((await f.store().sessions(TOAST)).map((s) => s.end_reason)).toEqual([null]);
  });
});
