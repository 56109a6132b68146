/**
 * Shows the sparse maps: encodeSparseMap() writes the map GNU tar 1.34 wrote for a 3 MiB file with
 * data at 1 MiB (4096 bytes) and 2 MiB (8192 bytes), terminal zero-length extent included
 * (gnu-sparse.tar, written out by hand); SparseMapReader reads maps across block boundaries and
 * rejects hostile ones; the 0.1 and old GNU forms decode; normalizeSparseMap() enforces the model.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeOldGnuSparseHeader, decodeSparseMap01, encodeSparseMap, normalizeSparseMap, SparseMapReader } from './sparse.js';

const context = { operation: 'read tar archive', path: 'sparse/sparse-file' };
const fixtureMap = [
  { offsetBytes: 1048576, lengthBytes: 4096 },
  { offsetBytes: 2097152, lengthBytes: 8192 },
];

test('encodeSparseMap() writes GNU tar\'s decimal lines, zero-padded to 512 bytes', () => {
  const map = encodeSparseMap(fixtureMap, 3145728);
  const text = '3\n1048576\n4096\n2097152\n8192\n3145728\n0\n';
  assert.equal(map.length, 512);
  assert.equal(map.toString('latin1', 0, text.length), text);
  assert.deepEqual(map.subarray(text.length), Buffer.alloc(512 - text.length));
});

test('encodeSparseMap() of a file that is all hole has only the terminal extent', () => {
  assert.equal(encodeSparseMap([], 1048576).toString('latin1').replace(/\0+$/, ''), '1\n1048576\n0\n');
});

test('SparseMapReader reads a map that spans blocks and normalizeSparseMap() drops the terminal extent', () => {
  const extents = Array.from({ length: 100 }, (_, index) => ({ offsetBytes: index * 1_000_000, lengthBytes: 4096 }));
  const map = encodeSparseMap(extents, 100_000_000);
  assert.ok(map.length > 512);
  const reader = new SparseMapReader(context);
  let done = false;
  for (let offset = 0; offset < map.length && !done; offset += 512) done = reader.push(map.subarray(offset, offset + 512));
  assert.ok(done);
  assert.equal(reader.blockCount, map.length / 512);
  assert.deepEqual(normalizeSparseMap(reader.extents(), 100_000_000, context), extents);
});

test('SparseMapReader rejects a map with other bytes than digits and newlines', () => {
  const block = Buffer.alloc(512);
  block.write('2\n10\nx\n', 'latin1');
  assert.throws(() => new SparseMapReader(context).push(block), { code: 'HOLDFAST_FORMAT_INVALID' });
  block.fill(0).write(`1\n${'9'.repeat(21)}\n`, 'latin1');
  assert.throws(() => new SparseMapReader(context).push(block), /more than 20 digits/);
});

test('SparseMapReader refuses a map of more extents than sparseExtentCountMax before reading them', () => {
  const block = Buffer.alloc(512);
  block.write('2000000\n0\n', 'latin1');
  assert.throws(() => new SparseMapReader(context).push(block), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'HOLDFAST_LIMIT_EXCEEDED');
    assert.match(error.message, /the number of extents in the sparse map is 2000000, over the limit sparseExtentCountMax = 1048576/);
    return true;
  });
});

test('decodeSparseMap01() reads GNU.sparse.map as GNU tar --sparse-version=0.1 writes it', () => {
  assert.deepEqual(decodeSparseMap01('1048576,4096,2097152,8192,3145728,0', context), [...fixtureMap, { offsetBytes: 3145728, lengthBytes: 0 }]);
  assert.throws(() => decodeSparseMap01('1,2,3', context), { code: 'HOLDFAST_FORMAT_INVALID' });
});

test('decodeOldGnuSparseHeader() reads the pairs and real size of a GNU \'S\' header', () => {
  const block = Buffer.alloc(512);
  // As GNU tar --format=gnu --sparse wrote them for the same file (gnu-format-sparse.tar).
  block.write('00004000000\0' + '00000010000\0' + '00010000000\0' + '00000020000\0', 386, 'latin1');
  block.write('00014000000\0', 483, 'latin1');
  block[482] = 0;
  const part = decodeOldGnuSparseHeader(block, context);
  assert.deepEqual(part, { extents: fixtureMap, isExtended: false, realSizeBytes: 3145728 });
});

test('normalizeSparseMap() rejects extents that overlap, go backwards or pass the real size', () => {
  assert.throws(() => normalizeSparseMap([{ offsetBytes: 0, lengthBytes: 10 }, { offsetBytes: 5, lengthBytes: 10 }], 100, context), /overlaps/);
  assert.throws(() => normalizeSparseMap([{ offsetBytes: 50, lengthBytes: 10 }, { offsetBytes: 0, lengthBytes: 10 }], 100, context), /overlaps/);
  assert.throws(() => normalizeSparseMap([{ offsetBytes: 95, lengthBytes: 10 }], 100, context), /passes the real size 100/);
  assert.deepEqual(normalizeSparseMap([{ offsetBytes: 0, lengthBytes: 0 }, { offsetBytes: 100, lengthBytes: 0 }], 100, context), []);
});
