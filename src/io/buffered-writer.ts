/**
 * BufferedWriter: collects small writes in one lease and writes them to a handle in large
 * operations. close() flushes and closes the handle. A writer dropped without close() still gets
 * its bytes to the file: its handle's finalizer writes what is buffered before releasing the
 * descriptor (rule H4), and warns; code must not rely on that.
 *
 * write() and flush() must not overlap: await each before the next.
 */
import { assert } from '../base/assert.js';
import type { Lease } from './buffer-pool.js';
import type { Handle, PendingWrite } from './handle.js';
import type { Io } from './io.js';

/** Kept apart from the writer so that the handle's finalizer can reach it without the writer. */
interface WriterState {
  readonly buffer: Buffer;
  filledBytes: number;
  /** Where the next flush goes; null for a stream (the file position). */
  position: number | null;
}

export class BufferedWriter {
  readonly #io: Io;
  readonly #handle: Handle;
  readonly #lease: Lease;
  readonly #state: WriterState;
  #busy = false;
  #closed: Promise<void> | null = null;

  /** Takes ownership of the handle and the lease: close() closes the one and releases the other. */
  constructor(io: Io, handle: Handle, lease: Lease, options: { position?: number } = {}) {
    this.#io = io;
    this.#handle = handle;
    this.#lease = lease;
    const state: WriterState = {
      buffer: lease.bytes,
      filledBytes: 0,
      position: options.position ?? (handle.modes.seekable && !handle.modes.append ? 0 : null),
    };
    this.#state = state;
    handle.setFinalFlush((): PendingWrite[] =>
      state.filledBytes === 0 ? [] : [{ bytes: state.buffer.subarray(0, state.filledBytes), position: state.position }],
    );
  }

  /** Bytes accepted but not yet handed to the OS. */
  get bufferedBytes(): number {
    return this.#state.filledBytes;
  }

  async write(bytes: Uint8Array): Promise<void> {
    assert(this.#closed === null, 'write() after close()');
    let taken = 0;
    while (taken < bytes.length) {
      const room = this.#state.buffer.length - this.#state.filledBytes;
      const count = Math.min(room, bytes.length - taken);
      this.#state.buffer.set(bytes.subarray(taken, taken + count), this.#state.filledBytes);
      this.#state.filledBytes += count;
      taken += count;
      if (this.#state.filledBytes === this.#state.buffer.length) await this.flush();
    }
  }

  /** Hands everything buffered to the OS (not fsync: call io.sync for durability). */
  async flush(): Promise<void> {
    assert(!this.#busy, 'flush() while another write or flush runs');
    if (this.#state.filledBytes === 0) return;
    this.#busy = true;
    try {
      const options = this.#state.position === null ? {} : { position: this.#state.position };
      const result = await this.#io.write(this.#handle, this.#lease, { ...options, lengthBytes: this.#state.filledBytes }).result;
      if (result.status === 'failed') throw result.error;
      assert(result.status === 'completed', 'an uncancelled write was cancelled');
      if (this.#state.position !== null) this.#state.position += result.bytesTransferred;
      this.#state.filledBytes = 0;
    } finally {
      this.#busy = false;
    }
  }

  /** Flushes, closes the handle and releases the lease; idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#finish();
    return this.#closed;
  }

  async #finish(): Promise<void> {
    try {
      await this.flush();
      this.#handle.setFinalFlush(null);
    } finally {
      await this.#handle.close();
      this.#lease.release();
    }
  }
}
