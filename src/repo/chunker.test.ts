/**
 * Shows the chunker's contract on deterministic pseudo-random data (the AES-CTR keystream of a
 * fixed seed): the same key cuts the same chunks however the stream is split into pieces (1 byte,
 * 7 bytes, 1 MiB + 3), another key cuts elsewhere, sizes stay within [min, max] except the last,
 * the mean is near 1 MiB, an insertion near the start changes only the first chunk or two, and
 * every chunk owns its ArrayBuffer exactly so it can be transferred to a worker_thread.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { test } from 'node:test';
import { blake3 } from '@napi-rs/blake-hash';
import { Chunker, cutPoint, cutRules, defaultChunkerParameters, type ChunkerParameters } from './chunker.js';

const mebibyte = 1024 * 1024;
const keyOne = Buffer.alloc(32, 1);
const keyTwo = Buffer.alloc(32, 2);
const smallParameters: ChunkerParameters = { sizeBytesMin: 64, sizeBytesAverage: 256, sizeBytesMax: 1024 };

function pseudoRandomBytes(seed: string, lengthBytes: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(lengthBytes));
}

/** Pushes `data` in pieces of `pieceBytes` (each a reused scratch buffer) and returns the chunks. */
function chunkInPieces(chunker: Chunker, data: Buffer, pieceBytes: number): Buffer[] {
  const scratch = Buffer.allocUnsafe(pieceBytes);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += pieceBytes) {
    const length = data.copy(scratch, 0, offset, offset + pieceBytes);
    chunks.push(...chunker.push(scratch.subarray(0, length)));
    scratch.fill(0xee);
  }
  const last = chunker.finish();
  if (last !== null) chunks.push(last);
  return chunks;
}

function lengthsOf(chunks: Buffer[]): number[] {
  return chunks.map((chunk) => chunk.length);
}

test('the same key cuts the same chunks whatever the piece sizes', () => {
  const data = pseudoRandomBytes('pieces', 24 * mebibyte);
  const whole = chunkInPieces(new Chunker(keyOne), data, data.length);
  assert.ok(whole.length >= 10, `only ${whole.length} chunks`);
  assert.deepEqual(Buffer.concat(whole), data);
  for (const pieceBytes of [7, mebibyte + 3]) {
    assert.deepEqual(lengthsOf(chunkInPieces(new Chunker(keyOne), data, pieceBytes)), lengthsOf(whole), `pieces of ${pieceBytes} bytes`);
  }
  const head = data.subarray(0, 6 * mebibyte);
  const headChunks = chunkInPieces(new Chunker(keyOne), head, 1);
  assert.deepEqual(lengthsOf(headChunks), lengthsOf(chunkInPieces(new Chunker(keyOne), head, head.length)));
  assert.deepEqual(Buffer.concat(headChunks), head);
});

test('piece sizes do not matter with small parameters either (many boundaries, odd offsets)', () => {
  const data = pseudoRandomBytes('small', 512 * 1024);
  const whole = lengthsOf(chunkInPieces(new Chunker(keyOne, smallParameters), data, data.length));
  assert.ok(whole.length > 1000);
  for (const pieceBytes of [1, 2, 3, 7, 1000, 4097]) {
    assert.deepEqual(lengthsOf(chunkInPieces(new Chunker(keyOne, smallParameters), data, pieceBytes)), whole, `pieces of ${pieceBytes} bytes`);
  }
  const rules = cutRules(keyOne, smallParameters);
  const state = { hash: 0, lengthBytes: 0 };
  const cuts: number[] = [];
  for (let start = 0, cut = 0; (cut = cutPoint(data, start, data.length, state, rules)) >= 0; start = cut) cuts.push(cut - start);
  assert.deepEqual(cuts, whole.slice(0, cuts.length));
});

test('another key cuts the same data elsewhere', () => {
  const data = pseudoRandomBytes('keys', 16 * mebibyte);
  const first = lengthsOf(chunkInPieces(new Chunker(keyOne), data, mebibyte));
  const second = lengthsOf(chunkInPieces(new Chunker(keyTwo), data, mebibyte));
  assert.notDeepEqual(first, second);
  const boundaries = (lengths: number[]): Set<number> => new Set(lengths.map((_, index) => lengths.slice(0, index + 1).reduce((sum, length) => sum + length, 0)));
  const shared = [...boundaries(first)].filter((boundary) => boundaries(second).has(boundary));
  assert.deepEqual(shared, [data.length], 'the keys share a boundary inside the data');
});

