/**
 * Restorer: an EntrySink that recreates entries under a target directory (BackupWrite).
 *
 * - Names go through SafeTarget: nothing outside the target is created, changed or followed,
 *   even while another process swaps directories of the target for symlinks (rule D4): every
 *   entry is made with a *at call on a held directory handle, and its metadata is set through
 *   its own open handle (files, directories) or by its name in that held directory.
 * - Files: created exclusively; a sparse file is sized with ftruncate and only its data extents
 *   are written, so holes stay holes; the data must be exactly what the header promised.
 * - Hardlinks become links, and only to entries this restore created (never to anything else).
 * - Metadata in the order that keeps it: owner (chown clears setuid and capabilities), mode,
 *   ACLs, xattrs, then times. Directories get mode, ACLs and times at finish(), deepest first,
 *   so that their children can be written and a default ACL is not inherited by restored children.
 * - Owners, security.* and trusted.* xattrs only when asked and able (options.owners / root).
 *
 * A problem with one entry (an unsafe name, a failed system call) refuses that entry through
 * onRefused and the restore goes on; an error thrown by the caller's decoder stops it, and
 * finish() still sets what is due on the directories restored so far.
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import { aclXattrNames, encodeAclXattr } from '../format/acl-xattr.js';
import { entryDataBytes, type EntryHeader, type Extent } from '../format/entry.js';
import type { BufferPool, Lease } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { Io, MetadataSubject } from '../io/io.js';
import { writeAll } from '../io/transfer.js';
import type { OwnerNames } from '../source/owner-names.js';
import type { EntrySink } from './entry-pipe.js';
import type { CreatedFile, FileToCreate, RestoreBatches } from './restore-batches.js';
import { SafeTarget, type PlacedPath } from './safe-target.js';

export interface RestoreOptions {
  /** Restore uid and gid (fchown, fchownat); needs root. */
  owners: boolean;
  /** Use the numeric ids even where the owner names exist on this machine. */
  numericOwner: boolean;
  acls: boolean;
  xattrs: boolean;
  /** Restore trusted.* and security.* xattrs (needs CAP_SYS_ADMIN); user.* always go with `xattrs`. */
  privilegedXattrs: boolean;
  ownerNames: OwnerNames;
  /** Something about an entry could not be restored exactly (it is still there). */
  onWarning: (path: string, message: string) => void;
  /** An entry was not restored. */
  onRefused: (path: string, error: Error) => void;
  /** The mode of parent directories the input does not list, less the umask; default 0o700. */
  implicitDirectoryMode?: number;
  /** Create small files many at a time in their directory (restore-batches.ts); without it, one by one through Io. */
  batches?: RestoreBatches;
}

export interface RestoreSummary {
  entriesRestored: number;
  entriesRefused: number;
  dataBytes: number;
  warnings: number;
}

interface OpenFile {
  placed: PlacedPath;
  header: EntryHeader;
  handle: Handle<'file'>;
  extents: Extent[];
  extentIndex: number;
  /** Bytes of the current extent already taken. */
  extentOffset: number;
  /** Where the bytes in the lease go. */
  leasePosition: number;
  leaseFilled: number;
  dataBytes: number;
}

/** A small file whose bytes are gathered in memory, to be created with others of its directory in one batch. */
interface SmallFile {
  placed: PlacedPath;
  header: EntryHeader;
  data: Buffer;
  filled: number;
}

/** Small files of one directory waiting to be created together. */
interface Batch {
  parent: Buffer;
  files: SmallFile[];
  bytes: number;
}

/** Files in one batch, and their bytes over all of them. */
const batchFilesMax = 64;
const batchBytesMax = 1024 * 1024;

type Current = { kind: 'none' } | { kind: 'skip'; name: string } | { kind: 'file'; file: OpenFile } | { kind: 'small'; file: SmallFile } | { kind: 'other' };

interface DeferredDirectory {
  placed: PlacedPath;
  header: EntryHeader;
  depth: number;
}

export class Restorer implements EntrySink {
  readonly #io: Io;
  readonly #safe: SafeTarget;
  readonly #pool: BufferPool;
  readonly #options: RestoreOptions;
  readonly #restoredNonDirectories: Set<string>;
  readonly #directories: DeferredDirectory[] = [];
  #current: Current = { kind: 'none' };
  #lease: Lease | null = null;
  #batch: Batch | null = null;
  readonly #summary: RestoreSummary = { entriesRestored: 0, entriesRefused: 0, dataBytes: 0, warnings: 0 };

