/**
 * Names of stored things.
 *
 * - blobId(): the id of a blob is the keyed BLAKE3 hash of its plaintext under the repository's
 *   idKey. Equal plaintexts get equal ids (deduplication); without the key an id reveals nothing
 *   about the content, not even "this is the empty file".
 * - storageName(): a file in the repository (a pack, an index, a snapshot) is named by the unkeyed
 *   BLAKE3 hash of its stored (sealed) bytes, in 64 lower-case hex digits, so `check` can verify
 *   every file without the password. BLAKE3 over SHA-256: measured on this machine on 1 MiB,
 *   unkeyed BLAKE3 (@napi-rs/blake-hash) ran at ~3.2 GiB/s and node:crypto SHA-256 at ~1.3 GiB/s.
 *
 * Pure functions of their arguments; they run the same inside a worker_thread.
 */
import { blake3, Blake3Hasher } from '@napi-rs/blake-hash';
import { assert } from '../base/assert.js';

export const blobIdBytes = 32;
export const idKeyBytes = 32;
export const storageNameLength = 64;

const storageNamePattern = /^[0-9a-f]{64}$/;

/** The 32-byte keyed BLAKE3 of `plaintext`, in a buffer of its own. */
export function blobId(idKey: Uint8Array, plaintext: Uint8Array): Buffer {
  // The native binding aborts the process (a Rust panic) on a key of another length: check first.
  assert(idKey.length === idKeyBytes, `an id key is ${idKeyBytes} bytes, not ${idKey.length}`);
  return Blake3Hasher.newKeyed(asBuffer(idKey)).update(asBuffer(plaintext)).digestBuffer();
}

/** 64 hex digits of the unkeyed BLAKE3 of a stored file's whole contents. */
export function storageName(stored: Uint8Array): string {
  return blake3(asBuffer(stored)).toString('hex');
}

export function isStorageName(name: string): boolean {
  return storageNamePattern.test(name);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
