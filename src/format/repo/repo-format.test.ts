/**
 * The repository's binary formats, version 1 (docs/repository-format.md): golden byte fixtures
 * pin a pack header, an index file and a tree blob built with the codecs from fixed inputs (fixed
 * ids; entries with xattrs, ACLs, a sparse map, a symlink, a hardlink, a non-UTF-8 name and times
 * before 1970), and decoding them gives the inputs back. Then every promise made to a reader:
 * a wrong magic and a newer version are refused with their codes, a cut anywhere is an error and
 * never a crash (a tree cut exactly between two entries is a shorter valid tree: the blob's id and
 * recorded raw length catch that, not the codec), a flipped byte in any tree record fails its
 * CRC, chunk sizes that disagree with the entry's data size are refused, a pack header whose blobs
 * run past the pack is refused, and a record type the reader does not know is skipped.
 *
 * To regenerate the fixtures after a deliberate format change (and a version bump):
 *   HOLDFAST_WRITE_GOLDEN=1 node scripts/run-tests.mjs src/format/repo/repo-format.test.ts
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { HoldfastError } from '../../errors/holdfast-error.js';
import { emptyEntryHeader } from '../entry.js';
import { encodeRecordHeader, recordHeaderBytes, recordType } from '../stream/record.js';
import type { PackedBlob } from './blob-entry.js';
import { decodeIndex, encodeIndex, indexMagic, type IndexedPack } from './index-codec.js';
import { decodePackHeader, encodePackHeader, packMagic } from './pack-codec.js';
import { decodeTreeBlob, encodeTreeEntry, treeBlobStart, treeMagic, treeRecordType, type TreeEntry } from './tree-codec.js';

const fixtures = new URL('../../../test/fixtures/repo/', import.meta.url);
const writeGolden = process.env['HOLDFAST_WRITE_GOLDEN'] === '1';

/** A fixed 32-byte id: no two seeds give the same bytes. */
function fixedId(seed: number): Buffer {
  return Buffer.from(Array.from({ length: 32 }, (_, index) => (seed * 37 + index * 11 + 5) & 0xff));
}

function goldenPackBlobs(): PackedBlob[] {
  const sizes: [PackedBlob['type'], number, number][] = [
    ['data', 1_048_605, 1_048_576],
    ['tree', 1_200, 3_000],
    ['data', 29, 0],
    ['data', 700_029, 700_000],
  ];
  let offsetBytes = 0;
  return sizes.map(([type, storedBytes, rawBytes], index) => {
    const blob = { type, id: fixedId(index + 1), offsetBytes, storedBytes, rawBytes };
    offsetBytes += storedBytes;
    return blob;
  });
}

function packDataBytes(blobs: readonly PackedBlob[]): number {
  return blobs.reduce((total, blob) => total + blob.storedBytes, 0);
}

function goldenIndex(): IndexedPack[] {
  return [
    { packId: fixedId(100), blobs: goldenPackBlobs() },
    { packId: fixedId(101), blobs: [{ type: 'tree', id: fixedId(20), offsetBytes: 0, storedBytes: 4_000, rawBytes: 16_384 }] },
    { packId: fixedId(102), blobs: [] },
  ];
}

