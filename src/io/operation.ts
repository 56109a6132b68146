/**
 * Operation: one read or write that owns its lease and its handle reference from submission
 * until it has really completed (rules O1-O3), like an OVERLAPPED with its IO_STATUS_BLOCK.
 *
 * - The lease and the reference are taken synchronously at submission; both come back only when
 *   the operation settles, and the lease comes back inside the result.
 * - cancel() returns the same promise as `result`: it settles only when the operation was
 *   withdrawn from the queue before it started, or when the work it had handed to a thread or
 *   the kernel has ended. Cancelling never frees memory the backend may still write.
 * - A result says what really happened: 'completed' (all that was asked was done; a cancel that
 *   came too late sets cancelRequested), 'cancelled' (stopped by cancel; bytesTransferred tells
 *   how much I/O happened before it stopped) or 'failed' (with the error).
 */
import { assert } from '../base/assert.js';
import { lendLease, returnLease, type Lease } from './buffer-pool.js';
import type { Cancellation } from './backend.js';
import type { HandleReference } from './handle.js';

export type OperationKind = 'read' | 'write';

export type IoResult =
  | { status: 'completed'; lease: Lease; bytesTransferred: number; cancelRequested: boolean }
  | { status: 'cancelled'; lease: Lease; bytesTransferred: number }
  | { status: 'failed'; lease: Lease; bytesTransferred: number; error: Error };

/** What the work function of an operation reports. Failures are thrown as OperationFailure. */
export interface WorkOutcome {
  status: 'completed' | 'cancelled';
  bytesTransferred: number;
}

export class OperationFailure extends Error {
  readonly error: Error;
  readonly bytesTransferred: number;
  constructor(error: Error, bytesTransferred: number) {
    super(error.message);
    this.error = error;
    this.bytesTransferred = bytesTransferred;
  }
}

/** Passed to the work function: the lent memory, and how to notice a cancel between steps. */
export interface WorkContext {
  readonly buffer: Buffer;
  /** Only steps that hold no memory may stop on a cancel. */
  readonly cancel: Cancellation;
}

/**
 * The cancel state of one operation. Reads and writes almost never need an AbortSignal (only a
 * wait for readiness does), and making one per operation costs microseconds, so it is made
 * on first use; `cancelRequested` is a plain flag.
 */
class CancelState implements Cancellation {
  #requested = false;
  #controller: AbortController | null = null;

  get cancelRequested(): boolean {
    return this.#requested;
  }

  get cancelSignal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#requested) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  request(): void {
    this.#requested = true;
    this.#controller?.abort();
  }
}

export type OperationState = 'queued' | 'running' | 'settled';

let nextOperationId = 1;

export class Operation {
  readonly id = nextOperationId++;
  readonly kind: OperationKind;
  readonly result: Promise<IoResult>;
  #state: OperationState = 'queued';
  #lease: Lease;
  #reference: HandleReference;
  #buffer: Buffer;
  #work: (context: WorkContext) => Promise<WorkOutcome>;
  #cancel = new CancelState();
  #settle!: (result: IoResult) => void;
  #queue: OperationQueue;

  /** Internal to io/: IoCore submits operations after its mode checks. */
  constructor(init: {
    kind: OperationKind;
    lease: Lease;
    reference: HandleReference;
    queue: OperationQueue;
    work: (context: WorkContext) => Promise<WorkOutcome>;
    signal?: AbortSignal | undefined;
  }) {
    this.kind = init.kind;
    this.#lease = init.lease;
    this.#reference = init.reference;
    this.#work = init.work;
    this.#queue = init.queue;
    this.#buffer = lendLease(init.lease, this.id);
    this.result = new Promise<IoResult>((resolve) => {
      this.#settle = resolve;
    });
    const signal = init.signal;
    if (signal !== undefined) {
      if (signal.aborted) this.#requestCancel();
      else {
        const onAbort = (): void => this.#requestCancel();
        signal.addEventListener('abort', onAbort, { once: true });
        void this.result.finally(() => signal.removeEventListener('abort', onAbort));
      }
    }
    init.queue.submit(this);
  }

  get state(): OperationState {
    return this.#state;
  }

  get cancelRequested(): boolean {
    return this.#cancel.cancelRequested;
  }

  /** Settles when the operation has really ended; see the file comment. */
  cancel(): Promise<IoResult> {
    this.#requestCancel();
    return this.result;
  }

  #requestCancel(): void {
    if (this.#state === 'settled' || this.#cancel.cancelRequested) return;
    this.#cancel.request();
    if (this.#state === 'queued' && this.#queue.withdraw(this)) {
      this.#finish({ status: 'cancelled', lease: this.#lease, bytesTransferred: 0 });
    }
  }

  /** Internal: called by the queue when a slot is free. */
  async start(): Promise<void> {
    assert(this.#state === 'queued', `operation ${this.id} started while ${this.#state}`);
    this.#state = 'running';
    if (this.cancelRequested) {
      // Cancelled before it touched anything (an AbortSignal that was already aborted).
      this.#finish({ status: 'cancelled', lease: this.#lease, bytesTransferred: 0 });
      return;
    }
    let result: IoResult;
    try {
      const outcome = await this.#work({ buffer: this.#buffer, cancel: this.#cancel });
      result =
        outcome.status === 'completed'
          ? { status: 'completed', lease: this.#lease, bytesTransferred: outcome.bytesTransferred, cancelRequested: this.cancelRequested }
          : { status: 'cancelled', lease: this.#lease, bytesTransferred: outcome.bytesTransferred };
    } catch (thrown) {
      const failure = thrown instanceof OperationFailure ? thrown : new OperationFailure(asError(thrown), 0);
      result = { status: 'failed', lease: this.#lease, bytesTransferred: failure.bytesTransferred, error: failure.error };
    }
    this.#finish(result);
  }

  #finish(result: IoResult): void {
    assert(this.#state !== 'settled', `operation ${this.id} settled twice`);
    this.#state = 'settled';
    returnLease(this.#lease, this.id);
    this.#reference.release();
    this.#settle(result);
  }
}

/**
 * Bounds how many operations run at once (operationsInFlightMax); the rest wait in FIFO order,
 * where a cancel can still withdraw them before they touch anything.
 */
export class OperationQueue {
  readonly operationsInFlightMax: number;
  #waiting: Operation[] = [];
  #running = 0;

  constructor(operationsInFlightMax: number) {
    assert(operationsInFlightMax > 0, 'operationsInFlightMax must be positive');
    this.operationsInFlightMax = operationsInFlightMax;
  }

  get runningCount(): number {
    return this.#running;
  }

  get waitingCount(): number {
    return this.#waiting.length;
  }

  submit(operation: Operation): void {
    this.#waiting.push(operation);
    this.#pump();
  }

  /** Removes a queued operation; false when it has already started. */
  withdraw(operation: Operation): boolean {
    const index = this.#waiting.indexOf(operation);
    if (index < 0) return false;
    this.#waiting.splice(index, 1);
    return true;
  }

  #pump(): void {
    while (this.#running < this.operationsInFlightMax) {
      const next = this.#waiting.shift();
      if (next === undefined) return;
      this.#running++;
      void next.start().finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }
}

function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}