  /**
   * `target` must be an existing directory; its own path may contain symlinks (the user chose it).
   * Restorers that share one target at once (a parallel restore) share `restoredNonDirectories`,
   * so that a hardlink may point at a file another of them restored.
   */
  constructor(io: Io, target: Buffer, pool: BufferPool, options: RestoreOptions, shared: { restoredNonDirectories: Set<string> } = { restoredNonDirectories: new Set() }) {
    this.#restoredNonDirectories = shared.restoredNonDirectories;
    this.#io = io;
    this.#safe = new SafeTarget(io, target, options.implicitDirectoryMode === undefined ? {} : { implicitDirectoryMode: options.implicitDirectoryMode });
    this.#pool = pool;
    this.#options = options;
  }

  async beginEntry(header: EntryHeader): Promise<void> {
    const name = displayPath(header.path);
    try {
      const placed = this.#safe.place(header.path);
      if (placed === null) {
        this.#current = { kind: 'skip', name };
        return;
      }
      if (placed.hadLeadingSlash) this.#warn(name, 'removed the leading "/" from the name');
      const batches = this.#options.batches;
      if (batches !== undefined && header.type === 'file' && header.sparseMap === null && header.sizeBytes <= batches.fileBytesMax) {
        if (this.#batch !== null && !this.#batch.parent.equals(placed.parent)) await this.#createBatch();
        this.#current = { kind: 'small', file: { placed, header, data: Buffer.allocUnsafe(header.sizeBytes), filled: 0 } };
        return;
      }
      await this.#createBatch();
      await this.#beginOne(placed, header);
    } catch (error) {
      this.#refuse(name, error as Error);
    }
  }

  /** Creates one entry the call-by-call way (an entry of another kind, or a batch's file whose name was taken). */
  async #beginOne(placed: PlacedPath, header: EntryHeader): Promise<void> {
    await this.#safe.withParent(placed, true, async (directory) => {
      this.#restoredNonDirectories.delete(placed.key);
      // Made at once (every create is exclusive); only a name that is taken is looked at and
      // cleared: into an empty target that saves a stat per entry (issue 17).
      try {
        await this.#create(directory, placed, header, false);
      } catch (error) {
        if (!isErrorCode(error, 'EEXIST')) throw error;
        const existingDirectoryKept = await this.#safe.clearFinal(directory, placed, header.type === 'directory');
        await this.#create(directory, placed, header, existingDirectoryKept);
      }
    });
  }

  /** Creates the small files waiting in a batch (a hardlink to one of them may come next). */
  async createWaiting(): Promise<void> {
    await this.#createBatch();
  }

  async writeData(bytes: Buffer): Promise<void> {
    const current = this.#current;
    if (current.kind === 'small') {
      const file = current.file;
      if (file.filled + bytes.length > file.data.length) {
        this.#refuse(displayPath(file.placed.relative), holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'import', path: displayPath(file.placed.relative) }, `more data than the header's ${file.header.sizeBytes} bytes`));
        return;
      }
      bytes.copy(file.data, file.filled);
      file.filled += bytes.length;
      this.#summary.dataBytes += bytes.length;
      return;
    }
    if (current.kind !== 'file') return;
    try {
      await this.#write(current.file, bytes);
    } catch (error) {
      await this.#abandonFile(current.file, error as Error);
    }
  }

  async endEntry(): Promise<void> {
    const current = this.#current;
    this.#current = { kind: 'none' };
    if (current.kind === 'small') {
      const file = current.file;
      if (file.filled !== file.data.length) {
        this.#refuse(displayPath(file.placed.relative), holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'import', path: displayPath(file.placed.relative) }, `got ${file.filled} data bytes, the header promised ${file.data.length}`));
        return;
      }
      const batch = (this.#batch ??= { parent: file.placed.parent, files: [], bytes: 0 });
      batch.files.push(file);
      batch.bytes += file.data.length;
      if (batch.files.length >= batchFilesMax || batch.bytes >= batchBytesMax) await this.#createBatch();
      return;
    }
    if (current.kind !== 'file') return;
    const file = current.file;
    try {
      await this.#flush(file);
      if (file.dataBytes !== entryDataBytes(file.header)) {
        throw holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'import', path: displayPath(file.placed.relative) }, `got ${file.dataBytes} data bytes, the header promised ${entryDataBytes(file.header)}`);
      }
      await this.#applyMetadata(file.handle, displayPath(file.placed.relative), file.header);
      await file.handle.close();
      this.#restoredNonDirectories.add(file.placed.key);
      this.#summary.entriesRestored++;
    } catch (error) {
      await this.#abandonFile(file, error as Error);
    }
  }

  /**
   * Gives up the entry begun last, whose data cannot be had (a chunk is missing or damaged): a
   * file begun is closed and removed, so no half-written file is left. Nothing is reported here;
   * the caller says why. The next entry may begin after it.
   */
  async abandonEntry(): Promise<void> {
    const current = this.#current;
    this.#current = { kind: 'none' };
    if (current.kind !== 'file') return;
    await this.#removeFile(current.file);
  }

  /**
   * Ends the restore: an unfinished file (the input broke off) is removed, and directories get
   * their mode, ACLs and times. Call it whether or not decoding succeeded.
   */
  async finish(): Promise<RestoreSummary> {
    const current = this.#current;
    this.#current = { kind: 'none' };
    if (current.kind === 'file') await this.#removeFile(current.file);
    this.#lease?.release();
    this.#lease = null;
    this.#directories.sort((a, b) => b.depth - a.depth);
    try {
      // Files whose data all came are made, even when the input broke off after them.
      await this.#createBatch();
      for (const { placed, header } of this.#directories) {
        const shown = displayPath(placed.relative);
        // A directory removed or replaced since (no longer a real directory) is left alone.
        await this.#attempt(shown, async () => {
          await this.#safe.withDirectory(placed, async (handle) => {
            await this.#io.setMode(handle, header.mode);
            await this.#applyAcls(handle, header);
            await this.#io.setTimes(handle, header.atimeNs, header.mtimeNs);
          });
        });
      }
    } finally {
      await this.#safe.close();
    }
    return { ...this.#summary };
  }

  /**
   * Creates the waiting small files of one directory in one batch. A file whose name is taken,
   * and every file of a batch that could not run, is made the call-by-call way instead.
   */
  async #createBatch(): Promise<void> {
    const batch = this.#batch;
    this.#batch = null;
    if (batch === null || batch.files.length === 0) return;
    const batches = this.#options.batches!;
    const first = batch.files[0]!.placed;
    let outcomes: CreatedFile[] | null = null;
    try {
      outcomes = await this.#safe.withParent(first, true, (directory) => batches.createFiles(directory, batch.files.map((file) => this.#toCreate(file))));
    } catch {
      // The directory could not be had, or the job failed as a whole: file by file, which reports.
    }
    for (const [index, file] of batch.files.entries()) {
      const shown = displayPath(file.placed.relative);
      const outcome = outcomes?.[index] ?? { kind: 'exists' };
      if (outcome.kind === 'created') {
        for (const warning of outcome.warnings) this.#warn(shown, warning.message);
        this.#restoredNonDirectories.add(file.placed.key);
        this.#summary.entriesRestored++;
      } else if (outcome.kind === 'failed') {
        this.#refuse(shown, outcome.error);
      } else {
        await this.#createOne(file);
      }
    }
  }

  /** A batch's file made the call-by-call way: its name cleared if taken, then created and written. */
  async #createOne(file: SmallFile): Promise<void> {
    const shown = displayPath(file.placed.relative);
    try {
      this.#restoredNonDirectories.delete(file.placed.key);
      await this.#beginOne(file.placed, file.header);
    } catch (error) {
      this.#refuse(shown, error as Error);
      return;
    }
    const current = this.#current;
    if (current.kind !== 'file') return;
    this.#summary.dataBytes -= file.data.length;
    await this.writeData(file.data);
    await this.endEntry();
  }

  /** What a worker needs to make a small file as #applyMetadata would. */
  #toCreate(file: SmallFile): FileToCreate {
    const { header } = file;
    const xattrs = this.#options.xattrs ? header.xattrs.filter(({ name }) => name !== aclXattrNames.access && name !== aclXattrNames.default && (this.#options.privilegedXattrs || !(name.startsWith('trusted.') || name.startsWith('security.')))) : [];
    return {
      name: file.placed.name,
      data: file.data,
      owner: this.#options.owners ? { uid: this.#ownerId('user', header), gid: this.#ownerId('group', header) } : null,
      mode: header.mode,
      xattrsFirst: xattrs.filter(({ name }) => name !== 'security.capability'),
      acl: this.#options.acls && header.aclAccess !== null ? encodeAclXattr(header.aclAccess) : null,
      xattrsLast: xattrs.filter(({ name }) => name === 'security.capability'),
      atimeNs: header.atimeNs,
      mtimeNs: header.mtimeNs,
    };
  }

  /** Closes a file begun and removes it from its held parent: no half-written file is left. */
  async #removeFile(file: OpenFile): Promise<void> {
    await file.handle.close();
    await this.#safe.withParent(file.placed, false, (directory) => this.#io.unlinkAt(directory, file.placed.name)).catch(() => {});
  }

  /** Makes the entry in `directory`, its parent, held (and pinned) by the caller. */
  async #create(directory: Handle<'directory'>, placed: PlacedPath, header: EntryHeader, existingDirectoryKept: boolean): Promise<void> {
    const io = this.#io;
    const shown = displayPath(placed.relative);
    const at = { directory, name: placed.name };
    switch (header.type) {
      case 'directory': {
        if (!existingDirectoryKept) await io.makeDirectoryAt(directory, placed.name, { mode: 0o700 });
        const opened = await this.#safe.withDirectory(placed, (handle) => this.#applyOwnerAndXattrs(handle, shown, header));
        if (!opened) throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'import', path: shown }, 'it was replaced by something that is not a directory while it was restored, and is never followed');
        this.#directories.push({ placed, header, depth: placed.relative.toString('latin1').split('/').length });
        this.#summary.entriesRestored++;
        this.#current = { kind: 'other' };
        return;
      }
      case 'file':
        await this.#openFile(directory, placed, header);
        return;
      case 'symlink':
        if (header.linkTarget === null) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'import', path: shown }, 'a symlink without a target');
        await io.makeSymlinkAt(header.linkTarget, directory, placed.name);
        break;
      case 'hardlink':
        await this.#link(directory, placed, header);
        this.#restoredNonDirectories.add(placed.key);
        this.#summary.entriesRestored++;
        this.#current = { kind: 'other' };
        return;
      case 'fifo':
      case 'socket':
        await io.makeNodeAt(directory, placed.name, header.type, { mode: header.mode & 0o777 });
        break;
      case 'character-device':
      case 'block-device':
        await io.makeNodeAt(directory, placed.name, header.type === 'character-device' ? 'char-device' : 'block-device', {
          mode: header.mode & 0o777,
          deviceMajor: header.deviceMajor,
          deviceMinor: header.deviceMinor,
        });
        break;
    }
    await this.#applyMetadata(at, shown, header);
    this.#restoredNonDirectories.add(placed.key);
    this.#summary.entriesRestored++;
    this.#current = { kind: 'other' };
  }

  async #link(directory: Handle<'directory'>, placed: PlacedPath, header: EntryHeader): Promise<void> {
    const shown = displayPath(placed.relative);
    if (header.linkTarget === null) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'import', path: shown }, 'a hardlink without a target');
    let source: PlacedPath | null;
    try {
      source = this.#safe.place(header.linkTarget);
    } catch (error) {
      throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'import', path: shown, cause: error }, `the hardlink's target "${displayPath(header.linkTarget)}" is unsafe`);
    }
    if (source === null || !this.#restoredNonDirectories.has(source.key)) {
      throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'import', path: shown }, `the hardlink's target "${displayPath(header.linkTarget)}" is not a file this import restored`);
    }
    await this.#safe.withParent(source, false, (sourceDirectory) => this.#io.makeHardLinkAt({ directory: sourceDirectory, name: source.name }, directory, placed.name));
  }

  async #openFile(directory: Handle<'directory'>, placed: PlacedPath, header: EntryHeader): Promise<void> {
    const handle = await this.#io.openFileAt(directory, placed.name, { access: 'write', create: 'exclusive', mode: 0o600 });
    try {
      if (header.sparseMap !== null) await this.#io.truncate(handle, header.sizeBytes);
      this.#lease ??= await this.#pool.acquire();
    } catch (error) {
      await handle.close();
      throw error;
    }
    const extents = header.sparseMap ?? [{ offsetBytes: 0, lengthBytes: header.sizeBytes }];
    const file: OpenFile = { placed, header, handle, extents, extentIndex: 0, extentOffset: 0, leasePosition: extents[0]?.offsetBytes ?? 0, leaseFilled: 0, dataBytes: 0 };
    this.#current = { kind: 'file', file };
  }

  /** Copies bytes into the lease and writes it out whenever it is full or an extent ends. */
  async #write(file: OpenFile, bytes: Buffer): Promise<void> {
    const lease = this.#lease!;
    let offset = 0;
    while (offset < bytes.length) {
      const extent = file.extents[file.extentIndex];
      if (extent === undefined) throw holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'import', path: displayPath(file.placed.relative) }, `more data than the header's ${entryDataBytes(file.header)} bytes`);
      const count = Math.min(bytes.length - offset, extent.lengthBytes - file.extentOffset, lease.sizeBytes - file.leaseFilled);
      bytes.copy(lease.bytes, file.leaseFilled, offset, offset + count);
      offset += count;
      file.leaseFilled += count;
      file.extentOffset += count;
      file.dataBytes += count;
      this.#summary.dataBytes += count;
      if (file.extentOffset === extent.lengthBytes || file.leaseFilled === lease.sizeBytes) await this.#flush(file);
      if (file.extentOffset === extent.lengthBytes) {
        file.extentIndex++;
        file.extentOffset = 0;
        file.leasePosition = file.extents[file.extentIndex]?.offsetBytes ?? file.leasePosition;
      }
    }
  }

  async #flush(file: OpenFile): Promise<void> {
    if (file.leaseFilled === 0) return;
    await writeAll(this.#io, file.handle, this.#lease!, { position: file.leasePosition, lengthBytes: file.leaseFilled });
    file.leasePosition += file.leaseFilled;
    file.leaseFilled = 0;
  }

  async #abandonFile(file: OpenFile, error: Error): Promise<void> {
    this.#current = { kind: 'skip', name: displayPath(file.placed.relative) };
    await this.#removeFile(file);
    this.#refuse(displayPath(file.placed.relative), error);
  }

  /**
   * Metadata of a file (through its open handle), a symlink or a special file (by its name in
   * the held parent, never followed). Directories get theirs through their own handle.
   */
  async #applyMetadata(subject: MetadataSubject, shown: string, header: EntryHeader): Promise<void> {
    await this.#applyOwnerAndXattrs(subject, shown, header);
    if (header.type === 'symlink') {
      await this.#attempt(shown, () => this.#io.setTimes(subject, header.atimeNs, header.mtimeNs));
      return;
    }
    await this.#attempt(shown, async () => {
      await this.#io.setMode(subject, header.mode);
      await this.#applyAcls(subject, header);
      await this.#applyXattrs(subject, shown, header, (name) => name === 'security.capability');
      await this.#io.setTimes(subject, header.atimeNs, header.mtimeNs);
    });
  }

  /** Owner first: chown clears setuid, setgid and security.capability, which come after it. */
  async #applyOwnerAndXattrs(subject: MetadataSubject, shown: string, header: EntryHeader): Promise<void> {
    if (this.#options.owners) {
      await this.#attempt(shown, () => this.#io.setOwner(subject, this.#ownerId('user', header), this.#ownerId('group', header)));
    }
    await this.#applyXattrs(subject, shown, header, (name) => name !== 'security.capability');
  }

  async #applyXattrs(subject: MetadataSubject, shown: string, header: EntryHeader, which: (name: string) => boolean): Promise<void> {
    if (!this.#options.xattrs) return;
    for (const { name, value } of header.xattrs) {
      if (!which(name)) continue;
      const privileged = name.startsWith('trusted.') || name.startsWith('security.');
      if (privileged && !this.#options.privilegedXattrs) continue;
      if (name === aclXattrNames.access || name === aclXattrNames.default) continue;
      await this.#attempt(shown, () => this.#io.setXattr(subject, name, value));
    }
  }

  async #applyAcls(subject: MetadataSubject, header: EntryHeader): Promise<void> {
    if (!this.#options.acls) return;
    if (header.aclAccess !== null) await this.#io.setXattr(subject, aclXattrNames.access, encodeAclXattr(header.aclAccess));
    if (header.aclDefault !== null && header.type === 'directory') await this.#io.setXattr(subject, aclXattrNames.default, encodeAclXattr(header.aclDefault));
  }

  #ownerId(kind: 'user' | 'group', header: EntryHeader): number {
    const name = kind === 'user' ? header.userName : header.groupName;
    const id = kind === 'user' ? header.uid : header.gid;
    if (this.#options.numericOwner || name === null) return id;
    return this.#options.ownerNames.idOf(kind, name) ?? id;
  }

  /** Runs one metadata step; a failure is a warning: the entry exists, not exactly as it was. */
  async #attempt(shown: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      this.#warn(shown, (error as Error).message);
    }
  }

  #warn(shown: string, message: string): void {
    this.#summary.warnings++;
    this.#options.onWarning(shown, message);
  }

  #refuse(shown: string, error: Error): void {
    this.#summary.entriesRefused++;
    this.#current = { kind: 'skip', name: shown };
    this.#options.onRefused(shown, error);
  }
}
