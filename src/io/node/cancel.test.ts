/**
 * Shows rule O2 on the real machine: a read cancelled while it blocks in libuv's thread pool
 * (a FIFO whose writer is late) settles only after the read has ended, keeps its lease until
 * then, and the next lease from the pool is never written by it. A read withdrawn from the queue
 * before it started settles at once as cancelled, its buffer untouched.
 *
 * The "has not settled yet" checks wait 200 ms: a slow machine can only make them pass later,
 * never fail; a design that settles on cancel fails them at once.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { BufferPool, type Lease } from '../buffer-pool.js';
import type { Handle } from '../handle.js';
import type { Io } from '../io.js';
import { createNodeIo } from './create-node-io.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';

/** A FIFO with its write end held open (O_RDWR never blocks) and a blocking read handle. */
async function lateWriterFifo(io: Io, directory: string): Promise<{ handle: Handle; writer: number; [Symbol.asyncDispose](): Promise<void> }> {
  const path = join(directory, 'late-writer');
  execFileSync('mkfifo', [path]);
  const writer = fs.openSync(path, fs.constants.O_RDWR);
  const handle = await io.open(path, { access: 'read' });
  assert.equal(handle.kind, 'fifo');
  assert.equal(handle.modes.nonBlocking, false);
  return {
    handle,
    writer,
    [Symbol.asyncDispose]: async () => {
      fs.writeSync(writer, 'x'.repeat(64)); // ends any read still waiting
      await handle.close();
      fs.closeSync(writer);
    },
  };
}

function watch<T>(promise: Promise<T>): { readonly settled: boolean; promise: Promise<T> } {
  const state = { settled: false, promise };
  void promise.then(() => {
    state.settled = true;
  });
  return state;
}

/** Cancels a read blocked in the thread pool, by cancel() or by an AbortSignal. */
async function cancelWhileBlocked(how: 'cancel' | 'signal'): Promise<void> {
  using directory = temporaryDirectory();
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: 64, bufferCountMax: 1 });
  await using fifo = await lateWriterFifo(io, directory.path);
  const controller = new AbortController();
  const operation = io.read(fifo.handle, await pool.acquire(), { signal: controller.signal });
  assert.equal(operation.state, 'running');

  if (how === 'signal') controller.abort();
  const cancelled = watch(how === 'cancel' ? operation.cancel() : operation.result);
  const next = watch(pool.acquire());
  await delay(200);
  assert.equal(cancelled.settled, false, 'cancel settled while the read still ran in the thread pool');
  assert.equal(next.settled, false, 'the pool handed out the buffer of a read still running');

  fs.writeSync(fifo.writer, 'LATE');
  const result = await cancelled.promise;
  // The read really happened: its bytes are the caller's, not silently dropped.
  assert.equal(result.status, 'completed');
  assert.equal(result.status === 'completed' && result.cancelRequested, true);
  assert.equal(result.lease.bytes.subarray(0, result.bytesTransferred).toString(), 'LATE');
  assert.equal(next.settled, false, 'the pool handed out a lease its holder had not released');
  result.lease.release();

  const reused: Lease = await next.promise;
  reused.bytes.fill(0x5a);
  fs.writeSync(fifo.writer, 'MORE');
  await delay(50);
  assert.ok(reused.bytes.every((byte) => byte === 0x5a), 'the cancelled read wrote into the next lease');
  reused.release();
  assert.equal(pool.leasesOutstanding, 0);
}

test('cancel-then-reuse: cancel() settles only after the late read ends, and the next lease is never written by it', async () => {
  await cancelWhileBlocked('cancel');
});

test('cancel-then-reuse: aborting the AbortSignal behaves as cancel()', async () => {
  await cancelWhileBlocked('signal');
});

test('a read withdrawn from the queue before it started settles at once as cancelled, its buffer untouched', async () => {
  using directory = temporaryDirectory();
  const io = createNodeIo({ operationsInFlightMax: 1 });
  const pool = new BufferPool({ bufferSizeBytes: 64, bufferCountMax: 2 });
  await using fifo = await lateWriterFifo(io, directory.path);
  const first = io.read(fifo.handle, await pool.acquire());
  const queuedLease = await pool.acquire();
  queuedLease.bytes.fill(0x11);
  const queued = io.read(fifo.handle, queuedLease);
  assert.equal(queued.state, 'queued');
  const withdrawn = await queued.cancel();
  assert.equal(withdrawn.status, 'cancelled');
  assert.equal(withdrawn.bytesTransferred, 0);
  assert.ok(withdrawn.lease.bytes.every((byte) => byte === 0x11));
  withdrawn.lease.release();
  fs.writeSync(fifo.writer, 'DATA');
  const done = await first.result;
  assert.equal(done.status, 'completed');
  done.lease.release();
});
