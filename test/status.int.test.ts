import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { json } from './helpers/bd.js';
import { eventually, sessionTown } from './helpers/session-town.js';

/** gt status / gt agents: states observed from tmux, the process table, the store and git. */

type Fixture = Awaited<ReturnType<typeof sessionTown>>;
const fixtures: Fixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});

type View = {
  address: string;
  state: string;
  hook: { id: string } | null;
  sandbox: { unpushed: number; uncommitted: number } | null;
};
type Snap = { agents: View[]; strays: string[]; work: { hooked: number }; merge_requests: unknown[] };

describe('gt status', () => {
  it('derives every state from reality: working, dead-with-work, idle, stopped; strays; git state', async () => {
    const f = await sessionTown('status');
    fixtures.push(f);
    const s = f.store();
    const bead = await s.create({ title: 'long job', description: '```sh\nsleep 30\n```' }, 'mayor');
    f.run('sling', bead.id, 'gastown/polecats/toast');
    f.run('session', 'start', 'gastown/witness');
    await f.provider.start({ name: 'stray', argv: ['sleep', '60'], cwd: f.town.root, env: {} });
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'running'), 'the work to start');
    const state = (snap: Snap, address: string): string | undefined =>
      snap.agents.find((a) => a.address === address)?.state;

    const snap = json<Snap>(f.run('status', '--json', '--git'));
    expect(state(snap, 'gastown/polecats/toast')).toBe('working');
    expect(snap.agents.find((a) => a.address === 'gastown/polecats/toast')?.hook?.id).toBe(bead.id);
    expect(state(snap, 'gastown/witness')).toBe('idle');
    expect(state(snap, 'mayor')).toBe('stopped');
    expect(snap.strays).toEqual(['stray']);
    expect(snap.work.hooked).toBe(1);
    expect(snap.agents.find((a) => a.address === 'gastown/polecats/toast')?.sandbox).toMatchObject({
      uncommitted: 0,
      unpushed: 0,
    });

    // gt polecat list: the same derived state, with the sandbox's branch and git state.
    writeFileSync(join((await s.agent('gastown/polecats/toast')).sandbox_path, 'scratch.txt'), 'draft\n');
    type PolecatRow = View & { name: string; sandbox: { branch: string; uncommitted: number } };
    const polecats = json<PolecatRow[]>(f.run('polecat', 'list', 'gastown', '--json'));
    expect(polecats.map((p) => [p.name, p.state, p.hook?.id, p.sandbox.uncommitted])).toEqual([
      ['toast', 'working', bead.id, 1],
    ]);
    expect(f.run('polecat', 'list').stdout).toMatch(/gastown\/polecats\/toast\s+working\s+\S+\s+1 uncommitted/);
    expect(f.run('polecat', 'list', 'nowhere').status).not.toBe(0);

    await f.killAgent('ga-toast');
    await eventually(
      () => state(json<Snap>(f.run('status', '--json')), 'gastown/polecats/toast') === 'dead-with-work',
      'dead-with-work',
    );
    // The witness's CLI gone while its session stays: a zombie.
    await f.killAgent('ga-witness');
    await eventually(() => state(json<Snap>(f.run('status', '--json')), 'gastown/witness') === 'zombie', 'zombie');

    const text = f.run('status');
    expect(text.stdout).toMatch(
      /Polecats \(1 dead-with-work\)\n +gastown\/polecats\/toast\s+dead-with-work\s+sim\s+\S+ long job/,
    );
    expect(text.stdout).toMatch(/Witnesses \(1 zombie\)\n +gastown\/witness\s+zombie/);
    expect(text.stdout).toContain('belong to no agent: stray');
    const agents = json<View[]>(f.run('agents', '--json'));
    expect(agents.map((a) => a.address)).toContain('deacon');
    const watched = f.run('status', '--watch', '1', '--times', '2');
    expect(watched.stdout.match(/^Town "/gm)).toHaveLength(2);
  }, 90_000);
});
