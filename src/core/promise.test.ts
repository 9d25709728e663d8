import { describe, expect, it } from 'vitest';
import { mapLimit, settle } from './promise.js';

describe('mapLimit', () => {
  it('keeps the order of the items, runs at most `limit` at once, and rejects with the first failure', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
    expect(await mapLimit([], 3, () => Promise.resolve(1))).toEqual([]);
    await expect(
      mapLimit([1, 2], 4, (n) => (n === 2 ? Promise.reject(new Error('two')) : Promise.resolve(n))),
    ).rejects.toThrow('two');
  });

  it('settle turns a throw into a rejection', async () => {
    await expect(
      settle(() => {
        throw new Error('x');
      }),
    ).rejects.toThrow('x');
    expect(await settle(() => 3)).toBe(3);
  });
});