function goldenTreeEntries(): TreeEntry[] {
  const directory = emptyEntryHeader(Buffer.from('home'), 'directory');
  Object.assign(directory, { mode: 0o3775, uid: 1000, gid: 1001, userName: 'ada', groupName: 'staff', atimeNs: 1n, mtimeNs: -1n, ctimeNs: 1_700_000_000_000_000_001n });
  directory.xattrs = [{ name: 'user.comment', value: Buffer.from('kept\n') }];
  directory.aclAccess = [
    { tag: 'user-owner', id: null, permissions: 7 },
    { tag: 'user', id: 2000, permissions: 5 },
    { tag: 'group-owner', id: null, permissions: 5 },
    { tag: 'group', id: 3000, permissions: 1 },
    { tag: 'mask', id: null, permissions: 5 },
    { tag: 'other', id: null, permissions: 0 },
  ];
  directory.aclDefault = [
    { tag: 'user-owner', id: null, permissions: 7 },
    { tag: 'group-owner', id: null, permissions: 5 },
    { tag: 'other', id: null, permissions: 5 },
  ];
  // A sparse file under a name that is not UTF-8, modified before 1970.
  const sparse = emptyEntryHeader(Buffer.from([0x68, 0x6f, 0x6d, 0x65, 0x2f, 0xff, 0xfe, 0x0a, 0x78]), 'file');
  Object.assign(sparse, { mode: 0o4755, mtimeNs: -2_000_000_000_123_456_789n, atimeNs: -1_000_000_000n, sizeBytes: 3 * 1024 * 1024 });
  sparse.sparseMap = [
    { offsetBytes: 0, lengthBytes: 5 },
    { offsetBytes: 2 * 1024 * 1024, lengthBytes: 700_000 },
  ];
  sparse.xattrs = [
    { name: 'user.binary', value: Buffer.from([0, 0xff, 1]) },
    { name: 'security.capability', value: Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0]) },
  ];
  const empty = emptyEntryHeader(Buffer.from('home/empty'), 'file');
  const link = emptyEntryHeader(Buffer.from('home/link'), 'symlink');
  link.linkTarget = Buffer.from('../outside/\xe9', 'latin1');
  const hardlink = emptyEntryHeader(Buffer.from('home/second-name'), 'hardlink');
  hardlink.linkTarget = sparse.path;
  return [
    { header: directory, chunks: [], device: 0xfd01n, inode: 2n },
    { header: sparse, chunks: [{ id: fixedId(1), rawBytes: 5 }, { id: fixedId(4), rawBytes: 700_000 }], device: 0xfd01n, inode: 0xffff_ffff_ffff_fff0n },
    { header: empty, chunks: [], device: 0xfd01n, inode: 12n },
    { header: link, chunks: [], device: 0n, inode: 0n },
    { header: hardlink, chunks: [], device: 0xfd01n, inode: 0xffff_ffff_ffff_fff0n },
  ];
}

function encodeTree(entries: readonly TreeEntry[]): Buffer {
  return Buffer.concat([treeBlobStart(), ...entries.map((entry) => encodeTreeEntry(entry))]);
}

/** The offset, type and payload size of every record of a tree blob. */
function treeRecords(bytes: Buffer): { offset: number; type: number; payloadBytes: number }[] {
  const records = [];
  for (let offset = treeMagic.length + 2; offset < bytes.length; ) {
    const payloadBytes = bytes.readUInt32LE(offset + 4);
    records.push({ offset, type: bytes.readUInt16LE(offset), payloadBytes });
    offset += recordHeaderBytes + payloadBytes;
  }
  return records;
}

function golden(name: string, encoded: Buffer): Buffer {
  const url = new URL(name, fixtures);
  if (writeGolden) {
    mkdirSync(fixtures, { recursive: true });
    writeFileSync(url, encoded);
  }
  return readFileSync(url);
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof HoldfastError, `a HoldfastError, not ${String(error)}`);
    return error.code;
  }
  return 'no error';
}

function withVersion(bytes: Buffer, magicBytes: number, version: number): Buffer {
  const changed = Buffer.from(bytes);
  changed.writeUInt16LE(version, magicBytes);
  return changed;
}

test('encodePackHeader() gives the golden bytes of pack-header-v1.bin', () => {
  const encoded = encodePackHeader(goldenPackBlobs());
  assert.deepEqual(encoded, golden('pack-header-v1.bin', encoded));
});

test('encodeIndex() gives the golden bytes of index-v1.bin', () => {
  const encoded = encodeIndex(goldenIndex());
  assert.deepEqual(encoded, golden('index-v1.bin', encoded));
});

test('encodeTreeEntry() gives the golden bytes of tree-v1.bin', () => {
  const encoded = encodeTree(goldenTreeEntries());
  assert.deepEqual(encoded, golden('tree-v1.bin', encoded));
});

