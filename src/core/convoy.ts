import { BLOCKING_DEPENDENCY_TYPES, RESOLVED_STATUSES, type Bead } from './bead.js';
import type { MergeRequest } from './merge-request.js';
import { freeSlots, retryDelayMs, type BusyPolecats, type PolecatLimits } from './scheduler.js';

/**
 * Convoys, pure: a convoy is a bead of type `convoy` in the town store that tracks beads of any rig through
 * non-blocking `tracks` edges (convoy → tracked bead). Its bookkeeping lives in its metadata under `convoy_*`
 * keys. It lands — the bead closes, `landed_at` is stamped and its landing count goes up — once every bead it
 * tracks is closed; adding a bead to a landed convoy opens it again, and the next landing is told again.
 * Every change of what it tracks, and every landing, moves its revision, which the executor compares and sets
 * so that two processes that check at once land it once.
 */

export const CONVOY_TYPE = 'convoy';
export const TRACKS = 'tracks';

export const CONVOY_KEYS = {
  owner: 'convoy_owner',
  /** The mail that asked for this work, when one did. */
  request: 'convoy_request',
  landedAt: 'convoy_landed_at',
  landings: 'convoy_landings',
  /** Moves with every change of what it tracks and every landing: what the compare-and-set compares. */
  rev: 'convoy_rev',
  /** The daemon feeds its ready beads to free capacity (convoys made by gt sling, or marked so). */
  feed: 'convoy_feed',
  /** `sling` when gt sling made it. */
  madeBy: 'convoy_made_by',
  /** The rig its ready beads are slung to when a bead's id names no rig (gt sling's target). */
  rig: 'convoy_rig',
  /** The epic it was made from (`--from-epic`). */
  epic: 'convoy_epic',
} as const;

/** What a tracked bead's own metadata says to the daemon's feed. */
export const FEED_KEYS = {
  /** Someone took it off a hook by hand (gt unsling): the feed leaves it alone until it is slung again. */
  unslung: 'gt_unslung',
  /** Feed slings of it that failed in a row, and when the last did: the next waits (back-off). */
  failures: 'convoy_feed_failures',
  failedAt: 'convoy_feed_failed_at',
} as const;

/**
 * Whether the feed leaves a ready bead alone now: a person (or agent) took it back by hand, or its last feed
 * slings failed and the back-off (5 s, doubling, at most 5 minutes) has not passed.
 */
export function feedHoldsBack(metadata: Readonly<Record<string, unknown>>, nowMs: number): boolean {
  if (metadata[FEED_KEYS.unslung] != null) return true;
  const failures = Number(metadata[FEED_KEYS.failures] ?? 0);
  const last = metadata[FEED_KEYS.failedAt];
  const at = typeof last === 'string' ? Date.parse(last) : NaN;
  if (!Number.isFinite(failures) || failures <= 0 || !Number.isFinite(at)) return false;
  return nowMs < at + retryDelayMs(failures);
}

/** What a closed convoy's close reason says when it landed. */
export const LANDED_REASON = 'landed';

export const CONVOY_STATUSES = ['open', 'landed', 'closed'] as const;
export type ConvoyStatus = (typeof CONVOY_STATUSES)[number];

/**
 * merged: closed by a landed merge request; closed: closed some other way; working: an agent has it (on a
 * hook, or handed in and waiting in the merge queue); queued: its sling waits in the scheduler's queue;
 * ready: open work nobody has; blocked: open beads block it (or it is blocked or deferred itself).
 */
export const TRACKED_STATES = ['merged', 'closed', 'working', 'queued', 'ready', 'blocked'] as const;
export type TrackedState = (typeof TRACKED_STATES)[number];

export type Progress = Record<'total' | TrackedState, number>;

