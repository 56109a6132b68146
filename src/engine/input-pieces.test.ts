/**
 * Decompression bombs in imported streams (issue 16 item 11). zstd: a stream of RLE blocks, 4
 * bytes of input for each 128 KiB of output, must come out a block at a time (the bytes held
 * while it is read stay small, measured as live ArrayBuffer memory after collections); a frame
 * header that asks for a 1 GiB window is refused before any decompression; a stream made by the
 * zstd tool (a checksum, several frames) still decompresses to its bytes. gzip: 512 MiB of zeros
 * in about 0.5 MiB goes through node:zlib with back-pressure, inflated only as it is read.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isErrorCode } from '../errors/holdfast-error.js';
import { gzipSync } from 'node:zlib';
import { gunzipPieces, zstdPieces } from './input-pieces.js';

const blockBytes = 128 * 1024;

/** A zstd frame of `blocks` RLE blocks of 128 KiB of "A"; its window is 1 MiB unless the descriptor says otherwise. */
function rleBomb(blocks: number, windowDescriptor = 10 << 3): Buffer {
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, windowDescriptor]);
  const body = Buffer.alloc(blocks * 4);
  for (let index = 0; index < blocks; index++) {
    const blockHeader = (index === blocks - 1 ? 1 : 0) | (1 << 1) | (blockBytes << 3);
    body.writeUIntLE(blockHeader, index * 4, 3);
    body[index * 4 + 3] = 0x41;
  }
  return Buffer.concat([header, body]);
}

test('zstdPieces() gives a 4-bytes-per-128-KiB RLE bomb out a block at a time, in bounded memory', async () => {
  const blocks = 2048;
  const bomb = rleBomb(blocks);
  let total = 0;
  let largest = 0;
  let peakArrayBuffersBytes = 0;
  let pieces = 0;
  const collect = (globalThis as { gc?: () => void }).gc;
  assert.ok(collect !== undefined, 'the tests run with --expose-gc');
  for await (const piece of zstdPieces([bomb], 'bomb.zst')) {
    total += piece.length;
    largest = Math.max(largest, piece.length);
    // What is live, not what awaits collection: measured after a collection, now and then.
    if (pieces++ % 64 === 0) {
      collect();
      peakArrayBuffersBytes = Math.max(peakArrayBuffersBytes, process.memoryUsage().arrayBuffers);
    }
  }
  assert.equal(total, blocks * blockBytes, `${bomb.length} bytes of input are ${blocks * blockBytes} of output`);
  assert.ok(largest <= blockBytes, `no piece is over one block (${largest})`);
  assert.ok(peakArrayBuffersBytes < 32 * 1024 * 1024, `the output is not held at once: ${Math.round(peakArrayBuffersBytes / 1048576)} MiB of live ArrayBuffers at the peak`);
});

test('zstdPieces() refuses a frame that asks for a 1 GiB window before decompressing it', async () => {
  const bomb = rleBomb(4, 20 << 3);
  await assert.rejects(
    async () => {
      for await (const piece of zstdPieces([bomb], 'window.zst')) assert.fail(`nothing comes out (${piece.length} bytes did)`);
    },
    (error: unknown) => isErrorCode(error, 'HOLDFAST_LIMIT_EXCEEDED') && /window/.test((error as Error).message),
  );
});

test('zstdPieces() refuses a stream cut inside a frame, and bytes that are no zstd frame', async () => {
  const cut = rleBomb(4).subarray(0, 12);
  await assert.rejects(async () => {
    for await (const piece of zstdPieces([cut], 'cut.zst')) void piece;
  }, (error: unknown) => isErrorCode(error, 'HOLDFAST_FORMAT_TRUNCATED'));
  const foreign = Buffer.concat([rleBomb(1), Buffer.from('not a frame')]);
  await assert.rejects(async () => {
    for await (const piece of zstdPieces([foreign], 'foreign.zst')) void piece;
  }, (error: unknown) => isErrorCode(error, 'HOLDFAST_FORMAT_INVALID'));
});

test('zstdPieces() decompresses what the zstd tool writes: several frames, checksums, any piece size', async (t) => {
  if (spawnSync('sh', ['-c', 'command -v zstd']).status !== 0) {
    if (process.env['CI'] === 'true') throw new Error('CI is missing zstd');
    t.skip('needs zstd');
    return;
  }
  const plain = Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000, 0x20), randomBytes(50_000)]);
  const frames = [plain.subarray(0, 400_000), plain.subarray(400_000)].map((part) => spawnSync('zstd', ['-c', '-q', '--check', '-19'], { input: part }).stdout);
  const stream = Buffer.concat(frames);
  for (const pieceBytes of [1, 7, 4096, stream.length]) {
    const pieces: Buffer[] = [];
    for (let at = 0; at < stream.length; at += pieceBytes) pieces.push(stream.subarray(at, at + pieceBytes));
    const out: Buffer[] = [];
    for await (const piece of zstdPieces(pieces, 'tool.zst')) out.push(Buffer.from(piece));
    assert.ok(Buffer.concat(out).equals(plain), `pieces of ${pieceBytes} bytes`);
  }
});

test('gunzipPieces() inflates a gzip bomb only as it is read: 512 MiB of zeros in about 0.5 MiB holds little at a time', async () => {
  const bomb = gzipSync(Buffer.alloc(512 * 1024 * 1024), { level: 9 });
  const collect = (globalThis as { gc?: () => void }).gc!;
  // The 512 MiB the bomb was made from is garbage now; let it go before measuring.
  for (let round = 0; round < 3; round++) {
    await new Promise((resolve) => setImmediate(resolve));
    collect();
  }
  assert.ok(process.memoryUsage().arrayBuffers < 64 * 1024 * 1024, 'the measure starts from little');
  let total = 0;
  let pieces = 0;
  let peakArrayBuffersBytes = 0;
  for await (const piece of gunzipPieces([bomb])) {
    total += piece.length;
    if (pieces++ % 1024 === 0) {
      collect();
      peakArrayBuffersBytes = Math.max(peakArrayBuffersBytes, process.memoryUsage().arrayBuffers);
    }
    // A reader that stops early (a bad tar header) leaves nothing running.
    if (total >= 256 * 1024 * 1024) break;
  }
  assert.ok(total >= 256 * 1024 * 1024, `${bomb.length} bytes of input gave ${total} bytes`);
  assert.ok(peakArrayBuffersBytes < 64 * 1024 * 1024, `the output is not held at once: ${Math.round(peakArrayBuffersBytes / 1048576)} MiB of live ArrayBuffers at the peak (the bomb itself is ${Math.round(bomb.length / 1024)} KiB)`);
});
