/**
 * takeSnapshot: the flush-and-hold of rule S1, on the live volume.
 *
 *   prepare  the snapshot's copy-on-write store is created, and the image flushed once
 *            (outside the hold, so that the flush inside it has little left to write)
 *   hold     the write gate closes: new writes queue, never fail
 *   drain    the writes already in flight complete (their marks are durable by then)
 *   flush    fdatasync of the image
 *   commit   the change map is frozen into the snapshot and a fresh one (next sequence) replaces
 *            it on disk (the tracker's own writes are not gated, so they succeed inside the hold)
 *   release  the gate opens, always, in a finally
 *
 * The hold is bounded by `holdTimeoutMs` (default 10 s, as VSS): a drain or flush still running
 * then abandons the snapshot (its store is removed) and releases the writes. Once the commit has
 * begun it runs to its end, since a half-committed map could miss changes.
 */
import { randomBytes } from 'node:crypto';
import { joinPath, type FilePath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import { BlockFile } from './block-file.js';
import { SnapshotExport } from './snapshot-export.js';
import type { Volume } from './volume.js';

export const holdTimeoutMsDefault = 10_000;

export interface SnapshotContext {
  io: Io;
  pool: BufferPool;
  volume: Volume;
  stateDirectory: FilePath;
  /** Store blocks a snapshot may preserve before it is abandoned. */
  storeBlocksMax: number;
  /** A snapshot given up after it was taken (its store filled up, or failed). */
  onAbandon: (snapshot: SnapshotExport, reason: string) => void;
}

export interface SnapshotTaken {
  snapshot: SnapshotExport;
  /** From closing the gate to opening it again. */
  holdMs: number;
  /** Writes that were in flight when the hold began, and writes that waited for its end. */
  writesQueued: number;
}

export async function takeSnapshot(context: SnapshotContext, holdTimeoutMs: number = holdTimeoutMsDefault): Promise<SnapshotTaken> {
  const { io, volume } = context;
  const map = volume.changeMap;
  if (map === null) throw holdfastError('HOLDFAST_USAGE', { operation: 'take a snapshot of', path: volume.name }, 'the export is read-only: back it up directly');
  const storePath = joinPath(context.stateDirectory, `snapshot-${randomBytes(6).toString('hex')}.cow`);
  const storeHandle = await io.openFile(storePath, { access: 'read-write', create: 'exclusive', mode: 0o600 });
  let snapshot: SnapshotExport | null = null;
  let holdMs = 0;
  let writesQueued = 0;
  try {
    await io.truncate(storeHandle, volume.sizeBytes);
    await volume.image.sync();
    const startedMs = performance.now();
    const deadline = startedMs + holdTimeoutMs;
    try {
      await beforeDeadline(volume.gate.hold(), deadline, 'the writes in flight did not complete');
      await beforeDeadline(volume.image.sync(), deadline, 'the image did not flush');
      const committed = await map.commit();
      const name = `${volume.name === '' ? '' : `${volume.name}-`}snapshot-${committed.sequence}`;
      snapshot = new SnapshotExport({
        name,
        generation: committed.generation,
        sequence: committed.sequence,
        granularityBytes: map.granularityBytes,
        sizeBytes: volume.sizeBytes,
        bitmapName: volume.bitmapName,
        changed: committed.frozen,
        storeBlocksMax: context.storeBlocksMax,
        image: volume.image,
        store: new BlockFile(io, storeHandle, context.pool),
        onAbandon: (abandoned, reason) => {
          volume.snapshots.splice(volume.snapshots.indexOf(abandoned), 1);
          context.onAbandon(abandoned, reason);
          void removeStore(io, storeHandle, storePath);
        },
      });
      volume.snapshots.push(snapshot);
    } finally {
      writesQueued = volume.gate.queuedCount;
      volume.gate.release();
      holdMs = performance.now() - startedMs;
    }
  } catch (error) {
    await removeStore(io, storeHandle, storePath);
    throw error;
  }
  return { snapshot: snapshot!, holdMs, writesQueued };
}

async function beforeDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(holdfastError('HOLDFAST_ABORTED', { operation: 'take a snapshot', path: 'the hold' }, `${what} within the hold timeout; the snapshot was abandoned and writes released`)), Math.max(0, deadline - performance.now()));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function removeStore(io: Io, handle: Awaited<ReturnType<Io['openFile']>>, path: FilePath): Promise<void> {
  await handle.close().catch(() => {});
  await io.unlink(path).catch(() => {});
}