/** A tracked bead with what the executor looked up about it. */
export type TrackedFacts = {
  bead: Pick<Bead, 'id' | 'title' | 'status' | 'assignee' | 'priority'>;
  /** The rig whose prefix its id carries, or null (a town bead). */
  rig: string | null;
  /** Open beads that block it (its blocking edges to beads not closed). */
  blockers: readonly string[];
  /** A sling of it waits in the scheduler's queue. */
  queued: boolean;
  /** The merge request gt done filed for it, if any. */
  mergeRequest: Pick<MergeRequest, 'id' | 'state' | 'source' | 'landedIn'> | undefined;
};

export type TrackedBead = {
  id: string;
  title: string;
  rig: string | null;
  status: string;
  priority: number;
  state: TrackedState;
  assignee: string | null;
  merge_request: string | null;
  /** The target commit that contains its merge, once merged. */
  merged_in: string | null;
  blocked_by: string[];
};

export type ConvoyView = {
  id: string;
  name: string;
  status: ConvoyStatus;
  owner: string;
  created_by: string;
  request: string | null;
  landed_at: string | null;
  landings: number;
  feed: boolean;
  progress: Progress;
  beads: TrackedBead[];
};

/** Edges whose target, while not closed, keeps the bead from being ready. */
export function isBlockingEdge(type: string): boolean {
  return BLOCKING_DEPENDENCY_TYPES.includes(type);
}

/** Whether a blocker in `status` still blocks. */
export function stillBlocks(status: string): boolean {
  return !RESOLVED_STATUSES.has(status);
}

export function trackedState(f: TrackedFacts): TrackedState {
  const { status } = f.bead;
  if (status === 'closed') {
    const mr = f.mergeRequest;
    return mr !== undefined && mr.state === 'landed' && (mr.source === '' || mr.source === f.bead.id)
      ? 'merged'
      : 'closed';
  }
  if (status === 'hooked' || status === 'in_progress') return 'working';
  if (f.blockers.length > 0 || status === 'blocked' || status === 'deferred') return 'blocked';
  if (f.queued) return 'queued';
  return 'ready';
}

export function trackedBead(f: TrackedFacts): TrackedBead {
  const state = trackedState(f);
  return {
    id: f.bead.id,
    title: f.bead.title,
    rig: f.rig,
    status: f.bead.status,
    priority: f.bead.priority,
    state,
    assignee: f.bead.assignee,
    merge_request: f.mergeRequest?.id ?? null,
    merged_in: state === 'merged' ? (f.mergeRequest?.landedIn ?? null) : null,
    blocked_by: [...f.blockers],
  };
}

/** The counts: `closed` counts every closed bead, merged ones included; the other states add up to the rest. */
export function progressOf(beads: readonly Pick<TrackedBead, 'state'>[]): Progress {
  const p: Progress = { total: 0, merged: 0, closed: 0, working: 0, queued: 0, ready: 0, blocked: 0 };
  for (const b of beads) {
    p.total++;
    if (b.state === 'merged') {
      p.merged++;
      p.closed++;
    } else p[b.state]++;
  }
  return p;
}

/** Every tracked bead is closed (a convoy that tracks nothing never is). */
export function isComplete(p: Progress): boolean {
  return p.total > 0 && p.closed === p.total;
}

/** The convoy bead's fields as its metadata keeps them. */
export type ConvoyRecord = {
  status: ConvoyStatus;
  owner: string;
  request: string | null;
  landedAt: string | null;
  landings: number;
  rev: number;
  feed: boolean;
  rig: string | null;
};

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const count = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0);

export function readConvoy(bead: Pick<Bead, 'status' | 'created_by' | 'metadata'>): ConvoyRecord {
  const m = bead.metadata;
  const landedAt = str(m[CONVOY_KEYS.landedAt]);
  return {
    status: bead.status !== 'closed' ? 'open' : landedAt !== null ? 'landed' : 'closed',
    owner: str(m[CONVOY_KEYS.owner]) ?? bead.created_by,
    request: str(m[CONVOY_KEYS.request]),
    landedAt: bead.status === 'closed' ? landedAt : null,
    landings: count(m[CONVOY_KEYS.landings]),
    rev: count(m[CONVOY_KEYS.rev]),
    feed: m[CONVOY_KEYS.feed] === true || m[CONVOY_KEYS.madeBy] === 'sling',
    rig: str(m[CONVOY_KEYS.rig]),
  };
}

