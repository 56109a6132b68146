/**
 * Shows that blob ids are keyed (same plaintext and key: same id; another key: another id; never
 * the plain hash) and that storage names are the 64-hex-digit unkeyed BLAKE3 of the bytes,
 * checked against the published BLAKE3 test vector for empty input.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { blobId, isStorageName, storageName } from './blob-id.js';

test('blobId() is a 32-byte keyed hash: stable for one key, different under another', () => {
  const key = randomBytes(32);
  const plaintext = randomBytes(4096);
  const id = blobId(key, plaintext);
  assert.equal(id.length, 32);
  assert.deepEqual(blobId(key, Buffer.from(plaintext)), id);
  assert.deepEqual(blobId(new Uint8Array(key), new Uint8Array(plaintext)), id);
  assert.notDeepEqual(blobId(randomBytes(32), plaintext), id);
  assert.notEqual(id.toString('hex'), storageName(plaintext));
});

test('storageName() is the unkeyed BLAKE3 in 64 hex digits', () => {
  assert.equal(storageName(Buffer.alloc(0)), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  const name = storageName(randomBytes(100));
  assert.ok(isStorageName(name));
  assert.ok(!isStorageName(name.toUpperCase()));
  assert.ok(!isStorageName(name.slice(1)));
});
