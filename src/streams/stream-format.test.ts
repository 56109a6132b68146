/**
 * The backup stream format, version 1 (docs/stream-format.md): a golden byte fixture pins the
 * encoding, and decoding checks every promise the format makes to a reader: the same entries
 * back from pieces of any size, unknown record types skipped, a flipped byte or a cut anywhere
 * caught with the right code and the entry named, and every complete entry before it delivered.
 *
 * To regenerate the fixture after a deliberate format change (and a version bump):
 *   HOLDFAST_WRITE_GOLDEN=1 npm test -- src/streams/stream-format.test.ts
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { emptyEntryHeader, type EntryHeader } from '../format/entry.js';
import { bufferInput } from './byte-input.js';
import { decodeStream } from './stream-decoder.js';
import { encodeStream } from './stream-encoder.js';
import { CollectingSink, sourceEntries } from '../test-support/collecting-sink.js';
import { recordHeaderBytes, recordType, streamMagic } from '../format/stream/record.js';

const goldenUrl = new URL('../../test/fixtures/stream/golden-v1.hfstream', import.meta.url);

function goldenEntries(): { header: EntryHeader; data: Buffer }[] {
  const directory = emptyEntryHeader(Buffer.from('tree'), 'directory');
  Object.assign(directory, { mode: 0o2755, uid: 54321, gid: 54322, mtimeNs: -2_000_000_000_123_456_789n, atimeNs: 1n, ctimeNs: 1_700_000_000_000_000_001n });
  directory.aclAccess = [
    { tag: 'user-owner', id: null, permissions: 7 },
    { tag: 'user', id: 1000, permissions: 5 },
    { tag: 'group-owner', id: null, permissions: 5 },
    { tag: 'mask', id: null, permissions: 5 },
    { tag: 'other', id: null, permissions: 5 },
  ];
  directory.aclDefault = [...directory.aclAccess];
  const file = emptyEntryHeader(Buffer.from([0x74, 0x72, 0x65, 0x65, 0x2f, 0xff, 0xfe, 0x0a, 0x78]), 'file');
  Object.assign(file, { mode: 0o4755, userName: 'root', groupName: 'root', mtimeNs: 1_700_000_000_123_456_789n, sizeBytes: 3 * 1024 * 1024 });
  file.sparseMap = [
    { offsetBytes: 0, lengthBytes: 5 },
    { offsetBytes: 2 * 1024 * 1024, lengthBytes: 3 },
  ];
  file.xattrs = [
    { name: 'user.binary', value: Buffer.from([0, 0xff, 1]) },
    { name: 'user.empty', value: Buffer.alloc(0) },
  ];
  const link = emptyEntryHeader(Buffer.from('tree/link'), 'symlink');
  link.linkTarget = Buffer.from('../outside/\xe9', 'latin1');
  const hardlink = emptyEntryHeader(Buffer.from('tree/second-name'), 'hardlink');
  hardlink.linkTarget = file.path;
  const device = emptyEntryHeader(Buffer.from('tree/null'), 'character-device');
  Object.assign(device, { deviceMajor: 1, deviceMinor: 3, mode: 0o666 });
  return [
    { header: directory, data: Buffer.alloc(0) },
    { header: file, data: Buffer.from('hellobye') },
    { header: link, data: Buffer.alloc(0) },
    { header: hardlink, data: Buffer.alloc(0) },
    { header: device, data: Buffer.alloc(0) },
  ];
}

async function encode(items: { header: EntryHeader; data: Buffer }[], pieceBytes = 65536): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const record of encodeStream(sourceEntries(items, pieceBytes))) parts.push(Buffer.from(record.header), Buffer.from(record.payload));
  return Buffer.concat(parts);
}

async function decode(bytes: Buffer, pieceBytes = bytes.length): Promise<{ sink: CollectingSink; error: unknown }> {
  const sink = new CollectingSink();
  try {
    await decodeStream(bufferInput(bytes, 'test.hfstream', pieceBytes), sink, 'test.hfstream');
    return { sink, error: null };
  } catch (error) {
    return { sink, error };
  }
}

/** Offsets of every record header in a stream. */
function recordOffsets(bytes: Buffer): { offset: number; type: number; payloadBytes: number }[] {
  const records = [];
  for (let offset = streamMagic.length; offset < bytes.length; ) {
    const payloadBytes = bytes.readUInt32LE(offset + 4);
    records.push({ offset, type: bytes.readUInt16LE(offset), payloadBytes });
    offset += recordHeaderBytes + payloadBytes;
  }
  return records;
}

test('encodeStream() gives the golden bytes of format version 1', async () => {
  const encoded = await encode(goldenEntries(), 3);
  if (process.env['HOLDFAST_WRITE_GOLDEN'] === '1') writeFileSync(goldenUrl, encoded);
  assert.deepEqual(encoded, readFileSync(goldenUrl));
});

