/**
 * ByteInput over an async sequence of pieces (a file read through Io, stdin, a decompressor, a
 * test's Buffer). Pieces may have any size, down to one byte. A piece from the source is used in
 * place while it lasts; bytes are copied only when a caller asks for a span that crosses pieces,
 * or when the source may reuse a piece after the next pull (it always may: see entry-pipe.ts).
 */
import { holdfastError } from '../errors/holdfast-error.js';
import type { ByteInput } from './entry-pipe.js';

const emptyBuffer = Buffer.alloc(0);

class IterableInput implements ByteInput {
  readonly #iterator: AsyncIterator<Uint8Array>;
  readonly #name: string;
  /** The unread rest of the current piece: a view of the source's buffer, valid until the next pull. */
  #current: Buffer = emptyBuffer;
  #ended = false;
  #positionBytes = 0;

  constructor(source: AsyncIterable<Uint8Array>, name: string) {
    this.#iterator = source[Symbol.asyncIterator]();
    this.#name = name;
  }

  get positionBytes(): number {
    return this.#positionBytes;
  }

  /** Makes #current non-empty unless the input has ended; false at the end. */
  async #fill(): Promise<boolean> {
    while (this.#current.length === 0) {
      if (this.#ended) return false;
      const next = await this.#iterator.next();
      if (next.done === true) {
        this.#ended = true;
        return false;
      }
      const piece = next.value;
      this.#current = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    }
    return true;
  }

  async readUpTo(lengthBytes: number): Promise<Buffer | null> {
    if (!(await this.#fill())) return null;
    const taken = this.#current.subarray(0, lengthBytes);
    this.#current = this.#current.subarray(taken.length);
    this.#positionBytes += taken.length;
    return taken;
  }

  async readExactly(lengthBytes: number, what: string): Promise<Buffer> {
    const result = Buffer.allocUnsafe(lengthBytes);
    let filled = 0;
    while (filled < lengthBytes) {
      const piece = await this.readUpTo(lengthBytes - filled);
      if (piece === null) {
        throw holdfastError(
          'HOLDFAST_FORMAT_TRUNCATED',
          { operation: 'read', path: this.#name },
          `the input ended inside ${what} at byte ${this.#positionBytes} (${filled} of ${lengthBytes} bytes)`,
        );
      }
      piece.copy(result, filled);
      filled += piece.length;
    }
    return result;
  }

  async peek(lengthBytes: number): Promise<Buffer> {
    // Gather pieces until enough bytes are in hand; the gathered copy becomes the current piece.
    while (this.#current.length < lengthBytes && !this.#ended) {
      const held = Buffer.from(this.#current);
      this.#current = emptyBuffer;
      if (!(await this.#fill())) {
        this.#current = held;
        break;
      }
      this.#current = Buffer.concat([held, this.#current]);
    }
    return this.#current.subarray(0, lengthBytes);
  }

  async close(): Promise<void> {
    await this.#iterator.return?.();
  }
}

/** A ByteInput over pieces; `name` (a path, "stdin") names the input in error messages. */
export function iterableInput(source: AsyncIterable<Uint8Array>, name = 'input'): ByteInput & { close(): Promise<void> } {
  return new IterableInput(source, name);
}

/** A ByteInput over one buffer, handed out in pieces of at most pieceBytesMax (tests use 1). */
export function bufferInput(bytes: Buffer, name = 'input', pieceBytesMax = bytes.length || 1): ByteInput & { close(): Promise<void> } {
  async function* pieces(): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < bytes.length; offset += pieceBytesMax) {
      yield bytes.subarray(offset, offset + pieceBytesMax);
      await Promise.resolve();
    }
  }
  return new IterableInput(pieces(), name);
}
