/**
 * LocalBackend: a repository in a directory, written through the Io interface (so the same code
 * runs on the simulator's torn writes and lost unsynced data).
 *
 *   config                 data/<2 hex>/<64 hex>   index/<64 hex>   snapshots/<64 hex>   keys/<64 hex>
 *
 * A save writes a temporary file beside its target (`.tmp-...`, exclusive create, mode 0600),
 * syncs it, renames it over the final name and syncs the directory (rule D1): a crash leaves
 * either the whole file or a temporary file that list() never shows. Nothing is rewritten in
 * place; a name saved twice gets the same bytes, because names are hashes of the content.
 * A create-only save links the synced temporary file to its name instead of renaming it, so a
 * taken name fails with EEXIST (link(2) never replaces) and a reader never sees a partial file.
 */
import { randomBytes } from 'node:crypto';
import { holdfastError, isErrorCode } from '../../errors/holdfast-error.js';
import type { BufferPool } from '../../io/buffer-pool.js';
import type { Handle } from '../../io/handle.js';
import type { Io } from '../../io/io.js';
import { readOnce, writeAll } from '../../io/transfer.js';
import { OpenPackFiles } from './open-pack-files.js';
import { fileKinds, wholeFileBytesMax, type Backend, type ByteRange, type FileKind, type SaveOptions, type StoredFile } from './backend.js';

const namePattern = /^[0-9a-f]{64}$/;
const temporaryPrefix = '.tmp-';

export class LocalBackend implements Backend {
  readonly location: string;
  readonly #io: Io;
  readonly #pool: BufferPool;

  /** Null unless asked for: then close() must be called. */
  readonly #packFiles: OpenPackFiles | null;

  /**
   * `pool` lends the buffers that bytes pass through on their way to and from the files. With
   * `packFilesOpenMax`, ranged reads of packs keep up to that many pack files open between reads
   * (open-pack-files.ts) until close().
   */
  constructor(io: Io, location: string, pool: BufferPool, options: { packFilesOpenMax?: number } = {}) {
    this.#io = io;
    this.location = location.replace(/\/+$/, '') || '/';
    this.#pool = pool;
    this.#packFiles = options.packFilesOpenMax === undefined ? null : new OpenPackFiles(io, options.packFilesOpenMax, (handle, range) => this.#readRange(handle, range));
  }

  async close(): Promise<void> {
    await this.#packFiles?.close();
  }

  async create(): Promise<void> {
    const parts = this.location.split('/');
    for (let length = 2; length < parts.length; length++) await this.#makeDirectory(parts.slice(0, length).join('/') || '/');
    await this.#makeDirectory(this.location);
    for (const kind of fileKinds) await this.#makeDirectory(`${this.location}/${kind}`);
    for (let prefix = 0; prefix < 256; prefix++) await this.#makeDirectory(`${this.location}/data/${prefix.toString(16).padStart(2, '0')}`);
    await this.#syncDirectory(`${this.location}/data`);
    await this.#syncDirectory(this.location);
  }

  async save(kind: FileKind, name: string, bytes: Uint8Array, options: SaveOptions = {}): Promise<void> {
    const path = this.#path(kind, name);
    const directory = path.slice(0, path.lastIndexOf('/'));
    const temporary = `${directory}/${temporaryPrefix}${name}-${randomBytes(6).toString('hex')}`;
    let handle: Handle<'file'> | null = await this.#openTemporary(kind, directory, temporary);
    try {
      await this.#writeBytes(handle, bytes);
      await this.#io.sync(handle);
      const closing = handle;
      handle = null;
      await closing.close();
      if (options.createOnly === true) {
        await this.#io.makeHardLink(temporary, path);
        // Saved now: a temporary name left behind is no part of the repository (list() skips it).
        await this.#io.unlink(temporary).catch(() => undefined);
      } else {
        await this.#io.rename(temporary, path);
      }
    } catch (error) {
      await handle?.close();
      await this.#io.unlink(temporary).catch(() => undefined);
      throw error;
    }
    await this.#syncDirectory(directory);
  }

