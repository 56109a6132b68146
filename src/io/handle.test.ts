/**
 * Shows rules H1 and H2 at the handle's edges: close() is idempotent and releases once, refuses
 * every kind of call afterwards, and a borrowed handle never closes the descriptor it borrowed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createNodeIo } from './node/create-node-io.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';

const io = createNodeIo();

test('close() returns the same promise every time and refuses every later call with HOLDFAST_HANDLE_CLOSED', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  fs.writeFileSync(path, 'x');
  const handle = await io.openFile(path, { access: 'read-write' });
  const first = handle.close();
  assert.equal(handle.close(), first);
  assert.equal(handle.isClosed, true);
  await first;
  await assert.rejects(io.stat(handle), { code: 'HOLDFAST_HANDLE_CLOSED' });
  await assert.rejects(io.sync(handle), { code: 'HOLDFAST_HANDLE_CLOSED' });
  await assert.rejects(io.getXattr(handle, 'user.x'), { code: 'HOLDFAST_HANDLE_CLOSED' });
  await assert.rejects(io.seekData(handle, 0), { code: 'HOLDFAST_HANDLE_CLOSED', message: /Cannot seek data in ".*file": the handle is closed/ });
});

test('close() waits for a call in flight before it releases the descriptor', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  fs.writeFileSync(path, 'x');
  const handle = await io.openFile(path);
  const stat = io.stat(handle);
  const closing = handle.close();
  assert.equal(handle.referenceCount, 1);
  const [result] = await Promise.all([stat, closing]);
  assert.equal(result.sizeBytes, 1);
  assert.equal(handle.referenceCount, 0);
});

test('a borrowed handle detaches on close and leaves the descriptor open', async () => {
  const stderr = await io.standardStream('stderr');
  assert.equal(stderr.ownership, 'borrowed');
  await stderr.close();
  assert.doesNotThrow(() => fs.fstatSync(2), 'closing a borrowed handle closed the descriptor');
});

test('a handle offers its user no fd number: no fd property, no method that returns one', async () => {
  const handle = await io.standardStream('stdin');
  const own = Object.entries(handle).map(([name, value]) => `${name}:${typeof value}`);
  assert.deepEqual(own.sort(), ['kind:string', 'modes:object', 'openedStat:object', 'ownership:string', 'path:string']);
  const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(handle)).sort();
  assert.deepEqual(methods, ['close', 'constructor', 'isClosed', 'referenceCount', 'setFinalFlush']);
  await handle.close();
});
