/**
 * BackupWriter: restores a backup stream under a target directory from pieces of any size the
 * caller writes, like Windows BackupWrite. write() resolves once the restorer has consumed the
 * piece, so the caller may reuse its buffer then (the bytes are the caller's again). finish()
 * says the stream is complete and resolves with the summary; a stream that ended early fails
 * with HOLDFAST_FORMAT_TRUNCATED after every complete entry before the break was restored.
 */
import { holdfastError } from '../errors/holdfast-error.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import { iterableInput } from './byte-input.js';
import { Restorer, type RestoreOptions, type RestoreSummary } from './restorer.js';
import { decodeStream } from './stream-decoder.js';

interface PendingPiece {
  bytes: Uint8Array | null;
  consumed: () => void;
}

export class BackupWriter {
  readonly #waitingPieces: PendingPiece[] = [];
  #wakeDecoder: (() => void) | null = null;
  readonly #done: Promise<RestoreSummary>;
  #failure: Error | null = null;
  #finished = false;
  #decoderDone = false;

  constructor(io: Io, target: Buffer, pool: BufferPool, options: RestoreOptions) {
    const restorer = new Restorer(io, target, pool, options);
    const input = iterableInput(this.#pieces(), 'backup stream');
    this.#done = (async () => {
      let decodeError: Error | null = null;
      try {
        await decodeStream(input, restorer, 'backup stream');
      } catch (error) {
        decodeError = error as Error;
        this.#failure = decodeError;
      }
      this.#decoderDone = true;
      // Resumes the piece generator so the last piece counts as consumed, then answers the rest.
      await input.close();
      this.#releaseWriters();
      const summary = await restorer.finish();
      if (decodeError !== null) throw decodeError;
      return summary;
    })();
    // A failure is reported by write() and finish(); this keeps it from counting as unhandled meanwhile.
    this.#done.catch(() => {});
  }

  /** Resolves when the piece has been consumed; rejects with the stream's error if it broke. */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#finished) return Promise.reject(holdfastError('HOLDFAST_HANDLE_CLOSED', { operation: 'write', path: 'backup stream' }, 'finish() was already called'));
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (bytes.length === 0) return Promise.resolve();
    if (this.#decoderDone) return Promise.reject(holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'write', path: 'backup stream' }, 'bytes after the end of the stream'));
    return new Promise((resolve, reject) => {
      this.#waitingPieces.push({ bytes, consumed: () => (this.#failure === null ? resolve() : reject(this.#failure)) });
      this.#wakeDecoder?.();
    });
  }

  async finish(): Promise<RestoreSummary> {
    this.#finished = true;
    this.#waitingPieces.push({ bytes: null, consumed: () => {} });
    this.#wakeDecoder?.();
    return this.#done;
  }

  async *#pieces(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const piece = this.#waitingPieces.shift() ?? (await this.#nextPiece());
      if (piece.bytes === null) return;
      try {
        yield piece.bytes;
      } finally {
        piece.consumed();
      }
    }
  }

  #nextPiece(): Promise<PendingPiece> {
    return new Promise((resolve) => {
      this.#wakeDecoder = () => {
        const piece = this.#waitingPieces.shift();
        if (piece === undefined) return;
        this.#wakeDecoder = null;
        resolve(piece);
      };
    });
  }

  #releaseWriters(): void {
    for (const piece of this.#waitingPieces.splice(0)) piece.consumed();
  }
}
