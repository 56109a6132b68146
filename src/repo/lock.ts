/**
 * Repository locks (docs/concurrency.md): who is working in the repository, so that prune never
 * deletes what a running operation may still need, and repair runs alone.
 *
 * A lock is a sealed file in locks/ naming its holder (host, user, pid and the process's start
 * time), its mode, a random id that stays the same for the lock's life, and when it was last
 * refreshed. Modes and what each excludes:
 *
 *   shared     backup, restore, check, forget, ls, ...   excludes exclusive
 *   prune      prune                                     excludes prune and exclusive
 *   exclusive  repair                                    excludes every other lock
 *
 * Taking a lock writes it first and then lists the others: two processes that race both see
 * each other and both back off (then retry with jitter, if asked to), so two conflicting locks
 * are never both held. A lock is refreshed (rewritten) every 5 minutes and is stale when it was
 * not refreshed for 30, or when its holder runs on this host and is gone (no such pid, or the
 * pid now belongs to a process that started at another time). Stale locks are removed when a
 * lock is taken. A holder whose lock was removed as stale, or that could not refresh it in time,
 * has lost it: `assertHeld()` then fails, and a backup does not write its snapshot.
 *
 * Shared locks never wait for prune: prune takes its own mode, and instead of excluding backups
 * it waits for the operations that began before it rewrote the index (waitForLocks).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname as hostName, userInfo } from 'node:os';
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import { encodeJson } from '../format/repo/snapshot-codec.js';
import type { Repository } from './repository.js';

export type LockMode = 'shared' | 'prune' | 'exclusive';

export interface LockRecord {
  version: 1;
  /** Random, the same across refreshes: what waitForLocks follows. */
  id: string;
  mode: LockMode;
  operation: string;
  hostname: string;
  username: string;
  pid: number;
  /** The process's start time in clock ticks since boot (Linux /proc), or null. */
  processStart: string | null;
  created: string;
  refreshed: string;
}

export interface HeldLock {
  name: string;
  record: LockRecord;
  stale: boolean;
}

export interface LockOptions {
  mode: LockMode;
  operation: string;
  /** Keep trying this long while another process holds a conflicting lock (default 0: fail at once). */
  retryMs?: number;
  staleAfterMs?: number;
  refreshEveryMs?: number;
  /** Told about stale locks removed and locks waited for. */
  onNote?: (message: string) => void;
  /** Ends the wait for a conflicting lock early (rejects with its reason). */
  signal?: AbortSignal;
}

export const lockStaleAfterMs = 30 * 60 * 1000;
export const lockRefreshEveryMs = 5 * 60 * 1000;

const conflicts: Record<LockMode, readonly LockMode[]> = {
  shared: ['exclusive'],
  prune: ['prune', 'exclusive'],
  exclusive: ['shared', 'prune', 'exclusive'],
};

export class RepositoryLock {
  readonly #repository: Repository;
  readonly #staleAfterMs: number;
  #record: LockRecord;
  #name: string;
  #refreshedAtMs: number;
  #lost: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #refreshing: Promise<void> = Promise.resolve();
  #released = false;

  private constructor(repository: Repository, record: LockRecord, name: string, staleAfterMs: number) {
    this.#repository = repository;
    this.#record = record;
    this.#name = name;
    this.#refreshedAtMs = Date.parse(record.refreshed);
    this.#staleAfterMs = staleAfterMs;
  }

  get id(): string {
    return this.#record.id;
  }

  get mode(): LockMode {
    return this.#record.mode;
  }

  /** Takes a lock of `mode`; HOLDFAST_LOCKED (exit 11) when a conflicting one is held past retryMs. */
  static async acquire(repository: Repository, options: LockOptions): Promise<RepositoryLock> {
    const staleAfterMs = options.staleAfterMs ?? lockStaleAfterMs;
    const deadline = Date.now() + (options.retryMs ?? 0);
    const now = new Date().toISOString();
    const record: LockRecord = {
      version: 1,
      id: randomBytes(16).toString('hex'),
      mode: options.mode,
      operation: options.operation,
      hostname: hostName(),
      username: userInfo().username,
      pid: process.pid,
      processStart: processStartTime(process.pid),
      created: now,
      refreshed: now,
    };
    for (let attempt = 0; ; attempt++) {
      const name = await saveLock(repository, record);
      const others = (await listLocks(repository, staleAfterMs)).filter((lock) => lock.record.id !== record.id);
      await removeStale(repository, others, options.onNote);
      const blocking = others.filter((lock) => !lock.stale && conflicts[options.mode].includes(lock.record.mode));
      if (blocking.length === 0) {
        const lock = new RepositoryLock(repository, record, name, staleAfterMs);
        lock.#startRefreshing(options.refreshEveryMs ?? lockRefreshEveryMs);
        return lock;
      }
      await removeQuietly(repository, name);
      options.signal?.throwIfAborted();
      if (Date.now() >= deadline) {
        throw holdfastError('HOLDFAST_LOCKED', { operation: `lock repository (${options.mode}) for ${options.operation}`, path: repository.backend.location }, `it is locked by ${blocking.map(describeLock).join('; ')}`);
      }
      // Back off with jitter, so that two processes that keep racing stop meeting.
      const pauseMs = Math.min(5000, 200 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random());
      await pause(Math.min(pauseMs, Math.max(0, deadline - Date.now())), options.signal);
      record.refreshed = new Date().toISOString();
    }
  }

