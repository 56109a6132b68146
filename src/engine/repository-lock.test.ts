import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withRepository, type RepositorySession } from './repository-session.js';
import { isErrorCode } from '../errors/holdfast-error.js';
import { encodeJson } from '../format/repo/snapshot-codec.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { TraceRecorder } from '../trace/trace-recorder.js';
import { testKdfParameters } from '../repo/key-file.js';
import { listLocks, RepositoryLock, waitForLocks, type LockRecord } from '../repo/lock.js';

async function inRepository(body: (session: RepositorySession) => Promise<void>): Promise<void> {
  using directory = temporaryDirectory();
  const recorder = new TraceRecorder();
  try {
    await withRepository({ location: join(directory.path, 'repo'), password: Buffer.from('pw'), recorder, create: { hostname: 'test', username: 'test', kdf: testKdfParameters } }, body);
  } finally {
    recorder.close();
  }
}

function lockRecord(overrides: Partial<LockRecord>): LockRecord {
  const now = new Date().toISOString();
  return { version: 1, id: 'f'.repeat(32), mode: 'exclusive', operation: 'someone else', hostname: hostname(), username: 'other', pid: process.pid, processStart: null, created: now, refreshed: now, ...overrides };
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isErrorCode(error, code), `expected ${code}, got ${String(error)}`);
    if (pattern !== undefined) assert.match((error as Error).message, pattern);
    return true;
  });
}

test('shared locks coexist; exclusive and prune are refused beside what they exclude, and named', async () => {
  await inRepository(async ({ repository }) => {
    const first = await RepositoryLock.acquire(repository, { mode: 'shared', operation: 'backup one' });
    const second = await RepositoryLock.acquire(repository, { mode: 'shared', operation: 'backup two' });
    const prune = await RepositoryLock.acquire(repository, { mode: 'prune', operation: 'prune one' });
    await rejectsWith(RepositoryLock.acquire(repository, { mode: 'prune', operation: 'prune two' }), 'HOLDFAST_LOCKED', /prune lock of "prune one"/);
    await rejectsWith(RepositoryLock.acquire(repository, { mode: 'exclusive', operation: 'repair' }), 'HOLDFAST_LOCKED', /shared lock of "backup one"/);
    // A refused lock leaves nothing behind.
    assert.equal((await listLocks(repository)).length, 3);
    await Promise.all([first.release(), second.release(), prune.release()]);
    const exclusive = await RepositoryLock.acquire(repository, { mode: 'exclusive', operation: 'repair' });
    await rejectsWith(RepositoryLock.acquire(repository, { mode: 'shared', operation: 'backup three' }), 'HOLDFAST_LOCKED', /exclusive lock of "repair"/);
    await exclusive.release();
    assert.equal((await listLocks(repository)).length, 0);
  });
});

test('retrying outlasts a conflicting lock that is released meanwhile', async () => {
  await inRepository(async ({ repository }) => {
    const shared = await RepositoryLock.acquire(repository, { mode: 'shared', operation: 'backup' });
    setTimeout(() => void shared.release(), 300);
    const exclusive = await RepositoryLock.acquire(repository, { mode: 'exclusive', operation: 'repair', retryMs: 10_000 });
    assert.equal(exclusive.mode, 'exclusive');
    await exclusive.release();
  });
});

test('a lock of a process that is gone, or not refreshed for 30 minutes, is stale: ignored and removed', async () => {
  await inRepository(async ({ repository }) => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    assert.ok(deadPid > 0);
    await repository.saveSealed('locks', encodeJson(lockRecord({ id: 'a'.repeat(32), pid: deadPid })));
    const old = new Date(Date.now() - 31 * 60 * 1000).toISOString();
    await repository.saveSealed('locks', encodeJson(lockRecord({ id: 'b'.repeat(32), hostname: 'another-host', created: old, refreshed: old })));
    // A live lock of another host refreshed just now is honoured.
    const live = lockRecord({ id: 'c'.repeat(32), hostname: 'another-host', mode: 'shared' });
    const liveName = await repository.saveSealed('locks', encodeJson(live));
    const notes: string[] = [];
    await rejectsWith(RepositoryLock.acquire(repository, { mode: 'exclusive', operation: 'repair', onNote: (note) => notes.push(note) }), 'HOLDFAST_LOCKED', /another-host/);
    assert.equal(notes.length, 2, notes.join('\n'));
    const left = await listLocks(repository);
    assert.deepEqual(left.map((lock) => lock.record.id), [live.id]);
    await repository.backend.remove('locks', liveName);
    const exclusive = await RepositoryLock.acquire(repository, { mode: 'exclusive', operation: 'repair' });
    await exclusive.release();
  });
});

test('a lock removed by another process is lost: assertHeld fails, and a refresh notices', async () => {
  await inRepository(async ({ repository }) => {
    const lock = await RepositoryLock.acquire(repository, { mode: 'shared', operation: 'backup' });
    await lock.assertHeld('save snapshot');
    for (const held of await listLocks(repository)) await repository.backend.remove('locks', held.name);
    await rejectsWith(lock.assertHeld('save snapshot'), 'HOLDFAST_LOCK_LOST', /removed it as stale/);
    await lock.refresh();
    await rejectsWith(lock.assertHeld('save snapshot'), 'HOLDFAST_LOCK_LOST');
    assert.equal((await listLocks(repository)).length, 0, 'a lost lock is not written again');
    await lock.release();
  });
});

test('a refresh replaces the lock file and keeps its id; waitForLocks follows the id until release', async () => {
  await inRepository(async ({ repository }) => {
    const lock = await RepositoryLock.acquire(repository, { mode: 'shared', operation: 'backup' });
    const before = await listLocks(repository);
    await lock.refresh();
    const after = await listLocks(repository);
    assert.equal(after.length, 1);
    assert.notEqual(after[0]!.name, before[0]!.name);
    assert.equal(after[0]!.record.id, lock.id);
    assert.equal(await waitForLocks(repository, new Set([lock.id]), { timeoutMs: 300, pollMs: 50 }), false);
    setTimeout(() => void lock.release(), 200);
    assert.equal(await waitForLocks(repository, new Set([lock.id]), { timeoutMs: 10_000, pollMs: 50 }), true);
  });
});
