/**
 * The walker's entries one at a time: an entry judged from its lstat (left out, unchanged, or
 * what it will be), the rest of its metadata read through Io, a file opened, and its data read
 * extent by extent (tree-walker.ts walks, batched-walk.ts reads many at once).
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { emptyEntryHeader, type EntryHeader, type EntryType } from '../format/entry.js';
import type { FileStat } from '../io/backend.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { HandleKind } from '../io/handle-kind.js';
import type { Io } from '../io/io.js';
import { readOnce } from '../io/transfer.js';
import { readDataMap, readXattrMetadata } from './entry-metadata.js';
import type { FileBatches, ScannedDirectory } from './file-batches.js';
import type { OwnerNames } from './owner-names.js';

export interface WalkOptions {
  ownerNames: OwnerNames;
  /** Buffers for file data; one lease is held while a file's data is read. */
  pool: BufferPool;
  /** Do not descend into directories on another file system than their root. */
  oneFileSystem?: boolean;
  /** An entry that could not be read (it is left out), or a file that changed while read. */
  onProblem: (path: string, error: Error) => void;
  /**
   * Leaves an entry out (and, for a directory, everything below it) without a word. `name` is
   * the entry's name (from the root's own name down), `path` where it is on the file system.
   */
  exclude?: (name: Buffer, stat: FileStat, path: Buffer) => boolean | Promise<boolean>;
  /**
   * True when a regular file is known not to have changed (an incremental backup compares its
   * device, inode, size, mtime and ctime with the last snapshot). Such a file is not opened: its
   * entry carries only what lstat gives, `unchanged: true`, and no data.
   */
  unchanged?: (name: Buffer, stat: FileStat) => boolean;
  /**
   * Name entries by their absolute path (see tree-walker.ts); the roots must be absolute.
   * `exclude` still gets the name from the root's own name, so patterns mean what they meant;
   * `unchanged` gets the entry's absolute name.
   */
  absoluteNames?: boolean;
  /**
   * Scan directories and read small files many at a time (see file-batches.ts, batched-walk.ts);
   * without it every call goes through `io` one at a time.
   */
  batches?: FileBatches;
}

export const entryTypeByKind: Partial<Record<HandleKind, EntryType>> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  fifo: 'fifo',
  socket: 'socket',
  'char-device': 'character-device',
  'block-device': 'block-device',
};

export interface WalkState {
  io: Io;
  options: WalkOptions;
  /** "device:inode" of files with several names -> the entry name of the first one seen. */
  hardlinks: Map<string, Buffer>;
  rootDevice: bigint;
  /** Put before every entry name from the root's own name: the root's parent ("srv/"), or empty. */
  prefix: Buffer;
  /** Entries read ahead and not yet emitted, over all directory levels (not counting read batches). */
  aheadCount: number;
  /** Bytes of files read in batches and not yet emitted, over all directory levels. */
  aheadBytes: number;
  /** Directory scans started ahead, by path (latin1), not yet taken by the walk. */
  scans: Map<string, Promise<ScannedDirectory | null>>;
}

/**
 * An entry read ahead of its turn: metadata complete, a file's handle open. Reading ahead hides
 * the latency of the system calls behind one another (libuv runs four at once); at most
 * prefetchEntriesMax are held per directory level.
 */
export interface Prepared {
  path: Buffer;
  /** From the root's own name (what `exclude` sees); the header's path has the prefix before it. */
  name: Buffer;
  header: EntryHeader;
  stat: FileStat;
  handle: Handle<'file'> | null;
  unchanged: boolean;
  /** A small file read in a batch: its bytes, and the fstat taken after them. */
  batched?: { data: Buffer; after: FileStat };
}

/** Entries read ahead per directory: enough to keep the thread pool busy, few handles open. */
export const prefetchEntriesMax = 16;
/** Entries read ahead over all levels of a deep tree: bounds the handles held open. */
export const prefetchEntriesTotalMax = 64;

/** Reads an entry's metadata (and opens a file); null when it could not be read (reported). */
export async function prepare(state: WalkState, path: Buffer, name: Buffer, knownStat: FileStat | null): Promise<Prepared | null> {
  const { io, options } = state;
  try {
    const stat = knownStat ?? (await io.lstat(path));
    // Awaited only when it is a promise: most entries ask a rule that answers at once.
    const verdict = options.exclude?.(name, stat, path);
    const judged = judge(state, name, stat, verdict === true || (typeof verdict === 'object' && (await verdict)));
    return judged === null ? null : await readEntry(state, path, name, stat, judged);
  } catch (error) {
    options.onProblem(displayPath(path), error as Error);
    return null;
  }
}

