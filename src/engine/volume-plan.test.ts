/**
 * The block plan of a volume backup, as pure functions: planBlocks() reads exactly the data
 * blocks (all of them without a change map; only the dirty ones with it) and takes every other
 * block from the parent; entryDataOf() and blocksOfEntry() turn a block list into a tree entry's
 * sparse map and chunks and back; decideIncremental() allows the bitmap only for the parent
 * that is the previous snapshot of the same change map, and says why not otherwise. Plain cases
 * with hand-computed answers, plus a seeded round trip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VolumeMetadata } from '../format/repo/snapshot-codec.js';
import type { ChunkReference } from '../format/repo/tree-codec.js';
import { blockAction, blocksOfEntry, decideIncremental, entryDataOf, planBlocks, type VolumeBlock } from './volume-plan.js';

const kib = 1024;
const chunk = (name: string, rawBytes = 64 * kib): ChunkReference => ({ id: Buffer.alloc(32, name), rawBytes });
const actionsOf = (plan: { actions: Uint8Array }): string => [...plan.actions].map((action) => 'HRP'[action]).join('');

test('planBlocks() without a change map reads every block that meets a data extent, and only those', () => {
  // 10 blocks of 64 KiB, the last one 16 KiB: 592 KiB.
  const plan = planBlocks({
    sizeBytes: 592 * kib,
    granularityBytes: 64 * kib,
    dataExtents: [
      { offsetBytes: 64 * kib, lengthBytes: 128 * kib }, // blocks 1, 2
      { offsetBytes: 300 * kib, lengthBytes: 1 }, // block 4 (one byte)
      { offsetBytes: 590 * kib, lengthBytes: 2 * kib }, // block 9 (the short last one)
    ],
    incremental: null,
  });
  assert.equal(plan.blockCount, 10);
  assert.equal(actionsOf(plan), 'HRRHRHHHHR');
  assert.equal(actionsOf(planBlocks({ sizeBytes: 200 * kib, granularityBytes: 64 * kib, dataExtents: null, incremental: null })), 'RRRR');
  assert.equal(planBlocks({ sizeBytes: 0, granularityBytes: 64 * kib, dataExtents: [], incremental: null }).blockCount, 0);
});

test('planBlocks() with a change map reads only dirty data blocks; clean blocks are the parent\'s, dirty holes are holes', () => {
  const parentBlocks = [chunk('a'), null, chunk('c'), chunk('d'), null, chunk('f')];
  const plan = planBlocks({
    sizeBytes: 6 * 64 * kib,
    granularityBytes: 64 * kib,
    // Blocks 0, 2, 4, 5 hold data now.
    dataExtents: [
      { offsetBytes: 0, lengthBytes: 64 * kib },
      { offsetBytes: 128 * kib, lengthBytes: 64 * kib },
      { offsetBytes: 256 * kib, lengthBytes: 128 * kib },
    ],
    // Written since the parent: block 1 (now a hole: trimmed), block 3 (now a hole), block 4 (data).
    incremental: { parentBlocks, dirtyExtents: [{ offsetBytes: 64 * kib, lengthBytes: 1 }, { offsetBytes: 200 * kib, lengthBytes: 100 * kib }] },
  });
  assert.equal(actionsOf(plan), 'PHPHRP');
  // A clean block is the parent's even where the allocation map says hole: nothing was written there.
  const clean = planBlocks({ sizeBytes: 2 * 64 * kib, granularityBytes: 64 * kib, dataExtents: [], incremental: { parentBlocks: [chunk('a'), chunk('b')], dirtyExtents: [] } });
  assert.equal(actionsOf(clean), 'PP');
  assert.equal(clean.actions[0], blockAction.parent);
});

test('entryDataOf() makes the sparse map and one chunk per data block; blocksOfEntry() gives the blocks back', () => {
  const blocks = [null, chunk('b'), chunk('c'), null, chunk('e', 16 * kib)];
  const sizeBytes = 4 * 64 * kib + 16 * kib;
  const data = entryDataOf(blocks, sizeBytes, 64 * kib);
  assert.deepEqual(data.sparseMap, [
    { offsetBytes: 64 * kib, lengthBytes: 128 * kib },
    { offsetBytes: 256 * kib, lengthBytes: 16 * kib },
  ]);
  assert.deepEqual(data.chunks, [blocks[1], blocks[2], blocks[4]]);
  assert.deepEqual(blocksOfEntry({ sizeBytes, sparseMap: data.sparseMap, chunks: data.chunks }, 64 * kib), blocks);
  // No hole at all: no sparse map, as for any file without holes.
  const full = entryDataOf([chunk('a'), chunk('b', 10)], 64 * kib + 10, 64 * kib);
  assert.equal(full.sparseMap, null);
  assert.deepEqual(blocksOfEntry({ sizeBytes: 64 * kib + 10, sparseMap: null, chunks: full.chunks }, 64 * kib), [chunk('a'), chunk('b', 10)]);
  // All holes: an empty sparse map.
  assert.deepEqual(entryDataOf([null, null], 128 * kib, 64 * kib), { sparseMap: [], chunks: [] });
});

test('blocksOfEntry() refuses an entry that is not one chunk per block (a file backup, another granularity)', () => {
  assert.match(String(blocksOfEntry({ sizeBytes: 128 * kib, sparseMap: [{ offsetBytes: 1000, lengthBytes: 64 * kib }], chunks: [chunk('a')] }, 64 * kib)), /not made of whole blocks/);
  assert.match(String(blocksOfEntry({ sizeBytes: 128 * kib, sparseMap: null, chunks: [chunk('a', 128 * kib)] }, 64 * kib)), /not one block long|fewer chunks/);
  assert.match(String(blocksOfEntry({ sizeBytes: 64 * kib, sparseMap: null, chunks: [chunk('a'), chunk('b')] }, 64 * kib)), /more chunks/);
  assert.match(String(blocksOfEntry({ sizeBytes: 128 * kib, sparseMap: null, chunks: [chunk('a')] }, 64 * kib)), /fewer chunks/);
});

test('entryDataOf() and blocksOfEntry() round-trip random block lists (seeded)', () => {
  let seed = 20_250_101;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let round = 0; round < 200; round++) {
    const granularityBytes = 4096 << Math.floor(random() * 5);
    const blockCount = 1 + Math.floor(random() * 40);
    const sizeBytes = (blockCount - 1) * granularityBytes + 1 + Math.floor(random() * granularityBytes);
    const blocks: VolumeBlock[] = Array.from({ length: blockCount }, (_, index) => (random() < 0.4 ? null : chunk(String(index % 10), Math.min(granularityBytes, sizeBytes - index * granularityBytes))));
    const data = entryDataOf(blocks, sizeBytes, granularityBytes);
    assert.deepEqual(blocksOfEntry({ sizeBytes, sparseMap: data.sparseMap, chunks: data.chunks }, granularityBytes), blocks, `seed round ${round}`);
  }
});

test('decideIncremental() uses the bitmap only after the previous snapshot of the same change map, and says why not', () => {
  const generation = 'ab'.repeat(16);
  const changeMap = { generation, sequence: 5, granularityBytes: 65536, bitmapName: 'holdfast' };
  const volume = (fields: Partial<VolumeMetadata>): VolumeMetadata => ({ source: 's', exportName: 'e', generation, sequence: 4, granularityBytes: 65536, sizeBytes: 1 << 20, blocksRead: 0, blocksUnchanged: 0, bytesRead: 0, reason: '', ...fields });
  const current: { changeMap: typeof changeMap | null; sizeBytes: number; bitmapOffered: boolean } = { changeMap, sizeBytes: 1 << 20, bitmapOffered: true };
  const decide = (parentVolume: VolumeMetadata | undefined, overrides: Partial<typeof current> = {}): { incremental: boolean; reason: string } =>
    decideIncremental({ ...current, ...overrides }, { id: 'f00dfeed'.repeat(8), volume: parentVolume });
  assert.deepEqual(decide(volume({})), { incremental: true, reason: 'incremental: only blocks written since snapshot 4 are read' });
  const refused = (decision: { incremental: boolean; reason: string }, reason: RegExp): void => {
    assert.equal(decision.incremental, false, decision.reason);
    assert.match(decision.reason, reason);
  };
  refused(decide(volume({}), { changeMap: null }), /no change map/);
  refused(decideIncremental(current, null), /no parent/);
  refused(decide(undefined), /not a volume backup/);
  refused(decide(volume({ generation: null, sequence: null })), /not made from a change-tracked snapshot/);
  refused(decide(volume({ generation: 'cd'.repeat(16) })), /generation changed/);
  refused(decide(volume({ granularityBytes: 4096 })), /granularity changed/);
  refused(decide(volume({ sizeBytes: 2 << 20 })), /volume size changed/);
  refused(decide(volume({ sequence: 3 })), /snapshot 4 was not backed up/);
  refused(decide(volume({ sequence: 5 })), /not older/);
  refused(decide(volume({}), { bitmapOffered: false }), /does not offer its dirty bitmap/);
});
