/**
 * The worker side of a WorkerPool: a worker module calls serveJobs() once, at its top level, with
 * a handler for each kind of job it runs.
 *
 * A handler gets the job's payload (structured-cloned; ArrayBuffers the caller transferred arrive
 * moved, not copied) and params, and returns `{ result, transfer }`. The ArrayBuffers in
 * `transfer` are moved back to the main thread with the result: the handler must not touch them
 * afterwards. A thrown error (or an unknown kind, or a result that cannot be cloned) becomes the
 * job's error reply with its message, name and code; it never ends the worker. Each reply carries
 * the worker's own start and finish times on the shared trace clock.
 */
import { parentPort } from 'node:worker_threads';
import { assert } from '../base/assert.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { traceClockUs } from '../trace/trace-recorder.js';
import { serializeError, type JobParams, type JobRequest, type WorkerReply } from './worker-protocol.js';

export interface JobOutput {
  readonly result: unknown;
  /** ArrayBuffers inside `result` to move, not copy, back to the main thread. */
  readonly transfer?: readonly ArrayBuffer[];
}

/**
 * A handler for one kind of job. The payload parameter is typed `never` here so that a handler
 * may declare the payload type it expects (`(payload: ArrayBuffer) => ...`); the pool's caller
 * and the handler agree on it per kind.
 */
export type JobHandler = (payload: never, params: JobParams) => JobOutput | Promise<JobOutput>;

export function serveJobs(handlers: Readonly<Record<string, JobHandler>>): void {
  const port = parentPort;
  assert(port !== null, 'serveJobs() runs only in a worker thread started by WorkerPool');
  port.on('message', (request: JobRequest) => {
    void runJob(handlers, request).then((reply) => post(reply.message, reply.transfer));
  });
  port.postMessage({ type: 'ready' } satisfies WorkerReply);

  function post(message: WorkerReply, transfer: readonly ArrayBuffer[]): void {
    try {
      port!.postMessage(message, transfer);
    } catch (error) {
      // A result that cannot be cloned (a function, a symbol) fails its job, not the worker.
      assert(message.type === 'result', 'an error reply could not be sent');
      const { jobId, startedUs, finishedUs } = message;
      port!.postMessage({ type: 'error', jobId, error: serializeError(error), startedUs, finishedUs } satisfies WorkerReply);
    }
  }
}

async function runJob(
  handlers: Readonly<Record<string, JobHandler>>,
  request: JobRequest,
): Promise<{ message: WorkerReply; transfer: readonly ArrayBuffer[] }> {
  const { jobId, kind } = request;
  const startedUs = traceClockUs();
  try {
    const handler = Object.hasOwn(handlers, kind) ? handlers[kind] : undefined;
    if (handler === undefined) {
      throw holdfastError('HOLDFAST_USAGE', { operation: `run job ${kind}`, path: 'worker' }, `this worker has no handler for jobs of kind "${kind}"`);
    }
    const output = await handler(request.payload as never, request.params);
    const transfer = output.transfer ?? [];
    let resultBytes = 0;
    for (const buffer of transfer) resultBytes += buffer.byteLength;
    return { message: { type: 'result', jobId, result: output.result, resultBytes, startedUs, finishedUs: traceClockUs() }, transfer };
  } catch (error) {
    return { message: { type: 'error', jobId, error: serializeError(error), startedUs, finishedUs: traceClockUs() }, transfer: [] };
  }
}
