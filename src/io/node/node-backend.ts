/**
 * NodeBackend: the Backend on the real machine. Reads and writes go through node:fs (libuv's
 * thread pool), or, for a non-blocking pipe or socket, through an EventLoopStream; the calls
 * Node lacks go through libc.ts.
 *
 * A descriptor that answers EAGAIN from the thread pool is non-blocking (whatever it was at open:
 * another holder of the description may have changed it): waitReady() moves it to the event loop
 * for good, and IoCore retries there.
 */
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { promisify } from 'node:util';
import { assert } from '../../base/assert.js';
import { displayPath, type FilePath } from '../../base/file-path.js';
import { fromNodeError, SystemCallError, type ErrorContext } from '../../errors/holdfast-error.js';
import type { AllocateMode, Backend, Cancellation, FileStat, MetadataTarget, NodeKind, OpenFlags, Opened, ReadyDirection, XattrTarget } from '../backend.js';
import { newDescriptor, type Descriptor } from '../descriptor.js';
import type { Ownership, PendingWrite } from '../handle.js';
import { type AccessMode, type HandleModes } from '../handle-kind.js';
import { EventLoopStream } from './event-loop-stream.js';
import { blocking, fallocateMode, fileTypeBits, ioctlRequest, makeDevice, openFlagBits, seekWhence, statxBytes, sync, xattrBytesMax, type CallResult } from './libc.js';
import { openBeneath } from './open-beneath.js';
import { fileStat } from './node-stat.js';
import { fileStatFromStatx } from './statx.js';

const openAsync = promisify(fs.open);
const closeAsync = promisify(fs.close);
const fstatAsync = promisify(fs.fstat);
const lstatAsync = promisify(fs.lstat);
const fsyncAsync = promisify(fs.fsync);
const fdatasyncAsync = promisify(fs.fdatasync);
const ftruncateAsync = promisify(fs.ftruncate);
const fchownAsync = promisify(fs.fchown);
const fchmodAsync = promisify(fs.fchmod);

const errnoNoData = 61;
const errnoNoDeviceOrAddress = 6;

export class NodeBackend implements Backend {
  readonly #modes = new WeakMap<Descriptor, HandleModes>();
  readonly #streams = new Map<Descriptor, EventLoopStream>();

