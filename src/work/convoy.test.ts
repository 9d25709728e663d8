import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../core/errors.js';
import { openSqliteBeadStore, type SqliteBeadStore } from '../store/sqlite-bead-store.js';
import { addToConvoy, checkConvoys, convoyStatus, createConvoy, type ConvoyContext } from './convoy.js';
import { sendMailOnce } from './mail.js';

/** Convoys' executor over an in-memory store: landings racing in one process, and a landing killed midway. */

const stores: SqliteBeadStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.dispose();
});

async function setup(): Promise<{ store: SqliteBeadStore; ctx: ConvoyContext }> {
  const store = openSqliteBeadStore(':memory:');
  stores.push(store);
  store.setPrefixSync('hq');
  await store.registerAgent({ identity: { role: 'mayor' }, session_name: 'hq-mayor', sandbox_path: '/m' }, 'test');
  return { store, ctx: { store, actor: 'mayor', now: () => Date.parse('2026-11-24T00:00:00Z') } };
}

const landingMails = async (store: SqliteBeadStore): Promise<string[]> =>
  (await store.list({ types: ['message'], assignee: 'mayor', limit: 0 })).map((m) => m.id);

describe('landing a convoy', () => {
  it('lands once when checks race in one process: one mail, one recorded landing', async () => {
    const { store, ctx } = await setup();
    const a = await store.create({ title: 'a' }, 'mayor');
    const b = await store.create({ title: 'b' }, 'mayor');
    const c = await createConvoy(ctx, { name: 'pair', beads: [a.id, b.id] });
    await store.close([a.id, b.id], {}, 'mayor');
    const reports = await Promise.all([checkConvoys(ctx), checkConvoys(ctx), checkConvoys(ctx, c.id)]);
    expect(reports.flatMap((r) => r.landed).map((l) => l.convoy.id)).toEqual([c.id]);
    expect(await landingMails(store)).toEqual([`${c.id}-landed1-o`]);
    expect(await convoyStatus(ctx, c.id)).toMatchObject({ status: 'landed', landings: 1 });
  });

  it('a landing told but killed before it was recorded is recorded by the next check, telling nobody again', async () => {
    const { store, ctx } = await setup();
    const a = await store.create({ title: 'a' }, 'mayor');
    const c = await createConvoy(ctx, { name: 'one', beads: [a.id] });
    await store.close([a.id], {}, 'mayor');
    // What a killed lander left: its mail, and the convoy still open.
    await sendMailOnce(store, { id: `${c.id}-landed1-o`, from: 'mayor', to: 'mayor', subject: 'Convoy landed: one' });
    const r = await checkConvoys(ctx);
    expect(r.landed.map((l) => l.convoy.landings)).toEqual([1]);
    expect(await landingMails(store)).toEqual([`${c.id}-landed1-o`]);
  });

  it('a bead added after a killed lander told counts that landing: the next one is told again', async () => {
    const { store, ctx } = await setup();
    const a = await store.create({ title: 'a' }, 'mayor');
    const c = await createConvoy(ctx, { name: 'one', beads: [a.id] });
    await store.close([a.id], {}, 'mayor');
    await sendMailOnce(store, { id: `${c.id}-landed1-o`, from: 'mayor', to: 'mayor', subject: 'Convoy landed: one' });
    const b = await store.create({ title: 'b' }, 'mayor');
    expect(await addToConvoy(ctx, c.id, [b.id])).toMatchObject({ status: 'open', landings: 1 });
    await store.close([b.id], {}, 'mayor');
    expect((await checkConvoys(ctx)).landed.map((l) => l.convoy.landings)).toEqual([2]);
    expect((await landingMails(store)).sort()).toEqual([`${c.id}-landed1-o`, `${c.id}-landed2-o`]);
  });

  it('an add killed before its edges still counts its beads, and the next check makes the edges', async () => {
    const { store, ctx } = await setup();
    const a = await store.create({ title: 'a' }, 'mayor');
    const b = await store.create({ title: 'b' }, 'mayor');
    const c = await createConvoy(ctx, { name: 'one', beads: [a.id] });
    // The announcement written, the edge not yet.
    await store.update([c.id], { metadata: { convoy_adding: [b.id], convoy_rev: 9 } }, 'mayor');
    await store.close([a.id], {}, 'mayor');
    expect((await convoyStatus(ctx, c.id)).progress).toMatchObject({ total: 2, closed: 1 });
    expect((await checkConvoys(ctx)).landed).toEqual([]);
    expect((await store.dependencies(c.id, 'down')).map((d) => d.id).sort()).toEqual([a.id, b.id].sort());
    expect((await store.show([c.id]))[0]?.metadata.convoy_adding).toBeNull();
  });

  it('made by a person (a git name with a space), it is owned by the overseer, who is told once; --owner is checked', async () => {
    const { store, ctx } = await setup();
    const person = { ...ctx, actor: 'Ada Lovelace' };
    const a = await store.create({ title: 'a' }, 'Ada Lovelace');
    const c = await createConvoy(person, { name: 'for Ada', beads: [a.id] });
    expect(c.owner).toBe('overseer');
    await expect(createConvoy(person, { name: 'typo', beads: [a.id], owner: 'mayr' })).rejects.toThrow(/mayr/);
    await store.close([a.id], {}, 'Ada Lovelace');
    const [report] = await Promise.all([checkConvoys(person)]);
    expect(report?.landed[0]?.told.map((t) => [t.to, t.error])).toEqual([['overseer', null]]);
    const mail = await store.list({ types: ['message'], assignee: 'overseer', limit: 0 });
    expect(mail.map((m) => [m.title, m.labels.includes('from:convoy')])).toEqual([
      [`Convoy landed: for Ada (${c.id})`, true],
    ]);
  });

  it('refuses to track a convoy, and a compare-and-set that lost rejects with a conflict', async () => {
    const { store, ctx } = await setup();
    const a = await store.create({ title: 'a' }, 'mayor');
    const c = await createConvoy(ctx, { name: 'one', beads: [a.id] });
    await expect(createConvoy(ctx, { name: 'two', beads: [c.id] })).rejects.toThrow('is a convoy');
    await expect(
      store.update([c.id], { metadata: { x: 1 }, expect: { metadata: { convoy_rev: 0 } } }, 'mayor'),
    ).rejects.toThrow(ConflictError);
  });

  it('tracks its beads in the order given, even when every edge is made in the same millisecond', async () => {
    const store = openSqliteBeadStore(':memory:', { clock: { nowMs: () => Date.parse('2026-11-24T00:00:00Z') } });
    stores.push(store);
    store.setPrefixSync('hq');
    const ctx: ConvoyContext = { store, actor: 'mayor', now: () => Date.parse('2026-11-24T00:00:00Z') };
    const made = [];
    for (const title of ['a', 'b', 'c', 'd', 'e']) made.push((await store.create({ title }, 'mayor')).id);
    // Against the ids' sort order, so that a tie broken by id would show.
    const given = [...made].sort().reverse();
    const c = await createConvoy(ctx, { name: 'ordered', beads: given });
    expect(c.beads.map((b) => b.id)).toEqual(given);
  });
});
