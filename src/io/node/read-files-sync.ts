/**
 * Many small files read in one go, with blocking calls, on a worker thread of the pool.
 *
 * A backup of a source tree or a home directory pays per file, not per byte: made one at a time
 * through libuv's thread pool, each of a file's ten or so system calls is a round trip to the
 * event loop (bench/README.md, issue 17), while the calls themselves take microseconds. Here a
 * worker makes them one after another for a whole batch, and the main thread pays one round trip
 * for the batch. The simulator has no such path: the walker keeps its call-by-call path through
 * Io, and uses it wherever it is not given these batches.
 *
 * Every descriptor is opened and closed inside readFilesSync(), on the one thread, so no other
 * operation can reach it, nor a recycled number (rule H1); an exception closes it too.
 *
 * Paths travel as one buffer of NUL-separated names (a name holds no NUL): one clone for the
 * batch, not one per name. Results are plain values that structured clone carries: errno
 * numbers, not Error objects; the data of all files in one ArrayBuffer, moved, not copied.
 */
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { FileStat } from '../file-stat.js';
import { onWorkerThread, xattrBytesMax } from './libc.js';
import { fileStat } from './node-stat.js';

/** The lstat of a name, or the errno that refused it. */
export type LstatOutcome = { stat: FileStat } | { errno: number };

/** A regular file to read whole: where it is, and what its lstat said. */
export interface FileToRead {
  device: bigint;
  inode: bigint;
  sizeBytes: number;
}

export type FileReadOutcome =
  /** Read whole: its xattrs, where its bytes are in the batch's data, and an fstat taken after. */
  | { kind: 'read'; xattrs: { name: string; value: Uint8Array }[]; offsetBytes: number; after: FileStat }
  /** A system call failed: the file is left out, and reported. */
  | { kind: 'failed'; errno: number; syscall: string }
  /** What is at the path is no longer the file that lstat saw. */
  | { kind: 'replaced' }
  /** Not read here (it has holes, or its size moved since lstat): read it the call-by-call way. */
  | { kind: 'elsewhere' };

export interface FileBatchRead {
  outcomes: FileReadOutcome[];
  /** The data of every file read, one after another, each at its outcome's offsetBytes. */
  data: ArrayBuffer;
}

/** One buffer of NUL-separated byte strings, in a buffer of its own (never a view of Node's pool). */
export function joinNames(names: readonly Uint8Array[]): Uint8Array {
  let totalBytes = 0;
  for (const name of names) totalBytes += name.length + 1;
  const joined = new Uint8Array(totalBytes);
  let offset = 0;
  for (const name of names) {
    joined.set(name, offset);
    offset += name.length + 1;
  }
  return joined;
}

export function splitNames(joined: Uint8Array): Buffer[] {
  const bytes = Buffer.from(joined.buffer, joined.byteOffset, joined.length);
  const names: Buffer[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0, start);
    names.push(bytes.subarray(start, end));
    start = end + 1;
  }
  return names;
}

/** lstat of each name in a directory, in order. */
export function lstatNamesSync(directory: Uint8Array, joinedNames: Uint8Array): LstatOutcome[] {
  const prefix = directoryPrefix(directory);
  return splitNames(joinedNames).map((name) => lstatOne(Buffer.concat([prefix, name])));
}

/** A directory's entries in byte order of their names, with what a walk asks of each. */
export interface ScannedDirectory {
  /** NUL-separated, sorted bytewise. */
  names: Uint8Array;
  count: number;
  /** Each name's lstat, or null when the directory has more than the caller's statsMax names. */
  outcomes: LstatOutcome[] | null;
  /**
   * For a directory or a symlink among them: its xattrs and a symlink's target; null for other
   * kinds, and where a call failed (the caller asks again, call by call, and reports).
   */
  extras: (EntryExtras | null)[] | null;
}

export interface EntryExtras {
  xattrs: { name: string; value: Uint8Array }[];
  linkTarget: Uint8Array | null;
}

/** readdir, then lstat of each name (up to statsMax), then the xattrs of directories and symlinks. */
export function scanDirectorySync(directory: Uint8Array, statsMax: number): ScannedDirectory {
  const names = fs.readdirSync(Buffer.from(directory), { encoding: 'buffer' }).sort(Buffer.compare);
  if (names.length > statsMax) return { names: joinNames(names), count: names.length, outcomes: null, extras: null };
  const prefix = directoryPrefix(directory);
  const scratch = Buffer.allocUnsafe(xattrBytesMax);
  const outcomes: LstatOutcome[] = [];
  const extras: (EntryExtras | null)[] = [];
  for (const name of names) {
    const path = Buffer.concat([prefix, name]);
    const outcome = lstatOne(path);
    outcomes.push(outcome);
    const kind = 'stat' in outcome ? outcome.stat.kind : null;
    extras.push(kind === 'directory' || kind === 'symlink' ? entryExtras(path, kind === 'symlink', scratch) : null);
  }
  return { names: joinNames(names), count: names.length, outcomes, extras };
}

