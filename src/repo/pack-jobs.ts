/**
 * The jobs of the repository's worker threads: the CPU-heavy halves of storing and loading a
 * blob. The main thread reads, chunks and hashes (it must look an id up before deciding to
 * store), and hands each new chunk over here to be compressed and sealed; loading goes the
 * other way. Plaintext and stored bytes are moved between threads (transfer lists), never copied.
 *
 * Keys come with each job's payload, never in its traced parameters.
 */
import type { JobHandler } from '../pool/worker-runtime.js';
import { openBlob, sealBlobWithId } from './blob-codec.js';
import { blobIdBytes } from './blob-id.js';
import { transferableBuffer } from './transferable.js';

export interface SealJob {
  encryptionKey: Uint8Array;
  id: Uint8Array;
  plaintext: ArrayBuffer;
}

export interface SealResult {
  stored: ArrayBuffer;
  compressed: boolean;
}

/**
 * Several small blobs sealed in one job (blob-saver.ts): one round trip instead of one each. The
 * blobs travel in one buffer each way: moving 64 small ArrayBuffers in one message cost more
 * (about 110 us) than copying them (75 us), and one buffer of them all about 15 us.
 */
export interface SealBatchJob {
  encryptionKey: Uint8Array;
  /** The blobs' ids, 32 bytes each, one after another. */
  ids: Uint8Array;
  /** The blobs' plaintexts one after another, and the length of each. */
  plaintexts: ArrayBuffer;
  rawBytes: number[];
}

export interface SealBatchResult {
  /** The sealed blobs one after another, in the order of the job's, and the length of each. */
  stored: ArrayBuffer;
  storedBytes: number[];
}

/** Blobs of one pack (its bytes from the first one's offset on) opened in one job (open-together.ts). */
export interface OpenBatchJob {
  encryptionKey: Uint8Array;
  idKey: Uint8Array;
  /** The pack's bytes from the first blob's offset to the last blob's end. */
  stored: ArrayBuffer;
  blobs: { id: Uint8Array; offsetBytes: number; storedBytes: number; rawBytes: number; name: string }[];
}

export interface OpenBatchResult {
  /** In the order of the job's blobs. */
  plaintexts: ArrayBuffer[];
}

export interface OpenJob {
  encryptionKey: Uint8Array;
  idKey: Uint8Array;
  id: Uint8Array;
  stored: ArrayBuffer;
  rawBytes: number;
  /** Names the blob in an error message. */
  name: string;
}

/** The handlers of the repository's jobs; the pool's worker module (engine/worker-jobs.ts) serves them. */
export const packJobs: Readonly<Record<string, JobHandler>> = {
  seal: (payload) => {
    const job = payload as SealJob;
    const sealed = sealBlobWithId({ encryptionKey: Buffer.from(job.encryptionKey) }, Buffer.from(job.id), Buffer.from(job.plaintext));
    const stored = transferableBuffer(sealed.stored);
    const result: SealResult = { stored, compressed: sealed.compressed };
    return { result, transfer: [stored] };
  },
  sealBatch: (payload) => {
    const job = payload as SealBatchJob;
    const key = { encryptionKey: Buffer.from(job.encryptionKey) };
    const ids = Buffer.from(job.ids.buffer, job.ids.byteOffset, job.ids.length);
    let offset = 0;
    const sealed = job.rawBytes.map((rawBytes, index) => {
      const plaintext = Buffer.from(job.plaintexts, offset, rawBytes);
      offset += rawBytes;
      return sealBlobWithId(key, ids.subarray(index * blobIdBytes, (index + 1) * blobIdBytes), plaintext).stored;
    });
    const stored = transferableBuffer(Buffer.concat(sealed));
    const result: SealBatchResult = { stored, storedBytes: sealed.map((blob) => blob.length) };
    return { result, transfer: [stored] };
  },
  openBatch: (payload) => {
    const job = payload as OpenBatchJob;
    const keys = { encryptionKey: Buffer.from(job.encryptionKey), idKey: Buffer.from(job.idKey) };
    const plaintexts = job.blobs.map((blob) => transferableBuffer(openBlob(keys, blob.id, new Uint8Array(job.stored, blob.offsetBytes, blob.storedBytes), blob.rawBytes, { operation: 'load blob', path: blob.name })));
    const result: OpenBatchResult = { plaintexts };
    return { result, transfer: plaintexts };
  },
  open: (payload) => {
    const job = payload as OpenJob;
    const keys = { encryptionKey: Buffer.from(job.encryptionKey), idKey: Buffer.from(job.idKey) };
    const plaintext = transferableBuffer(openBlob(keys, job.id, new Uint8Array(job.stored), job.rawBytes, { operation: 'load blob', path: job.name }));
    return { result: plaintext, transfer: [plaintext] };
  },
};
