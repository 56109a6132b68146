/**
 * The holdfast backup stream -> entries, pushed into an EntrySink (a restorer). Every record's
 * checksums are verified before its bytes go anywhere; every size is checked against its limit
 * before it is read; unknown record types are skipped (rule D3). An entry reaches the sink only
 * once its metadata is complete, and its data only in verified records, so everything before a
 * corrupt or truncated spot has been delivered whole and the error names the entry it hit.
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError, type HoldfastErrorCode } from '../errors/holdfast-error.js';
import { entryDataBytes, type EntryHeader } from '../format/entry.js';
import { applyMetadataRecord, decodeEntryRecord, PayloadReader } from '../format/stream/entry-codec.js';
import { checkPayload, decodeRecordHeader, limits, payloadBytesMax, recordHeaderBytes, recordType, streamMagic, streamVersion, type RecordHeader } from '../format/stream/record.js';
import type { ByteInput, EntrySink } from './entry-pipe.js';

interface EntryState {
  header: EntryHeader;
  begun: boolean;
  dataBytes: number;
}

export async function decodeStream(input: ByteInput, sink: EntrySink, streamName: string): Promise<{ entryCount: number }> {
  const fail = (code: HoldfastErrorCode, reason: string, entry?: EntryState | null): Error =>
    holdfastError(code, { operation: 'read stream', path: streamName }, entry ? `${reason} (in entry "${displayPath(entry.header.path)}")` : reason);
  const magic = await input.readExactly(streamMagic.length, 'the stream magic');
  if (!magic.equals(streamMagic)) throw fail('HOLDFAST_FORMAT_INVALID', 'this is not a holdfast stream (the magic "HFSTREAM" is missing)');
  const payloadBuffer = Buffer.allocUnsafe(limits.dataRecordBytesMax);
  let entry: EntryState | null = null;
  let entryCount = 0;
  let started = false;
  for (;;) {
    const where = `byte ${input.positionBytes}`;
    const headerBytes = await input.peek(recordHeaderBytes);
    if (headerBytes.length < recordHeaderBytes) {
      throw fail('HOLDFAST_FORMAT_TRUNCATED', `the stream ends at ${where} before its end record`, entry);
    }
    const header = decodeRecordHeader(await input.readExactly(recordHeaderBytes, 'a record header'), where, streamName);
    if (header.payloadBytes > payloadBytesMax(header.type)) {
      throw fail('HOLDFAST_LIMIT_EXCEEDED', `a record at ${where} declares ${header.payloadBytes} bytes, over the limit of ${payloadBytesMax(header.type)}`, entry);
    }
    const payload = await readPayload(input, header, payloadBuffer, where, streamName, () => fail('HOLDFAST_FORMAT_TRUNCATED', `the stream ends inside a record at ${where}`, entry));
    if (!started) {
      if (header.type !== recordType.streamStart) throw fail('HOLDFAST_FORMAT_INVALID', 'the stream does not begin with its start record');
      const version = new PayloadReader(payload, 'the start record', streamName).u16();
      if (version > streamVersion) throw fail('HOLDFAST_FORMAT_VERSION', `stream version ${version} is newer than this holdfast reads (${streamVersion})`);
      started = true;
      continue;
    }
    switch (header.type) {
      case recordType.entry:
        if (entry !== null) throw fail('HOLDFAST_FORMAT_INVALID', `a new entry begins at ${where} before the last one ended`, entry);
        entry = { header: decodeEntryRecord(Buffer.from(payload), streamName), begun: false, dataBytes: 0 };
        break;
      case recordType.data: {
        const current = requireEntry(entry, where, fail);
        if (!current.begun) await begin(current, sink, fail);
        current.dataBytes += payload.length;
        if (current.dataBytes > entryDataBytes(current.header)) throw fail('HOLDFAST_SIZE_MISMATCH', `more data than the entry's ${entryDataBytes(current.header)} bytes`, current);
        await sink.writeData(payload);
        break;
      }
      case recordType.entryEnd: {
        const current = requireEntry(entry, where, fail);
        if (!current.begun) await begin(current, sink, fail);
        const declared = new PayloadReader(payload, 'an entry end record', streamName).u64();
        if (current.dataBytes !== entryDataBytes(current.header) || declared !== current.dataBytes) {
          throw fail('HOLDFAST_SIZE_MISMATCH', `the entry has ${current.dataBytes} data bytes, its header promised ${entryDataBytes(current.header)}`, current);
        }
        await sink.endEntry();
        entry = null;
        entryCount++;
        break;
      }
      case recordType.streamEnd: {
        if (entry !== null) throw fail('HOLDFAST_FORMAT_TRUNCATED', 'the stream ends inside an entry', entry);
        const declared = new PayloadReader(payload, 'the end record', streamName).u64();
        if (declared !== entryCount) throw fail('HOLDFAST_FORMAT_INVALID', `the end record counts ${declared} entries, the stream held ${entryCount}`);
        return { entryCount };
      }
      default:
        if (header.type === recordType.streamStart) throw fail('HOLDFAST_FORMAT_INVALID', `a second start record at ${where}`, entry);
        // A metadata record of the current entry; any other type is one this reader does not
        // know, and is skipped (rule D3).
        if (entry !== null && !entry.begun) applyMetadataRecord(entry.header, header.type, Buffer.from(payload), streamName);
        break;
    }
  }
}

async function readPayload(input: ByteInput, header: RecordHeader, buffer: Buffer, where: string, streamName: string, truncated: () => Error): Promise<Buffer> {
  let filled = 0;
  while (filled < header.payloadBytes) {
    const piece = await input.readUpTo(header.payloadBytes - filled);
    if (piece === null) throw truncated();
    filled += piece.copy(buffer, filled);
  }
  const payload = buffer.subarray(0, header.payloadBytes);
  checkPayload(header, payload, 0, where, streamName);
  return payload;
}

type Fail = (code: HoldfastErrorCode, reason: string, entry?: EntryState | null) => Error;

function requireEntry(entry: EntryState | null, where: string, fail: Fail): EntryState {
  if (entry === null) throw fail('HOLDFAST_FORMAT_INVALID', `a record at ${where} belongs to no entry`);
  return entry;
}

async function begin(entry: EntryState, sink: EntrySink, fail: Fail): Promise<void> {
  const map = entry.header.sparseMap;
  if (map !== null) {
    let end = 0;
    for (const extent of map) {
      if (extent.offsetBytes < end || extent.offsetBytes + extent.lengthBytes > entry.header.sizeBytes) {
        throw fail('HOLDFAST_FORMAT_INVALID', 'the sparse map is not ascending, overlaps, or runs past the size', entry);
      }
      end = extent.offsetBytes + extent.lengthBytes;
    }
  }
  entry.begun = true;
  await sink.beginEntry(entry.header);
}
