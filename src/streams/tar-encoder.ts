/**
 * Entries -> a POSIX pax tar archive, byte for byte what GNU tar 1.34 writes with
 * `tar --format=posix --xattrs --xattrs-include='*' --acls --sparse` for the same metadata
 * (format/tar/entry-encoding.ts has the rules): per entry its headers, then its data padded to
 * 512 bytes; at the end two zero blocks, and zeros up to a multiple of 10240 bytes (GNU tar's
 * record of 20 blocks).
 *
 * Memory: one entry's headers and one data piece at a time. Data pieces from SourceEntry.data()
 * are yielded as they are, never gathered. A yielded Buffer is valid until the next pull.
 * Entries tar cannot hold (sockets) or that a reader within tarLimits could not read back are
 * reported to onSkip and left out. A file that yields other than entryDataBytes(header) bytes
 * fails with HOLDFAST_SIZE_MISMATCH: its header has gone out already.
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { entryDataBytes, type EntryHeader } from '../format/entry.js';
import { encodeEntryHeaders, entryLimitProblem, paddedBytes } from '../format/tar/entry-encoding.js';
import { blockBytes } from '../format/tar/header.js';
import { tarLimits } from '../format/tar/limits.js';
import type { SourceEntry } from './entry-pipe.js';

export interface TarEncoderOptions {
  /** An entry left out of the archive, and why. */
  onSkip: (header: EntryHeader, reason: string) => void;
}

/** GNU tar's default record: blocking factor 20. */
export const tarRecordBytes = 20 * blockBytes;
const endOfArchiveBytes = 2 * blockBytes;
/** Never written to: every padding is a view of it. */
const zeros = Buffer.alloc(tarRecordBytes + endOfArchiveBytes);

export async function* encodeTar(entries: AsyncIterable<SourceEntry>, options: TarEncoderOptions): AsyncGenerator<Buffer> {
  let archiveBytes = 0;
  for await (const entry of entries) {
    const { header } = entry;
    const problem = header.type === 'socket' ? 'a socket cannot be stored in a tar archive' : entryLimitProblem(header);
    if (problem !== null) {
      options.onSkip(header, problem);
      continue;
    }
    const encoded = encodeEntryHeaders(header);
    if (encoded.paxDataBytes > tarLimits.paxHeaderBytesMax) {
      options.onSkip(header, `its pax header has ${encoded.paxDataBytes} bytes, over the tar limit paxHeaderBytesMax = ${tarLimits.paxHeaderBytesMax}`);
      continue;
    }
    yield encoded.bytes;
    archiveBytes += encoded.bytes.length;
    if (header.type !== 'file') continue;
    const expectedBytes = entryDataBytes(header);
    let dataBytes = 0;
    for await (const piece of entry.data()) {
      if (piece.length === 0) continue;
      dataBytes += piece.length;
      if (dataBytes > expectedBytes) break;
      yield piece;
    }
    if (dataBytes !== expectedBytes) {
      throw holdfastError(
        'HOLDFAST_SIZE_MISMATCH',
        { operation: 'write tar archive', path: displayPath(header.path) },
        `the source gave ${dataBytes > expectedBytes ? 'more than ' : ''}${dataBytes} data bytes for ${expectedBytes} promised`,
      );
    }
    const paddingBytes = paddedBytes(expectedBytes) - expectedBytes;
    if (paddingBytes > 0) yield zeros.subarray(0, paddingBytes);
    archiveBytes += expectedBytes + paddingBytes;
  }
  const endBytes = archiveBytes + endOfArchiveBytes;
  yield zeros.subarray(0, endOfArchiveBytes + Math.ceil(endBytes / tarRecordBytes) * tarRecordBytes - endBytes);
}
