/**
 * The repository's index files, one at a time: read a few files ahead, hand each to the caller in
 * the order the backend listed them, and never hold more than `indexFilesAheadMax` of them.
 *
 * Why: decoding every index file before adding any (Promise.all) holds all of them, encoded and
 * decoded, at once: at 10 million blobs that is gigabytes. Read ahead by a few, the loader keeps
 * the disk busy while the caller decodes and adds one file, and memory stays at a few files.
 * The order matters: when two index files name the same blob, the first one listed wins.
 */
import type { Backend, StoredFile } from './backend/backend.js';

/** Index files being read while the caller works on the current one. */
export const indexFilesAheadMax = 4;
/**
 * And at most this many bytes of them (by their listed sizes): an index file can be large (one a
 * backup of small files or a prune writes may name millions of blobs), and the files ahead are
 * held whole, beside the one being decoded. One file is always read, whatever its size.
 */
export const indexBytesAheadMax = 64 * 1024 * 1024;
/**
 * Bytes of an index file per blob, at least: a 45-byte blob record (pack records, the header and
 * the seal add more), so a file's size / 45 is an upper bound on the blobs it names.
 */
const indexBytesPerBlobMin = 45;

export type IndexFileRead = { file: StoredFile; sealed: Buffer } | { file: StoredFile; error: Error };

/** An upper bound on the blobs `files` name, from their sizes alone: what to reserve before loading. */
export function estimateIndexedBlobs(files: readonly StoredFile[]): number {
  let total = 0;
  for (const file of files) total += Math.floor(file.sizeBytes / indexBytesPerBlobMin);
  return total;
}

/**
 * Calls `consume` with each file's sealed bytes (or the error reading it), in the order of `files`,
 * one at a time; up to `indexFilesAheadMax` further files (and `indexBytesAheadMax` bytes) are
 * being read meanwhile. Resolves when
 * every file was consumed; if `consume` throws, the reads in flight settle first, then it rejects.
 * The bytes are the consumer's.
 */
export async function forEachIndexFile(backend: Backend, files: readonly StoredFile[], consume: (read: IndexFileRead) => void | Promise<void>): Promise<void> {
  const ahead: Promise<IndexFileRead>[] = [];
  let aheadBytes = 0;
  let next = 0;
  const start = (file: StoredFile): Promise<IndexFileRead> =>
    backend.load('index', file.name).then(
      (sealed) => ({ file, sealed }),
      (error: unknown) => ({ file, error: error instanceof Error ? error : new Error(String(error)) }),
    );
  try {
    while (next < files.length || ahead.length > 0) {
      while (next < files.length && ahead.length < indexFilesAheadMax + 1 && (ahead.length === 0 || aheadBytes + files[next]!.sizeBytes <= indexBytesAheadMax)) {
        aheadBytes += files[next]!.sizeBytes;
        ahead.push(start(files[next++]!));
      }
      const read = await ahead.shift()!;
      aheadBytes -= read.file.sizeBytes;
      await consume(read);
    }
  } finally {
    // Left early (the consumer threw): nothing stays pending.
    await Promise.allSettled(ahead);
  }
}
