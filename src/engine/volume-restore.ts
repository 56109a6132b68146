/**
 * restore --volume-target: a volume snapshot (backup --volume) -> a sparse image file. The
 * target is created or truncated to zero, then set to the volume's size; each chunk is written
 * at its offset (its place in the sparse map), holes are left unwritten (so they stay holes on
 * a file system that has them), and the file is fsynced before the restore reports success.
 *
 * Only a regular file (or a path that does not exist yet) is a target: writing a block device
 * is not supported yet. Chunks are loaded `chunksAheadMax` ahead of the writer, so loading
 * (on worker threads) overlaps with writing.
 */
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import type { Extent } from '../format/entry.js';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { TreeEntry } from '../format/repo/tree-codec.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import { writeAll } from '../io/transfer.js';
import type { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';

export const chunksAheadMax = 8;

export interface VolumeRestoreOptions {
  /** Leases for writing. */
  pool: BufferPool;
  onProgress?: (progress: VolumeRestoreProgress) => void;
}

export interface VolumeRestoreProgress {
  dataBytes: number;
  dataBytesTotal: number;
}

export interface VolumeRestoreSummary {
  sizeBytes: number;
  dataBytes: number;
  chunks: number;
}

export async function restoreVolume(io: Io, repository: Repository, snapshot: Snapshot, targetPath: string, options: VolumeRestoreOptions): Promise<VolumeRestoreSummary> {
  const context = { operation: 'restore volume', path: targetPath };
  if (snapshot.volume === undefined) throw holdfastError('HOLDFAST_USAGE', context, 'the snapshot is not a volume backup (it was not made by "backup --volume"); restore it with --target DIR');
  await refuseOtherKinds(io, targetPath);
  const entry = await volumeEntry(repository, snapshot, targetPath);
  const { header, chunks } = entry;
  const missing = chunks.find((chunk) => !repository.index.has(chunk.id));
  if (missing !== undefined) throw holdfastError('HOLDFAST_MISSING', context, `chunk ${missing.id.toString('hex').slice(0, 16)} of the volume is missing (no index entry names it)`);
  const extents: Extent[] = header.sparseMap ?? (header.sizeBytes === 0 ? [] : [{ offsetBytes: 0, lengthBytes: header.sizeBytes }]);
  const progress: VolumeRestoreProgress = { dataBytes: 0, dataBytesTotal: 0 };
  for (const chunk of chunks) progress.dataBytesTotal += chunk.rawBytes;

  const handle = await io.openFile(targetPath, { access: 'write', create: true, truncate: true, mode: 0o600 });
  const ahead: Promise<Buffer>[] = [];
  try {
    await io.truncate(handle, header.sizeBytes);
    let next = 0;
    const fill = (): void => {
      while (ahead.length < chunksAheadMax && next < chunks.length) {
        const loading = repository.loadBlob(chunks[next++]!.id);
        loading.catch(() => undefined);
        ahead.push(loading);
      }
    };
    // The data stream is the chunks concatenated; it is laid over the extents in order.
    let extentIndex = 0;
    let extentDone = 0;
    fill();
    for (let index = 0; index < chunks.length; index++) {
      const plaintext = await ahead.shift()!;
      fill();
      if (plaintext.length !== chunks[index]!.rawBytes) throw holdfastError('HOLDFAST_SIZE_MISMATCH', context, `chunk ${index} has ${plaintext.length} bytes, not ${chunks[index]!.rawBytes}`);
      let at = 0;
      while (at < plaintext.length) {
        const extent = extents[extentIndex];
        if (extent === undefined) throw holdfastError('HOLDFAST_SIZE_MISMATCH', context, 'the chunks hold more bytes than the sparse map');
        const count = Math.min(plaintext.length - at, extent.lengthBytes - extentDone);
        await writeAt(io, handle, options.pool, extent.offsetBytes + extentDone, plaintext.subarray(at, at + count));
        at += count;
        extentDone += count;
        if (extentDone === extent.lengthBytes) {
          extentIndex++;
          extentDone = 0;
        }
      }
      progress.dataBytes += plaintext.length;
      options.onProgress?.(progress);
    }
    await io.sync(handle);
  } finally {
    await Promise.allSettled(ahead);
    await handle.close();
  }
  return { sizeBytes: header.sizeBytes, dataBytes: progress.dataBytes, chunks: chunks.length };
}

/** Writes `bytes` at `offset` through leases of the pool. */
async function writeAt(io: Io, handle: Parameters<Io['write']>[0], pool: BufferPool, offset: number, bytes: Buffer): Promise<void> {
  const lease = await pool.acquire();
  try {
    for (let at = 0; at < bytes.length; at += lease.sizeBytes) {
      const count = Math.min(lease.sizeBytes, bytes.length - at);
      bytes.copy(lease.bytes, 0, at, at + count);
      await writeAll(io, handle, lease, { position: offset + at, lengthBytes: count });
    }
  } finally {
    lease.release();
  }
}

/** The target must be a regular file or not exist. */
async function refuseOtherKinds(io: Io, targetPath: string): Promise<void> {
  let kind: string;
  try {
    kind = (await io.lstat(targetPath)).kind;
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return;
    throw error;
  }
  const context = { operation: 'restore volume', path: targetPath };
  if (kind === 'block-device') throw holdfastError('HOLDFAST_USAGE', context, 'restoring onto a block device is not supported yet; give the path of an image file');
  if (kind !== 'file') throw holdfastError('HOLDFAST_USAGE', context, `it is a ${kind}, not a regular file; give the path of an image file`);
}

async function volumeEntry(repository: Repository, snapshot: Snapshot, targetPath: string): Promise<TreeEntry> {
  const files: TreeEntry[] = [];
  for await (const entry of snapshotEntries(repository, snapshot)) if (entry.header.type === 'file') files.push(entry);
  if (files.length !== 1) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'restore volume', path: targetPath }, `the volume snapshot has ${files.length} files, not one`);
  return files[0]!;
}