export function convoyView(
  bead: Pick<Bead, 'id' | 'title' | 'status' | 'created_by' | 'metadata'>,
  tracked: readonly TrackedFacts[],
): ConvoyView {
  const r = readConvoy(bead);
  const beads = tracked.map(trackedBead);
  return {
    id: bead.id,
    name: bead.title,
    status: r.status,
    owner: r.owner,
    created_by: bead.created_by,
    request: r.request,
    landed_at: r.landedAt,
    landings: r.landings,
    feed: r.feed,
    progress: progressOf(beads),
    beads,
  };
}

/**
 * What a check does with a convoy: land it (the landing's number, for one mail id per landing), or nothing
 * (with why, for the report).
 */
export function landingDecision(
  record: Pick<ConvoyRecord, 'status' | 'landings'>,
  progress: Progress,
): { land: true; landing: number } | { land: false; why: string } {
  if (record.status !== 'open') return { land: false, why: `it is ${record.status} already` };
  if (progress.total === 0) return { land: false, why: 'it tracks nothing yet' };
  if (!isComplete(progress)) return { land: false, why: `${progress.total - progress.closed} bead(s) still open` };
  return { land: true, landing: record.landings + 1 };
}

/**
 * What a compare-and-set on the convoy expects: its revision and landing count as stored now (absent is null),
 * so that a landing, a bead added or a close by another process in between makes the write fail.
 */
export function convoyExpectation(metadata: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return {
    [CONVOY_KEYS.rev]: metadata[CONVOY_KEYS.rev] ?? null,
    [CONVOY_KEYS.landings]: metadata[CONVOY_KEYS.landings] ?? null,
  };
}

/** The metadata a landing writes: the count and the revision move on, and it is stamped. */
export function landingWrite(record: Pick<ConvoyRecord, 'landings' | 'rev'>, nowIso: string): Record<string, unknown> {
  return {
    [CONVOY_KEYS.rev]: record.rev + 1,
    [CONVOY_KEYS.landings]: record.landings + 1,
    [CONVOY_KEYS.landedAt]: nowIso,
  };
}

/** Who hears of a landing: the owner, and whoever made it if another; each with its own mail id. */
export function landingRecipients(
  convoyId: string,
  landing: number,
  owner: string,
  createdBy: string,
): { to: string; id: string }[] {
  const out = [{ to: owner, id: `${convoyId}-landed${landing}-o` }];
  if (createdBy !== owner && createdBy !== '') out.push({ to: createdBy, id: `${convoyId}-landed${landing}-c` });
  return out;
}

/** The landing's mail: subject "Convoy landed: <name> (<id>)", and each bead with its merge request and commit. */
export function landingMail(
  v: Pick<ConvoyView, 'id' | 'name' | 'beads' | 'request'>,
  landing: number,
): {
  subject: string;
  body: string;
} {
  const merged = v.beads.filter((b) => b.state === 'merged').length;
  const lines = [
    `Convoy ${v.id} (${v.name}) has landed${landing > 1 ? ` again (landing ${landing})` : ''}: all ${v.beads.length} of its beads are closed, ${merged} merged.`,
    ...(v.request !== null ? [`It was asked for in ${v.request}.`] : []),
    '',
    ...v.beads.map((b) =>
      b.state === 'merged'
        ? `- ${b.id} ${b.title}: merged as ${b.merge_request ?? '?'}${b.merged_in !== null ? ` in ${b.merged_in.slice(0, 12)}` : ''}`
        : `- ${b.id} ${b.title}: closed without a merge`,
    ),
    '',
    `"gt convoy status ${v.id}" shows it.`,
  ];
  return { subject: `Convoy landed: ${v.name} (${v.id})`, body: lines.join('\n') };
}

/** The name gt sling gives the convoy it makes for several beads. */
export function slingConvoyName(titles: readonly string[]): string {
  const first = titles[0] ?? '';
  return `Work: ${first}${titles.length > 1 ? ` (+${titles.length - 1} more)` : ''}`;
}

