/**
 * ZstdFrameScanner: follows the frames and blocks of a zstd stream (RFC 8878) ahead of the
 * decompressor, without decompressing, so that a hostile stream is bounded before it costs
 * anything:
 *
 * - a frame whose window (the memory a decoder must hold) is over windowBytesMax is refused
 *   before the decompressor allocates it (fzstd would allocate what the header asks, up to 2 GiB);
 * - it says where each block ends, so the caller feeds the decompressor one block at a time: a
 *   block regenerates at most 128 KiB, so no single push can turn a few bytes into gigabytes (an
 *   RLE block is 4 bytes for 128 KiB of output);
 * - skippable frames are recognised (and their length bounded by the input); anything else
 *   between frames is HOLDFAST_FORMAT_INVALID.
 *
 * Pure: bytes in, positions out; the caller owns the bytes.
 */
import { holdfastError } from '../errors/holdfast-error.js';

export const zstdLimits = {
  /** zstd's own default for decoders (--memory=128MB, windowLog 27); a larger window is refused. */
  windowBytesMax: 128 * 1024 * 1024,
  /** RFC 8878: no block is larger, compressed or regenerated. */
  blockBytesMax: 128 * 1024,
} as const;

const frameMagic = 0xfd2fb528;
const skippableMagicMask = 0xfffffff0;
const skippableMagic = 0x184d2a50;

type State =
  | { kind: 'magic' }
  | { kind: 'frame-header' }
  | { kind: 'skippable-length' }
  | { kind: 'block-header' }
  | { kind: 'block-body'; left: number; last: boolean }
  | { kind: 'checksum'; left: number }
  | { kind: 'skip'; left: number };

export class ZstdFrameScanner {
  readonly #name: string;
  #state: State = { kind: 'magic' };
  /** Header bytes gathered across pieces (a magic, a frame header or a block header). */
  #pending: number[] = [];
  #checksum = false;
  #frameHeaderBytes = 0;

  constructor(name: string) {
    this.#name = name;
  }

  /** True between frames: the stream may end here. */
  get atFrameBoundary(): boolean {
    return this.#state.kind === 'magic' && this.#pending.length === 0;
  }

  /**
   * Follows `piece` and returns the offsets in it just after each block (and each frame's end),
   * ascending; throws HOLDFAST_LIMIT_EXCEEDED or HOLDFAST_FORMAT_INVALID for a stream to refuse.
   */
  scan(piece: Uint8Array): number[] {
    const cuts: number[] = [];
    let at = 0;
    while (at < piece.length) {
      const state = this.#state;
      if (state.kind === 'block-body' || state.kind === 'checksum' || state.kind === 'skip') {
        const taken = Math.min(state.left, piece.length - at);
        at += taken;
        state.left -= taken;
        if (state.left === 0) this.#finishRun(state, cuts, at);
        continue;
      }
      this.#pending.push(piece[at++]!);
      if (state.kind === 'magic' && this.#pending.length === 4) this.#magic();
      else if (state.kind === 'frame-header' && this.#pending.length === this.#frameHeaderBytes) this.#frameHeader();
      else if (state.kind === 'block-header' && this.#pending.length === 3) this.#blockHeader(cuts, at);
      else if (state.kind === 'skippable-length' && this.#pending.length === 4) this.#skippableLength(cuts, at);
    }
    return cuts;
  }

  #finishRun(state: State, cuts: number[], at: number): void {
    if (state.kind === 'block-body') {
      cuts.push(at);
      this.#state = !state.last ? { kind: 'block-header' } : this.#checksum ? { kind: 'checksum', left: 4 } : { kind: 'magic' };
    } else {
      if (state.kind === 'checksum') cuts.push(at);
      this.#state = { kind: 'magic' };
    }
  }

  #magic(): void {
    const magic = Buffer.from(this.#pending).readUInt32LE(0);
    if (magic === frameMagic) {
      // The descriptor byte tells how long the rest of the frame header is; take it first.
      this.#state = { kind: 'frame-header' };
      this.#pending = [];
      this.#frameHeaderBytes = 1;
      return;
    }
    if ((magic & skippableMagicMask) >>> 0 === skippableMagic) {
      this.#state = { kind: 'skippable-length' };
      this.#pending = [];
      return;
    }
    throw this.#invalid('it is not a zstd frame (bad magic number)');
  }

  #skippableLength(cuts: number[], at: number): void {
    const length = Buffer.from(this.#pending).readUInt32LE(0);
    this.#pending = [];
    if (length > 0) this.#state = { kind: 'skip', left: length };
    else this.#finishRun({ kind: 'skip', left: 0 }, cuts, at);
  }

  #frameHeader(): void {
    const descriptor = this.#pending[0]!;
    if (this.#pending.length === 1) {
      const singleSegment = (descriptor & 0x20) !== 0;
      if ((descriptor & 0x08) !== 0) throw this.#invalid('a frame header sets its reserved bit');
      const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!;
      const dictionaryBytes = [0, 1, 2, 4][descriptor & 0x03]!;
      this.#frameHeaderBytes = 1 + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
      this.#checksum = (descriptor & 0x04) !== 0;
      if (this.#frameHeaderBytes > 1) return;
    }
    const header = Buffer.from(this.#pending);
    const singleSegment = (descriptor & 0x20) !== 0;
    let windowBytes: number;
    if (singleSegment) {
      const contentSizeBytes = [1, 2, 4, 8][descriptor >> 6]!;
      const field = header.subarray(header.length - contentSizeBytes);
      windowBytes = contentSizeBytes === 1 ? field[0]! : contentSizeBytes === 2 ? field.readUInt16LE(0) + 256 : contentSizeBytes === 4 ? field.readUInt32LE(0) : Number(field.readBigUInt64LE(0));
    } else {
      const windowDescriptor = header[1]!;
      const base = 2 ** (10 + (windowDescriptor >> 3));
      windowBytes = base + (base / 8) * (windowDescriptor & 0x07);
    }
    if (windowBytes > zstdLimits.windowBytesMax) {
      throw holdfastError('HOLDFAST_LIMIT_EXCEEDED', { operation: 'decompress zstd', path: this.#name }, `a frame asks for a ${windowBytes}-byte window, over the limit of ${zstdLimits.windowBytesMax} (zstd's own default); recompress without --long, or decompress it first`);
    }
    this.#pending = [];
    this.#state = { kind: 'block-header' };
  }

  #blockHeader(cuts: number[], at: number): void {
    const header = this.#pending[0]! | (this.#pending[1]! << 8) | (this.#pending[2]! << 16);
    this.#pending = [];
    const last = (header & 1) === 1;
    const type = (header >> 1) & 0x03;
    const size = header >>> 3;
    if (type === 3) throw this.#invalid('a block has the reserved type');
    if (size > zstdLimits.blockBytesMax) throw this.#invalid(`a block is ${size} bytes, over the format's ${zstdLimits.blockBytesMax}`);
    // Raw and compressed blocks carry `size` bytes; an RLE block carries one byte repeated `size` times.
    const body = type === 1 ? 1 : size;
    if (body > 0) this.#state = { kind: 'block-body', left: body, last };
    else this.#finishRun({ kind: 'block-body', left: 0, last }, cuts, at);
  }

  #invalid(reason: string): Error {
    return holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'decompress zstd', path: this.#name }, reason);
  }
}
