/**
 * WriteGate, the hold of flush-and-hold (rule S1): hold() resolves only once the writes in flight
 * have left; writes that arrive during the hold wait (they never fail) and go on after release()
 * in arrival order; and the writes release() lets go count as in flight at once, so a hold taken
 * right after a release waits for them too. Plain in-memory cases: "not yet" is checked after
 * every pending callback and a full turn of the event loop have run (setImmediate), never by time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteGate } from './write-gate.js';

/** Lets every queued microtask and pending callback run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise with a flag that says whether it has settled, and how. */
function watch(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected' } {
  const watched: { state: 'pending' | 'resolved' | 'rejected' } = { state: 'pending' };
  promise.then(
    () => (watched.state = 'resolved'),
    () => (watched.state = 'rejected'),
  );
  return watched;
}

test('hold() resolves only when every write in flight has left', async () => {
  const gate = new WriteGate();
  await gate.enter();
  await gate.enter();
  const hold = watch(gate.hold());
  await settle();
  assert.equal(hold.state, 'pending', 'the hold resolved with two writes in flight');
  assert.equal(gate.held, true);
  gate.leave();
  await settle();
  assert.equal(hold.state, 'pending', 'the hold resolved with one write in flight');
  gate.leave();
  await settle();
  assert.equal(hold.state, 'resolved');
  gate.release();
  assert.equal(gate.held, false);
});

test('hold() with nothing in flight resolves at once', async () => {
  const gate = new WriteGate();
  const hold = watch(gate.hold());
  await settle();
  assert.equal(hold.state, 'resolved');
  gate.release();
});

test('writes that arrive during the hold are queued, never failed, and go on after release() in arrival order', async () => {
  const gate = new WriteGate();
  await gate.hold();
  const order: number[] = [];
  const writes = [1, 2, 3, 4].map((id) => gate.enter().then(() => void order.push(id)));
  const watched = writes.map(watch);
  await settle();
  assert.deepEqual(order, [], 'a write went on during the hold');
  assert.equal(gate.queuedCount, 4);
  assert.ok(watched.every((write) => write.state === 'pending'));
  gate.release();
  await Promise.all(writes);
  assert.deepEqual(order, [1, 2, 3, 4]);
  assert.equal(gate.queuedCount, 0);
  for (let index = 0; index < 4; index++) gate.leave();
});

test('a hold right after release() waits for the writes release() let go', async () => {
  const gate = new WriteGate();
  await gate.hold();
  const first = gate.enter();
  const second = gate.enter();
  await settle();
  gate.release();
  // The released writes have not run a single step yet, and already count.
  const hold = watch(gate.hold());
  await Promise.all([first, second]);
  await settle();
  assert.equal(hold.state, 'pending', 'the second hold did not wait for the released writes');
  gate.leave();
  await settle();
  assert.equal(hold.state, 'pending', 'the second hold did not wait for the second released write');
  gate.leave();
  await settle();
  assert.equal(hold.state, 'resolved');
  // A write arriving now queues behind the second hold, as before.
  const third = watch(gate.enter());
  await settle();
  assert.equal(third.state, 'pending');
  gate.release();
  await settle();
  assert.equal(third.state, 'resolved');
  gate.leave();
});

test('leave() without enter() is a programmer error', () => {
  const gate = new WriteGate();
  assert.throws(() => gate.leave(), /leave\(\) without enter\(\)/);
});
