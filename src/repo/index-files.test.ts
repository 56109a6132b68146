/**
 * forEachIndexFile() hands index files over in listed order, one at a time, with a bounded number
 * (and bytes) of files read ahead, and leaves no read pending when the consumer throws.
 *
 * How: real files in a LocalBackend on a temporary directory; a delegating Backend counts the
 * loads in flight at every moment. The byte bound is exercised by listing the same small files
 * with large sizes (the bound is taken from the listing, as for a real repository).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { BufferPool } from '../io/buffer-pool.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import type { Backend, StoredFile } from './backend/backend.js';
import { LocalBackend } from './backend/local-backend.js';
import { storageName } from './blob-id.js';
import { estimateIndexedBlobs, forEachIndexFile, indexFilesAheadMax } from './index-files.js';

async function withIndexFiles(count: number, body: (backend: Backend, files: StoredFile[], inFlight: () => { now: number; max: number }) => Promise<void>): Promise<void> {
  using directory = temporaryDirectory();
  const pool = new BufferPool({ bufferSizeBytes: 64 * 1024, bufferCountMax: 16, label: 'index-files test' });
  const local = new LocalBackend(createNodeIo(), `${directory.path}/repository`, pool);
  await local.create();
  const files: StoredFile[] = [];
  for (let index = 0; index < count; index++) {
    const bytes = randomBytes(1000 + index);
    const name = storageName(bytes);
    await local.save('index', name, bytes);
    files.push({ name, sizeBytes: bytes.length });
  }
  let now = 0;
  let max = 0;
  const load: Backend['load'] = async (kind, name, range) => {
    now++;
    max = Math.max(max, now);
    try {
      return await local.load(kind, name, range);
    } finally {
      now--;
    }
  };
  // Every other method is the real backend's, bound to it (it keeps #private state).
  const counting = new Proxy(local, {
    get: (target, key) => {
      if (key === 'load') return load;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as Backend;
  await body(counting, files, () => ({ now, max }));
}

test('forEachIndexFile() consumes every file in listed order with at most 4 read ahead', async () => {
  await withIndexFiles(12, async (backend, files, inFlight) => {
    const consumed: string[] = [];
    await forEachIndexFile(backend, files, async (read) => {
      assert.ok(!('error' in read));
      assert.equal(storageName(read.sealed), read.file.name);
      consumed.push(read.file.name);
      // Let the reads ahead run while this file is "decoded".
      await new Promise((resolve) => setImmediate(resolve));
    });
    assert.deepEqual(consumed, files.map((file) => file.name));
    assert.ok(inFlight().max >= 2 && inFlight().max <= indexFilesAheadMax + 1, `max ${inFlight().max} loads at once`);
  });
});

test('forEachIndexFile() reads one large file ahead at most, whatever the count allows', async () => {
  await withIndexFiles(6, async (backend, files, inFlight) => {
    const large = files.map((file) => ({ ...file, sizeBytes: 40 * 1024 * 1024 }));
    let consumed = 0;
    await forEachIndexFile(backend, large, async () => {
      consumed++;
      await new Promise((resolve) => setImmediate(resolve));
    });
    assert.equal(consumed, 6);
    assert.equal(inFlight().max, 1);
  });
});

test('forEachIndexFile() reports a missing file to the consumer and leaves nothing pending when it throws', async () => {
  await withIndexFiles(8, async (backend, files, inFlight) => {
    const listed = [...files.slice(0, 2), { name: 'f'.repeat(64), sizeBytes: 10 }, ...files.slice(2)];
    const seen: string[] = [];
    await assert.rejects(
      forEachIndexFile(backend, listed, (read) => {
        seen.push('error' in read ? `error ${(read.error as NodeJS.ErrnoException).code}` : 'ok');
        if ('error' in read) throw read.error;
      }),
      { code: 'ENOENT' },
    );
    assert.deepEqual(seen, ['ok', 'ok', 'error ENOENT']);
    assert.equal(inFlight().now, 0);
  });
});

test('estimateIndexedBlobs() is an upper bound from sizes: 45 bytes a blob at least', () => {
  assert.equal(estimateIndexedBlobs([]), 0);
  assert.equal(estimateIndexedBlobs([{ name: 'a', sizeBytes: 45 * 100_000 + 77 }, { name: 'b', sizeBytes: 44 }]), 100_001);
});
