/**
 * The system calls Node lacks, through koffi (prebuilt, no compiler needed; ~0.5 µs a call).
 * Calls that may block (xattrs on a slow file system, fallocate, FICLONE, FIFREEZE) run with
 * koffi's `.async` on libuv's thread pool; koffi carries the worker's errno back. Quick calls
 * that never block (fcntl F_GETFL, lseek SEEK_CUR, F_DUPFD) run synchronously.
 *
 * Linux x86_64/arm64 constants; holdfast runs on Linux only.
 */
import { constants } from 'node:fs';
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const fcntlFlags = { getFlags: 3, setFlags: 4, duplicateCloseOnExec: 1030 } as const;
export const openFlagBits = { accessMask: 0o3, writeOnly: 0o1, readWrite: 0o2, nonBlocking: 0o4000, append: 0o2000 } as const;
export const seekWhence = { current: 1, data: 3, hole: 4 } as const;
export const fallocateMode = { extend: 0, 'keep-size': 0x01, 'punch-hole': 0x01 | 0x02, 'zero-range': 0x10 } as const;
export const ioctlRequest = { clone: 0x40049409, freeze: 0xc0045877, thaw: 0xc0045878 } as const;
/** XATTR_SIZE_MAX and XATTR_LIST_MAX of Linux: no value or name list is larger. */
export const xattrBytesMax = 65536;

const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
const lseek = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
const fgetxattr = libc.func('intptr_t fgetxattr(int fd, const char *name, _Out_ void *value, size_t size)');
const lgetxattr = libc.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)');
const flistxattr = libc.func('intptr_t flistxattr(int fd, _Out_ void *list, size_t size)');
const llistxattr = libc.func('intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)');
const fsetxattr = libc.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)');
const lsetxattr = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
const fremovexattr = libc.func('int fremovexattr(int fd, const char *name)');
const lremovexattr = libc.func('int lremovexattr(const char *path, const char *name)');
const fallocate = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t length)');
// Declared with a fixed third argument, not as variadic: koffi cannot call variadic functions
// asynchronously, and every request used here takes one int-sized argument.
const ioctl = libc.func('int ioctl(int fd, unsigned long request, intptr_t argument)');
const utimensat = libc.func('int utimensat(int directoryFd, const char *path, const void *times, int flags)');
const mknod = libc.func('int mknod(const char *path, uint32_t mode, uint64_t device)');
// The *at calls: every name is resolved relative to a held directory descriptor (rule D4).
const openat = libc.func('int openat(int directoryFd, const char *path, int flags, uint32_t mode)');
// openat2 has no glibc wrapper before 2.40: syscall(2), declared with fixed arguments (all
// integers or pointers, which the variadic convention passes the same way on x86_64 and arm64).
const openat2 = libc.func('long syscall(long number, int directoryFd, const char *path, const void *how, size_t size)');
const mkdirat = libc.func('int mkdirat(int directoryFd, const char *path, uint32_t mode)');
const unlinkat = libc.func('int unlinkat(int directoryFd, const char *path, int flags)');
const symlinkat = libc.func('int symlinkat(const char *target, int directoryFd, const char *path)');
const linkat = libc.func('int linkat(int existingDirectoryFd, const char *existingPath, int directoryFd, const char *path, int flags)');
const mknodat = libc.func('int mknodat(int directoryFd, const char *path, uint32_t mode, uint64_t device)');
const fchownat = libc.func('int fchownat(int directoryFd, const char *path, uint32_t uid, uint32_t gid, int flags)');
const fchmodat = libc.func('int fchmodat(int directoryFd, const char *path, uint32_t mode, int flags)');
const statx = libc.func('int statx(int directoryFd, const char *path, int flags, uint32_t mask, _Out_ void *result)');
const close = libc.func('int close(int fd)');
// glibc's utimensat() refuses a NULL path (EINVAL); futimens is the descriptor's own call.
const futimens = libc.func('int futimens(int fd, const void *times)');

/** AT_FDCWD, AT_SYMLINK_NOFOLLOW and AT_REMOVEDIR of Linux. */
const atCurrentDirectory = -100;
const atSymlinkNoFollow = 0x100;
const atRemoveDirectory = 0x200;
/** SYS_openat2 (the same number on x86_64 and arm64) and its RESOLVE_* flags. */
const systemCallOpenat2 = 437;
export const resolveFlags = { noMagicLinks: 0x02, noSymlinks: 0x04, beneath: 0x08 } as const;
/** O_CLOEXEC (Node's fs.constants lacks it): no descriptor opened here leaks into a child process. */
const openCloseOnExec = 0o2000000;
/** statx: STATX_BASIC_STATS, and the size of struct statx. */
const statxBasicStats = 0x7ff;
export const statxBytes = 256;
export const fileTypeBits = { fifo: 0o010000, 'char-device': 0o020000, 'block-device': 0o060000, socket: 0o140000 } as const;
const nanosecondsPerSecond = 1_000_000_000n;

