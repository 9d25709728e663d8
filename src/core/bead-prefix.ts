/**
 * Which prefix a new bead gets. In a town every rig has its own prefix: a bead created anywhere inside a rig's
 * directory (its polecats' and crew's sandboxes, its refinery and witness) is that rig's work; anywhere else it
 * is the store's own prefix (`hq` for a town). Pure: paths are compared as text, already made absolute and
 * real by the caller.
 */

export type PrefixedPath = { prefix: string; path: string };

function within(dir: string, root: string): boolean {
  const r = root.endsWith('/') ? root.slice(0, -1) : root;
  return dir === r || dir.startsWith(`${r}/`);
}

/** The prefix of the rig whose directory holds `dir` (the deepest, should rigs ever nest), if any. */
export function rigPrefixFor(dir: string, rigs: readonly PrefixedPath[]): string | undefined {
  let best: PrefixedPath | undefined;
  for (const rig of rigs) {
    if (within(dir, rig.path) && (best === undefined || rig.path.length > best.path.length)) best = rig;
  }
  return best?.prefix;
}

/** An explicit prefix wins; then the rig the command runs in; then the store's own prefix. */
export function choosePrefix(explicit: string | undefined, rigPrefix: string | undefined, storePrefix: string): string {
  return explicit ?? rigPrefix ?? storePrefix;
}
