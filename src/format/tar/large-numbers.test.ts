/**
 * Shows the numeric fields as GNU tar writes and reads them: zero-padded octal ended by NUL, and
 * base-256 (first byte 0x80 or 0xff) for values octal cannot hold, negative ones included. The
 * expected bytes are written out by hand from GNU tar's archives (test/fixtures/tar).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitsBase256, fitsOctal, octalMax, readNumeric, writeChecksum, writeNumeric, writeOctal } from './large-numbers.js';

function field(fieldBytes: number, value: number | bigint): Buffer {
  const target = Buffer.alloc(fieldBytes, 0xaa);
  assert.ok(writeNumeric(target, 0, fieldBytes, value));
  return target;
}

test('writeOctal() writes zero-padded digits and a NUL, as GNU tar fills mode and mtime', () => {
  const target = Buffer.alloc(8);
  writeOctal(target, 0, 8, 0o4755);
  assert.deepEqual(target, Buffer.from('0004755\0', 'latin1'));
  assert.deepEqual(field(12, 1704164645), Buffer.from('14544676445\0', 'latin1'));
});

test('writeChecksum() writes six digits, a NUL and a space', () => {
  const target = Buffer.alloc(8);
  writeChecksum(target, 0, 0o11203);
  assert.deepEqual(target, Buffer.from('011203\0 ', 'latin1'));
});

test('octalMax() is the largest value of the field: 7 digits for ids, 11 for sizes and times', () => {
  assert.equal(octalMax(8), 0o7777777n);
  assert.equal(octalMax(12), 0o77777777777n);
  assert.ok(fitsOctal(2097151, 8));
  assert.ok(!fitsOctal(2097152, 8));
  assert.ok(!fitsOctal(-1, 12));
});

test('writeNumeric() falls back to base-256 for a uid of 3000000000', () => {
  // 3000000000 = 0xb2d05e00; bsdtar wrote exactly these bytes (bsdtar-tree.tar, tree/big-uid).
  assert.deepEqual(field(8, 3000000000), Buffer.from([0x80, 0, 0, 0, 0xb2, 0xd0, 0x5e, 0x00]));
});

test('writeNumeric() writes a negative time as two\'s complement base-256 with a first byte 0xff', () => {
  // -302486400 = -0x12079380 (1960-06-01 00:00:00 UTC), as GNU tar --format=gnu writes it.
  assert.deepEqual(field(12, -302486400n), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xed, 0xf8, 0x6c, 0x80]));
});

test('fitsBase256() keeps the first byte exactly 0x80 or 0xff, as GNU tar reads only those', () => {
  assert.ok(fitsBase256((1n << 56n) - 1n, 8));
  assert.ok(!fitsBase256(1n << 56n, 8));
  assert.ok(fitsBase256(-(1n << 56n), 8));
  assert.ok(!fitsBase256(-(1n << 56n) - 1n, 8));
  const target = Buffer.alloc(8);
  assert.equal(writeNumeric(target, 0, 8, 1n << 60n), false);
});

test('readNumeric() reads octal ended by NUL or space, with leading spaces, and empty fields as 0', () => {
  assert.equal(readNumeric(Buffer.from('0000644\0', 'latin1')), 0o644n);
  assert.equal(readNumeric(Buffer.from('000644 \0', 'latin1')), 0o644n); // libarchive
  assert.equal(readNumeric(Buffer.from('   644 \0', 'latin1')), 0o644n); // v7
  assert.equal(readNumeric(Buffer.from('00000000074 ', 'latin1')), 0o74n);
  assert.equal(readNumeric(Buffer.alloc(8)), 0n);
});

test('readNumeric() reads blanks as 0, skips one leading NUL, and stops at a second, as GNU tar 1.34 does', () => {
  assert.equal(readNumeric(Buffer.from('        ', 'latin1')), 0n); // a Java archiver's unknown uid
  assert.equal(readNumeric(Buffer.from('       \0', 'latin1')), 0n);
  assert.equal(readNumeric(Buffer.from('\x0000000000016', 'latin1')), 0o16n); // one NUL, eleven digits
  assert.equal(readNumeric(Buffer.from('\x00\x00\x001750\x00', 'latin1')), 0n);
  assert.equal(readNumeric(Buffer.from('\x00\x00\x00\x00\x00\x00\x000016', 'latin1')), 0n);
});

test('readNumeric() rejects digits 8 and 9, and text after the number', () => {
  assert.equal(readNumeric(Buffer.from('0000648\0', 'latin1')), null);
  assert.equal(readNumeric(Buffer.from('0644\0abc', 'latin1')), null);
  assert.equal(readNumeric(Buffer.from([0x81, 0, 0, 0, 0, 0, 0, 0])), null);
});

test('readNumeric() reads base-256 back, positive and negative', () => {
  for (const value of [0n, 1n, 3000000000n, (1n << 56n) - 1n, -1n, -302486400n, -(1n << 56n)]) {
    assert.equal(readNumeric(field(8, value)), value, `value ${value}`);
  }
  assert.equal(readNumeric(field(12, -302486400n)), -302486400n);
});