/** A path as C wants it: a NUL-terminated string, or bytes with a NUL added. */
type CPath = string | Buffer;
function cPath(path: CPath): CPath {
  return typeof path === 'string' ? path : Buffer.concat([path, Buffer.alloc(1)]);
}

/** struct timespec[2] for utimensat; floor division keeps tv_nsec in [0, 1e9) before 1970. */
function timespecPair(atimeNs: bigint, mtimeNs: bigint): Buffer {
  const times = Buffer.alloc(32);
  for (const [index, timeNs] of [atimeNs, mtimeNs].entries()) {
    let seconds = timeNs / nanosecondsPerSecond;
    let nanoseconds = timeNs % nanosecondsPerSecond;
    if (nanoseconds < 0n) {
      seconds -= 1n;
      nanoseconds += nanosecondsPerSecond;
    }
    times.writeBigInt64LE(seconds, index * 16);
    times.writeBigInt64LE(nanoseconds, index * 16 + 8);
  }
  return times;
}

/** makedev() of glibc. */
export function makeDevice(major: number, minor: number): bigint {
  const majorBig = BigInt(major);
  const minorBig = BigInt(minor);
  return (minorBig & 0xffn) | ((majorBig & 0xfffn) << 8n) | ((minorBig & ~0xffn) << 12n) | ((majorBig & ~0xfffn) << 32n);
}

/** major() and minor() of glibc. */
export function splitDevice(device: bigint): { major: number; minor: number } {
  return {
    major: Number(((device >> 8n) & 0xfffn) | ((device >> 32n) & ~0xfffn)),
    minor: Number((device & 0xffn) | ((device >> 12n) & ~0xffn)),
  };
}

/** The result of a call and the errno it left (meaningful only when result < 0). */
export interface CallResult {
  result: number;
  errno: number;
}

type KoffiFunction = ReturnType<typeof libc.func>;

function callSync(fn: KoffiFunction, args: unknown[]): CallResult {
  const result = Number(fn(...args));
  return { result, errno: result < 0 ? koffi.errno() : 0 };
}

function callAsync(fn: KoffiFunction, args: unknown[]): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (error: unknown, value: unknown) => {
      if (error !== null && error !== undefined) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const result = Number(value);
      resolve({ result, errno: result < 0 ? koffi.errno() : 0 });
    });
  });
}

export const sync = {
  getFlags: (fd: number): CallResult => callSync(fcntl, [fd, fcntlFlags.getFlags]),
  setFlags: (fd: number, flags: number): CallResult => callSync(fcntl, [fd, fcntlFlags.setFlags, 'int', flags]),
  duplicate: (fd: number): CallResult => callSync(fcntl, [fd, fcntlFlags.duplicateCloseOnExec, 'int', 3]),
  seekCurrent: (fd: number): CallResult => callSync(lseek, [fd, 0, seekWhence.current]),
  close: (fd: number): CallResult => callSync(close, [fd]),
};

/**
 * Blocking calls made synchronously: only on a worker thread, where a call that blocks stops no
 * one else (read-files-sync.ts reads many small files in one job that way).
 */
export const onWorkerThread = {
  listXattrs: (target: number | CPath, list: Buffer): CallResult =>
    typeof target === 'number' ? callSync(flistxattr, [target, list, list.length]) : callSync(llistxattr, [cPath(target), list, list.length]),
  getXattr: (target: number | CPath, name: string, value: Buffer): CallResult =>
    typeof target === 'number' ? callSync(fgetxattr, [target, name, value, value.length]) : callSync(lgetxattr, [cPath(target), name, value, value.length]),
  setXattr: (fd: number, name: string, value: Uint8Array): CallResult => callSync(fsetxattr, [fd, name, value, value.length, 0]),
  openAt: (directoryFd: number, name: Buffer, flags: number, mode: number): CallResult => callSync(openat, [directoryFd, cPath(name), flags | openCloseOnExec, mode]),
  setTimesOf: (fd: number, atimeNs: bigint, mtimeNs: bigint): CallResult => callSync(futimens, [fd, timespecPair(atimeNs, mtimeNs)]),
};

