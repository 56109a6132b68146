/**
 * IoCore: the one implementation of Io, generic over a Backend. Everything the rules ask of
 * handles, leases, modes and cancel lives here, so the real machine and the simulator run the
 * same code; backends only perform system calls.
 */
import { assert } from '../base/assert.js';
import { errnoNumber, holdfastError, isErrorCode, SystemCallError } from '../errors/holdfast-error.js';
import { displayPath, type FilePath } from '../base/file-path.js';
import type { AllocateMode, Backend, Cancellation, FileStat, MetadataTarget, NodeKind, OpenFlags, Opened, ReadyDirection } from './backend.js';
import type { Lease } from './buffer-pool.js';
import type { Descriptor } from './descriptor.js';
import { Handle, acquireHandle, expectKind } from './handle.js';
import { canRead, canWrite, type HandleKind } from './handle-kind.js';
import type { Io, MetadataSubject, NameAt, OpenOptions, TransferOptions, XattrSubject } from './io.js';
import { Operation, OperationFailure, OperationQueue, type OperationKind, type WorkContext, type WorkOutcome } from './operation.js';

export interface IoCoreOptions {
  /** Reads and writes running at once; more wait in a queue where cancel withdraws them. */
  operationsInFlightMax?: number;
}

export const operationsInFlightMaxDefault = 64;

export class IoCore implements Io {
  readonly #backend: Backend;
  readonly #queue: OperationQueue;

  constructor(backend: Backend, options: IoCoreOptions = {}) {
    this.#backend = backend;
    this.#queue = new OperationQueue(options.operationsInFlightMax ?? operationsInFlightMaxDefault);
  }

  async open(path: FilePath, options: OpenOptions = {}): Promise<Handle> {
    return this.#handle(await this.#backend.open(path, openFlags(options, false), options.mode ?? 0o666), 'owned');
  }

  async openFile(path: FilePath, options: OpenOptions = {}): Promise<Handle<'file'>> {
    const handle = await this.open(path, options);
    return this.#narrow(handle, 'file', 'open file');
  }

  async openDirectory(path: FilePath): Promise<Handle<'directory'>> {
    const opened = await this.#backend.open(path, openFlags({}, true), 0);
    return this.#narrow(this.#handle(opened, 'owned'), 'directory', 'open directory');
  }

  async standardStream(name: 'stdin' | 'stdout' | 'stderr'): Promise<Handle> {
    return this.#handle(await this.#backend.standardStream(name), 'borrowed');
  }

