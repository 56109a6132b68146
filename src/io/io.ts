/**
 * Io: the interface that production code is written against. createNodeIo() runs it on the real
 * machine; the simulator (io/sim) runs the same IoCore on a seeded in-memory backend.
 *
 * Reads and writes take a Lease and return an Operation whose result gives the lease back
 * (rule O1). Every method that needs a handle mode checks it first and throws a HoldfastError
 * synchronously, before any I/O (rule O4).
 */
import type { Lease } from './buffer-pool.js';
import type { AllocateMode, FileStat } from './backend.js';
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

export type XattrSubject = Handle<'file'> | Handle<'directory'> | string;

export interface Io {
  /** Any kind of file; the kind comes from fstat. */
  open(path: string, options?: OpenOptions): Promise<Handle>;
  /** A regular file; anything else fails with HOLDFAST_HANDLE_KIND before any I/O. */
  openFile(path: string, options?: OpenOptions): Promise<Handle<'file'>>;
  openDirectory(path: string): Promise<Handle<'directory'>>;
  /** This process's stdin, stdout or stderr, borrowed: close() detaches, never closes it. */
  standardStream(name: 'stdin' | 'stdout' | 'stderr'): Promise<Handle>;

  /** One read of up to lengthBytes; 0 bytes transferred at the end of the file or stream. */
  read(handle: Handle, lease: Lease, options?: TransferOptions): Operation;
  /** Writes all of lengthBytes, retrying short writes; a failure reports how much was written. */
  write(handle: Handle, lease: Lease, options: TransferOptions & { lengthBytes: number }): Operation;

  /** fsync (or fdatasync with dataOnly) of a file or a directory. */
  sync(handle: Handle, options?: { dataOnly?: boolean }): Promise<void>;
  stat(handle: Handle): Promise<FileStat>;

  rename(source: string, target: string): Promise<void>;
  unlink(path: string): Promise<void>;
  makeDirectory(path: string, options?: { mode?: number }): Promise<void>;
  readDirectory(path: string): Promise<string[]>;

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
