import type { Bead, BeadDetails, Dependency } from '../core/bead.js';
import { NON_WORK_TYPES, STATUSES } from '../core/bead.js';
import {
  CONVOY_KEYS,
  CONVOY_TYPE,
  convoyExpectation,
  convoyView,
  epicLeaves,
  idleWork,
  landingDecision,
  landingMail,
  landingRecipients,
  landingWrite,
  LANDED_REASON,
  readConvoy,
  type ConvoyRecord,
  TRACKS,
  type ConvoyView,
  type TrackedBead,
  type TrackedFacts,
} from '../core/convoy.js';
import { ConflictError, errorMessage, NotFoundError, ValidationError } from '../core/errors.js';
import { OVERSEER, parseAddress, TOWN_PREFIX } from '../core/identity.js';
import { readMergeRequest } from '../core/merge-request.js';
import type { TownStore } from '../core/town-store.js';
import { openBlockers, showExisting } from './blockers.js';
import { recipientsOf, sendMailOnce } from './mail.js';

/**
 * Convoys' executor: making them, adding to them, looking at them, and landing them (the rules are in
 * core/convoy.ts). What a convoy tracks is its `tracks` edges, plus the beads an add has announced in its
 * metadata (`convoy_adding`) before making their edges, so that a process killed between the two never leaves
 * a convoy that looks complete without them; the next add or check makes the missing edges.
 *
 * A landing tells first, then closes: each recipient's mail has one id per landing, so two processes that
 * land a convoy at once send it once, and the close is a compare-and-set on the convoy's revision, so one of
 * them records it. A process killed between the two leaves it open and complete: the next check sends nothing
 * again (the mail is there) and closes it.
 */

export type ConvoyContext = {
  store: TownStore;
  actor: string;
  now: () => number;
  progress?: (line: string) => void;
};

const ADDING = 'convoy_adding';
/** Compare-and-set retries before giving up (each loses only to another writer that made progress). */
const CAS_TRIES = 8;

type ConvoyBead = Bead & { dependencies: readonly Dependency[] };

function isConvoy(b: Pick<Bead, 'issue_type'>): boolean {
  return b.issue_type === CONVOY_TYPE;
}

/** The convoy `id`: NotFoundError when there is none, ValidationError when the bead is something else. */
export async function convoyBead(store: TownStore, id: string): Promise<BeadDetails> {
  const [bead] = await store.show([id]).catch((err: unknown) => {
    if (err instanceof NotFoundError)
      throw new NotFoundError(`no convoy ${id}`, { hint: '"gt convoy list --all" lists the convoys' });
    throw err;
  });
  if (bead === undefined) throw new NotFoundError(`no convoy ${id}`);
  if (!isConvoy(bead))
    throw new ValidationError(`${id} is not a convoy (it is a ${bead.issue_type})`, {
      hint: '"gt convoy list --all" lists the convoys',
    });
  return bead;
}

/** Open convoys, oldest first: one query, and nothing more when there are none. */
export async function openConvoys(store: TownStore): Promise<ConvoyBead[]> {
  return store.list({ types: [CONVOY_TYPE], sort: 'oldest', limit: 0 });
}