  /** Fails with HOLDFAST_LOCK_LOST when this lock was removed by another process or went stale. */
  async assertHeld(operation: string): Promise<void> {
    await this.#refreshing;
    const fail = (reason: string): Error => holdfastError('HOLDFAST_LOCK_LOST', { operation, path: `${this.#repository.backend.location}/locks/${this.#name.slice(0, 16)}` }, reason);
    if (this.#released) throw fail('the lock was already released');
    if (this.#lost !== null) throw fail(this.#lost);
    if (Date.now() - this.#refreshedAtMs > this.#staleAfterMs) throw fail(`it was not refreshed for ${Math.round((Date.now() - this.#refreshedAtMs) / 60000)} minutes, so others may treat it as stale`);
    try {
      await this.#repository.backend.stat('locks', this.#name);
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) throw fail('another process removed it as stale');
      throw error;
    }
  }

  /** Rewrites the lock with a new refresh time; the old file goes once the new one is durable. */
  async refresh(): Promise<void> {
    const run = this.#refreshing.then(async () => {
      if (this.#released || this.#lost !== null) return;
      const record = { ...this.#record, refreshed: new Date().toISOString() };
      const name = await saveLock(this.#repository, record);
      const previous = this.#name;
      this.#record = record;
      this.#name = name;
      this.#refreshedAtMs = Date.parse(record.refreshed);
      if (previous === name) return;
      try {
        await this.#repository.backend.remove('locks', previous);
      } catch (error) {
        if (!isErrorCode(error, 'ENOENT')) throw error;
        // Someone removed our lock as stale: they may have acted as if we were gone.
        this.#lost = 'another process removed it as stale';
        await removeQuietly(this.#repository, name);
      }
    });
    this.#refreshing = run.catch(() => undefined);
    await run;
  }

  async release(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#refreshing;
    if (this.#released) return;
    this.#released = true;
    await removeQuietly(this.#repository, this.#name);
  }

  #startRefreshing(everyMs: number): void {
    // A failed refresh is tried again at the next tick; assertHeld() notices if none succeeds in time.
    this.#timer = setInterval(() => void this.refresh().catch(() => undefined), everyMs);
    this.#timer.unref();
  }
}

/** Every readable lock, stale or not. A lock that vanishes while it is read was released. */
export async function listLocks(repository: Repository, staleAfterMs = lockStaleAfterMs): Promise<HeldLock[]> {
  const files = await repository.backend.list('locks');
  const found: HeldLock[] = [];
  for (const file of files) {
    let record: LockRecord;
    try {
      record = decodeLock(await repository.loadSealed('locks', file.name), file.name);
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) continue;
      // Not a lock of this repository's key (or damaged): it guards nothing we can honour.
      continue;
    }
    found.push({ name: file.name, record, stale: isStale(record, staleAfterMs) });
  }
  return found;
}

/**
 * Waits until none of the locks with these ids is held any more (released or stale); returns
 * false when `timeoutMs` passed first. Prune uses it to outlast every operation that began before
 * it rewrote the index.
 */
export async function waitForLocks(repository: Repository, ids: ReadonlySet<string>, options: { timeoutMs: number; pollMs?: number; staleAfterMs?: number; signal?: AbortSignal }): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const live = (await listLocks(repository, options.staleAfterMs)).filter((lock) => ids.has(lock.record.id) && !lock.stale);
    if (live.length === 0) return true;
    if (Date.now() >= deadline) return false;
    await pause(Math.min(options.pollMs ?? 1000, Math.max(1, deadline - Date.now())), options.signal);
  }
}

/** Waits `durationMs`; an abort of `signal` ends the wait early with its reason. */
async function pause(durationMs: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, durationMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function describeLock(lock: HeldLock): string {
  const { record } = lock;
  return `${record.mode} lock of "${record.operation}" by ${record.username}@${record.hostname} pid ${record.pid} since ${record.created}`;
}

function isStale(record: LockRecord, staleAfterMs: number): boolean {
  const refreshed = Date.parse(record.refreshed);
  if (Number.isNaN(refreshed) || Date.now() - refreshed > staleAfterMs) return true;
  if (record.hostname !== hostName()) return false;
  if (!processIsAlive(record.pid)) return true;
  const start = processStartTime(record.pid);
  return record.processStart !== null && start !== null && start !== record.processStart;
}

async function removeStale(repository: Repository, locks: readonly HeldLock[], onNote: ((message: string) => void) | undefined): Promise<void> {
  for (const lock of locks) {
    if (!lock.stale) continue;
    await removeQuietly(repository, lock.name);
    onNote?.(`removed a stale ${describeLock(lock)}`);
  }
}

async function saveLock(repository: Repository, record: LockRecord): Promise<string> {
  return repository.saveSealed('locks', encodeJson(record));
}

async function removeQuietly(repository: Repository, name: string): Promise<void> {
  try {
    await repository.backend.remove('locks', name);
  } catch (error) {
    if (!isErrorCode(error, 'ENOENT')) throw error;
  }
}

function decodeLock(bytes: Buffer, name: string): LockRecord {
  const value = JSON.parse(bytes.toString('utf8')) as Partial<LockRecord>;
  const modes: readonly unknown[] = ['shared', 'prune', 'exclusive'];
  if (value.version !== 1 || typeof value.id !== 'string' || !modes.includes(value.mode) || typeof value.pid !== 'number' || typeof value.hostname !== 'string' || typeof value.created !== 'string' || typeof value.refreshed !== 'string') {
    throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read lock', path: name }, 'not a lock record');
  }
  return value as LockRecord;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return !isErrorCode(error, 'ESRCH');
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
