/**
 * Walks file trees and yields each entry with its whole self: stat metadata, owner names,
 * xattrs, ACLs, the link target, hardlink references, the data map and the data.
 *
 * Order: a directory comes before its children; children in byte order of their names, so the
 * same tree always gives the same stream. Entry names start at the root's own name (exporting
 * "/srv/www" gives "www", "www/index.html"): the parent of a root is never part of a name.
 * With `absoluteNames` (backup), names are the whole absolute path without its leading "/"
 * ("srv/www/index.html"), each root's parent directories come first as entries of their own
 * (once, from lstat), roots are walked in path order, a root inside another is walked once as
 * part of it, and "/" itself may be a root (its children are the top entries).
 *
 * Lifetime: a file's handle is opened when its entry is made and closed when the walk moves on,
 * when the consumer leaves the loop, or when the data has been read, whichever is first.
 * Per-entry problems (an unreadable file) go to `onProblem` and the entry is left out.
 */
import { basename } from 'node:path';
import { displayPath, isAtOrBelow, joinPath, pathBytes, type FilePath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { emptyEntryHeader, type EntryHeader, type EntryType } from '../format/entry.js';
import type { FileStat } from '../io/backend.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { HandleKind } from '../io/handle-kind.js';
import type { Io } from '../io/io.js';
import { readOnce } from '../io/transfer.js';
import { readDataMap, readXattrMetadata, xattrMetadataFrom } from './entry-metadata.js';
import type { BatchedFile, FileBatches, ScannedDirectory, ScannedExtras } from './file-batches.js';
import type { OwnerNames } from './owner-names.js';
import type { SourceEntry } from './source-entry.js';

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
   * Name entries by their absolute path (see above); the roots must be absolute. `exclude` still
   * gets the name from the root's own name, so patterns mean what they meant; `unchanged` gets
   * the entry's absolute name.
   */
  absoluteNames?: boolean;
  /**
   * Stat a directory's names and read its small files many at a time (see file-batches.ts);
   * without it every call goes through `io` one at a time.
   */
  batches?: FileBatches;
}

const entryTypeByKind: Partial<Record<HandleKind, EntryType>> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  fifo: 'fifo',
  socket: 'socket',
  'char-device': 'character-device',
  'block-device': 'block-device',
};

interface WalkState {
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

export async function* walkTrees(io: Io, roots: readonly FilePath[], options: WalkOptions): AsyncGenerator<SourceEntry> {
  const hardlinks = new Map<string, Buffer>();
  const scans = new Map<string, Promise<ScannedDirectory | null>>();
  try {
    if (options.absoluteNames === true) yield* walkAbsolute(io, roots, options, hardlinks, scans);
    else yield* walkRelative(io, roots, options, hardlinks, scans);
  } finally {
    // Scans started ahead for directories the walk did not reach (it was left early): settled.
    await Promise.all(scans.values());
  }
}

async function* walkRelative(io: Io, roots: readonly FilePath[], options: WalkOptions, hardlinks: Map<string, Buffer>, scans: Map<string, Promise<ScannedDirectory | null>>): AsyncGenerator<SourceEntry> {
  for (const root of roots) {
    const rootBytes = stripTrailingSlashes(pathBytes(root));
    const name = Buffer.from(basename(rootBytes.toString('latin1')), 'latin1');
    if (name.length === 0 || name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) {
      throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'export', path: displayPath(root) }, 'give a path that names a file or directory (not "/", "." or "..")');
    }
    const rootStat = await io.lstat(rootBytes);
    yield* walkEntry({ io, options, hardlinks, rootDevice: rootStat.device, prefix: Buffer.alloc(0), aheadCount: 0, aheadBytes: 0, scans }, rootBytes, name, rootStat);
  }
}

/** The roots by absolute path: parents first (once), a root inside another left to it. */
async function* walkAbsolute(io: Io, roots: readonly FilePath[], options: WalkOptions, hardlinks: Map<string, Buffer>, scans: Map<string, Promise<ScannedDirectory | null>>): AsyncGenerator<SourceEntry> {
  const parentsDone = new Set<string>();
  for (const rootBytes of outermostRoots(roots)) {
    const slash = rootBytes.lastIndexOf(0x2f);
    const prefix = rootBytes.subarray(1, slash + 1);
    yield* parentEntries(io, prefix, options, parentsDone);
    const rootStat = await io.lstat(rootBytes);
    const state: WalkState = { io, options, hardlinks, rootDevice: rootStat.device, prefix, aheadCount: 0, aheadBytes: 0, scans };
    if (rootBytes.length === 1) yield* walkChildren(state, rootBytes, Buffer.alloc(0));
    else yield* walkEntry(state, rootBytes, rootBytes.subarray(slash + 1), rootStat);
  }
}

