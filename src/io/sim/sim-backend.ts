/**
 * SimBackend: the Backend of the simulator. Every call is a pending completion in the
 * SimScheduler; its effect (bytes copied into the caller's buffer, data written) happens only
 * when the scheduler completes it, so a buffer released too early would be written late and the
 * tests would see it. Faults are drawn from the seed at completion time.
 *
 * The fd table hands out the lowest free number, as POSIX does. Each call checks that its
 * descriptor is still the open it was issued for: a call that reaches a closed or recycled fd, or
 * a second release, is recorded as a violation (and fails with EBADF).
 */
import type { Prng } from '../../base/prng.js';
import { SystemCallError, errnoNumber, type ErrorContext } from '../../errors/holdfast-error.js';
import { displayPath, type FilePath } from '../../base/file-path.js';
import type { AllocateMode, Backend, Cancellation, FileStat, MetadataTarget, NodeKind, OpenFlags, Opened, ReadyDirection, XattrTarget } from '../backend.js';
import { newDescriptor, type Descriptor } from '../descriptor.js';
import type { Ownership, PendingWrite } from '../handle.js';
import type { HandleModes } from '../handle-kind.js';
import { SimFileSystem, normalize, type SimInode } from './sim-file-system.js';
import type { SimScheduler } from './sim-scheduler.js';

export interface FaultRates {
  /** A completion is late: chosen only when nothing else can run (or rarely). */
  late: number;
  shortRead: number;
  shortWrite: number;
  /** On pipes only: a read or write answers EAGAIN. */
  again: number;
  ioError: number;
  noSpace: number;
}

export const noFaults: FaultRates = { late: 0, shortRead: 0, shortWrite: 0, again: 0, ioError: 0, noSpace: 0 };

interface OpenFile {
  descriptor: Descriptor;
  inode: SimInode;
  modes: HandleModes;
  offset: number;
}

export class SimBackend implements Backend {
  readonly fileSystem: SimFileSystem;
  readonly violations: string[] = [];
  readonly #scheduler: SimScheduler;
  readonly #prng: Prng;
  #faults: FaultRates;
  readonly #table = new Map<number, OpenFile>();
  #opens = 0;
  #releases = 0;

  constructor(fileSystem: SimFileSystem, scheduler: SimScheduler, prng: Prng, faults: FaultRates) {
    this.fileSystem = fileSystem;
    this.#scheduler = scheduler;
    this.#prng = prng;
    this.#faults = faults;
  }

  /** Fault rates from the next call on (a test may set up its world without faults first). */
  set faults(faults: FaultRates) {
    this.#faults = faults;
  }

  /** Descriptors opened and not yet released. */
  get openCount(): number {
    return this.#table.size;
  }

  get opens(): number {
    return this.#opens;
  }

  get releases(): number {
    return this.#releases;
  }

