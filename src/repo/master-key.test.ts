/**
 * Shows that a master key survives its binary encoding, that generated keys are fresh 32-byte
 * secrets in buffers of their own, and that decoding refuses another version or a wrong length
 * with the stable codes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMasterKey, encodedMasterKeyBytes, encodeMasterKey, generateMasterKey } from './master-key.js';

test('generateMasterKey() makes three distinct 32-byte keys, fresh each time', () => {
  const first = generateMasterKey();
  const second = generateMasterKey();
  for (const key of [first.encryptionKey, first.idKey, first.chunkerKey]) {
    assert.equal(key.length, 32);
    assert.equal(key.buffer.byteLength, 32, 'a key shares its ArrayBuffer');
  }
  assert.notDeepEqual(first.encryptionKey, first.idKey);
  assert.notDeepEqual(first.idKey, first.chunkerKey);
  assert.notDeepEqual(first.encryptionKey, second.encryptionKey);
});

test('decodeMasterKey() reads back what encodeMasterKey() wrote, as copies', () => {
  const key = generateMasterKey();
  const encoded = encodeMasterKey(key);
  assert.equal(encoded.length, encodedMasterKeyBytes);
  assert.equal(encoded[0], 1);
  const decoded = decodeMasterKey(encoded);
  encoded.fill(0);
  assert.deepEqual(decoded, key);
});

test('decodeMasterKey() also takes a plain Uint8Array, as a worker receives it', () => {
  const key = generateMasterKey();
  const cloned: unknown = structuredClone(encodeMasterKey(key));
  assert.ok(cloned instanceof Uint8Array && !Buffer.isBuffer(cloned));
  assert.deepEqual(decodeMasterKey(cloned), key);
});

test('decodeMasterKey() rejects another version and a wrong length', () => {
  const encoded = encodeMasterKey(generateMasterKey());
  const otherVersion = Buffer.from(encoded);
  otherVersion[0] = 2;
  assert.throws(() => decodeMasterKey(otherVersion), { code: 'HOLDFAST_FORMAT_VERSION' });
  assert.throws(() => decodeMasterKey(encoded.subarray(0, 96)), { code: 'HOLDFAST_FORMAT_INVALID' });
  assert.throws(() => decodeMasterKey(Buffer.concat([encoded, Buffer.of(0)])), { code: 'HOLDFAST_FORMAT_INVALID' });
  assert.throws(() => decodeMasterKey(Buffer.alloc(0)), { code: 'HOLDFAST_FORMAT_INVALID' });
});
