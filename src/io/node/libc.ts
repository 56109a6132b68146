/**
 * The system calls Node lacks, through koffi (prebuilt, no compiler needed; ~0.5 µs a call).
 * Calls that may block (xattrs on a slow file system, fallocate, FICLONE, FIFREEZE) run with
 * koffi's `.async` on libuv's thread pool; koffi carries the worker's errno back. Quick calls
 * that never block (fcntl F_GETFL, lseek SEEK_CUR, F_DUPFD) run synchronously.
 *
 * Linux x86_64/arm64 constants; holdfast runs on Linux only.
 */
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

/** AT_FDCWD and AT_SYMLINK_NOFOLLOW of Linux. */
const atCurrentDirectory = -100;
const atSymlinkNoFollow = 0x100;
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
  allocate: (fd: number, mode: number, offset: number, length: number): Promise<CallResult> => callAsync(fallocate, [fd, mode, offset, length]),
  ioctl: (fd: number, request: number, argument: number): Promise<CallResult> => callAsync(ioctl, [fd, request, argument]),
};