function adding(b: Pick<Bead, 'metadata'>): string[] {
  const v = b.metadata[ADDING];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** What a convoy tracks, in the order it was given: its edges, then beads announced but not edged yet. */
export function trackedIds(b: ConvoyBead): string[] {
  const edges = b.dependencies
    .filter((d) => d.type === TRACKS)
    .sort((x, y) => x.created_at.localeCompare(y.created_at) || x.depends_on_id.localeCompare(y.depends_on_id))
    .map((d) => d.depends_on_id);
  return [...new Set([...edges, ...adding(b)])];
}

/** Views of these convoys, looked up together: the tracked beads, their blockers, merge requests, the queue. */
export async function viewsOf(store: TownStore, convoys: readonly ConvoyBead[]): Promise<ConvoyView[]> {
  if (convoys.length === 0) return [];
  const ids = convoys.map(trackedIds);
  const beads = await showExisting(store, ids.flat());
  const byId = new Map(beads.map((b) => [b.id, b]));
  const mrIds = beads.flatMap((b) => {
    const mr = b.metadata.gt_merge_request;
    return typeof mr === 'string' && mr !== '' ? [mr] : [];
  });
  const [blockers, mrs, pending, rigs] = await Promise.all([
    openBlockers(store, beads),
    showExisting(store, mrIds),
    store.pendingSlings(),
    store.rigs(),
  ]);
  const mrById = new Map(mrs.map((m) => [m.id, readMergeRequest(m)]));
  const queued = new Set(pending.map((p) => p.bead));
  const rigOf = (id: string): string | null => rigs.find((r) => id.startsWith(`${r.prefix}-`))?.name ?? null;
  return convoys.map((c, i) =>
    convoyView(
      c,
      (ids[i] ?? []).flatMap((id): TrackedFacts[] => {
        const b = byId.get(id);
        if (b === undefined) return [];
        const mr = b.metadata.gt_merge_request;
        return [
          {
            bead: b,
            rig: rigOf(b.id),
            blockers: blockers.get(b.id) ?? [],
            queued: queued.has(b.id),
            mergeRequest: typeof mr === 'string' ? mrById.get(mr) : undefined,
          },
        ];
      }),
    ),
  );
}

export async function convoyStatus(ctx: ConvoyContext, id: string): Promise<ConvoyView> {
  const [v] = await viewsOf(ctx.store, [await convoyBead(ctx.store, id)]);
  if (v === undefined) throw new NotFoundError(`no convoy ${id}`);
  return v;
}

/**
 * Open convoys (`all`: every one; `closedSinceMs`: also those closed or landed since then), with their views.
 * `where` picks by the convoy's own record before any view is built, so that a look at a few convoys among many
 * reads the tracked beads of those few only.
 */
export async function listConvoys(
  ctx: ConvoyContext,
  options: { all?: boolean; closedSinceMs?: number; where?: (record: ConvoyRecord) => boolean } = {},
): Promise<ConvoyView[]> {
  const convoys =
    options.all === true
      ? await ctx.store.list({ types: [CONVOY_TYPE], statuses: STATUSES, sort: 'oldest', limit: 0 })
      : [
          ...(await openConvoys(ctx.store)),
          ...(options.closedSinceMs === undefined ? [] : await closedConvoysSince(ctx.store, options.closedSinceMs)),
        ];
  const where = options.where;
  return viewsOf(ctx.store, where === undefined ? convoys : convoys.filter((c) => where(readConvoy(c))));
}

/** Convoys closed (landed or by hand) and updated since `sinceMs`, oldest first. */
function closedConvoysSince(store: TownStore, sinceMs: number): Promise<ConvoyBead[]> {
  return store.list({
    types: [CONVOY_TYPE],
    statuses: ['closed'],
    updatedSince: new Date(sinceMs).toISOString(),
    sort: 'oldest',
    limit: 0,
  });
}

/** Open convoys that track `beadId` (one query). */
export async function convoysTracking(store: TownStore, beadId: string): Promise<string[]> {
  const up = await store.dependencies(beadId, 'up');
  return up
    .filter((d) => d.dependency_type === TRACKS && isConvoy(d) && d.status !== 'closed')
    .map((d) => d.id)
    .sort();
}

export type CreateConvoyInput = {
  name: string;
  beads: readonly string[];
  owner?: string;
  request?: string;
  fromEpic?: string;
  /** The daemon feeds its ready beads to free capacity. */
  feed?: boolean;
  /** gt sling made it (and its beads go to `rig` when their ids name no rig). */
  bySling?: boolean;
  rig?: string;
};

/**
 * Who is told when a convoy lands: `--owner` when given (an agent that exists, the overseer or a group; checked
 * now, so a typo is refused rather than found out at the landing), else whoever makes it — an agent by its
 * address, a person (any other actor, such as a git name with spaces) as the overseer.
 */
async function ownerOf(ctx: ConvoyContext, given: string | undefined): Promise<string> {
  if (given === undefined) return mailAddressOf(ctx.store, ctx.actor);
  const owner = given.trim();
  if (owner === '') throw new ValidationError('--owner needs an address', { hint: 'e.g. --owner overseer' });
  await recipientsOf(ctx.store, owner);
  return owner;
}

/** An actor as a mail address: an agent's own address, or the overseer for a person. */
async function mailAddressOf(store: TownStore, actor: string): Promise<string> {
  try {
    parseAddress(actor);
    await store.agent(actor);
    return actor;
  } catch {
    return OVERSEER;
  }
}

/** Who signs a convoy's landing notice: the mechanism, whoever ran the check that saw it land. */
export const CONVOY_SENDER = 'convoy';

/** The beads to track, checked: they exist and none is a convoy. */
async function trackable(store: TownStore, ids: readonly string[]): Promise<BeadDetails[]> {
  const unique = [...new Set(ids.map((i) => i.trim()).filter((i) => i !== ''))];
  if (unique.length === 0) return [];
  const beads = await store.show(unique);
  const convoy = beads.find(isConvoy);
  if (convoy !== undefined)
    throw new ValidationError(`${convoy.id} is a convoy: a convoy tracks work, not other convoys`, {
      hint: `add that convoy's beads instead ("gt convoy status ${convoy.id}" lists them)`,
    });
  return beads;
}

/** The open leaves below an epic, breadth first. */
async function leavesOf(store: TownStore, epic: string): Promise<string[]> {
  await store.show([epic]);
  const children = new Map<string, Bead[]>();
  const queue = [epic];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    if (children.has(id)) continue;
    // Work only: a molecule's steps (and mail, merge requests) are not work a convoy tracks.
    const kids = (await store.list({ parent: id, statuses: STATUSES, sort: 'oldest', limit: 0 })).filter(
      (k) => !NON_WORK_TYPES.includes(k.issue_type),
    );
    children.set(id, kids);
    queue.push(...kids.map((k) => k.id));
  }
  const leaves = epicLeaves(epic, children);
  if (leaves.length === 0)
    throw new ValidationError(`${epic} has no open work below it`, {
      hint: `give it children first: bd create "<title>" --parent ${epic}`,
    });
  return leaves;
}

