/**
 * Holdfast: the library's front door (docs/library.md). One object per repository that does what
 * the CLI's verbs do — init, backup, snapshots, restore, check, forget, prune — with plain options
 * and plain results, and nothing of the machinery (handles, buffer pools, worker pools) showing.
 *
 * Each call opens the repository in a session of its own (key derivation, index, the lock of
 * docs/concurrency.md, worker threads) and returns only after all of it is released again, so a
 * Holdfast holds nothing between calls and needs no closing. Failures are HoldfastError with a
 * stable `code` (HOLDFAST_WRONG_PASSWORD, HOLDFAST_NO_REPOSITORY, HOLDFAST_LOCKED, ...); problems
 * with single entries go to `onProblem` and the call goes on.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { hostname as hostName, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { backup } from '../engine/backup.js';
import { backupFilter, excludingDirectory } from '../engine/backup-filter.js';
import { checkRepository, type CheckSummary } from '../engine/check.js';
import { applyPolicy, emptyPolicy, groupSnapshots, type ForgetPolicy } from '../engine/forget-policy.js';
import { pruneRepository, type PruneSummary } from '../engine/prune.js';
import { withRepository, type RepositorySession } from '../engine/repository-session.js';
import { restoreSnapshot, type SnapshotRestoreSummary } from '../engine/restore.js';
import { entryPathIn, latestParent } from '../engine/snapshot-paths.js';
import type { LockMode } from '../repo/lock.js';
import type { KdfParameters } from '../repo/key-file.js';
import type { SnapshotSummary } from '../format/repo/snapshot-codec.js';
import { OwnerNames } from '../source/owner-names.js';
import { TraceRecorder } from '../trace/trace-recorder.js';

export interface HoldfastOptions {
  /** Where the repository is: a directory. */
  repository: string;
  password: string | Buffer;
  /** Called for each entry left out or restored not quite exactly; the call goes on. */
  onProblem?: (path: string, message: string) => void;
  /** Key derivation parameters for init (default: what the CLI writes). */
  kdf?: KdfParameters;
}

/** A snapshot as `snapshots()` lists it. */
export interface SnapshotInfo {
  id: string;
  /** ISO 8601: when its backup began. */
  time: string;
  hostname: string;
  username: string;
  paths: string[];
  tags: string[];
  parent: string | null;
  summary: SnapshotSummary;
}

export interface HoldfastBackupOptions {
  tags?: string[];
  /** Default: this machine's host name. */
  hostname?: string;
  /** Exclude patterns, as `backup --exclude` takes them. */
  exclude?: string[];
  /** Read every file, even those unchanged since the last snapshot of the same paths. */
  force?: boolean;
}

export interface HoldfastBackupResult {
  snapshotId: string;
  parentId: string | null;
  summary: SnapshotSummary;
}

export interface HoldfastRestoreOptions {
  /**
   * Restore only this path of the snapshot (as it was backed up, "/srv/data/sub"), as
   * `target/sub`. Without it the whole snapshot is restored by absolute path (`target/srv/data/sub`).
   */
  path?: string;
  /** Restore owners (as root only; default: when running as root). */
  owners?: boolean;
}

export interface HoldfastCheckResult extends CheckSummary {
  /** What check found, one line each (empty when the repository is sound). */
  messages: string[];
}

export interface HoldfastForgetResult {
  kept: string[];
  removed: string[];
}

export class Holdfast {
  readonly #options: HoldfastOptions;

  constructor(options: HoldfastOptions) {
    this.#options = { ...options, repository: resolve(options.repository) };
  }

  /** Creates the repository (HOLDFAST_REPOSITORY_EXISTS if one is there); returns its id. */
  async init(): Promise<string> {
    const owner = { hostname: hostName(), username: userInfo().username, ...(this.#options.kdf === undefined ? {} : { kdf: this.#options.kdf }) };
    return this.#session({ create: owner, lock: null }, ({ repository }) => Promise.resolve(repository.config.id));
  }

  /**
   * Stores `paths` (files or directories) as a new snapshot. A file whose device, inode, size,
   * mtime and ctime match the last snapshot of the same paths and host is not read again.
   */
  async backup(paths: readonly string[], options: HoldfastBackupOptions = {}): Promise<HoldfastBackupResult> {
    const absolute = paths.map((path) => realpathSync(resolve(path)));
    const hostname = options.hostname ?? hostName();
    return this.#session({ lock: 'shared' }, async ({ io, pool, repository, lock, fileBatches }) => {
      const parent = options.force === true ? null : latestParent((await repository.listSnapshots()).records, hostname, absolute);
      const patterns = backupFilter(io, { patterns: options.exclude ?? [], patternsCaseInsensitive: [], markers: [], sizeBytesMax: null, pool });
      // The repository is never stored in itself (a backup of "/" or of a directory holding it).
      const exclude = excludingDirectory(patterns, await io.lstat(this.#options.repository), () => undefined);
      const result = await backup(io, repository, absolute, {
        paths: absolute,
        tags: options.tags ?? [],
        hostname,
        username: userInfo().username,
        ownerNames: await OwnerNames.load(),
        pool,
        parent,
        exclude,
        fileBatches,
        beforeSnapshot: async () => lock?.assertHeld('save snapshot'),
        onProblem: (path, error) => this.#options.onProblem?.(path, error.message),
      });
      return { snapshotId: result.snapshotId!, parentId: parent?.id ?? null, summary: result.snapshot.summary };
    });
  }

  /** Every snapshot, oldest first. Damaged snapshot files are left out and named to onProblem. */
  async snapshots(): Promise<SnapshotInfo[]> {
    return this.#session({ lock: 'shared', loadIndex: false }, async ({ repository }) => {
      const listing = await repository.listSnapshots();
      for (const error of listing.damaged) this.#options.onProblem?.(error.path, error.message);
      return listing.records.map(({ id, snapshot }) => ({ id, time: snapshot.time, hostname: snapshot.hostname, username: snapshot.username, paths: snapshot.paths, tags: snapshot.tags, parent: snapshot.parent, summary: snapshot.summary }));
    });
  }

