/**
 * Authenticated encryption of one message: AES-256-GCM with a random 96-bit nonce.
 *
 * Sealed form: `nonce (12 bytes) ++ ciphertext (as long as the plaintext) ++ tag (16 bytes)`.
 * `associatedData` is authenticated but not stored: the reader must supply the same bytes (a blob
 * seals with its id, so a stored blob cannot be passed off under another id).
 *
 * Random nonces are safe for about 2^32 messages under one key (NIST SP 800-38D, 8.3); with
 * chunks of about 1 MiB that is some 4 PiB of data per repository key.
 *
 * Every function is a pure function of its arguments, so it runs the same inside a worker_thread.
 * Keys are 32 bytes; a key of another length is a programmer error (assert).
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { assert } from '../base/assert.js';
import { holdfastError } from '../errors/holdfast-error.js';

export const sealKeyBytes = 32;
export const sealNonceBytes = 12;
export const sealTagBytes = 16;
export const sealOverheadBytes = sealNonceBytes + sealTagBytes;

const algorithm = 'aes-256-gcm';
const authenticationFailed = "authentication failed: the bytes are damaged or not this repository's";

/** Seals `plaintext` into a new buffer that owns its ArrayBuffer exactly (transferable). */
export function seal(key: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Buffer {
  return sealPieces(key, [plaintext], associatedData);
}

/** Seals the concatenation of `pieces` without concatenating them first. */
export function sealPieces(key: Uint8Array, pieces: readonly Uint8Array[], associatedData?: Uint8Array): Buffer {
  assert(key.length === sealKeyBytes, `a sealing key is ${sealKeyBytes} bytes, not ${key.length}`);
  const plaintextBytes = pieces.reduce((total, piece) => total + piece.length, 0);
  const sealed = Buffer.allocUnsafeSlow(sealOverheadBytes + plaintextBytes);
  const nonce = sealed.subarray(0, sealNonceBytes);
  randomFillSync(nonce);
  const cipher = createCipheriv(algorithm, key, nonce, { authTagLength: sealTagBytes });
  if (associatedData !== undefined) cipher.setAAD(associatedData);
  let offset = sealNonceBytes;
  for (const piece of pieces) {
    const encrypted = cipher.update(piece);
    sealed.set(encrypted, offset);
    offset += encrypted.length;
  }
  const rest = cipher.final();
  sealed.set(rest, offset);
  offset += rest.length;
  assert(offset === sealNonceBytes + plaintextBytes, 'AES-GCM wrote a ciphertext of an unexpected length');
  sealed.set(cipher.getAuthTag(), offset);
  return sealed;
}

/**
 * The plaintext of `sealed`, in a buffer of its own, or HOLDFAST_INTEGRITY when the bytes, the
 * key or the associated data do not match. No plaintext is returned before the tag is checked.
 */
export function open(key: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array | undefined, context: { operation: string; path: string }): Buffer {
  const [plaintext] = openPieces(key, sealed, associatedData, context, []);
  return plaintext;
}

/**
 * Like open(), but hands the plaintext back cut at `cutOffsets` (ascending, within the plaintext),
 * each piece in a buffer of its own, without a copy: `[0, a)`, `[a, b)`, ..., `[last, end)`.
 */
export function openPieces(
  key: Uint8Array,
  sealed: Uint8Array,
  associatedData: Uint8Array | undefined,
  context: { operation: string; path: string },
  cutOffsets: readonly number[],
): [Buffer, ...Buffer[]] {
  assert(key.length === sealKeyBytes, `a sealing key is ${sealKeyBytes} bytes, not ${key.length}`);
  if (sealed.length < sealOverheadBytes) {
    throw holdfastError('HOLDFAST_INTEGRITY', context, `the sealed bytes are ${sealed.length} long, shorter than a nonce and a tag (${sealOverheadBytes})`);
  }
  const plaintextBytes = sealed.length - sealOverheadBytes;
  const nonce = sealed.subarray(0, sealNonceBytes);
  const ciphertext = sealed.subarray(sealNonceBytes, sealNonceBytes + plaintextBytes);
  const tag = sealed.subarray(sealNonceBytes + plaintextBytes);
  const decipher = createDecipheriv(algorithm, key, nonce, { authTagLength: sealTagBytes });
  if (associatedData !== undefined) decipher.setAAD(associatedData);
  decipher.setAuthTag(tag);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const cut of [...cutOffsets, plaintextBytes]) {
    assert(cut >= start && cut <= plaintextBytes, `cut offset ${cut} is outside [${start}, ${plaintextBytes}]`);
    pieces.push(ownedBuffer(decipher.update(ciphertext.subarray(start, cut))));
    start = cut;
  }
  try {
    decipher.final();
  } catch (error) {
    throw holdfastError('HOLDFAST_INTEGRITY', { ...context, cause: error }, authenticationFailed);
  }
  return pieces as [Buffer, ...Buffer[]];
}

/** `bytes` itself when it owns its ArrayBuffer exactly, else a copy that does. */
function ownedBuffer(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}
