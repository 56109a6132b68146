/**
 * Entries -> the records of the holdfast backup stream (format/stream/record.ts). Yields each
 * record as its 16-byte header and its payload, so a reader can hand out bytes in pieces of any
 * size and skip the rest of a record (BackupRead / BackupSeek). The magic comes first as a piece
 * of its own with an empty payload. Both buffers of a yielded record are valid until the next pull.
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { entryDataBytes } from '../format/entry.js';
import { encodeU64, entryMetadataPayloads } from '../format/stream/entry-codec.js';
import { encodeRecordHeader, limits, recordType, streamMagic, streamVersion } from '../format/stream/record.js';
import type { SourceEntry } from './entry-pipe.js';

export interface StreamRecord {
  type: number;
  header: Buffer;
  payload: Buffer;
}

const emptyPayload = Buffer.alloc(0);

export async function* encodeStream(entries: AsyncIterable<SourceEntry>): AsyncGenerator<StreamRecord> {
  const headerBuffer = Buffer.allocUnsafe(16);
  const record = (type: number, payload: Buffer): StreamRecord => ({ type, header: encodeRecordHeader(type, payload, headerBuffer), payload });
  yield { type: 0, header: streamMagic, payload: emptyPayload };
  const start = Buffer.alloc(4);
  start.writeUInt16LE(streamVersion, 0);
  yield record(recordType.streamStart, start);
  let entryCount = 0;
  for await (const entry of entries) {
    for (const payload of entryMetadataPayloads(entry.header)) yield record(payload.type, payload.bytes);
    const expectedBytes = entryDataBytes(entry.header);
    let dataBytes = 0;
    for await (const piece of entry.data()) {
      for (let offset = 0; offset < piece.length; offset += limits.dataRecordBytesMax) {
        const part = piece.subarray(offset, offset + limits.dataRecordBytesMax);
        dataBytes += part.length;
        yield record(recordType.data, part);
      }
    }
    if (dataBytes !== expectedBytes) {
      throw holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'export', path: displayPath(entry.header.path) }, `the source gave ${dataBytes} data bytes for ${expectedBytes} promised`);
    }
    yield record(recordType.entryEnd, encodeU64(dataBytes));
    entryCount++;
  }
  yield record(recordType.streamEnd, encodeU64(entryCount));
}
