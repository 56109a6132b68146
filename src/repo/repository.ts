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
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import { decodeIndex } from '../format/repo/index-codec.js';
import { decodeConfig, decodeSnapshot, encodeJson, repositoryFormatName, repositoryVersion, type RepositoryConfig, type Snapshot } from '../format/repo/snapshot-codec.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import type { Backend, FileKind } from './backend/backend.js';
import { BlobIndex } from './blob-index.js';
import { storageName } from './blob-id.js';
import { createKeyFile, openKeyFile, readKeyFileSummary, type KdfParameters, type KeyFileSummary } from './key-file.js';
import { generateMasterKey, type MasterKey } from './master-key.js';
import type { OpenJob } from './pack-worker.js';
import { open, seal } from './seal.js';
import { transferableBuffer } from './transferable.js';
import { randomBytes } from 'node:crypto';

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

export class Repository {
  readonly backend: Backend;
  readonly master: MasterKey;
  readonly config: RepositoryConfig;
  readonly keyName: string;
  readonly workers: WorkerPool;
  readonly index = new BlobIndex();

  private constructor(backend: Backend, master: MasterKey, config: RepositoryConfig, keyName: string, workers: WorkerPool) {
    this.backend = backend;
    this.master = master;
    this.config = config;
    this.keyName = keyName;
    this.workers = workers;
  }

  /** Makes a new repository where none is; HOLDFAST_REPOSITORY_EXISTS where one is. */
  static async init(backend: Backend, password: Buffer, options: KeyOptions & { workers: WorkerPool }): Promise<Repository> {
    if ((await readConfig(backend)) !== null) {
      throw holdfastError('HOLDFAST_REPOSITORY_EXISTS', { operation: 'init repository', path: backend.location }, 'a repository is already there');
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
   * Opens a repository with a password: HOLDFAST_NO_REPOSITORY when there is none,
   * HOLDFAST_WRONG_PASSWORD when no key file opens with it. The index is not loaded yet.
   */
  static async open(backend: Backend, password: Buffer, options: { workers: WorkerPool }): Promise<Repository> {
    const config = await readConfig(backend);
    if (config === null) {
      throw holdfastError('HOLDFAST_NO_REPOSITORY', { operation: 'open repository', path: backend.location }, 'there is no repository (no config file); make one with "holdfast init"');
    }
    const keys = await backend.list('keys');
    for (const key of keys) {
      const bytes = await backend.load('keys', key.name);
      try {
        const master = await openKeyFile(bytes, password, { path: `${backend.location}/keys/${key.name}` });
        return new Repository(backend, master, config, key.name, options.workers);
      } catch (error) {
        if (!isErrorCode(error, 'HOLDFAST_WRONG_PASSWORD')) throw error;
      }
    }
    throw holdfastError('HOLDFAST_WRONG_PASSWORD', { operation: 'open repository', path: backend.location }, `the password opens none of its ${keys.length} key${keys.length === 1 ? '' : 's'}`);
  }

  /** Reads every index file into memory; a damaged one throws (check reads them its own way). */
  async loadIndex(): Promise<void> {
    const files = await this.backend.list('index');
    const decoded = await Promise.all(files.map(async (file) => decodeIndex(await this.loadSealed('index', file.name), `index/${file.name}`)));
    let count = 0;
    for (const packs of decoded) for (const pack of packs) count += pack.blobs.length;
    this.index.reserve(count);
    for (const packs of decoded) {
      for (const pack of packs) {
        for (const blob of pack.blobs) this.index.add(blob.type, blob.id, pack.packId, blob.offsetBytes, blob.storedBytes, blob.rawBytes);
      }
    }
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
  async saveSealed(kind: 'index' | 'snapshots', plaintext: Buffer): Promise<string> {
    const sealed = seal(this.master.encryptionKey, plaintext, associatedData(kind));
    const name = storageName(sealed);
    await this.backend.save(kind, name, sealed);
    return name;
  }

  async loadSealed(kind: 'index' | 'snapshots', name: string): Promise<Buffer> {
    return this.openSealed(kind, name, await this.backend.load(kind, name));
  }

  /** The plaintext of an index or snapshot file already read (check reads each file once). */
  openSealed(kind: 'index' | 'snapshots', name: string, sealed: Buffer): Buffer {
    return open(this.master.encryptionKey, sealed, associatedData(kind), { operation: `read ${kind === 'index' ? 'index' : 'snapshot'}`, path: `${this.backend.location}/${kind}/${name}` });
  }

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    return this.saveSealed('snapshots', encodeJson(snapshot));
  }

  /** Every snapshot, oldest first. A damaged one throws (check reads them its own way). */
  async listSnapshots(): Promise<SnapshotRecord[]> {
    const files = await this.backend.list('snapshots');
    const records = await Promise.all(files.map(async (file) => ({ id: file.name, snapshot: decodeSnapshot(await this.loadSealed('snapshots', file.name), `snapshots/${file.name}`) })));
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

/** The config, or null when there is no repository at all (no file, or no directory). */
async function readConfig(backend: Backend): Promise<RepositoryConfig | null> {
  let bytes: Buffer;
  try {
    bytes = await backend.load('config', 'config');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT') || isErrorCode(error, 'ENOTDIR')) return null;
    throw error;
  }
  return decodeConfig(bytes, backend.location);
}

function associatedData(kind: FileKind): Buffer {
  return Buffer.from(`holdfast ${kind}`, 'latin1');
}
