/**
 * backup --volume: a block volume (an NBD export or an image file) -> a snapshot with one
 * entry: a regular file of the volume's size whose sparse map is its data extents and whose
 * chunks are exactly one per data block of `granularityBytes` (the last block may be shorter),
 * in order. A block that is a hole in the allocation map, or reads as all zeros, is a hole.
 *
 * Incremental: from a holdfast snapshot export whose parent snapshot is the previous snapshot
 * of the same change map (volume-plan.ts decideIncremental), only the blocks its dirty bitmap
 * marks are read; the others are the parent's chunks (or holes), taken unread. Otherwise every
 * data block is read, and the snapshot's `volume.reason` says why. A writable (live) export is
 * refused: it changes while read, so the backup would not be consistent.
 *
 * Reads go `readsInFlight` at a time, `readBytes` each, so a remote export is not latency-bound.
 * Storing is the same as backup.ts: BlobSaver, PackWriter, TreeWriter, snapshot last (rule D1).
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { emptyEntryHeader } from '../format/entry.js';
import { granularityBytesDefault } from '../format/nbd/volume-description.js';
import type { Snapshot, SnapshotSummary, VolumeMetadata } from '../format/repo/snapshot-codec.js';
import type { ChunkReference } from '../format/repo/tree-codec.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import { BlobSaver } from '../repo/blob-saver.js';
import { PackWriter } from '../repo/pack-writer.js';
import type { Repository, SnapshotRecord } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';
import { TreeWriter } from '../repo/tree-writer.js';
import { adoptUnindexedPacks, indexReusedPacks } from './reused-packs.js';
import { blockAction, blockBytesOf, blocksOfEntry, decideIncremental, entryDataOf, planBlocks, type VolumeBlock } from './volume-plan.js';
import { openVolumeSource, type VolumeSource } from './volume-source.js';

export const volumeTag = 'volume';
export const readsInFlightDefault = 8;
export const readBytesDefault = 1024 * 1024;

export interface VolumeBackupProgress {
  blocksTotal: number;
  blocksDone: number;
  blocksRead: number;
  blocksUnchanged: number;
  bytesRead: number;
  rawBytesAdded: number;
  reason: string;
}

export interface VolumeBackupOptions {
  tags: readonly string[];
  hostname: string;
  username: string;
  /** Leases for reading an image file. */
  pool: BufferPool;
  /**
   * Earlier volume snapshots of this host, oldest first; empty (--force) reads everything. The
   * parent is the newest of the same change-map generation (a snapshot export's name changes with
   * each snapshot, its generation does not), or without a change map the newest of the same source.
   */
  candidates: readonly SnapshotRecord[];
  /** Reads in flight at once (default 8) and the bytes of each (default 1 MiB, whole blocks). */
  readsInFlight?: number;
  readBytes?: number;
  /** Runs after every pack and index is stored and before the snapshot is (see backup.ts). */
  beforeSnapshot?: () => Promise<void>;
  onProgress?: (progress: VolumeBackupProgress) => void;
}

export interface VolumeBackupResult {
  snapshotId: string;
  snapshot: Snapshot & { volume: VolumeMetadata };
}

/** `source`: an NBD URI (nbd://, nbd+unix://) or the path of an image file. */
export async function backupVolume(io: Io, repository: Repository, source: string, options: VolumeBackupOptions): Promise<VolumeBackupResult> {
  const readsInFlight = options.readsInFlight ?? readsInFlightDefault;
  const volume = await openVolumeSource(io, source, options.pool, Math.min(64, readsInFlight * 2));
  try {
    return await backupFrom(volume, repository, options, readsInFlight);
  } finally {
    await volume.close();
  }
}

