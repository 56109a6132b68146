/**
 * Opens several blobs in one worker job: a job costs the main thread a postMessage and a worker's
 * wake-up each way, which small blobs paid once each (issue 17).
 *
 * - openTogether(): blobs of one pack read with one read (check --read-data reads whole packs).
 * - loadBlobs(): blobs from anywhere, each read on its own (a restore's next chunks: a pack holds
 *   its blobs in a random order, docs/repository-format.md, so they are neighbours only by
 *   chance; one read for neighbours found 78 groups in 20,009 loads), then opened together.
 */
import { holdfastError } from '../errors/holdfast-error.js';
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

/**
 * Several blobs, one promise each: each read from its pack on its own (a restore's next chunks
 * lie anywhere), then all opened in one worker job (a job per blob cost the main thread a
 * postMessage each: issue 17). One that cannot be found or read fails alone; when the job
 * fails (a damaged blob), each is opened on its own, so only the damaged one fails.
 */
export function loadBlobs(repository: Repository, ids: readonly Buffer[]): Promise<Buffer>[] {
  const reads = ids.map(async (id) => {
    const location = repository.index.find(id);
    const name = `blob ${id.toString('hex').slice(0, 16)}`;
    if (location === null) throw holdfastError('HOLDFAST_MISSING', { operation: 'load', path: name }, 'no index entry names this blob');
    const packName = location.packId.toString('hex');
    const stored = await repository.backend.load('data', packName, { offsetBytes: location.offsetBytes, lengthBytes: location.storedBytes });
    return { id, stored, rawBytes: location.rawBytes, name: `pack ${packName.slice(0, 16)} ${name}` };
  });
  const opened = Promise.allSettled(reads).then(async (settled) => {
    const read = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    try {
      const plaintexts = read.length === 0 ? [] : await openStoredTogether(repository, read);
      return new Map(read.map((blob, index) => [blob, plaintexts[index]!]));
    } catch {
      return null;
    }
  });
  return reads.map(async (reading) => {
    const blob = await reading;
    const plaintext = (await opened)?.get(blob);
    return plaintext ?? repository.openStoredBlob(blob.id, blob.stored, blob.rawBytes, blob.name);
  });
}

/** Opens stored blobs in one worker job (their bytes copied into one buffer; the originals stay the caller's). */
async function openStoredTogether(repository: Repository, blobs: readonly { id: Buffer; stored: Buffer; rawBytes: number; name: string }[]): Promise<Buffer[]> {
  let storedBytes = 0;
  for (const blob of blobs) storedBytes += blob.stored.length;
  const stored = new ArrayBuffer(storedBytes);
  let offset = 0;
  const places = blobs.map((blob) => {
    new Uint8Array(stored, offset, blob.stored.length).set(blob.stored);
    const place = { id: ownBytes(blob.id), offsetBytes: offset, storedBytes: blob.stored.length, rawBytes: blob.rawBytes, name: blob.name };
    offset += blob.stored.length;
    return place;
  });
  const job: OpenBatchJob = { encryptionKey: ownBytes(repository.master.encryptionKey), idKey: ownBytes(repository.master.idKey), stored, blobs: places };
  const rawBytes = blobs.reduce((sum, blob) => sum + blob.rawBytes, 0);
  const result = await repository.workers.run<OpenBatchResult>('openBatch', { blobs: blobs.length, rawBytes }, job, [stored]);
  return result.plaintexts.map((plaintext) => Buffer.from(plaintext));
}
