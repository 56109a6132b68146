/**
 * A repository session: everything a repository verb needs, made and released in one scope —
 * the Io, the buffers, the traced worker pool that seals and opens blobs, and the opened
 * repository with its index (an index file that does not open is left out, listed in
 * repository.damagedIndexFiles, and the packs no intact index names are read from their headers).
 *
 *   await withRepository({ location, password, recorder }, async (session) => { ... });
 *
 * The scope returns only after the workers have exited, whether the body succeeded or threw.
 *
 * Stopping early (`signal`, SIGINT in the CLI): the body sees `session.signal` and stops at its
 * next safe point (every repository write is durable before it is referenced, rule D1, so any
 * await is one); the worker pool refuses new jobs at once, lets the running ones finish and only
 * then ends its workers; the lock is released. The scope then rejects with the signal's reason.
 */
import { availableParallelism } from 'node:os';
import { isErrorCode } from '../errors/holdfast-error.js';
import { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import { siblingModuleUrl } from '../pool/sibling-module-url.js';
import { WorkerPool } from '../pool/worker-pool.js';
import type { FileBatches } from '../source/file-batches.js';
import { workerFileBatches } from './file-batches.js';
import type { RestoreBatches } from '../streams/restore-batches.js';
import { workerRestoreBatches } from './restore-batches.js';
import { LocalBackend } from '../repo/backend/local-backend.js';
import { RepositoryLock, type LockOptions } from '../repo/lock.js';
import { Repository, type KeyOptions, type PasswordSource } from '../repo/repository.js';
import { adoptUnindexedPacks } from './reused-packs.js';
import type { TraceRecorder } from '../trace/trace-recorder.js';

export interface RepositorySession {
  io: Io;
  /** 1 MiB buffers for file data and repository files. */
  pool: BufferPool;
  repository: Repository;
  /** The lock this session holds (docs/concurrency.md), or null when it was opened without one. */
  lock: RepositoryLock | null;
  /** Aborted when the session's work should stop (SessionOptions.signal); never, without one. */
  signal: AbortSignal;
  /** A directory's names stat-ed and its small files read many at a time, on the workers (a backup's walk). */
  fileBatches: FileBatches;
  /** Small files created many at a time in their directory, on the workers (a restore). */
  restoreBatches: RestoreBatches;
}

export interface SessionOptions {
  location: string;
  /** A function is asked only once the repository was found (or, to create one, none was). */
  password: PasswordSource;
  recorder: TraceRecorder;
  /** Make the repository first (init); it must not exist yet. */
  create?: KeyOptions;
  /** Load the index (every verb but init, key and snapshots needs it). Default true. */
  loadIndex?: boolean;
  /**
   * The lock to hold for the session, taken before the index is read (so that prune knows the
   * session may use what that index names) and released at its end. Null: none (init, a
   * read-only look).
   */
  lock?: LockOptions | null;
  /**
   * For a session that only reads: when the lock cannot be written because the repository is
   * read-only (EROFS: a backup disk mounted read-only, a file system snapshot; EACCES, EPERM:
   * not this user's to write), this is told why and the session goes on without a lock rather
   * than failing. Without it such a lock failure throws.
   */
  onLockUnwritable?: (error: Error) => void;
  /** Stops the session's work early: see the top of this file. */
  signal?: AbortSignal;
}

/** Errors of a lock write that say the repository cannot be written at all. */
const unwritableCodes = ['EROFS', 'EACCES', 'EPERM'] as const;

const bufferBytes = 1024 * 1024;
const buffersMax = 64;
/** Pack files a session keeps open for ranged reads (restore, dump, check): few, a descriptor each. */
const packFilesOpenMax = 16;

async function takeLock(repository: Repository, options: SessionOptions, signal: AbortSignal): Promise<RepositoryLock | null> {
  if (options.lock === undefined || options.lock === null) return null;
  try {
    return await RepositoryLock.acquire(repository, { ...options.lock, signal });
  } catch (error) {
    if (options.onLockUnwritable === undefined || !unwritableCodes.some((code) => isErrorCode(error, code))) throw error;
    options.onLockUnwritable(error as Error);
    return null;
  }
}

export async function withRepository<T>(options: SessionOptions, body: (session: RepositorySession) => Promise<T>): Promise<T> {
  const signal = options.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: bufferBytes, bufferCountMax: buffersMax, label: 'repository' });
  const workers = await WorkerPool.start({
    name: 'blob workers',
    workerUrl: siblingModuleUrl(import.meta.url, 'worker-jobs'),
    workerCount: Math.max(1, availableParallelism()),
    recorder: options.recorder,
    signal,
  });
  // A restore reads blob after blob from a few packs: they stay open between reads.
  const backend = new LocalBackend(io, options.location, pool, { packFilesOpenMax });
  try {
    const repository = options.create === undefined ? await Repository.open(backend, options.password, { workers }) : await Repository.init(backend, options.password, { ...options.create, workers });
    signal.throwIfAborted();
    const lock = await takeLock(repository, options, signal);
    try {
      if (options.create === undefined && options.loadIndex !== false) {
        await repository.loadIndex();
        // A damaged index file was left out: the blobs only it named are found from the packs'
        // own headers (as a killed backup's packs are), so restore, ls and backup still work.
        if (repository.damagedIndexFiles.length > 0) await adoptUnindexedPacks(repository);
      }
      signal.throwIfAborted();
      return await body({ io, pool, repository, lock, signal, fileBatches: workerFileBatches(workers), restoreBatches: workerRestoreBatches(io, workers) });
    } finally {
      await lock?.release();
    }
  } finally {
    await backend.close();
    await workers.close();
  }
}