/** The I/O half of prepare(): the rest of an entry's metadata, and a file opened. */
export async function readEntry(state: WalkState, path: Buffer, name: Buffer, stat: FileStat, judged: Judged): Promise<Prepared | null> {
  const { io, options } = state;
  const { header, type } = judged;
  if (judged.unchanged) return { path, name, header, stat, handle: null, unchanged: true };
  let handle: Handle<'file'> | null = null;
  try {
    if (type === 'file') {
      handle = await io.openFile(path, { noFollow: true });
      const opened = handle.openedStat ?? (await io.stat(handle));
      if (opened.inode !== stat.inode || opened.device !== stat.device) throw replacedError(path);
      Object.assign(header, await readXattrMetadata(io, handle, path));
      header.sparseMap = await readDataMap(io, handle, header.sizeBytes, stat.blocks * 512);
    } else {
      if (type === 'symlink') header.linkTarget = await io.readLink(path);
      Object.assign(header, await readXattrMetadata(io, path, path));
    }
    return { path, name, header, stat, handle, unchanged: false };
  } catch (error) {
    await handle?.close();
    options.onProblem(displayPath(path), error as Error);
    return null;
  }
}

export interface Judged {
  header: EntryHeader;
  type: EntryType;
  /** A regular file the incremental backup knows has not changed: it is not opened. */
  unchanged: boolean;
}

/** What an entry will be, from its lstat: null when it is left out (excluded, or of no kind a stream carries). */
export function judge(state: WalkState, name: Buffer, stat: FileStat, excluded: boolean): Judged | null {
  const type = entryTypeByKind[stat.kind];
  if (type === undefined || excluded) return null;
  const header = headerFromStat(state.prefix.length === 0 ? name : Buffer.concat([state.prefix, name]), type, stat, state.options.ownerNames);
  return { header, type, unchanged: type === 'file' && state.options.unchanged?.(header.path, stat) === true };
}

export function replacedError(path: Buffer): Error {
  return holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'export', path: displayPath(path) }, 'the file was replaced while it was read');
}

/** A batched file's bytes, then a word if it changed while it was read. */
// eslint-disable-next-line @typescript-eslint/require-await -- the bytes are in memory, yet data() is an async iterable
export async function* batchedData(batched: { data: Buffer; after: FileStat }, header: EntryHeader, options: WalkOptions, shownPath: string): AsyncGenerator<Buffer> {
  if (batched.data.length > 0) yield batched.data;
  reportChangeSince(batched.after, header, options, shownPath);
}

/**
 * The bytes of each data extent in order. A file that shrank while read is padded with zeros to
 * the size its header already promised (as GNU tar does), and reported.
 */
export async function* readData(io: Io, handle: Handle<'file'>, header: EntryHeader, options: WalkOptions, shownPath: string): AsyncGenerator<Buffer> {
  const extents = header.sparseMap ?? [{ offsetBytes: 0, lengthBytes: header.sizeBytes }];
  const lease = await options.pool.acquire();
  try {
    let shrank = false;
    for (const extent of extents) {
      let position = extent.offsetBytes;
      const end = extent.offsetBytes + extent.lengthBytes;
      while (position < end) {
        const lengthBytes = Math.min(end - position, lease.sizeBytes);
        let count = shrank ? 0 : await readOnce(io, handle, lease, { position, lengthBytes });
        if (count === 0) {
          if (!shrank) options.onProblem(shownPath, holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'export', path: shownPath }, `the file shrank while it was read; padded with zeros from byte ${position}`));
          shrank = true;
          lease.bytes.fill(0, 0, lengthBytes);
          count = lengthBytes;
        }
        position += count;
        yield lease.bytes.subarray(0, count);
      }
    }
    if (!shrank) await reportChange(io, handle, header, options, shownPath);
  } finally {
    await handle.close();
    lease.release();
  }
}

/** A file written while it was read may hold a mix of old and new bytes: say so. */
async function reportChange(io: Io, handle: Handle<'file'>, header: EntryHeader, options: WalkOptions, shownPath: string): Promise<void> {
  reportChangeSince(await io.stat(handle), header, options, shownPath);
}

export function reportChangeSince(after: FileStat, header: EntryHeader, options: WalkOptions, shownPath: string): void {
  if (after.sizeBytes !== header.sizeBytes || after.mtimeNs !== header.mtimeNs || after.ctimeNs !== header.ctimeNs) {
    options.onProblem(shownPath, holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'read', path: shownPath }, 'the file changed while it was read; what was stored may mix old and new bytes'));
  }
}

export async function* noData(): AsyncGenerator<Buffer> {}

export function headerFromStat(name: Buffer, type: EntryType, stat: FileStat, ownerNames: OwnerNames): EntryHeader {
  const header = emptyEntryHeader(name, type);
  header.mode = stat.mode;
  header.uid = stat.uid;
  header.gid = stat.gid;
  header.userName = ownerNames.userName(stat.uid);
  header.groupName = ownerNames.groupName(stat.gid);
  header.atimeNs = stat.atimeNs;
  header.mtimeNs = stat.mtimeNs;
  header.ctimeNs = stat.ctimeNs;
  header.sizeBytes = type === 'file' ? stat.sizeBytes : 0;
  if (type === 'character-device' || type === 'block-device') {
    header.deviceMajor = stat.deviceMajor;
    header.deviceMinor = stat.deviceMinor;
  }
  return header;
}