export async function createConvoy(ctx: ConvoyContext, input: CreateConvoyInput): Promise<ConvoyView> {
  const name = input.name.trim();
  if (name === '') throw new ValidationError('a convoy needs a name', { hint: 'gt convoy create "<name>" <bead>...' });
  const owner = await ownerOf(ctx, input.owner);
  if (input.request !== undefined) await ctx.store.show([input.request]);
  const fromEpic = input.fromEpic === undefined ? [] : await leavesOf(ctx.store, input.fromEpic);
  const beads = await trackable(ctx.store, [...fromEpic, ...input.beads]);
  const ids = beads.map((b) => b.id);
  const created = await ctx.store.create(
    {
      title: name,
      issue_type: CONVOY_TYPE,
      prefix: TOWN_PREFIX,
      description: `A convoy: it lands when every bead it tracks is closed, and ${owner} is told.`,
      metadata: {
        [CONVOY_KEYS.owner]: owner,
        [CONVOY_KEYS.rev]: 1,
        [CONVOY_KEYS.landings]: 0,
        [ADDING]: ids,
        ...(input.request !== undefined ? { [CONVOY_KEYS.request]: input.request } : {}),
        ...(input.feed === true ? { [CONVOY_KEYS.feed]: true } : {}),
        ...(input.bySling === true ? { [CONVOY_KEYS.madeBy]: 'sling' } : {}),
        ...(input.rig !== undefined ? { [CONVOY_KEYS.rig]: input.rig } : {}),
        ...(input.fromEpic !== undefined ? { [CONVOY_KEYS.epic]: input.fromEpic } : {}),
      },
    },
    ctx.actor,
  );
  await finishAdding(ctx, created.id);
  return convoyStatus(ctx, created.id);
}

