/**
 * VolumeSource: what a volume backup reads — an NBD export (through NbdClient) or an image file
 * (through Io) — behind one shape: its size, its description, its data extents, its dirty
 * extents, and positioned reads. The caller closes it.
 */
import { basename } from 'node:path';
import { NbdClient } from '../blockdev/nbd-client.js';
import { isNbdUri } from '../blockdev/nbd-uri.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { Extent } from '../format/entry.js';
import { allocationState, contextName, dirtyState } from '../format/nbd/protocol.js';
import { parseVolumeDescription, type VolumeDescription } from '../format/nbd/volume-description.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import { readOnce } from '../io/transfer.js';

export interface VolumeSource {
  /** As the user gave it: the URI, or the image's path. */
  readonly source: string;
  readonly exportName: string | null;
  /** The name of the volume's entry in the snapshot. */
  readonly entryName: string;
  readonly sizeBytes: number;
  /** Null when the source is not a holdfast export (qemu-nbd, an image file). */
  readonly description: VolumeDescription | null;
  readonly mtimeNs: bigint;
  /** Whether the export offers `qemu:dirty-bitmap:<name>`. */
  offersBitmap(bitmapName: string): boolean;
  /** Ranges that may hold data, ascending; null when the source cannot say. */
  dataExtents(): Promise<Extent[] | null>;
  /** Ranges the dirty bitmap marks. */
  dirtyExtents(bitmapName: string): Promise<Extent[]>;
  /** Exactly lengthBytes from offset (at most readBytesMax), in a Buffer of its own. */
  read(offset: number, lengthBytes: number): Promise<Buffer>;
  readonly readBytesMax: number;
  close(): Promise<void>;
}

/** An NBD URI or an image file's path. */
export async function openVolumeSource(io: Io, source: string, pool: BufferPool, requestsInFlight: number): Promise<VolumeSource> {
  if (isNbdUri(source)) return new NbdVolumeSource(source, await NbdClient.connect(source, { requestsInFlight }));
  const handle = await io.openFile(source);
  try {
    const stat = await io.stat(handle);
    return new ImageVolumeSource(io, source, handle, pool, stat.sizeBytes, stat.mtimeNs);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** A file name for the entry: the export name as it is, unless it cannot be one. */
function entryNameOf(name: string): string {
  const cleaned = name.replace(/\//g, '_').replace(/\0/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'volume' : cleaned.slice(0, 255);
}

class NbdVolumeSource implements VolumeSource {
  readonly source: string;
  readonly exportName: string;
  readonly entryName: string;
  readonly sizeBytes: number;
  readonly description: VolumeDescription | null;
  readonly mtimeNs = BigInt(Date.now()) * 1_000_000n;
  readonly #client: NbdClient;

  constructor(source: string, client: NbdClient) {
    this.source = source;
    this.#client = client;
    this.exportName = client.info.exportName;
    this.entryName = entryNameOf(client.info.exportName);
    this.sizeBytes = client.info.sizeBytes;
    this.description = parseVolumeDescription(client.info.description);
  }

  get readBytesMax(): number {
    return this.#client.readBytesMax;
  }

  offersBitmap(bitmapName: string): boolean {
    return this.#client.info.metaContexts.includes(`${contextName.dirtyBitmapPrefix}${bitmapName}`);
  }

  async dataExtents(): Promise<Extent[] | null> {
    if (!this.#client.info.metaContexts.includes(contextName.allocation) || this.sizeBytes === 0) return null;
    // A hole, or allocated bytes that read as zeros: neither holds data.
    return toExtents(await this.#client.statusMap(contextName.allocation), (flags) => (flags & (allocationState.hole | allocationState.zero)) === 0);
  }

  async dirtyExtents(bitmapName: string): Promise<Extent[]> {
    if (this.sizeBytes === 0) return [];
    return toExtents(await this.#client.statusMap(`${contextName.dirtyBitmapPrefix}${bitmapName}`), (flags) => (flags & dirtyState.dirty) !== 0);
  }

  read(offset: number, lengthBytes: number): Promise<Buffer> {
    return this.#client.read(offset, lengthBytes);
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

function toExtents(ranges: readonly { offsetBytes: number; lengthBytes: number; flags: number }[], keep: (flags: number) => boolean): Extent[] {
  const extents: Extent[] = [];
  for (const range of ranges) {
    if (!keep(range.flags)) continue;
    const last = extents.at(-1);
    if (last !== undefined && last.offsetBytes + last.lengthBytes === range.offsetBytes) last.lengthBytes += range.lengthBytes;
    else extents.push({ offsetBytes: range.offsetBytes, lengthBytes: range.lengthBytes });
  }
  return extents;
}

class ImageVolumeSource implements VolumeSource {
  readonly source: string;
  readonly exportName = null;
  readonly entryName: string;
  readonly sizeBytes: number;
  readonly description = null;
  readonly mtimeNs: bigint;
  readonly #io: Io;
  readonly #handle: Handle<'file'>;
  readonly #pool: BufferPool;

  constructor(io: Io, source: string, handle: Handle<'file'>, pool: BufferPool, sizeBytes: number, mtimeNs: bigint) {
    this.#io = io;
    this.source = source;
    this.#handle = handle;
    this.#pool = pool;
    this.entryName = entryNameOf(basename(source));
    this.sizeBytes = sizeBytes;
    this.mtimeNs = mtimeNs;
  }

  get readBytesMax(): number {
    return this.#pool.bufferSizeBytes;
  }

  offersBitmap(): boolean {
    return false;
  }

  /** SEEK_DATA / SEEK_HOLE over the whole file. */
  async dataExtents(): Promise<Extent[] | null> {
    const extents: Extent[] = [];
    let at = 0;
    while (at < this.sizeBytes) {
      const start = await this.#io.seekData(this.#handle, at);
      if (start === null || start >= this.sizeBytes) break;
      const end = Math.min((await this.#io.seekHole(this.#handle, start)) ?? this.sizeBytes, this.sizeBytes);
      extents.push({ offsetBytes: start, lengthBytes: end - start });
      at = end;
    }
    return extents;
  }

  dirtyExtents(): Promise<Extent[]> {
    return Promise.reject(holdfastError('HOLDFAST_USAGE', { operation: 'read change map', path: this.source }, 'an image file has no change map'));
  }

  async read(offset: number, lengthBytes: number): Promise<Buffer> {
    const target = Buffer.alloc(lengthBytes);
    const lease = await this.#pool.acquire();
    try {
      let done = 0;
      while (done < lengthBytes) {
        const count = await readOnce(this.#io, this.#handle, lease, { position: offset + done, lengthBytes: Math.min(lease.sizeBytes, lengthBytes - done) });
        if (count === 0) throw holdfastError('HOLDFAST_SIZE_MISMATCH', { operation: 'read image', path: this.source }, `the image ended at ${offset + done} while being read (it shrank)`);
        lease.bytes.copy(target, done, 0, count);
        done += count;
      }
    } finally {
      lease.release();
    }
    return target;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
