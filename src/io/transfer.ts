/**
 * Awaiting one read or write whose caller wants bytes or an error, not the three-way result:
 * a 'failed' result throws its error and a 'cancelled' one HOLDFAST_ABORTED. Either way the
 * operation has settled first, so the lease is the caller's again (rule O1).
 */
import { holdfastError } from '../errors/holdfast-error.js';
import type { Lease } from './buffer-pool.js';
import type { Handle } from './handle.js';
import type { Io, TransferOptions } from './io.js';
import type { IoResult } from './operation.js';

export function bytesOrThrow(result: IoResult, handle: Handle, operation: string): number {
  if (result.status === 'failed') throw result.error;
  if (result.status === 'cancelled') throw holdfastError('HOLDFAST_ABORTED', { operation, path: handle.path }, 'the operation was cancelled');
  return result.bytesTransferred;
}

export async function readOnce(io: Io, handle: Handle, lease: Lease, options: TransferOptions = {}): Promise<number> {
  return bytesOrThrow(await io.read(handle, lease, options).result, handle, 'read');
}

export async function writeAll(io: Io, handle: Handle, lease: Lease, options: TransferOptions & { lengthBytes: number }): Promise<void> {
  bytesOrThrow(await io.write(handle, lease, options).result, handle, 'write');
}
