/**
 * Shows rule W1's pool on real worker threads running src/test-support/pool-test-worker.ts (a
 * TypeScript module, so this also shows workers load .ts through tsx): results come back and
 * transferred ArrayBuffers are moved, not copied; a job's error keeps its code; a worker that
 * exits or throws outside a job fails only its own job and is replaced; close() waits for running
 * jobs; an abort refuses new jobs but lets running ones finish; run() waits while the queue is
 * full; and the trace holds one 'X' event per job, on its worker's row, with the job's params.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { HoldfastError } from '../errors/holdfast-error.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { TraceRecorder, type TraceEvent } from '../trace/trace-recorder.js';
import { JobError } from './worker-protocol.js';
import { WorkerPool, type WorkerPoolOptions } from './worker-pool.js';

const workerUrl = new URL('../test-support/pool-test-worker.ts', import.meta.url);

function startPool(options: Partial<WorkerPoolOptions> = {}): Promise<WorkerPool> {
  return WorkerPool.start({ name: 'test pool', workerUrl, workerCount: 2, recorder: new TraceRecorder(), ...options });
}

function bytes(...values: number[]): ArrayBuffer {
  return new Uint8Array(values).buffer;
}

function jobEvents(recorder: TraceRecorder): TraceEvent[] {
  return recorder.flightEvents().filter((event) => event.ph === 'X' && event.cat === 'pool.job');
}

test('run() returns results, and the ArrayBuffers it is given are moved to the worker', async () => {
  await using pool = await startPool();
  const input = bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
  assert.equal(await pool.run<number>('sum', { label: 'ten bytes' }, input, [input]), 55);
  assert.equal(input.byteLength, 0, 'the caller still holds the memory it gave away');

  const many = await Promise.all(Array.from({ length: 20 }, (_, index) => {
    const buffer = bytes(index, index);
    return pool.run<number>('sum', {}, buffer, [buffer]);
  }));
  assert.deepEqual(many, Array.from({ length: 20 }, (_, index) => 2 * index));
});

test('run() moves the ArrayBuffers of the result back to the caller', async () => {
  const recorder = new TraceRecorder();
  await using pool = await startPool({ recorder });
  const input = bytes(1, 2, 3);
  const output = await pool.run<ArrayBuffer>('increment', {}, input, [input]);
  assert.equal(input.byteLength, 0);
  assert.deepEqual([...new Uint8Array(output)], [2, 3, 4]);
  const [event] = jobEvents(recorder);
  assert.equal(event?.args?.['resultBytes'], 3);
});

test('a job that throws rejects run() with the worker\'s message and code; the worker goes on', async () => {
  await using pool = await startPool({ workerCount: 1 });
  const failed = await pool.run('fail', { path: 'pack-7' }, null).then(
    () => assert.fail('the failing job resolved'),
    (error: unknown) => error,
  );
  assert.ok(failed instanceof JobError && failed instanceof HoldfastError);
  assert.equal(failed.code, 'HOLDFAST_INTEGRITY');
  assert.equal(failed.message, 'Cannot check "pack-7": the checksum does not match');
  assert.equal(failed.name, 'HoldfastError');
  assert.equal(failed.path, 'pack-7');
  assert.match(failed.stack ?? '', /^HoldfastError: Cannot check "pack-7"/);

  await assert.rejects(pool.run('no-such-kind', {}, null), { code: 'HOLDFAST_USAGE', message: /no handler for jobs of kind "no-such-kind"/ });
  await assert.rejects(pool.run('function', {}, null), { name: 'DataCloneError' });
  await assert.rejects(pool.run('sum', {}, () => 0), { code: 'HOLDFAST_USAGE', message: /cannot be sent to a worker/ });
  const input = bytes(4, 5);
  assert.equal(await pool.run('sum', {}, input, [input]), 9);
});

for (const kind of ['exit', 'crash'] as const) {
  test(`a worker that dies (${kind}) fails only its job with HOLDFAST_WORKER_FAILED and is replaced`, async () => {
    const recorder = new TraceRecorder();
    await using pool = await startPool({ recorder, workerCount: 2 });
    const sleeping = pool.run<number>('sleep', { ms: 100 }, null);
    await assert.rejects(pool.run(kind, { why: 'test' }, null), (error: unknown) => {
      assert.ok(error instanceof HoldfastError);
      assert.equal(error.code, 'HOLDFAST_WORKER_FAILED');
      assert.equal(error.operation, `run job ${kind}`);
      assert.equal(error.path, 'test pool');
      assert.match(error.message, kind === 'exit' ? /exit code 3/ : /crashed outside the job/);
      return true;
    });
    assert.equal(await sleeping, 100, 'the other worker\'s job was disturbed');
    const results = await Promise.all(Array.from({ length: 6 }, (_, index) => {
      const buffer = bytes(index);
      return pool.run<number>('sum', {}, buffer, [buffer]);
    }));
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5]);

    const states = recorder.flightEvents().filter((event) => event.cat === 'pool.worker').map((event) => event.name);
    assert.ok(states.includes('failed'), `no failed state in ${states.join(', ')}`);
    assert.equal(states.filter((state) => state === 'starting').length, 3, 'two workers and one replacement');
    const dead = jobEvents(recorder).find((event) => event.name === kind);
    assert.equal(dead?.args?.['code'], 'HOLDFAST_WORKER_FAILED');
  });
}

test('close() waits for running and queued jobs, then refuses new ones', async () => {
  const pool = await startPool({ workerCount: 1 });
  const finished: string[] = [];
  const first = pool.run('sleep', { ms: 150 }, null).then(() => finished.push('first'));
  const second = pool.run('sleep', { ms: 10 }, null).then(() => finished.push('second'));
  await nextTurn();
  await pool.close();
  finished.push('closed');
  await Promise.all([first, second]);
  assert.deepEqual(finished, ['first', 'second', 'closed']);
  await assert.rejects(pool.run('sleep', { ms: 1 }, null), { code: 'HOLDFAST_HANDLE_CLOSED' });
  await pool.close();
});

test('run() waits while queuedJobsMax jobs are queued, so the queue stays bounded', async () => {
  await using pool = await startPool({ workerCount: 1, queuedJobsMax: 2 });
  let queuedMost = 0;
  const order: number[] = [];
  const runs = Array.from({ length: 10 }, (_, index) =>
    pool.run('sleep', { ms: 5 }, null).then(() => {
      order.push(index);
      queuedMost = Math.max(queuedMost, pool.queuedJobs);
    }),
  );
  await nextTurn();
  assert.equal(pool.runningJobs, 1);
  assert.equal(pool.queuedJobs, 2, 'the other seven callers should wait inside run()');
  await Promise.all(runs);
  assert.ok(queuedMost <= 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'jobs ran out of order');
});

test('the trace has one X event per job on its worker\'s row, with kind and params', async () => {
  const recorder = new TraceRecorder();
  await using pool = await startPool({ recorder, workerCount: 2, queuedJobsMax: 16 });
  await Promise.all(Array.from({ length: 12 }, (_, index) => pool.run('sleep', { ms: 2, index }, null)));

  const events = jobEvents(recorder);
  assert.equal(events.length, 12);
  const rows = new Map(recorder.metadataEvents().filter((event) => event.name === 'thread_name').map((event) => [event.tid, String(event.args?.['name'])]));
  for (const event of events) {
    assert.equal(event.name, 'sleep');
    assert.match(rows.get(event.tid) ?? '', /^worker [12] \(test pool\)$/);
    assert.equal(event.args?.['worker'], Number(/worker (\d)/.exec(rows.get(event.tid) ?? '')?.[1]));
    assert.ok((event.dur ?? 0) >= 1000, 'a 2 ms sleep lasted under 1 ms');
    assert.equal(typeof event.args?.['queuedUs'], 'number');
  }
  const indexes = events.map((event) => (event.args?.['params'] as { index: number }).index).sort((a, b) => a - b);
  assert.deepEqual(indexes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.ok(recorder.flightEvents().some((event) => event.ph === 'b' && event.name === 'queued sleep'), 'no queue wait recorded');
});

test('a trace file written while jobs run is JSON that lists every job', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'trace.json');
  const recorder = new TraceRecorder({ flightEventsMax: 10 });
  recorder.recordToFile(path);
  const pool = await startPool({ recorder });
  await Promise.all(Array.from({ length: 30 }, (_, index) => pool.run('sleep', { ms: 1, index }, null)));
  await pool.close();
  recorder.close();
  const events = JSON.parse(readFileSync(path, 'utf8')) as TraceEvent[];
  assert.equal(events.filter((event) => event.ph === 'X').length, 30);
  assert.equal(events.filter((event) => event.name === 'exited').length, 2);
  assert.ok(events.some((event) => event.ph === 'M' && event.args?.['name'] === 'worker 2 (test pool)'));
});

test('start() rejects with HOLDFAST_WORKER_FAILED when the worker module cannot load', async () => {
  const missing = new URL('../test-support/no-such-worker.ts', import.meta.url);
  await assert.rejects(startPool({ workerUrl: missing }), (error: unknown) => {
    assert.ok(error instanceof HoldfastError);
    assert.equal(error.code, 'HOLDFAST_WORKER_FAILED');
    assert.match(error.message, /no-such-worker\.ts failed to start/);
    return true;
  });
});

test('an abort refuses new jobs and fails the queued ones with its reason, lets the running job finish, and close() ends the worker only after it', async () => {
  const controller = new AbortController();
  const pool = await startPool({ workerCount: 1, signal: controller.signal });
  const running = pool.run<number>('sleep', { ms: 300 }, null);
  const queued = pool.run<number>('sleep', { ms: 1 }, null);
  await nextTurn();
  const reason = new HoldfastError('HOLDFAST_INTERRUPTED', { operation: 'finish', path: 'test' }, 'interrupted by SIGINT');
  controller.abort(reason);
  await assert.rejects(queued, (error) => error === reason, 'the queued job fails with the reason');
  await assert.rejects(pool.run('sleep', { ms: 1 }, null), (error) => error === reason, 'a new job is refused with the reason');
  assert.equal(pool.runningJobs, 1, 'the running job was left to finish');
  const closing = pool.close();
  assert.equal(await running, 300, 'the running job completed');
  await closing;
});
