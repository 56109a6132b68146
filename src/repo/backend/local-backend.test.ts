/**
 * LocalBackend's create-only save and its listing under removal: of many savers racing for one
 * name with different bytes exactly one succeeds and the file holds its bytes whole, the others
 * fail with EEXIST and leave no temporary file; a plain save still replaces. list() leaves out a
 * file removed while it runs instead of failing.
 *
 * How: real files in a temporary directory through the node Io, savers started together with
 * Promise.allSettled; the directory is read back with node:fs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isErrorCode } from '../../errors/holdfast-error.js';
import { BufferPool } from '../../io/buffer-pool.js';
import { createNodeIo } from '../../io/node/create-node-io.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';
import { LocalBackend } from './local-backend.js';

const savers = 16;

function backendIn(location: string): { backend: LocalBackend; pool: BufferPool } {
  const pool = new BufferPool({ bufferSizeBytes: 64 * 1024, bufferCountMax: 8 });
  return { backend: new LocalBackend(createNodeIo(), location, pool), pool };
}

test('save({ createOnly }) lets exactly one of many racing savers store a name; the others get EEXIST and leave nothing', async () => {
  using directory = temporaryDirectory();
  const { backend, pool } = backendIn(`${directory.path}/repository`);
  await backend.create();
  const contents = Array.from({ length: savers }, (_, index) => Buffer.from(`{"saver":${index}}\n`.padEnd(100_000 + index, ' ')));
  const results = await Promise.allSettled(contents.map((bytes) => backend.save('config', 'config', bytes, { createOnly: true })));
  const won = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
  assert.equal(won.length, 1, 'exactly one saver stored the name');
  for (const result of results) if (result.status === 'rejected') assert.ok(isErrorCode(result.reason, 'EEXIST'), String(result.reason));
  assert.ok(readFileSync(`${directory.path}/repository/config`).equals(contents[won[0]!]!), 'the file holds the winner\'s bytes, whole');
  assert.deepEqual(readdirSync(`${directory.path}/repository`).filter((name) => name.startsWith('.tmp-')), [], 'no temporary file is left');
  await backend.save('config', 'config', contents[0]!);
  assert.ok(readFileSync(`${directory.path}/repository/config`).equals(contents[0]!), 'a plain save replaces');
  assert.equal(pool.leasesOutstanding, 0);
});

test('list() leaves out a file removed while it runs', async () => {
  using directory = temporaryDirectory();
  const { backend } = backendIn(`${directory.path}/repository`);
  await backend.create();
  const names = Array.from({ length: 200 }, (_, index) => index.toString(16).padStart(64, '0'));
  for (const name of names) await backend.save('locks', name, Buffer.from(name));
  const [listed] = await Promise.all([backend.list('locks'), ...names.map((name) => backend.remove('locks', name))]);
  for (const file of listed) assert.equal(file.sizeBytes, 64);
  assert.deepEqual(await backend.list('locks'), []);
});
