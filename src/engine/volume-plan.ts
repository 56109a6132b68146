/**
 * The block plan of a volume backup, pure: which blocks (of `granularityBytes`, the last one
 * possibly shorter) are read, which are holes, and which are taken from the parent snapshot
 * unread; and the conversions between a volume's per-block list and the tree entry that stores
 * it (a sparse map of the data extents and exactly one chunk per data block, in order).
 *
 * A block is read when it may hold data (it meets a data extent of the allocation map) and,
 * in an incremental backup, the dirty bitmap marks it. A block the bitmap does not mark is the
 * parent's (its chunk, or a hole), whatever the allocation says: nothing was written to it
 * since the parent. A dirty block without data is a hole (it was trimmed or zeroed).
 */
import { assert } from '../base/assert.js';
import type { Extent } from '../format/entry.js';
import type { VolumeMetadata } from '../format/repo/snapshot-codec.js';
import type { ChunkReference } from '../format/repo/tree-codec.js';
import type { ChangeMapIdentity } from '../format/nbd/volume-description.js';

export const blockAction = { hole: 0, read: 1, parent: 2 } as const;
export type BlockAction = (typeof blockAction)[keyof typeof blockAction];

/** A stored block: its chunk, or null for a hole. */
export type VolumeBlock = ChunkReference | null;

export interface BlockPlanInput {
  sizeBytes: number;
  granularityBytes: number;
  /** Byte ranges that may hold data, ascending; null when every block may. */
  dataExtents: readonly Extent[] | null;
  /** Incremental: the parent's blocks and the byte ranges written since it; null reads every data block. */
  incremental: { parentBlocks: readonly VolumeBlock[]; dirtyExtents: readonly Extent[] } | null;
}

export interface BlockPlan {
  blockCount: number;
  /** One BlockAction per block. */
  actions: Uint8Array;
}

export function blockCountOf(sizeBytes: number, granularityBytes: number): number {
  return Math.ceil(sizeBytes / granularityBytes);
}

export function blockBytesOf(blockIndex: number, sizeBytes: number, granularityBytes: number): number {
  return Math.min(granularityBytes, sizeBytes - blockIndex * granularityBytes);
}

export function planBlocks(input: BlockPlanInput): BlockPlan {
  const { sizeBytes, granularityBytes } = input;
  const blockCount = blockCountOf(sizeBytes, granularityBytes);
  const actions = new Uint8Array(blockCount);
  if (input.dataExtents === null) actions.fill(blockAction.read);
  else markBlocks(actions, input.dataExtents, granularityBytes, sizeBytes, blockAction.read);
  if (input.incremental !== null) {
    assert(input.incremental.parentBlocks.length === blockCount, `planBlocks: the parent has ${input.incremental.parentBlocks.length} blocks for ${blockCount}`);
    const dirty = new Uint8Array(blockCount);
    markBlocks(dirty, input.incremental.dirtyExtents, granularityBytes, sizeBytes, 1);
    for (let index = 0; index < blockCount; index++) if (dirty[index] === 0) actions[index] = blockAction.parent;
  }
  return { blockCount, actions };
}

/** Sets `value` for every block that meets one of `extents` (clipped to the volume). */
function markBlocks(target: Uint8Array, extents: readonly Extent[], granularityBytes: number, sizeBytes: number, value: number): void {
  for (const extent of extents) {
    const start = Math.max(0, extent.offsetBytes);
    const end = Math.min(sizeBytes, extent.offsetBytes + extent.lengthBytes);
    if (end <= start) continue;
    target.fill(value, Math.floor(start / granularityBytes), Math.ceil(end / granularityBytes));
  }
}

export interface VolumeEntryData {
  /** The data extents; null when the volume has no hole. */
  sparseMap: Extent[] | null;
  chunks: ChunkReference[];
}

