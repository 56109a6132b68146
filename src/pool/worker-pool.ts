/**
 * WorkerPool: a fixed number of worker threads that run jobs, every one of them traced (rule W1).
 *
 * Lifetime: start() resolves once every worker has loaded its module and serves jobs. close()
 * takes no new jobs, waits for the queued and running ones, then ends the workers; it is
 * idempotent and `await using` calls it. Idle workers do not keep the process alive.
 *
 * Abort (the `signal` option; SIGINT in the CLI): run() refuses new jobs with the signal's
 * reason, and jobs still queued fail with it (no worker saw them); jobs already on a worker run
 * to their end. A worker is never ended while it runs a job: Worker.terminate() (or a process
 * exit) stops its isolate under native code (zstd calling back into JavaScript), which aborts
 * the whole process (napi_throw, exit 134). Only a job still running `jobsAfterAbortWaitMsMax`
 * after the abort, hung, is cut off by close().
 *
 * Jobs go to an idle worker, else wait in a FIFO queue of at most `queuedJobsMax` jobs; run()
 * itself waits for room, so a producer cannot queue unbounded memory. A job's own error rejects
 * its run() with a JobError that keeps the worker's message and code. A worker that dies (exits,
 * or throws outside a job) fails only its running job, with HOLDFAST_WORKER_FAILED, and is
 * replaced; a worker that fails to start `workerStartFailuresMax` times in a row is given up.
 *
 * Trace: each job is one 'X' event on its worker's row (kind, params, queue wait, worker's own
 * start and finish times, result bytes or error); a job that waited in the queue also gets an
 * async 'queued' span; each worker's state change is an instant event on its row.
 *
 * Worker modules are given as URLs (see siblingModuleUrl()), .ts under tsx or .js from dist/;
 * worker-launcher.ts starts them.
 */
import type { Worker } from 'node:worker_threads';
import { assert } from '../base/assert.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { TraceRecorder, traceClockUs, type TraceArguments } from '../trace/trace-recorder.js';
import { workerLauncher } from './worker-launcher.js';
import { JobError, type JobParams, type JobRequest, type WorkerReply } from './worker-protocol.js';

export interface WorkerPoolOptions {
  /** Names the pool in errors and in the trace. */
  name: string;
  /** The worker module; it calls serveJobs() from worker-runtime. */
  workerUrl: URL;
  workerCount: number;
  recorder: TraceRecorder;
  /** Jobs that may wait for a worker before run() waits too (default workerCount * 4). */
  queuedJobsMax?: number;
  /** Aborting it refuses new jobs and fails the queued ones; running jobs finish (see above). */
  signal?: AbortSignal;
}

type WorkerState = 'starting' | 'idle' | 'busy' | 'exited' | 'failed';

interface Job {
  readonly id: number;
  readonly kind: string;
  readonly params: JobParams;
  payload: unknown;
  transfer: ArrayBuffer[];
  readonly queuedAtUs: number;
  dispatchedAtUs: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly index: number;
  readonly threadId: number;
  worker: Worker | null;
  state: WorkerState;
  /** The state last recorded in the trace; busy -> idle -> busy between two jobs is not a change. */
  tracedState: WorkerState | null;
  job: Job | null;
  startFailures: number;
  lastError: string | null;
  terminating: boolean;
  started: { resolve: () => void; reject: (error: Error) => void } | null;
}

const workerCountMax = 1024;
const workerStartFailuresMax = 3;
const queuedJobsPerWorkerDefault = 4;
/** After an abort, close() waits this long for running jobs (a seal takes milliseconds) before ending their workers anyway. */
export const jobsAfterAbortWaitMsMax = 15_000;

export class WorkerPool implements AsyncDisposable {
  readonly name: string;
  readonly workerCount: number;
  readonly queuedJobsMax: number;
  readonly #workerUrl: URL;
  readonly #launchWorker: () => Worker;
  readonly #recorder: TraceRecorder;
  readonly #slots: Slot[];
  readonly #queue: Job[] = [];
  /** run() calls waiting for room in the queue, in order. */
  readonly #admissionWaiters: (() => void)[] = [];
  /** Waiters woken but not yet queued: the room is theirs. */
  #admissionsGranted = 0;
  #nextJobId = 1;
  #closing = false;
  #closed: Promise<void> | null = null;
  #onDrained: (() => void) | null = null;
  readonly #signal: AbortSignal | null;
  readonly #onAbort = (): void => this.#abort();