  async open(path: FilePath, flags: OpenFlags, mode: number): Promise<Opened> {
    let fd: number;
    try {
      fd = await openAsync(path, nodeOpenFlags(flags), mode);
    } catch (error) {
      throw fromNodeError(error, 'open', { operation: 'open', path: displayPath(path) });
    }
    try {
      return await this.#describe(fd, displayPath(path));
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  standardStream(name: 'stdin' | 'stdout' | 'stderr'): Promise<Opened> {
    const fd = { stdin: 0, stdout: 1, stderr: 2 }[name];
    return this.#describe(fd, `<${name}>`);
  }

  read(descriptor: Descriptor, buffer: Buffer, offset: number, length: number, position: number | null, cancel: Cancellation): Promise<number | null> {
    const stream = this.#streams.get(descriptor);
    if (stream !== undefined) return stream.read(buffer, offset, length, cancel.cancelSignal);
    return new Promise((resolve, reject) => {
      fs.read(descriptor.fd, buffer, offset, length, position, (error, count) => {
        if (error !== null) reject(fromNodeError(error, 'read', context('read', descriptor)));
        else resolve(count);
      });
    });
  }

  write(descriptor: Descriptor, buffer: Buffer, offset: number, length: number, position: number | null): Promise<number | null> {
    const stream = this.#streams.get(descriptor);
    if (stream !== undefined) return stream.write(buffer, offset, length).catch((error: unknown) => {
      throw fromNodeError(error, 'write', context('write', descriptor));
    });
    return new Promise((resolve, reject) => {
      fs.write(descriptor.fd, buffer, offset, length, position, (error, count) => {
        if (error !== null) reject(fromNodeError(error, 'write', context('write', descriptor)));
        else resolve(count);
      });
    });
  }

  waitReady(descriptor: Descriptor, _direction: ReadyDirection, cancel: Cancellation): Promise<boolean> {
    if (!this.#streams.has(descriptor)) {
      const modes = this.#modes.get(descriptor);
      assert(modes !== undefined, `no modes recorded for "${descriptor.path}"`);
      this.#streams.set(descriptor, EventLoopStream.open(descriptor, modes));
    }
    // The stream itself waits for readiness inside read() and write().
    return Promise.resolve(!cancel.cancelRequested);
  }

  async sync(descriptor: Descriptor, dataOnly: boolean): Promise<void> {
    try {
      await (dataOnly ? fdatasyncAsync(descriptor.fd) : fsyncAsync(descriptor.fd));
    } catch (error) {
      throw fromNodeError(error, dataOnly ? 'fdatasync' : 'fsync', context('sync', descriptor));
    }
  }

  async stat(descriptor: Descriptor): Promise<FileStat> {
    let stat: fs.BigIntStats;
    try {
      stat = await fstatAsync(descriptor.fd, { bigint: true });
    } catch (error) {
      throw fromNodeError(error, 'fstat', context('stat', descriptor));
    }
    return fileStat(stat, stat.isCharacterDevice() && isatty(descriptor.fd));
  }

  async lstat(path: FilePath): Promise<FileStat> {
    // The callback form: fs.promises.lstat cost about twice its main-thread time (measured 9 us
    // against 5 us a call), and a backup makes one per entry.
    const stat = await pathCall(() => lstatAsync(path, { bigint: true }), 'lstat', pathContext('stat', path));
    return fileStat(stat, false);
  }

  readLink(path: FilePath): Promise<Buffer> {
    return pathCall(() => fs.promises.readlink(path, { encoding: 'buffer' }), 'readlink', pathContext('read link', path));
  }

  async makeSymlink(target: FilePath, path: FilePath): Promise<void> {
    await pathCall(() => fs.promises.symlink(target, path), 'symlink', pathContext('make symlink', path));
  }

  async makeHardLink(existing: FilePath, path: FilePath): Promise<void> {
    await pathCall(() => fs.promises.link(existing, path), 'link', pathContext(`link "${displayPath(existing)}" as`, path));
  }

  async makeNode(path: FilePath, kind: NodeKind, mode: number, deviceMajor: number, deviceMinor: number): Promise<void> {
    const call = await blocking.makeNode(path, fileTypeBits[kind] | (mode & 0o7777), makeDevice(deviceMajor, deviceMinor));
    check(call, 'mknod', pathContext(`make ${kind}`, path));
  }

  async setOwner(target: MetadataTarget, uid: number, gid: number): Promise<void> {
    const errorContext = targetContext('set owner of', target);
    if ('path' in target) await pathCall(() => fs.promises.lchown(target.path, uid, gid), 'lchown', errorContext);
    else if ('descriptor' in target) await pathCall(() => fchownAsync(target.descriptor.fd, uid, gid), 'fchown', errorContext);
    else check(await blocking.setOwnerAt(target.directory.fd, target.name, uid, gid), 'fchownat', errorContext);
  }

  async setMode(target: MetadataTarget, mode: number): Promise<void> {
    const errorContext = targetContext('set mode of', target);
    if ('path' in target) await pathCall(() => fs.promises.chmod(target.path, mode), 'chmod', errorContext);
    else if ('descriptor' in target) await pathCall(() => fchmodAsync(target.descriptor.fd, mode), 'fchmod', errorContext);
    else check(await blocking.setModeAt(target.directory.fd, target.name, mode), 'fchmodat', errorContext);
  }

  async setTimes(target: MetadataTarget, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const errorContext = targetContext('set times of', target);
    if ('path' in target) check(await blocking.setTimes(target.path, atimeNs, mtimeNs), 'utimensat', errorContext);
    else if ('descriptor' in target) check(await blocking.setTimesOf(target.descriptor.fd, atimeNs, mtimeNs), 'futimens', errorContext);
    else check(await blocking.setTimesAt(target.directory.fd, target.name, atimeNs, mtimeNs), 'utimensat', errorContext);
  }

  async openAt(directory: Descriptor, relative: Buffer, flags: OpenFlags, mode: number): Promise<Opened> {
    const shown = belowPath(directory, relative);
    const fd = check(await openBeneath(directory.fd, relative, nodeOpenFlags(flags), mode), 'openat', { operation: flags.directory ? 'open directory' : 'open', path: shown });
    try {
      return await this.#describe(fd, shown);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  async statAt(directory: Descriptor, name: Buffer): Promise<FileStat> {
    const result = Buffer.alloc(statxBytes);
    check(await blocking.statAt(directory.fd, name, result), 'statx', { operation: 'stat', path: belowPath(directory, name) });
    return fileStatFromStatx(result);
  }

  async makeDirectoryAt(directory: Descriptor, name: Buffer, mode: number): Promise<void> {
    check(await blocking.makeDirectoryAt(directory.fd, name, mode), 'mkdirat', { operation: 'make directory', path: belowPath(directory, name) });
  }

  async unlinkAt(directory: Descriptor, name: Buffer): Promise<void> {
    check(await blocking.removeAt(directory.fd, name, false), 'unlinkat', { operation: 'unlink', path: belowPath(directory, name) });
  }

  async removeDirectoryAt(directory: Descriptor, name: Buffer): Promise<void> {
    check(await blocking.removeAt(directory.fd, name, true), 'unlinkat', { operation: 'remove directory', path: belowPath(directory, name) });
  }

  async makeSymlinkAt(target: FilePath, directory: Descriptor, name: Buffer): Promise<void> {
    check(await blocking.makeSymlinkAt(target, directory.fd, name), 'symlinkat', { operation: 'make symlink', path: belowPath(directory, name) });
  }

  async makeHardLinkAt(existingDirectory: Descriptor, existingName: Buffer, directory: Descriptor, name: Buffer): Promise<void> {
    const operation = `link "${belowPath(existingDirectory, existingName)}" as`;
    check(await blocking.makeHardLinkAt(existingDirectory.fd, existingName, directory.fd, name), 'linkat', { operation, path: belowPath(directory, name) });
  }

  async makeNodeAt(directory: Descriptor, name: Buffer, kind: NodeKind, mode: number, deviceMajor: number, deviceMinor: number): Promise<void> {
    const call = await blocking.makeNodeAt(directory.fd, name, fileTypeBits[kind] | (mode & 0o7777), makeDevice(deviceMajor, deviceMinor));
    check(call, 'mknodat', { operation: `make ${kind}`, path: belowPath(directory, name) });
  }

  async truncate(descriptor: Descriptor, sizeBytes: number): Promise<void> {
    await pathCall(() => ftruncateAsync(descriptor.fd, sizeBytes), 'ftruncate', context('truncate', descriptor));
  }

  async release(descriptor: Descriptor, ownership: Ownership): Promise<void> {
    const stream = this.#streams.get(descriptor);
    if (stream !== undefined) {
      this.#streams.delete(descriptor);
      await stream.destroy();
    }
    if (ownership === 'borrowed') return;
    try {
      await closeAsync(descriptor.fd);
    } catch (error) {
      throw fromNodeError(error, 'close', context('close', descriptor));
    }
  }

  finalizeSync(descriptor: Descriptor, ownership: Ownership, pending: PendingWrite[]): void {
    const stream = this.#streams.get(descriptor);
    this.#streams.delete(descriptor);
    try {
      for (const { bytes, position } of pending) {
        let done = 0;
        while (done < bytes.length) {
          done += fs.writeSync(descriptor.fd, bytes, done, bytes.length - done, position === null ? null : position + done);
        }
      }
    } finally {
      stream?.destroyNow();
      if (ownership === 'owned') fs.closeSync(descriptor.fd);
    }
  }

  async rename(source: FilePath, target: FilePath): Promise<void> {
    await pathCall(() => fs.promises.rename(source, target), 'rename', pathContext('rename', source));
  }

  async unlink(path: FilePath): Promise<void> {
    await pathCall(() => fs.promises.unlink(path), 'unlink', pathContext('unlink', path));
  }

  async makeDirectory(path: FilePath, mode: number): Promise<void> {
    await pathCall(() => fs.promises.mkdir(path, { mode }), 'mkdir', pathContext('make directory', path));
  }

  async removeDirectory(path: FilePath): Promise<void> {
    await pathCall(() => fs.promises.rmdir(path), 'rmdir', pathContext('remove directory', path));
  }

  readDirectory(path: FilePath): Promise<Buffer[]> {
    return pathCall(() => fs.promises.readdir(path, { encoding: 'buffer' }), 'readdir', pathContext('read directory', path));
  }

  async listXattrs(target: XattrTarget): Promise<string[]> {
    const list = Buffer.allocUnsafe(xattrBytesMax);
    const call = await blocking.listXattrs(xattrSubject(target), list);
    const length = check(call, 'listxattr', xattrContext('list xattrs of', target));
    return list.subarray(0, length).toString('latin1').split('\0').filter((name) => name !== '').map((name) => Buffer.from(name, 'latin1').toString());
  }

  async getXattr(target: XattrTarget, name: string): Promise<Buffer | null> {
    const value = Buffer.allocUnsafe(xattrBytesMax);
    const call = await blocking.getXattr(xattrSubject(target), name, value);
    if (call.result < 0 && call.errno === errnoNoData) return null;
    const length = check(call, 'getxattr', xattrContext(`get xattr "${name}" of`, target));
    return Buffer.from(value.subarray(0, length));
  }

  async setXattr(target: XattrTarget, name: string, value: Uint8Array): Promise<void> {
    check(await blocking.setXattr(xattrSubject(target), name, value), 'setxattr', xattrContext(`set xattr "${name}" of`, target));
  }

  async removeXattr(target: XattrTarget, name: string): Promise<void> {
    check(await blocking.removeXattr(xattrSubject(target), name), 'removexattr', xattrContext(`remove xattr "${name}" of`, target));
  }

  async seek(descriptor: Descriptor, offset: number, whence: 'data' | 'hole'): Promise<number | null> {
    const call = await blocking.seek(descriptor.fd, offset, seekWhence[whence]);
    if (call.result < 0 && call.errno === errnoNoDeviceOrAddress) return null;
    return check(call, `lseek SEEK_${whence.toUpperCase()}`, context(`seek ${whence} in`, descriptor));
  }

  async allocate(descriptor: Descriptor, mode: AllocateMode, offset: number, length: number): Promise<void> {
    check(await blocking.allocate(descriptor.fd, fallocateMode[mode], offset, length), 'fallocate', context(`allocate (${mode})`, descriptor));
  }

  async clone(target: Descriptor, source: Descriptor): Promise<void> {
    check(await blocking.ioctl(target.fd, ioctlRequest.clone, source.fd), 'ioctl FICLONE', context(`clone "${source.path}" into`, target));
  }

  descriptorPath(descriptor: Descriptor): Buffer {
    return Buffer.from(`/proc/self/fd/${descriptor.fd}`);
  }

  async freeze(descriptor: Descriptor, frozen: boolean): Promise<void> {
    const request = frozen ? ioctlRequest.freeze : ioctlRequest.thaw;
    check(await blocking.ioctl(descriptor.fd, request, 0), frozen ? 'ioctl FIFREEZE' : 'ioctl FITHAW', context(frozen ? 'freeze' : 'thaw', descriptor));
  }

  async #describe(fd: number, path: string): Promise<Opened> {
    let stat: fs.BigIntStats;
    try {
      stat = await fstatAsync(fd, { bigint: true });
    } catch (error) {
      throw fromNodeError(error, 'fstat', { operation: 'open', path });
    }
    const descriptor = newDescriptor(fd, path);
    const modes = readModes(descriptor);
    this.#modes.set(descriptor, modes);
    // isatty() is an ioctl on the main thread: asked only where a terminal can be. The stat goes
    // with the handle, so that a caller who wants it (the walker, a pack read) asks no second time.
    const opened = fileStat(stat, stat.isCharacterDevice() && isatty(fd));
    return { descriptor, kind: opened.kind, modes, stat: opened };
  }
}

/** Modes from the OS: F_GETFL for access and O_NONBLOCK, lseek(SEEK_CUR) for seekability. */
function readModes(descriptor: Descriptor): HandleModes {
  const flags = check(sync.getFlags(descriptor.fd), 'fcntl F_GETFL', context('open', descriptor));
  const accessBits = flags & openFlagBits.accessMask;
  const access: AccessMode = accessBits === openFlagBits.readWrite ? 'read-write' : accessBits === openFlagBits.writeOnly ? 'write' : 'read';
  return {
    access,
    nonBlocking: (flags & openFlagBits.nonBlocking) !== 0,
    append: (flags & openFlagBits.append) !== 0,
    seekable: sync.seekCurrent(descriptor.fd).result >= 0,
  };
}

function nodeOpenFlags(flags: OpenFlags): number {
  const c = fs.constants;
  let bits = flags.access === 'read' ? c.O_RDONLY : flags.access === 'write' ? c.O_WRONLY : c.O_RDWR;
  if (flags.create) bits |= c.O_CREAT;
  if (flags.exclusive) bits |= c.O_EXCL;
  if (flags.truncate) bits |= c.O_TRUNC;
  if (flags.append) bits |= c.O_APPEND;
  if (flags.directory) bits |= c.O_DIRECTORY;
  if (flags.noFollow) bits |= c.O_NOFOLLOW;
  if (flags.nonBlocking) bits |= c.O_NONBLOCK;
  return bits;
}

function context(operation: string, descriptor: Descriptor): ErrorContext {
  return { operation, path: descriptor.path };
}

function pathContext(operation: string, path: FilePath): ErrorContext {
  return { operation, path: displayPath(path) };
}

/**
 * A descriptor, or a path for the l*xattr calls. Linux has no *xattrat call before 6.13: a name
 * in a held directory is reached through the directory's /proc/self/fd link, which leads to the
 * directory the descriptor was opened on (wherever it is now), and the l* call does not follow
 * a symlink at the name.
 */
function xattrSubject(target: XattrTarget): number | FilePath {
  if ('descriptor' in target) return target.descriptor.fd;
  if ('path' in target) return target.path;
  return Buffer.concat([Buffer.from(`/proc/self/fd/${target.directory.fd}/`), target.name]);
}

function xattrContext(operation: string, target: XattrTarget): ErrorContext {
  return targetContext(operation, target);
}

function targetContext(operation: string, target: MetadataTarget): ErrorContext {
  if ('descriptor' in target) return { operation, path: target.descriptor.path };
  if ('path' in target) return { operation, path: displayPath(target.path) };
  return { operation, path: belowPath(target.directory, target.name) };
}

/** For messages: a name below a held directory, shown under the path the directory was opened by. */
function belowPath(directory: Descriptor, name: Buffer): string {
  return `${directory.path}/${displayPath(name)}`;
}


function check(call: CallResult, syscall: string, errorContext: ErrorContext): number {
  if (call.result < 0) throw new SystemCallError(call.errno, syscall, errorContext);
  return call.result;
}

async function pathCall<T>(call: () => Promise<T>, syscall: string, errorContext: ErrorContext): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromNodeError(error, syscall, errorContext);
  }
}
