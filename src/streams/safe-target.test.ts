/**
 * SafeTarget holds directory handles from the target down (rule D4): it keeps no more than
 * directoryHandlesMax of them however many directories a restore touches, closes them all at
 * close(), refuses a parent that was swapped for a symlink after it was first reached (without
 * following it), and keeps writing into a held directory that was renamed within the target.
 *
 * How: real directories in a temporary directory, the real Io; effects checked with plain
 * node:fs. After every test no file descriptor of this process is left open (/proc/self/fd).
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createNodeIo } from '../io/node/create-node-io.js';
import { checkNoDescriptorLeaks } from '../test-support/system-tools.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { SafeTarget, safeTargetLimits, type PlacedPath } from './safe-target.js';

const io = createNodeIo();
checkNoDescriptorLeaks();

function placeIn(safe: SafeTarget, name: string): PlacedPath {
  const placed = safe.place(Buffer.from(name));
  assert.ok(placed !== null);
  return placed;
}

test('SafeTarget holds at most directoryHandlesMax directory handles over many directories, and close() closes them all', async () => {
  using directory = temporaryDirectory();
  const safe = new SafeTarget(io, Buffer.from(directory.path));
  const directoryCount = safeTargetLimits.directoryHandlesMax * 3;
  let handlesOpenMax = 0;
  for (let index = 0; index < directoryCount; index++) {
    const placed = placeIn(safe, `top${index % 3}/sub${index}/file`);
    await safe.withParent(placed, true, async (parent) => {
      await io.makeDirectoryAt(parent, placed.name);
    });
    handlesOpenMax = Math.max(handlesOpenMax, safe.handlesOpen);
  }
  assert.ok(handlesOpenMax <= safeTargetLimits.directoryHandlesMax + 1, `${handlesOpenMax} handles were open at once`);
  assert.equal((await readdir(join(directory.path, 'top0'))).length, directoryCount / 3);
  await safe.close();
  assert.equal(safe.handlesOpen, 0);
});

test('SafeTarget refuses a parent swapped for a symlink after it was first reached, and never follows it', async () => {
  using directory = temporaryDirectory();
  const target = join(directory.path, 'target');
  const outside = join(directory.path, 'outside');
  await mkdir(join(outside, 'b'), { recursive: true });
  await mkdir(target);
  const safe = new SafeTarget(io, Buffer.from(target));
  try {
    const first = placeIn(safe, 'a/b/one');
    await safe.withParent(first, true, (parent) => io.makeDirectoryAt(parent, first.name));
    // What the attacker does: the held a/b is moved aside and a symlink to the outside takes its name.
    await rename(join(target, 'a'), join(target, 'a-moved'));
    await symlink(outside, join(target, 'a'));
    // a/b is still held: the new entry lands in the real directory, now a-moved/b.
    const second = placeIn(safe, 'a/b/two');
    await safe.withParent(second, true, (parent) => io.makeDirectoryAt(parent, second.name));
    assert.deepEqual((await readdir(join(target, 'a-moved', 'b'))).sort(), ['one', 'two']);
    // A name not held yet is opened from the target: the symlink is refused, not followed.
    await safe.forget('a');
    const third = placeIn(safe, 'a/b/three');
    await assert.rejects(
      safe.withParent(third, true, (parent) => io.makeDirectoryAt(parent, third.name)),
      (error: Error & { code?: string }) => error.code === 'HOLDFAST_UNSAFE_PATH' && error.message.includes('its parent "a" is a symlink, not a directory, and is never followed'),
    );
    assert.equal(await safe.withDirectory(placeIn(safe, 'a/b'), () => Promise.resolve()), false, 'withDirectory says a swapped directory is gone');
    assert.deepEqual(await readdir(join(outside, 'b')), []);
  } finally {
    await safe.close();
  }
});
