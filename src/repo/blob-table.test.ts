/**
 * BlobTable finds every blob it was given, and no other, at the memory its doc comment promises.
 *
 * How: random 32-byte ids (node:crypto) are added, looked up again from copies at other offsets,
 * and ids that were never added are looked up; duplicates must return the first entry with its
 * first location; growth from an empty table must keep every entry; and 10 million entries are
 * added to a reserved table, whose memoryBytes (the typed arrays' byte lengths) must stay within
 * the bound per entry that check's 500 MB budget rests on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { BlobTable } from './blob-table.js';

const idBytes = 32;

function randomIds(count: number): Buffer {
  return randomBytes(count * idBytes);
}

function idAt(ids: Buffer, index: number): Buffer {
  return ids.subarray(index * idBytes, (index + 1) * idBytes);
}

test('add() and find() agree on every id, from any offset, and unknown ids are -1', () => {
  const table = new BlobTable();
  const count = 50_000;
  const ids = randomIds(count);
  for (let index = 0; index < count; index++) assert.equal(table.add(idAt(ids, index), index % 7, index * 3), index);
  assert.equal(table.count, count);
  for (let index = 0; index < count; index++) {
    // A copy at an odd offset: the table must not depend on the caller's alignment.
    const shifted = Buffer.alloc(idBytes + 1);
    idAt(ids, index).copy(shifted, 1);
    const entry = table.find(shifted.subarray(1));
    assert.equal(entry, index);
    assert.equal(table.packNumber(entry), index % 7);
    assert.equal(table.storedBytes(entry), index * 3);
  }
  const strangers = randomIds(10_000);
  for (let index = 0; index < 10_000; index++) assert.equal(table.find(idAt(strangers, index)), -1);
});

test('a duplicate id returns the existing entry, and the first location wins', () => {
  const table = new BlobTable(4);
  const id = randomBytes(idBytes);
  const first = table.add(id, 5, 100);
  const again = table.add(Buffer.from(id), 9, 200);
  assert.equal(again, first);
  assert.equal(table.count, 1);
  assert.equal(table.packNumber(first), 5);
  assert.equal(table.storedBytes(first), 100);
  // Ids that share the first 16 bytes are one blob to the table (the documented prefix rule).
  const sameprefix = Buffer.from(id);
  sameprefix[31] = sameprefix[31]! ^ 0xff;
  assert.equal(table.add(sameprefix, 1, 1), first);
  const other = Buffer.from(id);
  other[15] = other[15]! ^ 0x01;
  assert.equal(table.add(other, 1, 1), 1);
});

test('mark() sets one bit per entry and leaves its neighbours alone', () => {
  const table = new BlobTable();
  const ids = randomIds(100);
  for (let index = 0; index < 100; index++) table.add(idAt(ids, index), 0, 0);
  for (const entry of [0, 31, 32, 63, 99]) table.mark(entry);
  const marked = [];
  for (let entry = 0; entry < 100; entry++) if (table.isMarked(entry)) marked.push(entry);
  assert.deepEqual(marked, [0, 31, 32, 63, 99]);
  assert.throws(() => table.isMarked(100), /not in the table/);
});

test('growth from empty keeps every entry, location and mark', () => {
  const table = new BlobTable();
  const count = 300_000;
  const ids = randomIds(count);
  for (let index = 0; index < count; index++) {
    table.add(idAt(ids, index), index, count - index);
    if (index % 1000 === 0) table.mark(index);
  }
  assert.equal(table.count, count);
  for (let index = 0; index < count; index++) {
    const entry = table.find(idAt(ids, index));
    assert.equal(entry, index);
    assert.equal(table.packNumber(entry), index);
    assert.equal(table.storedBytes(entry), count - index);
    assert.equal(table.isMarked(entry), index % 1000 === 0);
  }
  // Doubling: the arrays hold less than twice what is needed, plus slots at load >= 3/8.
  assert.ok(table.memoryBytes / count < 2 * 24.2 + 4 * (8 / 3), `${table.memoryBytes / count} bytes per entry`);
});

test('10 million entries in a reserved table take at most 31 bytes each', () => {
  const count = 10_000_000;
  const table = new BlobTable(count);
  const reservedBytes = table.memoryBytes;
  const batch = 100_000;
  let firstIds: Buffer | undefined;
  for (let start = 0; start < count; start += batch) {
    const ids = randomIds(batch);
    firstIds ??= ids;
    for (let index = 0; index < batch; index++) table.add(idAt(ids, index), start / batch, index);
  }
  assert.equal(table.count, count);
  // Reserved once: adding 10 million entries did not grow anything.
  assert.equal(table.memoryBytes, reservedBytes);
  const bytesPerEntry = table.memoryBytes / count;
  // 16 (prefix) + 4 (pack) + 4 (size) + 1/8 (mark) = 24.125, and slots: 2^24 u32 for 10^7 = 6.7.
  assert.ok(bytesPerEntry > 24 && bytesPerEntry <= 31, `${bytesPerEntry.toFixed(2)} bytes per entry`);
  for (let index = 0; index < batch; index += 997) assert.equal(table.find(idAt(firstIds!, index)), index);
  assert.equal(table.find(randomBytes(idBytes)), -1);
});
