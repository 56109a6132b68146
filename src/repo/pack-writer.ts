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
/** An index file also ends at this many blobs (packs of tiny blobs), so no index file grows past ~3 MiB and a backup of small files holds few records. */
export const indexBlobsPerFileMax = 65_536;
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
  readonly #rememberBlobs: boolean;
  #pending: PendingBlob[] = [];
  #pendingBytes = 0;
  /** Ids (hex) claimed or sealed in this session and not yet in the repository's index. */
  readonly #known = new Set<string>();
  readonly #reusedPacks = new Set<number>();
  #writing: Promise<void> = Promise.resolve();
  #unindexed: IndexedPack[] = [];
  #unindexedBlobs = 0;
  readonly summary: PackWriterSummary = { packs: 0, blobs: 0, storedBytes: 0, indexFiles: 0 };

  /**
   * With `dryRun`, blobs are counted and dropped: nothing is stored. With `rememberBlobs: false`
   * (prune, which copies millions of blobs it already knows), stored blobs are not added to the
   * repository's in-memory index nor remembered for has()/claim().
   */
  constructor(repository: Repository, options: { dryRun?: boolean; rememberBlobs?: boolean } = {}) {
    this.#repository = repository;
    this.#dryRun = options.dryRun ?? false;
    this.#rememberBlobs = options.rememberBlobs ?? true;
  }

  /**
   * Stored already, or on its way: a blob with this id need not be sealed again. A blob found in
   * the repository's index is reused, and its pack is remembered (reusedPacks).
   */
  has(id: Buffer): boolean {
    const packNumber = this.#repository.index.packNumberOf(id);
    if (packNumber >= 0) {
      this.#reusedPacks.add(packNumber);
      return true;
    }
    return this.#known.has(id.toString('hex'));
  }

  /**
   * The packs (hex ids) holding blobs this writer's user reuses instead of storing them again:
   * what a backup must find still indexed before it saves its snapshot (docs/concurrency.md).
   */
  reusedPacks(): string[] {
    return [...this.#reusedPacks].map((number) => this.#repository.index.packIdAt(number).toString('hex'));
  }

  /** Claims an id before its blob is sealed, so that two copies of a chunk in flight are stored once. */
  claim(id: Buffer): boolean {
    if (this.has(id)) return false;
    this.#known.add(id.toString('hex'));
    return true;
  }

  /** Takes ownership of `stored`. Resolves once the blob is in a pack buffer (maybe not yet on disk). */
  async add(type: BlobType, id: Buffer, stored: Buffer, rawBytes: number): Promise<void> {
    if (this.#rememberBlobs) this.#known.add(id.toString('hex'));
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

  /** Waits for the pack writes in flight, whatever their outcome (a failed backup's last act). */
  async settle(): Promise<void> {
    await this.#writing.catch(() => undefined);
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
    if (!this.#dryRun && this.#rememberBlobs) {
      // From now on the index knows these blobs: #known keeps only those still on their way, so
      // a backup of a million small files does not hold a million id strings.
      for (const blob of packed) {
        this.#repository.index.add(blob.type, blob.id, packId, blob.offsetBytes, blob.storedBytes, blob.rawBytes);
        this.#known.delete(blob.id.toString('hex'));
      }
    }
    this.#unindexed.push({ packId, blobs: packed });
    this.#unindexedBlobs += packed.length;
    if (this.#unindexed.length >= packsPerIndexFile || this.#unindexedBlobs >= indexBlobsPerFileMax) await this.#writeIndex();
  }

  async #writeIndex(): Promise<void> {
    if (this.#unindexed.length === 0) return;
    const packs = this.#unindexed;
    this.#unindexed = [];
    this.#unindexedBlobs = 0;
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
