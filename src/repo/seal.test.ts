/**
 * Shows that seal()/open() round-trip with and without associated data, that the sealed form is
 * nonce ++ ciphertext ++ tag (28 bytes of overhead, a fresh nonce each time, a buffer of its own),
 * and that any damage fails with HOLDFAST_INTEGRITY: every single-bit flip of a short message,
 * other associated data, another key, and bytes too short to hold a nonce and a tag.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { open, openPieces, seal, sealOverheadBytes, sealPieces } from './seal.js';

const context = { operation: 'open', path: 'test message' };

test('open() returns what seal() sealed, with and without associated data', () => {
  const key = randomBytes(32);
  for (const plaintext of [Buffer.alloc(0), Buffer.from('hello'), randomBytes(1024 * 1024 + 7)]) {
    const sealed = seal(key, plaintext);
    assert.equal(sealed.length, plaintext.length + sealOverheadBytes);
    assert.deepEqual(open(key, sealed, undefined, context), plaintext);
    const associatedData = randomBytes(32);
    assert.deepEqual(open(key, seal(key, plaintext, associatedData), associatedData, context), plaintext);
  }
  assert.equal(sealOverheadBytes, 28);
});

test('seal() uses a fresh nonce and returns a buffer that owns its ArrayBuffer', () => {
  const key = randomBytes(32);
  const first = seal(key, Buffer.from('same'));
  const second = seal(key, Buffer.from('same'));
  assert.notDeepEqual(first.subarray(0, 12), second.subarray(0, 12));
  assert.equal(first.byteOffset, 0);
  assert.equal(first.buffer.byteLength, first.length);
  const opened = open(key, first, undefined, context);
  assert.equal(opened.byteOffset, 0);
  assert.equal(opened.buffer.byteLength, opened.length);
});

test('open() rejects every single-bit flip of a sealed message with HOLDFAST_INTEGRITY', () => {
  const key = randomBytes(32);
  const associatedData = Buffer.from('blob id');
  const sealed = seal(key, Buffer.from('a short message'), associatedData);
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    const damaged = Buffer.from(sealed);
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    assert.throws(() => open(key, damaged, associatedData, context), { code: 'HOLDFAST_INTEGRITY' }, `bit ${bit} flipped went unnoticed`);
  }
});

test('open() rejects other associated data, missing associated data, another key, short bytes', () => {
  const key = randomBytes(32);
  const sealed = seal(key, Buffer.from('message'), Buffer.from('id one'));
  assert.throws(() => open(key, sealed, Buffer.from('id two'), context), {
    code: 'HOLDFAST_INTEGRITY',
    message: /authentication failed: the bytes are damaged or not this repository's/,
  });
  assert.throws(() => open(key, sealed, undefined, context), { code: 'HOLDFAST_INTEGRITY' });
  assert.throws(() => open(randomBytes(32), sealed, Buffer.from('id one'), context), { code: 'HOLDFAST_INTEGRITY' });
  assert.throws(() => open(key, sealed.subarray(0, 27), Buffer.from('id one'), context), { code: 'HOLDFAST_INTEGRITY' });
  assert.throws(() => open(key, sealed.subarray(0, sealed.length - 1), Buffer.from('id one'), context), { code: 'HOLDFAST_INTEGRITY' });
});

test('sealPieces() equals sealing the concatenation; openPieces() cuts the plaintext', () => {
  const key = randomBytes(32);
  const pieces = [Buffer.of(1), randomBytes(1000), Buffer.alloc(0), randomBytes(3)];
  const whole = Buffer.concat(pieces);
  const sealed = sealPieces(key, pieces, Buffer.from('ad'));
  assert.deepEqual(open(key, sealed, Buffer.from('ad'), context), whole);
  const [head, middle, tail] = openPieces(key, sealed, Buffer.from('ad'), context, [1, 500]);
  assert.deepEqual(head, whole.subarray(0, 1));
  assert.deepEqual(middle, whole.subarray(1, 500));
  assert.deepEqual(tail, whole.subarray(500));
  assert.equal(tail?.buffer.byteLength, tail?.length);
});
