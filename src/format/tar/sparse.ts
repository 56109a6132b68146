/**
 * Sparse files in tar. Writes GNU.sparse 1.0, as GNU tar 1.34 --format=posix --sparse does: the
 * pax header carries GNU.sparse.major=1, minor=0, name (the real path) and realsize; the member's
 * data begins with the map as decimal lines ("count\n" then "offset\nlength\n" per extent),
 * zero-padded to a 512-byte boundary, followed by the extents' bytes. GNU tar always ends the map
 * with a zero-length extent at the real size, also when the file ends in data and when it is all
 * hole ("1\n3145728\n0\n").
 *
 * Reads 1.0, 0.1 (GNU.sparse.map "offset,length,...") and 0.0 (GNU.sparse.offset and
 * GNU.sparse.numbytes records in pairs), and the old GNU 'S' header with its extension blocks.
 * Zero-length extents are dropped, so a map decodes to the model's ascending, disjoint data runs.
 * Pure codec; a malformed map is HOLDFAST_FORMAT_INVALID, too many extents HOLDFAST_LIMIT_EXCEEDED.
 */
import type { ErrorContext } from '../../errors/holdfast-error.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import type { Extent } from '../entry.js';
import { blockBytes } from './header.js';
import { readNumeric } from './large-numbers.js';
import { checkTarLimit, tarLimits } from './limits.js';

/** The map of a GNU.sparse 1.0 member, padded to whole blocks, terminal extent included. */
export function encodeSparseMap(extents: readonly Extent[], realSizeBytes: number): Buffer {
  const lines = [String(extents.length + 1)];
  for (const extent of extents) lines.push(String(extent.offsetBytes), String(extent.lengthBytes));
  lines.push(String(realSizeBytes), '0');
  const text = `${lines.join('\n')}\n`;
  const target = Buffer.alloc(Math.ceil(text.length / blockBytes) * blockBytes);
  target.write(text, 0, 'latin1');
  return target;
}

/** Digits of one number of a map: 2^53 has 16, so 20 is plenty and bounds a hostile line. */
const numberDigitsMax = 20;

/**
 * Reads a GNU.sparse 1.0 map one block at a time, as the decoder gets it from the member's data.
 * push() returns true once the map is complete; the rest of that block is padding.
 */
export class SparseMapReader {
  readonly #context: ErrorContext;
  readonly #numbers: number[] = [];
  #expectedCount: number | null = null;
  #digits = '';
  #blockCount = 0;

  constructor(context: ErrorContext) {
    this.#context = context;
  }

  get blockCount(): number {
    return this.#blockCount;
  }

