import { describe, expect, it } from 'vitest';
import type { BeadStore } from '../core/bead-store.js';
import { ConflictError, CycleError, NotFoundError, ValidationError } from '../core/errors.js';

/**
 * The conformance suite every BeadStore must pass. `make` returns a fresh, empty store with the prefix "gt"
 * and a clock that moves forward 1 ms each time it is read, plus a way to advance it further.
 */
export type StoreFactory = () => { store: BeadStore; advance: (ms: number) => void; cleanup: () => void };

export function runBeadStoreContract(name: string, make: StoreFactory): void {
  const withStore = async (fn: (store: BeadStore, advance: (ms: number) => void) => Promise<void>): Promise<void> => {
    const { store, advance, cleanup } = make();
    try {
      await fn(store, advance);
    } finally {
      cleanup();
    }
  };

  describe(`${name} satisfies BeadStore`, () => {
    describe('create and show', () => {
      it('stores every field and hands it back', () =>
        withStore(async (s) => {
          const b = await s.create(
            {
              title: 'Fix it',
              description: 'd',
              design: 'x',
              acceptance_criteria: 'ac',
              notes: 'n',
              issue_type: 'bug',
              priority: 0,
              labels: ['b', 'a'],
              external_ref: 'gh-1',
              metadata: { k: [1] },
            },
            'alice',
          );
          expect(b.id).toMatch(/^gt-[0-9a-z]{3}$/);
          const [shown] = await s.show([b.id]);
          expect(shown).toMatchObject({
            title: 'Fix it',
            description: 'd',
            design: 'x',
            acceptance_criteria: 'ac',
            notes: 'n',
            issue_type: 'bug',
            priority: 0,
            status: 'open',
            created_by: 'alice',
            external_ref: 'gh-1',
            metadata: { k: [1] },
            labels: ['a', 'b'],
          });
          expect(shown?.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        }));

      it('returns any text byte for byte', () =>
        withStore(async (s) => {
          const nasty = `quotes ' " \` $(rm -rf /) ; | & \\ \n\ttabs\r\n ESC\u001b[31mred\u001b[0m ünïcødé 🚀 \u0000nul`;
          const big = 'x'.repeat(1024 * 1024);
          const b = await s.create({ title: nasty, description: big + nasty, notes: nasty }, 'alice');
          const [shown] = await s.show([b.id]);
          expect(shown?.title).toBe(nasty);
          expect(shown?.description).toBe(big + nasty);
          expect(shown?.notes).toBe(nasty);
          expect(Buffer.from(shown?.title ?? '').equals(Buffer.from(nasty))).toBe(true);
        }));

      it('rejects bad input and writes nothing', () =>
        withStore(async (s) => {
          await expect(s.create({ title: '  ' }, 'a')).rejects.toThrow(ValidationError);
          await expect(s.create({ title: 't', issue_type: 'spaceship' }, 'a')).rejects.toThrow(ValidationError);
          await expect(s.create({ title: 't', priority: 7 }, 'a')).rejects.toThrow(ValidationError);
          await expect(s.create({ title: 't', status: 'done' }, 'a')).rejects.toThrow(ValidationError);
          await expect(s.create({ title: 't', labels: ['two words'] }, 'a')).rejects.toThrow(ValidationError);
          await expect(s.create({ title: 't', parent: 'gt-nope' }, 'a')).rejects.toThrow(NotFoundError);
          await expect(s.create({ title: 't', depends_on: ['gt-nope'] }, 'a')).rejects.toThrow(NotFoundError);
          await expect(s.create({ title: 't', id: 'bad id' }, 'a')).rejects.toThrow(ValidationError);
          expect(await s.list({ statuses: ['open', 'closed'] })).toEqual([]);
          expect(await s.events({})).toEqual([]);
        }));

      it('accepts configured custom types', () =>
        withStore(async (s) => {
          await s.setConfig('types.custom', 'spaceship,rocket', 'a');
          expect((await s.create({ title: 't', issue_type: 'rocket' }, 'a')).issue_type).toBe('rocket');
        }));

      it('takes an explicit id once', () =>
        withStore(async (s) => {
          await s.create({ title: 't', id: 'hq-cv-1' }, 'a');
          await expect(s.create({ title: 't', id: 'hq-cv-1' }, 'a')).rejects.toThrow(ConflictError);
        }));

      it('numbers children <parent>.<n> and never reuses a number', () =>
        withStore(async (s) => {
          const epic = await s.create({ title: 'epic', issue_type: 'epic' }, 'a');
          const c1 = await s.create({ title: 'c1', parent: epic.id }, 'a');
          const c2 = await s.create({ title: 'c2', parent: epic.id }, 'a');
          const g1 = await s.create({ title: 'g1', parent: c1.id }, 'a');
          expect([c1.id, c2.id, g1.id]).toEqual([`${epic.id}.1`, `${epic.id}.2`, `${epic.id}.1.1`]);
          expect(c1.dependencies).toMatchObject([{ depends_on_id: epic.id, type: 'parent-child' }]);
          await s.close([c2.id], {}, 'a');
          await s.update([c2.id], { parent: null }, 'a');
          expect((await s.create({ title: 'c3', parent: epic.id }, 'a')).id).toBe(`${epic.id}.3`);
        }));

      it('grows the id length as the workspace grows', () =>
        withStore(async (s) => {
          for (let i = 0; i < 170; i++) await s.create({ title: `bead ${i}` }, 'a');
          const ids = (await s.list({ limit: 0 })).map((b) => b.id);
          expect(new Set(ids).size).toBe(170);
          expect(ids.filter((id) => /^gt-[0-9a-z]{4}$/.test(id)).length).toBeGreaterThan(0);
          expect(ids.every((id) => /^gt-[0-9a-z]{3,4}$/.test(id))).toBe(true);
        }));

      it('names every missing id in one NotFoundError', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 't' }, 'a');
          await expect(s.show([b.id, 'gt-x1', 'gt-x2'])).rejects.toThrow('issues gt-x1, gt-x2 not found');
        }));
    });

    describe('ready work', () => {
      it('is open, unblocked work ordered by priority then age', () =>
        withStore(async (s, advance) => {
          const low = await s.create({ title: 'low', priority: 3 }, 'a');
          advance(1000);
          const oldHigh = await s.create({ title: 'old high', priority: 1 }, 'a');
          advance(1000);
          const newHigh = await s.create({ title: 'new high', priority: 1 }, 'a');
          const blocker = await s.create({ title: 'blocker', priority: 4 }, 'a');
          const blocked = await s.create({ title: 'blocked', priority: 0, depends_on: [blocker.id] }, 'a');
          const taken = await s.create({ title: 'taken', priority: 0 }, 'a');
          await s.claim(taken.id, 'bob');
          await s.create({ title: 'a message', issue_type: 'message', priority: 0 }, 'a');
          await s.create({ title: 'a wisp', ephemeral: true, priority: 0 }, 'a');
          const ready = (await s.ready({})).map((b) => b.id);
          expect(ready).toEqual([oldHigh.id, newHigh.id, low.id, blocker.id]);
          expect(ready).not.toContain(blocked.id);
          expect((await s.ready({ sort: 'newest' })).map((b) => b.id)[0]).toBe(blocker.id);
          expect((await s.ready({ types: ['message'] })).map((b) => b.title)).toEqual(['a message']);
          expect((await s.ready({ limit: 2 })).length).toBe(2);
        }));

      it('unblocks a dependent when its blocker closes', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'a' }, 'x');
          const b = await s.create({ title: 'b', depends_on: [a.id] }, 'x');
          expect((await s.ready({})).map((r) => r.id)).toEqual([a.id]);
          await s.close([a.id], {}, 'x');
          expect((await s.ready({})).map((r) => r.id)).toEqual([b.id]);
        }));

      it('blocks every descendant of a blocked or deferred ancestor, transitively', () =>
        withStore(async (s) => {
          const gate = await s.create({ title: 'gate' }, 'x');
          const epic = await s.create({ title: 'epic', issue_type: 'epic', depends_on: [gate.id] }, 'x');
          const child = await s.create({ title: 'child', parent: epic.id }, 'x');
          const grandchild = await s.create({ title: 'grandchild', parent: child.id }, 'x');
          const later = await s.create({ title: 'later', status: 'deferred' }, 'x');
          const laterChild = await s.create({ title: 'later child', parent: later.id }, 'x');
          const held = await s.create({ title: 'held', status: 'blocked' }, 'x');
          const heldChild = await s.create({ title: 'held child', parent: held.id }, 'x');
          const ready = (await s.ready({})).map((b) => b.id);
          expect(ready).toEqual([gate.id]);
          const blocked = await s.blocked({});
          const byId = new Map(blocked.map((b) => [b.id, b.blocked_by]));
          expect(byId.get(epic.id)).toEqual([gate.id]);
          expect(byId.get(child.id)).toEqual([epic.id]);
          expect(byId.get(grandchild.id)).toEqual([child.id]);
          expect(byId.get(laterChild.id)).toEqual([later.id]);
          expect(byId.get(heldChild.id)).toEqual([held.id]);
          expect(byId.has(held.id)).toBe(true);
          expect(byId.has(later.id)).toBe(false);
          await s.close([gate.id], {}, 'x');
          expect(new Set((await s.ready({})).map((b) => b.id))).toEqual(new Set([epic.id, child.id, grandchild.id]));
          expect((await s.ready({ parent: epic.id })).map((b) => b.id).sort()).toEqual(
            [child.id, grandchild.id].sort(),
          );
        }));

      it('treats a waits-for spawner with open children as blocking', () =>
        withStore(async (s) => {
          const spawner = await s.create({ title: 'spawner', issue_type: 'epic' }, 'x');
          const kid = await s.create({ title: 'kid', parent: spawner.id }, 'x');
          const waiter = await s.create({ title: 'waiter' }, 'x');
          await s.addDependency(waiter.id, spawner.id, 'waits-for', 'x');
          expect((await s.ready({})).map((b) => b.id)).not.toContain(waiter.id);
          expect((await s.blocked({})).find((b) => b.id === waiter.id)?.blocked_by).toEqual([spawner.id]);
          await expect(s.close([waiter.id], {}, 'x')).rejects.toThrow(ConflictError);
          await s.close([kid.id], {}, 'x');
          expect((await s.ready({})).map((b) => b.id)).toContain(waiter.id);
          // The spawner itself is still open; waiting is on its children, so the waiter may now close.
          expect((await s.close([waiter.id], {}, 'x'))[0]?.status).toBe('closed');
        }));

      it('filters by assignee, label, priority and unassigned', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'a', labels: ['x', 'y'], priority: 1 }, 'u');
          const b = await s.create({ title: 'b', labels: ['x'], assignee: 'bob', priority: 2 }, 'u');
          expect((await s.ready({ labels: ['x', 'y'] })).map((r) => r.id)).toEqual([a.id]);
          expect((await s.ready({ assignee: 'bob' })).map((r) => r.id)).toEqual([b.id]);
          expect((await s.ready({ unassigned: true })).map((r) => r.id)).toEqual([a.id]);
          expect((await s.ready({ priorities: [2] })).map((r) => r.id)).toEqual([b.id]);
        }));
    });

    describe('claim', () => {
      it('is a compare-and-set: one holder, re-claim by the holder is a no-op', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 'work' }, 'a');
          const claimed = await s.claim(b.id, 'alice');
          expect(claimed).toMatchObject({ status: 'in_progress', assignee: 'alice' });
          expect(claimed.started_at).not.toBeNull();
          await expect(s.claim(b.id, 'bob')).rejects.toThrow(ConflictError);
          await expect(s.claim(b.id, 'bob')).rejects.toThrow('already claimed by alice');
          const again = await s.claim(b.id, 'alice');
          expect(again.updated_at).toBe(claimed.updated_at);
          const claims = await s.events({ issueId: b.id, eventType: 'claimed' });
          expect(claims.map((e) => [e.actor, e.new_value])).toEqual([['alice', 'alice']]);
        }));

      it('claimReady takes the best ready bead, and null when none is left', () =>
        withStore(async (s) => {
          const p2 = await s.create({ title: 'p2' }, 'a');
          const p0 = await s.create({ title: 'p0', priority: 0 }, 'a');
          expect((await s.claimReady({}, 'w1'))?.id).toBe(p0.id);
          expect((await s.claimReady({}, 'w2'))?.id).toBe(p2.id);
          expect(await s.claimReady({}, 'w3')).toBeNull();
        }));

      it('refuses closed beads and rejects --claim with --status', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 'done' }, 'a');
          await s.close([b.id], {}, 'a');
          await expect(s.claim(b.id, 'bob')).rejects.toThrow('cannot be claimed: its status is closed');
          await expect(s.update([b.id], { claim: true, status: 'open' }, 'bob')).rejects.toThrow(ValidationError);
        }));
    });

    describe('update, close, reopen', () => {
      it('changes several beads all or nothing', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'a' }, 'x');
          const b = await s.create({ title: 'b' }, 'x');
          const other = await s.create({ title: 'c', assignee: 'zed' }, 'x');
          const eventsBefore = (await s.events({})).length;
          await expect(s.update([a.id, 'gt-missing'], { priority: 0 }, 'x')).rejects.toThrow(NotFoundError);
          expect((await s.show([a.id]))[0]?.priority).toBe(2);
          // The first bead's claim succeeds inside the transaction; the second's conflict rolls both back.
          await expect(s.update([a.id, other.id], { claim: true }, 'me')).rejects.toThrow(ConflictError);
          expect((await s.show([a.id]))[0]).toMatchObject({ status: 'open', assignee: null });
          await expect(s.update([a.id, b.id], { add_labels: ['ok'], status: 'nonsense' }, 'x')).rejects.toThrow(
            ValidationError,
          );
          expect(await s.labels(a.id)).toEqual([]);
          expect((await s.events({})).length).toBe(eventsBefore);
          const updated = await s.update([a.id, b.id], { priority: 1, add_labels: ['l'], status: 'in_progress' }, 'x');
          expect(updated.map((u) => [u.priority, u.labels, u.status])).toEqual([
            [1, ['l'], 'in_progress'],
            [1, ['l'], 'in_progress'],
          ]);
        }));

      it('records one event per changed field, with old and new values, and none for no-ops', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 'before' }, 'alice');
          await s.update([b.id], { title: 'after', priority: 2 }, 'bob');
          const events = await s.events({ issueId: b.id });
          expect(events.map((e) => [e.event_type, e.actor, e.field, e.old_value, e.new_value])).toEqual([
            ['created', 'alice', null, null, 'before'],
            ['updated', 'bob', 'title', 'before', 'after'],
          ]);
          await s.update([b.id], { title: 'after' }, 'bob');
          expect((await s.events({ issueId: b.id })).length).toBe(2);
        }));

      it('lists only beads updated since a time, when asked', () =>
        withStore(async (s, advance) => {
          const old = await s.create({ title: 'old' }, 'alice');
          advance(60_000);
          const fresh = await s.create({ title: 'fresh' }, 'alice');
          const since = fresh.updated_at;
          expect((await s.list({ updatedSince: since, limit: 0 })).map((b) => b.id)).toEqual([fresh.id]);
          await s.update([old.id], { title: 'touched' }, 'bob');
          expect((await s.list({ updatedSince: since, sort: 'oldest', limit: 0 })).map((b) => b.id).sort()).toEqual(
            [old.id, fresh.id].sort(),
          );
          await expect(s.list({ updatedSince: 'soon' })).rejects.toThrow('invalid timestamp');
        }));

      it('follows events by cursor and time, and gives the newest few in order', () =>
        withStore(async (s, advance) => {
          const a = await s.create({ title: 'a' }, 'alice');
          advance(60_000);
          const b = await s.create({ title: 'b' }, 'alice');
          await s.update([a.id], { title: 'a2' }, 'bob');
          const all = await s.events({});
          expect(all.map((e) => e.issue_id)).toEqual([a.id, b.id, a.id]);
          const first = all[0]?.event_id ?? 0;
          expect((await s.events({ after: first })).map((e) => e.issue_id)).toEqual([b.id, a.id]);
          expect((await s.events({ since: all[1]?.created_at ?? '' })).map((e) => e.event_id)).toEqual(
            all.slice(1).map((e) => e.event_id),
          );
          expect((await s.events({ newest: true, limit: 2 })).map((e) => e.event_id)).toEqual(
            all.slice(1).map((e) => e.event_id),
          );
          expect((await s.events({ limit: 2 })).map((e) => e.event_id)).toEqual(all.slice(0, 2).map((e) => e.event_id));
          await expect(s.events({ since: 'yesterday' })).rejects.toThrow('invalid timestamp');
        }));

      it('reparents, and detaches with a null parent', () =>
        withStore(async (s) => {
          const p1 = await s.create({ title: 'p1' }, 'x');
          const p2 = await s.create({ title: 'p2' }, 'x');
          const c = await s.create({ title: 'c', parent: p1.id }, 'x');
          await s.update([c.id], { parent: p2.id }, 'x');
          expect((await s.list({ parent: p2.id })).map((b) => b.id)).toEqual([c.id]);
          expect(await s.list({ parent: p1.id })).toEqual([]);
          await s.update([c.id], { parent: null }, 'x');
          expect((await s.show([c.id]))[0]?.dependencies).toEqual([]);
          await expect(s.update([p2.id], { parent: c.id }, 'x')).resolves.toHaveLength(1);
          await expect(s.update([c.id], { parent: p2.id }, 'x')).rejects.toThrow(CycleError);
        }));

      it('closes with a reason, guards blockers and open children, and is idempotent', () =>
        withStore(async (s) => {
          const blocker = await s.create({ title: 'blocker' }, 'x');
          const dependent = await s.create({ title: 'dep', depends_on: [blocker.id] }, 'x');
          await expect(s.close([dependent.id], {}, 'x')).rejects.toThrow(`blocked by open issue(s) ${blocker.id}`);
          const epic = await s.create({ title: 'epic', issue_type: 'epic' }, 'x');
          await s.create({ title: 'kid', parent: epic.id }, 'x');
          await expect(s.close([epic.id], {}, 'x')).rejects.toThrow('1 open child issue(s)');
          expect(
            (await s.close([blocker.id, dependent.id], { reason: 'shipped' }, 'x')).map((b) => b.close_reason),
          ).toEqual(['shipped', 'shipped']);
          const [forced] = await s.close([epic.id], { force: true }, 'x');
          expect(forced?.status).toBe('closed');
          const before = (await s.events({ issueId: blocker.id })).length;
          await s.close([blocker.id], {}, 'x');
          expect((await s.events({ issueId: blocker.id })).length).toBe(before);
        }));

      it('updates by compare-and-set on status and metadata, writing nothing when either moved', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 'b', metadata: { n: 1 } }, 'x');
          const expect1 = { status: 'open', metadata: { n: 1, gone: null } };
          const [closed] = await s.update(
            [b.id],
            { status: 'closed', close_reason: 'done', metadata: { n: 2 }, expect: expect1 },
            'x',
          );
          expect(closed).toMatchObject({ status: 'closed', close_reason: 'done', metadata: { n: 2 } });
          const before = (await s.events({ issueId: b.id })).length;
          await expect(s.update([b.id], { metadata: { n: 3 }, expect: expect1 }, 'x')).rejects.toThrow(ConflictError);
          await expect(s.update([b.id], { metadata: { n: 3 }, expect: { metadata: { n: 1 } } }, 'x')).rejects.toThrow(
            'n is 2',
          );
          expect((await s.show([b.id]))[0]?.metadata).toEqual({ n: 2 });
          expect((await s.events({ issueId: b.id })).length).toBe(before);
        }));

      it('reopens, clearing closed_at and close_reason', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 'b' }, 'x');
          await s.close([b.id], { reason: 'oops' }, 'x');
          const [r] = await s.reopen([b.id], 'not done', 'x');
          expect(r).toMatchObject({ status: 'open', closed_at: null, close_reason: '' });
          expect(r?.comments.map((c) => c.text)).toEqual(['Reopened: not done']);
          expect((await s.events({ issueId: b.id, eventType: 'reopened' })).length).toBe(1);
        }));
    });

    describe('scheduling, partial close, supersede, delete, stale, health', () => {
      const later = (t: string, ms: number): string => new Date(Date.parse(t) + ms).toISOString();

      it('stores estimates, due dates, deferral and spec links, and rejects bad ones writing nothing', () =>
        withStore(async (s) => {
          const b = await s.create(
            {
              title: 'planned',
              estimated_minutes: 90,
              due_at: '2027-01-01T00:00:00.000Z',
              spec_id: 'docs/spec.md#login',
            },
            'x',
          );
          expect(b).toMatchObject({
            estimated_minutes: 90,
            due_at: '2027-01-01T00:00:00.000Z',
            spec_id: 'docs/spec.md#login',
          });
          const [u] = await s.update([b.id], { estimated_minutes: null, due_at: null, spec_id: '' }, 'x');
          expect(u).toMatchObject({ estimated_minutes: null, due_at: null, spec_id: null });
          await expect(s.create({ title: 'x', estimated_minutes: -5 }, 'x')).rejects.toThrow(ValidationError);
          await expect(s.update([b.id], { due_at: 'next tuesday' }, 'x')).rejects.toThrow(ValidationError);
          await expect(s.create({ title: 'x', prefix: 'Bad Prefix' }, 'x')).rejects.toThrow(ValidationError);
          expect((await s.list({})).length).toBe(1);
        }));

      it('creates ids with a given prefix, found like any other', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 'rig work', prefix: 'ga' }, 'x');
          expect(b.id).toMatch(/^ga-[0-9a-z]{3}$/);
          expect((await s.show([b.id]))[0]?.title).toBe('rig work');
          const child = await s.create({ title: 'kid', parent: b.id, prefix: 'zz' }, 'x');
          expect(child.id).toBe(`${b.id}.1`);
          expect((await s.create({ title: 'wisp', prefix: 'ga', ephemeral: true }, 'x')).id).toMatch(/^ga-wisp-/);
        }));

      it('keeps a bead deferred until a time out of ready work (and its children), then lets it back', () =>
        withStore(async (s, advance) => {
          const b = await s.create({ title: 'later' }, 'x');
          const kid = await s.create({ title: 'kid', parent: b.id }, 'x');
          const [d] = await s.defer([b.id], later(b.created_at, 60_000), 'x');
          expect(d).toMatchObject({ status: 'open', defer_until: later(b.created_at, 60_000) });
          expect((await s.ready({})).map((r) => r.id)).toEqual([]);
          expect((await s.stats()).ready_issues).toBe(0);
          advance(120_000);
          expect((await s.ready({})).map((r) => r.id).sort()).toEqual([b.id, kid.id].sort());
          expect((await s.stats()).ready_issues).toBe(2);
          await expect(s.undefer([b.id], 'x')).rejects.toThrow(`${b.id} is not deferred`);
        }));

      it('puts a bead on ice without a time, undefers it, and refuses closed beads', () =>
        withStore(async (s) => {
          const b = await s.create({ title: 'ice' }, 'x');
          expect((await s.defer([b.id], null, 'x'))[0]?.status).toBe('deferred');
          expect((await s.ready({})).length).toBe(0);
          const [u] = await s.undefer([b.id], 'x');
          expect(u).toMatchObject({ status: 'open', defer_until: null });
          expect((await s.ready({})).map((r) => r.id)).toEqual([b.id]);
          await s.close([b.id], {}, 'x');
          await expect(s.defer([b.id], null, 'x')).rejects.toThrow(ValidationError);
        }));

      it('closeEach closes what it can and reports the rest, writing nothing for them', () =>
        withStore(async (s) => {
          const blocker = await s.create({ title: 'blocker' }, 'x');
          const dependent = await s.create({ title: 'dependent', depends_on: [blocker.id] }, 'x');
          const chained = await s.create({ title: 'chained', depends_on: [dependent.id] }, 'x');
          const free = await s.create({ title: 'free' }, 'x');
          const report = await s.closeEach([dependent.id, 'gt-nope', free.id, chained.id], { reason: 'r' }, 'x');
          expect(report.closed.map((b) => b.id)).toEqual([free.id]);
          expect(report.failed.map(({ hint: _hint, ...f }) => f)).toEqual([
            { id: dependent.id, code: 'conflict', error: expect.stringContaining(blocker.id) as unknown },
            { id: 'gt-nope', code: 'not_found', error: 'issue gt-nope not found' },
            { id: chained.id, code: 'conflict', error: expect.stringContaining(dependent.id) as unknown },
          ]);
          expect((await s.show([dependent.id]))[0]?.status).toBe('open');
          const both = await s.closeEach([chained.id, dependent.id, blocker.id], {}, 'x');
          expect(both.failed).toEqual([]);
          expect(both.closed.map((b) => b.status)).toEqual(['closed', 'closed', 'closed']);
        }));

      it('supersedes: closes the old bead and records a non-blocking supersedes edge', () =>
        withStore(async (s) => {
          const old = await s.create({ title: 'old' }, 'x');
          const fresh = await s.create({ title: 'new' }, 'x');
          const done = await s.supersede(old.id, fresh.id, 'x');
          expect(done).toMatchObject({ status: 'closed', close_reason: `Superseded by ${fresh.id}` });
          expect(done.dependencies).toEqual([expect.objectContaining({ depends_on_id: fresh.id, type: 'supersedes' })]);
          expect((await s.ready({})).map((r) => r.id)).toEqual([fresh.id]);
          await expect(s.supersede(fresh.id, fresh.id, 'x')).rejects.toThrow(ValidationError);
          await expect(s.supersede(fresh.id, 'gt-nope', 'x')).rejects.toThrow(NotFoundError);
        }));

      it('treats caused-by as association only: it never blocks', () =>
        withStore(async (s) => {
          const cause = await s.create({ title: 'cause' }, 'x');
          const bug = await s.create({ title: 'bug', issue_type: 'bug' }, 'x');
          expect((await s.addDependency(bug.id, cause.id, 'caused-by', 'x')).status).toBe('added');
          expect((await s.ready({})).map((r) => r.id).sort()).toEqual([bug.id, cause.id].sort());
          expect((await s.close([bug.id], {}, 'x'))[0]?.status).toBe('closed');
        }));

      it('deletes a bead with every edge naming it; refuses while others depend on it unless forced', () =>
        withStore(async (s) => {
          const target = await s.create({ title: 'target', labels: ['l'] }, 'x');
          const other = await s.create({ title: 'other' }, 'x');
          const dependent = await s.create({ title: 'dependent', depends_on: [target.id] }, 'x');
          await s.addDependency(target.id, other.id, 'related', 'x');
          await s.addComment(target.id, 'c', 'x');
          await expect(s.delete(target.id, {}, 'x')).rejects.toThrow(ConflictError);
          const preview = await s.delete(target.id, { dryRun: true }, 'x');
          expect(preview).toMatchObject({ id: target.id, deleted: false, dependents: [dependent.id] });
          expect(preview.dependencies.length).toBe(2);
          expect((await s.show([target.id])).length).toBe(1);
          expect((await s.delete(target.id, { force: true }, 'x')).deleted).toBe(true);
          await expect(s.show([target.id])).rejects.toThrow(NotFoundError);
          expect((await s.show([dependent.id]))[0]?.dependencies).toEqual([]);
          expect(await s.dependencies(other.id, 'up')).toEqual([]);
          expect((await s.ready({})).map((r) => r.id).sort()).toEqual([dependent.id, other.id].sort());
          expect((await s.delete(other.id, {}, 'x')).deleted).toBe(true);
          await expect(s.delete('gt-nope', { force: true }, 'x')).rejects.toThrow(NotFoundError);
        }));

      it('lists stale beads: not closed and not updated for N days, oldest first', () =>
        withStore(async (s, advance) => {
          const old = await s.create({ title: 'old' }, 'x');
          const closed = await s.create({ title: 'closed' }, 'x');
          await s.close([closed.id], {}, 'x');
          advance(10 * 86_400_000);
          const fresh = await s.create({ title: 'fresh' }, 'x');
          expect((await s.stale({ days: 5 })).map((b) => b.id)).toEqual([old.id]);
          expect((await s.stale({ days: 30 })).length).toBe(0);
          expect((await s.stale({ days: 5, statuses: ['closed'] })).map((b) => b.id)).toEqual([closed.id]);
          await expect(s.stale({ days: 0 })).rejects.toThrow(ValidationError);
          await expect(s.stale({ days: -1 })).rejects.toThrow(ValidationError);
          expect(fresh.id).not.toBe(old.id);
        }));

      it('answers a health check', () =>
        withStore(async (s) => {
          const h = await s.health();
          expect(h.integrity).toBe('ok');
          expect(h.schema_version).toBeGreaterThan(0);
        }));

      it('round-trips the new fields through JSONL in beads field names', () =>
        withStore(async (s) => {
          const b = await s.create(
            { title: 'x', estimated_minutes: 30, due_at: '2027-02-03T04:05:06.000Z', spec_id: 'S-1' },
            'x',
          );
          await s.update([b.id], { defer_until: '2027-01-01T00:00:00.000Z' }, 'x');
          const { text } = await s.exportJsonl({});
          expect(JSON.parse(text)).toMatchObject({
            estimated_minutes: 30,
            due_at: '2027-02-03T04:05:06.000Z',
            defer_until: '2027-01-01T00:00:00.000Z',
            spec_id: 'S-1',
          });
          await s.delete(b.id, {}, 'x');
          // Deleted here after the file was written: importing the file does not bring it back.
          expect(await s.importJsonl(text, 'i')).toMatchObject({ created: 0, kept_local: 1 });
          await expect(s.show([b.id])).rejects.toThrow(NotFoundError);
          // The same record under another id is imported with every field.
          const copy = `${b.id}x`;
          await s.importJsonl(text.replaceAll(b.id, copy), 'i');
          expect((await s.show([copy]))[0]).toMatchObject({ estimated_minutes: 30, spec_id: 'S-1', extra: {} });
          expect((await s.exportJsonl({})).text).toBe(text.replaceAll(b.id, copy));
        }));
    });

    describe('dependencies, labels, comments', () => {
      it('rejects self-dependencies, unknown types, missing beads and cycles, writing nothing', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'a' }, 'x');
          const b = await s.create({ title: 'b' }, 'x');
          const c = await s.create({ title: 'c' }, 'x');
          await expect(s.addDependency(a.id, a.id, 'blocks', 'x')).rejects.toThrow(ValidationError);
          await expect(s.addDependency(a.id, b.id, 'likes', 'x')).rejects.toThrow(ValidationError);
          await expect(s.addDependency(a.id, 'gt-zzz', 'blocks', 'x')).rejects.toThrow(NotFoundError);
          await s.addDependency(b.id, a.id, 'blocks', 'x');
          await s.addDependency(c.id, b.id, 'blocks', 'x');
          await expect(s.addDependency(a.id, c.id, 'blocks', 'x')).rejects.toThrow(CycleError);
          // A child blocking its own ancestor would deadlock too.
          const epic = await s.create({ title: 'epic', issue_type: 'epic' }, 'x');
          const kid = await s.create({ title: 'kid', parent: epic.id }, 'x');
          await expect(s.addDependency(epic.id, kid.id, 'blocks', 'x')).rejects.toThrow(CycleError);
          // Non-blocking links may point either way.
          await expect(s.addDependency(a.id, c.id, 'related', 'x')).resolves.toMatchObject({ status: 'added' });
          expect((await s.events({ eventType: 'dependency_added' })).length).toBe(3);
        }));

      it('is idempotent for the same edge and refuses a second type for a pair', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'a' }, 'x');
          const b = await s.create({ title: 'b' }, 'x');
          expect((await s.addDependency(a.id, b.id, 'blocks', 'x')).status).toBe('added');
          expect((await s.addDependency(a.id, b.id, 'blocks', 'x')).status).toBe('unchanged');
          await expect(s.addDependency(a.id, b.id, 'related', 'x')).rejects.toThrow(ConflictError);
          expect((await s.removeDependency(a.id, b.id, 'x')).status).toBe('removed');
          await expect(s.removeDependency(a.id, b.id, 'x')).rejects.toThrow(NotFoundError);
        }));

      it('lists edges both ways and walks the tree without repeating shared nodes', () =>
        withStore(async (s) => {
          const root = await s.create({ title: 'root' }, 'x');
          const left = await s.create({ title: 'left' }, 'x');
          const right = await s.create({ title: 'right' }, 'x');
          const shared = await s.create({ title: 'shared' }, 'x');
          await s.addDependency(root.id, left.id, 'blocks', 'x');
          await s.addDependency(root.id, right.id, 'blocks', 'x');
          await s.addDependency(left.id, shared.id, 'blocks', 'x');
          await s.addDependency(right.id, shared.id, 'blocks', 'x');
          expect((await s.dependencies(shared.id, 'up')).map((v) => v.id).sort()).toEqual([left.id, right.id].sort());
          const tree = await s.dependencyTree(root.id, 'down', 10);
          expect(tree.map((n) => [n.id, n.depth, n.truncated]).filter(([id]) => id === shared.id)).toEqual([
            [shared.id, 2, false],
            [shared.id, 2, true],
          ]);
          expect((await s.dependencyTree(root.id, 'down', 1)).length).toBe(3);
        }));

      it('adds and removes labels idempotently', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'a' }, 'x');
          const b = await s.create({ title: 'b' }, 'x');
          expect((await s.addLabels([a.id, b.id], ['urgent'], 'x')).map((c) => c.status)).toEqual(['added', 'added']);
          expect((await s.addLabels([a.id], ['urgent'], 'x')).map((c) => c.status)).toEqual(['unchanged']);
          expect(await s.allLabels()).toEqual([{ label: 'urgent', count: 2 }]);
          expect((await s.removeLabels([a.id], ['urgent'], 'x')).map((c) => c.status)).toEqual(['removed']);
          expect(await s.labels(a.id)).toEqual([]);
          expect((await s.list({ labels: ['urgent'] })).map((x) => x.id)).toEqual([b.id]);
        }));

      it('keeps comments in order with their authors', () =>
        withStore(async (s, advance) => {
          const a = await s.create({ title: 'a' }, 'x');
          await s.addComment(a.id, 'first', 'alice');
          advance(5);
          await s.addComment(a.id, 'second\nline', 'bob');
          expect((await s.comments(a.id)).map((c) => [c.author, c.text])).toEqual([
            ['alice', 'first'],
            ['bob', 'second\nline'],
          ]);
          await expect(s.addComment(a.id, ' ', 'x')).rejects.toThrow(ValidationError);
          await expect(s.addComment('gt-none', 'x', 'x')).rejects.toThrow(NotFoundError);
          expect((await s.list({}))[0]?.comment_count).toBe(2);
        }));
    });

    describe('list, search, stats', () => {
      it('lists all but closed by default, and filters by status, type and assignee', () =>
        withStore(async (s) => {
          const open = await s.create({ title: 'open bug', issue_type: 'bug' }, 'x');
          const closed = await s.create({ title: 'closed' }, 'x');
          await s.close([closed.id], {}, 'x');
          const mine = await s.create({ title: 'mine', assignee: 'me' }, 'x');
          expect((await s.list({})).map((b) => b.id).sort()).toEqual([open.id, mine.id].sort());
          expect((await s.list({ statuses: ['closed'] })).map((b) => b.id)).toEqual([closed.id]);
          expect((await s.list({ types: ['bug'] })).map((b) => b.id)).toEqual([open.id]);
          expect((await s.list({ assignee: 'me' })).map((b) => b.id)).toEqual([mine.id]);
        }));

      it('searches id, title, description and notes, case-insensitively', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'Login is BROKEN' }, 'x');
          const b = await s.create({ title: 'other', notes: 'the login page' }, 'x');
          await s.create({ title: 'unrelated' }, 'x');
          expect((await s.search('login', {})).map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
          expect((await s.search(a.id, {})).map((r) => r.id)).toEqual([a.id]);
          expect(await s.search('%', {})).toEqual([]);
        }));

      it('counts by status and ready work', () =>
        withStore(async (s) => {
          const a = await s.create({ title: 'a' }, 'x');
          await s.create({ title: 'b', depends_on: [a.id] }, 'x');
          const c = await s.create({ title: 'c' }, 'x');
          await s.claim(c.id, 'w');
          expect(await s.stats()).toMatchObject({
            total_issues: 3,
            open_issues: 2,
            in_progress_issues: 1,
            ready_issues: 1,
            blocked_issues: 1,
          });
        }));
    });

    describe('JSONL', () => {
      it('exports deterministically, sorted by id, and round-trips into a fresh store', async () => {
        const first = make();
        const second = make();
        try {
          const s = first.store;
          const a = await s.create({ title: 'a', labels: ['z', 'y'], description: 'multi\nline "quoted"' }, 'x');
          const b = await s.create({ title: 'b', depends_on: [a.id], metadata: { n: 1 } }, 'x');
          await s.addComment(b.id, 'note', 'bob');
          await s.create({ title: 'wisp', ephemeral: true }, 'x');
          const one = await s.exportJsonl({});
          const two = await s.exportJsonl({});
          expect(one.text).toBe(two.text);
          expect(one.count).toBe(2);
          const ids = one.text
            .trim()
            .split('\n')
            .map((l) => (JSON.parse(l) as { id: string }).id);
          expect(ids).toEqual([...ids].sort());
          const report = await second.store.importJsonl(one.text, 'importer');
          expect(report).toMatchObject({ created: 2, updated: 0, unchanged: 0 });
          expect((await second.store.exportJsonl({})).text).toBe(one.text);
          expect(await second.store.importJsonl(one.text, 'importer')).toMatchObject({
            created: 0,
            updated: 0,
            unchanged: 2,
          });
          expect((await second.store.exportJsonl({})).text).toBe(one.text);
        } finally {
          first.cleanup();
          second.cleanup();
        }
      });

      it('never overwrites a newer local change, and takes a newer incoming one', () =>
        withStore(async (s, advance) => {
          const b = await s.create({ title: 'original' }, 'x');
          const exported = (await s.exportJsonl({})).text;
          advance(1000);
          await s.update([b.id], { title: 'local edit' }, 'x');
          expect(await s.importJsonl(exported, 'i')).toMatchObject({ kept_local: 1, updated: 0 });
          expect((await s.show([b.id]))[0]?.title).toBe('local edit');
          const record = JSON.parse(exported.trim()) as Record<string, unknown>;
          const newer = JSON.stringify({ ...record, title: 'remote edit', updated_at: '2099-01-01T00:00:00Z' });
          expect(await s.importJsonl(newer, 'i')).toMatchObject({ updated: 1 });
          expect((await s.show([b.id]))[0]?.title).toBe('remote edit');
        }));

      it('rejects a bad line with its number and writes nothing', () =>
        withStore(async (s) => {
          const good = JSON.stringify({
            id: 'gt-1',
            title: 'ok',
            status: 'open',
            priority: 1,
            issue_type: 'task',
            created_at: '2026-01-01T00:00:00Z',
          });
          for (const [bad, message] of [
            ['{not json', 'line 2: not valid JSON'],
            [
              JSON.stringify({ id: 'gt-2', title: 'x', priority: 9, created_at: '2026-01-01T00:00:00Z' }),
              'line 2 (field priority)',
            ],
            [JSON.stringify({ id: 'gt-2', title: 'x', created_at: 'soon' }), 'line 2 (field created_at)'],
            [JSON.stringify({ id: 'bad id', title: 'x', created_at: '2026-01-01T00:00:00Z' }), 'line 2 (field id)'],
            [good, 'line 2: duplicate id gt-1'],
          ] as const) {
            await expect(s.importJsonl(`${good}\n${bad}\n`, 'i')).rejects.toThrow(message);
          }
          expect(await s.list({ statuses: ['open'] })).toEqual([]);
        }));

      it('keeps unknown statuses, types and fields, and skips tombstones', () =>
        withStore(async (s) => {
          const lines = [
            {
              id: 'gt-1',
              title: 'gate',
              status: 'open',
              priority: 1,
              issue_type: 'gate',
              created_at: '2026-01-01T00:00:00-05:00',
              await_type: 'gh:run',
              timeout: 1800000000000,
            },
            {
              id: 'gt-2',
              title: 'custom',
              status: 'in_review',
              priority: 1,
              issue_type: 'task',
              created_at: '2026-01-01T00:00:00Z',
            },
            {
              id: 'gt-3',
              title: 'gone',
              status: 'tombstone',
              priority: 1,
              issue_type: 'task',
              created_at: '2026-01-01T00:00:00Z',
            },
          ];
          const report = await s.importJsonl(lines.map((l) => JSON.stringify(l)).join('\n'), 'i');
          expect(report).toMatchObject({ created: 2, skipped: 1 });
          const [gate, custom] = await s.show(['gt-1', 'gt-2']);
          expect(gate).toMatchObject({
            issue_type: 'gate',
            created_at: '2026-01-01T05:00:00Z',
            extra: { await_type: 'gh:run', timeout: 1800000000000 },
          });
          expect(custom?.status).toBe('in_review');
          await expect(s.show(['gt-3'])).rejects.toThrow(NotFoundError);
        }));
    });
  });
}
