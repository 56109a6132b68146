/**
 * BlobIndex: where every blob of the repository is, in memory, in about 57 bytes per blob.
 *
 * Restic keeps a Go map of structs (about 100+ bytes per blob); here the fields live in typed
 * arrays (id 32, pack number 4, offset 4, stored size 4, raw size 4, type 1 = 49 bytes) and an
 * open-addressing table of 32-bit slots at most half full (8 bytes per blob). Ids are keyed
 * BLAKE3 output, so their first four bytes are already a uniform hash. Arrays grow by doubling;
 * while they grow, the old and the new arrays are both held for a moment.
 */
import { assert } from '../base/assert.js';
import type { BlobType } from '../format/repo/blob-entry.js';
import { blobIdBytes } from '../format/repo/blob-entry.js';

export interface BlobLocation {
  type: BlobType;
  packId: Buffer;
  offsetBytes: number;
  storedBytes: number;
  rawBytes: number;
}

const wordsPerId = blobIdBytes / 4;
const initialCapacity = 1024;

export class BlobIndex {
  #count = 0;
  #capacity = 0;
  #idWords = new Uint32Array(0);
  #packNumbers = new Uint32Array(0);
  #offsets = new Uint32Array(0);
  #storedSizes = new Uint32Array(0);
  #rawSizes = new Uint32Array(0);
  #types = new Uint8Array(0);
  /** Entry number + 1, or 0 for an empty slot; length a power of two, at least 2 x count. */
  #slots = new Uint32Array(0);
  readonly #packIds: Buffer[] = [];
  readonly #packNumberByHex = new Map<string, number>();

  get count(): number {
    return this.#count;
  }

  /** Whether any indexed blob is in this pack (hex id). */
  hasPack(packHex: string): boolean {
    return this.#packNumberByHex.has(packHex);
  }

  get packCount(): number {
    return this.#packIds.length;
  }

  /** Bytes held by the typed arrays (the pack id list aside): what `stats` reports. */
  get memoryBytes(): number {
    return this.#idWords.byteLength + this.#packNumbers.byteLength + this.#offsets.byteLength + this.#storedSizes.byteLength + this.#rawSizes.byteLength + this.#types.byteLength + this.#slots.byteLength;
  }

  /** Makes room for `count` blobs in all, so that loading a known number does not double. */
  reserve(count: number): void {
    if (count > this.#capacity) this.#grow(count);
  }

  /** Adds a blob; false (and nothing changes) when the id is already indexed. */
  add(type: BlobType, id: Buffer, packId: Buffer, offsetBytes: number, storedBytes: number, rawBytes: number): boolean {
    assert(id.length === blobIdBytes, 'a blob id has 32 bytes');
    const words = idWords(id);
    if (this.#find(words) >= 0) return false;
    if (this.#count + 1 > this.#capacity) this.#grow();
    const entry = this.#count++;
    this.#idWords.set(words, entry * wordsPerId);
    this.#packNumbers[entry] = this.#packNumber(packId);
    this.#offsets[entry] = offsetBytes;
    this.#storedSizes[entry] = storedBytes;
    this.#rawSizes[entry] = rawBytes;
    this.#types[entry] = type === 'data' ? 1 : 2;
    this.#insertSlot(entry);
    return true;
  }

  has(id: Buffer): boolean {
    return this.#find(idWords(id)) >= 0;
  }

  /** The number of the pack that holds a blob (see packIdAt), or -1: cheaper than find(). */
  packNumberOf(id: Buffer): number {
    const entry = this.#find(idWords(id));
    return entry < 0 ? -1 : this.#packNumbers[entry]!;
  }

  packIdAt(packNumber: number): Buffer {
    assert(packNumber >= 0 && packNumber < this.#packIds.length, `pack number ${packNumber} is not in the index`);
    return this.#packIds[packNumber]!;
  }

  find(id: Buffer): BlobLocation | null {
    const entry = this.#find(idWords(id));
    return entry < 0 ? null : this.#location(entry);
  }

  #location(entry: number): BlobLocation {
    return {
      type: this.#types[entry] === 1 ? 'data' : 'tree',
      packId: this.#packIds[this.#packNumbers[entry]!]!,
      offsetBytes: this.#offsets[entry]!,
      storedBytes: this.#storedSizes[entry]!,
      rawBytes: this.#rawSizes[entry]!,
    };
  }

  /** Every indexed blob, grouped by nothing in particular. */
  *entries(): Generator<BlobLocation & { id: Buffer }> {
    for (let entry = 0; entry < this.#count; entry++) {
      yield { id: Buffer.from(new Uint8Array(this.#idWords.buffer, entry * blobIdBytes, blobIdBytes)), ...this.#location(entry) };
    }
  }

  #packNumber(packId: Buffer): number {
    const hex = packId.toString('hex');
    let number = this.#packNumberByHex.get(hex);
    if (number === undefined) {
      number = this.#packIds.length;
      this.#packIds.push(Buffer.from(packId));
      this.#packNumberByHex.set(hex, number);
    }
    return number;
  }

  #find(words: Uint32Array): number {
    if (this.#count === 0) return -1;
    const mask = this.#slots.length - 1;
    for (let slot = words[0]! & mask; ; slot = (slot + 1) & mask) {
      const stored = this.#slots[slot]!;
      if (stored === 0) return -1;
      const entry = stored - 1;
      if (this.#sameId(entry, words)) return entry;
    }
  }

  #sameId(entry: number, words: Uint32Array): boolean {
    const base = entry * wordsPerId;
    for (let word = 0; word < wordsPerId; word++) if (this.#idWords[base + word] !== words[word]) return false;
    return true;
  }

  #insertSlot(entry: number): void {
    const mask = this.#slots.length - 1;
    let slot = this.#idWords[entry * wordsPerId]! & mask;
    while (this.#slots[slot] !== 0) slot = (slot + 1) & mask;
    this.#slots[slot] = entry + 1;
  }

  #grow(atLeast = 0): void {
    const capacity = Math.max(initialCapacity, this.#capacity * 2, atLeast);
    const grown = <T extends Uint32Array | Uint8Array>(old: T, make: (length: number) => T, perEntry: number): T => {
      const next = make(capacity * perEntry);
      next.set(old);
      return next;
    };
    this.#idWords = grown(this.#idWords, (length) => new Uint32Array(length), wordsPerId);
    this.#packNumbers = grown(this.#packNumbers, (length) => new Uint32Array(length), 1);
    this.#offsets = grown(this.#offsets, (length) => new Uint32Array(length), 1);
    this.#storedSizes = grown(this.#storedSizes, (length) => new Uint32Array(length), 1);
    this.#rawSizes = grown(this.#rawSizes, (length) => new Uint32Array(length), 1);
    this.#types = grown(this.#types, (length) => new Uint8Array(length), 1);
    this.#capacity = capacity;
    this.#slots = new Uint32Array(2 ** Math.ceil(Math.log2(capacity * 2)));
    for (let entry = 0; entry < this.#count; entry++) this.#insertSlot(entry);
  }
}

function idWords(id: Buffer): Uint32Array {
  // Copied: the id's own buffer may sit at any offset and alignment.
  const words = new Uint32Array(wordsPerId);
  new Uint8Array(words.buffer).set(id.subarray(0, blobIdBytes));
  return words;
}
