/**
 * Content-defined chunking: FastCDC (Xia et al., USENIX ATC 2016; IEEE TPDS 2020).
 *
 * A gear hash rolls over the bytes, `hash = (hash << 1) + gear[byte]` in 32-bit integers, so
 * bit k of the hash depends on the last k + 1 bytes only, and a chunk ends after a byte where the masked
 * bits of the hash are all zero. Three tricks of FastCDC:
 * - the first sizeBytesMin bytes of a chunk are not even hashed (the hash starts at zero there);
 * - normalized chunking (level 2): up to sizeBytesAverage a harder mask (2 more bits) is used,
 *   after it an easier one (2 fewer bits), which narrows the spread of chunk sizes;
 * - a chunk is cut at sizeBytesMax whatever its content.
 * The masks are high bits of the hash (up to bit 30), and their bit count is log2(average - minimum), not
 * log2(average): skipping the minimum already adds it to every chunk, so this keeps the mean chunk
 * size near sizeBytesAverage (about 1.04 MiB for the defaults on random data, by the geometric
 * distributions of the two regions, instead of about 1.19 MiB).
 *
 * The gear table is the AES-256-CTR keystream of the repository's chunkerKey, so the boundaries,
 * and the chunk sizes a file produces, differ between repositories: someone who can see stored
 * sizes cannot recognise a known file by its chunk sizes without the key.
 *
 * Chunker takes a stream in pieces of any size and returns whole chunks. Each chunk is a new
 * Buffer that owns its ArrayBuffer exactly (byteOffset 0, byteLength equal to its length, never
 * from Node's shared pool of small buffers), so the caller may transfer it to a worker_thread.
 * The pieces pushed are only read during push(): the caller may reuse them once it returns.
 */
import { createCipheriv } from 'node:crypto';
import { assert } from '../base/assert.js';
import { decompressedBytesMax } from './compression.js';

export interface ChunkerParameters {
  /** No chunk but a stream's last is shorter. */
  sizeBytesMin: number;
  /** The mean chunk size aimed at, where the harder mask gives way to the easier one. */
  sizeBytesAverage: number;
  /** Every chunk is cut here at the latest. */
  sizeBytesMax: number;
}

export const defaultChunkerParameters: Readonly<ChunkerParameters> = Object.freeze({
  sizeBytesMin: 512 * 1024,
  sizeBytesAverage: 1024 * 1024,
  sizeBytesMax: 8 * 1024 * 1024,
});

export const chunkerKeyBytes = 32;
/** FastCDC's normalization level: the bits added to (removed from) the mask before (after) the average. */
export const normalizationLevel = 2;
/** The largest chunk a repository can hold as one blob. */
export const chunkSizeBytesLimit = decompressedBytesMax;

const gearEntryCount = 256;
const stagingBytesInitial = 64 * 1024;

/** What cutPoint() needs to know: the keyed gear table, the two masks and the sizes. */
export interface CutRules extends ChunkerParameters {
  gear: Int32Array;
  /** Each gear value shifted left by one, for the two-bytes-a-turn loop. */
  gearDoubled: Int32Array;
  maskHard: number;
  maskEasy: number;
}

/** Where a scan stopped inside a chunk: the rolling hash and the chunk's bytes so far. */
export interface CutState {
  hash: number;
  lengthBytes: number;
}

/** 256 gear values: the first 1 KiB of the AES-256-CTR keystream under chunkerKey, little-endian. */
export function gearTable(chunkerKey: Uint8Array): Int32Array {
  assert(chunkerKey.length === chunkerKeyBytes, `a chunker key is ${chunkerKeyBytes} bytes, not ${chunkerKey.length}`);
  const cipher = createCipheriv('aes-256-ctr', chunkerKey, Buffer.alloc(16));
  const keystream = Buffer.concat([cipher.update(Buffer.alloc(gearEntryCount * 4)), cipher.final()]);
  const gear = new Int32Array(gearEntryCount);
  for (let index = 0; index < gearEntryCount; index++) gear[index] = keystream.readInt32LE(index * 4);
  return gear;
}

export function cutRules(chunkerKey: Uint8Array, parameters: ChunkerParameters = defaultChunkerParameters): CutRules {
  const { sizeBytesMin, sizeBytesAverage, sizeBytesMax } = parameters;
  assert(
    [sizeBytesMin, sizeBytesAverage, sizeBytesMax].every((size) => Number.isSafeInteger(size) && size > 0),
    'chunk sizes must be positive integers',
  );
  assert(sizeBytesMin < sizeBytesAverage && sizeBytesAverage < sizeBytesMax, 'chunk sizes must satisfy min < average < max');
  assert(sizeBytesMax <= chunkSizeBytesLimit, `the largest chunk may be at most ${chunkSizeBytesLimit} bytes`);
  const bits = Math.round(Math.log2(sizeBytesAverage - sizeBytesMin));
  assert(bits - normalizationLevel >= 1 && bits + normalizationLevel <= 30, 'average - min must be between 8 bytes and 256 MiB');
  const gear = gearTable(chunkerKey);
  return {
    sizeBytesMin,
    sizeBytesAverage,
    sizeBytesMax,
    gear,
    gearDoubled: gear.map((value) => value << 1),
    maskHard: highBitsBelowTop(bits + normalizationLevel),
    maskEasy: highBitsBelowTop(bits - normalizationLevel),
  };
}

/**
 * Scans `bytes[start, end)`, which continue a chunk that already has `state.lengthBytes` bytes
 * (and the rolling hash `state.hash`). Returns the index in `bytes` just after the chunk's last
 * byte, and resets `state` for the next chunk; or returns -1 when the chunk does not end before
 * `end`, with `state` updated so the next call continues where this one stopped.
 */
