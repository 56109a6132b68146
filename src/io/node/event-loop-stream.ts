/**
 * EventLoopStream: serves a non-blocking pipe or socket from the event loop (rule O4: adapt,
 * do not spin). Node has no public "wait until this fd is readable", so the descriptor is
 * duplicated (F_DUPFD_CLOEXEC) and the duplicate given to a libuv stream (net.Socket), which waits
 * with epoll. The duplicate shares the open file description, which is already non-blocking, so
 * nothing changes for other holders of it (a parent shell's stdin); closing the stream closes
 * only the duplicate.
 *
 * libuv reads ahead (up to the stream's high-water mark, 16 KiB): bytes read ahead and never
 * asked for are gone from the pipe when the handle is closed. Writes hold the caller's buffer
 * until libuv has handed every byte to the kernel.
 */
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { holdfastError, SystemCallError } from '../../errors/holdfast-error.js';
import type { Descriptor } from '../descriptor.js';
import type { HandleModes } from '../handle-kind.js';
import { sync } from './libc.js';

export class EventLoopStream {
  readonly #socket: Socket;
  #ended = false;
  #error: Error | null = null;
  #closed: Promise<void>;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('end', () => {
      this.#ended = true;
    });
    socket.on('error', (error) => {
      this.#error = error;
    });
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(descriptor: Descriptor, modes: HandleModes): EventLoopStream {
    const duplicate = sync.duplicate(descriptor.fd);
    if (duplicate.result < 0) throw new SystemCallError(duplicate.errno, 'fcntl F_DUPFD_CLOEXEC', { operation: 'watch', path: descriptor.path });
    try {
      const socket = new Socket({
        fd: duplicate.result,
        readable: modes.access !== 'write',
        writable: modes.access !== 'read',
        allowHalfOpen: true,
      });
      return new EventLoopStream(socket);
    } catch (error) {
      // net.Socket takes pipes and sockets only (not a terminal): say so instead of spinning.
      closeSync(duplicate.result);
      throw holdfastError('HOLDFAST_MODE_UNSUPPORTED', { operation: 'read or write', path: descriptor.path, cause: error }, 'this non-blocking descriptor cannot be watched by the event loop');
    }
  }

  /** Up to length bytes; 0 at the end of the stream; null when cancelled while waiting. */
  async read(target: Buffer, offset: number, length: number, cancelSignal: AbortSignal): Promise<number | null> {
    for (;;) {
      if (this.#error !== null) throw this.#error;
      const chunk = this.#socket.read() as Buffer | null;
      if (chunk !== null) {
        const count = Math.min(length, chunk.length);
        chunk.copy(target, offset, 0, count);
        if (count < chunk.length) this.#socket.unshift(chunk.subarray(count));
        return count;
      }
      if (this.#ended || length === 0) return 0;
      if (!(await this.#wait(cancelSignal))) return null;
    }
  }

  /** Resolves when libuv has written every byte; the buffer is held until then. */
  write(source: Buffer, offset: number, length: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#socket.write(source.subarray(offset, offset + length), (error) => {
        if (error !== null && error !== undefined) reject(error);
        else resolve(length);
      });
    });
  }

  async destroy(): Promise<void> {
    this.#socket.destroy();
    await this.#closed;
  }

  /** From a finalizer: closes the duplicate without waiting. */
  destroyNow(): void {
    this.#socket.destroy();
  }

  #wait(cancelSignal: AbortSignal): Promise<boolean> {
    if (cancelSignal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ready: boolean) => (): void => {
        this.#socket.off('readable', onReady);
        this.#socket.off('end', onReady);
        this.#socket.off('error', onReady);
        this.#socket.off('close', onReady);
        cancelSignal.removeEventListener('abort', onCancel);
        resolve(ready);
      };
      const onReady = done(true);
      const onCancel = done(false);
      this.#socket.on('readable', onReady);
      this.#socket.on('end', onReady);
      this.#socket.on('error', onReady);
      this.#socket.on('close', onReady);
      cancelSignal.addEventListener('abort', onCancel, { once: true });
    });
  }
}
