/**
 * BackupReader: the backup stream of files, read in pieces of whatever size the caller asks
 * for, like Windows BackupRead with its context. skipRecord() drops what is left of the current
 * record's payload (BackupSeek): the caller has its header, so it knows what it skipped.
 * close() may come at any point: the walk stops and every handle and lease is released.
 */
import type { FilePath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import type { OwnerNames } from '../source/owner-names.js';
import { walkTrees } from '../source/tree-walker.js';
import { encodeStream, type StreamRecord } from './stream-encoder.js';

export interface BackupReaderOptions {
  ownerNames: OwnerNames;
  pool: BufferPool;
  oneFileSystem?: boolean;
  onProblem: (path: string, error: Error) => void;
}

export class BackupReader implements AsyncDisposable {
  readonly #records: AsyncGenerator<StreamRecord>;
  #header: Buffer | null = null;
  #payload: Buffer | null = null;
  #ended = false;
  #closed = false;

  constructor(io: Io, paths: readonly FilePath[], options: BackupReaderOptions) {
    this.#records = encodeStream(walkTrees(io, paths, options));
  }

  /** Copies up to target.length bytes of the stream into target; 0 at its end. */
  async read(target: Uint8Array): Promise<number> {
    this.#checkOpen('read');
    let filled = 0;
    while (filled < target.length) {
      if (!(await this.#ensureRecord())) break;
      const source = this.#header !== null && this.#header.length > 0 ? this.#header : this.#payload!;
      const count = Math.min(source.length, target.length - filled);
      target.set(source.subarray(0, count), filled);
      filled += count;
      if (source === this.#header) this.#header = source.subarray(count);
      else this.#payload = source.subarray(count);
    }
    return filled;
  }

  /**
   * Skips the rest of the current record's payload and returns how many bytes were skipped.
   * The record's header must have been read in full first: a header is never skipped.
   */
  async skipRecord(): Promise<number> {
    this.#checkOpen('skip in');
    await Promise.resolve();
    if (this.#header !== null && this.#header.length > 0) {
      throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'skip in', path: 'backup stream' }, 'the current record header has not been read in full');
    }
    const skipped = this.#payload?.length ?? 0;
    this.#payload = null;
    this.#header = null;
    return skipped;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#records.return(undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Makes a record with unread bytes current; false at the end of the stream. */
  async #ensureRecord(): Promise<boolean> {
    while ((this.#header === null || this.#header.length === 0) && (this.#payload === null || this.#payload.length === 0)) {
      if (this.#ended) return false;
      const next = await this.#records.next();
      if (next.done === true) {
        this.#ended = true;
        this.#header = null;
        this.#payload = null;
        return false;
      }
      // The encoder reuses its header buffer: copy the 16 bytes; the payload stays valid until the next pull.
      this.#header = Buffer.from(next.value.header);
      this.#payload = next.value.payload;
    }
    return true;
  }

  #checkOpen(operation: string): void {
    if (this.#closed) throw holdfastError('HOLDFAST_HANDLE_CLOSED', { operation, path: 'backup stream' }, 'the reader is closed');
  }
}
