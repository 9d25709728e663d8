/**
 * Runs synchronous work behind a Promise-returning port: a value resolves, a throw rejects (never escapes
 * synchronously), and a thrown non-Error is wrapped so that rejections are always Errors.
 */
export function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** `fn` over `items`, at most `limit` at once, results in the order of `items`; rejects with the first failure. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  const queue = [...items.entries()];
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) out[job[0]] = await fn(job[1]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