async function backupFrom(volume: VolumeSource, repository: Repository, options: VolumeBackupOptions, readsInFlight: number): Promise<VolumeBackupResult> {
  const startedMs = Date.now();
  const context = { operation: 'back up volume', path: volume.source };
  const kind = volume.description?.kind;
  if (kind === 'live') {
    throw holdfastError('HOLDFAST_USAGE', context, 'it is the writable (live) export of a volume, which changes while it is read; take a snapshot first ("holdfast volume snapshot") and back up the snapshot\'s export');
  }
  await adoptUnindexedPacks(repository);
  const packer = new PackWriter(repository);
  const saver = new BlobSaver(repository, packer);
  const changeMap = volume.description?.changeMap ?? null;
  const granularityBytes = changeMap?.granularityBytes ?? granularityBytesDefault;
  const parent = pickParent(options.candidates, volume.source, changeMap?.generation ?? null);
  let decision = decideIncremental({ changeMap, sizeBytes: volume.sizeBytes, bitmapOffered: changeMap !== null && volume.offersBitmap(changeMap.bitmapName) }, parent === null ? null : { id: parent.id, volume: parent.snapshot.volume });
  if (volume.description === null && volume.exportName === null) decision = { incremental: false, reason: 'read every data block: an image file has no change map' };
  let parentBlocks: VolumeBlock[] | null = null;
  if (decision.incremental && parent !== null) {
    const blocks = await parentVolumeBlocks(repository, parent, granularityBytes, packer);
    if (typeof blocks === 'string') decision = { incremental: false, reason: `read every data block: the parent snapshot ${parent.id.slice(0, 8)} cannot be used (${blocks})` };
    else parentBlocks = blocks;
  }
  const dataExtents = await volume.dataExtents();
  const incremental = parentBlocks === null || changeMap === null ? null : { parentBlocks, dirtyExtents: await volume.dirtyExtents(changeMap.bitmapName) };
  const plan = planBlocks({ sizeBytes: volume.sizeBytes, granularityBytes, dataExtents, incremental });

  const progress: VolumeBackupProgress = { blocksTotal: plan.blockCount, blocksDone: 0, blocksRead: 0, blocksUnchanged: 0, bytesRead: 0, rawBytesAdded: 0, reason: decision.reason };
  const blocks: VolumeBlock[] = new Array<VolumeBlock>(plan.blockCount).fill(null);
  for (let index = 0; index < plan.blockCount; index++) {
    if (plan.actions[index] !== blockAction.parent) continue;
    blocks[index] = parentBlocks![index]!;
    progress.blocksUnchanged++;
  }
  const readBytes = Math.max(granularityBytes, Math.floor((options.readBytes ?? readBytesDefault) / granularityBytes) * granularityBytes);
  await readBlocks(volume, plan.actions, granularityBytes, readBytes, readsInFlight, async (firstBlock, data) => {
    let at = 0;
    for (let index = firstBlock; at < data.length; index++) {
      const blockBytes = blockBytesOf(index, volume.sizeBytes, granularityBytes);
      blocks[index] = await storeBlock(saver, data.subarray(at, at + blockBytes));
      at += blockBytes;
      progress.blocksRead++;
    }
    progress.bytesRead += data.length;
    progress.blocksDone = progress.blocksRead + progress.blocksUnchanged;
    progress.rawBytesAdded = saver.counts.rawBytesAdded;
    options.onProgress?.(progress);
  });

  const { sparseMap, chunks } = entryDataOf(blocks, volume.sizeBytes, granularityBytes);
  const header = { ...emptyEntryHeader(Buffer.from(volume.entryName, 'utf8'), 'file'), mode: 0o600, sizeBytes: volume.sizeBytes, sparseMap, mtimeNs: volume.mtimeNs, ctimeNs: volume.mtimeNs, atimeNs: volume.mtimeNs };
  const trees = new TreeWriter(saver, repository.master.chunkerKey);
  await trees.add({ header, chunks, device: 0n, inode: 0n });
  const treeIds = await trees.finish();
  await saver.drain();
  await packer.finish();
  let dataBytes = 0;
  for (const chunk of chunks) dataBytes += chunk.rawBytes;
  const summary: SnapshotSummary = {
    entries: 1,
    files: 1,
    dataBytes,
    filesUnchanged: 0,
    chunksAdded: saver.counts.blobsAdded,
    rawBytesAdded: saver.counts.rawBytesAdded,
    storedBytesAdded: saver.counts.storedBytesAdded,
    problems: 0,
    durationMs: Date.now() - startedMs,
  };
  const metadata: VolumeMetadata = {
    source: volume.source,
    exportName: volume.exportName,
    generation: changeMap?.generation ?? null,
    sequence: changeMap?.sequence ?? null,
    granularityBytes,
    sizeBytes: volume.sizeBytes,
    blocksRead: progress.blocksRead,
    blocksUnchanged: progress.blocksUnchanged,
    bytesRead: progress.bytesRead,
    reason: decision.reason,
  };
  const snapshot = {
    version: 1,
    time: new Date(startedMs).toISOString(),
    hostname: options.hostname,
    username: options.username,
    paths: [volume.source],
    tags: [...new Set([...options.tags, volumeTag])],
    parent: incremental === null ? null : parent!.id,
    trees: treeIds,
    summary,
    volume: metadata,
  };
  await options.beforeSnapshot?.();
  await indexReusedPacks(repository, packer.reusedPacks());
  const snapshotId = await repository.saveSnapshot(snapshot);
  return { snapshotId, snapshot };
}

