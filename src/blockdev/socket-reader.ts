/**
 * SocketReader: exact-length reads from a stream socket, for a protocol that reads headers and
 * payloads of known sizes. Data is buffered up to `bufferedBytesMax`; beyond that the socket is
 * paused (TCP back-pressure reaches the peer) until the reader catches up. read() rejects when
 * the socket ends or fails before enough bytes came.
 */
import type { Socket } from 'node:net';

export class SocketClosedError extends Error {
  override name = 'SocketClosedError';
}

export class SocketReader {
  readonly #socket: Socket;
  readonly #bufferedBytesMax: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended: Error | null = null;
  #pending: { lengthBytes: number; resolve: (bytes: Buffer) => void; reject: (error: Error) => void } | null = null;

  constructor(socket: Socket, bufferedBytesMax: number) {
    this.#socket = socket;
    this.#bufferedBytesMax = bufferedBytesMax;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= this.#bufferedBytesMax) socket.pause();
      this.#fulfil();
    });
    const end = (error?: Error): void => {
      this.#ended ??= error ?? new SocketClosedError('the connection was closed');
      this.#fulfil();
    };
    socket.on('end', () => end());
    socket.on('close', () => end());
    socket.on('error', (error) => end(error));
  }

  /** Bytes that arrived and were not read yet. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Exactly `lengthBytes` bytes. One read at a time. */
  read(lengthBytes: number): Promise<Buffer> {
    if (lengthBytes === 0) return Promise.resolve(Buffer.alloc(0));
    return new Promise((resolve, reject) => {
      this.#pending = { lengthBytes, resolve, reject };
      this.#fulfil();
    });
  }

  #fulfil(): void {
    const pending = this.#pending;
    if (pending === null) return;
    if (this.#buffered >= pending.lengthBytes) {
      this.#pending = null;
      pending.resolve(this.#take(pending.lengthBytes));
    } else if (this.#ended !== null) {
      this.#pending = null;
      pending.reject(this.#ended);
    }
    if (this.#buffered < this.#bufferedBytesMax && this.#socket.isPaused()) this.#socket.resume();
  }

  #take(lengthBytes: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= lengthBytes) {
      this.#buffered -= lengthBytes;
      if (first.length === lengthBytes) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(lengthBytes);
      return first.subarray(0, lengthBytes);
    }
    const result = Buffer.allocUnsafe(lengthBytes);
    let at = 0;
    while (at < lengthBytes) {
      const chunk = this.#chunks[0]!;
      const count = Math.min(chunk.length, lengthBytes - at);
      chunk.copy(result, at, 0, count);
      at += count;
      if (count === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(count);
    }
    this.#buffered -= lengthBytes;
    return result;
  }
}