/**
 * Absolute, normalised roots ("/srv/www", or "/" alone), in the order a walk of "/" would meet
 * them (component by component, bytewise), without one at or below another.
 */
function outermostRoots(roots: readonly FilePath[]): Buffer[] {
  const normalised = roots.map((root) => {
    const bytes = pathBytes(root);
    const parts = bytes.toString('latin1').split('/').filter((part) => part !== '' && part !== '.');
    if (bytes[0] !== 0x2f || parts.includes('..')) {
      throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'backup', path: displayPath(root) }, 'a path to back up must be absolute, without ".." (resolve it first)');
    }
    return Buffer.from(`/${parts.join('/')}`, 'latin1');
  });
  // Compared with "/" as byte 0, paths sort as a walk meets them: "/a/b" before "/a-c", since
  // the walk takes the names "a" and "a-c" in byte order; "/" comes first.
  const key = (path: Buffer): Buffer => Buffer.from(path.map((byte) => (byte === 0x2f ? 0 : byte)));
  normalised.sort((left, right) => Buffer.compare(key(left), key(right)));
  const kept: Buffer[] = [];
  for (const root of normalised) {
    const outer = kept.at(-1);
    if (outer !== undefined && (outer.length === 1 || isAtOrBelow(root, outer))) continue;
    kept.push(root);
  }
  return kept;
}

/**
 * The directories above a root ("srv/" gives "srv"), each once over all roots, from lstat. One
 * that cannot be read stops the backup: without it, what is below could not be restored.
 */
async function* parentEntries(io: Io, prefix: Buffer, options: WalkOptions, done: Set<string>): AsyncGenerator<SourceEntry> {
  for (let end = prefix.indexOf(0x2f); end !== -1; end = prefix.indexOf(0x2f, end + 1)) {
    const name = prefix.subarray(0, end);
    const key = name.toString('latin1');
    if (done.has(key)) continue;
    done.add(key);
    const path = Buffer.concat([Buffer.from('/'), name]);
    const stat = await io.lstat(path);
    // The roots come with their links resolved (backup-command.ts, api/holdfast.ts): a link here
    // was put there since, and what is below it would be restored through a directory instead.
    if (stat.kind !== 'directory') throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'backup', path: displayPath(path) }, 'a directory above a path to back up is not a directory (give paths with their links resolved)');
    const header = headerFromStat(Buffer.from(name), 'directory', stat, options.ownerNames);
    Object.assign(header, await readXattrMetadata(io, path, path));
    yield { header, data: noData, identity: { device: stat.device, inode: stat.inode } };
  }
}

function stripTrailingSlashes(path: Buffer): Buffer {
  let end = path.length;
  while (end > 1 && path[end - 1] === 0x2f) end--;
  return path.subarray(0, end);
}

/**
 * An entry read ahead of its turn: metadata complete, a file's handle open. Reading ahead hides
 * the latency of the system calls behind one another (libuv runs four at once); at most
 * prefetchEntriesMax are held per directory level.
 */
