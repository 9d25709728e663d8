import { afterEach, describe, expect, it } from 'vitest';
import { readMergeRequest } from '../core/merge-request.js';
import { defaultRigSettings } from '../core/settings.js';
import { openTownStore } from '../store/open.js';
import type { TownStore } from '../core/town-store.js';
import type { Town } from '../town/town.js';
import { moleculeOf } from '../work/molecule.js';
import { returnRequest, type RefineryContext } from './outcomes.js';

/** The refinery's conflict tasks carry the conflict formula as a molecule. */

const stores: TownStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.dispose();
});

async function setup(): Promise<{ ctx: RefineryContext; store: TownStore }> {
  const store = openTownStore(':memory:');
  stores.push(store);
  await store.registerRig(
    { name: 'gastown', prefix: 'ga', url: '/remote', default_branch: 'main', path: '/town/gastown' },
    [],
    'test',
  );
  const town: Town = {
    root: '/nowhere',
    name: 'unit',
    owner: 'o@e.x',
    created_at: '',
    tmuxSocket: 'x',
    dbPath: ':memory:',
  };
  return { ctx: { town, store, actor: 'gastown/refinery', now: () => Date.parse('2026-11-24T00:00:00Z') }, store };
}

async function request(store: TownStore) {
  const source = await store.create({ title: 'the job', prefix: 'ga' }, 'mayor');
  const bead = await store.create(
    {
      id: 'ga-mr0123456789ab',
      title: `Merge ${source.id}: the job`,
      issue_type: 'merge-request',
      metadata: {
        branch: 'polecat/toast/x',
        target: 'main',
        source_bead: source.id,
        rig: 'gastown',
        worker: 'w',
        commit: '0123456789abcdef',
      },
    },
    'w',
  );
  const mr = readMergeRequest(bead);
  if (mr === undefined) throw new Error('not a merge request');
  return mr;
}

describe('returned conflicts', () => {
  it('a conflict task gets conflict-resolve attached, with the request, branch and target; again is a no-op', async () => {
    const { ctx, store } = await setup();
    const mr = await request(store);
    const r = await returnRequest(ctx, mr, defaultRigSettings().refinery, 'conflict', {
      detail: 'app.txt conflicts',
      files: ['app.txt'],
    });
    const task = r?.task ?? '';
    const { status, stepBeads } = await moleculeOf(store, task);
    expect(status).toMatchObject({ formula: 'conflict-resolve', current: 'understand', done: 0 });
    expect(status.vars).toMatchObject({ request: mr.id, branch: mr.branch, target: 'main', bead: task });
    expect(status.steps.at(-1)?.id).toBe('submit');
    expect([...stepBeads.values()].map((b) => b.description).join('\n')).toContain(`git merge origin/main`);
    // A pass killed after the task was filed sends it back again: the same task, the same molecule.
    const again = await returnRequest(ctx, mr, defaultRigSettings().refinery, 'conflict', { detail: 'again' });
    expect(again?.task).toBe(task);
    expect(await store.list({ parent: task, types: ['step'] })).toHaveLength(status.total);
  });

  it('a failing gate gets a task without a molecule', async () => {
    const { ctx, store } = await setup();
    const mr = await request(store);
    const r = await returnRequest(ctx, mr, defaultRigSettings().refinery, 'fix-needed', {
      detail: 'tests fail',
      gate: 'test',
    });
    await expect(moleculeOf(store, r?.task ?? '')).rejects.toThrow(/has no molecule/);
  });
});
