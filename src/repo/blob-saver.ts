/**
 * BlobSaver: the storing half of a backup's pipeline. For each chunk (or tree blob) it computes
 * the keyed id on the calling thread, looks it up, and only for a blob the repository lacks sends
 * the plaintext to a worker thread to be compressed and sealed, then into the PackWriter.
 *
 * save() returns as soon as the id is known, so reading goes on while workers seal; at most
 * `inFlightMax` seals are outstanding (their plaintexts are the memory bound). A failed seal or
 * pack write is thrown by the next save() or by drain(), which waits for every seal.
 */
import type { BlobType } from '../format/repo/blob-entry.js';
import type { ChunkReference } from '../format/repo/tree-codec.js';
import { blobId } from './blob-id.js';
import type { SealJob, SealResult } from './pack-jobs.js';
import type { PackWriter } from './pack-writer.js';
import type { Repository } from './repository.js';
import { ownBytes } from './transferable.js';

export const sealsInFlightMax = 16;

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
    while (this.#inFlight.size >= sealsInFlightMax) await Promise.race(this.#inFlight);
    this.#throwFailure();
    const sealing = this.#seal(type, id, plaintext).catch((error: unknown) => {
      this.#failure ??= error;
    });
    this.#inFlight.add(sealing);
    void sealing.finally(() => this.#inFlight.delete(sealing));
    return reference;
  }

  /** Waits for every seal; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    this.#throwFailure();
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