test('chunk sizes are within [min, max] but the last, and average about 1 MiB on 64 MiB', () => {
  // On random data the mean chunk is about 1.04 MiB (see chunker.ts) with a standard deviation
  // near 0.4 MiB, so the mean of ~62 chunks has a standard error near 0.05 MiB: [0.85, 1.25] MiB
  // is about four standard errors either side. The data is fixed, so the test is deterministic.
  const data = pseudoRandomBytes('average', 64 * mebibyte);
  const lengths = lengthsOf(chunkInPieces(new Chunker(keyOne), data, 4 * mebibyte));
  const { sizeBytesMin, sizeBytesMax } = defaultChunkerParameters;
  lengths.slice(0, -1).forEach((length, index) => assert.ok(length >= sizeBytesMin && length <= sizeBytesMax, `chunk ${index} is ${length} bytes`));
  assert.ok(lengths.at(-1)! <= sizeBytesMax);
  const mean = data.length / lengths.length;
  assert.ok(mean >= 0.85 * mebibyte && mean <= 1.25 * mebibyte, `mean chunk ${(mean / mebibyte).toFixed(3)} MiB`);
});

test('data without content (zeros) is still cut within [min, max]', () => {
  const lengths = lengthsOf(chunkInPieces(new Chunker(keyOne), Buffer.alloc(40 * mebibyte), mebibyte));
  for (const length of lengths.slice(0, -1)) assert.ok(length >= 512 * 1024 && length <= 8 * mebibyte, `${length} bytes`);
  assert.equal(lengths.reduce((sum, length) => sum + length, 0), 40 * mebibyte);
});

test('an insertion near the start changes only the first chunk or two', () => {
  const data = pseudoRandomBytes('insertion', 32 * mebibyte);
  const edited = Buffer.concat([data.subarray(0, 1000), Buffer.from('inserted bytes!'), data.subarray(1000)]);
  const names = (bytes: Buffer): string[] => chunkInPieces(new Chunker(keyOne), bytes, mebibyte).map((chunk) => blake3(chunk).toString('hex'));
  const before = names(data);
  const after = names(edited);
  const known = new Set(before);
  const changed = after.filter((name) => !known.has(name));
  assert.ok(changed.length >= 1 && changed.length <= 2, `${changed.length} of ${after.length} chunks changed`);
  assert.deepEqual(after.slice(changed.length), before.slice(before.length - (after.length - changed.length)));
});

test('every chunk owns its ArrayBuffer exactly and can be transferred', () => {
  const data = pseudoRandomBytes('ownership', 12 * mebibyte + 12345);
  const chunker = new Chunker(keyOne);
  const chunks = chunkInPieces(chunker, data, 100 * 1024 + 1);
  for (const chunk of chunks) {
    assert.ok(Buffer.isBuffer(chunk));
    assert.equal(chunk.byteOffset, 0);
    assert.equal(chunk.buffer.byteLength, chunk.length);
  }
  const copy = Buffer.from(chunks[0]!);
  const moved: unknown = structuredClone(chunks[0]!, { transfer: [chunks[0]!.buffer as ArrayBuffer] });
  assert.equal(chunks[0]!.length, 0, 'the transferred chunk is detached');
  assert.deepEqual(Buffer.from(moved as Uint8Array), copy);
});

test('a stream shorter than min is one chunk, an empty one none; finish() starts afresh', () => {
  const chunker = new Chunker(keyOne);
  const small = pseudoRandomBytes('small file', 100 * 1024);
  assert.deepEqual(chunker.push(small), []);
  const only = chunker.finish();
  assert.deepEqual(only, small);
  assert.equal(only?.buffer.byteLength, small.length);
  assert.equal(chunker.finish(), null);
  assert.deepEqual(chunker.push(Buffer.alloc(0)), []);
  assert.equal(chunker.finish(), null);
  const data = pseudoRandomBytes('reuse', 8 * mebibyte);
  assert.deepEqual(lengthsOf(chunkInPieces(chunker, data, mebibyte)), lengthsOf(chunkInPieces(new Chunker(keyOne), data, mebibyte)));
});
