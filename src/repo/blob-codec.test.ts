/**
 * Shows that a stored blob round-trips (random data stored as is, text compressed, the empty
 * blob), that any damage is HOLDFAST_INTEGRITY (a flipped bit anywhere: every byte of a small
 * blob, spread positions of a large one; a swapped blob id; a wrong recorded length; a blob a
 * buggy writer sealed under an id that is not its content's), that an unknown format byte is
 * HOLDFAST_FORMAT_VERSION, and that the codec runs inside a worker_thread on transferred buffers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { blobId } from './blob-id.js';
import { openBlob, sealBlob, sealBlobWithId } from './blob-codec.js';
import { encodeMasterKey, generateMasterKey } from './master-key.js';
import { sealPieces } from './seal.js';

const context = { operation: 'read blob', path: 'test blob' };
const master = generateMasterKey();
const text = Buffer.from('the same line of text, again and again\n'.repeat(30000));

function flipBit(bytes: Buffer, bit: number): Buffer {
  const damaged = Buffer.from(bytes);
  damaged[bit >> 3]! ^= 1 << (bit & 7);
  return damaged;
}

test('openBlob() returns what sealBlob() sealed: random stored, text compressed, empty', () => {
  const random = randomBytes(1024 * 1024);
  for (const [plaintext, compressed] of [[random, false], [text, true], [Buffer.alloc(0), false]] as const) {
    const sealed = sealBlob(master, plaintext);
    assert.equal(sealed.compressed, compressed);
    assert.equal(sealed.rawLengthBytes, plaintext.length);
    assert.deepEqual(sealed.id, blobId(master.idKey, plaintext));
    assert.equal(sealed.stored.byteOffset, 0);
    assert.equal(sealed.stored.buffer.byteLength, sealed.stored.length);
    const opened = openBlob(master, sealed.id, sealed.stored, sealed.rawLengthBytes, context);
    assert.deepEqual(opened, plaintext);
    assert.equal(opened.buffer.byteLength, opened.length, 'the plaintext shares its ArrayBuffer');
  }
  assert.ok(sealBlob(master, text).stored.length < text.length / 10);
});

test('openBlob() rejects a flipped bit anywhere in a stored blob with HOLDFAST_INTEGRITY', () => {
  for (const plaintext of [Buffer.from('small blob'), text]) {
    const sealed = sealBlob(master, plaintext);
    const bitCount = sealed.stored.length * 8;
    const step = bitCount <= 4096 ? 1 : Math.floor(bitCount / 2000);
    for (let bit = 0; bit < bitCount; bit += step) {
      assert.throws(
        () => openBlob(master, sealed.id, flipBit(sealed.stored, bit), sealed.rawLengthBytes, context),
        { code: 'HOLDFAST_INTEGRITY' },
        `bit ${bit} of ${bitCount} flipped went unnoticed`,
      );
    }
    assert.throws(() => openBlob(master, sealed.id, flipBit(sealed.stored, bitCount - 1), sealed.rawLengthBytes, context), { code: 'HOLDFAST_INTEGRITY' });
  }
});

test('openBlob() rejects a blob under another id, a wrong length, another key, truncation', () => {
  const first = sealBlob(master, Buffer.from('first'));
  const second = sealBlob(master, Buffer.from('other'));
  assert.throws(() => openBlob(master, second.id, first.stored, 5, context), { code: 'HOLDFAST_INTEGRITY' });
  assert.throws(() => openBlob(master, first.id, first.stored, 4, context), { code: 'HOLDFAST_INTEGRITY' });
  const compressed = sealBlob(master, text);
  assert.throws(() => openBlob(master, compressed.id, compressed.stored, text.length + 1, context), { code: 'HOLDFAST_INTEGRITY' });
  assert.throws(() => openBlob(generateMasterKey(), first.id, first.stored, 5, context), { code: 'HOLDFAST_INTEGRITY' });
  assert.throws(() => openBlob(master, first.id, first.stored.subarray(0, 28), 5, context), { code: 'HOLDFAST_INTEGRITY' });
  assert.throws(() => openBlob(master, first.id.subarray(1), first.stored, 5, context), { code: 'HOLDFAST_FORMAT_INVALID' });
});

test('openBlob() rejects a blob sealed under an id that is not its content', () => {
  const wrongId = blobId(master.idKey, Buffer.from('something else'));
  const sealed = sealBlobWithId(master, wrongId, Buffer.from('content'));
  assert.throws(() => openBlob(master, wrongId, sealed.stored, 7, context), {
    code: 'HOLDFAST_INTEGRITY',
    message: /does not hash to the blob id/,
  });
});

test('openBlob() rejects an unknown format byte with HOLDFAST_FORMAT_VERSION', () => {
  const plaintext = Buffer.from('from the future');
  const id = blobId(master.idKey, plaintext);
  const stored = sealPieces(master.encryptionKey, [Buffer.of(7), plaintext], id);
  assert.throws(() => openBlob(master, id, stored, plaintext.length, context), { code: 'HOLDFAST_FORMAT_VERSION' });
});

test('sealBlob() and openBlob() run inside a worker_thread on transferred buffers', async () => {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      (await import(workerData.tsx)).register();
      const { sealBlob, openBlob } = await import(workerData.codec);
      const { decodeMasterKey } = await import(workerData.masterKey);
      const keys = decodeMasterKey(workerData.encodedKey);
      const sealed = sealBlob(keys, Buffer.from(workerData.plaintext));
      const opened = openBlob(keys, sealed.id, sealed.stored, sealed.rawLengthBytes, { operation: 'read', path: 'worker' });
      parentPort.postMessage({ id: sealed.id, stored: sealed.stored, same: opened.equals(Buffer.from(workerData.plaintext)) }, [sealed.stored.buffer]);
    })().catch((error) => { throw error; });
  `;
  const plaintext = Buffer.from(text);
  const worker = new Worker(source, {
    eval: true,
    workerData: {
      tsx: import.meta.resolve('tsx/esm/api'),
      codec: new URL('./blob-codec.ts', import.meta.url).href,
      masterKey: new URL('./master-key.ts', import.meta.url).href,
      encodedKey: encodeMasterKey(master),
      plaintext: plaintext.buffer,
    },
    transferList: [plaintext.buffer],
  });
  const reply = await new Promise<{ id: Uint8Array; stored: Uint8Array; same: boolean }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(reply.same, true);
  assert.deepEqual(openBlob(master, reply.id, reply.stored, text.length, context), text);
});
