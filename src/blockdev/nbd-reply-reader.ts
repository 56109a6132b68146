/**
 * ReplyReader: the NBD client's exact-length reads from its socket, with reads into a buffer
 * the caller gives (a READ's data lands where it belongs, copied once). One read at a time.
 * What arrives before it is asked for is queued, and the socket is paused while more than
 * `queuedBytesMax` wait, so a fast server cannot fill memory. When the socket ends or fails, the
 * pending read and every later one reject with the error `closedError()` makes (naming the URI).
 */
import type { Socket } from 'node:net';

export const queuedBytesMax = 4 * 1024 * 1024;

interface Waiter {
  target: Buffer;
  filled: number;
  resolve: (bytes: Buffer) => void;
  reject: (error: Error) => void;
}

export class ReplyReader {
  readonly #socket: Socket;
  readonly #closedError: (cause: Error | null) => Error;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #waiter: Waiter | null = null;
  #failure: Error | null = null;

  constructor(socket: Socket, closedError: (cause: Error | null) => Error) {
    this.#socket = socket;
    this.#closedError = closedError;
    socket.on('data', (chunk: Buffer) => {
      this.#queue.push(chunk);
      this.#queuedBytes += chunk.length;
      this.#serve();
      if (this.#queuedBytes > queuedBytesMax) socket.pause();
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
    if (this.#waiter !== null) throw new Error('ReplyReader: one read at a time');
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
    if (this.#queuedBytes <= queuedBytesMax && this.#socket.isPaused()) this.#socket.resume();
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
