/**
 * Shows the rules of QueuedBytesBudget with small limits: reservations wait for room per
 * connection and in total, first come first served; a connection that holds nothing is always
 * served; closing a connection gives back what it held and rejects what it waited for; and the
 * peaks are what was held at most.
 *
 * How: accounts of one budget reserve and release by hand; a reservation's state is read by
 * letting pending promise callbacks run (setImmediate) and checking whether it settled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueuedBytesBudget } from './queued-bytes-budget.js';

function tracked(promise: Promise<void>): { settled: () => 'granted' | 'rejected' | 'waiting' } {
  let state: 'granted' | 'rejected' | 'waiting' = 'waiting';
  promise.then(
    () => (state = 'granted'),
    () => (state = 'rejected'),
  );
  return { settled: () => state };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const closed = (): Error => new Error('closed');

test('a connection waits for its own room, and gets it when its bytes are released', async () => {
  const budget = new QueuedBytesBudget({ connectionQueuedBytesMax: 100, totalQueuedBytesMax: 1000 });
  const account = budget.open();
  await account.reserve(60, closed);
  const second = tracked(account.reserve(60, closed));
  await tick();
  assert.equal(second.settled(), 'waiting');
  account.release(60);
  await tick();
  assert.equal(second.settled(), 'granted');
  assert.equal(account.queuedBytes, 60);
  assert.equal(budget.stats().connectionQueuedBytesPeak, 60);
});

test('when the total is full, waiters are served in order, and one holding nothing is served at once', async () => {
  const budget = new QueuedBytesBudget({ connectionQueuedBytesMax: 100, totalQueuedBytesMax: 100 });
  const [first, second, third, idle] = [budget.open(), budget.open(), budget.open(), budget.open()];
  await first.reserve(50, closed);
  await second.reserve(50, closed);
  // Both hold something, so both wait for the total: the larger asked first.
  const large = tracked(first.reserve(40, closed));
  const small = tracked(second.reserve(10, closed));
  const fresh = tracked(idle.reserve(30, closed));
  await tick();
  assert.deepEqual([large.settled(), small.settled(), fresh.settled()], ['waiting', 'waiting', 'granted']);
  assert.equal(budget.stats().queuedBytes, 130, 'the total plus one request of a connection that held nothing');
  idle.release(30);
  third.close();
  second.release(20);
  await tick();
  assert.deepEqual([large.settled(), small.settled()], ['waiting', 'waiting'], 'the small one does not overtake the large one');
  second.release(30);
  await tick();
  assert.deepEqual([large.settled(), small.settled()], ['granted', 'granted']);
  assert.equal(budget.stats().queuedBytesPeak, 130);
});

test('closing a connection gives back what it held and rejects its waiting reservation', async () => {
  const budget = new QueuedBytesBudget({ connectionQueuedBytesMax: 100, totalQueuedBytesMax: 1000 });
  const account = budget.open();
  await account.reserve(100, closed);
  const waiting = tracked(account.reserve(10, closed));
  await tick();
  assert.equal(budget.stats().waiting, 1);
  account.close();
  await tick();
  assert.equal(waiting.settled(), 'rejected');
  assert.deepEqual({ ...budget.stats(), queuedBytesPeak: 0, connectionQueuedBytesPeak: 0 }, { queuedBytes: 0, queuedBytesPeak: 0, connectionQueuedBytesPeak: 0, waiting: 0 });
  account.release(100); // a late write callback: nothing left to give back
  assert.equal(budget.stats().queuedBytes, 0);
  await assert.rejects(account.reserve(1, closed), /closed/);
});