/**
 * The convoy a sling of `beads` goes with: none for one bead or with `--no-convoy`; the open convoy that
 * already tracks all of them; else a new one.
 */
export function slingConvoyPlan(
  beads: readonly string[],
  openTracking: ReadonlyMap<string, readonly string[]>,
  noConvoy: boolean,
): { kind: 'none' } | { kind: 'existing'; convoy: string } | { kind: 'new' } {
  if (noConvoy || beads.length < 2) return { kind: 'none' };
  const [first, ...rest] = beads.map((b) => new Set(openTracking.get(b) ?? []));
  const common = [...(first ?? [])].filter((c) => rest.every((s) => s.has(c))).sort();
  return common[0] !== undefined ? { kind: 'existing', convoy: common[0] } : { kind: 'new' };
}

/** A bead a convoy's feed could sling now. */
export type FeedCandidate = {
  convoy: string;
  bead: string;
  /** Where it goes: its own rig, else the convoy's. */
  rig: string;
  priority: number;
};

/** Ready beads nobody has and nothing queued, of an open convoy, with the rig they would go to (or null). */
export function idleWork(
  v: Pick<ConvoyView, 'id' | 'status' | 'beads'>,
  convoyRig: string | null,
): { bead: TrackedBead; rig: string | null }[] {
  if (v.status !== 'open') return [];
  return v.beads
    .filter((b) => b.state === 'ready' && b.assignee === null)
    .map((b) => ({ bead: b, rig: b.rig ?? convoyRig }));
}

/**
 * What the daemon slings now for the convoys it feeds, in order (convoys as given — oldest first — then each
 * convoy's beads in priority order, then as tracked), while the bead's rig and the town have room. Slings
 * already waiting for a rig take its room first, and nothing is fed while the scheduler is paused.
 */
export function planFeed(input: {
  candidates: readonly FeedCandidate[];
  limits: PolecatLimits;
  busy: BusyPolecats;
  /** Queued slings (not blocked) per rig: they go before anything fed. */
  waiting: Readonly<Record<string, number>>;
  paused: boolean;
}): FeedCandidate[] {
  if (input.paused) return [];
  const rigs: Record<string, number> = { ...input.busy.rigs };
  let town = input.busy.town;
  for (const [rig, n] of Object.entries(input.waiting)) {
    rigs[rig] = (rigs[rig] ?? 0) + n;
    town += n;
  }
  const order = new Map<string, number>();
  for (const c of input.candidates) if (!order.has(c.convoy)) order.set(c.convoy, order.size);
  const sorted = input.candidates
    .map((c, i) => ({ c, i }))
    .sort(
      (a, b) => (order.get(a.c.convoy) ?? 0) - (order.get(b.c.convoy) ?? 0) || a.c.priority - b.c.priority || a.i - b.i,
    );
  const seen = new Set<string>();
  const out: FeedCandidate[] = [];
  for (const { c } of sorted) {
    if (seen.has(c.bead)) continue;
    seen.add(c.bead);
    if (freeSlots(input.limits, { town, rigs }, c.rig) <= 0) continue;
    town++;
    rigs[c.rig] = (rigs[c.rig] ?? 0) + 1;
    out.push(c);
  }
  return out;
}

/**
 * The leaves below an epic (breadth first, in the order given): beads with no children of their own,
 * closed ones left out. `children` maps a bead to its direct children.
 */
export function epicLeaves(
  epic: string,
  children: ReadonlyMap<string, readonly Pick<Bead, 'id' | 'status'>[]>,
): string[] {
  const out: string[] = [];
  const seen = new Set<string>([epic]);
  const queue = [...(children.get(epic) ?? [])];
  while (queue.length > 0) {
    const b = queue.shift();
    if (b === undefined || seen.has(b.id)) continue;
    seen.add(b.id);
    const kids = children.get(b.id) ?? [];
    if (kids.length === 0) {
      if (b.status !== 'closed') out.push(b.id);
    } else queue.push(...kids);
  }
  return out;
}