  read(handle: Handle, lease: Lease, options: TransferOptions = {}): Operation {
    return this.#submit('read', handle, lease, options.signal, (descriptor) => {
      if (!canRead(handle.modes)) {
        throw holdfastError('HOLDFAST_NOT_READABLE', { operation: 'read', path: handle.path }, `the handle was opened for ${handle.modes.access} only`);
      }
      rejectDirectory(handle, 'read');
      const position = checkPosition(handle, options, 'read');
      const offset = options.offsetBytes ?? 0;
      const length = options.lengthBytes ?? lease.sizeBytes - offset;
      checkRange(lease, offset, length);
      return (context) => this.#readWork(descriptor, context, offset, length, position);
    });
  }

  write(handle: Handle, lease: Lease, options: TransferOptions & { lengthBytes: number }): Operation {
    return this.#submit('write', handle, lease, options.signal, (descriptor) => {
      if (!canWrite(handle.modes)) {
        throw holdfastError('HOLDFAST_NOT_WRITABLE', { operation: 'write', path: handle.path }, `the handle was opened for ${handle.modes.access} only`);
      }
      rejectDirectory(handle, 'write');
      const position = checkPosition(handle, options, 'write');
      if (position !== null && handle.modes.append) {
        // pwrite() on an O_APPEND descriptor appends on Linux, whatever the position says.
        throw holdfastError('HOLDFAST_MODE_UNSUPPORTED', { operation: 'write', path: handle.path }, 'a positional write on an append-only handle would append');
      }
      const offset = options.offsetBytes ?? 0;
      checkRange(lease, offset, options.lengthBytes);
      return (context) => this.#writeWork(descriptor, context, offset, options.lengthBytes, position);
    });
  }

  sync(handle: Handle, options: { dataOnly?: boolean } = {}): Promise<void> {
    return this.#using(handle, 'sync', (descriptor) => this.#backend.sync(descriptor, options.dataOnly ?? false));
  }

  stat(handle: Handle): Promise<FileStat> {
    return this.#using(handle, 'stat', (descriptor) => this.#backend.stat(descriptor));
  }

  rename(source: FilePath, target: FilePath): Promise<void> {
    return this.#backend.rename(source, target);
  }

  unlink(path: FilePath): Promise<void> {
    return this.#backend.unlink(path);
  }

  makeDirectory(path: FilePath, options: { mode?: number } = {}): Promise<void> {
    return this.#backend.makeDirectory(path, options.mode ?? 0o777);
  }

  removeDirectory(path: FilePath): Promise<void> {
    return this.#backend.removeDirectory(path);
  }

  readDirectory(path: FilePath): Promise<Buffer[]> {
    return this.#backend.readDirectory(path);
  }

  lstat(path: FilePath): Promise<FileStat> {
    return this.#backend.lstat(path);
  }

  readLink(path: FilePath): Promise<Buffer> {
    return this.#backend.readLink(path);
  }

  makeSymlink(target: FilePath, path: FilePath): Promise<void> {
    return this.#backend.makeSymlink(target, path);
  }

  makeHardLink(existing: FilePath, path: FilePath): Promise<void> {
    return this.#backend.makeHardLink(existing, path);
  }

  makeNode(path: FilePath, kind: NodeKind, options: { mode: number; deviceMajor?: number; deviceMinor?: number }): Promise<void> {
    return this.#backend.makeNode(path, kind, options.mode, options.deviceMajor ?? 0, options.deviceMinor ?? 0);
  }

  setOwner(subject: MetadataSubject, uid: number, gid: number): Promise<void> {
    return this.#metadata(subject, 'set owner of', (target) => this.#backend.setOwner(target, uid, gid));
  }

  setMode(subject: MetadataSubject, mode: number): Promise<void> {
    return this.#metadata(subject, 'set mode of', (target) => this.#backend.setMode(target, mode));
  }

  setTimes(subject: MetadataSubject, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    return this.#metadata(subject, 'set times of', (target) => this.#backend.setTimes(target, atimeNs, mtimeNs));
  }

  async openAt(directory: Handle<'directory'>, relative: Buffer, options: OpenOptions = {}): Promise<Handle> {
    checkBelow(directory, relative, 'open', true);
    const flags = openFlags({ ...options, noFollow: true }, false);
    const opened = await this.#usingKind(directory, 'directory', 'open', (descriptor) => this.#backend.openAt(descriptor, relative, flags, options.mode ?? 0o666));
    return this.#handle(opened, 'owned');
  }

  async openFileAt(directory: Handle<'directory'>, relative: Buffer, options: OpenOptions = {}): Promise<Handle<'file'>> {
    return this.#narrow(await this.openAt(directory, relative, options), 'file', 'open file');
  }

  async openDirectoryAt(directory: Handle<'directory'>, relative: Buffer): Promise<Handle<'directory'>> {
    checkBelow(directory, relative, 'open directory', true);
    const opened = await this.#usingKind(directory, 'directory', 'open directory', (descriptor) => this.#backend.openAt(descriptor, relative, openFlags({ noFollow: true }, true), 0));
    return this.#narrow(this.#handle(opened, 'owned'), 'directory', 'open directory');
  }

  lstatAt(directory: Handle<'directory'>, name: Buffer): Promise<FileStat> {
    return this.#at(directory, name, 'stat', (descriptor) => this.#backend.statAt(descriptor, name));
  }

  makeDirectoryAt(directory: Handle<'directory'>, name: Buffer, options: { mode?: number } = {}): Promise<void> {
    return this.#at(directory, name, 'make directory', (descriptor) => this.#backend.makeDirectoryAt(descriptor, name, options.mode ?? 0o777));
  }

  unlinkAt(directory: Handle<'directory'>, name: Buffer): Promise<void> {
    return this.#at(directory, name, 'unlink', (descriptor) => this.#backend.unlinkAt(descriptor, name));
  }

  removeDirectoryAt(directory: Handle<'directory'>, name: Buffer): Promise<void> {
    return this.#at(directory, name, 'remove directory', (descriptor) => this.#backend.removeDirectoryAt(descriptor, name));
  }

  makeSymlinkAt(target: FilePath, directory: Handle<'directory'>, name: Buffer): Promise<void> {
    return this.#at(directory, name, 'make symlink', (descriptor) => this.#backend.makeSymlinkAt(target, descriptor, name));
  }

  makeHardLinkAt(existing: NameAt, directory: Handle<'directory'>, name: Buffer): Promise<void> {
    return this.#at(existing.directory, existing.name, 'link', (existingDescriptor) =>
      this.#at(directory, name, 'link', (descriptor) => this.#backend.makeHardLinkAt(existingDescriptor, existing.name, descriptor, name)),
    );
  }

  makeNodeAt(directory: Handle<'directory'>, name: Buffer, kind: NodeKind, options: { mode: number; deviceMajor?: number; deviceMinor?: number }): Promise<void> {
    return this.#at(directory, name, `make ${kind}`, (descriptor) => this.#backend.makeNodeAt(descriptor, name, kind, options.mode, options.deviceMajor ?? 0, options.deviceMinor ?? 0));
  }

  truncate(handle: Handle<'file'>, sizeBytes: number): Promise<void> {
    if (!canWrite(handle.modes)) {
      return Promise.reject(holdfastError('HOLDFAST_NOT_WRITABLE', { operation: 'truncate', path: handle.path }, `the handle was opened for ${handle.modes.access} only`));
    }
    return this.#usingKind(handle, 'file', 'truncate', (descriptor) => this.#backend.truncate(descriptor, sizeBytes));
  }

  listXattrs(subject: XattrSubject): Promise<string[]> {
    return this.#metadata(subject, 'list xattrs of', (target) => this.#backend.listXattrs(target));
  }

  getXattr(subject: XattrSubject, name: string): Promise<Buffer | null> {
    return this.#metadata(subject, 'get xattr of', (target) => this.#backend.getXattr(target, name));
  }

  setXattr(subject: XattrSubject, name: string, value: Uint8Array): Promise<void> {
    return this.#metadata(subject, 'set xattr of', (target) => this.#backend.setXattr(target, name, value));
  }

  removeXattr(subject: XattrSubject, name: string): Promise<void> {
    return this.#metadata(subject, 'remove xattr of', (target) => this.#backend.removeXattr(target, name));
  }

  seekData(handle: Handle<'file'>, offset: number): Promise<number | null> {
    return this.#usingKind(handle, 'file', 'seek data in', (descriptor) => this.#backend.seek(descriptor, offset, 'data'));
  }

  seekHole(handle: Handle<'file'>, offset: number): Promise<number | null> {
    return this.#usingKind(handle, 'file', 'seek hole in', (descriptor) => this.#backend.seek(descriptor, offset, 'hole'));
  }

  allocate(handle: Handle<'file'>, mode: AllocateMode, offset: number, length: number): Promise<void> {
    if (!canWrite(handle.modes)) {
      return Promise.reject(holdfastError('HOLDFAST_NOT_WRITABLE', { operation: 'allocate', path: handle.path }, `the handle was opened for ${handle.modes.access} only`));
    }
    return this.#usingKind(handle, 'file', 'allocate', (descriptor) => this.#backend.allocate(descriptor, mode, offset, length));
  }

  async cloneFile(target: Handle<'file'>, source: Handle<'file'>): Promise<void> {
    expectKind(source, 'file', 'clone from');
    const sourceReference = acquireHandle(source, 'clone from');
    try {
      await this.#usingKind(target, 'file', 'clone into', (descriptor) => this.#backend.clone(descriptor, sourceReference.descriptor));
    } finally {
      sourceReference.release();
    }
  }

  async lendDirectory<T>(directory: Handle<'directory'>, work: (path: Buffer) => Promise<T>): Promise<T | null> {
    return this.#usingKind(directory, 'directory', 'lend', async (descriptor) => {
      const path = this.#backend.descriptorPath(descriptor);
      return path === null ? null : await work(path);
    });
  }

  freeze(mountPoint: Handle<'directory'>): Promise<void> {
    return this.#usingKind(mountPoint, 'directory', 'freeze', (descriptor) => this.#backend.freeze(descriptor, true));
  }

  thaw(mountPoint: Handle<'directory'>): Promise<void> {
    return this.#usingKind(mountPoint, 'directory', 'thaw', (descriptor) => this.#backend.freeze(descriptor, false));
  }

  /**
   * Takes the handle reference first (a closed handle is refused before anything else), runs the
   * mode checks in `prepare`, and only then lends the lease to a new Operation. A failed check
   * gives the reference back and leaves the lease with its holder: no I/O has happened.
   */
  #submit(kind: OperationKind, handle: Handle, lease: Lease, signal: AbortSignal | undefined, prepare: (descriptor: Descriptor) => (context: WorkContext) => Promise<WorkOutcome>): Operation {
    const reference = acquireHandle(handle, kind);
    try {
      const work = prepare(reference.descriptor);
      return new Operation({ kind, lease, reference, queue: this.#queue, signal, work });
    } catch (error) {
      reference.release();
      throw error;
    }
  }

  #handle(opened: Opened, ownership: 'owned' | 'borrowed'): Handle {
    return new Handle({ ...opened, path: opened.descriptor.path, ownership, releaser: this.#backend });
  }

  /** Closes a handle of the wrong kind before failing, so a failed open leaks nothing. */
  async #narrow<K extends HandleKind>(handle: Handle, kind: K, operation: string): Promise<Handle<K>> {
    try {
      expectKind(handle, kind, operation);
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Runs one call while holding a reference, so close() waits for it. */
  async #using<T>(handle: Handle, operation: string, call: (descriptor: Descriptor) => Promise<T>): Promise<T> {
    const reference = acquireHandle(handle, operation);
    try {
      return await call(reference.descriptor);
    } finally {
      reference.release();
    }
  }

  #usingKind<T>(handle: Handle, kind: HandleKind, operation: string, call: (descriptor: Descriptor) => Promise<T>): Promise<T> {
    try {
      expectKind(handle, kind, operation);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.#using(handle, operation, call);
  }

  #metadata<T>(subject: MetadataSubject, operation: string, call: (target: MetadataTarget) => Promise<T>): Promise<T> {
    if (typeof subject === 'string' || Buffer.isBuffer(subject)) return call({ path: subject });
    if (subject instanceof Handle) return this.#using(subject, operation, (descriptor) => call({ descriptor }));
    return this.#at(subject.directory, subject.name, operation, (directory) => call({ directory, name: subject.name }));
  }

  /** Checks that `name` is one component and runs the call holding the directory handle. */
  #at<T>(directory: Handle<'directory'>, name: Buffer, operation: string, call: (descriptor: Descriptor) => Promise<T>): Promise<T> {
    try {
      checkBelow(directory, name, operation, false);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.#usingKind(directory, 'directory', operation, call);
  }

  async #readWork(descriptor: Descriptor, context: WorkContext, offset: number, length: number, position: number | null): Promise<WorkOutcome> {
    for (;;) {
      let transferred: number | null;
      try {
        transferred = await this.#backend.read(descriptor, context.buffer, offset, length, position, context.cancel);
      } catch (error) {
        if (await this.#retryAfter(error, descriptor, 'read', context.cancel, 0)) continue;
        if (context.cancel.cancelRequested && isErrorCode(error, 'EAGAIN')) return { status: 'cancelled', bytesTransferred: 0 };
        throw new OperationFailure(error as Error, 0);
      }
      if (transferred === null) return { status: 'cancelled', bytesTransferred: 0 };
      assert(transferred >= 0 && transferred <= length, `backend read ${transferred} of ${length} bytes`);
      return { status: 'completed', bytesTransferred: transferred };
    }
  }

  async #writeWork(descriptor: Descriptor, context: WorkContext, offset: number, length: number, position: number | null): Promise<WorkOutcome> {
    let done = 0;
    while (done < length) {
      // A cancel is honoured between steps: what was written stays written and is reported.
      if (context.cancel.cancelRequested) return { status: 'cancelled', bytesTransferred: done };
      let transferred: number | null;
      try {
        const at = position === null ? null : position + done;
        transferred = await this.#backend.write(descriptor, context.buffer, offset + done, length - done, at, context.cancel);
      } catch (error) {
        if (await this.#retryAfter(error, descriptor, 'write', context.cancel, done)) continue;
        if (context.cancel.cancelRequested && isErrorCode(error, 'EAGAIN')) return { status: 'cancelled', bytesTransferred: done };
        throw new OperationFailure(error as Error, done);
      }
      if (transferred === null) return { status: 'cancelled', bytesTransferred: done };
      assert(transferred >= 0 && transferred <= length - done, `backend wrote ${transferred} of ${length - done} bytes`);
      if (transferred === 0) {
        throw new OperationFailure(new SystemCallError(errnoNumber('EIO'), 'write', { operation: 'write', path: descriptor.path }), done);
      }
      done += transferred;
    }
    return { status: 'completed', bytesTransferred: done };
  }

  /**
   * EINTR: try again. EAGAIN: wait until ready (false when cancelled meanwhile). A wait that
   * fails is reported with the bytes already transferred, so a result never understates them.
   */
  async #retryAfter(error: unknown, descriptor: Descriptor, direction: ReadyDirection, cancel: Cancellation, bytesTransferred: number): Promise<boolean> {
    if (isErrorCode(error, 'EINTR')) return true;
    if (!isErrorCode(error, 'EAGAIN')) return false;
    try {
      return await this.#backend.waitReady(descriptor, direction, cancel);
    } catch (waitError) {
      throw new OperationFailure(waitError as Error, bytesTransferred);
    }
  }
}

