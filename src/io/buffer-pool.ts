/**
 * BufferPool: a bounded set of equal buffers handed out as Leases (rule O1).
 *
 * A Lease is held by its caller, or lent to exactly one operation. While lent, its bytes are out
 * of the caller's reach (reading `bytes` or calling release() is a bug and asserts), and the
 * operation gives it back only together with its result, after the backend has really finished
 * with the memory. So a buffer that a thread or the kernel may still write is never handed out
 * again: the pool only ever sees leases released by their holders.
 */
import { assert } from '../base/assert.js';
import { holdfastError } from '../errors/holdfast-error.js';

export interface BufferPoolOptions {
  bufferSizeBytes: number;
  bufferCountMax: number;
}

type LeaseState = 'held' | 'lent' | 'released';

/**
 * Internal to io/: lend a held lease's memory to one operation, and take it back when the
 * operation has really completed. Functions, not methods, so that a library user cannot reach
 * the memory of a lent lease.
 */
export let lendLease: (lease: Lease, operationId: number) => Buffer;
export let returnLease: (lease: Lease, operationId: number) => void;

export class Lease {
  readonly #pool: BufferPool;
  readonly #buffer: Buffer;
  #state: LeaseState = 'held';
  #operationId = 0;

  /** Internal: leases come from BufferPool.acquire(). */
  constructor(pool: BufferPool, buffer: Buffer) {
    this.#pool = pool;
    this.#buffer = buffer;
  }

  get state(): LeaseState {
    return this.#state;
  }

  get sizeBytes(): number {
    return this.#buffer.length;
  }

  /** The memory, for the holder only. */
  get bytes(): Buffer {
    assert(this.#state === 'held', `lease bytes used while ${this.#state}`);
    return this.#buffer;
  }

  /** Gives the buffer back to its pool. The lease must be held, not lent to an operation. */
  release(): void {
    assert(this.#state === 'held', `lease released while ${this.#state}`);
    this.#state = 'released';
    this.#pool.giveBack(this.#buffer);
  }

  static {
    lendLease = (lease, operationId) => lease.#lendTo(operationId);
    returnLease = (lease, operationId) => lease.#returnFrom(operationId);
  }

  #lendTo(operationId: number): Buffer {
    if (this.#state !== 'held') {
      throw holdfastError(
        'HOLDFAST_LEASE_STATE',
        { operation: 'submit', path: `lease of ${this.#pool.label}` },
        `the lease is ${this.#state}; only a held lease can be given to an operation`,
      );
    }
    this.#state = 'lent';
    this.#operationId = operationId;
    this.#pool.noteLent(+1);
    return this.#buffer;
  }

  #returnFrom(operationId: number): void {
    assert(this.#state === 'lent' && this.#operationId === operationId, 'lease returned by an operation that does not hold it');
    this.#state = 'held';
    this.#operationId = 0;
    this.#pool.noteLent(-1);
  }
}

interface Waiter {
  resolve: (lease: Lease) => void;
  reject: (error: unknown) => void;
}

export class BufferPool {
  readonly bufferSizeBytes: number;
  readonly bufferCountMax: number;
  readonly label: string;
  #free: Buffer[] = [];
  #allocated = 0;
  #outstanding = 0;
  #lent = 0;
  #waiters: Waiter[] = [];

  constructor(options: BufferPoolOptions & { label?: string }) {
    assert(Number.isSafeInteger(options.bufferSizeBytes) && options.bufferSizeBytes > 0, 'bufferSizeBytes must be a positive integer');
    assert(Number.isSafeInteger(options.bufferCountMax) && options.bufferCountMax > 0, 'bufferCountMax must be a positive integer');
    this.bufferSizeBytes = options.bufferSizeBytes;
    this.bufferCountMax = options.bufferCountMax;
    this.label = options.label ?? `pool of ${options.bufferCountMax} x ${options.bufferSizeBytes} bytes`;
  }

  /** Leases not yet released by their holders (held or lent). */
  get leasesOutstanding(): number {
    return this.#outstanding;
  }

  /** Leases lent to operations that have not completed. */
  get leasesLent(): number {
    return this.#lent;
  }

  /** A lease now, or null when every buffer is out. */
  tryAcquire(): Lease | null {
    const buffer = this.#take();
    return buffer === null ? null : this.#lease(buffer);
  }

  /** A lease when one is free; waits in FIFO order. An aborted wait rejects, holding nothing. */
  acquire(options: { signal?: AbortSignal } = {}): Promise<Lease> {
    const lease = this.#waiters.length === 0 ? this.tryAcquire() : null;
    if (lease !== null) return Promise.resolve(lease);
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(abortedWait(this.label));
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(abortedWait(this.label));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiter.resolve = (granted) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(granted);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Internal: a released lease's buffer comes back here. */
  giveBack(buffer: Buffer): void {
    this.#outstanding--;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(this.#lease(buffer));
      return;
    }
    this.#free.push(buffer);
  }

  /** Internal: bookkeeping of leases lent to operations. */
  noteLent(delta: number): void {
    this.#lent += delta;
    assert(this.#lent >= 0 && this.#lent <= this.#outstanding, 'lent lease count out of range');
  }

  #take(): Buffer | null {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    if (this.#allocated >= this.bufferCountMax) return null;
    this.#allocated++;
    return Buffer.allocUnsafeSlow(this.bufferSizeBytes);
  }

  #lease(buffer: Buffer): Lease {
    this.#outstanding++;
    return new Lease(this, buffer);
  }
}

function abortedWait(label: string): Error {
  return holdfastError('HOLDFAST_ABORTED', { operation: 'acquire a buffer from', path: label }, 'the wait was aborted');
}