/** A block's chunk, or null when it is all zeros. Copies the bytes into a buffer of their own (BlobSaver takes it). */
async function storeBlock(saver: BlobSaver, bytes: Buffer): Promise<ChunkReference | null> {
  if (isAllZeros(bytes)) return null;
  const own = Buffer.from(new ArrayBuffer(bytes.length));
  bytes.copy(own);
  return saver.save('data', own);
}

const zeros = Buffer.alloc(64 * 1024);

function isAllZeros(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += zeros.length) {
    const piece = bytes.subarray(at, Math.min(bytes.length, at + zeros.length));
    if (!piece.equals(zeros.subarray(0, piece.length))) return false;
  }
  return true;
}

/**
 * Reads every block whose action is `read`, in runs of consecutive blocks up to `readBytes`,
 * `readsInFlight` runs at a time; `consume` gets each run in volume order.
 */
async function readBlocks(volume: VolumeSource, actions: Uint8Array, granularityBytes: number, readBytes: number, readsInFlight: number, consume: (firstBlock: number, data: Buffer) => Promise<void>): Promise<void> {
  const blocksPerRead = readBytes / granularityBytes;
  const window: { firstBlock: number; data: Promise<Buffer> }[] = [];
  const settle = async (): Promise<void> => {
    const head = window.shift()!;
    await consume(head.firstBlock, await head.data);
  };
  try {
    let index = 0;
    while (index < actions.length) {
      if (actions[index] !== blockAction.read) {
        index++;
        continue;
      }
      const firstBlock = index;
      while (index < actions.length && actions[index] === blockAction.read && index - firstBlock < blocksPerRead) index++;
      const offset = firstBlock * granularityBytes;
      const lengthBytes = Math.min(index * granularityBytes, volume.sizeBytes) - offset;
      const data = readRange(volume, offset, lengthBytes);
      data.catch(() => undefined);
      window.push({ firstBlock, data });
      if (window.length >= readsInFlight) await settle();
    }
    while (window.length > 0) await settle();
  } finally {
    // After a failure, every read still in flight settles before the source is closed (rule O3).
    await Promise.allSettled(window.map((entry) => entry.data));
  }
}

/** A range of any length, in reads the source accepts, concatenated. */
async function readRange(volume: VolumeSource, offset: number, lengthBytes: number): Promise<Buffer> {
  if (lengthBytes <= volume.readBytesMax) return volume.read(offset, lengthBytes);
  const pieces: Promise<Buffer>[] = [];
  for (let at = 0; at < lengthBytes; at += volume.readBytesMax) pieces.push(volume.read(offset + at, Math.min(volume.readBytesMax, lengthBytes - at)));
  return Buffer.concat(await Promise.all(pieces));
}

/** The parent's blocks, or why they cannot be used (not a volume entry, chunks not all indexed). */
async function parentVolumeBlocks(repository: Repository, parent: SnapshotRecord, granularityBytes: number, packer: PackWriter): Promise<VolumeBlock[] | string> {
  const files = [];
  for await (const entry of snapshotEntries(repository, parent.snapshot)) {
    if (entry.header.type === 'file') files.push(entry);
  }
  if (files.length !== 1) return `it has ${files.length} files, not one volume`;
  const entry = files[0]!;
  const blocks = blocksOfEntry({ sizeBytes: entry.header.sizeBytes, sparseMap: entry.header.sparseMap, chunks: entry.chunks }, granularityBytes);
  if (typeof blocks === 'string') return `"${displayPath(entry.header.path)}": ${blocks}`;
  if (!entry.chunks.every((chunk) => packer.has(chunk.id))) return 'some of its chunks are not in the index';
  return blocks;
}

function pickParent(candidates: readonly SnapshotRecord[], source: string, generation: string | null): SnapshotRecord | null {
  const matching = candidates.filter((record) => (generation === null ? record.snapshot.paths.length === 1 && record.snapshot.paths[0] === source : record.snapshot.volume?.generation === generation));
  return matching.at(-1) ?? null;
}
