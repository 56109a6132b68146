/**
 * SnapshotExport with takeSnapshot() on real files (a temporary image and state directory, the
 * real Io): a snapshot of a live Volume keeps giving back the image as it was at snapshot time
 * while hundreds of random live writes, some across block boundaries, run at once with
 * hundreds of random snapshot reads (copy-on-write races: a read of a block the live volume is
 * overwriting, a read spanning preserved and unpreserved blocks). Its dirty bitmap is exactly the
 * blocks written before it, and the live map starts empty. A copy-on-write store limit abandons
 * the snapshot (its reads fail with EIO, it leaves the volume's list, the volume says so once),
 * and the live writes, concurrent or not, all succeed with their bytes on the image.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Prng } from '../base/prng.js';
import { BufferPool } from '../io/buffer-pool.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import type { Io } from '../io/io.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { BlockFile } from './block-file.js';
import { ChangeMap } from './change-map.js';
import { takeSnapshot } from './flush-and-hold.js';
import type { ReadPiece } from './nbd-export.js';
import type { SnapshotExport } from './snapshot-export.js';
import { Volume } from './volume.js';

const granularityBytes = 64 * 1024;
/** 32 blocks, the last one short. */
const imageBytes = 31 * granularityBytes + 5000;
const dirtyBitmap = 'qemu:dirty-bitmap:holdfast';

interface World {
  io: Io;
  pool: BufferPool;
  volume: Volume;
  imagePath: string;
  stateDirectory: string;
  close(): Promise<void>;
}

async function openWorld(directory: string, initial: Buffer): Promise<World> {
  const imagePath = join(directory, 'image');
  writeFileSync(imagePath, initial);
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: granularityBytes, bufferCountMax: 64 });
  const handle = await io.openFile(imagePath, { access: 'read-write' });
  const stat = await io.stat(handle);
  const changeMap = await ChangeMap.open(io, directory, pool, { granularityBytes, image: stat, isAlive: () => false });
  const volume = new Volume(new BlockFile(io, handle, pool), stat, { name: 'disk', bitmapName: 'holdfast', readOnly: false, changeMap });
  return {
    io,
    pool,
    volume,
    imagePath,
    stateDirectory: directory,
    close: async () => {
      for (const snapshot of [...volume.snapshots]) snapshot.abandon('the test ended');
      await changeMap.close(await io.stat(handle));
      await handle.close();
    },
  };
}

function joined(pieces: ReadPiece[], offset: number, lengthBytes: number): Buffer {
  const bytes = Buffer.alloc(lengthBytes);
  for (const piece of pieces) {
    if (piece.kind === 'data') piece.bytes.copy(bytes, piece.offset - offset);
  }
  return bytes;
}

function randomRange(prng: Prng, lengthBytesMax: number): { offset: number; lengthBytes: number } {
  const offset = prng.nextInt(imageBytes);
  return { offset, lengthBytes: 1 + prng.nextInt(Math.min(lengthBytesMax, imageBytes - offset)) };
}

function markedBlocks(extents: { lengthBytes: number; flags: number }[]): number[] {
  const blocks: number[] = [];
  let at = 0;
  for (const extent of extents) {
    for (let offset = at; offset < at + extent.lengthBytes; offset += granularityBytes) if (extent.flags !== 0) blocks.push(Math.floor(offset / granularityBytes));
    at += extent.lengthBytes;
  }
  return blocks;
}

