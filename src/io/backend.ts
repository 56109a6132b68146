/**
 * Backend: the primitive system calls that IoCore builds on. One implementation runs them on the
 * real machine (io/node), one in the deterministic simulator (io/sim). IoCore does every check of
 * the rules (handles, leases, modes, cancel); a backend only does what it is told.
 *
 * Contract for every method:
 * - Failures of the call are thrown as SystemCallError (code = errno name) naming the operation
 *   and the descriptor's path.
 * - `buffer` is lent for the duration of the call: the backend must not touch it after the
 *   returned promise settles, and the promise must not settle while a thread or the kernel can
 *   still write it.
 * - A `cancelSignal` may be honoured only while nothing holds memory (waiting for readiness):
 *   the method then resolves null. Work already handed to a thread is always waited for.
 * - read() and write() may throw EAGAIN (a non-blocking descriptor); IoCore then awaits
 *   waitReady() and tries again.
 */
import type { FilePath } from '../base/file-path.js';
import type { Descriptor } from './descriptor.js';
import type { AccessMode, HandleKind, HandleModes } from './handle-kind.js';
import type { HandleReleaser } from './handle.js';

export interface OpenFlags {
  access: AccessMode;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  append: boolean;
  directory: boolean;
  noFollow: boolean;
  nonBlocking: boolean;
}

export interface Opened {
  descriptor: Descriptor;
  kind: HandleKind;
  modes: HandleModes;
}

export interface FileStat {
  kind: HandleKind;
  sizeBytes: number;
  /** Permission and special bits (setuid, setgid, sticky): st_mode & 0o7777. */
  mode: number;
  uid: number;
  gid: number;
  device: bigint;
  inode: bigint;
  linkCount: number;
  /** 512-byte blocks allocated: what holes save. */
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** The device a character or block special file stands for (st_rdev); 0 otherwise. */
  deviceMajor: number;
  deviceMinor: number;
}

/** The kinds of special file mknod() makes. */
export type NodeKind = 'fifo' | 'socket' | 'char-device' | 'block-device';

export type ReadyDirection = 'read' | 'write';

export type AllocateMode = 'extend' | 'keep-size' | 'punch-hole' | 'zero-range';

/** An xattr target: an open handle's descriptor, or a path whose last component is not followed. */
export type XattrTarget = { descriptor: Descriptor } | { path: FilePath };

/** How a backend learns of a cancel: the flag is free, the signal is made on first use. */
export interface Cancellation {
  readonly cancelRequested: boolean;
  readonly cancelSignal: AbortSignal;
}

export interface Backend extends HandleReleaser {
  open(path: FilePath, flags: OpenFlags, mode: number): Promise<Opened>;
  /** stdin, stdout or stderr of this process, borrowed. */
  standardStream(name: 'stdin' | 'stdout' | 'stderr'): Promise<Opened>;

  read(descriptor: Descriptor, buffer: Buffer, offset: number, length: number, position: number | null, cancel: Cancellation): Promise<number | null>;
  write(descriptor: Descriptor, buffer: Buffer, offset: number, length: number, position: number | null, cancel: Cancellation): Promise<number | null>;
  /** Resolves true when the descriptor may be ready, false when cancelled first. */
  waitReady(descriptor: Descriptor, direction: ReadyDirection, cancel: Cancellation): Promise<boolean>;
  sync(descriptor: Descriptor, dataOnly: boolean): Promise<void>;
  stat(descriptor: Descriptor): Promise<FileStat>;

  rename(source: FilePath, target: FilePath): Promise<void>;
  unlink(path: FilePath): Promise<void>;
  makeDirectory(path: FilePath, mode: number): Promise<void>;
  removeDirectory(path: FilePath): Promise<void>;
  /** The names in a directory, as bytes, without "." and "..", in the order the file system gives. */
  readDirectory(path: FilePath): Promise<Buffer[]>;

  /** stat without following a final symlink. */
  lstat(path: FilePath): Promise<FileStat>;
  readLink(path: FilePath): Promise<Buffer>;
  makeSymlink(target: FilePath, path: FilePath): Promise<void>;
  /** link(): a new name for `existing`; a final symlink in `existing` is not followed. */
  makeHardLink(existing: FilePath, path: FilePath): Promise<void>;
  makeNode(path: FilePath, kind: NodeKind, mode: number, deviceMajor: number, deviceMinor: number): Promise<void>;
  /** lchown: never follows a final symlink. */
  setOwner(path: FilePath, uid: number, gid: number): Promise<void>;
  /** chmod of the permission and special bits; follows a symlink, so never call it on one. */
  setMode(path: FilePath, mode: number): Promise<void>;
  /** utimensat with AT_SYMLINK_NOFOLLOW: nanosecond times, before 1970 too. */
  setTimes(path: FilePath, atimeNs: bigint, mtimeNs: bigint): Promise<void>;
  truncate(descriptor: Descriptor, sizeBytes: number): Promise<void>;

  listXattrs(target: XattrTarget): Promise<string[]>;
  /** null when the attribute does not exist (ENODATA). */
  getXattr(target: XattrTarget, name: string): Promise<Buffer | null>;
  setXattr(target: XattrTarget, name: string, value: Uint8Array): Promise<void>;
  removeXattr(target: XattrTarget, name: string): Promise<void>;

  /** lseek SEEK_DATA / SEEK_HOLE; null when there is no data (ENXIO) at or after offset. */
  seek(descriptor: Descriptor, offset: number, whence: 'data' | 'hole'): Promise<number | null>;
  allocate(descriptor: Descriptor, mode: AllocateMode, offset: number, length: number): Promise<void>;
  /** ioctl FICLONE: target shares source's extents. */
  clone(target: Descriptor, source: Descriptor): Promise<void>;
  /** ioctl FIFREEZE / FITHAW on a mount point's directory descriptor. */
  freeze(descriptor: Descriptor, frozen: boolean): Promise<void>;
}
