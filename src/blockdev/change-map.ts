/**
 * ChangeMap: which blocks of a volume were written since the last snapshot (rules S2, S3), kept
 * in a file outside the volume (default: the directory IMAGE.holdfast beside the image).
 *
 * Durability: mark() sets a block's bit and returns only when that bit is on stable storage, and
 * the server writes the image only after mark() returned. So every write that reached the image,
 * acknowledged or not, is in the map, whatever moment the server is killed at: the map file is
 * its own journal. Bits only go from 0 to 1 between snapshots, so a torn page write can lose only
 * bits whose writes were never started. Marks of concurrent writes share one write and one
 * fdatasync (group commit); a block already durably marked costs nothing.
 *
 * File "change-map": a 4096-byte header, then the bitmap (block-bitmap.ts).
 *   0 "HFCHGMAP" | 8 u32 version | 12 u32 granularity | 16 u64 volume bytes | 24 16-byte generation
 *   40 u64 sequence (snapshots committed in this generation) | 48 u32 state (1 serving, 2 clean)
 *   52 u32 server pid | 56 u64 image device | 64 u64 image inode | 72 u64 image mtime ns at a
 *   clean stop | 80 u64 image size at a clean stop | 88 u32 crc32 of bytes 0..87. Little-endian.
 *
 * A map that cannot be proven complete starts a new generation with an empty map and says why:
 * none yet, damaged, another granularity, a resized or replaced image, or an image changed while
 * no server had it open (its mtime differs from the one recorded at the clean stop). The next
 * backup then finds a generation it has not seen and reads everything.
 */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { displayPath, joinPath, type FilePath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { FileStat } from '../io/backend.js';
import type { Io } from '../io/io.js';
import { BlockBitmap } from './block-bitmap.js';
import { BlockFile } from './block-file.js';

export const changeMapFileName = 'change-map';
const magic = Buffer.from('HFCHGMAP', 'latin1');
const version = 1;
export const headerBytes = 4096;
const pageBytes = 4096;
const checkedBytes = 88;
const state = { serving: 1, clean: 2 } as const;

export interface ChangeMapOptions {
  granularityBytes: number;
  /** The image as the server opened it. */
  image: FileStat;
  /** Whether a process is alive (the pid of a server that may still hold the map). */
  isAlive: (pid: number) => boolean;
}

/** Why tracking starts over, or null when the old map is trusted. */
export type ResetReason = string | null;

interface Header {
  granularityBytes: number;
  volumeBytes: number;
  generation: Buffer;
  sequence: number;
  state: number;
  pid: number;
  device: bigint;
  inode: bigint;
  mtimeNs: bigint;
  sizeBytes: number;
}

export class ChangeMap {
  readonly #io: Io;
  readonly #directory: FilePath;
  readonly #pool: BufferPool;
  #file: BlockFile;
  #header: Header;
  /** Set bits: blocks written since the last snapshot (some maybe not yet durable). */
  #bits: BlockBitmap;
  /** Bits known to be on stable storage. */
  #durable: BlockBitmap;
  #dirtyPages = new Set<number>();
  #waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  /** The group write under way, if any. */
  #cycle: Promise<void> | null = null;
  /** How the map was found at open: null when resumed, else why it was reset. */
  readonly resetReason: ResetReason;
  readonly resumedAfterUncleanStop: boolean;

  private constructor(io: Io, directory: FilePath, pool: BufferPool, file: BlockFile, header: Header, bits: BlockBitmap, resetReason: ResetReason, unclean: boolean) {
    this.#io = io;
    this.#directory = directory;
    this.#pool = pool;
    this.#file = file;
    this.#header = header;
    this.#bits = bits;
    this.#durable = bits.copy();
    this.resetReason = resetReason;
    this.resumedAfterUncleanStop = unclean;
  }

  get generation(): string {
    return this.#header.generation.toString('hex');
  }
  get sequence(): number {
    return this.#header.sequence;
  }
  get granularityBytes(): number {
    return this.#header.granularityBytes;
  }
  get bits(): BlockBitmap {
    return this.#bits;
  }

  /** Opens (or starts) the map in `directory` for an image of `image.sizeBytes`, and marks it serving. */
  static async open(io: Io, directory: FilePath, pool: BufferPool, options: ChangeMapOptions): Promise<ChangeMap> {
    const path = joinPath(directory, changeMapFileName);
    const blockCount = Math.ceil(options.image.sizeBytes / options.granularityBytes);
    let found: { header: Header; bits: BlockBitmap } | null = null;
    let reason: ResetReason = 'there was no change map yet';
    try {
      found = await readMap(io, path, pool, blockCount);
      reason = found === null ? 'the change map is damaged' : whyNotTrusted(found.header, options, blockCount);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    if (found !== null && found.header.state === state.serving && found.header.pid !== process.pid && options.isAlive(found.header.pid)) {
      throw holdfastError('HOLDFAST_LOCKED', { operation: 'serve', path: displayPath(path) }, `server process ${found.header.pid} still has this image's change map open`);
    }
    const unclean = reason === null && found!.header.state === state.serving;
    const header: Header =
      reason === null
        ? { ...found!.header }
        : { granularityBytes: options.granularityBytes, volumeBytes: options.image.sizeBytes, generation: randomBytes(16), sequence: 0, state: state.serving, pid: 0, device: 0n, inode: 0n, mtimeNs: 0n, sizeBytes: 0 };
    Object.assign(header, { state: state.serving, pid: process.pid, device: options.image.device, inode: options.image.inode, mtimeNs: 0n, sizeBytes: options.image.sizeBytes });
    const bits = reason === null ? found!.bits : new BlockBitmap(blockCount);
    if (reason !== null) await writeWholeMap(io, directory, pool, header, bits);
    const handle = await io.openFile(path, { access: 'read-write' });
    const map = new ChangeMap(io, directory, pool, new BlockFile(io, handle, pool), header, bits, reason, unclean);
    if (reason === null) await map.#writeHeader();
    return map;
  }

  /** Marks every block of [offset, offset + lengthBytes); resolves when the marks are durable. */
  async mark(offset: number, lengthBytes: number): Promise<void> {
    if (lengthBytes <= 0) return;
    const granularity = this.#header.granularityBytes;
    const first = Math.floor(offset / granularity);
    const last = Math.min(Math.floor((offset + lengthBytes - 1) / granularity), this.#bits.blockCount - 1);
    if (this.#durable.hasAll(first, last)) return;
    for (let block = first; block <= last; block++) {
      if (!this.#bits.has(block)) {
        this.#bits.set(block);
        this.#dirtyPages.add(Math.floor(block / (pageBytes * 8)));
      }
    }
    await new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#startCycle();
    });
  }

  /**
   * Commit of a snapshot, inside the hold (no write in flight, so no mark pending): the current
   * map is handed back as the snapshot's, and a fresh empty one with the next sequence number
   * replaces the file (written beside it, made durable, renamed over it). If this throws, the
   * map on disk is still the old one, or a new generation is started, never a map that misses.
   */
  async commit(): Promise<{ frozen: BlockBitmap; sequence: number; generation: string }> {
    const frozen = this.#bits.copy();
    const next: Header = { ...this.#header, sequence: this.#header.sequence + 1 };
    const fresh = new BlockBitmap(this.#bits.blockCount);
    await this.#file.handle.close();
    await writeWholeMap(this.#io, this.#directory, this.#pool, next, fresh);
    this.#file = new BlockFile(this.#io, await this.#io.openFile(joinPath(this.#directory, changeMapFileName), { access: 'read-write' }), this.#pool);
    this.#header = next;
    this.#bits = fresh;
    this.#durable = fresh.copy();
    this.#dirtyPages.clear();
    return { frozen, sequence: next.sequence, generation: this.generation };
  }

  /** A clean stop: the image's identity and mtime are recorded, so the next start can trust the map. */
  async close(image: FileStat | null): Promise<void> {
    while (this.#cycle !== null) await this.#cycle;
    if (image !== null) {
      Object.assign(this.#header, { state: state.clean, pid: 0, device: image.device, inode: image.inode, mtimeNs: image.mtimeNs, sizeBytes: image.sizeBytes });
      await this.#writeHeader();
    }
    await this.#file.handle.close();
  }

  #startCycle(): void {
    if (this.#cycle !== null || this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    const pages = [...this.#dirtyPages].sort((a, b) => a - b);
    this.#dirtyPages.clear();
    const snapshot = pages.map((page) => Buffer.from(this.#bits.bytes.subarray(page * pageBytes, (page + 1) * pageBytes)));
    this.#cycle = this.#writePages(pages, snapshot)
      .then(
        () => {
          pages.forEach((page, index) => this.#durable.bytes.set(snapshot[index]!, page * pageBytes));
          for (const waiter of waiters) waiter.resolve();
        },
        (error: unknown) => {
          for (const page of pages) this.#dirtyPages.add(page);
          for (const waiter of waiters) waiter.reject(error);
        },
      )
      .finally(() => {
        this.#cycle = null;
        this.#startCycle();
      });
  }

  async #writePages(pages: number[], contents: Buffer[]): Promise<void> {
    for (const [index, page] of pages.entries()) await this.#file.write(headerBytes + page * pageBytes, contents[index]!);
    await this.#file.sync();
  }

  async #writeHeader(): Promise<void> {
    await this.#file.write(0, encodeHeader(this.#header));
    await this.#file.sync();
  }
}

function whyNotTrusted(header: Header, options: ChangeMapOptions, blockCount: number): ResetReason {
  const image = options.image;
  if (header.granularityBytes !== options.granularityBytes) return `the change map has a granularity of ${header.granularityBytes} bytes, not ${options.granularityBytes}`;
  if (header.volumeBytes !== image.sizeBytes || Math.ceil(header.volumeBytes / header.granularityBytes) !== blockCount) return `the volume was resized from ${header.volumeBytes} to ${image.sizeBytes} bytes`;
  if (header.device !== image.device || header.inode !== image.inode) return 'the image is another file than the one the change map was kept for';
  if (header.state === state.clean && (header.mtimeNs !== image.mtimeNs || header.sizeBytes !== image.sizeBytes)) return 'the image was changed while no holdfast server had it open';
  return null;
}

function encodeHeader(header: Header): Buffer {
  const bytes = Buffer.alloc(headerBytes);
  magic.copy(bytes, 0);
  bytes.writeUInt32LE(version, 8);
  bytes.writeUInt32LE(header.granularityBytes, 12);
  bytes.writeBigUInt64LE(BigInt(header.volumeBytes), 16);
  header.generation.copy(bytes, 24);
  bytes.writeBigUInt64LE(BigInt(header.sequence), 40);
  bytes.writeUInt32LE(header.state, 48);
  bytes.writeUInt32LE(header.pid, 52);
  bytes.writeBigUInt64LE(header.device, 56);
  bytes.writeBigUInt64LE(header.inode, 64);
  bytes.writeBigInt64LE(header.mtimeNs, 72);
  bytes.writeBigUInt64LE(BigInt(header.sizeBytes), 80);
  bytes.writeUInt32LE(crc32(bytes.subarray(0, checkedBytes)), checkedBytes);
  return bytes;
}

function decodeHeader(bytes: Buffer): Header | null {
  if (bytes.length < headerBytes || !bytes.subarray(0, 8).equals(magic) || bytes.readUInt32LE(8) !== version) return null;
  if (bytes.readUInt32LE(checkedBytes) !== crc32(bytes.subarray(0, checkedBytes))) return null;
  const granularityBytes = bytes.readUInt32LE(12);
  if (granularityBytes < 4096 || (granularityBytes & (granularityBytes - 1)) !== 0) return null;
  return {
    granularityBytes,
    volumeBytes: Number(bytes.readBigUInt64LE(16)),
    generation: Buffer.from(bytes.subarray(24, 40)),
    sequence: Number(bytes.readBigUInt64LE(40)),
    state: bytes.readUInt32LE(48),
    pid: bytes.readUInt32LE(52),
    device: bytes.readBigUInt64LE(56),
    inode: bytes.readBigUInt64LE(64),
    mtimeNs: bytes.readBigInt64LE(72),
    sizeBytes: Number(bytes.readBigUInt64LE(80)),
  };
}

async function readMap(io: Io, path: FilePath, pool: BufferPool, blockCount: number): Promise<{ header: Header; bits: BlockBitmap } | null> {
  const handle = await io.openFile(path);
  try {
    const file = new BlockFile(io, handle, pool);
    const stat = await io.stat(handle);
    const bitmapBytes = Math.ceil(blockCount / 8);
    const header = decodeHeader(await file.read(0, headerBytes));
    if (header === null) return null;
    if (stat.sizeBytes < headerBytes + Math.ceil(Math.ceil(header.volumeBytes / header.granularityBytes) / 8)) return null;
    const bits = new BlockBitmap(blockCount, new Uint8Array(await file.read(headerBytes, bitmapBytes)));
    return { header, bits };
  } finally {
    await handle.close();
  }
}

/** The whole map written beside the old one, made durable, then renamed over it. */
async function writeWholeMap(io: Io, directory: FilePath, pool: BufferPool, header: Header, bits: BlockBitmap): Promise<void> {
  const path = joinPath(directory, changeMapFileName);
  const temporary = joinPath(directory, `${changeMapFileName}.new`);
  const handle = await io.openFile(temporary, { access: 'write', create: true, truncate: true, mode: 0o600 });
  try {
    const file = new BlockFile(io, handle, pool);
    await file.write(0, encodeHeader(header));
    await file.write(headerBytes, Buffer.from(bits.bytes.buffer, bits.bytes.byteOffset, bits.bytes.length));
    await io.sync(handle);
  } finally {
    await handle.close();
  }
  await io.rename(temporary, path);
  const directoryHandle = await io.openDirectory(directory);
  try {
    await io.sync(directoryHandle);
  } finally {
    await directoryHandle.close();
  }
}
