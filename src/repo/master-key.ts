/**
 * MasterKey: the three secrets of a repository, made once by `init` and kept only inside key
 * files, each sealed with a key derived from one password (key-file.ts).
 *
 * - encryptionKey seals every stored blob (AES-256-GCM, seal.ts);
 * - idKey names blobs by content (keyed BLAKE3, blob-id.ts), so ids say nothing to someone
 *   without the key about what was stored;
 * - chunkerKey derives the chunker's gear table (chunker.ts), so chunk boundaries differ between
 *   repositories and cannot be used to recognise a known file by its chunk sizes.
 *
 * The encoded form is binary and versioned: `[version = 1] ++ encryptionKey ++ idKey ++
 * chunkerKey` (97 bytes). It is also how a master key crosses to a worker_thread: structured
 * cloning turns a Buffer into a plain Uint8Array, so send `encodeMasterKey(key)` and decode there.
 */
import { randomBytes } from 'node:crypto';
import { assert } from '../base/assert.js';
import { holdfastError } from '../errors/holdfast-error.js';

export interface MasterKey {
  encryptionKey: Buffer;
  idKey: Buffer;
  chunkerKey: Buffer;
}

export const masterKeyPartBytes = 32;
export const masterKeyEncodingVersion = 1;
export const encodedMasterKeyBytes = 1 + 3 * masterKeyPartBytes;

export function generateMasterKey(): MasterKey {
  return {
    encryptionKey: freshCopy(randomBytes(masterKeyPartBytes)),
    idKey: freshCopy(randomBytes(masterKeyPartBytes)),
    chunkerKey: freshCopy(randomBytes(masterKeyPartBytes)),
  };
}

/** The versioned binary form, in a buffer of its own; the caller owns it (and should wipe it). */
export function encodeMasterKey(key: MasterKey): Buffer {
  const encoded = Buffer.allocUnsafeSlow(encodedMasterKeyBytes);
  encoded[0] = masterKeyEncodingVersion;
  const parts = [key.encryptionKey, key.idKey, key.chunkerKey];
  parts.forEach((part, index) => {
    assert(part.length === masterKeyPartBytes, `master key parts must be ${masterKeyPartBytes} bytes, not ${part.length}`);
    encoded.set(part, 1 + index * masterKeyPartBytes);
  });
  return encoded;
}

/**
 * Reads the binary form. The keys are copies: the caller may wipe or reuse `encoded` afterwards.
 * Throws HOLDFAST_FORMAT_VERSION for another version, HOLDFAST_FORMAT_INVALID for a wrong length.
 */
export function decodeMasterKey(encoded: Uint8Array, context: { path: string } = { path: 'master key' }): MasterKey {
  const errorContext = { operation: 'read master key', path: context.path };
  if (encoded.length === 0) throw holdfastError('HOLDFAST_FORMAT_INVALID', errorContext, 'the encoded master key is empty');
  if (encoded[0] !== masterKeyEncodingVersion) {
    throw holdfastError('HOLDFAST_FORMAT_VERSION', errorContext, `master key encoding version ${encoded[0]} is not known (this holdfast reads ${masterKeyEncodingVersion})`);
  }
  if (encoded.length !== encodedMasterKeyBytes) {
    throw holdfastError('HOLDFAST_FORMAT_INVALID', errorContext, `the encoded master key is ${encoded.length} bytes, not ${encodedMasterKeyBytes}`);
  }
  const part = (index: number): Buffer => freshCopy(encoded.subarray(1 + index * masterKeyPartBytes, 1 + (index + 1) * masterKeyPartBytes));
  return { encryptionKey: part(0), idKey: part(1), chunkerKey: part(2) };
}

/** A copy in an ArrayBuffer of its own, outside Node's shared pool of small buffers. */
function freshCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}
