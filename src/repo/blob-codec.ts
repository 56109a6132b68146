/**
 * A stored blob: `seal(encryptionKey, [format byte] ++ body, associatedData = blob id)`, where the
 * format byte is 0 when `body` is the plaintext as it is and 1 when it is a zstd frame of it.
 *
 * Sealing with the id as associated data binds the stored bytes to their id: a stored blob put in
 * place of another (by damage or on purpose) fails authentication. openBlob() also recomputes the
 * keyed id of the plaintext, so a blob sealed under a wrong id by a buggy writer is caught too.
 *
 * Pure functions of their arguments (no state besides the native handles), so a worker_thread can
 * run them; every buffer returned owns its ArrayBuffer exactly and can be transferred. Inside a
 * worker, rebuild the keys with decodeMasterKey() (a cloned Buffer arrives as a Uint8Array).
 */
import { assert } from '../base/assert.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { blobId, blobIdBytes } from './blob-id.js';
import { compressIfWorth, decompress, decompressedBytesMax } from './compression.js';
import type { MasterKey } from './master-key.js';
import { openPieces, sealOverheadBytes, sealPieces } from './seal.js';

export const blobFormatStored = 0;
export const blobFormatZstd = 1;
/** The largest plaintext a blob may hold: what decompress() accepts back. */
export const blobPlaintextBytesMax = decompressedBytesMax;
/** The smallest stored blob: the seal and the format byte. */
export const storedBlobBytesMin = sealOverheadBytes + 1;

export type BlobKeys = Pick<MasterKey, 'encryptionKey' | 'idKey'>;

export interface SealedBlob {
  /** The 32-byte keyed BLAKE3 of the plaintext. */
  id: Buffer;
  /** What goes into a pack: a buffer of its own, transferable. */
  stored: Buffer;
  /** The plaintext's length, recorded in the index and checked when the blob is opened. */
  rawLengthBytes: number;
  compressed: boolean;
}

/** Computes the blob's id, compresses when worth it, and seals. `plaintext` is only read. */
export function sealBlob(keys: BlobKeys, plaintext: Buffer): SealedBlob {
  return sealBlobWithId(keys, blobId(keys.idKey, plaintext), plaintext);
}

/** As sealBlob(), with the id already computed (by the caller, e.g. to look it up first). */
export function sealBlobWithId(keys: Pick<MasterKey, 'encryptionKey'>, id: Buffer, plaintext: Buffer): SealedBlob {
  assert(id.length === blobIdBytes, `a blob id is ${blobIdBytes} bytes, not ${id.length}`);
  assert(plaintext.length <= blobPlaintextBytesMax, `a blob holds at most ${blobPlaintextBytesMax} bytes, not ${plaintext.length}`);
  const { body, compressed } = compressIfWorth(plaintext);
  const format = Buffer.of(compressed ? blobFormatZstd : blobFormatStored);
  const stored = sealPieces(keys.encryptionKey, [format, body], id);
  return { id, stored, rawLengthBytes: plaintext.length, compressed };
}

/**
 * The plaintext of a stored blob, in a buffer of its own, after checking everything:
 * HOLDFAST_INTEGRITY when authentication fails (damaged bytes, another blob's bytes, another
 * repository's key), when the length differs from `rawLengthBytes`, or when the plaintext's id is
 * not `id`; HOLDFAST_FORMAT_VERSION for a format byte this version does not know.
 * `context.path` names the blob for the message (e.g. "pack 3fa1... blob 9c2e...").
 */
export function openBlob(
  keys: BlobKeys,
  id: Uint8Array,
  stored: Uint8Array,
  rawLengthBytes: number,
  context: { operation: string; path: string },
): Buffer {
  if (id.length !== blobIdBytes) {
    throw holdfastError('HOLDFAST_FORMAT_INVALID', context, `a blob id is ${blobIdBytes} bytes, not ${id.length}`);
  }
  if (stored.length < storedBlobBytesMin) {
    throw holdfastError('HOLDFAST_INTEGRITY', context, `the stored blob is ${stored.length} bytes, shorter than the smallest blob (${storedBlobBytesMin})`);
  }
  const [formatPiece, body] = openPieces(keys.encryptionKey, stored, id, context, [1]);
  const format = formatPiece[0];
  let plaintext: Buffer;
  if (format === blobFormatStored) {
    plaintext = body ?? Buffer.alloc(0);
    if (plaintext.length !== rawLengthBytes) {
      throw holdfastError('HOLDFAST_INTEGRITY', context, `the blob holds ${plaintext.length} bytes, not the recorded ${rawLengthBytes}`);
    }
  } else if (format === blobFormatZstd) {
    plaintext = decompress(body ?? Buffer.alloc(0), rawLengthBytes, context);
  } else {
    throw holdfastError('HOLDFAST_FORMAT_VERSION', context, `blob format ${format} is not known (this holdfast reads ${blobFormatStored} and ${blobFormatZstd})`);
  }
  if (!blobId(keys.idKey, plaintext).equals(id)) {
    throw holdfastError('HOLDFAST_INTEGRITY', context, 'the plaintext does not hash to the blob id');
  }
  return plaintext;
}