/** Makes the edges an add announced, then clears the announcement (compare-and-set, retried). */
async function finishAdding(ctx: ConvoyContext, id: string): Promise<void> {
  for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
    const bead = await convoyBead(ctx.store, id);
    const wanted = adding(bead);
    if (wanted.length === 0) return;
    const edged = new Set(bead.dependencies.filter((d) => d.type === TRACKS).map((d) => d.depends_on_id));
    for (const b of wanted)
      if (!edged.has(b))
        await ctx.store.addDependency(id, b, TRACKS, ctx.actor).catch((err: unknown) => {
          // Deleted since it was announced: nothing to track.
          if (!(err instanceof NotFoundError)) throw err;
        });
    try {
      await ctx.store.update(
        [id],
        { metadata: { [ADDING]: null }, expect: { metadata: convoyExpectation(bead.metadata) } },
        ctx.actor,
      );
      return;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
}

/** Adds beads to a convoy; a convoy that landed or was closed opens again (its next landing is told again). */
export async function addToConvoy(ctx: ConvoyContext, id: string, beadIds: readonly string[]): Promise<ConvoyView> {
  const beads = await trackable(ctx.store, beadIds);
  if (beads.length === 0) throw new ValidationError('nothing to add', { hint: `gt convoy add ${id} <bead>...` });
  for (let attempt = 0; ; attempt++) {
    const bead = await convoyBead(ctx.store, id);
    const tracked = new Set(trackedIds(bead));
    const fresh = beads.map((b) => b.id).filter((b) => !tracked.has(b));
    if (fresh.length === 0) break;
    const r = readConvoy(bead);
    // A landing told by a process killed before it recorded it counts: the next one is told again.
    const [owner] = landingRecipients(id, r.landings + 1, r.owner, bead.created_by);
    const told = r.status === 'open' && owner !== undefined && (await showExisting(ctx.store, [owner.id])).length > 0;
    try {
      await ctx.store.update(
        [id],
        {
          metadata: {
            [ADDING]: [...adding(bead), ...fresh],
            [CONVOY_KEYS.rev]: r.rev + 1,
            [CONVOY_KEYS.landedAt]: null,
            ...(told ? { [CONVOY_KEYS.landings]: r.landings + 1 } : {}),
          },
          ...(bead.status === 'closed' ? { status: 'open' } : {}),
          expect: { status: bead.status, metadata: convoyExpectation(bead.metadata) },
        },
        ctx.actor,
      );
      if (bead.status === 'closed')
        await ctx.store.addComment(id, `Opened again: ${fresh.join(', ')} added by ${ctx.actor}.`, ctx.actor);
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= CAS_TRIES) throw err;
    }
  }
  await finishAdding(ctx, id);
  return convoyStatus(ctx, id);
}

export type LandResult = { convoy: ConvoyView; told: { to: string; mail: string | null; error: string | null }[] };

/**
 * Lands a convoy seen complete: tells (one mail id per landing and recipient), then closes it by
 * compare-and-set. Null when another process recorded the landing first, or a bead was added meanwhile (then
 * the landing counts, and the convoy stays open for the new bead).
 */