test('the decoders read the golden fixtures back to their inputs', () => {
  const blobs = goldenPackBlobs();
  assert.deepEqual(decodePackHeader(golden('pack-header-v1.bin', encodePackHeader(blobs)), packDataBytes(blobs), 'golden pack'), blobs);
  assert.deepEqual(decodeIndex(golden('index-v1.bin', encodeIndex(goldenIndex())), 'golden index'), goldenIndex());
  assert.deepEqual(decodeTreeBlob(golden('tree-v1.bin', encodeTree(goldenTreeEntries())), 'golden tree'), goldenTreeEntries());
});

test('the decoders refuse a wrong magic with HOLDFAST_FORMAT_INVALID', () => {
  const blobs = goldenPackBlobs();
  const corrupt = (bytes: Buffer): Buffer => {
    const changed = Buffer.from(bytes);
    changed[0]! ^= 0x20;
    return changed;
  };
  assert.equal(codeOf(() => decodePackHeader(corrupt(encodePackHeader(blobs)), packDataBytes(blobs), 'pack')), 'HOLDFAST_FORMAT_INVALID');
  assert.equal(codeOf(() => decodeIndex(corrupt(encodeIndex(goldenIndex())), 'index')), 'HOLDFAST_FORMAT_INVALID');
  assert.equal(codeOf(() => decodeTreeBlob(corrupt(encodeTree(goldenTreeEntries())), 'tree')), 'HOLDFAST_FORMAT_INVALID');
  // Each kind's magic is its own: a tree is not an index, an index is not a pack header.
  assert.equal(codeOf(() => decodeIndex(encodeTree(goldenTreeEntries()), 'index')), 'HOLDFAST_FORMAT_INVALID');
  assert.equal(codeOf(() => decodePackHeader(encodeIndex(goldenIndex()), packDataBytes(blobs), 'pack')), 'HOLDFAST_FORMAT_INVALID');
});

test('the decoders refuse a newer version with HOLDFAST_FORMAT_VERSION', () => {
  const blobs = goldenPackBlobs();
  assert.equal(codeOf(() => decodePackHeader(withVersion(encodePackHeader(blobs), packMagic.length, 2), packDataBytes(blobs), 'pack')), 'HOLDFAST_FORMAT_VERSION');
  assert.equal(codeOf(() => decodeIndex(withVersion(encodeIndex(goldenIndex()), indexMagic.length, 2), 'index')), 'HOLDFAST_FORMAT_VERSION');
  assert.equal(codeOf(() => decodeTreeBlob(withVersion(encodeTree(goldenTreeEntries()), treeMagic.length, 2), 'tree')), 'HOLDFAST_FORMAT_VERSION');
});

test('decodePackHeader() and decodeIndex() refuse every truncation with an error', () => {
  const blobs = goldenPackBlobs();
  const header = encodePackHeader(blobs);
  for (let length = 0; length < header.length; length++) {
    assert.equal(codeOf(() => decodePackHeader(header.subarray(0, length), packDataBytes(blobs), 'pack')), 'HOLDFAST_FORMAT_INVALID', `pack header cut at ${length}`);
  }
  const index = encodeIndex(goldenIndex());
  for (let length = 0; length < index.length; length++) {
    assert.equal(codeOf(() => decodeIndex(index.subarray(0, length), 'index')), 'HOLDFAST_FORMAT_INVALID', `index cut at ${length}`);
  }
});

