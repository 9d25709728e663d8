/**
 * Polecat names. A rig hands out the first free name of its theme; when every name is taken it carries on with
 * numbered ones (`aster2`, `birch2`, …). Which names are taken is derived from what exists (agents and
 * sandboxes), never from a counter that could drift from reality.
 */
export const DEFAULT_THEME: readonly string[] = [
  'aster',
  'birch',
  'cedar',
  'dune',
  'ember',
  'fern',
  'glade',
  'heath',
  'iris',
  'juniper',
  'kestrel',
  'larch',
  'maple',
  'nettle',
  'oak',
  'pine',
  'quill',
  'rowan',
  'sage',
  'thistle',
  'umber',
  'vale',
  'willow',
  'yarrow',
  'zephyr',
  'acorn',
  'bramble',
  'clover',
  'dove',
  'elm',
  'finch',
  'gorse',
  'hazel',
  'ivy',
  'jay',
  'kale',
  'lark',
  'moss',
  'newt',
  'otter',
  'plover',
  'quince',
  'reed',
  'sorrel',
  'tansy',
  'wren',
  'alder',
  'bracken',
  'cress',
  'dale',
  'egret',
  'flint',
  'heron',
  'linnet',
  'marten',
  'pebble',
  'robin',
  'swift',
  'teal',
  'vetch',
];

export function allocateName(inUse: ReadonlySet<string>, theme: readonly string[] = DEFAULT_THEME): string {
  if (theme.length === 0) throw new RangeError('a name theme needs at least one name');
  const free = theme.find((n) => !inUse.has(n));
  if (free !== undefined) return free;
  for (let round = 2; ; round++) {
    const numbered = theme.map((n) => `${n}${round}`).find((n) => !inUse.has(n));
    if (numbered !== undefined) return numbered;
  }
}
