/**
 * SocketReader: exact-length reads from a stream socket, for a protocol that reads headers and
 * payloads of known sizes (the NBD server and client both use it). One read at a time. What
 * arrives before it is asked for is queued, and the socket is paused while more than
 * `queuedBytesMax` wait, so a fast peer cannot fill memory (TCP back-pressure reaches it);
 * readInto() fills the caller's buffer as bytes come, so a long payload is copied once and never
 * queued whole. When the socket ends or fails, the pending read and every later one reject with
 * the error `closedError` makes (by default the socket's own error, or a SocketClosedError).
 */
import type { Socket } from 'node:net';

export const queuedBytesMaxDefault = 4 * 1024 * 1024;

export class SocketClosedError extends Error {
  override name = 'SocketClosedError';
}

export interface SocketReaderOptions {
  queuedBytesMax?: number;
  /** The error reads fail with once the socket is gone; `cause` is null for a plain end. */
  closedError?: (cause: Error | null) => Error;
}

interface Waiter {
  target: Buffer;
  filled: number;
  resolve: (bytes: Buffer) => void;
  reject: (error: Error) => void;
}

export class SocketReader {
  readonly #socket: Socket;
  readonly #queuedBytesMax: number;
  readonly #closedError: (cause: Error | null) => Error;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #waiter: Waiter | null = null;
  #failure: Error | null = null;

  constructor(socket: Socket, options: SocketReaderOptions = {}) {
    this.#socket = socket;
    this.#queuedBytesMax = options.queuedBytesMax ?? queuedBytesMaxDefault;
    this.#closedError = options.closedError ?? ((cause) => cause ?? new SocketClosedError('the connection was closed'));
    socket.on('data', (chunk: Buffer) => {
      this.#queue.push(chunk);
      this.#queuedBytes += chunk.length;
      this.#serve();
      if (this.#queuedBytes > this.#queuedBytesMax) socket.pause();
    });
    socket.on('error', (error) => this.#end(error));
    socket.on('end', () => this.#end(null));
    socket.on('close', () => this.#end(null));
  }

  /** Exactly `lengthBytes` bytes, in a Buffer of their own. */
  read(lengthBytes: number): Promise<Buffer> {
    return this.readInto(Buffer.allocUnsafe(lengthBytes));
  }

  /** Fills all of `target` (the caller's buffer, returned when full). */
  readInto(target: Buffer): Promise<Buffer> {
    if (this.#waiter !== null) throw new Error('SocketReader: one read at a time');
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiter = { target, filled: 0, resolve, reject };
      this.#serve();
    });
  }

  #serve(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    while (waiter.filled < waiter.target.length && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const count = Math.min(head.length, waiter.target.length - waiter.filled);
      head.copy(waiter.target, waiter.filled, 0, count);
      waiter.filled += count;
      this.#queuedBytes -= count;
      if (count === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(count);
    }
    if (this.#queuedBytes <= this.#queuedBytesMax && this.#socket.isPaused()) this.#socket.resume();
    if (waiter.filled === waiter.target.length) {
      this.#waiter = null;
      waiter.resolve(waiter.target);
    } else if (this.#failure !== null) {
      this.#waiter = null;
      waiter.reject(this.#failure);
    }
  }

  #end(cause: Error | null): void {
    this.#failure ??= this.#closedError(cause);
    this.#serve();
  }
}
