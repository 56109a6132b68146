/**
 * SnapshotExport: a read-only, point-in-time view of the live volume, served beside it.
 *
 * Copy-on-write: before the live volume overwrites (or trims, or zeroes) a block the snapshot has
 * not preserved yet, preserve() copies the block's old bytes into the snapshot's store (a sparse
 * file in the state directory, at the block's own offset) and marks it preserved. A snapshot read
 * takes preserved blocks from the store and the others from the image. A reader of image blocks
 * registers them first, and preserve() lets the live write go on only when no snapshot reader is
 * still reading those blocks from the image, so a reader never sees a half-new block.
 *
 * Running out of store space (the block limit, or ENOSPC) abandons the snapshot, never the
 * volume: its reads then fail with EIO and new connections to it are refused. The store is not
 * made durable: a snapshot lives as long as the server process.
 */
import { contextName, dirtyState } from '../format/nbd/protocol.js';
import type { StatusExtent } from '../format/nbd/transmission-codec.js';
import type { Io } from '../io/io.js';
import { allocationExtents, allocationRuns } from './allocation.js';
import type { BlockBitmap } from './block-bitmap.js';
import type { BlockFile } from './block-file.js';
import { describeExport, errnoError, type NbdExport, type ReadPiece } from './nbd-export.js';

export interface SnapshotExportOptions {
  name: string;
  generation: string;
  sequence: number;
  granularityBytes: number;
  sizeBytes: number;
  bitmapName: string;
  /** The blocks written between the previous snapshot and this one. */
  changed: BlockBitmap;
  /** Preserved blocks allowed in the store before the snapshot is abandoned. */
  storeBlocksMax: number;
  image: BlockFile;
  store: BlockFile;
  /** Called once when the snapshot is abandoned (the volume drops it and removes its store). */
  onAbandon: (snapshot: SnapshotExport, reason: string) => void;
}

export class SnapshotExport implements NbdExport {
  readonly name: string;
  readonly description: string;
  readonly sizeBytes: number;
  readonly readOnly = true;
  readonly contextNames: readonly string[];
  readonly sequence: number;
  readonly #options: SnapshotExportOptions;
  readonly #preserved: BlockBitmap;
  #preservedCount = 0;
  readonly #copying = new Map<number, Promise<void>>();
  readonly #imageReaders = new Map<number, number>();
  readonly #readersDone = new Map<number, (() => void)[]>();
  #abandonReason: string | null = null;

  constructor(options: SnapshotExportOptions) {
    this.#options = options;
    this.name = options.name;
    this.sizeBytes = options.sizeBytes;
    this.sequence = options.sequence;
    this.description = describeExport({ kind: 'snapshot', generation: options.generation, sequence: options.sequence, granularity: options.granularityBytes, bitmap: options.bitmapName });
    this.contextNames = [contextName.allocation, `${contextName.dirtyBitmapPrefix}${options.bitmapName}`];
    this.#preserved = options.changed.copy();
    this.#preserved.bytes.fill(0);
  }

  get available(): boolean {
    return this.#abandonReason === null;
  }

  get abandonReason(): string | null {
    return this.#abandonReason;
  }

  get preservedBlocks(): number {
    return this.#preservedCount;
  }

