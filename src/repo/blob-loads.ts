/**
 * Loads of many blobs in a row (a restore's chunks): neighbours in one pack are read with one
 * ranged read and opened by one worker job. Blobs are packed in the order a backup met them, so
 * the chunks of a directory of small files lie back to back; one read and one job for up to
 * blobsPerReadMax of them replace a read, a job and their trips through the thread pool and to a
 * worker each (issue 17).
 *
 * A group that fails (a damaged blob, a pack cut short) is loaded again blob by blob, so that
 * each blob fails or succeeds alone, with its own error, as Repository.loadBlob gives it.
 */
import type { BlobLocation } from './blob-index.js';
import type { OpenBatchJob, OpenBatchResult } from './pack-worker.js';
import type { Repository } from './repository.js';
import { ownBytes, transferableBuffer } from './transferable.js';

/** At most this many blobs, bytes of pack, and bytes between two blobs, in one read. */
export const blobsPerReadMax = 16;
export const readBytesMax = 4 * 1024 * 1024;
export const gapBytesMax = 64 * 1024;

interface Placed {
  id: Buffer;
  location: BlobLocation;
}

/** The plaintext of each blob of `ids`, in order (each promise settles on its own). */
export function loadBlobs(repository: Repository, ids: readonly Buffer[]): Promise<Buffer>[] {
  const loads: Promise<Buffer>[] = [];
  let group: Placed[] = [];
  const send = (): void => {
    if (group.length === 1) loads.push(repository.loadBlob(group[0]!.id));
    else if (group.length > 1) loads.push(...loadGroup(repository, group));
    group = [];
  };
  for (const id of ids) {
    const location = repository.index.find(id);
    if (location === null) {
      send();
      loads.push(repository.loadBlob(id));
      continue;
    }
    if (!fitsAfter(group, location)) send();
    group.push({ id, location });
  }
  send();
  return loads;
}

/** True when `location` can join the group's read: same pack, after its end, near, small enough. */
function fitsAfter(group: readonly Placed[], location: BlobLocation): boolean {
  const first = group[0]?.location;
  const last = group.at(-1)?.location;
  if (first === undefined || last === undefined || group.length >= blobsPerReadMax) return false;
  const lastEnd = last.offsetBytes + last.storedBytes;
  return location.packId.equals(last.packId) && location.offsetBytes >= lastEnd && location.offsetBytes - lastEnd <= gapBytesMax && location.offsetBytes + location.storedBytes - first.offsetBytes <= readBytesMax;
}

function loadGroup(repository: Repository, group: readonly Placed[]): Promise<Buffer>[] {
  const together = readAndOpen(repository, group).catch(() => null);
  return group.map(({ id }, index) => together.then((plaintexts) => (plaintexts === null ? repository.loadBlob(id) : plaintexts[index]!)));
}

async function readAndOpen(repository: Repository, group: readonly Placed[]): Promise<Buffer[]> {
  const first = group[0]!.location;
  const last = group.at(-1)!.location;
  const packName = first.packId.toString('hex');
  const bytes = await repository.backend.load('data', packName, { offsetBytes: first.offsetBytes, lengthBytes: last.offsetBytes + last.storedBytes - first.offsetBytes });
  return openTogether(repository, packName, bytes, first.offsetBytes, group.map(({ id, location }) => ({ id, ...location })));
}

/** A blob of a pack, where it lies in it. */
export interface PackedBlobPlace {
  id: Buffer;
  offsetBytes: number;
  storedBytes: number;
  rawBytes: number;
}

/**
 * Opens `blobs` in one worker job: `stored` holds the pack's bytes from `baseOffsetBytes` on
 * (it is moved to the worker: the caller must not use it again). Rejects when any blob does not
 * open; then the caller learns which by opening them one by one.
 */
export async function openTogether(repository: Repository, packName: string, stored: Buffer, baseOffsetBytes: number, blobs: readonly PackedBlobPlace[]): Promise<Buffer[]> {
  const moved = transferableBuffer(stored);
  const job: OpenBatchJob = {
    encryptionKey: ownBytes(repository.master.encryptionKey),
    idKey: ownBytes(repository.master.idKey),
    stored: moved,
    blobs: blobs.map((blob) => ({
      id: ownBytes(blob.id),
      offsetBytes: blob.offsetBytes - baseOffsetBytes,
      storedBytes: blob.storedBytes,
      rawBytes: blob.rawBytes,
      name: `pack ${packName.slice(0, 16)} blob ${blob.id.toString('hex').slice(0, 16)}`,
    })),
  };
  const rawBytes = blobs.reduce((sum, blob) => sum + blob.rawBytes, 0);
  const result = await repository.workers.run<OpenBatchResult>('openBatch', { blobs: blobs.length, rawBytes }, job, [moved]);
  return result.plaintexts.map((plaintext) => Buffer.from(plaintext));
}
