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
import { checkKdfCost, createKeyFile, kdfWorkKiB, openKeyFile, readKeyFileSummary, type KdfParameters, type KeyFileSummary } from './key-file.js';
import { generateMasterKey, type MasterKey } from './master-key.js';
import type { OpenJob } from './pack-jobs.js';
import { open, seal } from './seal.js';
import { ownBytes, transferableBuffer } from './transferable.js';
import { createHmac, randomBytes } from 'node:crypto';

/** The files the repository seals whole with the master key (packs are sealed blob by blob). */
export type SealedKind = 'index' | 'snapshots' | 'locks';

export interface SnapshotRecord {
  id: string;
  snapshot: Snapshot;
}

export interface SnapshotListing {
  /** The intact snapshots, oldest first. */
  records: SnapshotRecord[];
  /** The snapshot files that cannot be trusted, each an error naming its file (by path): left out. */
  damaged: HoldfastError[];
}

export interface KeyRecord {
  name: string;
  summary: KeyFileSummary;
  /** The key this session opened the repository with. */
  current: boolean;
}

/**
 * A password, or how to get it: a function is called once the repository was found (and, for
 * init, once it is known that none is there yet), so that a missing repository is reported as
 * such and nobody is asked for a password first.
 */
export type PasswordSource = Buffer | (() => Promise<Buffer>);

export interface KeyOptions {
  kdf?: KdfParameters;
  hostname: string;
  username: string;
}

