/**
 * BlockFile: positioned reads and writes of any size on one open regular file, through the Io
 * interface, so the server runs on the real machine and in the simulator alike.
 *
 * Bytes pass through leases of the pool (rule O1: a lease is lent to one operation and comes
 * back with its result); read() returns a Buffer of its own and write() copies from the caller's
 * buffer, so no caller ever holds memory an operation may still touch. Requests longer than a
 * lease are split into lease-sized operations that run at once, up to `piecesInFlightMax`.
 */
import type { BufferPool, Lease } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import { bytesOrThrow } from '../io/transfer.js';

export const piecesInFlightMax = 4;

export class BlockFile {
  readonly io: Io;
  readonly handle: Handle<'file'>;
  readonly #pool: BufferPool;

  constructor(io: Io, handle: Handle<'file'>, pool: BufferPool) {
    this.io = io;
    this.handle = handle;
    this.#pool = pool;
  }

  get path(): string | Buffer {
    return this.handle.path;
  }

  /** Exactly `lengthBytes` from `offset`; bytes past the end of the file read as zeros. */
  async read(offset: number, lengthBytes: number): Promise<Buffer> {
    const target = Buffer.allocUnsafe(lengthBytes);
    await this.#pieces(offset, lengthBytes, async (pieceOffset, pieceBytes, lease) => {
      let done = 0;
      while (done < pieceBytes) {
        const result = await this.io.read(this.handle, lease, { position: pieceOffset + done, lengthBytes: pieceBytes - done }).result;
        const count = bytesOrThrow(result, this.handle, 'read');
        if (count === 0) {
          target.fill(0, pieceOffset - offset + done, pieceOffset - offset + pieceBytes);
          break;
        }
        lease.bytes.copy(target, pieceOffset - offset + done, 0, count);
        done += count;
      }
    });
    return target;
  }

  /** All of `source` at `offset` (short writes are retried by Io). */
  async write(offset: number, source: Buffer): Promise<void> {
    await this.#pieces(offset, source.length, async (pieceOffset, pieceBytes, lease) => {
      source.copy(lease.bytes, 0, pieceOffset - offset, pieceOffset - offset + pieceBytes);
      bytesOrThrow(await this.io.write(this.handle, lease, { position: pieceOffset, lengthBytes: pieceBytes }).result, this.handle, 'write');
    });
  }

  /** fdatasync: everything written so far is on stable storage. */
  async sync(): Promise<void> {
    await this.io.sync(this.handle, { dataOnly: true });
  }

  /** Splits [offset, offset + lengthBytes) into lease-sized pieces, a few at once. */
  async #pieces(offset: number, lengthBytes: number, each: (pieceOffset: number, pieceBytes: number, lease: Lease) => Promise<void>): Promise<void> {
    const size = this.#pool.bufferSizeBytes;
    const running = new Set<Promise<void>>();
    let failure: unknown = null;
    for (let at = 0; at < lengthBytes && failure === null; at += size) {
      while (running.size >= piecesInFlightMax) await Promise.race(running);
      if (failure !== null) break;
      const lease = await this.#pool.acquire();
      const piece = each(offset + at, Math.min(size, lengthBytes - at), lease)
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          lease.release();
          running.delete(piece);
        });
      running.add(piece);
    }
    await Promise.all(running);
    if (failure !== null) throw failure;
  }
}