test('decodeTreeBlob() cut anywhere is an error, or between two entries the entries before the cut', () => {
  const entries = goldenTreeEntries();
  const tree = encodeTree(entries);
  const entryEnds = treeRecords(tree)
    .filter((record) => record.type === recordType.entryEnd)
    .map((record) => record.offset + recordHeaderBytes + record.payloadBytes);
  const boundaries = new Map([[treeMagic.length + 2, 0], ...entryEnds.map((end, index): [number, number] => [end, index + 1])]);
  let errors = 0;
  for (let length = 0; length < tree.length; length++) {
    const entriesBefore = boundaries.get(length);
    if (entriesBefore === undefined) {
      assert.equal(codeOf(() => decodeTreeBlob(tree.subarray(0, length), 'tree')), 'HOLDFAST_FORMAT_INVALID', `tree cut at ${length}`);
      errors++;
    } else {
      // The tree format has no entry count: a cut between entries is a valid shorter tree. A tree
      // blob is only ever read after its id (keyed BLAKE3) and raw length were checked.
      assert.deepEqual(decodeTreeBlob(tree.subarray(0, length), 'tree'), entries.slice(0, entriesBefore), `tree cut at ${length}`);
    }
  }
  assert.equal(errors, tree.length - entries.length);
});

test('decodeTreeBlob() refuses a flipped byte in any record with HOLDFAST_FORMAT_INVALID', () => {
  const tree = encodeTree(goldenTreeEntries());
  for (let position = treeMagic.length + 2; position < tree.length; position++) {
    const corrupt = Buffer.from(tree);
    corrupt[position]! ^= 0x10;
    assert.equal(codeOf(() => decodeTreeBlob(corrupt, 'tree')), 'HOLDFAST_FORMAT_INVALID', `a flip at byte ${position}`);
  }
});

test('decodeTreeBlob() refuses an entry whose chunks do not add up to its data size', () => {
  for (const rawBytes of [699_999, 700_001]) {
    const entries = goldenTreeEntries();
    entries[1]!.chunks[1]!.rawBytes = rawBytes;
    assert.throws(() => decodeTreeBlob(encodeTree(entries), 'tree'), { code: 'HOLDFAST_FORMAT_INVALID', message: /has chunks of/ });
  }
  const directoryWithData = goldenTreeEntries()[0]!;
  directoryWithData.chunks = [{ id: fixedId(9), rawBytes: 1 }];
  assert.throws(() => decodeTreeBlob(encodeTree([directoryWithData]), 'tree'), { code: 'HOLDFAST_FORMAT_INVALID' });
  // An entry-end record that disagrees with the chunks: rebuilt with a valid record header.
  const tree = encodeTree([goldenTreeEntries()[1]!]);
  const end = treeRecords(tree).find((record) => record.type === recordType.entryEnd)!;
  const payload = Buffer.alloc(8);
  payload.writeBigUInt64LE(700_004n);
  const changed = Buffer.concat([tree.subarray(0, end.offset), encodeRecordHeader(recordType.entryEnd, payload), payload]);
  assert.throws(() => decodeTreeBlob(changed, 'tree'), { code: 'HOLDFAST_FORMAT_INVALID', message: /has chunks of/ });
});

test('decodePackHeader() refuses blobs that run past the pack data', () => {
  const blobs = goldenPackBlobs();
  const header = encodePackHeader(blobs);
  assert.equal(codeOf(() => decodePackHeader(header, packDataBytes(blobs) - 1, 'pack')), 'HOLDFAST_FORMAT_INVALID');
  assert.equal(codeOf(() => decodePackHeader(header, 0, 'pack')), 'HOLDFAST_FORMAT_INVALID');
});

test('decodeTreeBlob() skips a record type it does not know, inside an entry', () => {
  const tree = encodeTree(goldenTreeEntries());
  const records = treeRecords(tree);
  const payload = Buffer.from('a record of a later version');
  const unknown = Buffer.concat([encodeRecordHeader(0x7777, payload), payload]);
  const places = [
    records.find((record) => record.type === recordType.xattr)!.offset,
    records.find((record) => record.type === treeRecordType.chunks)!.offset,
    records.find((record) => record.type === treeRecordType.identity)!.offset,
  ];
  for (const place of places) {
    const extended = Buffer.concat([tree.subarray(0, place), unknown, tree.subarray(place)]);
    assert.deepEqual(decodeTreeBlob(extended, 'tree'), goldenTreeEntries(), `an unknown record at byte ${place}`);
  }
});
