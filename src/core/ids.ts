import { sha256 } from './sha256.js';

/**
 * Bead ids: `<prefix>-<base36 hash>` whose length adapts to the size of the workspace, and child ids
 * `<parent>.<n>`. The hash algorithm is bit-compatible with beads (`internal/idgen/hash.go`), so the same
 * inputs give the same id in both tools.
 */

export const MIN_HASH_LENGTH = 3;
export const MAX_HASH_LENGTH = 8;
/** Acceptable probability that a new id collides with an existing one before we grow the length. */
export const MAX_COLLISION_PROBABILITY = 0.25;

const BYTES_FOR_LENGTH: Readonly<Record<number, number>> = { 3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 8: 5 };

export type HashIdInput = {
  prefix: string;
  title: string;
  description: string;
  creator: string;
  /** Creation time in nanoseconds since the epoch. */
  createdAtNs: bigint;
  nonce: number;
  length: number;
};

export function hashId(input: HashIdInput): string {
  const numBytes = BYTES_FOR_LENGTH[input.length];
  if (numBytes === undefined) throw new RangeError(`hash length ${input.length} is outside 3..8`);
  const content = `${input.title}|${input.description}|${input.creator}|${input.createdAtNs}|${input.nonce}`;
  const digest = sha256(new TextEncoder().encode(content));
  let value = 0n;
  for (let i = 0; i < numBytes; i++) value = (value << 8n) | BigInt(digest[i] ?? 0);
  let encoded = value.toString(36);
  if (encoded.length < input.length) encoded = encoded.padStart(input.length, '0');
  else if (encoded.length > input.length) encoded = encoded.slice(encoded.length - input.length);
  return `${input.prefix}-${encoded}`;
}

/** The shortest hash length that keeps the birthday-collision probability among `count` ids acceptable. */
export function adaptiveHashLength(count: number): number {
  for (let length = MIN_HASH_LENGTH; length <= MAX_HASH_LENGTH; length++) {
    const space = Math.pow(36, length);
    const probability = 1 - Math.exp(-(count * count) / (2 * space));
    if (probability <= MAX_COLLISION_PROBABILITY) return length;
  }
  return MAX_HASH_LENGTH;
}

/** Prefixes become parts of ids, paths and session names: lower-case letters, digits, `_` and inner `-`. */
export const PREFIX_PATTERN = /^[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*$/;
export const MAX_PREFIX_LENGTH = 32;

export function isValidPrefix(prefix: string): boolean {
  return prefix.length <= MAX_PREFIX_LENGTH && PREFIX_PATTERN.test(prefix);
}

/** Turn a directory name into a usable prefix, as `bd init` does when none is given. */
export function prefixFromName(name: string): string {
  let p = name
    .toLowerCase()
    .replace(/^\.+/, '')
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/-+$/, '');
  p = p.replace(/-{2,}/g, '-').replace(/^[-_0-9]+/, '');
  if (p.length > MAX_PREFIX_LENGTH) p = p.slice(0, MAX_PREFIX_LENGTH).replace(/-+$/, '');
  return p === '' ? 'bd' : p;
}

/**
 * Ids accepted from users (`--id`) and from imported ledgers: a letter or digit first, then letters, digits,
 * `_`, `-` and `.`; no whitespace, no path separators, nothing a shell or tmux would treat specially.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id) && !id.includes('..') && !id.endsWith('.') && !id.endsWith('-');
}

export function childId(parentId: string, n: number): string {
  return `${parentId}.${n}`;
}

/** The numeric suffix of a direct child id of `parentId`, or undefined when `id` is not one. */
export function directChildNumber(parentId: string, id: string): number | undefined {
  if (!id.startsWith(`${parentId}.`)) return undefined;
  const rest = id.slice(parentId.length + 1);
  return /^[0-9]+$/.test(rest) ? Number(rest) : undefined;
}
