/**
 * Where import's bytes come from: a handle read in lease-sized pieces, optionally through a
 * decompressor found by its magic bytes (gzip by node:zlib, zstd by fzstd).
 *
 * zstd: Node 20 has no zstd; fzstd is pure JavaScript (no compiler, no prebuilt binary) and
 * streams, which a tar of any size needs; the native packages decompress whole buffers only.
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { holdfastError } from '../errors/holdfast-error.js';
import { ZstdFrameScanner } from '../format/zstd-frame-scanner.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import { readOnce } from '../io/transfer.js';
import type { ByteInput } from '../streams/entry-pipe.js';

/** The handle's bytes; each piece is a view of one lease, valid until the next pull. */
export async function* handlePieces(io: Io, handle: Handle, pool: BufferPool): AsyncGenerator<Buffer> {
  const lease = await pool.acquire();
  try {
    for (;;) {
      const count = await readOnce(io, handle, lease);
      if (count === 0) return;
      yield lease.bytes.subarray(0, count);
    }
  } finally {
    lease.release();
  }
}

export type Compression = 'gzip' | 'zstd' | 'none';

const gzipMagic = Buffer.from([0x1f, 0x8b]);
const zstdMagic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

export async function detectCompression(input: ByteInput): Promise<Compression> {
  const head = await input.peek(4);
  if (head.subarray(0, 2).equals(gzipMagic)) return 'gzip';
  if (head.equals(zstdMagic)) return 'zstd';
  return 'none';
}

/** The rest of a ByteInput as pieces (views valid until the next pull). */
export async function* remainingPieces(input: ByteInput, pieceBytesMax: number): AsyncGenerator<Buffer> {
  for (;;) {
    const piece = await input.readUpTo(pieceBytesMax);
    if (piece === null) return;
    yield piece;
  }
}

/** Copies, since node:stream may hold a piece after the next pull, when its lease is reused. */
async function* copied(source: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const piece of source) yield Buffer.from(piece);
}

export async function* gunzipPieces(source: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  pipeline(Readable.from(copied(source)), gunzip, () => {});
  for await (const chunk of gunzip) yield chunk as Buffer;
}

/**
 * A zstd stream's decompressed bytes. The frame scanner goes ahead of fzstd: a frame asking for
 * a window over the limit is refused before fzstd allocates it, and fzstd is given one block at a
 * time, so at most one block's output (128 KiB) is held however small the input that made it.
 */
export async function* zstdPieces(source: AsyncIterable<Buffer> | Iterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  const scanner = new ZstdFrameScanner(name);
  let output: Buffer[] = [];
  const decompressor = new ZstdDecompress((chunk) => {
    output.push(Buffer.from(chunk));
  });
  const push = (bytes: Uint8Array, final: boolean): void => {
    try {
      decompressor.push(bytes, final);
    } catch (error) {
      throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'decompress zstd', path: name, cause: error }, `the zstd data is damaged (${(error as Error).message})`);
    }
  };
  for await (const piece of source) {
    // A copy: fzstd may keep an incomplete frame's input after push() returns.
    const copy = Buffer.from(piece);
    let start = 0;
    for (const end of [...scanner.scan(copy), copy.length]) {
      if (end > start) push(copy.subarray(start, end), false);
      start = end;
      const ready = output;
      output = [];
      yield* ready;
    }
  }
  if (!scanner.atFrameBoundary) throw holdfastError('HOLDFAST_FORMAT_TRUNCATED', { operation: 'decompress zstd', path: name }, 'the zstd stream ends inside a frame');
  push(new Uint8Array(0), true);
  yield* output;
}
