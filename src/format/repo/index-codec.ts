/**
 * An index file (docs/repository-format.md): for each pack, where each of its blobs is. Pure
 * codec; the repository seals the encoded bytes before they are stored.
 *
 *   "HFINDEX" | u16 version | u32 pack count | per pack: 32-byte pack id | u32 blob count |
 *   per blob: u8 type | 32-byte id | u32 offset | u32 stored bytes | u32 raw bytes   (little-endian)
 */
import { holdfastError } from '../../errors/holdfast-error.js';
import { blobIdBytes, blobTypeCode, blobTypeOf, limits, type PackedBlob } from './blob-entry.js';

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
  const fail = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read index', path: fileName }, reason);
  if (bytes.length < fixedBytes || !bytes.subarray(0, indexMagic.length).equals(indexMagic)) throw fail('the index does not begin with "HFINDEX"');
  const version = bytes.readUInt16LE(indexMagic.length);
  if (version !== indexVersion) throw holdfastError('HOLDFAST_FORMAT_VERSION', { operation: 'read index', path: fileName }, `index version ${version} is not one this holdfast reads (${indexVersion})`);
  const packCount = bytes.readUInt32LE(indexMagic.length + 2);
  if (packCount > limits.packsPerIndexFileMax) throw fail(`${packCount} packs is over the limit of ${limits.packsPerIndexFileMax}`);
  const packs: IndexedPack[] = [];
  let at = fixedBytes;
  for (let packIndex = 0; packIndex < packCount; packIndex++) {
    if (at + perPackBytes > bytes.length) throw fail('the index ends inside a pack record');
    const packId = Buffer.from(bytes.subarray(at, at + blobIdBytes));
    const blobCount = bytes.readUInt32LE(at + blobIdBytes);
    at += perPackBytes;
    if (blobCount > limits.blobsPerPackMax || at + blobCount * perBlobBytes > bytes.length) throw fail('the index ends inside a pack\'s blob list');
    const blobs: PackedBlob[] = [];
    for (let blobIndex = 0; blobIndex < blobCount; blobIndex++) {
      const type = blobTypeOf(bytes[at]!);
      if (type === null) throw fail(`a blob of unknown type ${bytes[at]}`);
      blobs.push({
        type,
        id: Buffer.from(bytes.subarray(at + 1, at + 1 + blobIdBytes)),
        offsetBytes: bytes.readUInt32LE(at + 1 + blobIdBytes),
        storedBytes: bytes.readUInt32LE(at + 5 + blobIdBytes),
        rawBytes: bytes.readUInt32LE(at + 9 + blobIdBytes),
      });
      at += perBlobBytes;
    }
    packs.push({ packId, blobs });
  }
  if (at !== bytes.length) throw fail('bytes follow the last pack');
  return packs;
}
