/**
 * The error context of one archive member. Its path is rendered for a message only when an error
 * is made: displayPath() of every member's name would cost more than decoding the header itself.
 */
import { displayPath } from '../../base/file-path.js';
import type { ErrorContext } from '../../errors/holdfast-error.js';

export function memberContext(operation: string, path: Buffer): ErrorContext {
  let shown: string | null = null;
  return {
    operation,
    get path(): string {
      shown ??= displayPath(path);
      return shown;
    },
  };
}

/** A copy the caller owns, of a view into a buffer that will be reused. */
export function copyBytes(view: Buffer): Buffer {
  const copy = Buffer.allocUnsafe(view.length);
  view.copy(copy);
  return copy;
}
