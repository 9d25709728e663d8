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