/** Short ids must say enough to be unambiguous in practice, as restic's do. */
const shortIdCharactersMin = 4;
/** Foreign names listed in a message about a directory that is not a repository. */
const foreignNamesShownMax = 5;
/** The directories of a restic repository, beside its config (restic's own layout). */
const resticDirectoryNames = ['data', 'index', 'keys', 'snapshots'];
/** A restic key file is a few hundred bytes of JSON; a larger file is not read to find out. */
const resticKeyBytesMax = 64 * 1024;

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
  /** The keys a worker's open job needs, each in a buffer of its own (made at the first load). */
  #jobKeys: { encryptionKey: Uint8Array; idKey: Uint8Array } | null = null;

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
   * HOLDFAST_USAGE for an empty password.
   *
   * Of several inits racing for one place exactly one makes the repository: the config is its
   * one commit step, saved create-only after the key file, and it names its master key
   * (keyCheck). The others fail with HOLDFAST_REPOSITORY_EXISTS and take their key files away
   * again; a key file that stays (the process died first) opens no session, since it fails
   * the config's keyCheck.
   */
  static async init(backend: Backend, password: PasswordSource, options: KeyOptions & { workers: WorkerPool }): Promise<Repository> {
    const context = { operation: 'init repository', path: backend.location };
    if ((await readConfig(backend, 'HOLDFAST_NOT_EMPTY', context)) !== null) throw holdfastError('HOLDFAST_REPOSITORY_EXISTS', context, 'a repository is already there');
    const foreign = foreignNames(await backend.topLevelNames());
    if (foreign.length > 0) {
      throw holdfastError('HOLDFAST_NOT_EMPTY', context, `the directory is not empty (it holds ${describeNames(foreign)}); give a new or empty directory for a repository`);
    }
    const secret = await passwordOf(password);
    if (secret.length === 0) throw holdfastError('HOLDFAST_USAGE', context, 'the password is empty; give a password to protect the repository with');
    await backend.create();
    const master = generateMasterKey();
    const keyFile = await createKeyFile(master, secret, options);
    const keyName = storageName(keyFile);
    await backend.save('keys', keyName, keyFile);
    const id = randomBytes(32).toString('hex');
    const config: RepositoryConfig = { format: repositoryFormatName, version: repositoryVersion, id, created: new Date().toISOString(), keyCheck: keyCheck(master, id) };
    // The config goes last: a repository is there once its config is, and then it has a key.
    try {
      await backend.save('config', 'config', encodeJson(config), { createOnly: true });
    } catch (error) {
      // Lost the race: this key file is an orphan. After any other failure the config may have
      // landed all the same (a failed directory sync), and then the key is the repository's.
      if (!isErrorCode(error, 'EEXIST')) throw error;
      await backend.remove('keys', keyName);
      throw holdfastError('HOLDFAST_REPOSITORY_EXISTS', context, 'another process made a repository here at the same moment');
    }
    return new Repository(backend, master, config, keyName, options.workers);
  }

  /**
   * Opens a repository with a password: HOLDFAST_NO_REPOSITORY when there is none (the message
   * tells a missing, an empty and a foreign directory apart), HOLDFAST_WRONG_PASSWORD when every
   * key file is intact and none opens with it. A damaged key file must not lock out the passwords
   * of the others: it is skipped (and listed in damagedKeys); only when no key opens is its error
   * thrown (HOLDFAST_FORMAT_TRUNCATED, HOLDFAST_FORMAT_INVALID...), since the password may have
   * been its. A key file is damaged when it cannot be read, when its bytes do not hash to its name
   * (HOLDFAST_INTEGRITY: changed after it was written), or when it asks for more derivation work
   * than holdfast allows (HOLDFAST_LIMIT_EXCEEDED: planted; it is not tried). The others are tried
   * cheapest first. A key that opens but fails the config's keyCheck (left by an init that lost a
   * race) is not this repository's and is passed over. The index is not loaded yet.
   */
  static async open(backend: Backend, password: PasswordSource, options: { workers: WorkerPool }): Promise<Repository> {
    const context = { operation: 'open repository', path: backend.location };
    const config = await readConfig(backend, 'HOLDFAST_NO_REPOSITORY', context);
    if (config === null) throw holdfastError('HOLDFAST_NO_REPOSITORY', context, await noRepositoryReason(backend));
    const keys = await backend.list('keys');
    if (keys.length === 0) throw holdfastError('HOLDFAST_MISSING', context, 'it has no key file (keys/ is empty): nothing can open it');
    // Every key file is read and checked first (no derivation yet, so this is cheap): damage is
    // reported even when a key before the damaged one opens.
    const damaged: HoldfastError[] = [];
    const intactKeys: { name: string; bytes: Buffer; path: string; workKiB: number }[] = [];
    for (const key of keys) {
      const path = `${backend.location}/keys/${key.name}`;
      try {
        const bytes = await backend.load('keys', key.name);
        const summary = readKeyFileSummary(bytes, { path });
        if (storageName(bytes) !== key.name) {
          throw holdfastError('HOLDFAST_INTEGRITY', { operation: 'read key file', path }, "the file's content does not match its name (the name is the hash of the bytes it was written with): it was changed after it was written");
        }
        checkKdfCost(summary.kdf, { operation: 'open key file', path });
        intactKeys.push({ name: key.name, bytes, path, workKiB: kdfWorkKiB(summary.kdf) });
      } catch (error) {
        if (!(error instanceof HoldfastError)) throw error;
        damaged.push(error);
      }
    }
    // Cheapest first (a stable sort: listing order among equals), so a costly key delays only itself.
    intactKeys.sort((a, b) => a.workKiB - b.workKiB);
    const secret = await passwordOf(password);
    let foreignKeys = 0;
    for (const key of intactKeys) {
      try {
        const master = await openKeyFile(key.bytes, secret, { path: key.path });
        if (config.keyCheck === undefined || keyCheck(master, config.id) === config.keyCheck) return new Repository(backend, master, config, key.name, options.workers, damaged);
        foreignKeys++;
      } catch (error) {
        if (!isErrorCode(error, 'HOLDFAST_WRONG_PASSWORD')) throw error;
      }
    }
    const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
    const first = damaged[0];
    if (first === undefined) {
      const foreign = foreignKeys === 0 ? '' : ` (it opens ${plural(foreignKeys, 'key file')} of another master key, left by an init that did not finish)`;
      throw holdfastError('HOLDFAST_WRONG_PASSWORD', context, `the password opens none of its ${plural(keys.length - foreignKeys, 'key')}${foreign}`);
    }
    const intact = intactKeys.length;
    // A key that was not tried (too costly) may be the password's as much as one that cannot be read.
    const untried = damaged.some((error) => error.code === 'HOLDFAST_LIMIT_EXCEEDED') ? ' or tried' : '';
    const opening = intact === 0 ? `none of its ${plural(keys.length, 'key file')} can be read${untried}` : `the password opens none of its ${plural(intact, 'intact key')}, and ${plural(damaged.length, 'key file')} cannot be read${untried} (the password may be one of theirs)`;
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
    // Keys and id in buffers of their own: postMessage clones a view with its whole buffer.
    this.#jobKeys ??= { encryptionKey: ownBytes(this.master.encryptionKey), idKey: ownBytes(this.master.idKey) };
    const job: OpenJob = { ...this.#jobKeys, id: ownBytes(id), stored: owned, rawBytes, name };
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

  /** The plaintext of an index, snapshot or lock file, verified against its name (see openSealed). */
  async loadSealed(kind: SealedKind, name: string): Promise<Buffer> {
    return this.openSealed(kind, name, await this.backend.load(kind, name));
  }

  /**
   * The plaintext of an index, snapshot or lock file already read (check reads each file once).
   * Its name is the hash of its bytes (rule D5): bytes that do not hash to it are
   * HOLDFAST_INTEGRITY before they are opened, so a file copied over another (an older snapshot
   * under a newer one's name) is refused, not trusted; bytes that do but fail authentication, or
   * are another kind of file, are HOLDFAST_INTEGRITY too.
   */
  openSealed(kind: SealedKind, name: string, sealed: Buffer): Buffer {
    const context = { operation: `read ${{ index: 'index', snapshots: 'snapshot', locks: 'lock' }[kind]}`, path: `${this.backend.location}/${kind}/${name}` };
    if (storageName(sealed) !== name) throw holdfastError('HOLDFAST_INTEGRITY', context, `the file's content does not match its name (the name is the hash of the bytes it was written with): it was damaged, or another file was put in its place`);
    return open(this.master.encryptionKey, sealed, associatedData(kind), context);
  }

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    return this.saveSealed('snapshots', encodeJson(snapshot));
  }

  /** One snapshot file, verified against its name and decoded: HOLDFAST_INTEGRITY or HOLDFAST_FORMAT_* when damaged. */
  async loadSnapshot(id: string): Promise<SnapshotRecord> {
    return { id, snapshot: decodeSnapshot(await this.loadSealed('snapshots', id), `${this.backend.location}/snapshots/${id}`) };
  }

  /**
   * Every intact snapshot, oldest first, and the snapshot files that cannot be trusted (cut short,
   * garbage, another kind of file, content that does not match the name, a version this holdfast
   * does not read): one damaged snapshot is reported and left out, never blocks the others (rule
   * D5). A snapshot removed meanwhile (by a forget beside us) is left out silently; an error of
   * the storage itself (EIO, EACCES) still throws, since it says nothing about the file.
   */
  async listSnapshots(): Promise<SnapshotListing> {
    const files = await this.backend.list('snapshots');
    const records: SnapshotRecord[] = [];
    const damaged: HoldfastError[] = [];
    await Promise.all(
      files.map(async (file) => {
        try {
          records.push(await this.loadSnapshot(file.name));
        } catch (error) {
          if (isErrorCode(error, 'ENOENT')) return;
          if (!isDamage(error)) throw error;
          damaged.push(error);
        }
      }),
    );
    records.sort((a, b) => Date.parse(a.snapshot.time) - Date.parse(b.snapshot.time) || a.id.localeCompare(b.id));
    damaged.sort((a, b) => a.path.localeCompare(b.path));
    return { records, damaged };
  }

  /**
   * "latest" (the newest intact snapshot, of `filter` if given; each damaged snapshot file met on
   * the way goes to `onDamaged`), or a full or short id (at least 4 hex characters, matching
   * exactly one snapshot file name; only that file is read, and a damaged one is its error).
   * HOLDFAST_NO_SNAPSHOT when none matches.
   */
  async findSnapshot(name: string, options: { filter?: (snapshot: Snapshot) => boolean; onDamaged?: (error: HoldfastError) => void } = {}): Promise<SnapshotRecord> {
    const filter = options.filter ?? ((): boolean => true);
    const fail = (reason: string): Error => holdfastError('HOLDFAST_NO_SNAPSHOT', { operation: 'find snapshot', path: name }, reason);
    if (name === 'latest') {
      const listing = await this.listSnapshots();
      for (const error of listing.damaged) options.onDamaged?.(error);
      const latest = listing.records.filter((record) => filter(record.snapshot)).at(-1);
      if (latest === undefined) throw fail(listing.damaged.length === 0 ? 'the repository has no snapshot yet' : `the repository has no intact snapshot (${listing.damaged.length} cannot be read)`);
      return latest;
    }
    if (!/^[0-9a-f]+$/.test(name) || name.length < shortIdCharactersMin) throw fail(`give "latest" or a snapshot id of at least ${shortIdCharactersMin} hex characters`);
    const matches = (await this.backend.list('snapshots')).filter((file) => file.name.startsWith(name));
    if (matches.length > 1) throw fail(`${matches.length} snapshots begin with it (${matches.map((file) => file.name.slice(0, 8)).join(', ')}); give more of the id`);
    const match = matches[0];
    if (match === undefined) throw fail('no snapshot has this id');
    let record: SnapshotRecord;
    try {
      record = await this.loadSnapshot(match.name);
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) throw fail('no snapshot has this id');
      throw error;
    }
    if (!filter(record.snapshot)) throw fail('no snapshot has this id');
    return record;
  }

  async listKeys(): Promise<KeyRecord[]> {
    const files = await this.backend.list('keys');
    return Promise.all(files.map(async (file) => ({ name: file.name, summary: readKeyFileSummary(await this.backend.load('keys', file.name)), current: file.name === this.keyName })));
  }

  /** Adds a key file that opens this repository with `password` (not empty); returns its name. */
  async addKey(password: Buffer, options: KeyOptions): Promise<string> {
    if (password.length === 0) throw holdfastError('HOLDFAST_USAGE', { operation: 'add key', path: this.backend.location }, 'the new password is empty');
    const keyFile = await createKeyFile(this.master, password, options);
    const name = storageName(keyFile);
    await this.backend.save('keys', name, keyFile);
    return name;
  }

  /**
   * Removes a key file; never the repository's only key, nor the one this session opened with,
   * so a repository always keeps a key that opens it.
   */
  async removeKey(name: string): Promise<void> {
    const context = { operation: 'remove key', path: name.slice(0, 8) };
    const names = (await this.backend.list('keys')).map((file) => file.name);
    if (names.length === 1 && names[0] === name) {
      throw holdfastError('HOLDFAST_USAGE', context, 'it is the only key of the repository: without it nothing opens the repository; add another with "holdfast key add" first');
    }
    if (name === this.keyName) {
      throw holdfastError('HOLDFAST_USAGE', context, 'this is the key in use; open the repository with another key to remove it');
    }
    // Another process may have removed the key this session opened with (with its own key).
    if (!names.includes(this.keyName)) throw holdfastError('HOLDFAST_USAGE', context, 'the key in use was removed meanwhile; removing this one too could leave no key');
    await this.backend.remove('keys', name);
  }

  /** Whether `password` opens the key file `name` to this repository's master key. */
  async keyOpensWith(name: string, password: Buffer): Promise<boolean> {
    const bytes = await this.backend.load('keys', name);
    try {
      const master = await openKeyFile(bytes, password, { path: `${this.backend.location}/keys/${name}` });
      return master.encryptionKey.equals(this.master.encryptionKey);
    } catch (error) {
      if (isErrorCode(error, 'HOLDFAST_WRONG_PASSWORD')) return false;
      throw error;
    }
  }
}

