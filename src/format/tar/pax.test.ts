/**
 * Shows pax records and times as GNU tar 1.34 writes them. The record length counts its own
 * digits; the time strings come from archives GNU tar and bsdtar made of files touched to known
 * times (test/fixtures/tar/make-fixtures.sh), written out here by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePaxRecords, encodePaxRecords, encodePaxTime, libarchivePaxTimeNs, parsePaxTime, parsePaxTimeBeforeGarbage, paxRecordBytes, paxTimeNs } from './pax.js';

const context = { operation: 'read tar archive', path: 'tree/file' };

test('encodePaxRecords() writes "%d key=value\\n" with the length counting itself', () => {
  const bytes = encodePaxRecords([
    { key: 'mtime', value: Buffer.from('1614834367.123456789') },
    { key: 'SCHILY.xattr.user.empty', value: Buffer.alloc(0) },
  ]);
  assert.equal(bytes.toString('latin1'), '30 mtime=1614834367.123456789\n28 SCHILY.xattr.user.empty=\n');
});

test('paxRecordBytes() adds a digit where counting the digits crosses a power of ten', () => {
  // key + value + 3 = 97 -> "99 ..." (97 + 2); 98 -> 100 + 3 digits = 101.
  assert.equal(paxRecordBytes(1, 93), 99);
  assert.equal(paxRecordBytes(1, 94), 101);
  assert.equal(paxRecordBytes(1, 95), 102);
  for (const valueBytes of [0, 5, 93, 94, 95, 994, 995, 996, 9993, 9994]) {
    const record = encodePaxRecords([{ key: 'k', value: Buffer.alloc(valueBytes, 0x61) }]);
    assert.equal(Number(record.toString('latin1').split(' ')[0]), record.length, `value of ${valueBytes} bytes`);
  }
});

test('decodePaxRecords() keeps raw values: newlines, "=" and bytes that are not UTF-8', () => {
  const value = Buffer.from([0x0a, 0x3d, 0x00, 0xff, 0x80, 0xfe]);
  const bytes = Buffer.concat([Buffer.from('35 SCHILY.xattr.user.binary='), value, Buffer.from('\n22 path=tree/caf\xe9.txt\n', 'latin1')]);
  const records = decodePaxRecords(bytes, 1024, context);
  assert.deepEqual(records.map((record) => record.key), ['SCHILY.xattr.user.binary', 'path']);
  assert.deepEqual(records[0]!.value, value);
  assert.deepEqual(records[1]!.value, Buffer.from('tree/caf\xe9.txt', 'latin1'));
});

test('decodePaxRecords() rejects a length that lies, naming the record\'s byte', () => {
  const bytes = Buffer.from('30 atime=1795218396.474769711\n29 ctime=1795218396.438769711\n');
  assert.throws(() => decodePaxRecords(bytes, 1024, context), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'HOLDFAST_FORMAT_INVALID');
    assert.match(error.message, /^Cannot read tar archive "tree\/file": malformed pax record at byte 1054: its length 29 does not end at a newline$/);
    return true;
  });
  assert.throws(() => decodePaxRecords(Buffer.from('99 atime=1\n'), 0, context), /its length 99 does not fit the 11 bytes left/);
  assert.throws(() => decodePaxRecords(Buffer.from('x atime=1\n'), 0, context), /no decimal length/);
  assert.throws(() => decodePaxRecords(Buffer.from('10 atime1\n\n'), 0, context), /has no "="/);
  assert.throws(() => decodePaxRecords(Buffer.from('6 =ab\n'), 0, context), /key is empty/);
});

test('encodePaxTime() writes times as GNU tar 1.34 does, before 1970 included', () => {
  const cases: Array<[bigint, string]> = [
    [1614834367123456789n, '1614834367.123456789'],
    [1704164645000000000n, '1704164645'],
    [1795218396474769710n, '1795218396.47476971'],
    [0n, '0'],
    // 1960-06-01 00:00:00.25 UTC: GNU tar's archive says "-302486399.75" (gnu-tree.tar).
    [-302486399750000000n, '-302486399.75'],
    // 0.25 s before 1970, seen in a GNU archive of a file touched to 1969-12-31 23:59:59.75.
    [-250000000n, '-0.25'],
    // 1900-01-01 00:00:00.25 on tmpfs: GNU tar wrote "-2208988799.75".
    [-2208988799750000000n, '-2208988799.75'],
    [-2147483648000000000n, '-2147483648'],
  ];
  for (const [timeNs, text] of cases) {
    assert.equal(encodePaxTime(timeNs), text);
    assert.equal(paxTimeNs(parsePaxTime(text)!), timeNs, `decoding ${text}`);
  }
});

test('libarchivePaxTimeNs() reads bsdtar\'s "-302486400.25" as 1960-06-01 00:00:00.25', () => {
  const time = parsePaxTime('-302486400.25')!;
  assert.equal(libarchivePaxTimeNs(time), -302486399750000000n);
  assert.equal(paxTimeNs(time), -302486400250000000n);
});

test('parsePaxTime() keeps nine fraction digits and rejects what is not a number', () => {
  assert.equal(paxTimeNs(parsePaxTime('1.1234567891')!), 1123456789n);
  assert.equal(paxTimeNs(parsePaxTime('12.')!), 12000000000n);
  assert.equal(parsePaxTime('1e9'), null);
  assert.equal(parsePaxTime(''), null);
  assert.equal(parsePaxTime('--1'), null);
});

test('parsePaxTimeBeforeGarbage() reads the number before garbage, as GNU tar and bsdtar do, and nothing without a number', () => {
  const read = parsePaxTimeBeforeGarbage('1748089464.951928467a');
  assert.equal(read === null ? null : paxTimeNs(read.time), 1748089464_951928467n);
  assert.equal(read?.garbage, 'a');
  assert.equal(parsePaxTimeBeforeGarbage('12 x')?.garbage, ' x');
  assert.equal(parsePaxTimeBeforeGarbage('a12'), null);
  assert.equal(parsePaxTimeBeforeGarbage('1.5.3')?.garbage, '.3');
  assert.equal(parsePaxTimeBeforeGarbage('12'), null);
});
