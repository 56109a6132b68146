/**
 * PackWriter: gathers sealed blobs into pack files of about 16 MiB and writes the index files
 * that find them.
 *
 * - Blobs go into a pack in random order, so the order of a pack's blobs says nothing about the
 *   order of the files they came from.
 * - A pack is stored (durably) before any index names it, and an index file is stored before any
 *   snapshot that needs it (rule D1). An index file is written every `packsPerIndexFile` packs,
 *   so the packs of a backup that is killed half-way are found and reused by the next one.
 * - At most one pack is being written while the next fills: memory stays at about two packs.
 */
import { randomInt } from 'node:crypto';
import type { BlobType, PackedBlob } from '../format/repo/blob-entry.js';
import { encodeIndex, type IndexedPack } from '../format/repo/index-codec.js';
import { encodePackHeader } from '../format/repo/pack-codec.js';
import { storageName } from './blob-id.js';
import type { Repository } from './repository.js';
import { seal } from './seal.js';

export const packBytesTarget = 16 * 1024 * 1024;
export const packsPerIndexFile = 64;
export const packHeaderAssociatedData = Buffer.from('holdfast pack header', 'latin1');

interface PendingBlob {
  type: BlobType;
  id: Buffer;
  stored: Buffer;
  rawBytes: number;
}

export interface PackWriterSummary {
  packs: number;
  blobs: number;
  storedBytes: number;
  indexFiles: number;
}

export class PackWriter {
  readonly #repository: Repository;
  readonly #dryRun: boolean;
  #pending: PendingBlob[] = [];
  #pendingBytes = 0;
  /** Ids (hex) sealed in this session but maybe not in a stored pack yet. */
  readonly #known = new Set<string>();
  #writing: Promise<void> = Promise.resolve();
  #unindexed: IndexedPack[] = [];
  readonly summary: PackWriterSummary = { packs: 0, blobs: 0, storedBytes: 0, indexFiles: 0 };

  /** With `dryRun`, blobs are counted and dropped: nothing is stored. */
  constructor(repository: Repository, options: { dryRun?: boolean } = {}) {
    this.#repository = repository;
    this.#dryRun = options.dryRun ?? false;
  }

  /** Stored already, or on its way: a blob with this id need not be sealed again. */
  has(id: Buffer): boolean {
    return this.#repository.index.has(id) || this.#known.has(id.toString('hex'));
  }

  /** Claims an id before its blob is sealed, so that two copies of a chunk in flight are stored once. */
  claim(id: Buffer): boolean {
    if (this.has(id)) return false;
    this.#known.add(id.toString('hex'));
    return true;
  }

  /** Takes ownership of `stored`. Resolves once the blob is in a pack buffer (maybe not yet on disk). */
  async add(type: BlobType, id: Buffer, stored: Buffer, rawBytes: number): Promise<void> {
    this.#known.add(id.toString('hex'));
    this.#pending.push({ type, id, stored, rawBytes });
    this.#pendingBytes += stored.length;
    this.summary.blobs++;
    this.summary.storedBytes += stored.length;
    if (this.#pendingBytes >= packBytesTarget) await this.#startPack();
  }

  /** Writes the last pack and an index of every pack not indexed yet; the caller then saves its snapshot. */
  async finish(): Promise<void> {
    await this.#startPack();
    await this.#writing;
    await this.#writeIndex();
  }

  async #startPack(): Promise<void> {
    if (this.#pending.length === 0) return;
    const blobs = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    // Chained, not replaced: adds that complete at once (seals finish on several workers) each
    // start a pack, and every pack write is awaited by the next one and by finish(). A failed
    // write fails the packs after it, and surfaces at the next add() or at finish().
    const previous = this.#writing;
    const writing = previous.then(() => this.#writePack(blobs));
    writing.catch(() => undefined);
    this.#writing = writing;
    // Back-pressure: at most one pack is being written while the next fills.
    await previous;
  }

  async #writePack(blobs: PendingBlob[]): Promise<void> {
    shuffle(blobs);
    const packed: PackedBlob[] = [];
    let offsetBytes = 0;
    for (const blob of blobs) {
      packed.push({ type: blob.type, id: blob.id, offsetBytes, storedBytes: blob.stored.length, rawBytes: blob.rawBytes });
      offsetBytes += blob.stored.length;
    }
    const header = seal(this.#repository.master.encryptionKey, encodePackHeader(packed), packHeaderAssociatedData);
    const headerLength = Buffer.alloc(4);
    headerLength.writeUInt32LE(header.length);
    const bytes = Buffer.concat([...blobs.map((blob) => blob.stored), header, headerLength]);
    const name = storageName(bytes);
    if (!this.#dryRun) await this.#repository.backend.save('data', name, bytes);
    const packId = Buffer.from(name, 'hex');
    this.summary.packs++;
    if (!this.#dryRun) {
      for (const blob of packed) this.#repository.index.add(blob.type, blob.id, packId, blob.offsetBytes, blob.storedBytes, blob.rawBytes);
    }
    this.#unindexed.push({ packId, blobs: packed });
    if (this.#unindexed.length >= packsPerIndexFile) await this.#writeIndex();
  }

  async #writeIndex(): Promise<void> {
    if (this.#unindexed.length === 0) return;
    const packs = this.#unindexed;
    this.#unindexed = [];
    if (this.#dryRun) return;
    await this.#repository.saveSealed('index', encodeIndex(packs));
    this.summary.indexFiles++;
  }
}

function shuffle<T>(items: T[]): void {
  for (let index = items.length - 1; index > 0; index--) {
    const other = randomInt(index + 1);
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
}
