/**
 * BackupReader and BackupWriter on real files (/tmp): the stream comes out the same whatever
 * piece size the caller reads with; skipRecord() drops exactly the rest of the current record's
 * payload (BackupSeek); abandoning a reader part way leaves no descriptor and no lease behind;
 * a writer fed one byte at a time restores the same tree as one fed in large pieces.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BufferPool } from '../io/buffer-pool.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import { OwnerNames } from '../source/owner-names.js';
import { checkNoDescriptorLeaks } from '../test-support/system-tools.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { BackupReader } from './backup-reader.js';
import { BackupWriter } from './backup-writer.js';
import { recordHeaderBytes, recordType, streamMagic } from '../format/stream/record.js';

checkNoDescriptorLeaks();

function makeTree(root: string): string {
  const tree = join(root, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  writeFileSync(join(tree, 'small.txt'), 'small file\n');
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let index = 0; index < big.length; index += 4096) big.writeUInt32LE(index, index);
  writeFileSync(join(tree, 'sub', 'big.bin'), big);
  const sparse = join(tree, 'sparse.bin');
  const fd = openSync(sparse, 'w');
  writeSync(fd, Buffer.from('data at 1 MiB'), 0, 13, 1024 * 1024);
  closeSync(fd);
  truncateSync(sparse, 8 * 1024 * 1024);
  symlinkSync('sub/big.bin', join(tree, 'link'));
  return tree;
}

async function readAll(tree: string, pieceBytes: number): Promise<Buffer> {
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: 1024 * 1024, bufferCountMax: 1 });
  const reader = new BackupReader(io, [tree], { ownerNames: await OwnerNames.load(), pool, onProblem: (path, error) => assert.fail(`${path}: ${error.message}`) });
  const parts: Buffer[] = [];
  const piece = Buffer.alloc(pieceBytes);
  for (;;) {
    const count = await reader.read(piece);
    if (count === 0) break;
    parts.push(Buffer.from(piece.subarray(0, count)));
  }
  await reader.close();
  assert.equal(pool.leasesOutstanding, 0);
  return Buffer.concat(parts);
}

test('BackupReader gives the same stream for every piece size', async () => {
  using directory = temporaryDirectory();
  const tree = makeTree(directory.path);
  // The first read moves the atimes (relatime), which the stream carries; later reads do not.
  await readAll(tree, 4 * 1024 * 1024);
  const whole = await readAll(tree, 4 * 1024 * 1024);
  assert.ok(whole.subarray(0, 8).equals(streamMagic));
  for (const pieceBytes of [13, 4096, 1024 * 1024 + 7]) assert.ok((await readAll(tree, pieceBytes)).equals(whole), `pieces of ${pieceBytes}`);
  // The sparse file's hole is not in the stream: 8 MiB apparent, 13 bytes of data.
  assert.ok(whole.length < 3.5 * 1024 * 1024, `the stream is ${whole.length} bytes`);
});

test('BackupReader.skipRecord() drops the rest of the current payload and nothing else', async () => {
  using directory = temporaryDirectory();
  const tree = makeTree(directory.path);
  await readAll(tree, 1024 * 1024);
  const whole = await readAll(tree, 1024 * 1024);
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: 1024 * 1024, bufferCountMax: 1 });
  await using reader = new BackupReader(io, [tree], { ownerNames: await OwnerNames.load(), pool, onProblem: () => {} });
  const magic = Buffer.alloc(8);
  assert.equal(await reader.read(magic), 8);
  const kept: Buffer[] = [magic];
  let skippedTotal = 0;
  let dataRecords = 0;
  for (;;) {
    const header = Buffer.alloc(recordHeaderBytes);
    if ((await reader.read(header)) === 0) break;
    kept.push(header);
    const payloadBytes = header.readUInt32LE(4);
    if (header.readUInt16LE(0) === recordType.data && payloadBytes > 3) {
      dataRecords++;
      const start = Buffer.alloc(3);
      assert.equal(await reader.read(start), 3);
      kept.push(start);
      const skipped = await reader.skipRecord();
      assert.equal(skipped, payloadBytes - 3);
      skippedTotal += skipped;
    } else {
      const payload = Buffer.alloc(payloadBytes);
      assert.equal(await reader.read(payload), payloadBytes);
      kept.push(payload);
    }
  }
  assert.ok(dataRecords >= 4, `${dataRecords} data records`);
  assert.equal(Buffer.concat(kept).length + skippedTotal, whole.length);
});

test('BackupReader abandoned in the middle of a file releases its handle and its lease', async () => {
  using directory = temporaryDirectory();
  const tree = makeTree(directory.path);
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: 1024 * 1024, bufferCountMax: 1 });
  const reader = new BackupReader(io, [tree], { ownerNames: await OwnerNames.load(), pool, onProblem: () => {} });
  const piece = Buffer.alloc(1024 * 1024 + 100);
  assert.equal(await reader.read(piece), piece.length);
  assert.equal(pool.leasesOutstanding, 1, 'a file is being read');
  await reader.close();
  assert.equal(pool.leasesOutstanding, 0);
  await assert.rejects(reader.read(piece), { code: 'HOLDFAST_HANDLE_CLOSED' });
});

test('BackupWriter restores the same tree from 1-byte pieces as from whole ones', async () => {
  using directory = temporaryDirectory();
  const tree = makeTree(directory.path);
  const stream = await readAll(tree, 1024 * 1024);
  const io = createNodeIo();
  const ownerNames = await OwnerNames.load();
  for (const pieceBytes of [1, stream.length]) {
    const target = join(directory.path, `target-${pieceBytes}`);
    mkdirSync(target);
    const pool = new BufferPool({ bufferSizeBytes: 1024 * 1024, bufferCountMax: 1 });
    const writer = new BackupWriter(io, Buffer.from(target), pool, {
      owners: false, numericOwner: false, acls: true, xattrs: true, privilegedXattrs: false, ownerNames,
      onWarning: (path, message) => assert.fail(`${path}: ${message}`),
      onRefused: (path, error) => assert.fail(`${path}: ${error.message}`),
    });
    const slice = pieceBytes === 1 ? stream.subarray(0, 200_000) : stream;
    if (pieceBytes === 1) {
      // One byte at a time for the first 200 kB (every record kind is in it), then the rest.
      for (let offset = 0; offset < slice.length; offset++) await writer.write(stream.subarray(offset, offset + 1));
      await writer.write(stream.subarray(slice.length));
    } else {
      await writer.write(stream);
    }
    const summary = await writer.finish();
    assert.equal(summary.entriesRefused, 0);
    assert.equal(pool.leasesOutstanding, 0);
    assert.deepEqual(readFileSync(join(target, 'tree', 'sub', 'big.bin')), readFileSync(join(tree, 'sub', 'big.bin')));
    assert.deepEqual(readFileSync(join(target, 'tree', 'sparse.bin')), readFileSync(join(tree, 'sparse.bin')));
    assert.ok(lstatSync(join(target, 'tree', 'sparse.bin')).blocks * 512 <= 64 * 1024, 'the hole stays a hole');
    assert.ok(lstatSync(join(target, 'tree', 'link')).isSymbolicLink());
  }
});

test('BackupWriter.finish() on a cut stream rejects with HOLDFAST_FORMAT_TRUNCATED and keeps complete entries', async () => {
  using directory = temporaryDirectory();
  const tree = makeTree(directory.path);
  const stream = await readAll(tree, 1024 * 1024);
  const target = join(directory.path, 'target');
  mkdirSync(target);
  const pool = new BufferPool({ bufferSizeBytes: 1024 * 1024, bufferCountMax: 1 });
  const writer = new BackupWriter(createNodeIo(), Buffer.from(target), pool, {
    owners: false, numericOwner: false, acls: true, xattrs: true, privilegedXattrs: false, ownerNames: await OwnerNames.load(),
    onWarning: () => {}, onRefused: () => {},
  });
  // Cut inside big.bin's data. Children come in byte order ("link" < "small.txt" <
  // "sparse.bin" < "sub"), so the first three entries are complete before the cut.
  await writer.write(stream.subarray(0, stream.length - 1024 * 1024));
  await assert.rejects(writer.finish(), { code: 'HOLDFAST_FORMAT_TRUNCATED' });
  assert.equal(readFileSync(join(target, 'tree', 'small.txt'), 'utf8'), 'small file\n');
  assert.ok(lstatSync(join(target, 'tree', 'link')).isSymbolicLink());
  assert.throws(() => lstatSync(join(target, 'tree', 'sub', 'big.bin')), { code: 'ENOENT' }, 'the unfinished file is removed');
  assert.equal(pool.leasesOutstanding, 0);
});
