/**
 * dump: one path of a snapshot written to a handle (stdout), as restic's dump. A regular file is
 * written as its bytes (holes as zeros, so the output is the file's content); a directory, or
 * the whole snapshot, as a pax tar of what is at and below it, named from the path's last
 * component (dumping "home/ann/docs" gives "docs", "docs/a.txt", ...), as restore names a
 * sub-path. Both stream: the tree is read blob by blob and each file's chunks are loaded a few
 * ahead of the writer, so memory does not grow with the snapshot.
 */
import { displayPath, isAtOrBelow } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { EntryHeader } from '../format/entry.js';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { TreeEntry } from '../format/repo/tree-codec.js';
import type { BufferPool } from '../io/buffer-pool.js';
import { BufferedWriter } from '../io/buffered-writer.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import type { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';
import type { SourceEntry } from '../source/source-entry.js';
import { encodeTar } from '../streams/tar-encoder.js';

/** Chunks of one file loaded ahead of the writer. */
const chunksAheadMax = 4;
const zeroBytes = Buffer.alloc(1024 * 1024);

export interface DumpOptions {
  /** One lease is held for the output. */
  pool: BufferPool;
  /** False when the output is a terminal: a tar is refused (HOLDFAST_USAGE) before anything is written. */
  tarAllowed: boolean;
  /** An entry tar cannot carry (a socket), left out. */
  onSkip: (path: string, reason: string) => void;
}

export interface DumpSummary {
  /** 'file' when one regular file's bytes were written, else 'tar'. */
  format: 'file' | 'tar';
  entries: number;
  outputBytes: number;
}

/**
 * Writes `subPath` of the snapshot (null: all of it) to `output` and closes it, also when it
 * fails. HOLDFAST_MISSING when no entry has that path.
 */
export async function dumpSnapshot(io: Io, repository: Repository, snapshot: Snapshot, subPath: Buffer | null, output: Handle, options: DumpOptions): Promise<DumpSummary> {
  const entries = snapshotEntries(repository, snapshot)[Symbol.asyncIterator]();
  let writer: BufferedWriter | null = null;
  try {
    let first = await entries.next();
    while (first.done !== true && !isAtOrBelow(first.value.header.path, subPath)) first = await entries.next();
    const context = { operation: 'dump', path: subPath === null ? '/' : displayPath(subPath) };
    if (first.done === true) throw holdfastError('HOLDFAST_MISSING', context, 'the snapshot has no entry of that name');
    const isFile = subPath !== null && first.value.header.type === 'file' && first.value.header.path.equals(subPath);
    if (!isFile && !options.tarAllowed) throw holdfastError('HOLDFAST_USAGE', context, 'refusing to write a tar to a terminal; use -o FILE or a pipe');
    writer = new BufferedWriter(io, output, await options.pool.acquire());
    if (isFile) {
      await entries.return?.(undefined);
      return { format: 'file', entries: 1, outputBytes: await writeFileBytes(repository, first.value, writer) };
    }
    const summary: DumpSummary = { format: 'tar', entries: 0, outputBytes: 0 };
    const cut = subPath === null ? 0 : subPath.lastIndexOf(0x2f) + 1;
    const selected = selectedEntries(repository, first.value, entries, subPath, cut, summary);
    const onSkip = (header: { path: Buffer }, reason: string): void => options.onSkip(displayPath(header.path), reason);
    for await (const piece of encodeTar(selected, { onSkip })) {
      await writer.write(piece);
      summary.outputBytes += piece.length;
    }
    return summary;
  } finally {
    // Whatever happened, the tree reads in flight settle and the output is closed once.
    await entries.return?.(undefined);
    if (writer !== null) await writer.close();
    else await output.close();
  }
}

/** The entries at and below subPath, renamed by cutting `cut` leading bytes, as tar's source. */
async function* selectedEntries(repository: Repository, first: TreeEntry, rest: AsyncIterator<TreeEntry>, subPath: Buffer | null, cut: number, summary: DumpSummary): AsyncGenerator<SourceEntry> {
  let next: IteratorResult<TreeEntry> = { done: false, value: first };
  try {
    for (; next.done !== true; next = await rest.next()) {
      const entry = next.value;
      if (!isAtOrBelow(entry.header.path, subPath)) continue;
      summary.entries++;
      yield { header: renamed(entry.header, cut), data: () => chunkData(repository, entry) };
    }
  } finally {
    await rest.return?.(undefined);
  }
}

function renamed(header: EntryHeader, cut: number): EntryHeader {
  if (cut === 0) return header;
  const linkTarget = header.type === 'hardlink' && header.linkTarget !== null ? header.linkTarget.subarray(cut) : header.linkTarget;
  return { ...header, path: header.path.subarray(cut), linkTarget };
}

/** A file's stored data (its extents' bytes, in order), loading chunksAheadMax chunks ahead. */
async function* chunkData(repository: Repository, entry: TreeEntry): AsyncGenerator<Buffer> {
  const ahead: Promise<Buffer>[] = [];
  let next = 0;
  try {
    while (next < entry.chunks.length || ahead.length > 0) {
      while (next < entry.chunks.length && ahead.length < chunksAheadMax) {
        const loading = repository.loadBlob(entry.chunks[next++]!.id);
        loading.catch(() => undefined);
        ahead.push(loading);
      }
      yield await ahead.shift()!;
    }
  } finally {
    // Left early or failed: nothing is left running.
    await Promise.allSettled(ahead);
  }
}

/** A regular file's content: its extents' bytes with the holes between them written as zeros. */
async function writeFileBytes(repository: Repository, entry: TreeEntry, writer: BufferedWriter): Promise<number> {
  const extents = entry.header.sparseMap ?? [{ offsetBytes: 0, lengthBytes: entry.header.sizeBytes }];
  let position = 0;
  let extentIndex = 0;
  let extentLeft = extents[0]?.lengthBytes ?? 0;
  const zeros = async (untilBytes: number): Promise<void> => {
    while (position < untilBytes) {
      const count = Math.min(zeroBytes.length, untilBytes - position);
      await writer.write(zeroBytes.subarray(0, count));
      position += count;
    }
  };
  for await (let piece of chunkData(repository, entry)) {
    while (piece.length > 0) {
      while (extentLeft === 0 && extentIndex < extents.length - 1) extentLeft = extents[++extentIndex]!.lengthBytes;
      const extent = extents[extentIndex];
      if (extent === undefined || extentLeft === 0) throw holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'dump', path: displayPath(entry.header.path) }, 'the file has more data than its map holds');
      await zeros(extent.offsetBytes + extent.lengthBytes - extentLeft);
      const count = Math.min(piece.length, extentLeft);
      await writer.write(piece.subarray(0, count));
      position += count;
      extentLeft -= count;
      piece = piece.subarray(count);
    }
  }
  await zeros(entry.header.sizeBytes);
  return position;
}
