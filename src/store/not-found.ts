import { NotFoundError } from '../core/errors.js';

/** The error for ids that name nothing, worded as beads words it: `issue gt-xyz not found`. */
export function notFound(ids: readonly string[]): NotFoundError {
  const list = ids.join(', ');
  return new NotFoundError(ids.length === 1 ? `issue ${list} not found` : `issues ${list} not found`, {
    hint: 'list issues with "bd list" or search with "bd search <text>"',
  });
}
