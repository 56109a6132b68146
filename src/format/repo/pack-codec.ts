/**
 * The header of a pack file (docs/repository-format.md): which blobs the pack holds, in order.
 * Pure codec; the repository seals the encoded header before it is stored.
 *
 *   "HFPACK" | u16 version | u32 blob count | per blob, in file order:
 *   u8 type | u8 flags (0) | 32-byte id | u32 stored bytes | u32 raw bytes        (little-endian)
 *
 * A blob's offset is the sum of the stored sizes before it. The pack file itself is
 * `blob... | sealed header | u32 sealed header bytes`.
 */
import { holdfastError } from '../../errors/holdfast-error.js';
import { blobIdBytes, blobTypeCode, blobTypeOf, limits, type PackedBlob } from './blob-entry.js';

export const packMagic = Buffer.from('HFPACK', 'latin1');
export const packVersion = 1;
const fixedBytes = packMagic.length + 2 + 4;
const perBlobBytes = 2 + blobIdBytes + 4 + 4;

export function encodePackHeader(blobs: readonly PackedBlob[]): Buffer {
  const bytes = Buffer.alloc(fixedBytes + blobs.length * perBlobBytes);
  packMagic.copy(bytes, 0);
  bytes.writeUInt16LE(packVersion, packMagic.length);
  bytes.writeUInt32LE(blobs.length, packMagic.length + 2);
  let at = fixedBytes;
  for (const blob of blobs) {
    bytes[at] = blobTypeCode[blob.type];
    blob.id.copy(bytes, at + 2);
    bytes.writeUInt32LE(blob.storedBytes, at + 2 + blobIdBytes);
    bytes.writeUInt32LE(blob.rawBytes, at + 6 + blobIdBytes);
    at += perBlobBytes;
  }
  return bytes;
}

/** The blobs of a pack; `packBytesBeforeHeader` bounds their offsets. */
export function decodePackHeader(bytes: Buffer, packBytesBeforeHeader: number, packName: string): PackedBlob[] {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read pack header of', path: packName }, reason);
  if (bytes.length < fixedBytes || !bytes.subarray(0, packMagic.length).equals(packMagic)) throw fail('the header does not begin with "HFPACK"');
  const version = bytes.readUInt16LE(packMagic.length);
  if (version !== packVersion) throw holdfastError('HOLDFAST_FORMAT_VERSION', { operation: 'read pack header of', path: packName }, `pack version ${version} is not one this holdfast reads (${packVersion})`);
  const count = bytes.readUInt32LE(packMagic.length + 2);
  if (count > limits.blobsPerPackMax || bytes.length !== fixedBytes + count * perBlobBytes) throw fail(`the header's size does not fit its ${count} blobs`);
  const blobs: PackedBlob[] = [];
  let at = fixedBytes;
  let offsetBytes = 0;
  for (let index = 0; index < count; index++) {
    const type = blobTypeOf(bytes[at]!);
    if (type === null) throw fail(`blob ${index} has unknown type ${bytes[at]}`);
    const storedBytes = bytes.readUInt32LE(at + 2 + blobIdBytes);
    const rawBytes = bytes.readUInt32LE(at + 6 + blobIdBytes);
    if (rawBytes > limits.blobRawBytesMax || offsetBytes + storedBytes > packBytesBeforeHeader) throw fail(`blob ${index} runs past the pack's data`);
    blobs.push({ type, id: Buffer.from(bytes.subarray(at + 2, at + 2 + blobIdBytes)), offsetBytes, storedBytes, rawBytes });
    offsetBytes += storedBytes;
    at += perBlobBytes;
  }
  return blobs;
}