test('every snapshot read gives the content at snapshot time while random live writes run at once', async () => {
  using directory = temporaryDirectory('holdfast-snapshot-export-');
  // The ranges come from a fixed seed; the interleaving of the real I/O differs from run to run.
  const prng = new Prng(7);
  const initial = Buffer.alloc(imageBytes);
  prng.fill(initial);
  const world = await openWorld(directory.path, initial);
  const { volume } = world;
  try {
    // Before the snapshot: blocks 1, 2 and 31 (the short last one) are written.
    await volume.write(granularityBytes + 10, Buffer.alloc(granularityBytes, 0xaa), false);
    await volume.write(imageBytes - 100, Buffer.alloc(100, 0xbb), true);
    const abandoned: string[] = [];
    const taken = await takeSnapshot({ io: world.io, pool: world.pool, volume, stateDirectory: world.stateDirectory, storeBlocksMax: 1000, onAbandon: (snapshot, reason) => abandoned.push(`${snapshot.name}: ${reason}`) });
    const snapshot = taken.snapshot;
    assert.equal(snapshot.name, 'disk-snapshot-1');
    assert.deepEqual(volume.snapshots, [snapshot]);
    assert.deepEqual(markedBlocks(await snapshot.blockStatus(dirtyBitmap, 0, imageBytes)), [1, 2, 31]);
    assert.equal(volume.changeMap!.bits.countSet(), 0, 'the live map did not start empty');
    const atSnapshot = readFileSync(world.imagePath);

    const writtenBlocks = new Set<number>();
    let readsChecked = 0;
    const tasks: (() => Promise<void>)[] = [];
    for (let index = 0; index < 300; index++) {
      const { offset, lengthBytes } = randomRange(prng, 3 * granularityBytes);
      const bytes = Buffer.alloc(lengthBytes);
      prng.fill(bytes);
      for (let block = Math.floor(offset / granularityBytes); block <= Math.floor((offset + lengthBytes - 1) / granularityBytes); block++) writtenBlocks.add(block);
      const fua = prng.chance(0.1);
      tasks.push(() => volume.write(offset, bytes, fua));
    }
    for (let index = 0; index < 300; index++) {
      const { offset, lengthBytes } = randomRange(prng, 4 * granularityBytes);
      tasks.push(async () => {
        const pieces = await snapshot.read(offset, lengthBytes);
        assert.ok(joined(pieces, offset, lengthBytes).equals(atSnapshot.subarray(offset, offset + lengthBytes)), `a snapshot read of ${lengthBytes} bytes at ${offset} gave other bytes than the image had at snapshot time`);
        readsChecked++;
      });
    }
    for (let index = tasks.length - 1; index > 0; index--) {
      const other = prng.nextInt(index + 1);
      [tasks[index], tasks[other]] = [tasks[other]!, tasks[index]!];
    }
    await Promise.all(tasks.map((task) => task()));
    assert.equal(readsChecked, 300);

    // After all of it: the whole snapshot is still as it was, the live map has what was written.
    assert.ok(joined(await snapshot.read(0, imageBytes), 0, imageBytes).equals(atSnapshot), 'the whole snapshot read differs from the image at snapshot time');
    assert.notDeepEqual(readFileSync(world.imagePath), atSnapshot, 'the live writes did not reach the image');
    assert.equal(snapshot.preservedBlocks, writtenBlocks.size, 'the store preserved other blocks than those written');
    assert.deepEqual(markedBlocks(volume.changeMap!.bits.extents(0, imageBytes, granularityBytes, imageBytes, 1)), [...writtenBlocks].sort((a, b) => a - b));
    assert.deepEqual(abandoned, []);
  } finally {
    await world.close();
  }
  assert.equal(world.pool.leasesOutstanding, 0, 'a buffer lease was not given back');
});

async function assertAbandonedByStoreLimit(snapshot: SnapshotExport, volume: Volume, abandoned: string[]): Promise<void> {
  assert.equal(snapshot.available, false, 'the snapshot outgrew its store and was not abandoned');
  assert.deepEqual(volume.snapshots, [], 'the abandoned snapshot is still in the volume');
  assert.equal(abandoned.length, 1, `the abandon was reported ${abandoned.length} times`);
  assert.match(abandoned[0]!, /disk-snapshot-1: its copy-on-write store is full \(3 blocks of 65536 bytes\)/);
  await assert.rejects(snapshot.read(0, 100), (error: unknown) => (error as { code?: string }).code === 'EIO' && /was abandoned/.test((error as Error).message));
}

for (const concurrent of [false, true]) {
  test(`a store limit abandons the snapshot and the live writes${concurrent ? ', all at once,' : ''} still succeed`, async () => {
    using directory = temporaryDirectory('holdfast-snapshot-limit-');
    const initial = Buffer.alloc(imageBytes, 0x11);
    const world = await openWorld(directory.path, initial);
    const { volume } = world;
    try {
      const abandoned: string[] = [];
      const { snapshot } = await takeSnapshot({ io: world.io, pool: world.pool, volume, stateDirectory: world.stateDirectory, storeBlocksMax: 3, onAbandon: (abandonedSnapshot, reason) => abandoned.push(`${abandonedSnapshot.name}: ${reason}`) });
      // Six distinct blocks, one write each: the fourth preserved block is one too many.
      const writes = [0, 5, 10, 15, 20, 31].map((block, index) => ({ offset: block * granularityBytes, bytes: Buffer.alloc(block === 31 ? 5000 : granularityBytes, 0x20 + index) }));
      if (concurrent) {
        await Promise.all(writes.map((write) => volume.write(write.offset, write.bytes, false)));
      } else {
        for (const [index, write] of writes.entries()) {
          await volume.write(write.offset, write.bytes, false);
          if (index < 3) assert.equal(snapshot.available, true, `the snapshot was abandoned after ${index + 1} blocks, within its store`);
        }
      }
      await assertAbandonedByStoreLimit(snapshot, volume, abandoned);
      // The volume goes on: more writes succeed, and every byte written is on the image.
      await volume.write(7 * granularityBytes, Buffer.alloc(10, 0x7f), true);
      const image = readFileSync(world.imagePath);
      for (const write of writes) assert.ok(image.subarray(write.offset, write.offset + write.bytes.length).equals(write.bytes), `the write at ${write.offset} is not on the image`);
      assert.ok(image.subarray(7 * granularityBytes, 7 * granularityBytes + 10).equals(Buffer.alloc(10, 0x7f)));
      assert.deepEqual(markedBlocks(volume.changeMap!.bits.extents(0, imageBytes, granularityBytes, imageBytes, 1)), [0, 5, 7, 10, 15, 20, 31]);
    } finally {
      await world.close();
    }
  });
}