interface Prepared {
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

async function* walkEntry(state: WalkState, path: Buffer, name: Buffer, knownStat: FileStat | null): AsyncGenerator<SourceEntry> {
  const prepared = await prepare(state, path, name, knownStat);
  if (prepared !== null) yield* emit(state, prepared);
}

/** Reads an entry's metadata (and opens a file); null when it could not be read (reported). */
async function prepare(state: WalkState, path: Buffer, name: Buffer, knownStat: FileStat | null): Promise<Prepared | null> {
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
async function readEntry(state: WalkState, path: Buffer, name: Buffer, stat: FileStat, judged: Judged): Promise<Prepared | null> {
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

interface Judged {
  header: EntryHeader;
  type: EntryType;
  /** A regular file the incremental backup knows has not changed: it is not opened. */
  unchanged: boolean;
}

/** What an entry will be, from its lstat: null when it is left out (excluded, or of no kind a stream carries). */
function judge(state: WalkState, name: Buffer, stat: FileStat, excluded: boolean): Judged | null {
  const type = entryTypeByKind[stat.kind];
  if (type === undefined || excluded) return null;
  const header = headerFromStat(state.prefix.length === 0 ? name : Buffer.concat([state.prefix, name]), type, stat, state.options.ownerNames);
  return { header, type, unchanged: type === 'file' && state.options.unchanged?.(header.path, stat) === true };
}

function replacedError(path: Buffer): Error {
  return holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'export', path: displayPath(path) }, 'the file was replaced while it was read');
}

/** Yields a prepared entry in its turn (hardlinks are decided here, in walk order), then its children. */
async function* emit(state: WalkState, prepared: Prepared): AsyncGenerator<SourceEntry> {
  const { header, stat, handle } = prepared;
  const identity = { device: stat.device, inode: stat.inode };
  try {
    if (header.type !== 'directory' && stat.linkCount > 1) {
      const key = `${stat.device}:${stat.inode}`;
      const first = state.hardlinks.get(key);
      if (first !== undefined) {
        Object.assign(header, { type: 'hardlink', sizeBytes: 0, linkTarget: first, xattrs: [], aclAccess: null, aclDefault: null, sparseMap: null });
        yield { header, data: noData, identity };
        return;
      }
      state.hardlinks.set(key, header.path);
    }
    if (handle !== null) {
      yield { header, data: () => readData(state.io, handle, header, state.options, displayPath(prepared.path)), identity };
      return;
    }
    const batched = prepared.batched;
    if (batched !== undefined) {
      yield { header, data: () => batchedData(batched, header, state.options, displayPath(prepared.path)), identity };
      return;
    }
    yield { header, data: noData, identity, unchanged: prepared.unchanged };
  } finally {
    await handle?.close();
  }
  if (header.type !== 'directory') return;
  if (state.options.oneFileSystem === true && stat.device !== state.rootDevice) return;
  yield* walkChildren(state, prepared.path, prepared.name);
}

async function* walkChildren(state: WalkState, path: Buffer, name: Buffer): AsyncGenerator<SourceEntry> {
  const batches = state.options.batches;
  const scanned = batches === undefined ? null : await takeScan(state, batches, path);
  let names: Buffer[];
  try {
    // A scan that failed is asked again through io, which names the error.
    names = scanned?.names ?? (await state.io.readDirectory(path));
  } catch (error) {
    state.options.onProblem(displayPath(path), error as Error);
    return;
  }
  if (scanned === null) names.sort(Buffer.compare);
  if (batches !== undefined) {
    yield* walkChildrenInBatches(state, batches, path, name, names, scanned);
    return;
  }
  const ahead: Promise<Prepared | null>[] = [];
  let next = 0;
  const readAhead = (): void => {
    while (next < names.length && (ahead.length === 0 || (ahead.length < prefetchEntriesMax && state.aheadCount < prefetchEntriesTotalMax))) {
      const child = names[next++]!;
      state.aheadCount++;
      ahead.push(prepare(state, joinPath(path, child), joinPath(name, child), null));
    }
  };
  try {
    readAhead();
    while (ahead.length > 0) {
      const prepared = await ahead.shift()!;
      state.aheadCount--;
      readAhead();
      if (prepared !== null) yield* emit(state, prepared);
    }
  } finally {
    // Left early (the consumer stopped, or an error): close what was read ahead.
    for (const pending of ahead.splice(0)) {
      state.aheadCount--;
      await (await pending)?.handle?.close();
    }
  }
}

/** Names whose lstat one batch asks for. */
const lstatBatchNames = 512;
/** Files one read batch takes, and the bytes it may read over all of them. */
const readBatchFiles = 32;
const readBatchBytes = 1024 * 1024;
/** Entries of one directory prepared ahead of their turn when reading in batches (refilled at half). */
export const batchedAheadMax = 128;
/** Bytes of batched files read ahead over all levels of a deep tree. */
const batchedAheadBytesMax = 16 * 1024 * 1024;

/** One entry read ahead in a batched walk; `counted` entries (not from a read batch) count in aheadCount. */
interface Ahead {
  prepared: Promise<Prepared | null>;
  counted: boolean;
  bytes: number;
}

/**
 * walkChildren with FileBatches: the names' lstat in batches, then each small regular file that
 * is neither excluded nor unchanged read whole in a batch; the rest (directories, links, large
 * files, anything a batch sent back) the call-by-call way. Entries come out in name order.
 */
async function* walkChildrenInBatches(state: WalkState, batches: FileBatches, path: Buffer, name: Buffer, names: readonly Buffer[], scanned: ScannedDirectory | null): AsyncGenerator<SourceEntry> {
  const stats = new Map<number, Promise<(FileStat | Error)[]>>();
  const statSlice = (slice: number): Promise<(FileStat | Error)[]> => {
    let pending = stats.get(slice);
    if (pending === undefined && scanned?.stats != null) {
      pending = Promise.resolve(scanned.stats.slice(slice * lstatBatchNames, (slice + 1) * lstatBatchNames));
      stats.set(slice, pending);
    }
    if (pending === undefined) {
      const sliceNames = names.slice(slice * lstatBatchNames, (slice + 1) * lstatBatchNames);
      // A batch that fails as a whole (a worker lost) is not the entries' fault: ask one by one.
      pending = batches.lstat(path, sliceNames).catch(() => Promise.all(sliceNames.map((child) => state.io.lstat(joinPath(path, child)).catch((error: unknown) => error as Error))));
      stats.set(slice, pending);
    }
    return pending;
  };
  const ahead: Ahead[] = [];
  let next = 0;
  const fill = async (): Promise<void> => {
    let batch: ToRead[] = [];
    let batchBytes = 0;
    const startBatch = (): void => {
      if (batch.length === 0) return;
      const reads = batch;
      const job = batches.read(reads.map(({ path: readPath, stat }) => ({ path: readPath, stat }))).catch(() => null);
      for (const [index, read] of reads.entries()) ahead.push({ prepared: job.then((outcomes) => fromBatch(state, read, outcomes?.[index] ?? { kind: 'elsewhere' })), counted: false, bytes: read.stat.sizeBytes });
      batch = [];
      batchBytes = 0;
    };
    while (next < names.length && (ahead.length + batch.length === 0 || (ahead.length + batch.length < batchedAheadMax && state.aheadBytes < batchedAheadBytesMax && state.aheadCount < prefetchEntriesTotalMax))) {
      const index = next++;
      const slice = Math.floor(index / lstatBatchNames);
      if ((slice + 1) * lstatBatchNames < names.length) void statSlice(slice + 1);
      const stat = (await statSlice(slice))[index % lstatBatchNames]!;
      if (index % lstatBatchNames === lstatBatchNames - 1) stats.delete(slice);
      const childPath = joinPath(path, names[index]!);
      const childName = joinPath(name, names[index]!);
      if (stat instanceof Error) {
        state.options.onProblem(displayPath(childPath), stat);
        continue;
      }
      const verdict = state.options.exclude?.(childName, stat, childPath);
      const judged = judge(state, childName, stat, verdict === true || (typeof verdict === 'object' && (await verdict)));
      if (judged === null) continue;
      if (judged.type === 'file' && !judged.unchanged && stat.sizeBytes <= batches.fileBytesMax) {
        if (batch.length === readBatchFiles || batchBytes + stat.sizeBytes > readBatchBytes) startBatch();
        batch.push({ path: childPath, name: childName, header: judged.header, stat });
        batchBytes += stat.sizeBytes;
        state.aheadBytes += stat.sizeBytes;
        continue;
      }
      startBatch();
      // A file read the call-by-call way holds its handle until its turn: those are counted.
      const counted = judged.type === 'file' && !judged.unchanged;
      if (counted) state.aheadCount++;
      const extras = scanned?.extras?.[index] ?? null;
      const known = extras !== null && (judged.type !== 'symlink' || extras.linkTarget !== null);
      ahead.push({ prepared: known ? Promise.resolve(fromScan(state, childPath, childName, stat, judged, extras)) : readEntry(state, childPath, childName, stat, judged), counted, bytes: 0 });
      if (judged.type === 'directory' && (state.options.oneFileSystem !== true || stat.device === state.rootDevice)) prefetchScan(state, batches, childPath);
    }
    startBatch();
  };
  try {
    while (next < names.length || ahead.length > 0) {
      if (ahead.length <= batchedAheadMax / 2 && next < names.length) await fill();
      const first = ahead.shift();
      if (first === undefined) continue;
      const prepared = await first.prepared;
      if (first.counted) state.aheadCount--;
      state.aheadBytes -= first.bytes;
      if (prepared !== null) yield* emit(state, prepared);
    }
  } finally {
    // Left early (the consumer stopped, or an error): close what was read ahead.
    for (const left of ahead.splice(0)) {
      if (left.counted) state.aheadCount--;
      state.aheadBytes -= left.bytes;
      await (await left.prepared)?.handle?.close();
    }
    await Promise.all(stats.values());
  }
}

/** Directory scans started ahead of the walk (a directory's subdirectories, as they are met). */
const scansAheadMax = 8;

function prefetchScan(state: WalkState, batches: FileBatches, path: Buffer): void {
  if (state.scans.size >= scansAheadMax) return;
  const key = path.toString('latin1');
  if (!state.scans.has(key)) state.scans.set(key, scanOrNull(batches, path));
}

/** The scan of `path`: the one started ahead, or a new one; null when it failed (io then asks again). */
function takeScan(state: WalkState, batches: FileBatches, path: Buffer): Promise<ScannedDirectory | null> {
  const key = path.toString('latin1');
  const started = state.scans.get(key);
  state.scans.delete(key);
  return started ?? scanOrNull(batches, path);
}

function scanOrNull(batches: FileBatches, path: Buffer): Promise<ScannedDirectory | null> {
  return batches.scan(path).catch(() => null);
}

/** A directory's or symlink's entry from what its scan read with its lstat; null when that is unusable (reported). */
function fromScan(state: WalkState, path: Buffer, name: Buffer, stat: FileStat, judged: Judged, extras: ScannedExtras): Prepared | null {
  const { header } = judged;
  if (judged.type === 'symlink') header.linkTarget = extras.linkTarget;
  try {
    Object.assign(header, xattrMetadataFrom(extras.xattrs, path));
  } catch (error) {
    state.options.onProblem(displayPath(path), error as Error);
    return null;
  }
  return { path, name, header, stat, handle: null, unchanged: false };
}

interface ToRead {
  path: Buffer;
  name: Buffer;
  header: EntryHeader;
  stat: FileStat;
}

/** What a read batch made of a file: its entry, null when it failed (reported), or prepare()'s. */
async function fromBatch(state: WalkState, read: ToRead, outcome: BatchedFile): Promise<Prepared | null> {
  const { path, name, header, stat } = read;
  try {
    switch (outcome.kind) {
      case 'read':
        Object.assign(header, xattrMetadataFrom(outcome.xattrs, path));
        return { path, name, header, stat, handle: null, unchanged: false, batched: { data: outcome.data, after: outcome.after } };
      case 'failed':
        throw outcome.error;
      case 'replaced':
        throw replacedError(path);
      case 'elsewhere':
        return await prepare(state, path, name, null);
    }
  } catch (error) {
    state.options.onProblem(displayPath(path), error as Error);
    return null;
  }
}

/** A batched file's bytes, then a word if it changed while it was read. */
// eslint-disable-next-line @typescript-eslint/require-await -- the bytes are in memory, yet data() is an async iterable
async function* batchedData(batched: { data: Buffer; after: FileStat }, header: EntryHeader, options: WalkOptions, shownPath: string): AsyncGenerator<Buffer> {
  if (batched.data.length > 0) yield batched.data;
  reportChangeSince(batched.after, header, options, shownPath);
}

/**
 * The bytes of each data extent in order. A file that shrank while read is padded with zeros to
 * the size its header already promised (as GNU tar does), and reported.
 */
async function* readData(io: Io, handle: Handle<'file'>, header: EntryHeader, options: WalkOptions, shownPath: string): AsyncGenerator<Buffer> {
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

function reportChangeSince(after: FileStat, header: EntryHeader, options: WalkOptions, shownPath: string): void {
  if (after.sizeBytes !== header.sizeBytes || after.mtimeNs !== header.mtimeNs || after.ctimeNs !== header.ctimeNs) {
    options.onProblem(shownPath, holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'read', path: shownPath }, 'the file changed while it was read; what was stored may mix old and new bytes'));
  }
}

async function* noData(): AsyncGenerator<Buffer> {}

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