test('decodeStream() reads the golden stream back, from pieces of 1, 7 and all bytes', async () => {
  const golden = readFileSync(goldenUrl);
  for (const pieceBytes of [1, 7, golden.length]) {
    const { sink, error } = await decode(golden, pieceBytes);
    assert.equal(error, null);
    assert.deepEqual(
      sink.entries.map((entry) => ({ header: entry.header, data: entry.data, ended: entry.ended })),
      goldenEntries().map((item) => ({ header: item.header, data: item.data, ended: true })),
    );
  }
});

test('decodeStream() skips a record type it does not know', async () => {
  const golden = readFileSync(goldenUrl);
  const entryRecord = recordOffsets(golden).find((record) => record.type === recordType.xattr)!;
  const unknown = Buffer.alloc(recordHeaderBytes + 4);
  const payload = Buffer.from('new!');
  unknown.writeUInt16LE(0x7777, 0);
  unknown.writeUInt32LE(payload.length, 4);
  unknown.writeUInt32LE(crc32(payload), 8);
  unknown.writeUInt32LE(crc32(unknown.subarray(0, 12)), 12);
  payload.copy(unknown, recordHeaderBytes);
  const extended = Buffer.concat([golden.subarray(0, entryRecord.offset), unknown, golden.subarray(entryRecord.offset)]);
  const { sink, error } = await decode(extended, 5);
  assert.equal(error, null);
  assert.deepEqual(sink.entries.map((entry) => entry.header), goldenEntries().map((item) => item.header));
});

test('decodeStream() rejects a flipped byte in any record with HOLDFAST_FORMAT_INVALID', async () => {
  const golden = readFileSync(goldenUrl);
  for (const record of recordOffsets(golden)) {
    for (const where of [record.offset + 1, record.offset + recordHeaderBytes + record.payloadBytes - 1]) {
      if (where < record.offset + recordHeaderBytes - 1 || record.payloadBytes > 0 || where === record.offset + 1) {
        const corrupt = Buffer.from(golden);
        corrupt[where]! ^= 0x10;
        const { error } = await decode(corrupt);
        assert.equal((error as { code?: string } | null)?.code, 'HOLDFAST_FORMAT_INVALID', `a flip at byte ${where} (record type ${record.type})`);
      }
    }
  }
});

test('decodeStream() cut at any record boundary reports HOLDFAST_FORMAT_TRUNCATED after delivering the complete entries', async () => {
  const golden = readFileSync(goldenUrl);
  const records = recordOffsets(golden);
  for (const record of records.slice(1)) {
    const { sink, error } = await decode(golden.subarray(0, record.offset + 3));
    assert.equal((error as { code?: string }).code, 'HOLDFAST_FORMAT_TRUNCATED');
    const endedBefore = records.filter((earlier) => earlier.type === recordType.entryEnd && earlier.offset < record.offset).length;
    assert.equal(sink.entries.filter((entry) => entry.ended).length, endedBefore);
    const open = sink.entries.find((entry) => !entry.ended);
    if (open !== undefined) assert.match((error as Error).message, new RegExp(`in entry "${open.header.path.toString('latin1').slice(0, 4)}`));
  }
});

test('decodeStream() refuses a record larger than its limit before reading it', async () => {
  const golden = readFileSync(goldenUrl);
  const huge = Buffer.from(golden.subarray(0, streamMagic.length + recordHeaderBytes + 4));
  const header = Buffer.alloc(recordHeaderBytes);
  header.writeUInt16LE(recordType.entry, 0);
  header.writeUInt32LE(0xfffffff0, 4);
  header.writeUInt32LE(crc32(header.subarray(0, 12)), 12);
  const { error } = await decode(Buffer.concat([huge, header]));
  assert.equal((error as { code?: string }).code, 'HOLDFAST_LIMIT_EXCEEDED');
});

test('decodeStream() refuses a newer version with HOLDFAST_FORMAT_VERSION', async () => {
  const golden = Buffer.from(readFileSync(goldenUrl));
  const start = streamMagic.length;
  golden.writeUInt16LE(2, start + recordHeaderBytes);
  golden.writeUInt32LE(crc32(golden.subarray(start + recordHeaderBytes, start + recordHeaderBytes + 4)), start + 8);
  golden.writeUInt32LE(crc32(golden.subarray(start, start + 12)), start + 12);
  const { error } = await decode(golden);
  assert.equal((error as { code?: string }).code, 'HOLDFAST_FORMAT_VERSION');
});

test('decodeStream() refuses data that does not match the promised size', async () => {
  const items = goldenEntries();
  items[1]!.data = Buffer.from('hellobye!');
  await assert.rejects(encode(items), { code: 'HOLDFAST_SIZE_MISMATCH' });
});
