/**
 * Io.lendDirectory() (rule H1 across threads): the path it lends leads to the directory the
 * handle holds, wherever that directory has been moved, and the handle cannot close while the
 * work runs: close() waits for it, so no other thread can be left with a number that another
 * open may reuse. Real directories; after every test no descriptor of this process is left open.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkNoDescriptorLeaks } from '../../test-support/system-tools.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';
import { createNodeIo } from './create-node-io.js';

const io = createNodeIo();
checkNoDescriptorLeaks();

test('lendDirectory() lends a path to the held directory, wherever it went, and close() waits for the work', async () => {
  using work = temporaryDirectory();
  const held = join(work.path, 'held');
  mkdirSync(held);
  writeFileSync(join(held, 'inside'), 'x');
  const handle = await io.openDirectory(held);
  renameSync(held, join(work.path, 'moved'));
  const events: string[] = [];
  const closing: Promise<void>[] = [];
  const listed = await io.lendDirectory(handle, async (path) => {
    closing.push(
      handle.close().then(() => {
        events.push('closed');
      }),
    );
    await sleep(50);
    events.push('work done');
    // Still the held directory (moved), and still open although close() was called.
    return readdirSync(path).map(String);
  });
  await Promise.all(closing);
  assert.deepEqual(listed, ['inside']);
  assert.deepEqual(events, ['work done', 'closed']);
  await assert.rejects(io.lendDirectory(handle, () => Promise.resolve(1)), { code: 'HOLDFAST_HANDLE_CLOSED' });
});
