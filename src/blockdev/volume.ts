/**
 * Volume: the live, writable export of an image file, with its change map (change-map.ts), its
 * write gate for flush-and-hold (write-gate.ts) and its snapshots (snapshot-export.ts).
 *
 * A change is ordered: gate → mark the blocks durably in the change map → preserve the old
 * blocks for every snapshot → change the image → (FUA) fdatasync. So a block is marked before any
 * byte of it changes, and a snapshot has its old bytes before they are overwritten.
 * WRITE, WRITE_ZEROES and TRIM mark; READ, FLUSH, CACHE and BLOCK_STATUS never do.
 */
import { contextName, dirtyState } from '../format/nbd/protocol.js';
import type { StatusExtent } from '../format/nbd/transmission-codec.js';
import type { FileStat } from '../io/backend.js';
import type { Io } from '../io/io.js';
import { allocationExtents, allocationRuns } from './allocation.js';
import type { BlockFile } from './block-file.js';
import type { ChangeMap } from './change-map.js';
import { describeExport, errnoError, type NbdExport, type ReadPiece, type WriteZeroesOptions } from './nbd-export.js';
import type { SnapshotExport } from './snapshot-export.js';
import { WriteGate } from './write-gate.js';

/** Reads at least this long look for holes (two lseeks), so bulk copies skip them; short ones do not pay. */
export const holeDetectionBytesMin = 64 * 1024;

export interface VolumeOptions {
  name: string;
  bitmapName: string;
  readOnly: boolean;
  /** Null for a read-only export: nothing to track. */
  changeMap: ChangeMap | null;
}

export class Volume implements NbdExport {
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly contextNames: readonly string[];
  readonly available = true;
  readonly gate = new WriteGate();
  readonly image: BlockFile;
  readonly changeMap: ChangeMap | null;
  readonly bitmapName: string;
  /** Snapshots still exported; each must see every change before it happens. */
  readonly snapshots: SnapshotExport[] = [];

  constructor(image: BlockFile, stat: FileStat, options: VolumeOptions) {
    this.image = image;
    this.name = options.name;
    this.sizeBytes = stat.sizeBytes;
    this.readOnly = options.readOnly;
    this.changeMap = options.changeMap;
    this.bitmapName = options.bitmapName;
    this.contextNames = options.changeMap === null ? [contextName.allocation] : [contextName.allocation, `${contextName.dirtyBitmapPrefix}${options.bitmapName}`];
  }

  get io(): Io {
    return this.image.io;
  }

  get description(): string {
    if (this.changeMap === null) return describeExport({ kind: this.readOnly ? 'read-only' : 'live' });
    return describeExport({ kind: 'live', generation: this.changeMap.generation, sequence: this.changeMap.sequence, granularity: this.changeMap.granularityBytes, bitmap: this.bitmapName });
  }

  async read(offset: number, lengthBytes: number, detectHoles: boolean): Promise<ReadPiece[]> {
    if (!detectHoles || lengthBytes < holeDetectionBytesMin) return [{ kind: 'data', offset, bytes: await this.image.read(offset, lengthBytes) }];
    const pieces: ReadPiece[] = [];
    for (const run of await allocationRuns(this.io, this.image.handle, offset, offset + lengthBytes)) {
      pieces.push(run.hole ? { kind: 'hole', offset: run.offset, lengthBytes: run.lengthBytes } : { kind: 'data', offset: run.offset, bytes: await this.image.read(run.offset, run.lengthBytes) });
    }
    return pieces;
  }

  async write(offset: number, bytes: Buffer, fua: boolean): Promise<void> {
    await this.#change(offset, bytes.length, fua, () => this.image.write(offset, bytes));
  }

  async trim(offset: number, lengthBytes: number, fua: boolean): Promise<void> {
    await this.#change(offset, lengthBytes, fua, () => this.io.allocate(this.image.handle, 'punch-hole', offset, lengthBytes));
  }

  async writeZeroes(offset: number, lengthBytes: number, options: WriteZeroesOptions, fua: boolean): Promise<void> {
    await this.#change(offset, lengthBytes, fua, async () => {
      try {
        await this.io.allocate(this.image.handle, options.noHole ? 'zero-range' : 'punch-hole', offset, lengthBytes);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP') throw error;
        if (options.fastZero) throw errnoError('ENOTSUP', 'the file system cannot zero a range quickly');
        await this.image.write(offset, Buffer.alloc(lengthBytes));
      }
    });
  }

  async flush(): Promise<void> {
    await this.image.sync();
  }

  async blockStatus(name: string, offset: number, lengthBytes: number): Promise<StatusExtent[]> {
    if (name === contextName.allocation) return allocationExtents(await allocationRuns(this.io, this.image.handle, offset, Math.min(offset + lengthBytes, this.sizeBytes)));
    const map = this.changeMap!;
    return map.bits.extents(offset, lengthBytes, map.granularityBytes, this.sizeBytes, dirtyState.dirty);
  }

  async #change(offset: number, lengthBytes: number, fua: boolean, apply: () => Promise<void>): Promise<void> {
    if (this.readOnly) throw errnoError('EPERM', 'the export is read-only');
    await this.gate.enter();
    try {
      await this.changeMap?.mark(offset, lengthBytes);
      for (const snapshot of [...this.snapshots]) await snapshot.preserve(offset, lengthBytes);
      await apply();
      if (fua) await this.image.sync();
    } finally {
      this.gate.leave();
    }
  }
}
