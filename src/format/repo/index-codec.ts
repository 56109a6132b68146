/**
 * An index file (docs/repository-format.md): for each pack, where each of its blobs is. Pure
 * codec; the repository seals the encoded bytes before they are stored.
 *
 *   "HFINDEX" | u16 version | u32 pack count | per pack: 32-byte pack id | u32 blob count |
 *   per blob: u8 type | 32-byte id | u32 offset | u32 stored bytes | u32 raw bytes   (little-endian)
 */
import { holdfastError } from '../../errors/holdfast-error.js';
import { blobIdBytes, blobTypeCode, blobTypeOf, limits, type BlobType, type PackedBlob } from './blob-entry.js';

export const indexMagic = Buffer.from('HFINDEX', 'latin1');
export const indexVersion = 1;
const fixedBytes = indexMagic.length + 2 + 4;
const perPackBytes = blobIdBytes + 4;
const perBlobBytes = 1 + blobIdBytes + 12;

export interface IndexedPack {
  packId: Buffer;
  blobs: PackedBlob[];
}

export function encodeIndex(packs: readonly IndexedPack[]): Buffer {
  let total = fixedBytes;
  for (const pack of packs) total += perPackBytes + pack.blobs.length * perBlobBytes;
  const bytes = Buffer.alloc(total);
  indexMagic.copy(bytes, 0);
  bytes.writeUInt16LE(indexVersion, indexMagic.length);
  bytes.writeUInt32LE(packs.length, indexMagic.length + 2);
  let at = fixedBytes;
  for (const pack of packs) {
    pack.packId.copy(bytes, at);
    bytes.writeUInt32LE(pack.blobs.length, at + blobIdBytes);
    at += perPackBytes;
    for (const blob of pack.blobs) {
      bytes[at] = blobTypeCode[blob.type];
      blob.id.copy(bytes, at + 1);
      bytes.writeUInt32LE(blob.offsetBytes, at + 1 + blobIdBytes);
      bytes.writeUInt32LE(blob.storedBytes, at + 5 + blobIdBytes);
      bytes.writeUInt32LE(blob.rawBytes, at + 9 + blobIdBytes);
      at += perBlobBytes;
    }
  }
  return bytes;
}

export function decodeIndex(bytes: Buffer, fileName: string): IndexedPack[] {
  const packs: IndexedPack[] = [];
  let blobs: PackedBlob[] = [];
  visitIndex(bytes, fileName, {
    pack: (packId) => {
      blobs = [];
      packs.push({ packId: Buffer.from(packId), blobs });
    },
    blob: (type, id, offsetBytes, storedBytes, rawBytes) => {
      blobs.push({ type, id: Buffer.from(id), offsetBytes, storedBytes, rawBytes });
    },
  });
  return packs;
}

/**
 * What visitIndex() calls for each record, in file order. The ids are views into the index bytes,
 * valid during the call only: copy what is kept. Nothing is allocated per blob, so a caller that
 * keeps only a part (check's BlobTable) makes no garbage per index entry.
 */
export interface IndexVisitor {
  pack(packId: Buffer, blobCount: number): void;
  blob(type: BlobType, id: Buffer, offsetBytes: number, storedBytes: number, rawBytes: number): void;
}

/**
 * Walks an index file's records with every check decodeIndex() makes. A file that fails throws
 * after the records before the fault were visited: a caller that must take all or nothing checks
 * with a visitor that does nothing first.
 */
export function visitIndex(bytes: Buffer, fileName: string, visitor: IndexVisitor): void {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read index', path: fileName }, reason);
  if (bytes.length < fixedBytes || !bytes.subarray(0, indexMagic.length).equals(indexMagic)) throw fail('the index does not begin with "HFINDEX"');
  const version = bytes.readUInt16LE(indexMagic.length);
  if (version !== indexVersion) throw holdfastError('HOLDFAST_FORMAT_VERSION', { operation: 'read index', path: fileName }, `index version ${version} is not one this holdfast reads (${indexVersion})`);
  const packCount = bytes.readUInt32LE(indexMagic.length + 2);
  if (packCount > limits.packsPerIndexFileMax) throw fail(`${packCount} packs is over the limit of ${limits.packsPerIndexFileMax}`);
  let at = fixedBytes;
  for (let packIndex = 0; packIndex < packCount; packIndex++) {
    if (at + perPackBytes > bytes.length) throw fail('the index ends inside a pack record');
    const blobCount = bytes.readUInt32LE(at + blobIdBytes);
    visitor.pack(bytes.subarray(at, at + blobIdBytes), blobCount);
    at += perPackBytes;
    if (blobCount > limits.blobsPerPackMax || at + blobCount * perBlobBytes > bytes.length) throw fail('the index ends inside a pack\'s blob list');
    for (let blobIndex = 0; blobIndex < blobCount; blobIndex++) {
      const type = blobTypeOf(bytes[at]!);
      if (type === null) throw fail(`a blob of unknown type ${bytes[at]}`);
      visitor.blob(type, bytes.subarray(at + 1, at + 1 + blobIdBytes), bytes.readUInt32LE(at + 1 + blobIdBytes), bytes.readUInt32LE(at + 5 + blobIdBytes), bytes.readUInt32LE(at + 9 + blobIdBytes));
      at += perBlobBytes;
    }
  }
  if (at !== bytes.length) throw fail('bytes follow the last pack');
}

/**
 * The index files that name only the packs `keep` accepts, copied record by record from an index
 * file (already read whole by visitIndex, so it is well formed), each naming at most
 * `blobsPerFileMax` blobs (a pack is never split: a file holds at least one pack). Nothing is
 * decoded into objects: prune rewrites index files of millions of blobs this way.
 */
export function filterIndex(bytes: Buffer, keep: (packId: Buffer) => boolean, blobsPerFileMax: number): Buffer[] {
  const files: Buffer[] = [];
  let records: Buffer[] = [];
  let packs = 0;
  let blobs = 0;
  const flush = (): void => {
    if (packs === 0) return;
    const header = Buffer.alloc(fixedBytes);
    indexMagic.copy(header, 0);
    header.writeUInt16LE(indexVersion, indexMagic.length);
    header.writeUInt32LE(packs, indexMagic.length + 2);
    files.push(Buffer.concat([header, ...records]));
    records = [];
    packs = 0;
    blobs = 0;
  };
  const packCount = bytes.readUInt32LE(indexMagic.length + 2);
  let at = fixedBytes;
  for (let packIndex = 0; packIndex < packCount; packIndex++) {
    const blobCount = bytes.readUInt32LE(at + blobIdBytes);
    const end = at + perPackBytes + blobCount * perBlobBytes;
    if (keep(bytes.subarray(at, at + blobIdBytes))) {
      if (packs > 0 && blobs + blobCount > blobsPerFileMax) flush();
      records.push(bytes.subarray(at, end));
      packs++;
      blobs += blobCount;
    }
    at = end;
  }
  flush();
  return files;
}
