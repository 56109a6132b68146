/**
 * The worker of bench/make-big-repo.ts: makes one whole pack of tiny data blobs with the real
 * codecs (keyed BLAKE3 id, the blob seal, the sealed pack header), and the plaintext of the index
 * file that names it. The main thread stores both.
 *
 * A 16-byte plaintext is never worth compressing (a zstd frame of it is longer), so the blob is
 * sealed as format 0 directly: the same bytes sealBlob() makes, without the zstd attempt that
 * cost a third of the time here. check --read-data opens every blob with the real openBlob().
 */
import { bigBlobPlaintext } from './big-repo-layout.js';
import { encodeIndex } from '../src/format/repo/index-codec.js';
import { encodePackHeader } from '../src/format/repo/pack-codec.js';
import type { PackedBlob } from '../src/format/repo/blob-entry.js';
import { serveJobs } from '../src/pool/worker-runtime.js';
import { blobFormatStored } from '../src/repo/blob-codec.js';
import { blobId, storageName } from '../src/repo/blob-id.js';
import { packHeaderAssociatedData } from '../src/repo/pack-writer.js';
import { seal, sealPieces } from '../src/repo/seal.js';
import { transferableBuffer } from '../src/repo/transferable.js';

export interface BigPackJob {
  encryptionKey: Uint8Array;
  idKey: Uint8Array;
  firstBlob: number;
  blobCount: number;
}

export interface BigPackResult {
  packName: string;
  pack: ArrayBuffer;
  indexPlaintext: ArrayBuffer;
  /** blobCount x 32 bytes: the ids of blobs firstBlob.. in order. */
  ids: ArrayBuffer;
}

const formatStored = Buffer.of(blobFormatStored);

serveJobs({
  pack: (payload) => {
    const job = payload as BigPackJob;
    const keys = { encryptionKey: Buffer.from(job.encryptionKey), idKey: Buffer.from(job.idKey) };
    const stored: Buffer[] = [];
    const packed: PackedBlob[] = [];
    const ids = Buffer.from(new ArrayBuffer(job.blobCount * 32));
    let offsetBytes = 0;
    for (let index = 0; index < job.blobCount; index++) {
      const plaintext = bigBlobPlaintext(job.firstBlob + index);
      const id = blobId(keys.idKey, plaintext);
      const sealed = sealPieces(keys.encryptionKey, [formatStored, plaintext], id);
      id.copy(ids, index * 32);
      stored.push(sealed);
      packed.push({ type: 'data', id, offsetBytes, storedBytes: sealed.length, rawBytes: plaintext.length });
      offsetBytes += sealed.length;
    }
    const header = seal(keys.encryptionKey, encodePackHeader(packed), packHeaderAssociatedData);
    const headerLength = Buffer.alloc(4);
    headerLength.writeUInt32LE(header.length);
    const pack = transferableBuffer(Buffer.concat([...stored, header, headerLength]));
    const packName = storageName(new Uint8Array(pack));
    const indexPlaintext = transferableBuffer(encodeIndex([{ packId: Buffer.from(packName, 'hex'), blobs: packed }]));
    const result: BigPackResult = { packName, pack, indexPlaintext, ids: ids.buffer as ArrayBuffer };
    return { result, transfer: [pack, indexPlaintext, result.ids] };
  },
});
