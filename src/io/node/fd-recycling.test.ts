/**
 * Shows rule H1 on the real machine: operations queued on a handle behind a busy thread pool,
 * then close(), then other files opened, never read another file's bytes or write into another
 * file. The first test does the same with raw fs.read/fs.write on a number and shows that it
 * does go wrong, so the scenario is known to bite.
 *
 * How: libuv's pool is filled with opens of writer-less FIFOs; reads and writes queue behind
 * them; the handle is closed; other files are opened with openSync (which does not need the pool)
 * and get the lowest free fd numbers; then the pool is released.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BufferPool } from '../buffer-pool.js';
import { createNodeIo } from './create-node-io.js';
import { acquireHandle } from '../handle.js';
import type { IoResult } from '../operation.js';
import { blockThreadPool } from '../../test-support/thread-pool-blocker.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';

const blockSizeBytes = 4096;
const blockCount = 8;

function makeFiles(directory: string): { victim: string; others: string[] } {
  const victim = join(directory, 'victim');
  fs.writeFileSync(victim, Buffer.alloc(blockSizeBytes * blockCount * 2, 'A'));
  const others = Array.from({ length: 3 }, (_, index) => join(directory, `other-${index}`));
  for (const path of others) fs.writeFileSync(path, Buffer.alloc(blockSizeBytes * blockCount * 2, 'B'));
  return { victim, others };
}

/** A test that leaves the pool blocked would hang every later test: fail it instead. */
const blockedPoolTimeout = { timeout: 60_000 };

test('raw fs.read and fs.write queued before closeSync reach the file that gets the recycled fd', blockedPoolTimeout, async () => {
  using directory = temporaryDirectory();
  const { victim, others } = makeFiles(directory.path);
  const fd = fs.openSync(victim, 'r+');
  const blocker = blockThreadPool(directory.path);
  const reads = Array.from({ length: blockCount }, (_, index) => {
    const buffer = Buffer.alloc(blockSizeBytes);
    return new Promise<Buffer>((resolve) => {
      fs.read(fd, buffer, 0, blockSizeBytes, index * blockSizeBytes, () => resolve(buffer));
    });
  });
  const write = new Promise<void>((resolve) => {
    fs.write(fd, Buffer.alloc(blockSizeBytes, 'W'), 0, blockSizeBytes, blockSizeBytes * blockCount, () => resolve());
  });
  fs.closeSync(fd);
  const reopened = others.map((path) => fs.openSync(path, 'r+'));
  assert.ok(reopened.includes(fd), 'another file received the closed fd number');
  await blocker.release();
  const buffers = await Promise.all(reads);
  await write;
  for (const other of reopened) fs.closeSync(other);

  const foreign = buffers.filter((buffer) => buffer.includes('B'));
  assert.ok(foreign.length > 0, "no raw read returned the other file's bytes: the scenario did not bite");
  const damaged = others.filter((path) => fs.readFileSync(path).includes('W'));
  assert.equal(damaged.length, 1, 'the raw write did not land in the file that got the recycled fd');
});

test('fd recycling: operations queued on a handle before close() never touch a file opened afterwards', blockedPoolTimeout, async () => {
  using directory = temporaryDirectory();
  const { victim, others } = makeFiles(directory.path);
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: blockSizeBytes, bufferCountMax: blockCount + 2 });
  const handle = await io.openFile(victim, { access: 'read-write' });
  const reference = acquireHandle(handle, 'look at the fd number');
  const victimFd = reference.descriptor.fd;
  reference.release();

  const blocker = blockThreadPool(directory.path);
  let reopened: number[] = [];
  try {
    const reads = await Promise.all(
      Array.from({ length: blockCount }, async (_, index) => io.read(handle, await pool.acquire(), { position: index * blockSizeBytes })),
    );
    const writeLease = await pool.acquire();
    writeLease.bytes.fill('W');
    const write = io.write(handle, writeLease, { position: blockSizeBytes * blockCount, lengthBytes: blockSizeBytes });

    const closing = handle.close();
    const refused = await pool.acquire();
    assert.throws(() => io.read(handle, refused), { code: 'HOLDFAST_HANDLE_CLOSED' });
    assert.equal(refused.state, 'held', 'a refused operation took the lease');
    refused.release();

    reopened = others.map((path) => fs.openSync(path, 'r+'));
    assert.ok(!reopened.includes(victimFd), 'the fd was released while operations were still queued on it');

    await blocker.release();
    const results: IoResult[] = await Promise.all(reads.map((operation) => operation.result));
    for (const result of results) {
      assert.equal(result.status, 'completed');
      assert.ok(result.lease.bytes.every((byte) => byte === 'A'.charCodeAt(0)), "a read returned another file's bytes");
      result.lease.release();
    }
    const written = await write.result;
    assert.equal(written.status, 'completed');
    written.lease.release();
    await closing;
  } finally {
    await blocker.release();
    for (const fd of reopened) fs.closeSync(fd);
  }

  const next = fs.openSync(others[0] ?? '', 'r');
  fs.closeSync(next);
  assert.equal(next, victimFd, 'after close() the fd number is free again, as POSIX reuses it');
  for (const path of others) assert.ok(!fs.readFileSync(path).includes('W'), 'a write reached another file');
  assert.ok(fs.readFileSync(victim).subarray(blockSizeBytes * blockCount, blockSizeBytes * (blockCount + 1)).every((byte) => byte === 'W'.charCodeAt(0)), 'the queued write did not reach its own file');
  assert.equal(pool.leasesOutstanding, 0);
});
