import { describe, expect, it } from 'vitest';
import { AtCapacityError, ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import type { TownStore } from '../core/town-store.js';

/** The conformance suite of the sling queue and of capacity in the hook; `make` gives a fresh, empty store. */
export type SlingQueueStoreFactory = () => { store: TownStore; advance: (ms: number) => void; cleanup: () => void };

export function runSlingQueueContract(name: string, make: SlingQueueStoreFactory): void {
  const withStore = async (fn: (s: TownStore, advance: (ms: number) => void) => Promise<void>): Promise<void> => {
    const { store, advance, cleanup } = make();
    try {
      await store.registerRig(
        { name: 'gastown', prefix: 'ga', url: '/r', default_branch: 'main', path: '/town/gastown' },
        [],
        'gt',
      );
      await store.registerRig(
        { name: 'beads', prefix: 'be', url: '/b', default_branch: 'main', path: '/town/beads' },
        [],
        'gt',
      );
      await fn(store, advance);
    } finally {
      cleanup();
    }
  };
  const polecat = (rig: string, name: string) => ({
    identity: { role: 'polecat', rig, name } as const,
    session_name: `${rig.slice(0, 2)}-${name}`,
    sandbox_path: `/town/${rig}/polecats/${name}`,
  });

  describe(`${name} satisfies SlingQueueStore`, () => {
    it('queues a sling with its bead priority, once per bead, in priority then arrival order', () =>
      withStore(async (s, advance) => {
        const low = await s.create({ title: 'low', priority: 3 }, 'mayor');
        const high = await s.create({ title: 'high', priority: 0 }, 'mayor');
        const mid = await s.create({ title: 'mid', priority: 2 }, 'mayor');
        const first = await s.queueSling({ bead: low.id, rig: 'gastown', target: 'gastown' }, 'mayor');
        expect(first).toMatchObject({
          created: true,
          sling: { bead: low.id, state: 'queued', priority: 3, attempts: 0 },
        });
        advance(10);
        await s.queueSling(
          { bead: high.id, rig: 'gastown', target: 'gastown', args: 'carefully', agent: 'sim' },
          'mayor',
        );
        advance(10);
        await s.queueSling({ bead: mid.id, rig: 'beads', target: 'beads/polecats/cedar', create: true }, 'mayor');
        const pending = await s.pendingSlings();
        expect(pending.map((p) => p.bead)).toEqual([high.id, mid.id, low.id]);
        expect(pending[0]).toMatchObject({ args: 'carefully', agent: 'sim', create: false, queued_by: 'mayor' });
        expect(pending[1]).toMatchObject({ target: 'beads/polecats/cedar', create: true, rig: 'beads' });
        // Again to the same target: the same sling. Elsewhere: refused.
        const again = await s.queueSling({ bead: low.id, rig: 'gastown', target: 'gastown' }, 'mayor');
        expect(again).toEqual({ created: false, sling: first.sling });
        await expect(s.queueSling({ bead: low.id, rig: 'beads', target: 'beads' }, 'mayor')).rejects.toThrow(
          ConflictError,
        );
        // A bead re-prioritised while it waits moves in the queue.
        await s.update([low.id], { priority: 0 }, 'mayor');
        expect((await s.pendingSlings()).map((p) => p.bead)).toEqual([low.id, high.id, mid.id]);
        expect((await s.events({ issueId: low.id, eventType: 'sling_queued' })).length).toBe(1);
      }));

    it('refuses closed and unknown beads, unknown rigs and bad targets, writing nothing', () =>
      withStore(async (s) => {
        const closed = await s.create({ title: 'old' }, 'mayor');
        await s.close([closed.id], {}, 'mayor');
        const open = await s.create({ title: 'new' }, 'mayor');
        await expect(s.queueSling({ bead: closed.id, rig: 'gastown', target: 'gastown' }, 'm')).rejects.toThrow(
          ValidationError,
        );
        await expect(s.queueSling({ bead: 'ga-nope', rig: 'gastown', target: 'gastown' }, 'm')).rejects.toThrow(
          NotFoundError,
        );
        await expect(s.queueSling({ bead: open.id, rig: 'nowhere', target: 'nowhere' }, 'm')).rejects.toThrow(
          NotFoundError,
        );
        await expect(s.queueSling({ bead: open.id, rig: 'gastown', target: '; rm -rf /' }, 'm')).rejects.toThrow(
          ValidationError,
        );
        expect(await s.pendingSlings()).toEqual([]);
      }));

    it('claims by compare-and-set: of many claims exactly one wins; finished, it leaves the queue', () =>
      withStore(async (s) => {
        const bead = await s.create({ title: 'work' }, 'mayor');
        const { sling } = await s.queueSling({ bead: bead.id, rig: 'gastown', target: 'gastown' }, 'mayor');
        const claims = await Promise.all(
          Array.from({ length: 8 }, (_v, i) => s.claimSling(sling.id, `daemon:${i + 1}`, 'daemon')),
        );
        const won = claims.filter((c) => c !== null);
        expect(won).toHaveLength(1);
        const winner = won[0]?.claimed_by ?? '';
        expect(won[0]).toMatchObject({ state: 'dispatching' });
        // Only the holder finishes it.
        expect(await s.finishSling(sling.id, 'daemon:99', { state: 'dispatched', outcome: 'x' }, 'daemon')).toBe(false);
        expect(
          await s.finishSling(sling.id, winner, { state: 'dispatched', outcome: 'gastown/polecats/toast' }, 'daemon'),
        ).toBe(true);
        expect(await s.pendingSlings()).toEqual([]);
        expect(await s.finishedSlings(5)).toMatchObject([
          { bead: bead.id, state: 'dispatched', outcome: 'gastown/polecats/toast', claimed_by: null },
        ]);
        expect(await s.claimSling(sling.id, 'daemon:1', 'daemon')).toBeNull();
        // The bead may be queued again after its sling ended.
        expect((await s.queueSling({ bead: bead.id, rig: 'gastown', target: 'gastown' }, 'mayor')).created).toBe(true);
      }));

    it('gives a failed dispatch back to the queue, counted; a lost race back without counting; a dead claim is taken over once', () =>
      withStore(async (s, advance) => {
        const bead = await s.create({ title: 'work' }, 'mayor');
        const { sling } = await s.queueSling({ bead: bead.id, rig: 'gastown', target: 'gastown' }, 'mayor');
        await s.claimSling(sling.id, 'daemon:1', 'daemon');
        expect(await s.releaseSling(sling.id, 'daemon:2', 'not mine', 'daemon')).toBe(false);
        expect(await s.releaseSling(sling.id, 'daemon:1', 'git worktree add failed', 'daemon')).toBe(true);
        const [failed] = await s.pendingSlings();
        expect(failed).toMatchObject({ state: 'queued', attempts: 1, last_error: 'git worktree add failed' });
        expect(failed?.failed_at).not.toBeNull();
        await s.claimSling(sling.id, 'daemon:1', 'daemon');
        await s.releaseSling(sling.id, 'daemon:1', null, 'daemon');
        expect((await s.pendingSlings())[0]).toMatchObject({ state: 'queued', attempts: 1 });
        // A claim left by a dispatcher that died: taken over only as it was seen, by one of many.
        const held = await s.claimSling(sling.id, 'daemon:1', 'daemon');
        advance(5);
        const seen = { claimed_by: held?.claimed_by ?? null, claimed_at: held?.claimed_at ?? null };
        const takers = await Promise.all([2, 3, 4].map((n) => s.claimSling(sling.id, `daemon:${n}`, 'daemon', seen)));
        expect(takers.filter((t) => t !== null)).toHaveLength(1);
        expect(await s.claimSling(sling.id, 'daemon:5', 'daemon', seen)).toBeNull();
        expect(await s.finishSling(sling.id, 'daemon:1', { state: 'dropped', outcome: 'x' }, 'daemon')).toBe(false);
      }));

    it('cancels a queued sling, not one being dispatched', () =>
      withStore(async (s) => {
        const a = await s.create({ title: 'a' }, 'mayor');
        const b = await s.create({ title: 'b' }, 'mayor');
        await s.queueSling({ bead: a.id, rig: 'gastown', target: 'gastown' }, 'mayor');
        const { sling } = await s.queueSling({ bead: b.id, rig: 'gastown', target: 'gastown' }, 'mayor');
        expect(await s.cancelSling(a.id, 'mayor')).toMatchObject({ state: 'cancelled', outcome: 'cancelled by mayor' });
        expect(await s.cancelSling(a.id, 'mayor')).toBeNull();
        await s.claimSling(sling.id, 'daemon:1', 'daemon');
        await expect(s.cancelSling(b.id, 'mayor')).rejects.toThrow(ConflictError);
        expect((await s.pendingSlings()).map((p) => p.bead)).toEqual([b.id]);
      }));

    it('pauses and resumes the scheduler durably, once each, with events', () =>
      withStore(async (s) => {
        expect(await s.schedulerPause()).toBeNull();
        const p = await s.setSchedulerPaused(true, 'mayor');
        expect(p).toMatchObject({ by: 'mayor' });
        expect(await s.setSchedulerPaused(true, 'deacon')).toEqual(p);
        expect(await s.schedulerPause()).toEqual(p);
        expect(await s.setSchedulerPaused(false, 'mayor')).toBeNull();
        expect(await s.setSchedulerPaused(false, 'mayor')).toBeNull();
        expect((await s.events({ issueId: 'scheduler' })).map((e) => e.event_type)).toEqual([
          'scheduler_paused',
          'scheduler_resumed',
        ]);
      }));

    it('counts busy polecats in the hook: beyond a cap nothing is hooked, whichever way it is asked', () =>
      withStore(async (s) => {
        for (const n of ['toast', 'nux', 'cedar']) await s.registerAgent(polecat('gastown', n), 'gt');
        await s.registerAgent(polecat('beads', 'rust'), 'gt');
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await s.create({ title: `w${i}` }, 'mayor')).id);
        const id = (i: number): string => ids[i] ?? '';
        const capacity = { town: 3, rigs: { gastown: 2 } };
        await s.hook('gastown/polecats/toast', id(0), 'mayor', { capacity });
        await s.hook('gastown/polecats/nux', id(1), 'mayor', { capacity });
        await expect(s.hook('gastown/polecats/cedar', id(2), 'mayor', { capacity })).rejects.toThrow(AtCapacityError);
        await expect(s.registerAndHook(polecat('gastown', 'ash'), id(2), 'mayor', { capacity })).rejects.toThrow(
          /gastown is at capacity/,
        );
        expect((await s.agents({ rig: 'gastown', role: 'polecat' })).map((a) => a.name)).not.toContain('ash');
        expect((await s.show([id(2)]))[0]).toMatchObject({ status: 'open', assignee: null });
        // Another rig has room until the town is full.
        await s.hook('beads/polecats/rust', id(2), 'mayor', { capacity });
        await expect(s.registerAndHook(polecat('beads', 'iron'), id(3), 'mayor', { capacity })).rejects.toThrow(
          /the town is at capacity/,
        );
        // Re-hooking what a busy polecat already holds takes no new slot; without a cap nothing is counted.
        await s.hook('gastown/polecats/toast', id(0), 'mayor', { capacity });
        await s.hook('gastown/polecats/cedar', id(3), 'mayor');
        // An idle polecat frees its slot.
        await s.unhook('gastown/polecats/nux', 'mayor');
        await s.unhook('gastown/polecats/cedar', 'mayor');
        await s.hook('gastown/polecats/nux', id(4), 'mayor', { capacity });
        // Concurrent hooks of idle polecats: never more busy than the cap.
        await s.unhook('gastown/polecats/nux', 'mayor');
        const raced = await Promise.allSettled(
          ['nux', 'cedar'].map((n, i) => s.hook(`gastown/polecats/${n}`, id(3 + i), 'mayor', { capacity })),
        );
        expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const busy = (await s.agents({ role: 'polecat' })).filter((a) => a.hook_bead !== null);
        expect(busy.length).toBe(3);
      }));
  });
}
