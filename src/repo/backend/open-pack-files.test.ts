/**
 * Pack files kept open between ranged reads: every read gives the bytes of its range; at most
 * openMax files stay open however many packs are read, many at once; a file being read is never
 * closed under its reader; a missing pack is ENOENT and is tried again once it exists; a range
 * past the end is HOLDFAST_FORMAT_TRUNCATED; close() leaves no descriptor open.
 *
 * How: real files through the node Io (a LocalBackend with packFilesOpenMax), descriptors counted
 * in /proc/self/fd by what they point to.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { isErrorCode } from '../../errors/holdfast-error.js';
import { BufferPool } from '../../io/buffer-pool.js';
import { createNodeIo } from '../../io/node/create-node-io.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';
import { LocalBackend } from './local-backend.js';

const openMax = 4;
const packs = 12;

function descriptorsUnder(path: string): number {
  let count = 0;
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith(path)) count++;
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return count;
}

test('ranged pack reads keep at most openMax files open, read the right bytes, and close() closes them all', async () => {
  using directory = temporaryDirectory();
  const location = `${directory.path}/repository`;
  const pool = new BufferPool({ bufferSizeBytes: 64 * 1024, bufferCountMax: 8 });
  const backend = new LocalBackend(createNodeIo(), location, pool, { packFilesOpenMax: openMax });
  const names = Array.from({ length: packs }, (_, index) => index.toString(16).padStart(2, '0').repeat(32));
  const contents = names.map((_, index) => Buffer.alloc(10_000, index));
  names.forEach((name, index) => {
    mkdirSync(`${location}/data/${name.slice(0, 2)}`, { recursive: true });
    writeFileSync(`${location}/data/${name.slice(0, 2)}/${name}`, contents[index]!);
  });
  let mostOpen = 0;
  for (let round = 0; round < 3; round++) {
    const reads = names.flatMap((name, index) => [0, 4_000, 9_000].map(async (offsetBytes) => {
      const bytes = await backend.load('data', name, { offsetBytes, lengthBytes: 1_000 });
      mostOpen = Math.max(mostOpen, descriptorsUnder(location));
      assert.ok(bytes.equals(contents[index]!.subarray(offsetBytes, offsetBytes + 1_000)), `pack ${index} at ${offsetBytes}`);
    }));
    await Promise.all(reads);
    assert.ok(descriptorsUnder(location) <= openMax, `${descriptorsUnder(location)} pack files open after the reads, at most ${openMax}`);
  }
  assert.ok(mostOpen <= packs, `${mostOpen} open at most`);

  const missing = 'ff'.repeat(32);
  await assert.rejects(backend.load('data', missing, { offsetBytes: 0, lengthBytes: 1 }), (error) => isErrorCode(error, 'ENOENT'));
  mkdirSync(`${location}/data/ff`, { recursive: true });
  writeFileSync(`${location}/data/ff/${missing}`, Buffer.from('now here'));
  assert.equal((await backend.load('data', missing, { offsetBytes: 4, lengthBytes: 4 })).toString(), 'here', 'a pack that was missing is opened again');
  await assert.rejects(backend.load('data', names[0]!, { offsetBytes: 9_999, lengthBytes: 2 }), (error) => isErrorCode(error, 'HOLDFAST_FORMAT_TRUNCATED'));

  await backend.close();
  assert.equal(descriptorsUnder(location), 0, 'close() leaves no pack file open');
  assert.equal(pool.leasesOutstanding, 0);
});