  private constructor(options: WorkerPoolOptions) {
    const queuedJobsMax = options.queuedJobsMax ?? options.workerCount * queuedJobsPerWorkerDefault;
    assert(Number.isSafeInteger(options.workerCount) && options.workerCount > 0 && options.workerCount <= workerCountMax, `workerCount must be an integer from 1 to ${workerCountMax}`);
    assert(Number.isSafeInteger(queuedJobsMax) && queuedJobsMax > 0, 'queuedJobsMax must be a positive integer');
    this.name = options.name;
    this.workerCount = options.workerCount;
    this.queuedJobsMax = queuedJobsMax;
    this.#workerUrl = options.workerUrl;
    this.#launchWorker = workerLauncher(options.workerUrl, options.name);
    this.#recorder = options.recorder;
    this.#signal = options.signal ?? null;
    this.#slots = Array.from({ length: options.workerCount }, (_, index) => ({
      index,
      threadId: options.recorder.allocateThreadId(`worker ${index + 1} (${options.name})`),
      worker: null,
      state: 'starting',
      tracedState: null,
      job: null,
      startFailures: 0,
      lastError: null,
      terminating: false,
      started: null,
    }));
  }

  /** A pool whose workers have all loaded their module. Rejects, with no worker left, if one cannot. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    const started = pool.#slots.map(
      (slot) =>
        new Promise<void>((resolve, reject) => {
          slot.started = { resolve, reject };
          pool.#spawn(slot);
        }),
    );
    try {
      await Promise.all(started);
    } catch (error) {
      pool.#closing = true;
      await Promise.allSettled(started);
      await pool.#terminateAll();
      throw error;
    }
    pool.#signal?.addEventListener('abort', pool.#onAbort, { once: true });
    if (pool.#signal?.aborted === true) pool.#abort();
    return pool;
  }

  /** Jobs waiting for a worker (at most queuedJobsMax). */
  get queuedJobs(): number {
    return this.#queue.length;
  }

  /** Jobs a worker is running. */
  get runningJobs(): number {
    return this.#slots.filter((slot) => slot.job !== null).length;
  }

  /**
   * Runs one job of `kind` on a worker and resolves with its result.
   *
   * Ownership: the ArrayBuffers in `transfer` (which `payload` refers to) belong to the pool from
   * this call on. They are moved to the worker when the job is dispatched, and the caller's
   * references then read as detached (byteLength 0); the caller must not read or write them
   * after calling run(), even while the job waits in the queue. Give whole ArrayBuffers the caller
   * owns (`new ArrayBuffer`, `Buffer.allocUnsafeSlow(...).buffer`): a pooled small Buffer's
   * ArrayBuffer is shared and gets copied instead. The ArrayBuffers in the result are moved to
   * the caller and are its own. `params` go into the trace as given (not copied): do not
   * change them afterwards.
   *
   * Waits first while the queue is full. Rejects with the handler's error as a JobError,
   * HOLDFAST_WORKER_FAILED when the worker died running the job, HOLDFAST_HANDLE_CLOSED when the
   * pool was closing before the call.
   */
  async run<Result>(kind: string, params: JobParams, payload: unknown, transfer: ArrayBuffer[] = []): Promise<Result> {
    if (this.#closing) throw holdfastError('HOLDFAST_HANDLE_CLOSED', { operation: `run job ${kind}`, path: this.name }, 'the pool is closed');
    this.#signal?.throwIfAborted();
    if (this.#admissionWaiters.length > 0 || this.#queue.length + this.#admissionsGranted >= this.queuedJobsMax) {
      await new Promise<void>((resolve) => this.#admissionWaiters.push(resolve));
      this.#admissionsGranted--;
      if (this.#signal?.aborted === true) {
        this.#checkDrained();
        this.#signal.throwIfAborted();
      }
    }
    // A caller admitted while close() waits is still served: close() waits for it.
    if (!this.#slots.some(isAlive)) {
      this.#checkDrained();
      throw holdfastError('HOLDFAST_WORKER_FAILED', { operation: `run job ${kind}`, path: this.name }, 'no worker of the pool could be started');
    }
    return new Promise<Result>((resolve, reject) => {
      const queuedAtUs = traceClockUs();
      const job: Job = { id: this.#nextJobId++, kind, params, payload, transfer, queuedAtUs, dispatchedAtUs: 0, resolve: resolve as (result: unknown) => void, reject };
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  /** Lets queued and running jobs finish, then ends the workers. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#drainThenTerminate();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #drainThenTerminate(): Promise<void> {
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#onDrained = resolve;
      this.#checkDrained();
      if (this.#signal?.aborted === true) timer = setTimeout(() => this.#giveUpWaiting(resolve), jobsAfterAbortWaitMsMax);
    });
    clearTimeout(timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    await this.#terminateAll();
  }

  /** Aborted: refuse what is not on a worker yet; the running jobs finish. */
  #abort(): void {
    const reason: unknown = this.#signal?.reason;
    const error = reason instanceof Error ? reason : holdfastError('HOLDFAST_INTERRUPTED', { operation: 'run jobs of', path: this.name }, String(reason));
    this.#recorder.instant('aborted', 'pool', { pool: this.name, queued: this.#queue.length, running: this.runningJobs });
    for (const job of this.#queue.splice(0)) job.reject(error);
    // Every run() waiting for room wakes and throws the reason.
    for (const admit of this.#admissionWaiters.splice(0)) {
      this.#admissionsGranted++;
      admit();
    }
    this.#checkDrained();
  }

  /** Jobs hung past jobsAfterAbortWaitMsMax after an abort: their workers are ended anyway. */
  #giveUpWaiting(resolve: () => void): void {
    this.#recorder.instant('gave up waiting for jobs', 'pool', { pool: this.name, running: this.runningJobs, waitedMs: jobsAfterAbortWaitMsMax });
    this.#onDrained = null;
    resolve();
  }

  #checkDrained(): void {
    if (this.#onDrained === null) return;
    if (this.#jobsWaiting() > 0 || this.#slots.some((slot) => slot.job !== null)) return;
    const onDrained = this.#onDrained;
    this.#onDrained = null;
    onDrained();
  }

  /** Jobs queued, and run() calls that will queue one. */
  #jobsWaiting(): number {
    return this.#queue.length + this.#admissionWaiters.length + this.#admissionsGranted;
  }

  async #terminateAll(): Promise<void> {
    await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        if (worker === null) return;
        slot.terminating = true;
        await worker.terminate();
      }),
    );
  }

  #spawn(slot: Slot): void {
    slot.state = 'starting';
    slot.lastError = null;
    slot.terminating = false;
    const worker = this.#launchWorker();
    slot.worker = worker;
    this.#traceState(slot, { threadId: worker.threadId });
    worker.on('message', (reply: WorkerReply) => {
      if (slot.worker === worker) this.#onReply(slot, worker, reply);
    });
    worker.on('error', (error) => {
      if (slot.worker === worker) slot.lastError = `${error.name}: ${error.message}`;
    });
    worker.on('exit', (exitCode) => {
      if (slot.worker === worker) this.#onExit(slot, exitCode);
    });
  }

  #onReply(slot: Slot, worker: Worker, reply: WorkerReply): void {
    if (reply.type === 'ready') {
      assert(slot.state === 'starting', `worker ${slot.index + 1} said ready twice`);
      slot.state = 'idle';
      slot.startFailures = 0;
      slot.started?.resolve();
      slot.started = null;
      worker.unref();
      this.#dispatch();
      this.#traceState(slot);
      return;
    }
    const job = slot.job;
    assert(job !== null && job.id === reply.jobId, `worker ${slot.index + 1} replied for a job it does not run`);
    slot.job = null;
    slot.state = 'idle';
    const args = this.#jobArguments(slot, job);
    const durationUs = reply.finishedUs - reply.startedUs;
    if (reply.type === 'result') {
      this.#recorder.complete(job.kind, 'pool.job', reply.startedUs, durationUs, slot.threadId, { ...args, resultBytes: reply.resultBytes });
      job.resolve(reply.result);
    } else {
      const error = new JobError(reply.error, job.kind, this.name);
      this.#recorder.complete(job.kind, 'pool.job', reply.startedUs, durationUs, slot.threadId, { ...args, error: error.message, code: error.code });
      job.reject(error);
    }
    this.#dispatch();
    if (slot.state === 'idle') worker.unref();
    this.#traceState(slot);
    this.#checkDrained();
  }

  #onExit(slot: Slot, exitCode: number): void {
    slot.worker = null;
    if (slot.terminating) {
      slot.state = 'exited';
      this.#traceState(slot, { exitCode });
      return;
    }
    const reason = slot.lastError ?? `exit code ${exitCode}`;
    const wasStarting = slot.state === 'starting';
    slot.state = 'failed';
    this.#traceState(slot, { exitCode, error: reason });
    const job = slot.job;
    if (job !== null) {
      slot.job = null;
      const error = holdfastError('HOLDFAST_WORKER_FAILED', { operation: `run job ${job.kind}`, path: this.name }, `worker ${slot.index + 1} died running it (${reason})`);
      const nowUs = traceClockUs();
      this.#recorder.complete(job.kind, 'pool.job', job.dispatchedAtUs, nowUs - job.dispatchedAtUs, slot.threadId, { ...this.#jobArguments(slot, job), error: error.message, code: error.code });
      job.reject(error);
    }
    if (wasStarting) slot.startFailures++;
    if (slot.started !== null) {
      // A worker of start() failed: start() gives up and says why.
      slot.started.reject(holdfastError('HOLDFAST_WORKER_FAILED', { operation: 'start a worker of', path: this.name }, `worker ${slot.index + 1} of ${this.#workerUrl.href} failed to start (${reason})`));
      slot.started = null;
    } else if (slot.startFailures < workerStartFailuresMax && (!this.#closing || this.#jobsWaiting() > 0)) {
      // Replaced also while closing when jobs still wait for a worker: close() waits for them.
      this.#spawn(slot);
    }
    if (!this.#slots.some(isAlive)) this.#failQueued(reason);
    this.#checkDrained();
  }

  /** No worker is left: fail every queued job instead of letting it wait forever. */
  #failQueued(reason: string): void {
    for (const job of this.#queue.splice(0)) {
      job.reject(holdfastError('HOLDFAST_WORKER_FAILED', { operation: `run job ${job.kind}`, path: this.name }, `no worker of the pool is left (${reason})`));
    }
    this.#admitWaiters();
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#slots.find((candidate) => candidate.state === 'idle');
      if (slot === undefined) break;
      const job = this.#queue.shift();
      assert(job !== undefined, 'queue emptied during dispatch');
      this.#post(slot, job);
    }
    this.#admitWaiters();
  }

  #admitWaiters(): void {
    while (this.#admissionWaiters.length > 0 && this.#queue.length + this.#admissionsGranted < this.queuedJobsMax) {
      const admit = this.#admissionWaiters.shift();
      assert(admit !== undefined, 'admission waiters emptied during admission');
      this.#admissionsGranted++;
      admit();
    }
  }

  #post(slot: Slot, job: Job): void {
    const worker = slot.worker;
    assert(worker !== null && slot.job === null, `worker ${slot.index + 1} is idle without a thread, or busy`);
    job.dispatchedAtUs = traceClockUs();
    const waitedUs = job.dispatchedAtUs - job.queuedAtUs;
    const request: JobRequest = { type: 'job', jobId: job.id, kind: job.kind, params: job.params, payload: job.payload };
    try {
      worker.postMessage(request, job.transfer);
    } catch (error) {
      // A payload that cannot be cloned fails its job; the worker never saw it.
      const reason = error instanceof Error ? error.message : String(error);
      this.#recorder.instant('job refused', 'pool.job', { ...this.#jobArguments(slot, job), error: reason }, slot.threadId);
      job.reject(holdfastError('HOLDFAST_USAGE', { operation: `run job ${job.kind}`, path: this.name }, `the payload cannot be sent to a worker: ${reason}`));
      this.#checkDrained();
      return;
    }
    // The worker has its own copy of the payload and the transferred buffers; drop ours.
    job.payload = undefined;
    job.transfer = [];
    slot.job = job;
    slot.state = 'busy';
    worker.ref();
    if (waitedUs >= 1) this.#recorder.span(`queued ${job.kind}`, 'pool.queue', job.id, job.queuedAtUs, waitedUs, { pool: this.name, job: job.id });
    this.#traceState(slot);
  }

  #jobArguments(slot: Slot, job: Job): TraceArguments {
    return {
      pool: this.name,
      job: job.id,
      worker: slot.index + 1,
      params: job.params,
      queuedAtUs: job.queuedAtUs,
      queuedUs: job.dispatchedAtUs - job.queuedAtUs,
    };
  }

  #traceState(slot: Slot, extra?: TraceArguments): void {
    if (slot.state === slot.tracedState && extra === undefined) return;
    slot.tracedState = slot.state;
    const args: TraceArguments = { pool: this.name, worker: slot.index + 1, ...(slot.job === null ? {} : { job: slot.job.id, kind: slot.job.kind }), ...extra };
    this.#recorder.instant(slot.state, 'pool.worker', args, slot.threadId);
  }
}

function isAlive(slot: Slot): boolean {
  return slot.state === 'starting' || slot.state === 'idle' || slot.state === 'busy';
}