async function land(ctx: ConvoyContext, bead: ConvoyBead, view: ConvoyView): Promise<LandResult | null> {
  const record = readConvoy(bead);
  const decision = landingDecision(record, view.progress);
  if (!decision.land) return null;
  const mail = landingMail(view, decision.landing);
  const told: LandResult['told'] = [];
  const creator = await mailAddressOf(ctx.store, view.created_by);
  for (const r of landingRecipients(view.id, decision.landing, view.owner, creator)) {
    const send = (to: string) => sendMailOnce(ctx.store, { id: r.id, from: CONVOY_SENDER, to, ...mail });
    try {
      const sent = await send(r.to);
      told.push({ to: r.to, mail: sent.id, error: null });
    } catch (err) {
      if (!(err instanceof NotFoundError || err instanceof ValidationError)) throw err;
      ctx.progress?.(`no mail to ${r.to} about ${view.id}: ${errorMessage(err)}`);
      // An owner that is gone (an agent removed since) leaves a person to be told: the overseer.
      const fallback = r.id.endsWith('-o') && r.to !== OVERSEER ? await send(OVERSEER) : null;
      told.push({ to: fallback === null ? r.to : OVERSEER, mail: fallback?.id ?? null, error: errorMessage(err) });
    }
  }
  const nowIso = new Date(ctx.now()).toISOString();
  try {
    await ctx.store.update(
      [view.id],
      {
        status: 'closed',
        close_reason: LANDED_REASON,
        metadata: landingWrite(record, nowIso),
        expect: { status: 'open', metadata: convoyExpectation(bead.metadata) },
      },
      ctx.actor,
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const fresh = await convoyBead(ctx.store, view.id);
    const now = readConvoy(fresh);
    if (now.landings >= decision.landing) return null; // recorded by another process
    // A bead was added after the mail went: the landing counts; the convoy stays open for what came.
    await ctx.store
      .update(
        [view.id],
        {
          metadata: { [CONVOY_KEYS.landings]: decision.landing, [CONVOY_KEYS.rev]: now.rev + 1 },
          expect: { metadata: convoyExpectation(fresh.metadata) },
        },
        ctx.actor,
      )
      .catch((e: unknown) => {
        if (!(e instanceof ConflictError)) throw e;
      });
    return null;
  }
  return { convoy: { ...view, status: 'landed', landed_at: nowIso, landings: decision.landing }, told };
}

export type CheckReport = {
  checked: number;
  landed: LandResult[];
  /** Open convoys not complete yet, with why. */
  open: { id: string; name: string; why: string }[];
};

/** Checks open convoys (or one) and lands each complete one. */
export async function checkConvoys(ctx: ConvoyContext, id?: string): Promise<CheckReport> {
  const convoys = id !== undefined ? [await convoyBead(ctx.store, id)] : await openConvoys(ctx.store);
  return checkThese(ctx, convoys);
}

async function checkThese(ctx: ConvoyContext, found: readonly ConvoyBead[]): Promise<CheckReport> {
  const report: CheckReport = { checked: 0, landed: [], open: [] };
  if (found.length === 0) return report;
  const convoys: ConvoyBead[] = [];
  for (const c of found) {
    if (adding(c).length === 0) convoys.push(c);
    else {
      await finishAdding(ctx, c.id); // an add killed midway
      convoys.push(await convoyBead(ctx.store, c.id));
    }
  }
  const views = await viewsOf(ctx.store, convoys);
  for (const [i, v] of views.entries()) {
    const bead = convoys[i];
    if (bead === undefined) continue;
    report.checked++;
    const decision = landingDecision(readConvoy(bead), v.progress);
    if (!decision.land) {
      if (v.status === 'open') report.open.push({ id: v.id, name: v.name, why: decision.why });
      continue;
    }
    const landed = await land(ctx, bead, v);
    if (landed !== null) {
      report.landed.push(landed);
      ctx.progress?.(`convoy ${v.id} (${v.name}) landed`);
    }
  }
  return report;
}

/** After `beadId` closed: checks the open convoys that track it (the refinery, right after a landing). */
export async function checkConvoysTracking(ctx: ConvoyContext, beadId: string): Promise<CheckReport> {
  const ids = await convoysTracking(ctx.store, beadId);
  if (ids.length === 0) return { checked: 0, landed: [], open: [] };
  return checkThese(ctx, await Promise.all(ids.map((id) => convoyBead(ctx.store, id))));
}

/**
 * Closes a convoy. A complete one lands (and is told); one with open beads is refused unless `force`, which
 * closes it without landing.
 */
export async function closeConvoy(
  ctx: ConvoyContext,
  id: string,
  options: { force?: boolean } = {},
): Promise<{ convoy: ConvoyView; landed: boolean }> {
  for (let attempt = 0; ; attempt++) {
    const bead = await convoyBead(ctx.store, id);
    const [view] = await viewsOf(ctx.store, [bead]);
    if (view === undefined) throw new NotFoundError(`no convoy ${id}`);
    if (view.status !== 'open')
      throw new ValidationError(`${id} is ${view.status} already`, {
        hint: `adding a bead opens it again: gt convoy add ${id} <bead>`,
      });
    const decision = landingDecision(readConvoy(bead), view.progress);
    if (decision.land) {
      const landed = await land(ctx, bead, view);
      if (landed !== null) return { convoy: landed.convoy, landed: true };
    } else {
      if (options.force !== true)
        throw new ConflictError(`${id} has not landed: ${decision.why}`, {
          hint: `gt convoy close ${id} --force closes it anyway, without a landing`,
        });
      try {
        await ctx.store.update(
          [id],
          {
            status: 'closed',
            close_reason: `closed by ${ctx.actor} before it landed`,
            metadata: { [CONVOY_KEYS.rev]: readConvoy(bead).rev + 1, [CONVOY_KEYS.landedAt]: null },
            expect: { status: 'open', metadata: convoyExpectation(bead.metadata) },
          },
          ctx.actor,
        );
        return { convoy: await convoyStatus(ctx, id), landed: false };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    if (attempt >= CAS_TRIES) throw new ConflictError(`${id} keeps changing`, { hint: 'try again' });
  }
}

export type StrandedWork = { convoy: string; name: string; bead: string; title: string; rig: string | null };

/** Ready work of open convoys that nobody has and nothing has queued. */
export async function strandedWork(ctx: ConvoyContext): Promise<StrandedWork[]> {
  const convoys = await openConvoys(ctx.store);
  const views = await viewsOf(ctx.store, convoys);
  return views.flatMap((v, i) => {
    const c = convoys[i];
    if (c === undefined) return [];
    return idleWork(v, readConvoy(c).rig).map((w: { bead: TrackedBead; rig: string | null }) => ({
      convoy: v.id,
      name: v.name,
      bead: w.bead.id,
      title: w.bead.title,
      rig: w.rig,
    }));
  });
}