  /** Fd numbers in use, for tests that look at recycling. */
  fdNumbers(): number[] {
    return [...this.#table.keys()].sort((a, b) => a - b);
  }

  open(filePath: FilePath, flags: OpenFlags, _mode: number): Promise<Opened> {
    const path = displayPath(filePath);
    return this.#call(`open ${path}`, () => this.#openPath(path, flags));
  }

  /**
   * The simulator has no symlinks, so a name below a held directory is only looked up where
   * that directory is now (it may have been renamed since it was opened).
   */
  openAt(directory: Descriptor, relative: Buffer, flags: OpenFlags, _mode: number): Promise<Opened> {
    return this.#call(`openat ${directory.path}/${displayPath(relative)}`, () => this.#openPath(this.#below(directory, relative, 'open'), flags));
  }

  statAt(directory: Descriptor, name: Buffer): Promise<FileStat> {
    return this.#call(`statat ${directory.path}/${displayPath(name)}`, () => this.#lstatPath(this.#below(directory, name, 'stat')));
  }

  makeDirectoryAt(directory: Descriptor, name: Buffer): Promise<void> {
    return this.#call(`mkdirat ${directory.path}/${displayPath(name)}`, () => this.#makeDirectoryPath(this.#below(directory, name, 'make directory')));
  }

  unlinkAt(directory: Descriptor, name: Buffer): Promise<void> {
    return this.#call(`unlinkat ${directory.path}/${displayPath(name)}`, () => this.#unlinkPath(this.#below(directory, name, 'unlink')));
  }

  removeDirectoryAt(directory: Descriptor, name: Buffer): Promise<void> {
    return this.#call(`rmdirat ${directory.path}/${displayPath(name)}`, () => this.#removeDirectoryPath(this.#below(directory, name, 'remove directory')));
  }

  makeSymlinkAt(_target: FilePath, directory: Descriptor, name: Buffer): Promise<void> {
    return this.#unsupported('symlinkat', `${directory.path}/${displayPath(name)}`);
  }

  makeHardLinkAt(_existingDirectory: Descriptor, _existingName: Buffer, directory: Descriptor, name: Buffer): Promise<void> {
    return this.#unsupported('linkat', `${directory.path}/${displayPath(name)}`);
  }

  makeNodeAt(directory: Descriptor, name: Buffer, _kind: NodeKind, _mode: number, _major: number, _minor: number): Promise<void> {
    return this.#unsupported('mknodat', `${directory.path}/${displayPath(name)}`);
  }

  #openPath(path: string, flags: OpenFlags): Opened {
    const context = { operation: 'open', path };
    let inode = this.fileSystem.lookup(path);
    if (inode === undefined) {
      if (!flags.create) throw fail('ENOENT', 'open', context);
      if (!this.fileSystem.parentIsDirectory(path)) throw fail('ENOENT', 'open', context);
      inode = this.fileSystem.create(path, 'file');
    } else if (flags.exclusive) {
      throw fail('EEXIST', 'open', context);
    }
    if (flags.directory && inode.kind !== 'directory') throw fail('ENOTDIR', 'open', context);
    if (inode.kind === 'directory' && flags.access !== 'read') throw fail('EISDIR', 'open', context);
    if (flags.truncate && inode.kind === 'file') this.fileSystem.truncate(inode, 0);
    const modes: HandleModes = { access: flags.access, nonBlocking: flags.nonBlocking, append: flags.append, seekable: inode.kind === 'file' || inode.kind === 'directory' };
    return this.#install(path, inode, modes);
  }

  /** Where `relative` below the held directory is now; ENOENT when the directory has no name left. */
  #below(directory: Descriptor, relative: Buffer, operation: string): string {
    const base = this.fileSystem.pathOf(this.#check(directory, operation).inode);
    if (base === undefined) throw fail('ENOENT', operation, { operation, path: `${directory.path}/${displayPath(relative)}` });
    return normalize(`${base}/${displayPath(relative)}`);
  }

  /** A pipe at path, for tests of streams (mkfifo). */
  makePipe(path: string): void {
    this.fileSystem.create(path, 'fifo');
  }

