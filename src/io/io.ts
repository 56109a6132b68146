/**
 * Io: the interface that production code is written against. createNodeIo() runs it on the real
 * machine; the simulator (io/sim) runs the same IoCore on a seeded in-memory backend.
 *
 * Reads and writes take a Lease and return an Operation whose result gives the lease back
 * (rule O1). Every method that needs a handle mode checks it first and throws a HoldfastError
 * synchronously, before any I/O (rule O4).
 */
import type { Lease } from './buffer-pool.js';
import type { FilePath } from '../base/file-path.js';
import type { AllocateMode, FileStat, NodeKind } from './backend.js';
import type { Handle } from './handle.js';
import type { AccessMode } from './handle-kind.js';
import type { Operation } from './operation.js';

export interface OpenOptions {
  /** Default 'read'. */
  access?: AccessMode;
  /** true: create if missing; 'exclusive': fail with EEXIST if it exists. */
  create?: boolean | 'exclusive';
  truncate?: boolean;
  append?: boolean;
  /** Permission bits for a created file; default 0o666 (less the umask). */
  mode?: number;
  /** Fail with ELOOP instead of following a symlink in the last component. */
  noFollow?: boolean;
  /** O_NONBLOCK: opening a FIFO does not wait for the other end. */
  nonBlocking?: boolean;
}

export interface TransferOptions {
  /** Byte offset in the file; only for seekable handles. Without it the file position is used. */
  position?: number;
  /** Where in the lease the bytes start; default 0. */
  offsetBytes?: number;
  /** How many bytes; a read defaults to the rest of the lease. */
  lengthBytes?: number;
  signal?: AbortSignal;
}

export type XattrSubject = Handle<'file'> | Handle<'directory'> | FilePath;

export interface Io {
  /** Any kind of file; the kind comes from fstat. */
  open(path: FilePath, options?: OpenOptions): Promise<Handle>;
  /** A regular file; anything else fails with HOLDFAST_HANDLE_KIND before any I/O. */
  openFile(path: FilePath, options?: OpenOptions): Promise<Handle<'file'>>;
  openDirectory(path: FilePath): Promise<Handle<'directory'>>;
  /** This process's stdin, stdout or stderr, borrowed: close() detaches, never closes it. */
  standardStream(name: 'stdin' | 'stdout' | 'stderr'): Promise<Handle>;

  /** One read of up to lengthBytes; 0 bytes transferred at the end of the file or stream. */
  read(handle: Handle, lease: Lease, options?: TransferOptions): Operation;
  /** Writes all of lengthBytes, retrying short writes; a failure reports how much was written. */
  write(handle: Handle, lease: Lease, options: TransferOptions & { lengthBytes: number }): Operation;

  /** fsync (or fdatasync with dataOnly) of a file or a directory. */
  sync(handle: Handle, options?: { dataOnly?: boolean }): Promise<void>;
  stat(handle: Handle): Promise<FileStat>;

  rename(source: FilePath, target: FilePath): Promise<void>;
  unlink(path: FilePath): Promise<void>;
  makeDirectory(path: FilePath, options?: { mode?: number }): Promise<void>;
  removeDirectory(path: FilePath): Promise<void>;
  /** Names as bytes (a name need not be UTF-8), without "." and "..". */
  readDirectory(path: FilePath): Promise<Buffer[]>;

  /** The metadata of a path; a final symlink is described, not followed. */
  lstat(path: FilePath): Promise<FileStat>;
  readLink(path: FilePath): Promise<Buffer>;
  makeSymlink(target: FilePath, path: FilePath): Promise<void>;
  makeHardLink(existing: FilePath, path: FilePath): Promise<void>;
  makeNode(path: FilePath, kind: NodeKind, options: { mode: number; deviceMajor?: number; deviceMinor?: number }): Promise<void>;
  /** lchown: a final symlink's own owner is set. */
  setOwner(path: FilePath, uid: number, gid: number): Promise<void>;
  /** chmod, which follows symlinks: callers check the path is not one (symlinks have no mode). */
  setMode(path: FilePath, mode: number): Promise<void>;
  /** Nanosecond atime and mtime of a path, a final symlink's own. */
  setTimes(path: FilePath, atimeNs: bigint, mtimeNs: bigint): Promise<void>;
  truncate(handle: Handle<'file'>, sizeBytes: number): Promise<void>;

  /** Extended attributes of an open handle, or of a path without following a final symlink. */
  listXattrs(subject: XattrSubject): Promise<string[]>;
  getXattr(subject: XattrSubject, name: string): Promise<Buffer | null>;
  setXattr(subject: XattrSubject, name: string, value: Uint8Array): Promise<void>;
  removeXattr(subject: XattrSubject, name: string): Promise<void>;

  /** The next data (SEEK_DATA) or hole (SEEK_HOLE) at or after offset; null past the last data. */
  seekData(handle: Handle<'file'>, offset: number): Promise<number | null>;
  seekHole(handle: Handle<'file'>, offset: number): Promise<number | null>;
  allocate(handle: Handle<'file'>, mode: AllocateMode, offset: number, length: number): Promise<void>;
  /** Makes target share source's data (FICLONE); code ENOTSUP (errno 95) where the file system cannot. */
  cloneFile(target: Handle<'file'>, source: Handle<'file'>): Promise<void>;
  /** FIFREEZE / FITHAW on the directory handle of a mount point. */
  freeze(mountPoint: Handle<'directory'>): Promise<void>;
  thaw(mountPoint: Handle<'directory'>): Promise<void>;
}