  /**
   * The temporary file of a save. A repository copied by a tool that keeps no empty directories
   * (git, some sync tools, a round trip through object storage) lacks some of its directories:
   * the one a save needs is made again here (never the repository's own: a repository that is
   * gone stays an error).
   */
  async #openTemporary(kind: FileKind, directory: string, temporary: string): Promise<Handle<'file'>> {
    const open = (): Promise<Handle<'file'>> => this.#io.openFile(temporary, { access: 'write', create: 'exclusive', mode: 0o600 });
    try {
      return await open();
    } catch (error) {
      if (!isErrorCode(error, 'ENOENT') || kind === 'config') throw error;
      if (kind === 'data') await this.#makeDirectory(`${this.location}/data`);
      await this.#makeDirectory(directory);
      await this.#syncDirectory(directory.slice(0, directory.lastIndexOf('/')));
      if (kind === 'data') await this.#syncDirectory(this.location);
      return open();
    }
  }

  async load(kind: FileKind, name: string, range?: ByteRange): Promise<Buffer> {
    const path = this.#path(kind, name);
    if (this.#packFiles !== null && kind === 'data' && range !== undefined) return this.#packFiles.read(path, range);
    const handle = await this.#io.openFile(path);
    try {
      if (range !== undefined) return await this.#readRange(handle, range);
      const sizeBytes = await this.#sizeOf(handle);
      if (sizeBytes > wholeFileBytesMax[kind]) {
        throw holdfastError('HOLDFAST_LIMIT_EXCEEDED', { operation: 'load', path }, `the file has ${sizeBytes} bytes, over the limit of ${wholeFileBytesMax[kind]} for ${kind === 'config' ? 'a config' : `a file in ${kind}/`}: holdfast writes none that large, so it was put there by something else and is not read`);
      }
      return await this.#readBytes(handle, 0, sizeBytes);
    } finally {
      await handle.close();
    }
  }

  /** Files in a repository never change once saved: their size at open is their size. */
  async #sizeOf(handle: Handle<'file'>): Promise<number> {
    return (handle.openedStat ?? (await this.#io.stat(handle))).sizeBytes;
  }

  /** `range` of an open file; HOLDFAST_FORMAT_TRUNCATED when the file ends before it. */
  async #readRange(handle: Handle<'file'>, range: ByteRange): Promise<Buffer> {
    const sizeBytes = await this.#sizeOf(handle);
    if (range.offsetBytes + range.lengthBytes > sizeBytes) {
      throw holdfastError('HOLDFAST_FORMAT_TRUNCATED', { operation: 'load', path: handle.path }, `the file has ${sizeBytes} bytes; bytes ${range.offsetBytes}..${range.offsetBytes + range.lengthBytes} were wanted`);
    }
    return this.#readBytes(handle, range.offsetBytes, range.lengthBytes);
  }

  async list(kind: FileKind): Promise<StoredFile[]> {
    const directories = kind === 'data' ? (await this.#names(`${this.location}/data`)).filter((name) => /^[0-9a-f]{2}$/.test(name)).map((name) => `${this.location}/data/${name}`) : [`${this.location}/${kind}`];
    const found: StoredFile[] = [];
    for (const directory of directories) {
      const names = (await this.#names(directory)).filter((name) => namePattern.test(name));
      const stats = await Promise.all(names.map((name) => this.#sizeOrGone(`${directory}/${name}`)));
      names.forEach((name, index) => {
        const sizeBytes = stats[index];
        if (sizeBytes !== undefined && sizeBytes !== null) found.push({ name, sizeBytes });
      });
    }
    return found;
  }

  /**
   * A listed file's size, or null when it was removed between the directory read and the lstat
   * (a lock released, a pack deleted by prune, a snapshot forgotten): it is no longer there.
   */
  async #sizeOrGone(path: string): Promise<number | null> {
    try {
      return (await this.#io.lstat(path)).sizeBytes;
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return null;
      throw error;
    }
  }

  async topLevelNames(): Promise<string[]> {
    return (await this.#names(this.location)).sort();
  }

  async stat(kind: FileKind, name: string): Promise<StoredFile> {
    const stat = await this.#io.lstat(this.#path(kind, name));
    return { name, sizeBytes: stat.sizeBytes };
  }

  async remove(kind: FileKind, name: string): Promise<void> {
    const path = this.#path(kind, name);
    await this.#io.unlink(path);
    await this.#syncDirectory(path.slice(0, path.lastIndexOf('/')));
  }

  #path(kind: FileKind, name: string): string {
    if (kind === 'config') return `${this.location}/config`;
    if (!namePattern.test(name)) throw holdfastError('HOLDFAST_USAGE', { operation: 'name a file in', path: this.location }, `"${name}" is not a 64-character hex name`);
    return kind === 'data' ? `${this.location}/data/${name.slice(0, 2)}/${name}` : `${this.location}/${kind}/${name}`;
  }

  async #names(directory: string): Promise<string[]> {
    try {
      return (await this.#io.readDirectory(directory)).map((name) => name.toString('latin1'));
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return [];
      throw error;
    }
  }

  async #makeDirectory(path: string): Promise<void> {
    try {
      await this.#io.makeDirectory(path, { mode: 0o700 });
    } catch (error) {
      if (!isErrorCode(error, 'EEXIST')) throw error;
    }
  }

  async #syncDirectory(path: string): Promise<void> {
    const handle = await this.#io.openDirectory(path);
    try {
      await this.#io.sync(handle);
    } finally {
      await handle.close();
    }
  }

  async #writeBytes(handle: Handle<'file'>, bytes: Uint8Array): Promise<void> {
    const lease = await this.#pool.acquire();
    try {
      for (let position = 0; position < bytes.length; position += lease.sizeBytes) {
        const lengthBytes = Math.min(lease.sizeBytes, bytes.length - position);
        lease.bytes.set(bytes.subarray(position, position + lengthBytes));
        await writeAll(this.#io, handle, lease, { position, lengthBytes });
      }
    } finally {
      lease.release();
    }
  }

  async #readBytes(handle: Handle<'file'>, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    // A buffer of its own ArrayBuffer, so that the caller can move it to a worker thread.
    const result = Buffer.from(new ArrayBuffer(lengthBytes));
    const lease = await this.#pool.acquire();
    try {
      let filled = 0;
      while (filled < lengthBytes) {
        const count = await readOnce(this.#io, handle, lease, { position: offsetBytes + filled, lengthBytes: Math.min(lease.sizeBytes, lengthBytes - filled) });
        if (count === 0) throw holdfastError('HOLDFAST_FORMAT_TRUNCATED', { operation: 'load', path: handle.path }, `the file ends at byte ${offsetBytes + filled}`);
        lease.bytes.copy(result, filled, 0, count);
        filled += count;
      }
    } finally {
      lease.release();
    }
    return result;
  }
}
