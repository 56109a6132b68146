/**
 * BlobIndex: 200,000 random ids (from a seeded generator; the seed is printed) are each found
 * with their pack, offset, sizes and type, ids never added are not found, a duplicate add returns
 * false and changes nothing, reserve() makes room so that adds do not grow the arrays, and the
 * memory per blob after reserve(n) and n adds stays under 64 bytes (the figure is in a diagnostic).
 *
 * Also LocalBackend (src/repo/backend/local-backend.ts) on a real temporary directory: save then
 * load (whole and a range), list shows saved names and never a `.tmp-` file, a range past the
 * end is HOLDFAST_FORMAT_TRUNCATED, a missing file is ENOENT, saved files have mode 0600, and a
 * name that is not 64 hex characters is refused before any I/O. (It lives here because this
 * change may create only this test file; it belongs in backend/local-backend.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { Prng } from '../base/prng.js';
import { BufferPool } from '../io/buffer-pool.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { LocalBackend } from './backend/local-backend.js';
import { BlobIndex } from './blob-index.js';

const blobCount = 200_000;
const packCount = 300;
const seed = Number(process.env['HOLDFAST_TEST_SEED'] ?? 20_240_611);

function randomId(prng: Prng): Buffer {
  const id = Buffer.alloc(32);
  for (let word = 0; word < 8; word++) id.writeUInt32LE(prng.nextUint32(), word * 4);
  return id;
}

interface Added {
  id: Buffer;
  type: 'data' | 'tree';
  packId: Buffer;
  offsetBytes: number;
  storedBytes: number;
  rawBytes: number;
}

function randomBlobs(prng: Prng, count: number): Added[] {
  const packIds = Array.from({ length: packCount }, () => randomId(prng));
  return Array.from({ length: count }, () => ({
    id: randomId(prng),
    type: prng.nextUint32() % 5 === 0 ? 'tree' : 'data',
    packId: packIds[prng.nextUint32() % packCount]!,
    offsetBytes: prng.nextUint32(),
    storedBytes: prng.nextUint32(),
    rawBytes: prng.nextUint32(),
  }));
}

function addAll(index: BlobIndex, blobs: readonly Added[]): void {
  for (const blob of blobs) assert.equal(index.add(blob.type, blob.id, blob.packId, blob.offsetBytes, blob.storedBytes, blob.rawBytes), true);
}

test(`BlobIndex finds each of ${blobCount} random ids with its location, and no id it was not given (seed ${seed})`, (context) => {
  context.diagnostic(`seed ${seed} (HOLDFAST_TEST_SEED reproduces a failure)`);
  const prng = new Prng(seed);
  const blobs = randomBlobs(prng, blobCount);
  const index = new BlobIndex();
  addAll(index, blobs);
  assert.equal(index.count, blobCount);
  assert.equal(index.packCount, packCount);
  for (const blob of blobs) {
    const found = index.find(blob.id);
    assert.ok(found !== null, `id ${blob.id.toString('hex')} is found`);
    assert.deepEqual(found, { type: blob.type, packId: blob.packId, offsetBytes: blob.offsetBytes, storedBytes: blob.storedBytes, rawBytes: blob.rawBytes });
    assert.equal(index.has(blob.id), true);
  }
  for (let attempt = 0; attempt < blobCount; attempt++) {
    const absent = randomId(prng);
    assert.equal(index.find(absent), null);
    assert.equal(index.has(absent), false);
  }
  // An id that shares its first word (the hash slot) with a stored one but differs later.
  const twin = Buffer.from(blobs[0]!.id);
  twin[31]! ^= 1;
  assert.equal(index.has(twin), false);
});

test('BlobIndex.add() of an id it has returns false and changes nothing', () => {
  const prng = new Prng(seed + 1);
  const blobs = randomBlobs(prng, 1000);
  const index = new BlobIndex();
  addAll(index, blobs);
  const memoryBytes = index.memoryBytes;
  const packsBefore = index.packCount;
  const first = blobs[0]!;
  assert.equal(index.add('tree', Buffer.from(first.id), randomId(prng), 1, 2, 3), false);
  assert.equal(index.count, 1000);
  assert.equal(index.packCount, packsBefore, 'the new pack id was not recorded');
  assert.equal(index.memoryBytes, memoryBytes);
  assert.deepEqual(index.find(first.id), { type: first.type, packId: first.packId, offsetBytes: first.offsetBytes, storedBytes: first.storedBytes, rawBytes: first.rawBytes });
  assert.equal([...index.entries()].length, 1000);
});

test('BlobIndex.reserve(n) makes room for n blobs: n adds do not grow it, and each costs under 64 bytes', (context) => {
  const blobs = randomBlobs(new Prng(seed + 2), blobCount);
  const index = new BlobIndex();
  index.reserve(blobCount);
  const reservedBytes = index.memoryBytes;
  addAll(index, blobs);
  assert.equal(index.memoryBytes, reservedBytes, 'no growth after reserve()');
  const bytesPerBlob = index.memoryBytes / index.count;
  context.diagnostic(`${bytesPerBlob.toFixed(1)} bytes per blob (${index.memoryBytes} bytes for ${index.count} blobs)`);
  assert.ok(bytesPerBlob < 64, `${bytesPerBlob} bytes per blob`);
  for (const blob of blobs.slice(0, 1000)) assert.equal(index.find(blob.id)?.offsetBytes, blob.offsetBytes);
  // Without reserve(), the same adds double the arrays as they go: more memory in the end.
  const growing = new BlobIndex();
  addAll(growing, blobs);
  context.diagnostic(`without reserve(): ${(growing.memoryBytes / growing.count).toFixed(1)} bytes per blob`);
  assert.ok(growing.memoryBytes > reservedBytes);
});

function hexName(): string {
  return randomBytes(32).toString('hex');
}

function withBackend(run: (backend: LocalBackend, location: string, pool: BufferPool) => Promise<void>): () => Promise<void> {
  return async () => {
    using directory = temporaryDirectory();
    const location = `${directory.path}/repository`;
    // Small buffers, so that a save and a load each take several writes and reads.
    const pool = new BufferPool({ bufferSizeBytes: 4096, bufferCountMax: 2 });
    const backend = new LocalBackend(createNodeIo(), location, pool);
    await backend.create();
    await run(backend, location, pool);
    assert.equal(pool.leasesOutstanding, 0, 'every buffer lease is back');
  };
}

test(
  'LocalBackend saves files that load back whole and in ranges, with mode 0600',
  withBackend(async (backend, location) => {
    const bytes = randomBytes(10_000 + 123);
    const name = hexName();
    await backend.save('data', name, bytes);
    await backend.save('config', 'config', Buffer.from('{}\n'));
    const path = `${location}/data/${name.slice(0, 2)}/${name}`;
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${location}/config`).mode & 0o777, 0o600);
    const whole = await backend.load('data', name);
    assert.deepEqual(whole, bytes);
    assert.equal(whole.byteOffset, 0);
    assert.equal(whole.buffer.byteLength, whole.length, 'the buffer spans its own ArrayBuffer');
    assert.deepEqual(await backend.load('data', name, { offsetBytes: 4000, lengthBytes: 5000 }), bytes.subarray(4000, 9000));
    assert.deepEqual(await backend.load('data', name, { offsetBytes: bytes.length, lengthBytes: 0 }), Buffer.alloc(0));
    assert.deepEqual(await backend.stat('data', name), { name, sizeBytes: bytes.length });
    assert.deepEqual(await backend.load('config', 'config'), Buffer.from('{}\n'));
  }),
);

test(
  'LocalBackend.list() shows the saved names of a kind and never a temporary file',
  withBackend(async (backend, location) => {
    const dataNames = [hexName(), hexName(), hexName()];
    for (const name of dataNames) await backend.save('data', name, Buffer.from(name));
    const indexName = hexName();
    await backend.save('index', indexName, Buffer.from('index'));
    // What a crash between create and rename leaves behind.
    writeFileSync(`${location}/index/.tmp-${hexName()}-0123456789ab`, 'torn');
    writeFileSync(`${location}/data/${dataNames[0]!.slice(0, 2)}/.tmp-${hexName()}-0123456789ab`, 'torn');
    const listed = await backend.list('data');
    assert.deepEqual(listed.map((file) => file.name).sort(), [...dataNames].sort());
    for (const file of listed) assert.equal(file.sizeBytes, 64);
    assert.deepEqual(await backend.list('index'), [{ name: indexName, sizeBytes: 5 }]);
    assert.deepEqual(await backend.list('snapshots'), []);
    // A save leaves no temporary file of its own: only the stray one planted above is there.
    const temporary = readdirSync(`${location}/index`).filter((name) => name.startsWith('.tmp-'));
    assert.equal(temporary.length, 1);
    assert.match(temporary[0]!, /-0123456789ab$/);
  }),
);

test(
  'LocalBackend.load() of a range past the end is HOLDFAST_FORMAT_TRUNCATED, of a missing file ENOENT',
  withBackend(async (backend) => {
    const name = hexName();
    await backend.save('snapshots', name, Buffer.alloc(100, 7));
    await assert.rejects(backend.load('snapshots', name, { offsetBytes: 90, lengthBytes: 11 }), { code: 'HOLDFAST_FORMAT_TRUNCATED' });
    await assert.rejects(backend.load('snapshots', name, { offsetBytes: 101, lengthBytes: 0 }), { code: 'HOLDFAST_FORMAT_TRUNCATED' });
    await assert.rejects(backend.load('snapshots', hexName()), { code: 'ENOENT' });
    await assert.rejects(backend.stat('index', hexName()), { code: 'ENOENT' });
  }),
);

test(
  'LocalBackend refuses a name that is not 64 hex characters',
  withBackend(async (backend, location) => {
    const valid = hexName();
    for (const name of [valid.slice(1), `${valid}0`, valid.toUpperCase(), `../${valid.slice(3)}`, `${valid.slice(0, 63)}g`, '']) {
      await assert.rejects(backend.save('index', name, Buffer.from('x')), { code: 'HOLDFAST_USAGE' }, `save "${name}"`);
      await assert.rejects(backend.load('data', name), { code: 'HOLDFAST_USAGE' }, `load "${name}"`);
    }
    assert.deepEqual(readdirSync(`${location}/index`), []);
  }),
);