  /** Called by the live volume before it changes [offset, offset + lengthBytes) of the image. */
  async preserve(offset: number, lengthBytes: number): Promise<void> {
    if (!this.available || offset >= this.sizeBytes) return;
    const { first, last } = this.#blocks(offset, lengthBytes);
    const waits = new Set<Promise<void>>();
    let runStart = -1;
    for (let block = first; block <= last + 1; block++) {
      const needsCopy = block <= last && !this.#preserved.has(block) && !this.#copying.has(block);
      if (needsCopy && runStart < 0) runStart = block;
      if (!needsCopy && runStart >= 0) {
        const [runFirst, runLast] = [runStart, block - 1];
        // Registered before it starts, so that a copy that ends at once still finds its entries.
        const run = Promise.resolve().then(() => this.#copyOut(runFirst, runLast));
        for (let index = runFirst; index <= runLast; index++) this.#copying.set(index, run);
        runStart = -1;
      }
    }
    for (let block = first; block <= last; block++) {
      const copying = this.#copying.get(block);
      if (copying !== undefined) waits.add(copying);
    }
    await Promise.all(waits);
    for (let block = first; block <= last; block++) await this.#noImageReaders(block);
  }

  async read(offset: number, lengthBytes: number): Promise<ReadPiece[]> {
    const { first, last } = this.#blocks(offset, lengthBytes);
    for (let block = first; block <= last; block++) this.#imageReaders.set(block, (this.#imageReaders.get(block) ?? 0) + 1);
    try {
      this.#throwIfAbandoned();
      const granularity = this.#options.granularityBytes;
      const pieces: ReadPiece[] = [];
      const end = offset + lengthBytes;
      let at = offset;
      while (at < end) {
        const fromStore = this.#preserved.has(Math.floor(at / granularity));
        let runEnd = at;
        while (runEnd < end && this.#preserved.has(Math.floor(runEnd / granularity)) === fromStore) runEnd = Math.min((Math.floor(runEnd / granularity) + 1) * granularity, end);
        const source = fromStore ? this.#options.store : this.#options.image;
        pieces.push({ kind: 'data', offset: at, bytes: await source.read(at, runEnd - at) });
        at = runEnd;
      }
      this.#throwIfAbandoned();
      return pieces;
    } finally {
      for (let block = first; block <= last; block++) this.#readerDone(block);
    }
  }

  async blockStatus(name: string, offset: number, lengthBytes: number): Promise<StatusExtent[]> {
    this.#throwIfAbandoned();
    const granularity = this.#options.granularityBytes;
    if (name !== contextName.allocation) return this.#options.changed.extents(offset, lengthBytes, granularity, this.sizeBytes, dirtyState.dirty);
    // Preserved blocks are data (the store has them); the others are as the image has them now.
    const end = Math.min(offset + lengthBytes, this.sizeBytes);
    const firstBlockEnd = Math.min((Math.floor(offset / granularity) + 1) * granularity, end);
    if (this.#preserved.has(Math.floor(offset / granularity))) return [{ lengthBytes: firstBlockEnd - offset, flags: 0 }];
    let runEnd = firstBlockEnd;
    while (runEnd < end && !this.#preserved.has(Math.floor(runEnd / granularity))) runEnd = Math.min(runEnd + granularity, end);
    const io: Io = this.#options.image.io;
    return allocationExtents(await allocationRuns(io, this.#options.image.handle, offset, runEnd));
  }

  write(): Promise<void> {
    return Promise.reject(errnoError('EPERM', 'the snapshot export is read-only'));
  }
  trim(): Promise<void> {
    return this.write();
  }
  writeZeroes(): Promise<void> {
    return this.write();
  }
  async flush(): Promise<void> {}

  /** Gives the snapshot up (store full, store failed, or dropped by its user). */
  abandon(reason: string): void {
    if (this.#abandonReason !== null) return;
    this.#abandonReason = reason;
    this.#options.onAbandon(this, reason);
  }

  async #copyOut(first: number, last: number): Promise<void> {
    try {
      const granularity = this.#options.granularityBytes;
      if (!this.available) return;
      if (this.#preservedCount + (last - first + 1) > this.#options.storeBlocksMax) {
        this.abandon(`its copy-on-write store is full (${this.#options.storeBlocksMax} blocks of ${granularity} bytes)`);
        return;
      }
      // Counted before the copy: copies running at once must not together outgrow the store.
      this.#preservedCount += last - first + 1;
      const start = first * granularity;
      const end = Math.min((last + 1) * granularity, this.sizeBytes);
      const old = await this.#options.image.read(start, end - start);
      await this.#options.store.write(start, old);
      for (let block = first; block <= last; block++) this.#preserved.set(block);
    } catch (error) {
      this.abandon(`its copy-on-write store failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      for (let block = first; block <= last; block++) this.#copying.delete(block);
    }
  }

  async #noImageReaders(block: number): Promise<void> {
    if ((this.#imageReaders.get(block) ?? 0) === 0) return;
    await new Promise<void>((resolve) => {
      const waiting = this.#readersDone.get(block) ?? [];
      waiting.push(resolve);
      this.#readersDone.set(block, waiting);
    });
  }

  #readerDone(block: number): void {
    const count = (this.#imageReaders.get(block) ?? 1) - 1;
    if (count > 0) {
      this.#imageReaders.set(block, count);
      return;
    }
    this.#imageReaders.delete(block);
    const waiting = this.#readersDone.get(block);
    this.#readersDone.delete(block);
    for (const resolve of waiting ?? []) resolve();
  }

  #blocks(offset: number, lengthBytes: number): { first: number; last: number } {
    const granularity = this.#options.granularityBytes;
    return { first: Math.floor(offset / granularity), last: Math.floor((Math.min(offset + lengthBytes, this.sizeBytes) - 1) / granularity) };
  }

  #throwIfAbandoned(): void {
    if (this.#abandonReason !== null) throw errnoError('EIO', `snapshot ${this.name} was abandoned: ${this.#abandonReason}`);
  }
}