  /**
   * Restores a snapshot ("latest" or a full or short id) under `target` (created if missing),
   * with every part of every file. Entries that cannot be restored go to onProblem.
   */
  async restore(snapshot: string, target: string, options: HoldfastRestoreOptions = {}): Promise<SnapshotRestoreSummary> {
    return this.#session({ lock: 'shared' }, async ({ io, pool, repository, restoreBatches }) => {
      const record = await repository.findSnapshot(snapshot);
      mkdirSync(target, { recursive: true });
      const root = process.getuid?.() === 0;
      const problem = (path: string, message: string): void => this.#options.onProblem?.(path, message);
      return restoreSnapshot(io, repository, record.snapshot, Buffer.from(realpathSync(target)), {
        pool,
        batches: restoreBatches,
        subPath: entryPathIn(record.snapshot, options.path ?? null),
        owners: options.owners ?? root,
        numericOwner: false,
        acls: true,
        xattrs: true,
        privilegedXattrs: root,
        ownerNames: await OwnerNames.load(),
        onWarning: problem,
        onRefused: (path, error) => problem(path, error.message),
        onNotRestored: (path, reason) => problem(path, reason),
        onDamagedTree: (treeId, error) => problem(`tree ${treeId}`, error.message),
      });
    });
  }

  /** Checks the repository; with readData, reads and verifies every blob too. */
  async check(options: { readData?: boolean } = {}): Promise<HoldfastCheckResult> {
    return this.#session({ lock: 'shared', loadIndex: false }, async ({ repository }) => {
      const messages: string[] = [];
      const summary = await checkRepository(repository, { readData: options.readData === true, onProblem: (problem) => messages.push(`${problem.subject}: ${problem.message}`) });
      return { ...summary, messages };
    });
  }

  /**
   * Removes the snapshots `policy` does not keep, group by group (same host and paths), as
   * `holdfast forget --keep-*`; the data they alone used stays until prune().
   */
  async forget(policy: Partial<ForgetPolicy>, options: { dryRun?: boolean } = {}): Promise<HoldfastForgetResult> {
    const full: ForgetPolicy = { ...emptyPolicy, ...policy };
    return this.#session({ lock: 'shared', loadIndex: false }, async ({ repository }) => {
      const listing = await repository.listSnapshots();
      const result: HoldfastForgetResult = { kept: [], removed: [] };
      const groups = groupSnapshots(listing.records.map((record) => ({ ...record.snapshot, id: record.id })), { host: true, paths: true, tags: false });
      for (const group of groups) {
        const decision = applyPolicy(group.snapshots, full, Date.now());
        result.kept.push(...decision.keep.map((kept) => kept.snapshot.id));
        for (const removed of decision.remove) {
          if (options.dryRun !== true) await repository.backend.remove('snapshots', removed.id);
          result.removed.push(removed.id);
        }
      }
      return result;
    });
  }

  /** Deletes and repacks what no snapshot needs, beside running backups (docs/concurrency.md). */
  async prune(options: { dryRun?: boolean } = {}): Promise<PruneSummary> {
    return this.#session({ lock: 'prune' }, async ({ repository, lock }) => pruneRepository(repository, { dryRun: options.dryRun === true, lock }));
  }

  async #session<T>(options: { create?: { hostname: string; username: string; kdf?: KdfParameters }; lock: LockMode | null; loadIndex?: boolean }, body: (session: RepositorySession) => Promise<T>): Promise<T> {
    const password = typeof this.#options.password === 'string' ? Buffer.from(this.#options.password, 'utf8') : this.#options.password;
    const recorder = new TraceRecorder();
    try {
      return await withRepository(
        {
          location: this.#options.repository,
          password,
          recorder,
          ...(options.create === undefined ? {} : { create: options.create }),
          ...(options.loadIndex === false ? { loadIndex: false } : {}),
          lock: options.lock === null ? null : { mode: options.lock, operation: `library ${options.lock === 'prune' ? 'prune' : 'session'} (pid ${process.pid})` },
        },
        body,
      );
    } finally {
      recorder.close();
    }
  }
}
