/**
 * BlobSaver: the storing half of a backup's pipeline. For each chunk (or tree blob) it computes
 * the keyed id on the calling thread, looks it up, and only for a blob the repository lacks sends
 * the plaintext to a worker thread to be compressed and sealed, then into the PackWriter.
 *
 * save() returns as soon as the id is known, so reading goes on while workers seal; at most
 * `inFlightMax` seals are outstanding (their plaintexts are the memory bound). A failed seal or
 * pack write is thrown by the next save() or by drain(), which waits for every seal.
 *
 * Small new blobs (a small file's one chunk, a tree blob) wait in a batch and are sealed by one
 * job: a job costs the main thread a postMessage and the wake-up of a sleeping worker each way,
 * which for 20,000 small files was more main-thread time than hashing them (issue 17). A batch
 * holds at most batchBlobsMax blobs and batchBytesMax bytes; drain() sends what waits.
 */
import type { BlobType } from '../format/repo/blob-entry.js';
import type { ChunkReference } from '../format/repo/tree-codec.js';
import { blobId, blobIdBytes } from './blob-id.js';
import type { SealBatchJob, SealBatchResult, SealJob, SealResult } from './pack-jobs.js';
import type { PackWriter } from './pack-writer.js';
import type { Repository } from './repository.js';
import { ownBytes } from './transferable.js';

export const sealsInFlightMax = 16;
/** Blobs up to this size are sealed in batches. */
export const batchedBlobBytesMax = 64 * 1024;
export const batchBlobsMax = 64;
export const batchBytesMax = 1024 * 1024;

interface WaitingBlob {
  type: BlobType;
  id: Buffer;
  plaintext: Buffer;
  rawBytes: number;
}

export interface SaverCounts {
  /** Blobs that were new to the repository, and their raw and stored bytes. */
  blobsAdded: number;
  rawBytesAdded: number;
  storedBytesAdded: number;
}

export class BlobSaver {
  readonly #repository: Repository;
  readonly #packer: PackWriter;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown = null;
  readonly counts: SaverCounts = { blobsAdded: 0, rawBytesAdded: 0, storedBytesAdded: 0 };
  /** The encryption key in a buffer of its own, so each job clones 32 bytes (transferable.ts). */
  readonly #encryptionKey: Uint8Array;
  /** Small blobs not yet sent to a worker, and their bytes. */
  #batch: WaitingBlob[] = [];
  #batchBytes = 0;

  constructor(repository: Repository, packer: PackWriter) {
    this.#repository = repository;
    this.#packer = packer;
    this.#encryptionKey = ownBytes(repository.master.encryptionKey);
  }

  /**
   * The reference of `plaintext` as a blob of `type`. Takes ownership of `plaintext`, which must
   * span exactly its own ArrayBuffer: when the blob is new, that buffer is moved to a worker.
   */
  async save(type: BlobType, plaintext: Buffer): Promise<ChunkReference> {
    this.#throwFailure();
    const id = blobId(this.#repository.master.idKey, plaintext);
    const reference = { id, rawBytes: plaintext.length };
    if (!this.#packer.claim(id)) return reference;
    if (plaintext.length <= batchedBlobBytesMax) {
      this.#batch.push({ type, id, plaintext, rawBytes: plaintext.length });
      this.#batchBytes += plaintext.length;
      if (this.#batch.length >= batchBlobsMax || this.#batchBytes >= batchBytesMax) await this.#sendBatch();
      return reference;
    }
    await this.#start(() => this.#seal(type, id, plaintext));
    return reference;
  }

  /** Seals what waits in the batch, then waits for every seal; throws the first failure. */
  async drain(): Promise<void> {
    await this.#sendBatch();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    this.#throwFailure();
  }

  async #sendBatch(): Promise<void> {
    if (this.#batch.length === 0) return;
    const blobs = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    await this.#start(() => this.#sealBatch(blobs));
  }

  /** Starts a seal once fewer than sealsInFlightMax run; its failure is thrown later. */
  async #start(seal: () => Promise<void>): Promise<void> {
    while (this.#inFlight.size >= sealsInFlightMax) await Promise.race(this.#inFlight);
    this.#throwFailure();
    const sealing = seal().catch((error: unknown) => {
      this.#failure ??= error;
    });
    this.#inFlight.add(sealing);
    void sealing.finally(() => this.#inFlight.delete(sealing));
  }

  async #sealBatch(blobs: WaitingBlob[]): Promise<void> {
    const ids = new Uint8Array(blobs.length * blobIdBytes);
    let rawBytes = 0;
    for (const [index, blob] of blobs.entries()) {
      ids.set(blob.id, index * blobIdBytes);
      rawBytes += blob.rawBytes;
    }
    const plaintexts = new ArrayBuffer(rawBytes);
    let offset = 0;
    for (const blob of blobs) {
      new Uint8Array(plaintexts, offset, blob.rawBytes).set(blob.plaintext);
      offset += blob.rawBytes;
    }
    const job: SealBatchJob = { encryptionKey: this.#encryptionKey, ids, plaintexts, rawBytes: blobs.map((blob) => blob.rawBytes) };
    const result = await this.#repository.workers.run<SealBatchResult>('sealBatch', { blobs: blobs.length, rawBytes }, job, [plaintexts]);
    const stored = Buffer.from(result.stored);
    offset = 0;
    for (const [index, blob] of blobs.entries()) {
      const storedBytes = result.storedBytes[index]!;
      this.counts.blobsAdded++;
      this.counts.rawBytesAdded += blob.rawBytes;
      this.counts.storedBytesAdded += storedBytes;
      await this.#packer.add(blob.type, blob.id, stored.subarray(offset, offset + storedBytes), blob.rawBytes);
      offset += storedBytes;
    }
  }

  async #seal(type: BlobType, id: Buffer, plaintext: Buffer): Promise<void> {
    const buffer = plaintext.buffer as ArrayBuffer;
    const job: SealJob = { encryptionKey: this.#encryptionKey, id: ownBytes(id), plaintext: buffer };
    const rawBytes = plaintext.length;
    const result = await this.#repository.workers.run<SealResult>('seal', { type, rawBytes }, job, [buffer]);
    const stored = Buffer.from(result.stored);
    this.counts.blobsAdded++;
    this.counts.rawBytesAdded += rawBytes;
    this.counts.storedBytesAdded += stored.length;
    await this.#packer.add(type, id, stored, rawBytes);
  }

  /** Waits for every seal in flight, whatever its outcome: after a failure, nothing is left running. */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled(this.#inFlight);
  }

  #throwFailure(): void {
    if (this.#failure !== null) throw this.#failure;
  }
}