function openFlags(options: OpenOptions, directory: boolean): OpenFlags {
  return {
    access: options.access ?? 'read',
    create: options.create !== undefined && options.create !== false,
    exclusive: options.create === 'exclusive',
    truncate: options.truncate ?? false,
    append: options.append ?? false,
    directory,
    noFollow: options.noFollow ?? false,
    nonBlocking: options.nonBlocking ?? false,
  };
}

const slash = 0x2f;
const nul = 0x00;

/**
 * Names below a held directory: one component (or several for `relative`), none empty, "." or
 * "..", and no NUL. A name that breaks this is refused before any I/O: it would leave the
 * directory, or name something else than the caller meant.
 */
function checkBelow(directory: Handle, name: Buffer, operation: string, relative: boolean): void {
  let start = 0;
  for (let index = 0; index <= name.length; index++) {
    if (index < name.length && name[index] !== slash) {
      if (name[index] === nul) break;
      continue;
    }
    const component = name.subarray(start, index);
    const bad = component.length === 0 || (component.length <= 2 && component.every((byte) => byte === 0x2e));
    if (bad || (!relative && index < name.length)) break;
    start = index + 1;
    if (index === name.length) return;
  }
  throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation, path: `${directory.path}/${displayPath(name)}` }, relative ? 'a path below a held directory must be components without ".", ".." or NUL' : 'a name in a held directory must be one component, not "." or "..", without "/" or NUL');
}

function rejectDirectory(handle: Handle, operation: string): void {
  if (handle.kind === 'directory') {
    throw holdfastError('HOLDFAST_HANDLE_KIND', { operation, path: handle.path }, 'a directory cannot be read or written as a file');
  }
}

function checkPosition(handle: Handle, options: TransferOptions, operation: string): number | null {
  if (options.position === undefined) return null;
  if (!handle.modes.seekable) {
    throw holdfastError('HOLDFAST_NOT_SEEKABLE', { operation, path: handle.path }, `a ${handle.kind} has no positions to read or write at`);
  }
  assert(Number.isSafeInteger(options.position) && options.position >= 0, 'position must be a non-negative integer');
  return options.position;
}

function checkRange(lease: Lease, offset: number, length: number): void {
  assert(Number.isSafeInteger(offset) && offset >= 0, 'offsetBytes must be a non-negative integer');
  assert(Number.isSafeInteger(length) && length >= 0, 'lengthBytes must be a non-negative integer');
  assert(offset + length <= lease.sizeBytes, `${offset} + ${length} bytes do not fit a lease of ${lease.sizeBytes}`);
}
