/**
 * Tree blobs: the metadata of a snapshot's entries, in walk order (docs/repository-format.md).
 * Each entry is written with the backup stream's own records (format/stream/record.ts: entry,
 * link target, xattrs, ACLs, sparse map), so a snapshot keeps everything `export` keeps, followed
 * by two records of the repository's own and the stream's entry end:
 *
 *   chunks (0x0030):   count x (32-byte chunk id | u32 raw bytes); a file's data is its chunks
 *                      in order, spread over several records when there are many
 *   identity (0x0031): u64 device | u64 inode of the source, for the next incremental backup
 *   entryEnd (0x001f): u64 data bytes
 *
 * A tree blob is "HFTREE" | u16 version, then whole entries. Pure codec.
 */
import { displayPath } from '../../base/file-path.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import { entryDataBytes, type EntryHeader } from '../entry.js';
import { applyMetadataRecord, decodeEntryRecord, encodeU64, entryMetadataPayloads, PayloadReader } from '../stream/entry-codec.js';
import { checkPayload, decodeRecordHeader, encodeRecordHeader, limits as streamLimits, recordHeaderBytes, recordType } from '../stream/record.js';
import { blobIdBytes } from './blob-entry.js';

export const treeMagic = Buffer.from('HFTREE', 'latin1');
export const treeVersion = 1;
export const treeRecordType = { chunks: 0x0030, identity: 0x0031 } as const;

export interface ChunkReference {
  id: Buffer;
  rawBytes: number;
}

export interface TreeEntry {
  header: EntryHeader;
  /** A file's data, in order; empty for every other type and for an empty file. */
  chunks: ChunkReference[];
  /** The source file's device and inode; 0 when unknown. */
  device: bigint;
  inode: bigint;
}

const chunkReferenceBytes = blobIdBytes + 4;
const chunksPerRecordMax = Math.floor(streamLimits.metadataRecordBytesMax / chunkReferenceBytes);

export function treeBlobStart(): Buffer {
  const start = Buffer.alloc(treeMagic.length + 2);
  treeMagic.copy(start, 0);
  start.writeUInt16LE(treeVersion, treeMagic.length);
  return start;
}

/** The records of one entry, to be appended to a tree blob that began with treeBlobStart(). */
export function encodeTreeEntry(entry: TreeEntry): Buffer {
  const pieces: Buffer[] = [];
  const add = (type: number, payload: Buffer): void => {
    pieces.push(encodeRecordHeader(type, payload), payload);
  };
  for (const payload of entryMetadataPayloads(entry.header)) add(payload.type, payload.bytes);
  for (let first = 0; first < entry.chunks.length; first += chunksPerRecordMax) {
    const part = entry.chunks.slice(first, first + chunksPerRecordMax);
    const payload = Buffer.alloc(part.length * chunkReferenceBytes);
    part.forEach((chunk, index) => {
      chunk.id.copy(payload, index * chunkReferenceBytes);
      payload.writeUInt32LE(chunk.rawBytes, index * chunkReferenceBytes + blobIdBytes);
    });
    add(treeRecordType.chunks, payload);
  }
  const identity = Buffer.alloc(16);
  identity.writeBigUInt64LE(entry.device, 0);
  identity.writeBigUInt64LE(entry.inode, 8);
  add(treeRecordType.identity, identity);
  let dataBytes = 0;
  for (const chunk of entry.chunks) dataBytes += chunk.rawBytes;
  add(recordType.entryEnd, encodeU64(dataBytes));
  return Buffer.concat(pieces);
}

/** Every entry of a tree blob; `blobName` names it in messages. */
export function decodeTreeBlob(bytes: Buffer, blobName: string): TreeEntry[] {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read tree', path: blobName }, reason);
  if (bytes.length < treeMagic.length + 2 || !bytes.subarray(0, treeMagic.length).equals(treeMagic)) throw fail('the tree does not begin with "HFTREE"');
  const version = bytes.readUInt16LE(treeMagic.length);
  if (version < 1 || version > treeVersion) throw holdfastError('HOLDFAST_FORMAT_VERSION', { operation: 'read tree', path: blobName }, `tree version ${version} is not one this holdfast reads (1 to ${treeVersion})`);
  const entries: TreeEntry[] = [];
  let current: TreeEntry | null = null;
  let at = treeMagic.length + 2;
  while (at < bytes.length) {
    if (at + recordHeaderBytes > bytes.length) throw fail(`the tree ends inside a record header at byte ${at}`);
    const record = decodeRecordHeader(bytes.subarray(at, at + recordHeaderBytes), `byte ${at}`, blobName);
    const payloadStart = at + recordHeaderBytes;
    if (payloadStart + record.payloadBytes > bytes.length) throw fail(`the tree ends inside a record at byte ${at}`);
    const payload = bytes.subarray(payloadStart, payloadStart + record.payloadBytes);
    checkPayload(record, payload, 0, `byte ${at}`, blobName);
    at = payloadStart + record.payloadBytes;
    if (record.type === recordType.entry) {
      if (current !== null) throw fail(`an entry begins at byte ${at} before "${displayPath(current.header.path)}" ended`);
      current = { header: decodeEntryRecord(Buffer.from(payload), blobName), chunks: [], device: 0n, inode: 0n };
      continue;
    }
    if (current === null) throw fail(`a record at byte ${at} belongs to no entry`);
    if (record.type === treeRecordType.chunks) {
      if (payload.length % chunkReferenceBytes !== 0) throw fail('a chunk list record has a partial reference');
      for (let offset = 0; offset < payload.length; offset += chunkReferenceBytes) {
        current.chunks.push({ id: Buffer.from(payload.subarray(offset, offset + blobIdBytes)), rawBytes: payload.readUInt32LE(offset + blobIdBytes) });
      }
    } else if (record.type === treeRecordType.identity) {
      const reader = new PayloadReader(payload, 'an identity record', blobName);
      current.device = reader.take(8).readBigUInt64LE(0);
      current.inode = reader.take(8).readBigUInt64LE(0);
    } else if (record.type === recordType.entryEnd) {
      let dataBytes = 0;
      for (const chunk of current.chunks) dataBytes += chunk.rawBytes;
      const declared = new PayloadReader(payload, 'an entry end record', blobName).u64();
      if (declared !== dataBytes || dataBytes !== entryDataBytes(current.header)) {
        throw fail(`the entry "${displayPath(current.header.path)}" has chunks of ${dataBytes} bytes for ${entryDataBytes(current.header)} bytes of data`);
      }
      entries.push(current);
      current = null;
    } else {
      // A metadata record of the entry; a type this reader does not know is skipped (rule D3).
      applyMetadataRecord(current.header, record.type, Buffer.from(payload), blobName);
    }
  }
  if (current !== null) throw fail(`the tree ends inside the entry "${displayPath(current.header.path)}"`);
  return entries;
}
