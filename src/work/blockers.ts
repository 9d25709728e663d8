import type { BeadDetails } from '../core/bead.js';
import type { BeadStore } from '../core/bead-store.js';
import { isBlockingEdge, stillBlocks } from '../core/convoy.js';
import { NotFoundError } from '../core/errors.js';

/**
 * What blocks beads, as sling, the scheduler and convoys need it: each bead's blocking edges (blocks,
 * conditional-blocks, waits-for) to beads that are not closed. Two queries for any number of beads.
 */

/** The beads of `ids` that exist, in the order asked (one that was deleted meanwhile is left out). */
export async function showExisting(store: BeadStore, ids: readonly string[]): Promise<BeadDetails[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  try {
    return await store.show(unique);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    const found = await Promise.all(unique.map((id) => store.show([id]).catch(() => [])));
    return found.flat();
  }
}

/** The open blockers of each bead (a bead with none maps to an empty list). */
export async function openBlockers(
  store: BeadStore,
  beads: readonly Pick<BeadDetails, 'id' | 'dependencies'>[],
): Promise<Map<string, string[]>> {
  const edges = beads.map((b) => ({
    id: b.id,
    on: b.dependencies.filter((d) => isBlockingEdge(d.type)).map((d) => d.depends_on_id),
  }));
  const targets = [...new Set(edges.flatMap((e) => e.on))].filter((id) => !id.startsWith('external:'));
  const status = new Map((await showExisting(store, targets)).map((t) => [t.id, t.status]));
  return new Map(
    edges.map((e) => [
      e.id,
      e.on.filter((id) => {
        const s = status.get(id);
        return s !== undefined && stillBlocks(s);
      }),
    ]),
  );
}

/** The open blockers of beads named by id. */
export async function openBlockersOf(store: BeadStore, ids: readonly string[]): Promise<Map<string, string[]>> {
  if (ids.length === 0) return new Map();
  return openBlockers(store, await showExisting(store, ids));
}
