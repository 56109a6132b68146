/**
 * Opens several blobs of one pack in one worker job (check --read-data, which reads whole packs):
 * a job costs the main thread a postMessage and a worker's wake-up each way, which a pack of
 * small blobs paid once per blob (issue 17).
 *
 * Not used by restore: a pack holds its blobs in a random order (docs/repository-format.md, so
 * the order says nothing about the files), and a restore's next chunks are neighbours in a pack
 * only by chance: grouped reads found 78 groups in 20,009 loads, and were taken out again.
 */
import type { OpenBatchJob, OpenBatchResult } from './pack-jobs.js';
import type { Repository } from './repository.js';
import { ownBytes, transferableBuffer } from './transferable.js';

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
