/**
 * QueuedBytesBudget: how many bytes the NBD server holds for its clients — WRITE payloads being
 * written, and the data of replies being prepared or waiting in a socket for a client to read
 * them — bounded per connection and in total, so a client that sends requests and never reads the answers costs
 * a bounded amount of memory (rule D2).
 *
 * A connection reserves a request's bytes before the server reads its payload or serves it; while
 * it cannot, the connection reads no further requests, so its client meets TCP back-pressure. A
 * reservation is granted when the connection stays within `connectionQueuedBytesMax` and the server
 * within `totalQueuedBytesMax`, in the order asked (a large reservation is not overtaken by small
 * ones), with one exception: a connection that holds nothing is always granted, so a client that
 * reads its replies always gets its next request served, however many others hold the total. The
 * total is therefore at most `totalQueuedBytesMax` plus one request per connection.
 *
 * Bytes come back with release() when a reply has been handed to the kernel (the socket's write
 * callback), and all at once with close() when the connection ends; a waiting reserve() then
 * rejects. The counters and their high-water marks are what `stats()` reports.
 */
import { assert } from '../base/assert.js';

/** Bytes one connection may hold before it stops reading requests. */
export const connectionQueuedBytesMaxDefault = 64 * 1024 * 1024;
/** Bytes all connections together may hold (beyond one request each, see above). */
export const totalQueuedBytesMaxDefault = 256 * 1024 * 1024;

export interface QueuedBytesLimits {
  connectionQueuedBytesMax: number;
  totalQueuedBytesMax: number;
}

export interface QueuedBytesStats {
  /** Held now, by all connections. */
  queuedBytes: number;
  /** The most ever held at once, by all connections. */
  queuedBytesPeak: number;
  /** The most one connection ever held at once. */
  connectionQueuedBytesPeak: number;
  /** Reservations waiting now. */
  waiting: number;
}

interface Waiter {
  account: QueuedBytesAccount;
  bytes: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class QueuedBytesBudget {
  readonly limits: QueuedBytesLimits;
  readonly #waiters: Waiter[] = [];
  #queuedBytes = 0;
  #queuedBytesPeak = 0;
  #connectionQueuedBytesPeak = 0;

  constructor(limits: Partial<QueuedBytesLimits> = {}) {
    this.limits = {
      connectionQueuedBytesMax: limits.connectionQueuedBytesMax ?? connectionQueuedBytesMaxDefault,
      totalQueuedBytesMax: limits.totalQueuedBytesMax ?? totalQueuedBytesMaxDefault,
    };
  }

  /** An account for one connection; close() it when the connection ends. */
  open(): QueuedBytesAccount {
    return new QueuedBytesAccount(this);
  }

  stats(): QueuedBytesStats {
    return { queuedBytes: this.#queuedBytes, queuedBytesPeak: this.#queuedBytesPeak, connectionQueuedBytesPeak: this.#connectionQueuedBytesPeak, waiting: this.#waiters.length };
  }

  /** @internal QueuedBytesAccount's: queue a reservation and grant what can be granted. */
  enqueue(waiter: Waiter): void {
    this.#waiters.push(waiter);
    this.#grant();
  }

  /** @internal QueuedBytesAccount's: a waiter of a closed account leaves the queue. */
  withdraw(account: QueuedBytesAccount, error: Error): void {
    const index = this.#waiters.findIndex((waiter) => waiter.account === account);
    if (index < 0) return;
    const [waiter] = this.#waiters.splice(index, 1);
    waiter!.reject(error);
    this.#grant();
  }

  /** @internal QueuedBytesAccount's: counts bytes taken (positive) or given back (negative). */
  count(account: QueuedBytesAccount, bytes: number): void {
    this.#queuedBytes += bytes;
    assert(this.#queuedBytes >= 0, 'QueuedBytesBudget: more bytes released than reserved');
    this.#queuedBytesPeak = Math.max(this.#queuedBytesPeak, this.#queuedBytes);
    this.#connectionQueuedBytesPeak = Math.max(this.#connectionQueuedBytesPeak, account.queuedBytes);
    if (bytes < 0) this.#grant();
  }

  #grant(): void {
    let blockedByTotal = false;
    for (let index = 0; index < this.#waiters.length; ) {
      const waiter = this.#waiters[index]!;
      const account = waiter.account;
      const alwaysGranted = account.queuedBytes === 0;
      const fitsConnection = account.queuedBytes + waiter.bytes <= this.limits.connectionQueuedBytesMax;
      const fitsTotal = !blockedByTotal && this.#queuedBytes + waiter.bytes <= this.limits.totalQueuedBytesMax;
      if (alwaysGranted || (fitsConnection && fitsTotal)) {
        this.#waiters.splice(index, 1);
        account.take(waiter.bytes);
        waiter.resolve();
        continue;
      }
      // One waiting on its own client does not hold up the others; one waiting for the total does.
      if (fitsConnection) blockedByTotal = true;
      index++;
    }
  }
}

/** One connection's share of a QueuedBytesBudget. One reserve() at a time. */
export class QueuedBytesAccount {
  readonly #budget: QueuedBytesBudget;
  #queuedBytes = 0;
  #closed = false;

  constructor(budget: QueuedBytesBudget) {
    this.#budget = budget;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Resolves when `bytes` are this connection's; rejects with `closedError` if it closes first. */
  reserve(bytes: number, closedError: () => Error): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => this.#budget.enqueue({ account: this, bytes, resolve, reject: () => reject(closedError()) }));
  }

  /** Gives back bytes reserved before; nothing once the account is closed (close() gave all back). */
  release(bytes: number): void {
    if (this.#closed || bytes <= 0) return;
    assert(bytes <= this.#queuedBytes, 'QueuedBytesAccount: more bytes released than reserved');
    this.#queuedBytes -= bytes;
    this.#budget.count(this, -bytes);
  }

  /** Gives back everything and rejects a waiting reserve(). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#budget.withdraw(this, new Error('closed'));
    const held = this.#queuedBytes;
    this.#queuedBytes = 0;
    this.#closed = true;
    this.#budget.count(this, -held);
  }

  /** @internal the budget's: bytes granted. */
  take(bytes: number): void {
    this.#queuedBytes += bytes;
    this.#budget.count(this, bytes);
  }
}
