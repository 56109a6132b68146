/**
 * Records of the holdfast backup stream (docs/stream-format.md). A stream is the 8-byte magic
 * "HFSTREAM" followed by records; each record is a 16-byte header and a payload:
 *
 *   u16 type | u16 flags (0; readers ignore bits they do not know) | u32 payloadBytes |
 *   u32 CRC-32 of the payload | u32 CRC-32 of the header's first 12 bytes        (little-endian)
 *
 * A reader checks both CRCs, skips a record whose type it does not know (rule D3), and refuses a
 * payload larger than the limit for its type before reading it. Pure codec.
 */
import { crc32 } from 'node:zlib';
import { holdfastError } from '../../errors/holdfast-error.js';

export const streamMagic = Buffer.from('HFSTREAM', 'latin1');
export const streamVersion = 1;
export const recordHeaderBytes = 16;

export const recordType = {
  /** u16 version, u16 flags. First record of every stream. */
  streamStart: 0x0001,
  /** u64 entry count. Last record; a stream without it is truncated. */
  streamEnd: 0x0002,
  /** An entry's fixed metadata and path: starts the entry (entry-codec.ts). */
  entry: 0x0010,
  linkTarget: 0x0011,
  xattr: 0x0012,
  aclAccess: 0x0013,
  aclDefault: 0x0014,
  sparseMap: 0x0015,
  /** Up to dataRecordBytesMax bytes of the entry's data. */
  data: 0x0020,
  /** u64 data bytes of the entry: ends it. */
  entryEnd: 0x001f,
} as const;

export const limits = {
  /** One data record; data of any size spans many records. */
  dataRecordBytesMax: 1024 * 1024,
  /** Any other record: a path of 4096 bytes, an xattr of 64 KiB, 4096 sparse extents. */
  metadataRecordBytesMax: 65536 + 512,
  xattrCountMax: 10_000,
  sparseExtentCountMax: 1_000_000,
  pathBytesMax: 4096,
} as const;

export interface RecordHeader {
  type: number;
  flags: number;
  payloadBytes: number;
  payloadCrc: number;
}

export function encodeRecordHeader(type: number, payload: Uint8Array, target: Buffer = Buffer.allocUnsafe(recordHeaderBytes)): Buffer {
  target.writeUInt16LE(type, 0);
  target.writeUInt16LE(0, 2);
  target.writeUInt32LE(payload.length, 4);
  target.writeUInt32LE(crc32(payload), 8);
  target.writeUInt32LE(crc32(target.subarray(0, 12)), 12);
  return target;
}

/** Decodes and checks a header; `where` names the position for messages. */
export function decodeRecordHeader(bytes: Buffer, where: string, streamName: string): RecordHeader {
  if (bytes.readUInt32LE(12) !== crc32(bytes.subarray(0, 12))) {
    throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read stream', path: streamName }, `a record header at ${where} fails its checksum`);
  }
  return { type: bytes.readUInt16LE(0), flags: bytes.readUInt16LE(2), payloadBytes: bytes.readUInt32LE(4), payloadCrc: bytes.readUInt32LE(8) };
}

export function payloadBytesMax(type: number): number {
  return type === recordType.data ? limits.dataRecordBytesMax : limits.metadataRecordBytesMax;
}

export function checkPayload(header: RecordHeader, payload: Uint8Array, crcSoFar: number, where: string, streamName: string): void {
  if (crc32(payload, crcSoFar) !== header.payloadCrc) {
    throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read stream', path: streamName }, `the payload of a record at ${where} fails its checksum`);
  }
}

export { crc32 };
