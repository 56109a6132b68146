/**
 * BlobTable: which blobs the repository holds, in which pack and how large they are stored, with
 * one mark bit each, in about 24 bytes per blob plus its slot. For check and prune, which must
 * hold every index entry at once (10 million and more); backup and restore use BlobIndex, which
 * also keeps offsets, raw sizes and whole ids.
 *
 * Per entry: the first 16 bytes of the blob id (4 x u32), the pack number (u32, the caller's:
 * it keeps its own list of pack ids), the stored size (u32) and a mark bit (the caller's meaning:
 * "used" for prune, "damaged" for check), all in typed arrays. Slots: an open-addressing table of
 * u32 (entry number + 1, 0 = empty), a power of two at most 3/4 full, probed linearly.
 *
 * Why a 128-bit prefix is enough: blob ids are keyed BLAKE3, so their prefixes are uniform and
 * independent (kopia uses 128-bit content ids for the same reason). With n ids the chance that any
 * two share a prefix is about n^2 / 2^129: for n = 10^7, about 1.5e-25, far below the chance of
 * an undetected memory or disk error. What a collision would do: the second blob would be taken
 * for the first, so check could miss that the second is missing (find says "present"), and prune
 * could count the second's copy as unneeded and drop its pack, losing it. check --read-data still
 * opens every stored blob against its full id.
 *
 * Growth: arrays double (old and new are both held for a moment); reserve() with the expected
 * count avoids growing at all, so loading 10 million entries holds one set of arrays.
 */
import { assert } from '../base/assert.js';

/** Bytes of the id kept per entry. */
export const blobTablePrefixBytes = 16;
const wordsPerPrefix = blobTablePrefixBytes / 4;
const initialCapacity = 1024;
/** The slot table is at most this full (numerator / denominator = 3/4). */
const loadNumerator = 3;
const loadDenominator = 4;
/** Entry numbers are stored + 1 in u32 slots, and pack numbers and sizes are u32. */
const entriesMax = 0xffff_fffe;
const u32Max = 0xffff_ffff;

export class BlobTable {
  #count = 0;
  #capacity = 0;
  #prefixWords = new Uint32Array(0);
  #packNumbers = new Uint32Array(0);
  #storedSizes = new Uint32Array(0);
  /** One bit per entry. */
  #marks = new Uint32Array(0);
  #slots = new Uint32Array(0);
  /** Scratch for the id being looked up, so find() allocates nothing. */
  readonly #probe = new Uint32Array(wordsPerPrefix);

  constructor(expectedCount = 0) {
    if (expectedCount > 0) this.reserve(expectedCount);
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes held by the typed arrays: every byte of the table but a few objects. */
  get memoryBytes(): number {
    return this.#prefixWords.byteLength + this.#packNumbers.byteLength + this.#storedSizes.byteLength + this.#marks.byteLength + this.#slots.byteLength + this.#probe.byteLength;
  }

  /** Makes room for `count` entries in all, so that adding that many does not grow the arrays. */
  reserve(count: number): void {
    assert(Number.isSafeInteger(count) && count >= 0 && count <= entriesMax, `cannot reserve ${count} entries`);
    if (count > this.#capacity) this.#grow(count);
  }

  /** Adds the blob and returns its entry number; a duplicate id returns the existing entry (first location wins). */
  add(id: Uint8Array, packNumber: number, storedBytes: number): number {
    assert(id.length >= blobTablePrefixBytes, `a blob id has at least ${blobTablePrefixBytes} bytes`);
    assert(Number.isInteger(packNumber) && packNumber >= 0 && packNumber <= u32Max, `pack number ${packNumber} is not a u32`);
    assert(Number.isInteger(storedBytes) && storedBytes >= 0 && storedBytes <= u32Max, `stored size ${storedBytes} is not a u32`);
    this.#loadProbe(id);
    const found = this.#findProbe();
    if (found >= 0) return found;
    if (this.#count === this.#capacity) {
      assert(this.#count < entriesMax, 'the blob table is full');
      this.#grow(Math.min(entriesMax, Math.max(initialCapacity, this.#capacity * 2)));
    }
    const entry = this.#count++;
    this.#prefixWords.set(this.#probe, entry * wordsPerPrefix);
    this.#packNumbers[entry] = packNumber;
    this.#storedSizes[entry] = storedBytes;
    this.#insertSlot(entry);
    return entry;
  }

  /** Entry number, or -1. */
  find(id: Uint8Array): number {
    assert(id.length >= blobTablePrefixBytes, `a blob id has at least ${blobTablePrefixBytes} bytes`);
    this.#loadProbe(id);
    return this.#findProbe();
  }

  packNumber(entry: number): number {
    this.#checkEntry(entry);
    return this.#packNumbers[entry]!;
  }

  storedBytes(entry: number): number {
    this.#checkEntry(entry);
    return this.#storedSizes[entry]!;
  }

  mark(entry: number): void {
    this.#checkEntry(entry);
    this.#marks[entry >>> 5]! |= 1 << (entry & 31);
  }

  isMarked(entry: number): boolean {
    this.#checkEntry(entry);
    return (this.#marks[entry >>> 5]! & (1 << (entry & 31))) !== 0;
  }

  #checkEntry(entry: number): void {
    assert(Number.isInteger(entry) && entry >= 0 && entry < this.#count, `entry ${entry} is not in the table (${this.#count} entries)`);
  }

  /** The id's first 16 bytes as little-endian u32 words, from any offset or alignment. */
  #loadProbe(id: Uint8Array): void {
    for (let word = 0; word < wordsPerPrefix; word++) {
      const at = word * 4;
      this.#probe[word] = (id[at]! | (id[at + 1]! << 8) | (id[at + 2]! << 16) | (id[at + 3]! << 24)) >>> 0;
    }
  }

  #findProbe(): number {
    if (this.#count === 0) return -1;
    const probe = this.#probe;
    const words = this.#prefixWords;
    const mask = this.#slots.length - 1;
    for (let slot = probe[0]! & mask; ; slot = (slot + 1) & mask) {
      const stored = this.#slots[slot]!;
      if (stored === 0) return -1;
      const base = (stored - 1) * wordsPerPrefix;
      if (words[base] === probe[0] && words[base + 1] === probe[1] && words[base + 2] === probe[2] && words[base + 3] === probe[3]) return stored - 1;
    }
  }

  #insertSlot(entry: number): void {
    const mask = this.#slots.length - 1;
    let slot = this.#prefixWords[entry * wordsPerPrefix]! & mask;
    while (this.#slots[slot] !== 0) slot = (slot + 1) & mask;
    this.#slots[slot] = entry + 1;
  }

  #grow(capacity: number): void {
    const grown = (old: Uint32Array, length: number): Uint32Array<ArrayBuffer> => {
      const next = new Uint32Array(length);
      next.set(old.subarray(0, Math.min(old.length, length)));
      return next;
    };
    this.#prefixWords = grown(this.#prefixWords, capacity * wordsPerPrefix);
    this.#packNumbers = grown(this.#packNumbers, capacity);
    this.#storedSizes = grown(this.#storedSizes, capacity);
    this.#marks = grown(this.#marks, Math.ceil(capacity / 32));
    this.#capacity = capacity;
    const slotCount = 2 ** Math.ceil(Math.log2(Math.max(2, Math.ceil((capacity * loadDenominator) / loadNumerator))));
    if (slotCount !== this.#slots.length) {
      this.#slots = new Uint32Array(slotCount);
      for (let entry = 0; entry < this.#count; entry++) this.#insertSlot(entry);
    }
  }
}
