import { describe, expect, it } from 'vitest';
import {
  adaptiveHashLength,
  childId,
  directChildNumber,
  hashId,
  isValidId,
  isValidPrefix,
  prefixFromName,
} from './ids.js';

describe('hashId', () => {
  // The vector from beads' internal/idgen/hash_test.go: our ids are bit-compatible with beads'.
  const base = {
    prefix: 'bd',
    title: 'Fix login',
    description: 'Details',
    creator: 'jira-import',
    createdAtNs: BigInt(Date.UTC(2024, 0, 2, 3, 4, 5, 6)) * 1_000_000n,
    nonce: 0,
  };
  it.each([
    [3, 'bd-vju'],
    [4, 'bd-8d8e'],
    [5, 'bd-bi3tk'],
    [6, 'bd-8bi3tk'],
    [7, 'bd-r5sr6bm'],
    [8, 'bd-8r5sr6bm'],
  ])('length %i gives %s', (length, expected) => {
    expect(hashId({ ...base, length })).toBe(expected);
  });

  it('changes with the nonce, so collisions can be retried', () => {
    expect(hashId({ ...base, length: 5, nonce: 1 })).not.toBe(hashId({ ...base, length: 5, nonce: 0 }));
  });

  it('rejects lengths outside 3..8', () => {
    expect(() => hashId({ ...base, length: 2 })).toThrow(RangeError);
    expect(() => hashId({ ...base, length: 9 })).toThrow(RangeError);
  });
});

describe('adaptiveHashLength', () => {
  it.each([
    [0, 3],
    [163, 3],
    [164, 4],
    [983, 4],
    [984, 5],
    [5898, 5],
    [5899, 6],
    [35389, 6],
    [35390, 7],
    [212339, 7],
    [212340, 8],
    [10_000_000, 8],
  ])('%i existing ids → %i characters', (count, length) => {
    expect(adaptiveHashLength(count)).toBe(length);
  });
});

describe('prefixes and ids', () => {
  it.each(['gt', 'bd', 'my-app', 'rig_2', 'a'])('accepts prefix %s', (p) => expect(isValidPrefix(p)).toBe(true));
  it.each(['', 'Gt', '2x', 'a-', '-a', 'a--b', 'a b', 'a/b', '$(x)', 'x'.repeat(33)])('rejects prefix %j', (p) =>
    expect(isValidPrefix(p)).toBe(false),
  );

  it.each([
    ['My Project', 'my_project'],
    ['.hidden', 'hidden'],
    ['trailing-', 'trailing'],
    ['123abc', 'abc'],
    ['', 'bd'],
    ['---', 'bd'],
  ])('derives a prefix from directory %j → %s', (name, prefix) => {
    expect(prefixFromName(name)).toBe(prefix);
    expect(isValidPrefix(prefixFromName(name))).toBe(true);
  });

  it.each(['gt-abc', 'bd-mol-xga.10', 'hq-cv-1', 'bd-beads-crew-dave', 'x.1.2'])('accepts id %s', (id) =>
    expect(isValidId(id)).toBe(true),
  );
  it.each(['', '-x', 'a b', 'a/b', 'a..b', 'a.', 'a-', '$(rm)', 'a;b', '.a', 'a\nb'])('rejects id %j', (id) =>
    expect(isValidId(id)).toBe(false),
  );

  it('builds and recognises child ids', () => {
    expect(childId('gt-abc', 3)).toBe('gt-abc.3');
    expect(directChildNumber('gt-abc', 'gt-abc.12')).toBe(12);
    expect(directChildNumber('gt-abc', 'gt-abc.1.2')).toBeUndefined();
    expect(directChildNumber('gt-abc', 'gt-abcd.1')).toBeUndefined();
  });
});