export const blocking = {
  seek: (fd: number, offset: number, whence: number): Promise<CallResult> => callAsync(lseek, [fd, offset, whence]),
  getXattr: (target: number | CPath, name: string, value: Buffer): Promise<CallResult> =>
    typeof target === 'number' ? callAsync(fgetxattr, [target, name, value, value.length]) : callAsync(lgetxattr, [cPath(target), name, value, value.length]),
  listXattrs: (target: number | CPath, list: Buffer): Promise<CallResult> =>
    typeof target === 'number' ? callAsync(flistxattr, [target, list, list.length]) : callAsync(llistxattr, [cPath(target), list, list.length]),
  setXattr: (target: number | CPath, name: string, value: Uint8Array): Promise<CallResult> =>
    typeof target === 'number'
      ? callAsync(fsetxattr, [target, name, value, value.length, 0])
      : callAsync(lsetxattr, [cPath(target), name, value, value.length, 0]),
  removeXattr: (target: number | CPath, name: string): Promise<CallResult> =>
    typeof target === 'number' ? callAsync(fremovexattr, [target, name]) : callAsync(lremovexattr, [cPath(target), name]),
  setTimes: (path: CPath, atimeNs: bigint, mtimeNs: bigint): Promise<CallResult> =>
    callAsync(utimensat, [atCurrentDirectory, cPath(path), timespecPair(atimeNs, mtimeNs), atSymlinkNoFollow]),
  makeNode: (path: CPath, mode: number, device: bigint): Promise<CallResult> => callAsync(mknod, [cPath(path), mode, device]),
  /** futimens: the times of an open descriptor. */
  setTimesOf: (fd: number, atimeNs: bigint, mtimeNs: bigint): Promise<CallResult> => callAsync(futimens, [fd, timespecPair(atimeNs, mtimeNs)]),
  setTimesAt: (directoryFd: number, name: Buffer, atimeNs: bigint, mtimeNs: bigint): Promise<CallResult> =>
    callAsync(utimensat, [directoryFd, cPath(name), timespecPair(atimeNs, mtimeNs), atSymlinkNoFollow]),
  openAt: (directoryFd: number, name: Buffer, flags: number, mode: number): Promise<CallResult> => callAsync(openat, [directoryFd, cPath(name), flags | openCloseOnExec, mode]),
  /** openat2(2): answers ENOSYS on kernels before 5.6 (and where a seccomp filter denies it). */
  openBeneath: (directoryFd: number, relative: Buffer, flags: number, mode: number, resolve: number): Promise<CallResult> => {
    const how = Buffer.alloc(24);
    how.writeBigUInt64LE(BigInt(flags | openCloseOnExec), 0);
    how.writeBigUInt64LE(BigInt((flags & constants.O_CREAT) !== 0 ? mode : 0), 8);
    how.writeBigUInt64LE(BigInt(resolve), 16);
    return callAsync(openat2, [systemCallOpenat2, directoryFd, cPath(relative), how, how.length]);
  },
  makeDirectoryAt: (directoryFd: number, name: Buffer, mode: number): Promise<CallResult> => callAsync(mkdirat, [directoryFd, cPath(name), mode]),
  removeAt: (directoryFd: number, name: Buffer, directory: boolean): Promise<CallResult> => callAsync(unlinkat, [directoryFd, cPath(name), directory ? atRemoveDirectory : 0]),
  makeSymlinkAt: (target: CPath, directoryFd: number, name: Buffer): Promise<CallResult> => callAsync(symlinkat, [cPath(target), directoryFd, cPath(name)]),
  /** linkat without AT_SYMLINK_FOLLOW: a symlink at the existing name is linked, never followed. */
  makeHardLinkAt: (existingDirectoryFd: number, existingName: Buffer, directoryFd: number, name: Buffer): Promise<CallResult> =>
    callAsync(linkat, [existingDirectoryFd, cPath(existingName), directoryFd, cPath(name), 0]),
  makeNodeAt: (directoryFd: number, name: Buffer, mode: number, device: bigint): Promise<CallResult> => callAsync(mknodat, [directoryFd, cPath(name), mode, device]),
  setOwnerAt: (directoryFd: number, name: Buffer, uid: number, gid: number): Promise<CallResult> => callAsync(fchownat, [directoryFd, cPath(name), uid, gid, atSymlinkNoFollow]),
  /** fchmodat with AT_SYMLINK_NOFOLLOW: glibc (>= 2.32) does it through O_PATH; a symlink answers EOPNOTSUPP. */
  setModeAt: (directoryFd: number, name: Buffer, mode: number): Promise<CallResult> => callAsync(fchmodat, [directoryFd, cPath(name), mode, atSymlinkNoFollow]),
  /** statx with AT_SYMLINK_NOFOLLOW into `result` (statxBytes long). */
  statAt: (directoryFd: number, name: Buffer, result: Buffer): Promise<CallResult> => callAsync(statx, [directoryFd, cPath(name), atSymlinkNoFollow, statxBasicStats, result]),
  allocate: (fd: number, mode: number, offset: number, length: number): Promise<CallResult> => callAsync(fallocate, [fd, mode, offset, length]),
  ioctl: (fd: number, request: number, argument: number): Promise<CallResult> => callAsync(ioctl, [fd, request, argument]),
};
