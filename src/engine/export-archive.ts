/**
 * export: file trees -> a backup stream or a pax tar, written to a handle (a file, a pipe, a
 * socket, stdout). The walk, the encoder and the writer run as one pull chain, so memory stays
 * at one data buffer and one output buffer whatever the size of the tree.
 */
import { displayPath, type FilePath } from '../base/file-path.js';
import type { BufferPool } from '../io/buffer-pool.js';
import { BufferedWriter } from '../io/buffered-writer.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import type { OwnerNames } from '../source/owner-names.js';
import type { SourceEntry } from '../source/source-entry.js';
import type { FileBatches } from '../source/file-batches.js';
import { walkTrees } from '../source/tree-walker.js';
import { encodeStream } from '../streams/stream-encoder.js';
import { encodeTar } from '../streams/tar-encoder.js';

export type ArchiveFormat = 'stream' | 'tar';

export interface ExportProgress {
  entries: number;
  dataBytes: number;
  currentPath: string;
}

export interface ExportOptions {
  format: ArchiveFormat;
  ownerNames: OwnerNames;
  /** Two leases are held: one for file data, one for output. */
  pool: BufferPool;
  oneFileSystem?: boolean;
  /** Stat names and read small files many at a time (file-workers.ts); without it, call by call through Io. */
  batches?: FileBatches;
  /** An entry that could not be read (left out) or changed while read. */
  onProblem: (path: string, error: Error) => void;
  /** An entry the format cannot carry (a socket in tar), left out. */
  onSkip: (path: string, reason: string) => void;
  onEntry?: (progress: ExportProgress) => void;
}

export interface ExportSummary {
  entries: number;
  dataBytes: number;
  outputBytes: number;
}

/** Writes the archive to `output` and closes it (a borrowed stdout is detached, not closed). */
export async function exportArchive(io: Io, paths: readonly FilePath[], output: Handle, options: ExportOptions): Promise<ExportSummary> {
  const summary: ExportSummary = { entries: 0, dataBytes: 0, outputBytes: 0 };
  const writer = new BufferedWriter(io, output, await options.pool.acquire());
  try {
    const entries = counted(walkTrees(io, paths, options), summary, options);
    if (options.format === 'stream') {
      for await (const record of encodeStream(entries)) {
        await writer.write(record.header);
        await writer.write(record.payload);
        summary.outputBytes += record.header.length + record.payload.length;
      }
    } else {
      const onSkip = (header: { path: Buffer }, reason: string): void => options.onSkip(displayPath(header.path), reason);
      for await (const piece of encodeTar(entries, { onSkip })) {
        await writer.write(piece);
        summary.outputBytes += piece.length;
      }
    }
  } finally {
    await writer.close();
  }
  return summary;
}

async function* counted(entries: AsyncIterable<SourceEntry>, summary: ExportSummary, options: ExportOptions): AsyncGenerator<SourceEntry> {
  for await (const entry of entries) {
    summary.entries++;
    options.onEntry?.({ entries: summary.entries, dataBytes: summary.dataBytes, currentPath: displayPath(entry.header.path) });
    yield {
      header: entry.header,
      data: async function* () {
        for await (const piece of entry.data()) {
          summary.dataBytes += piece.length;
          yield piece;
        }
      },
    };
  }
}