/** What a user is told of an index file loadIndex() left out: what is wrong, and what to run. */
function damagedIndexError(error: HoldfastError, path: string): HoldfastError {
  const reason = error.message.replace(/^Cannot [^"]*"[^"]*": /, '');
  return new HoldfastError(error.code, { operation: 'load index file', path, cause: error }, `${reason}; it was left out, and the packs no intact index file names are read from their own headers. Run "holdfast repair index" to rebuild the index`);
}

/**
 * The config, or null when there is no repository at all (no file, or no directory). A binary
 * config (control bytes) beside restic's directories is a restic repository: `code` with a
 * message that says so, and none of its bytes.
 */
async function readConfig(backend: Backend, code: 'HOLDFAST_NO_REPOSITORY' | 'HOLDFAST_NOT_EMPTY', context: { operation: string; path: string }): Promise<RepositoryConfig | null> {
  let bytes: Buffer;
  try {
    bytes = await backend.load('config', 'config');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT') || isErrorCode(error, 'ENOTDIR')) return null;
    throw error;
  }
  // restic's config is sealed: random bytes, where a damaged holdfast config is text.
  if (bytes.some((byte) => byte < 0x09 || (byte > 0x0d && byte < 0x20)) && (await looksLikeRestic(backend))) {
    throw holdfastError(code, context, 'this looks like a restic repository (an encrypted config beside data/, index/, keys/ and snapshots/), which holdfast cannot read');
  }
  return decodeConfig(bytes, `${backend.location}/config`);
}

/**
 * restic's directories, and a key file of restic's kind ("kdf": "scrypt") if there is one: a
 * holdfast repository whose config was damaged into binary (zeroed by a crash) is not taken for one.
 */
async function looksLikeRestic(backend: Backend): Promise<boolean> {
  const names = await backend.topLevelNames();
  if (!resticDirectoryNames.every((name) => names.includes(name))) return false;
  const key = (await backend.list('keys')).find((file) => file.sizeBytes <= resticKeyBytesMax);
  if (key === undefined) return true;
  try {
    const value = JSON.parse((await backend.load('keys', key.name)).toString('utf8')) as { kdf?: unknown } | null;
    return value?.kdf === 'scrypt';
  } catch {
    return false;
  }
}

/** Ties a master key to one repository without revealing anything of it: HMAC-SHA256 of the id. */
function keyCheck(master: MasterKey, repositoryId: string): string {
  return createHmac('sha256', master.encryptionKey).update(`holdfast key check ${repositoryId}`).digest('hex');
}

async function passwordOf(source: PasswordSource): Promise<Buffer> {
  return Buffer.isBuffer(source) ? source : source();
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

/** An error that says a file's content cannot be trusted (not that the storage failed). */
function isDamage(error: unknown): error is HoldfastError {
  return error instanceof HoldfastError && (error.code === 'HOLDFAST_INTEGRITY' || error.code === 'HOLDFAST_LIMIT_EXCEEDED' || error.code.startsWith('HOLDFAST_FORMAT_'));
}

function associatedData(kind: FileKind): Buffer {
  return Buffer.from(`holdfast ${kind}`, 'latin1');
}