function entryExtras(path: Buffer, symlink: boolean, scratch: Buffer): EntryExtras | null {
  try {
    return { xattrs: readXattrs(path, scratch), linkTarget: symlink ? new Uint8Array(fs.readlinkSync(path, { encoding: 'buffer' })) : null };
  } catch {
    return null;
  }
}

function directoryPrefix(directory: Uint8Array): Buffer {
  return directory.at(-1) === 0x2f ? Buffer.from(directory) : Buffer.concat([Buffer.from(directory), Buffer.from('/')]);
}

function lstatOne(path: Buffer): LstatOutcome {
  try {
    return { stat: fileStat(fs.lstatSync(path, { bigint: true }), false) };
  } catch (error) {
    return { errno: errnoOf(error) };
  }
}

const errno = osConstants.errno;
/** O_NONBLOCK: if a FIFO was put where the file was, the open must not wait for a writer. */
const openFlags = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** Reads each file whole (`paths` joined as joinNames() does), or says why it did not. */
export function readFilesSync(joinedPaths: Uint8Array, files: readonly FileToRead[]): FileBatchRead {
  const paths = splitNames(joinedPaths);
  let totalBytes = 0;
  for (const file of files) totalBytes += file.sizeBytes;
  const data = new ArrayBuffer(totalBytes);
  const scratch = Buffer.allocUnsafe(xattrBytesMax);
  let offsetBytes = 0;
  const outcomes = files.map((file, index): FileReadOutcome => {
    const outcome = readOne(paths[index]!, file, new Uint8Array(data, offsetBytes, file.sizeBytes), scratch);
    if (outcome.kind === 'read') outcome.offsetBytes = offsetBytes;
    offsetBytes += file.sizeBytes;
    return outcome;
  });
  return { outcomes, data };
}

function readOne(path: Buffer, file: FileToRead, into: Uint8Array, scratch: Buffer): FileReadOutcome {
  let fd: number;
  try {
    fd = fs.openSync(path, openFlags);
  } catch (error) {
    return { kind: 'failed', errno: errnoOf(error), syscall: 'open' };
  }
  let syscall = 'fstat';
  try {
    const opened = fs.fstatSync(fd, { bigint: true });
    if (!opened.isFile() || opened.dev !== file.device || opened.ino !== file.inode) return { kind: 'replaced' };
    if (Number(opened.size) !== file.sizeBytes || Number(opened.blocks) * 512 < file.sizeBytes) return { kind: 'elsewhere' };
    syscall = 'listxattr';
    const xattrs = readXattrs(fd, scratch);
    syscall = 'read';
    let doneBytes = 0;
    while (doneBytes < into.length) {
      const count = fs.readSync(fd, into, doneBytes, into.length - doneBytes, doneBytes);
      if (count === 0) return { kind: 'elsewhere' };
      doneBytes += count;
    }
    syscall = 'fstat';
    return { kind: 'read', xattrs, offsetBytes: 0, after: fileStat(fs.fstatSync(fd, { bigint: true }), false) };
  } catch (error) {
    const failure = error as { errno?: unknown; syscall?: unknown };
    return { kind: 'failed', errno: errnoOf(error), syscall: typeof failure.syscall === 'string' ? failure.syscall : syscall };
  } finally {
    fs.closeSync(fd);
  }
}

/** Every xattr of a descriptor, or of a path (a final symlink's own), by name; none where the file system has none. */
function readXattrs(fd: number | Buffer, scratch: Buffer): { name: string; value: Uint8Array }[] {
  const list = onWorkerThread.listXattrs(fd, scratch);
  if (list.result < 0) {
    if (list.errno === errno.ENOTSUP) return [];
    throw Object.assign(new Error('listxattr failed'), { errno: list.errno, syscall: 'listxattr' });
  }
  if (list.result === 0) return [];
  const names = scratch.subarray(0, list.result).toString('latin1').split('\0').filter((name) => name !== '').map((name) => Buffer.from(name, 'latin1').toString());
  const xattrs: { name: string; value: Uint8Array }[] = [];
  for (const name of names) {
    const value = onWorkerThread.getXattr(fd, name, scratch);
    if (value.result < 0) {
      // Removed between the list and the get: left out, as the call-by-call path does.
      if (value.errno === errno.ENODATA) continue;
      throw Object.assign(new Error('getxattr failed'), { errno: value.errno, syscall: 'getxattr' });
    }
    xattrs.push({ name, value: Uint8Array.prototype.slice.call(scratch, 0, value.result) });
  }
  return xattrs;
}

function errnoOf(error: unknown): number {
  const value = (error as { errno?: unknown }).errno;
  return typeof value === 'number' ? Math.abs(value) : errno.EIO;
}
