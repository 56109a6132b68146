/**
 * Shows rule O1's bookkeeping: the pool never hands out more than bufferCountMax buffers, waiters
 * are served in order, an aborted wait holds nothing, and a lease lent to an operation cannot be
 * read, released or lent again by its holder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionError } from '../base/assert.js';
import { BufferPool, lendLease, returnLease } from './buffer-pool.js';

test('acquire() waits when every buffer is out and serves waiters in order', async () => {
  const pool = new BufferPool({ bufferSizeBytes: 8, bufferCountMax: 2 });
  const first = await pool.acquire();
  const second = await pool.acquire();
  assert.equal(pool.tryAcquire(), null);
  const order: string[] = [];
  const third = pool.acquire().then((lease) => (order.push('third'), lease));
  const fourth = pool.acquire().then((lease) => (order.push('fourth'), lease));
  first.release();
  second.release();
  (await third).release();
  (await fourth).release();
  assert.deepEqual(order, ['third', 'fourth']);
  assert.equal(pool.leasesOutstanding, 0);
});

test('an aborted wait rejects with HOLDFAST_ABORTED and takes no buffer', async () => {
  const pool = new BufferPool({ bufferSizeBytes: 8, bufferCountMax: 1 });
  const held = await pool.acquire();
  const controller = new AbortController();
  const waiting = pool.acquire({ signal: controller.signal });
  controller.abort();
  await assert.rejects(waiting, { code: 'HOLDFAST_ABORTED' });
  held.release();
  const again = pool.tryAcquire();
  assert.ok(again !== null, 'the aborted waiter kept the buffer');
  again.release();
});

test('a lent lease cannot be read, released or lent again by its holder', () => {
  const pool = new BufferPool({ bufferSizeBytes: 8, bufferCountMax: 1 });
  const lease = pool.tryAcquire();
  assert.ok(lease !== null);
  lendLease(lease, 41);
  assert.throws(() => lease.bytes, AssertionError);
  assert.throws(() => lease.release(), AssertionError);
  assert.throws(() => lendLease(lease, 42), { code: 'HOLDFAST_LEASE_STATE' });
  assert.throws(() => returnLease(lease, 42), AssertionError);
  returnLease(lease, 41);
  assert.equal(pool.leasesLent, 0);
  lease.release();
  assert.throws(() => lease.release(), AssertionError);
  assert.equal(pool.leasesOutstanding, 0);
});
