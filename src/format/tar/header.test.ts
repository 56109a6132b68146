/**
 * Shows the 512-byte header: encodeHeader() reproduces GNU tar's own header blocks byte for byte
 * (taken from test/fixtures/tar/gnu-tree.tar, fields written out by hand), and decodeHeader()
 * verifies the checksum, naming the header's byte position, and reads GNU and bsdtar blocks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { blockBytes, decodeHeader, encodeHeader, isZeroBlock, type HeaderFields } from './header.js';

const fixtures = new URL('../../../test/fixtures/tar/', import.meta.url);
const gnuTree = readFileSync(new URL('gnu-tree.tar', fixtures));
const bsdtarTree = readFileSync(new URL('bsdtar-tree.tar', fixtures));

/** The offset of the header block whose name field is `name` and typeflag `typeflag`. */
function findHeader(archive: Buffer, name: string, typeflag: string): number {
  const wanted = Buffer.from(`${name}\0`, 'latin1');
  for (let offset = 0; offset < archive.length; offset += blockBytes) {
    if (archive.subarray(offset, offset + wanted.length).equals(wanted) && archive[offset + 156] === typeflag.charCodeAt(0)) return offset;
  }
  throw new Error(`no header ${name}`);
}

const fifoFields: HeaderFields = {
  name: Buffer.from('tree/fifo'),
  mode: 0o640,
  uid: 0,
  gid: 0,
  sizeBytes: 0,
  mtimeSeconds: 1704164645n,
  typeflag: '6',
  linkName: null,
  userName: Buffer.from('root'),
  groupName: Buffer.from('root'),
  deviceMajor: 0,
  deviceMinor: 0,
};

test('encodeHeader() writes the ustar header GNU tar wrote for tree/fifo', () => {
  const offset = findHeader(gnuTree, 'tree/fifo', '6');
  const block = Buffer.alloc(blockBytes);
  encodeHeader(fifoFields, block);
  assert.deepEqual(block, gnuTree.subarray(offset, offset + blockBytes));
});

test('encodeHeader() writes GNU tar\'s pax header block: mode 0644, owner 0, no names or devices', () => {
  const offset = findHeader(gnuTree, 'tree/PaxHeaders/fifo', 'x');
  const block = Buffer.alloc(blockBytes);
  encodeHeader(
    { ...fifoFields, name: Buffer.from('tree/PaxHeaders/fifo'), mode: 0o644, sizeBytes: 50, typeflag: 'x', userName: null, groupName: null, deviceMajor: null, deviceMinor: null },
    block,
  );
  assert.deepEqual(block, gnuTree.subarray(offset, offset + blockBytes));
});

test('encodeHeader() truncates a long name and link target to their fields, as strncpy does', () => {
  const block = Buffer.alloc(blockBytes);
  encodeHeader({ ...fifoFields, name: Buffer.alloc(150, 0x64), typeflag: '2', linkName: Buffer.alloc(120, 0x74) }, block);
  assert.deepEqual(block.subarray(0, 100), Buffer.alloc(100, 0x64));
  assert.equal(block[100], 0x30); // the mode field starts right after
  assert.deepEqual(block.subarray(157, 257), Buffer.alloc(100, 0x74));
  const decoded = decodeHeader(block, 0, 'read tar archive');
  assert.equal(decoded.name.length, 100);
  assert.equal(decoded.linkName.length, 100);
});

test('decodeHeader() reads GNU tar\'s header of a block device', () => {
  const offset = findHeader(gnuTree, 'tree/blockdev', '4');
  const header = decodeHeader(gnuTree.subarray(offset, offset + blockBytes), offset, 'read tar archive');
  assert.deepEqual(header, {
    name: Buffer.from('tree/blockdev'),
    mode: 0o660,
    uid: 0,
    gid: 0,
    sizeBytes: 0,
    mtimeSeconds: 1704164645n,
    typeflag: '4',
    linkName: Buffer.alloc(0),
    format: 'ustar',
    userName: Buffer.from('root'),
    groupName: Buffer.from('root'),
    deviceMajor: 7,
    deviceMinor: 200,
  });
});

test('decodeHeader() reads bsdtar\'s base-256 uid and space-ended octal fields', () => {
  const offset = findHeader(bsdtarTree, 'tree/big-uid', '0');
  const header = decodeHeader(bsdtarTree.subarray(offset, offset + blockBytes), offset, 'read tar archive');
  assert.equal(header.uid, 3000000000);
  assert.equal(header.gid, 3000000001);
  assert.equal(header.sizeBytes, 10);
  assert.equal(header.mode, 0o644);
});

test('decodeHeader() rejects a wrong checksum, naming the entry and the byte', () => {
  const offset = findHeader(gnuTree, 'tree/fifo', '6');
  const block = Buffer.from(gnuTree.subarray(offset, offset + blockBytes));
  block[0x40] = 0x41; // a byte of the name field that the checksum covers
  assert.throws(() => decodeHeader(block, offset, 'read tar archive'), (error: Error & { code?: string; path?: string }) => {
    assert.equal(error.code, 'HOLDFAST_FORMAT_INVALID');
    assert.equal(error.path, 'tree/fifo');
    assert.equal(error.message, `Cannot read tar archive "tree/fifo": the header at byte ${offset} has checksum 12674 (octal) but its bytes sum to 12775`);
    return true;
  });
});

test('decodeHeader() accepts the signed-byte checksum of old writers', () => {
  const block = Buffer.alloc(blockBytes);
  encodeHeader({ ...fifoFields, name: Buffer.from('caf\xe9', 'latin1') }, block);
  // Recompute the checksum over signed bytes: 0xe9 counts as -23 instead of 233.
  const signedSum = [...block].reduce((sum, byte, index) => sum + (index >= 148 && index < 156 ? 0x20 : byte > 127 ? byte - 256 : byte), 0);
  block.write(`${signedSum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  assert.equal(decodeHeader(block, 0, 'read tar archive').name.toString('latin1'), 'caf\xe9');
});

test('decodeHeader() joins the ustar prefix and name, and ignores the prefix of GNU headers', () => {
  const block = Buffer.alloc(blockBytes);
  encodeHeader({ ...fifoFields, name: Buffer.from('name') }, block);
  block.write('the/prefix', 345, 'latin1');
  const rechecksum = (): void => {
    block.fill(0x20, 148, 156);
    const sum = block.reduce((total, byte) => total + byte, 0);
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  };
  rechecksum();
  assert.equal(decodeHeader(block, 0, 'read tar archive').name.toString(), 'the/prefix/name');
  block.write('ustar  \0', 257, 'latin1');
  rechecksum();
  const gnu = decodeHeader(block, 0, 'read tar archive');
  assert.equal(gnu.format, 'gnu');
  assert.equal(gnu.name.toString(), 'name');
});

test('isZeroBlock() is true only for 512 zero bytes', () => {
  assert.ok(isZeroBlock(Buffer.alloc(blockBytes)));
  const almost = Buffer.alloc(blockBytes);
  almost[511] = 1;
  assert.ok(!isZeroBlock(almost));
  assert.ok(!isZeroBlock(Buffer.alloc(100)));
});
