/**
 * Repository: an opened, unlocked repository. It knows the master key, the index of every blob,
 * and how to load and store the sealed files (index, snapshots) and blobs; packing new blobs is
 * PackWriter's job, and what goes into a snapshot is the engine's.
 *
 * Every stored byte but the config and the key files' KDF parameters is sealed with the master
 * key (AES-256-GCM): blob contents, pack headers, index files and snapshots, and with them all
 * names and metadata. Each kind of sealed file is bound to its kind (associated data), so one
 * cannot be passed off as another.
 */
import { HoldfastError, holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import { decodeIndex } from '../format/repo/index-codec.js';
import { decodeConfig, decodeSnapshot, encodeJson, repositoryFormatName, repositoryVersion, type RepositoryConfig, type Snapshot } from '../format/repo/snapshot-codec.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import { fileKinds, type Backend, type FileKind } from './backend/backend.js';
import { BlobIndex } from './blob-index.js';
import { estimateIndexedBlobs, forEachIndexFile } from './index-files.js';
import { storageName } from './blob-id.js';
import { createKeyFile, openKeyFile, readKeyFileSummary, type KdfParameters, type KeyFileSummary } from './key-file.js';
import { generateMasterKey, type MasterKey } from './master-key.js';
import type { OpenJob } from './pack-worker.js';
import { open, seal } from './seal.js';
import { transferableBuffer } from './transferable.js';
import { randomBytes } from 'node:crypto';

/** The files the repository seals whole with the master key (packs are sealed blob by blob). */
export type SealedKind = 'index' | 'snapshots' | 'locks';

export interface SnapshotRecord {
  id: string;
  snapshot: Snapshot;
}

export interface KeyRecord {
  name: string;
  summary: KeyFileSummary;
  /** The key this session opened the repository with. */
  current: boolean;
}

export interface KeyOptions {
  kdf?: KdfParameters;
  hostname: string;
  username: string;
}

/** Short ids must say enough to be unambiguous in practice, as restic's do. */
const shortIdCharactersMin = 4;
/** Foreign names listed in a message about a directory that is not a repository. */
const foreignNamesShownMax = 5;

export class Repository {
  readonly backend: Backend;
  readonly master: MasterKey;
  readonly config: RepositoryConfig;
  readonly keyName: string;
  readonly workers: WorkerPool;
  readonly index = new BlobIndex();
  /** The index files loadIndex() read: a backup compares them with the index at its end. */
  readonly loadedIndexFiles = new Set<string>();
  /**
   * Packs no index file names whose blobs were added to the in-memory index from the packs' own
   * headers (adoptUnindexedPacks): a backup that reuses one must index it before its snapshot.
   */
  readonly adoptedPacks = new Set<string>();
  /**
   * Index files loadIndex() left out because they do not open or decode (truncated, garbage, a
   * flipped byte, another kind of file): one damaged index file must not block every restore
   * (rule D5). The session then reads the packs no intact index names from their own headers.
   */
  readonly damagedIndexFiles: HoldfastError[] = [];
  /**
   * Key files that could not be read (truncated, not a key file, unreadable) although another key
   * opened the repository: a damaged key must not hide a good one, and the user should hear of it.
   */
  readonly damagedKeys: readonly HoldfastError[];

  private constructor(backend: Backend, master: MasterKey, config: RepositoryConfig, keyName: string, workers: WorkerPool, damagedKeys: readonly HoldfastError[] = []) {
    this.damagedKeys = damagedKeys;
    this.backend = backend;
    this.master = master;
    this.config = config;
    this.keyName = keyName;
    this.workers = workers;
  }

  /**
   * Makes a new repository where none is: HOLDFAST_REPOSITORY_EXISTS where one is, and
   * HOLDFAST_NOT_EMPTY in a directory of other files (a repository's directories are not
   * scattered among a user's files). A directory an unfinished init left is taken up again.
   */
  static async init(backend: Backend, password: Buffer, options: KeyOptions & { workers: WorkerPool }): Promise<Repository> {
    const context = { operation: 'init repository', path: backend.location };
    if ((await readConfig(backend)) !== null) throw holdfastError('HOLDFAST_REPOSITORY_EXISTS', context, 'a repository is already there');
    const foreign = foreignNames(await backend.topLevelNames());
    if (foreign.length > 0) {
      throw holdfastError('HOLDFAST_NOT_EMPTY', context, `the directory is not empty (it holds ${describeNames(foreign)}); give a new or empty directory for a repository`);
    }
    await backend.create();
    const master = generateMasterKey();
    const keyFile = await createKeyFile(master, password, options);
    const keyName = storageName(keyFile);
    await backend.save('keys', keyName, keyFile);
    const config: RepositoryConfig = { format: repositoryFormatName, version: repositoryVersion, id: randomBytes(32).toString('hex'), created: new Date().toISOString() };
    // The config goes last: a repository is there once its config is, and then it has a key.
    await backend.save('config', 'config', encodeJson(config));
    return new Repository(backend, master, config, keyName, options.workers);
  }

  /**
   * Opens a repository with a password: HOLDFAST_NO_REPOSITORY when there is none (the message
   * tells a missing, an empty and a foreign directory apart), HOLDFAST_WRONG_PASSWORD when every
   * key file is intact and none opens with it. A damaged key file must not lock out the passwords
   * of the others: it is skipped (and listed in damagedKeys); only when no key opens is its error
   * thrown (HOLDFAST_FORMAT_TRUNCATED, HOLDFAST_FORMAT_INVALID...), since the password may have
   * been its. The index is not loaded yet.
   */
  static async open(backend: Backend, password: Buffer, options: { workers: WorkerPool }): Promise<Repository> {
    const context = { operation: 'open repository', path: backend.location };
    const config = await readConfig(backend);
    if (config === null) throw holdfastError('HOLDFAST_NO_REPOSITORY', context, await noRepositoryReason(backend));
    const keys = await backend.list('keys');
    // Every key file is read and checked first (no derivation yet, so this is cheap): damage is
    // reported even when a key before the damaged one opens.
    const damaged: HoldfastError[] = [];
    const intactKeys: { name: string; bytes: Buffer; path: string }[] = [];
    for (const key of keys) {
      const path = `${backend.location}/keys/${key.name}`;
      try {
        const bytes = await backend.load('keys', key.name);
        readKeyFileSummary(bytes, { path });
        intactKeys.push({ name: key.name, bytes, path });
      } catch (error) {
        if (!(error instanceof HoldfastError)) throw error;
        damaged.push(error);
      }
    }
    for (const key of intactKeys) {
      try {
        const master = await openKeyFile(key.bytes, password, { path: key.path });
        return new Repository(backend, master, config, key.name, options.workers, damaged);
      } catch (error) {
        if (!isErrorCode(error, 'HOLDFAST_WRONG_PASSWORD')) throw error;
      }
    }
    const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
    const first = damaged[0];
    if (first === undefined) {
      if (keys.length === 0) throw holdfastError('HOLDFAST_MISSING', context, 'it has no key file (keys/ is empty): nothing can open it');
      throw holdfastError('HOLDFAST_WRONG_PASSWORD', context, `the password opens none of its ${plural(keys.length, 'key')}`);
    }
    const intact = intactKeys.length;
    const opening = intact === 0 ? `none of its ${plural(keys.length, 'key file')} can be read` : `the password opens none of its ${plural(intact, 'intact key')}, and ${plural(damaged.length, 'key file')} cannot be read (the password may be one of theirs)`;
    throw new HoldfastError(first.code, { ...context, cause: first }, `${opening}: ${damaged.map((error) => error.message).join('; ')}`);
  }

  /**
   * Reads every index file into the index, one file at a time (a few read ahead), in the order the
   * backend lists them (the first location of a blob wins). One that does not open or decode is
   * left out whole and listed in damagedIndexFiles (check reads them its own way and reports
   * them); one that cannot be read at all (EIO, EACCES) throws. Room is reserved once, from an
   * upper bound the file sizes give.
   */
  async loadIndex(): Promise<void> {
    // An index file can vanish between the listing and its reading when a prune rewrites it;
    // the prune stored its replacement first, so listing again finds it.
    for (let round = 0; round < 5; round++) {
      const damaged = new Set(this.damagedIndexFiles.map((error) => error.path));
      const files = (await this.backend.list('index')).filter((file) => !this.loadedIndexFiles.has(file.name) && !damaged.has(this.#indexPath(file.name)));
      if (files.length === 0) return;
      this.index.reserve(this.index.count + estimateIndexedBlobs(files));
      let vanished = false;
      await forEachIndexFile(this.backend, files, (read) => {
        if ('error' in read) {
          if (isErrorCode(read.error, 'ENOENT')) {
            vanished = true;
            return;
          }
          throw read.error;
        }
        const name = read.file.name;
        let packs;
        try {
          // Decoded whole before any blob is added: a damaged file adds nothing.
          packs = decodeIndex(this.openSealed('index', name, read.sealed), `index/${name}`);
        } catch (error) {
          if (!(error instanceof HoldfastError)) throw error;
          this.damagedIndexFiles.push(damagedIndexError(error, this.#indexPath(name)));
          return;
        }
        for (const pack of packs) {
          for (const blob of pack.blobs) this.index.add(blob.type, blob.id, pack.packId, blob.offsetBytes, blob.storedBytes, blob.rawBytes);
        }
        this.loadedIndexFiles.add(name);
      });
      if (!vanished) return;
    }
  }

  #indexPath(name: string): string {
    return `${this.backend.location}/index/${name}`;
  }

  /** A blob's plaintext, verified against its id; HOLDFAST_MISSING when the index has no such blob. */
  async loadBlob(id: Buffer): Promise<Buffer> {
    const location = this.index.find(id);
    const name = `blob ${id.toString('hex').slice(0, 16)}`;
    if (location === null) throw holdfastError('HOLDFAST_MISSING', { operation: 'load', path: name }, 'no index entry names this blob');
    const packName = location.packId.toString('hex');
    const stored = await this.backend.load('data', packName, { offsetBytes: location.offsetBytes, lengthBytes: location.storedBytes });
    return this.openStoredBlob(id, stored, location.rawBytes, `pack ${packName.slice(0, 16)} ${name}`);
  }

  /** Opens a stored blob on a worker thread; `stored` is moved there (the caller must not use it again). */
  async openStoredBlob(id: Buffer, stored: Buffer, rawBytes: number, name: string): Promise<Buffer> {
    const owned = transferableBuffer(stored);
    const job: OpenJob = { encryptionKey: this.master.encryptionKey, idKey: this.master.idKey, id, stored: owned, rawBytes, name };
    const plaintext = await this.workers.run<ArrayBuffer>('open', { rawBytes }, job, [owned]);
    return Buffer.from(plaintext);
  }

  /** Seals and stores an index or snapshot file; returns its name (the hash of its stored bytes). */
  async saveSealed(kind: SealedKind, plaintext: Buffer): Promise<string> {
    const sealed = seal(this.master.encryptionKey, plaintext, associatedData(kind));
    const name = storageName(sealed);
    await this.backend.save(kind, name, sealed);
    return name;
  }

  async loadSealed(kind: SealedKind, name: string): Promise<Buffer> {
    return this.openSealed(kind, name, await this.backend.load(kind, name));
  }

  /** The plaintext of an index or snapshot file already read (check reads each file once). */
  openSealed(kind: SealedKind, name: string, sealed: Buffer): Buffer {
    return open(this.master.encryptionKey, sealed, associatedData(kind), { operation: `read ${{ index: 'index', snapshots: 'snapshot', locks: 'lock' }[kind]}`, path: `${this.backend.location}/${kind}/${name}` });
  }

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    return this.saveSealed('snapshots', encodeJson(snapshot));
  }

  /** Every snapshot, oldest first. A damaged one throws (check reads them its own way); one removed meanwhile is left out. */
  async listSnapshots(): Promise<SnapshotRecord[]> {
    const files = await this.backend.list('snapshots');
    const read = await Promise.all(
      files.map(async (file) => {
        try {
          return { id: file.name, snapshot: decodeSnapshot(await this.loadSealed('snapshots', file.name), `snapshots/${file.name}`) };
        } catch (error) {
          // Removed (by a forget running beside us) between the listing and the reading.
          if (isErrorCode(error, 'ENOENT')) return null;
          throw error;
        }
      }),
    );
    const records = read.filter((record): record is SnapshotRecord => record !== null);
    return records.sort((a, b) => Date.parse(a.snapshot.time) - Date.parse(b.snapshot.time) || a.id.localeCompare(b.id));
  }

  /**
   * "latest" (the newest snapshot, of `filter` if given), or a full or short id (at least 4 hex
   * characters, matching exactly one snapshot); HOLDFAST_NO_SNAPSHOT otherwise.
   */
  async findSnapshot(name: string, filter: (snapshot: Snapshot) => boolean = () => true): Promise<SnapshotRecord> {
    const all = (await this.listSnapshots()).filter((record) => filter(record.snapshot));
    const fail = (reason: string): Error => holdfastError('HOLDFAST_NO_SNAPSHOT', { operation: 'find snapshot', path: name }, reason);
    if (name === 'latest') {
      const latest = all.at(-1);
      if (latest === undefined) throw fail('the repository has no snapshot yet');
      return latest;
    }
    if (!/^[0-9a-f]+$/.test(name) || name.length < shortIdCharactersMin) throw fail(`give "latest" or a snapshot id of at least ${shortIdCharactersMin} hex characters`);
    const matches = all.filter((record) => record.id.startsWith(name));
    if (matches.length === 0) throw fail('no snapshot has this id');
    if (matches.length > 1) throw fail(`${matches.length} snapshots begin with it (${matches.map((record) => record.id.slice(0, 8)).join(', ')}); give more of the id`);
    return matches[0]!;
  }

  async listKeys(): Promise<KeyRecord[]> {
    const files = await this.backend.list('keys');
    return Promise.all(files.map(async (file) => ({ name: file.name, summary: readKeyFileSummary(await this.backend.load('keys', file.name)), current: file.name === this.keyName })));
  }

  /** Adds a key file that opens this repository with `password`; returns its name. */
  async addKey(password: Buffer, options: KeyOptions): Promise<string> {
    const keyFile = await createKeyFile(this.master, password, options);
    const name = storageName(keyFile);
    await this.backend.save('keys', name, keyFile);
    return name;
  }

  /** Removes a key file; never the one this session opened with, so a repository always keeps a key. */
  async removeKey(name: string): Promise<void> {
    if (name === this.keyName) {
      throw holdfastError('HOLDFAST_USAGE', { operation: 'remove key', path: name.slice(0, 8) }, 'this is the key in use; open the repository with another key to remove it');
    }
    await this.backend.remove('keys', name);
  }
}

/** What a user is told of an index file loadIndex() left out: what is wrong, and what to run. */
function damagedIndexError(error: HoldfastError, path: string): HoldfastError {
  const reason = error.message.replace(/^Cannot [^"]*"[^"]*": /, '');
  return new HoldfastError(error.code, { operation: 'load index file', path, cause: error }, `${reason}; it was left out, and the packs no intact index file names are read from their own headers. Run "holdfast repair index" to rebuild the index`);
}

/** The config, or null when there is no repository at all (no file, or no directory). */
async function readConfig(backend: Backend): Promise<RepositoryConfig | null> {
  let bytes: Buffer;
  try {
    bytes = await backend.load('config', 'config');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT') || isErrorCode(error, 'ENOTDIR')) return null;
    throw error;
  }
  return decodeConfig(bytes, `${backend.location}/config`);
}

/** Names at the top of a location that no repository (nor an unfinished init) puts there. */
function foreignNames(names: readonly string[]): string[] {
  const own = new Set<string>(['config', ...fileKinds]);
  return names.filter((name) => !own.has(name) && !name.startsWith('.tmp-'));
}

function describeNames(names: readonly string[]): string {
  const shown = names.slice(0, foreignNamesShownMax).map((name) => JSON.stringify(name));
  return names.length > foreignNamesShownMax ? `${shown.join(', ')} and ${names.length - foreignNamesShownMax} more` : shown.join(', ');
}

/** Why a location without a config is no repository: missing, empty, foreign or half made. */
async function noRepositoryReason(backend: Backend): Promise<string> {
  let names: string[];
  try {
    names = await backend.topLevelNames();
  } catch (error) {
    if (isErrorCode(error, 'ENOTDIR')) return 'it is not a directory, so not a holdfast repository';
    throw error;
  }
  const foreign = foreignNames(names);
  if (foreign.length > 0) return `it is not a holdfast repository: it has no config file and holds other files (${describeNames(foreign)})`;
  if (names.length > 0) return 'it is not a holdfast repository yet: it has no config file (an init that did not finish?); run "holdfast init" again';
  return 'there is no repository (no config file); make one with "holdfast init"';
}

function associatedData(kind: FileKind): Buffer {
  return Buffer.from(`holdfast ${kind}`, 'latin1');
}
