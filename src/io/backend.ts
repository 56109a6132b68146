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
import type { FileStat } from './file-stat.js';

export type { FileStat };

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
  /** fstat() of the descriptor as it was opened, where the backend took it to learn the kind. */
  stat?: FileStat;
}

/** The kinds of special file mknod() makes. */
export type NodeKind = 'fifo' | 'socket' | 'char-device' | 'block-device';

export type ReadyDirection = 'read' | 'write';

export type AllocateMode = 'extend' | 'keep-size' | 'punch-hole' | 'zero-range';

/**
 * What a metadata call (owner, mode, times, xattrs) acts on: an open handle's descriptor, a path
 * whose last component is not followed, or one name in a held directory, not followed either
 * (rule D4: nothing on the way is resolved from a path string).
 */
export type MetadataTarget = { descriptor: Descriptor } | { path: FilePath } | { directory: Descriptor; name: Buffer };
export type XattrTarget = MetadataTarget;

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
  /** lchown, fchown or fchownat with AT_SYMLINK_NOFOLLOW: never follows a final symlink. */
  setOwner(target: MetadataTarget, uid: number, gid: number): Promise<void>;
  /**
   * The permission and special bits: fchmod, or fchmodat with AT_SYMLINK_NOFOLLOW for a name (a
   * symlink there fails with EOPNOTSUPP). chmod of a path follows a symlink: never call it on one.
   */
  setMode(target: MetadataTarget, mode: number): Promise<void>;
  /** utimensat (AT_SYMLINK_NOFOLLOW for a path or name; futimens for a descriptor): nanosecond times, before 1970 too. */
  setTimes(target: MetadataTarget, atimeNs: bigint, mtimeNs: bigint): Promise<void>;

  /*
   * The *at calls (rule D4): `name` is one component (no "/", not "." or ".."), looked up in the
   * directory `directory` was opened on, wherever that directory has been moved since; a symlink
   * at `name` is never followed. IoCore checks the names before any call.
   */
  /**
   * Opens `relative` (one or more components) below `directory` without following a symlink
   * anywhere and without leaving it: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or
   * openat with O_NOFOLLOW (and O_DIRECTORY on the way) per component where the kernel lacks it.
   * A symlink fails with ELOOP, or ENOTDIR where a directory is wanted (at the end, or on the way
   * without openat2); a non-directory on the way with ENOTDIR.
   */
  openAt(directory: Descriptor, relative: Buffer, flags: OpenFlags, mode: number): Promise<Opened>;
  /** fstatat with AT_SYMLINK_NOFOLLOW. */
  statAt(directory: Descriptor, name: Buffer): Promise<FileStat>;
  makeDirectoryAt(directory: Descriptor, name: Buffer, mode: number): Promise<void>;
  /** unlinkat: a directory at `name` fails with EISDIR. */
  unlinkAt(directory: Descriptor, name: Buffer): Promise<void>;
  /** unlinkat with AT_REMOVEDIR: only an empty directory. */
  removeDirectoryAt(directory: Descriptor, name: Buffer): Promise<void>;
  makeSymlinkAt(target: FilePath, directory: Descriptor, name: Buffer): Promise<void>;
  /** linkat without AT_SYMLINK_FOLLOW: a symlink at the existing name is linked, not followed. */
  makeHardLinkAt(existingDirectory: Descriptor, existingName: Buffer, directory: Descriptor, name: Buffer): Promise<void>;
  makeNodeAt(directory: Descriptor, name: Buffer, kind: NodeKind, mode: number, deviceMajor: number, deviceMinor: number): Promise<void>;
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
  /**
   * A path that leads to the open directory itself (/proc/self/fd/N), for another thread of this
   * process; null where there is none (the simulator).
   */
  descriptorPath(descriptor: Descriptor): Buffer | null;
}
