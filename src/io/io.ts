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

/**
 * One name in a held directory (rule D4): `name` is one component (no "/", not "." or ".."),
 * looked up in the directory the handle was opened on, wherever it has been moved since, and a
 * symlink there is never followed.
 */
export interface NameAt {
  directory: Handle<'directory'>;
  name: Buffer;
}

/** What owner, mode, times and xattrs are set on: an open handle, a path, or a name in a held directory. */
export type MetadataSubject = Handle<'file'> | Handle<'directory'> | FilePath | NameAt;
export type XattrSubject = MetadataSubject;

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
  /** lchown (fchown, fchownat): a final symlink's own owner is set. */
  setOwner(subject: MetadataSubject, uid: number, gid: number): Promise<void>;
  /**
   * chmod of a path follows symlinks: callers check the path is not one (symlinks have no mode).
   * Of a handle or a NameAt it never follows one (a symlink at the name fails with EOPNOTSUPP).
   */
  setMode(subject: MetadataSubject, mode: number): Promise<void>;
  /** Nanosecond atime and mtime, a final symlink's own. */
  setTimes(subject: MetadataSubject, atimeNs: bigint, mtimeNs: bigint): Promise<void>;

  /**
   * Below a held directory (rule D4): `relative` is one or more components, none "." or ".."
   * (HOLDFAST_UNSAFE_PATH before any I/O otherwise), and no symlink is followed on the way or at
   * the end (ELOOP; ENOTDIR where a directory is wanted), nor is the directory left.
   */
  openAt(directory: Handle<'directory'>, relative: Buffer, options?: OpenOptions): Promise<Handle>;
  openFileAt(directory: Handle<'directory'>, relative: Buffer, options?: OpenOptions): Promise<Handle<'file'>>;
  /** A directory below `directory`; a non-directory on the way or at the end fails with ENOTDIR. */
  openDirectoryAt(directory: Handle<'directory'>, relative: Buffer): Promise<Handle<'directory'>>;
  /** The metadata of one name; a symlink is described, not followed. */
  lstatAt(directory: Handle<'directory'>, name: Buffer): Promise<FileStat>;
  makeDirectoryAt(directory: Handle<'directory'>, name: Buffer, options?: { mode?: number }): Promise<void>;
  unlinkAt(directory: Handle<'directory'>, name: Buffer): Promise<void>;
  removeDirectoryAt(directory: Handle<'directory'>, name: Buffer): Promise<void>;
  makeSymlinkAt(target: FilePath, directory: Handle<'directory'>, name: Buffer): Promise<void>;
  /** A new name for `existing`; a symlink there is linked itself, never followed. */
  makeHardLinkAt(existing: NameAt, directory: Handle<'directory'>, name: Buffer): Promise<void>;
  makeNodeAt(directory: Handle<'directory'>, name: Buffer, kind: NodeKind, options: { mode: number; deviceMajor?: number; deviceMinor?: number }): Promise<void>;
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
  /**
   * Lends a held directory to work done on another thread of this process (a worker's batch of
   * *at calls): `work` gets a path that leads to the directory itself (/proc/self/fd/N on Linux,
   * wherever the directory has been moved; rule D4), and the handle cannot close until `work`
   * settles (rule H1). `work` must open the path for its own use and close what it opened
   * before it settles. Null, without calling `work`, where there is no such path (the simulator).
   */
  lendDirectory<T>(directory: Handle<'directory'>, work: (path: Buffer) => Promise<T>): Promise<T | null>;
  /** FIFREEZE / FITHAW on the directory handle of a mount point. */
  freeze(mountPoint: Handle<'directory'>): Promise<void>;
  thaw(mountPoint: Handle<'directory'>): Promise<void>;
}
