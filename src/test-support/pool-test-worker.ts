/**
 * The worker module of worker-pool.test.ts: jobs that add, echo, sleep, fail with a code, and kill
 * their own worker thread (process.exit inside a worker ends only that thread).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { holdfastError } from '../errors/holdfast-error.js';
import { serveJobs } from '../pool/worker-runtime.js';

serveJobs({
  /** The sum of the bytes of a transferred ArrayBuffer. */
  sum: (payload: ArrayBuffer) => {
    let total = 0;
    for (const byte of new Uint8Array(payload)) total += byte;
    return { result: total };
  },
  /** Each byte plus one, in the same buffer, moved back. */
  increment: (payload: ArrayBuffer) => {
    const bytes = new Uint8Array(payload);
    for (let index = 0; index < bytes.length; index++) bytes[index] = (bytes[index] ?? 0) + 1;
    return { result: payload, transfer: [payload] };
  },
  sleep: async (_payload: null, params) => {
    await sleep(Number(params['ms']));
    return { result: params['ms'] };
  },
  fail: (_payload: null, params) => {
    throw holdfastError('HOLDFAST_INTEGRITY', { operation: 'check', path: String(params['path']) }, 'the checksum does not match');
  },
  exit: () => process.exit(3),
  /** An error thrown outside any job: the worker's uncaught exception. */
  crash: () => {
    setImmediate(() => {
      throw new Error('crashed outside the job');
    });
    return new Promise<never>(() => {});
  },
  function: () => ({ result: () => 0 }),
});
