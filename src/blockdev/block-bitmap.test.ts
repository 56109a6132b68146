/**
 * BlockBitmap: bit order (block i is bit i & 7 of byte i >> 3) and extents(), the runs a
 * BLOCK_STATUS reply sends: neighbouring blocks with the same state merge into one extent, a
 * range that starts or ends inside a block is cut there, the last block is clipped at the end of
 * the volume (it may be shorter than a block), a range past the end stops at it, and no merged
 * extent grows past what the u32 length of the protocol can carry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockBitmap } from './block-bitmap.js';

test('set() and has() use bit i & 7 of byte i >> 3, least significant bit first', () => {
  const bitmap = new BlockBitmap(20);
  assert.equal(bitmap.bytes.length, 3);
  bitmap.set(0);
  bitmap.set(9);
  bitmap.set(19);
  assert.deepEqual([...bitmap.bytes], [0b0000_0001, 0b0000_0010, 0b0000_1000]);
  assert.equal(bitmap.has(9), true);
  assert.equal(bitmap.has(8), false);
  assert.equal(bitmap.countSet(), 3);
  assert.equal(bitmap.hasAll(9, 9), true);
  assert.equal(bitmap.hasAll(8, 9), false);
  const copy = bitmap.copy();
  copy.set(1);
  assert.equal(bitmap.has(1), false, 'copy() shares bytes with its original');
});

// Ten blocks of 100 bytes on a volume of 950 bytes: the last block has 50.
const blockBytes = 100;
const volumeBytes = 950;

function sample(): BlockBitmap {
  const bitmap = new BlockBitmap(10);
  for (const block of [2, 3, 4, 9]) bitmap.set(block);
  return bitmap;
}

test('extents() merges neighbouring blocks of the same state and clips the last block at the volume end', () => {
  assert.deepEqual(sample().extents(0, volumeBytes, blockBytes, volumeBytes, 1), [
    { lengthBytes: 200, flags: 0 },
    { lengthBytes: 300, flags: 1 },
    { lengthBytes: 400, flags: 0 },
    { lengthBytes: 50, flags: 1 },
  ]);
});

test('extents() cuts a range that starts and ends inside blocks', () => {
  assert.deepEqual(sample().extents(250, 300, blockBytes, volumeBytes, 4), [
    { lengthBytes: 250, flags: 4 },
    { lengthBytes: 50, flags: 0 },
  ]);
  assert.deepEqual(sample().extents(301, 1, blockBytes, volumeBytes, 1), [{ lengthBytes: 1, flags: 1 }]);
});

test('extents() stops at the volume end for a range that goes past it, and is empty past the end', () => {
  assert.deepEqual(sample().extents(880, 1000, blockBytes, volumeBytes, 1), [
    { lengthBytes: 20, flags: 0 },
    { lengthBytes: 50, flags: 1 },
  ]);
  assert.deepEqual(sample().extents(950, 100, blockBytes, volumeBytes, 1), []);
});

test('extents() never merges an extent past 0xfff00000 bytes', () => {
  const gibibyte = 1024 ** 3;
  const bitmap = new BlockBitmap(4);
  bitmap.setAll();
  const extents = bitmap.extents(0, 4 * gibibyte, gibibyte, 4 * gibibyte, 1);
  assert.deepEqual(extents, [
    { lengthBytes: 3 * gibibyte, flags: 1 },
    { lengthBytes: gibibyte, flags: 1 },
  ]);
  assert.ok(extents.every((extent) => extent.lengthBytes <= 0xffffffff));
});
