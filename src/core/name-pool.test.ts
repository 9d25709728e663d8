import { describe, expect, it } from 'vitest';
import { validateName } from './identity.js';
import { allocateName, DEFAULT_THEME } from './name-pool.js';

describe('name pool', () => {
  it('has at least 50 distinct, valid, unreserved names', () => {
    expect(DEFAULT_THEME.length).toBeGreaterThanOrEqual(50);
    expect(new Set(DEFAULT_THEME).size).toBe(DEFAULT_THEME.length);
    for (const n of DEFAULT_THEME) expect(validateName('polecat', n)).toBe(n);
  });

  it('hands out the first free name, reusing freed ones', () => {
    expect(allocateName(new Set())).toBe('aster');
    expect(allocateName(new Set(['aster', 'birch']))).toBe('cedar');
    expect(allocateName(new Set(['birch']))).toBe('aster');
  });

  it('overflows into numbered names when the theme is exhausted', () => {
    const theme = ['a1', 'b1'];
    expect(allocateName(new Set(['a1', 'b1']), theme)).toBe('a12');
    expect(allocateName(new Set(['a1', 'b1', 'a12', 'b12']), theme)).toBe('a13');
    expect(allocateName(new Set(DEFAULT_THEME))).toBe('aster2');
  });
});