  push(block: Buffer): boolean {
    this.#blockCount++;
    for (const byte of block) {
      if (byte >= 0x30 && byte <= 0x39) {
        this.#digits += String.fromCharCode(byte);
        if (this.#digits.length > numberDigitsMax) throw this.#invalid('a number of more than 20 digits');
        continue;
      }
      if (byte !== 0x0a || this.#digits === '') throw this.#invalid(`byte ${byte} where a decimal line was expected`);
      if (this.#take(Number(this.#digits))) return true;
      this.#digits = '';
    }
    return false;
  }

  /** Records one number; true when the map is complete. */
  #take(value: number): boolean {
    if (this.#expectedCount === null) {
      checkTarLimit('sparseExtentCountMax', value, 'the number of extents in the sparse map', this.#context);
      this.#expectedCount = value;
    } else {
      this.#numbers.push(value);
    }
    return this.#numbers.length === this.#expectedCount * 2;
  }

  /** The extents in the map's order, zero-length ones included; call after push() returned true. */
  extents(): Extent[] {
    const extents: Extent[] = [];
    for (let index = 0; index + 1 < this.#numbers.length; index += 2) {
      extents.push({ offsetBytes: this.#numbers[index]!, lengthBytes: this.#numbers[index + 1]! });
    }
    return extents;
  }

  #invalid(reason: string): Error {
    return holdfastError('HOLDFAST_FORMAT_INVALID', this.#context, `bad GNU.sparse 1.0 map: ${reason}`);
  }
}

/** GNU.sparse.map of format 0.1: "offset,length,offset,length". */
export function decodeSparseMap01(text: string, context: ErrorContext): Extent[] {
  const fields = text === '' ? [] : text.split(',');
  if (fields.length % 2 !== 0 || !fields.every((field) => /^[0-9]{1,20}$/.test(field))) {
    throw holdfastError('HOLDFAST_FORMAT_INVALID', context, `bad GNU.sparse.map "${text.slice(0, 80)}"`);
  }
  checkTarLimit('sparseExtentCountMax', fields.length / 2, 'the number of extents in GNU.sparse.map', context);
  const extents: Extent[] = [];
  for (let index = 0; index < fields.length; index += 2) {
    extents.push({ offsetBytes: Number(fields[index]), lengthBytes: Number(fields[index + 1]) });
  }
  return extents;
}

/** Old GNU 'S' headers: 4 (offset, length) pairs of 12-byte fields in the header block. */
const oldGnuHeaderMap = { offset: 386, count: 4, isExtended: 482, realSize: 483 } as const;
/** Each extension block: 21 pairs, then its own "another block follows" byte. */
const oldGnuExtensionMap = { offset: 0, count: 21, isExtended: 504 } as const;

export interface OldGnuSparsePart {
  extents: Extent[];
  isExtended: boolean;
}

export function decodeOldGnuSparseHeader(block: Buffer, context: ErrorContext): OldGnuSparsePart & { realSizeBytes: number } {
  const realSize = readNumeric(block.subarray(oldGnuHeaderMap.realSize, oldGnuHeaderMap.realSize + 12));
  if (realSize === null || realSize < 0n || realSize > BigInt(tarLimits.entrySizeBytesMax)) {
    throw holdfastError('HOLDFAST_FORMAT_INVALID', context, 'bad real size in an old GNU sparse header');
  }
  return { ...decodeOldGnuPairs(block, oldGnuHeaderMap, context), realSizeBytes: Number(realSize) };
}

export function decodeOldGnuSparseExtension(block: Buffer, context: ErrorContext): OldGnuSparsePart {
  return decodeOldGnuPairs(block, oldGnuExtensionMap, context);
}

function decodeOldGnuPairs(block: Buffer, layout: { offset: number; count: number; isExtended: number }, context: ErrorContext): OldGnuSparsePart {
  const extents: Extent[] = [];
  for (let index = 0; index < layout.count; index++) {
    const start = layout.offset + index * 24;
    if (block[start] === 0) break; // an empty pair ends the list
    const offset = readNumeric(block.subarray(start, start + 12));
    const length = readNumeric(block.subarray(start + 12, start + 24));
    if (offset === null || length === null || offset < 0n || length < 0n) {
      throw holdfastError('HOLDFAST_FORMAT_INVALID', context, 'bad extent in an old GNU sparse header');
    }
    extents.push({ offsetBytes: Number(offset), lengthBytes: Number(length) });
  }
  return { extents, isExtended: block[layout.isExtended] !== 0 };
}

/**
 * The model's map: zero-length extents dropped; the rest must ascend, not overlap and end within
 * the real size, because a restorer writes each at its offset.
 */
export function normalizeSparseMap(extents: readonly Extent[], realSizeBytes: number, context: ErrorContext): Extent[] {
  const result: Extent[] = [];
  let endBytes = 0;
  for (const extent of extents) {
    if (extent.lengthBytes === 0 && extent.offsetBytes <= realSizeBytes) continue;
    const extentEnd = extent.offsetBytes + extent.lengthBytes;
    if (extent.offsetBytes < endBytes || extentEnd > realSizeBytes || !Number.isSafeInteger(extentEnd)) {
      throw holdfastError(
        'HOLDFAST_FORMAT_INVALID',
        context,
        `sparse extent at ${extent.offsetBytes} of ${extent.lengthBytes} bytes overlaps the one before it or passes the real size ${realSizeBytes}`,
      );
    }
    result.push(extent);
    endBytes = extentEnd;
  }
  return result;
}
