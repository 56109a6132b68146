/**
 * assert() is for programmer errors only: a broken invariant inside holdfast. It is never caught
 * to recover; operating conditions (a missing file, a full disk) are HoldfastError instead.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