  standardStream(name: 'stdin' | 'stdout' | 'stderr'): Promise<Opened> {
    return this.#call(`open <${name}>`, () => {
      const inode = this.fileSystem.lookup(`/dev/${name}`) ?? this.fileSystem.create(`/dev/${name}`, 'fifo');
      return this.#install(`<${name}>`, inode, { access: name === 'stdin' ? 'read' : 'write', nonBlocking: false, append: false, seekable: false });
    });
  }

  read(descriptor: Descriptor, buffer: Buffer, offset: number, length: number, position: number | null): Promise<number | null> {
    const pipeWaits = (): boolean => {
      const open = this.#table.get(descriptor.fd);
      return open !== undefined && open.inode.kind === 'fifo' && !open.modes.nonBlocking && open.inode.data.length === 0 && !open.inode.writerClosed;
    };
    return this.#call(`read ${descriptor.path}`, () => {
      const open = this.#check(descriptor, 'read');
      const context = { operation: 'read', path: descriptor.path };
      if (this.#prng.chance(this.#faults.ioError)) throw fail('EIO', 'read', context);
      if (open.inode.kind === 'fifo') return this.#readPipe(open, buffer, offset, length, context);
      const at = position ?? open.offset;
      let count = Math.max(0, Math.min(length, open.inode.data.length - at));
      if (count > 1 && this.#prng.chance(this.#faults.shortRead)) count = 1 + this.#prng.nextInt(count - 1);
      if (count > 0) open.inode.data.copy(buffer, offset, at, at + count);
      if (position === null) open.offset += count;
      return count;
    }, () => !pipeWaits());
  }

  write(descriptor: Descriptor, buffer: Buffer, offset: number, length: number, position: number | null): Promise<number | null> {
    return this.#call(`write ${descriptor.path}`, () => {
      const open = this.#check(descriptor, 'write');
      const context = { operation: 'write', path: descriptor.path };
      if (this.#prng.chance(this.#faults.ioError)) throw fail('EIO', 'write', context);
      if (open.inode.kind === 'fifo' && this.#prng.chance(this.#faults.again)) throw fail('EAGAIN', 'write', context);
      let count = length;
      if (this.#prng.chance(this.#faults.noSpace)) {
        count = this.#prng.nextInt(length);
        if (count === 0) throw fail('ENOSPC', 'write', context);
      } else if (count > 1 && this.#prng.chance(this.#faults.shortWrite)) {
        count = 1 + this.#prng.nextInt(count - 1);
      }
      const bytes = buffer.subarray(offset, offset + count);
      if (open.inode.kind === 'fifo') {
        open.inode.data = Buffer.concat([open.inode.data, bytes]);
        return count;
      }
      const at = open.modes.append ? open.inode.data.length : position ?? open.offset;
      this.fileSystem.write(open.inode, at, bytes);
      if (position === null) open.offset = at + count;
      return count;
    }, () => !this.fileSystem.frozen);
  }

  waitReady(descriptor: Descriptor, direction: ReadyDirection, cancel: Cancellation): Promise<boolean> {
    // A pipe becomes ready when it has data (or its writer closed); a write side is always ready
    // again after a moment. A cancel ends the wait without touching any buffer.
    if (cancel.cancelRequested) return Promise.resolve(false);
    const cancelSignal = cancel.cancelSignal;
    return new Promise((resolve) => {
      let done = false;
      const finish = (ready: boolean): void => {
        if (done) return;
        done = true;
        resolve(ready);
      };
      cancelSignal.addEventListener('abort', () => finish(false), { once: true });
      this.#scheduler.add({
        label: `wait ${direction} ${descriptor.path}`,
        late: false,
        ready: () => {
          if (done || direction === 'write') return true;
          const inode = this.#table.get(descriptor.fd)?.inode;
          return inode === undefined || inode.data.length > 0 || inode.writerClosed;
        },
        complete: () => finish(!cancelSignal.aborted),
      });
    });
  }

  sync(descriptor: Descriptor): Promise<void> {
    return this.#call(`sync ${descriptor.path}`, () => {
      const open = this.#check(descriptor, 'sync');
      if (this.#prng.chance(this.#faults.ioError)) throw fail('EIO', 'fsync', { operation: 'sync', path: descriptor.path });
      if (open.inode.kind === 'directory') this.fileSystem.syncNames();
      else this.fileSystem.syncFile(open.inode);
    });
  }

  stat(descriptor: Descriptor): Promise<FileStat> {
    return this.#call(`stat ${descriptor.path}`, () => this.#statOf(this.#check(descriptor, 'stat').inode));
  }

  lstat(filePath: FilePath): Promise<FileStat> {
    const path = displayPath(filePath);
    return this.#call(`lstat ${path}`, () => this.#lstatPath(path));
  }

  #lstatPath(path: string): FileStat {
    const inode = this.fileSystem.lookup(path);
    if (inode === undefined) throw fail('ENOENT', 'lstat', { operation: 'stat', path });
    return this.#statOf(inode);
  }

  // The simulator models files, directories, pipes and hard links (a create-only save links its
  // temporary file); symlinks, special files, owners and times are the real machine's business
  // (tests of them run there), so these calls say ENOTSUP.
  readLink(path: FilePath): Promise<Buffer> {
    return this.#unsupported('readlink', path);
  }

  makeSymlink(_target: FilePath, path: FilePath): Promise<void> {
    return this.#unsupported('symlink', path);
  }

  makeHardLink(existingPath: FilePath, targetPath: FilePath): Promise<void> {
    const existing = displayPath(existingPath);
    const target = displayPath(targetPath);
    return this.#call(`link ${existing}`, () => {
      const context = { operation: `link "${existing}" as`, path: target };
      const inode = this.fileSystem.lookup(existing);
      if (inode === undefined) throw fail('ENOENT', 'link', context);
      if (inode.kind === 'directory') throw fail('EPERM', 'link', context);
      if (this.fileSystem.lookup(target) !== undefined) throw fail('EEXIST', 'link', context);
      if (!this.fileSystem.parentIsDirectory(target)) throw fail('ENOENT', 'link', context);
      this.fileSystem.link(existing, target);
    });
  }

  makeNode(path: FilePath, _kind: NodeKind, _mode: number, _major: number, _minor: number): Promise<void> {
    return this.#unsupported('mknod', path);
  }

  setOwner(target: MetadataTarget, _uid: number, _gid: number): Promise<void> {
    return this.#unsupported('lchown', xattrPath(target));
  }

  setMode(target: MetadataTarget, _mode: number): Promise<void> {
    return this.#unsupported('chmod', xattrPath(target));
  }

  setTimes(target: MetadataTarget, _atimeNs: bigint, _mtimeNs: bigint): Promise<void> {
    return this.#unsupported('utimensat', xattrPath(target));
  }

  truncate(descriptor: Descriptor, sizeBytes: number): Promise<void> {
    return this.#call(`truncate ${descriptor.path}`, () => {
      const open = this.#check(descriptor, 'truncate');
      const data = Buffer.alloc(sizeBytes);
      open.inode.data.copy(data, 0, 0, Math.min(sizeBytes, open.inode.data.length));
      open.inode.data = data;
    });
  }

  removeDirectory(filePath: FilePath): Promise<void> {
    const path = displayPath(filePath);
    return this.#call(`rmdir ${path}`, () => this.#removeDirectoryPath(path));
  }

  #removeDirectoryPath(path: string): void {
    const context = { operation: 'remove directory', path };
    const inode = this.fileSystem.lookup(path);
    if (inode === undefined) throw fail('ENOENT', 'rmdir', context);
    if (inode.kind !== 'directory') throw fail('ENOTDIR', 'rmdir', context);
    if (this.fileSystem.list(path).length > 0) throw fail('EEXIST', 'rmdir', context);
    this.fileSystem.unlink(path);
  }

  #unsupported<T>(syscall: string, path: FilePath): Promise<T> {
    return this.#call(`${syscall} ${displayPath(path)}`, () => {
      throw new SystemCallError(errnoNumber('ENOTSUP'), syscall, { operation: syscall, path: displayPath(path) });
    });
  }

  #statOf(inode: SimInode): FileStat {
      return {
        kind: inode.kind,
        sizeBytes: inode.data.length,
        mode: 0o644,
        uid: 0,
        gid: 0,
        device: 1n,
        inode: BigInt(inode.number),
        linkCount: inode.linkCount,
        blocks: Math.ceil(inode.data.length / 512),
        atimeNs: inode.mtimeNs,
        mtimeNs: inode.mtimeNs,
        ctimeNs: inode.mtimeNs,
        deviceMajor: 0,
        deviceMinor: 0,
      };
  }

  release(descriptor: Descriptor, _ownership: Ownership): Promise<void> {
    return this.#call(`close ${descriptor.path}`, () => this.#remove(descriptor));
  }

  finalizeSync(descriptor: Descriptor, _ownership: Ownership, pending: PendingWrite[]): void {
    const open = this.#table.get(descriptor.fd);
    if (open !== undefined && open.descriptor.openId === descriptor.openId) {
      for (const { bytes, position } of pending) this.fileSystem.write(open.inode, position ?? open.offset, Buffer.from(bytes));
    }
    this.#remove(descriptor);
  }

  rename(sourcePath: FilePath, targetPath: FilePath): Promise<void> {
    const source = displayPath(sourcePath);
    const target = displayPath(targetPath);
    return this.#call(`rename ${source}`, () => {
      if (this.fileSystem.lookup(source) === undefined) throw fail('ENOENT', 'rename', { operation: 'rename', path: source });
      if (!this.fileSystem.parentIsDirectory(target)) throw fail('ENOENT', 'rename', { operation: 'rename', path: target });
      this.fileSystem.rename(source, target);
    });
  }

  unlink(filePath: FilePath): Promise<void> {
    const path = displayPath(filePath);
    return this.#call(`unlink ${path}`, () => this.#unlinkPath(path));
  }

  #unlinkPath(path: string): void {
    const inode = this.fileSystem.lookup(path);
    if (inode === undefined) throw fail('ENOENT', 'unlink', { operation: 'unlink', path });
    if (inode.kind === 'directory') throw fail('EISDIR', 'unlink', { operation: 'unlink', path });
    this.fileSystem.unlink(path);
  }

  makeDirectory(filePath: FilePath): Promise<void> {
    const path = displayPath(filePath);
    return this.#call(`mkdir ${path}`, () => this.#makeDirectoryPath(path));
  }

  #makeDirectoryPath(path: string): void {
    const context = { operation: 'make directory', path };
    if (this.fileSystem.lookup(path) !== undefined) throw fail('EEXIST', 'mkdir', context);
    if (!this.fileSystem.parentIsDirectory(path)) throw fail('ENOENT', 'mkdir', context);
    this.fileSystem.create(path, 'directory');
  }

  readDirectory(filePath: FilePath): Promise<Buffer[]> {
    const path = displayPath(filePath);
    return this.#call(`readdir ${path}`, () => {
      const inode = this.fileSystem.lookup(path);
      if (inode === undefined) throw fail('ENOENT', 'readdir', { operation: 'read directory', path });
      if (inode.kind !== 'directory') throw fail('ENOTDIR', 'readdir', { operation: 'read directory', path });
      return this.fileSystem.list(path).map((name) => Buffer.from(name));
    });
  }

  listXattrs(target: XattrTarget): Promise<string[]> {
    return this.#call('listxattr', () => [...this.#xattrInode(target, 'list xattrs of').xattrs.keys()].sort());
  }

  getXattr(target: XattrTarget, name: string): Promise<Buffer | null> {
    return this.#call('getxattr', () => {
      const value = this.#xattrInode(target, 'get xattr of').xattrs.get(name);
      return value === undefined ? null : Buffer.from(value);
    });
  }

  setXattr(target: XattrTarget, name: string, value: Uint8Array): Promise<void> {
    return this.#call('setxattr', () => {
      this.#xattrInode(target, 'set xattr of').xattrs.set(name, Buffer.from(value));
    });
  }

  removeXattr(target: XattrTarget, name: string): Promise<void> {
    return this.#call('removexattr', () => {
      const inode = this.#xattrInode(target, 'remove xattr of');
      if (!inode.xattrs.delete(name)) throw fail('ENODATA', 'removexattr', { operation: 'remove xattr of', path: xattrPath(target) });
    });
  }

  /** The simulator keeps no holes: all of a file is data, as POSIX allows. */
  seek(descriptor: Descriptor, offset: number, whence: 'data' | 'hole'): Promise<number | null> {
    return this.#call(`seek ${descriptor.path}`, () => {
      const size = this.#check(descriptor, 'seek').inode.data.length;
      if (offset >= size) return null;
      return whence === 'data' ? offset : size;
    });
  }

  allocate(descriptor: Descriptor, mode: AllocateMode, offset: number, length: number): Promise<void> {
    return this.#call(`fallocate ${descriptor.path}`, () => {
      const { inode } = this.#check(descriptor, 'allocate');
      const end = offset + length;
      if (mode === 'punch-hole' || mode === 'zero-range') {
        const zeroEnd = mode === 'punch-hole' ? Math.min(end, inode.data.length) : end;
        if (zeroEnd > offset) this.fileSystem.write(inode, offset, Buffer.alloc(zeroEnd - offset));
      } else if (mode === 'extend' && end > inode.data.length) {
        this.fileSystem.write(inode, inode.data.length, Buffer.alloc(end - inode.data.length));
      }
    });
  }

  clone(target: Descriptor, source: Descriptor): Promise<void> {
    return this.#call(`clone ${source.path}`, () => {
      const to = this.#check(target, 'clone into');
      const from = this.#check(source, 'clone from');
      this.fileSystem.truncate(to.inode, 0);
      this.fileSystem.write(to.inode, 0, Buffer.from(from.inode.data));
    });
  }

  freeze(descriptor: Descriptor, frozen: boolean): Promise<void> {
    return this.#call(`${frozen ? 'freeze' : 'thaw'} ${descriptor.path}`, () => {
      this.#check(descriptor, frozen ? 'freeze' : 'thaw');
      if (this.fileSystem.frozen === frozen) throw fail(frozen ? 'EBUSY' : 'EINVAL', frozen ? 'ioctl FIFREEZE' : 'ioctl FITHAW', { operation: frozen ? 'freeze' : 'thaw', path: descriptor.path });
      this.fileSystem.frozen = frozen;
    }, frozen ? () => true : undefined, false);
  }

  descriptorPath(): Buffer | null {
    return null;
  }

  /** One simulated call: its effect runs when the scheduler completes it. */
  #call<T>(label: string, effect: () => T, ready: () => boolean = () => true, mayBeLate = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#scheduler.add({
        label,
        late: mayBeLate && this.#prng.chance(this.#faults.late),
        ready,
        complete: () => {
          try {
            resolve(effect());
          } catch (error) {
            reject(error as Error);
          }
        },
      });
    });
  }

  #install(path: string, inode: SimInode, modes: HandleModes): Opened {
    let fd = 3;
    while (this.#table.has(fd)) fd++;
    const descriptor = newDescriptor(fd, path);
    this.#table.set(fd, { descriptor, inode, modes, offset: 0 });
    this.#opens++;
    return { descriptor, kind: inode.kind, modes };
  }

  #check(descriptor: Descriptor, operation: string): OpenFile {
    const open = this.#table.get(descriptor.fd);
    if (open === undefined || open.descriptor.openId !== descriptor.openId) {
      const now = open === undefined ? 'closed' : `reused by open ${open.descriptor.openId} of ${open.descriptor.path}`;
      this.violations.push(`${operation} reached fd ${descriptor.fd} of open ${descriptor.openId} (${descriptor.path}), which is ${now}`);
      throw fail('EBADF', operation, { operation, path: descriptor.path });
    }
    return open;
  }

  #remove(descriptor: Descriptor): void {
    const open = this.#check(descriptor, 'close');
    this.#table.delete(descriptor.fd);
    this.#releases++;
    if (open.inode.kind === 'fifo' && open.modes.access !== 'read') open.inode.writerClosed = true;
  }

  #readPipe(open: OpenFile, buffer: Buffer, offset: number, length: number, context: ErrorContext): number {
    const { inode } = open;
    if (inode.data.length === 0) {
      if (inode.writerClosed) return 0;
      throw fail('EAGAIN', 'read', context);
    }
    if (open.modes.nonBlocking && this.#prng.chance(this.#faults.again)) throw fail('EAGAIN', 'read', context);
    let count = Math.min(length, inode.data.length);
    if (count > 1 && this.#prng.chance(this.#faults.shortRead)) count = 1 + this.#prng.nextInt(count - 1);
    inode.data.copy(buffer, offset, 0, count);
    inode.data = inode.data.subarray(count);
    return count;
  }

  #xattrInode(target: XattrTarget, operation: string): SimInode {
    if ('descriptor' in target) return this.#check(target.descriptor, operation).inode;
    const path = 'path' in target ? normalize(displayPath(target.path)) : this.#below(target.directory, target.name, operation);
    const inode = this.fileSystem.lookup(path);
    if (inode === undefined) throw fail('ENOENT', 'lgetxattr', { operation, path });
    return inode;
  }
}

function fail(name: 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'EIO' | 'ENOSPC' | 'EAGAIN' | 'EBADF' | 'ENODATA' | 'EBUSY' | 'EINVAL' | 'EPERM', syscall: string, context: ErrorContext): SystemCallError {
  return new SystemCallError(errnoNumber(name), syscall, context);
}

function xattrPath(target: MetadataTarget): string {
  if ('descriptor' in target) return target.descriptor.path;
  if ('path' in target) return displayPath(target.path);
  return `${target.directory.path}/${displayPath(target.name)}`;
}
