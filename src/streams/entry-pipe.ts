/**
 * The two seams every codec of the streams layer plugs into.
 *
 * Encoders pull from a SourceEntry sequence and yield bytes; decoders pull bytes from a
 * ByteInput and push entries into an EntrySink. Ownership of bytes: a Buffer handed across
 * either seam is a view that is valid only until the receiver returns control (the next pull
 * of an iterator, or the settling of the sink's promise). A receiver that keeps bytes copies them.
 */
import type { EntryHeader } from '../format/entry.js';

export type { SourceEntry } from '../source/source-entry.js';

export interface EntrySink {
  beginEntry(header: EntryHeader): Promise<void>;
  /** The next bytes of the current entry's data; a view valid only during the call. */
  writeData(bytes: Buffer): Promise<void>;
  endEntry(): Promise<void>;
}

export interface ByteInput {
  /** Where the next byte comes from in the input, for error messages ("at byte 1536"). */
  readonly positionBytes: number;
  /**
   * Exactly lengthBytes bytes in a buffer the caller owns. Throws HOLDFAST_FORMAT_TRUNCATED when
   * the input ends first (naming `what`). lengthBytes must be within the caller's own limit.
   */
  readExactly(lengthBytes: number, what: string): Promise<Buffer>;
  /** Up to lengthBytes bytes as a view valid until the next call; null at the end of input. */
  readUpTo(lengthBytes: number): Promise<Buffer | null>;
  /** The next bytes without consuming them (at most lengthBytes, fewer at the end). */
  peek(lengthBytes: number): Promise<Buffer>;
}