/** The tree entry's sparse map and chunk list of a volume's blocks. */
export function entryDataOf(blocks: readonly VolumeBlock[], sizeBytes: number, granularityBytes: number): VolumeEntryData {
  const sparseMap: Extent[] = [];
  const chunks: ChunkReference[] = [];
  blocks.forEach((block, index) => {
    if (block === null) return;
    chunks.push(block);
    const offsetBytes = index * granularityBytes;
    const lengthBytes = blockBytesOf(index, sizeBytes, granularityBytes);
    const last = sparseMap.at(-1);
    if (last !== undefined && last.offsetBytes + last.lengthBytes === offsetBytes) last.lengthBytes += lengthBytes;
    else sparseMap.push({ offsetBytes, lengthBytes });
  });
  const whole = sizeBytes === 0 || (sparseMap.length === 1 && sparseMap[0]!.offsetBytes === 0 && sparseMap[0]!.lengthBytes === sizeBytes);
  return { sparseMap: whole ? null : sparseMap, chunks };
}

/**
 * The per-block list of a stored volume entry; a string (why) when the entry is not one chunk
 * per block of `granularityBytes` over block-aligned data extents, so it cannot be a parent.
 */
export function blocksOfEntry(entry: { sizeBytes: number; sparseMap: readonly Extent[] | null; chunks: readonly ChunkReference[] }, granularityBytes: number): VolumeBlock[] | string {
  const blockCount = blockCountOf(entry.sizeBytes, granularityBytes);
  const blocks: VolumeBlock[] = new Array<VolumeBlock>(blockCount).fill(null);
  const extents = entry.sparseMap ?? (entry.sizeBytes === 0 ? [] : [{ offsetBytes: 0, lengthBytes: entry.sizeBytes }]);
  let chunkIndex = 0;
  for (const extent of extents) {
    const end = extent.offsetBytes + extent.lengthBytes;
    if (extent.offsetBytes % granularityBytes !== 0 || (end % granularityBytes !== 0 && end !== entry.sizeBytes) || end > entry.sizeBytes) return `its data extent ${extent.offsetBytes}+${extent.lengthBytes} is not made of whole blocks`;
    for (let index = extent.offsetBytes / granularityBytes; index < Math.ceil(end / granularityBytes); index++) {
      const chunk = entry.chunks[chunkIndex++];
      if (chunk === undefined) return 'it has fewer chunks than data blocks';
      if (chunk.rawBytes !== blockBytesOf(index, entry.sizeBytes, granularityBytes)) return `its chunk ${chunkIndex - 1} is not one block long`;
      blocks[index] = chunk;
    }
  }
  if (chunkIndex !== entry.chunks.length) return 'it has more chunks than data blocks';
  return blocks;
}

export interface IncrementalDecision {
  incremental: boolean;
  /** Why the backup reads what it reads, for the user. */
  reason: string;
}

/**
 * Whether the dirty bitmap of the export (described by `current`) may replace reading: only
 * when the parent is the previous snapshot of the same change map of a volume of the same size.
 */
export function decideIncremental(current: { changeMap: ChangeMapIdentity | null; sizeBytes: number; bitmapOffered: boolean }, parent: { id: string; volume: VolumeMetadata | undefined } | null): IncrementalDecision {
  const full = (reason: string): IncrementalDecision => ({ incremental: false, reason: `read every data block: ${reason}` });
  const map = current.changeMap;
  if (map === null) return full('no change map (the export has no holdfast snapshot description)');
  if (parent === null) return full('no parent snapshot of this volume');
  const previous = parent.volume;
  if (previous === undefined) return full(`the parent snapshot ${parent.id.slice(0, 8)} is not a volume backup`);
  if (previous.generation === null || previous.sequence === null) return full(`the parent snapshot ${parent.id.slice(0, 8)} was not made from a change-tracked snapshot`);
  if (previous.generation !== map.generation) return full('generation changed (change tracking was reset)');
  if (previous.granularityBytes !== map.granularityBytes) return full(`granularity changed (${previous.granularityBytes} to ${map.granularityBytes} bytes)`);
  if (previous.sizeBytes !== current.sizeBytes) return full(`volume size changed (${previous.sizeBytes} to ${current.sizeBytes} bytes)`);
  if (previous.sequence >= map.sequence) return full(`the parent is snapshot ${previous.sequence}, not older than snapshot ${map.sequence}`);
  if (previous.sequence !== map.sequence - 1) return full(`snapshot ${map.sequence - 1} was not backed up (the parent is snapshot ${previous.sequence})`);
  if (!current.bitmapOffered) return full(`the export does not offer its dirty bitmap "${map.bitmapName}"`);
  return { incremental: true, reason: `incremental: only blocks written since snapshot ${previous.sequence} are read` };
}