export function cutPoint(bytes: Uint8Array, start: number, end: number, state: CutState, rules: CutRules): number {
  const chunkStart = start - state.lengthBytes;
  const index = Math.max(start, chunkStart + rules.sizeBytesMin);
  if (index >= end) {
    state.lengthBytes = end - chunkStart;
    return -1;
  }
  const averageStop = Math.min(end, chunkStart + rules.sizeBytesAverage);
  let cut = rollUntilMatch(bytes, index, averageStop, rules.maskHard, rules, state);
  if (cut >= 0) return endChunk(state, cut);
  const maxStop = Math.min(end, chunkStart + rules.sizeBytesMax);
  cut = rollUntilMatch(bytes, Math.max(index, averageStop), maxStop, rules.maskEasy, rules, state);
  if (cut >= 0) return endChunk(state, cut);
  if (maxStop === chunkStart + rules.sizeBytesMax) return endChunk(state, maxStop);
  state.lengthBytes = end - chunkStart;
  return -1;
}

/**
 * Rolls `state.hash` over `bytes[from, stop)`. Returns the index just after the first byte where
 * `(hash & mask) === 0`, or -1 with `state.hash` updated. The hot loop of the chunker: two bytes
 * a turn, as FastCDC 2020 does. After the first byte of a pair it holds twice the true hash (the
 * pair's shift done in one go, with a table of doubled gear values) and tests it against the
 * doubled mask, which is the same test because the mask leaves bit 31 clear; adding the second
 * byte's gear value then gives the true hash.
 */
function rollUntilMatch(bytes: Uint8Array, from: number, stop: number, mask: number, rules: CutRules, state: CutState): number {
  const { gear, gearDoubled } = rules;
  const maskDoubled = mask << 1;
  let hash = state.hash;
  let index = from;
  const pairStop = from + ((stop - from) & ~1);
  for (; index < pairStop; index += 2) {
    hash = ((hash << 2) + gearDoubled[bytes[index]!]!) | 0;
    if ((hash & maskDoubled) === 0) return index + 1;
    hash = (hash + gear[bytes[index + 1]!]!) | 0;
    if ((hash & mask) === 0) return index + 2;
  }
  if (index < stop) {
    hash = ((hash << 1) + gear[bytes[index]!]!) | 0;
    if ((hash & mask) === 0) return index + 1;
  }
  state.hash = hash;
  return -1;
}

export class Chunker {
  readonly #rules: CutRules;
  readonly #state: CutState = { hash: 0, lengthBytes: 0 };
  /** The bytes of the chunk in progress; #stagedBytes of them are used (always < sizeBytesMax). */
  #staging: Buffer = Buffer.alloc(0);
  #stagedBytes = 0;

  constructor(chunkerKey: Uint8Array, parameters: ChunkerParameters = defaultChunkerParameters) {
    this.#rules = cutRules(chunkerKey, parameters);
  }

  get parameters(): ChunkerParameters {
    const { sizeBytesMin, sizeBytesAverage, sizeBytesMax } = this.#rules;
    return { sizeBytesMin, sizeBytesAverage, sizeBytesMax };
  }

  /** The chunks that `bytes` completes, in order (often none). `bytes` is copied, not kept. */
  push(bytes: Uint8Array): Buffer[] {
    const chunks: Buffer[] = [];
    let start = 0;
    for (;;) {
      const cut = cutPoint(bytes, start, bytes.length, this.#state, this.#rules);
      if (cut < 0) {
        this.#stage(bytes.subarray(start));
        return chunks;
      }
      chunks.push(this.#takeChunk(bytes.subarray(start, cut)));
      start = cut;
    }
  }

  /** The last chunk of the stream, or null when none is pending; the chunker then starts afresh. */
  finish(): Buffer | null {
    if (this.#stagedBytes === 0) return null;
    const chunk = this.#takeChunk(new Uint8Array(0));
    this.#state.hash = 0;
    this.#state.lengthBytes = 0;
    return chunk;
  }

  #stage(bytes: Uint8Array): void {
    const neededBytes = this.#stagedBytes + bytes.length;
    assert(neededBytes < this.#rules.sizeBytesMax, 'the chunk in progress outgrew the largest chunk');
    if (neededBytes > this.#staging.length) {
      let capacityBytes = Math.max(stagingBytesInitial, this.#staging.length);
      while (capacityBytes < neededBytes) capacityBytes *= 2;
      const staging = Buffer.allocUnsafeSlow(Math.min(capacityBytes, this.#rules.sizeBytesMax));
      staging.set(this.#staging.subarray(0, this.#stagedBytes));
      this.#staging = staging;
    }
    this.#staging.set(bytes, this.#stagedBytes);
    this.#stagedBytes = neededBytes;
  }

  /** The staged bytes followed by `tail`, in a new buffer of exactly that size. */
  #takeChunk(tail: Uint8Array): Buffer {
    const chunk = Buffer.allocUnsafeSlow(this.#stagedBytes + tail.length);
    chunk.set(this.#staging.subarray(0, this.#stagedBytes));
    chunk.set(tail, this.#stagedBytes);
    this.#stagedBytes = 0;
    return chunk;
  }
}

function endChunk(state: CutState, cut: number): number {
  state.hash = 0;
  state.lengthBytes = 0;
  return cut;
}

/**
 * A mask of `count` bits ending at bit 30: high bits, which depend on the most bytes (bit k of
 * the hash on the last k + 1), but not bit 31, which the two-bytes-a-turn test would shift out.
 */
function highBitsBelowTop(count: number): number {
  return ((1 << count) - 1) << (31 - count);
}
