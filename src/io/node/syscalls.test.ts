/**
 * The system calls Node lacks (SEEK_DATA/SEEK_HOLE, fallocate, FICLONE, FIFREEZE/FITHAW; xattrs
 * are in xattr.test.ts) do what they claim on real file systems, and their failures carry the
 * errno name as `code`, the operation and the path.
 *
 * How: every effect holdfast has is checked with a tool that does not share its code (getfattr
 * and setfattr from attr, filefrag, stat, cmp, fsfreeze), or by reading the bytes back through
 * plain node:fs; expected values come from what the test itself wrote. Plain file tests run in a
 * temporary directory (ext4 on the test machines); tests that need one file system type mount a
 * loop image of it and need root. After every test no file descriptor of this process is left
 * open (checked against /proc/self/fd).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireRoot, requireTools } from '../../test-support/requirements.js';
import { mountLoopFilesystem } from '../../test-support/loop-filesystem.js';
import { assertFailure, checkNoDescriptorLeaks, filefragExtents, mergeRanges, runTool, runToolOrFail, statField, writeDurably, type FilefragExtent } from '../../test-support/system-tools.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';
import type { Handle } from '../handle.js';
import type { Io } from '../io.js';
import { createNodeIo } from './create-node-io.js';

const io: Io = createNodeIo();
const mebibyte = 1024 * 1024;
const statBlockBytes = 512;
/** More extents than any test file has: a seek walk that does not advance fails instead of spinning. */
const seekStepsMax = 1000;
checkNoDescriptorLeaks();

/** The data ranges [start, end) of a file, walked with holdfast's seekData/seekHole. */
async function dataRangesBySeeking(handle: Handle<'file'>): Promise<Array<[number, number]>> {
  const ranges: Array<[number, number]> = [];
  let offset = 0;
  for (let step = 0; step < seekStepsMax; step++) {
    const dataStart = await io.seekData(handle, offset);
    if (dataStart === null) return ranges;
    const holeStart = await io.seekHole(handle, dataStart);
    assert.ok(holeStart !== null && holeStart > dataStart, `seekHole(${dataStart}) gave ${holeStart} after data`);
    ranges.push([dataStart, holeStart]);
    offset = holeStart;
  }
  assert.fail(`more than ${seekStepsMax} extents: the walk does not advance`);
}

// ---------------------------------------------------------------------------------------------
// Sparse files: SEEK_DATA / SEEK_HOLE

const sparseSizeBytes = 64 * mebibyte;
const sparseDataOffsets = [3 * mebibyte, 17 * mebibyte, 42 * mebibyte];

/** A 64 MiB file with 1 MiB of random data at each of sparseDataOffsets; the rest is holes. */
async function makeSparseFile(path: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.truncate(sparseSizeBytes);
    for (const offset of sparseDataOffsets) await file.write(randomBytes(mebibyte), 0, mebibyte, offset);
    await file.sync();
  } finally {
    await file.close();
  }
}

test('seekData() and seekHole() find exactly the data extents of a sparse file, as filefrag sees them', async (t) => {
  if (!requireTools(t, 'filefrag')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'sparse');
  await makeSparseFile(path);
  await using file = await io.openFile(path);

  const walked = await dataRangesBySeeking(file);

  const written = sparseDataOffsets.map((offset): [number, number] => [offset, offset + mebibyte]);
  assert.deepEqual(walked, written);
  const mapped = mergeRanges((await filefragExtents(path)).map((extent): [number, number] => [extent.logicalStart, extent.logicalEnd]));
  assert.deepEqual(walked, mapped, 'filefrag (FIEMAP) sees the same data ranges');
  assert.equal(await statField(path, '%s'), sparseSizeBytes);
});

test('seekData() past the last data returns null instead of throwing', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'sparse');
  await makeSparseFile(path);
  await using file = await io.openFile(path);
  const lastDataEnd = Math.max(...sparseDataOffsets) + mebibyte;

  assert.equal(await io.seekData(file, lastDataEnd - 1), lastDataEnd - 1, 'control: the last byte of data is data');
  assert.equal(await io.seekData(file, lastDataEnd), null, 'in the trailing hole');
  assert.equal(await io.seekData(file, sparseSizeBytes + mebibyte), null, 'beyond the end of the file');
  assert.equal(await io.seekHole(file, lastDataEnd), lastDataEnd, 'the trailing hole starts where the data ends');
});

// ---------------------------------------------------------------------------------------------
// fallocate

test("allocate('punch-hole') frees the range's blocks and reads back zeros without changing the size", async (t) => {
  if (!requireTools(t, 'stat')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'written');
  const content = randomBytes(8 * mebibyte);
  await writeDurably(path, content);
  const blocksBefore = await statField(path, '%b');
  const holeStart = 2 * mebibyte;
  const holeLength = 3 * mebibyte;

  {
    await using file = await io.openFile(path, { access: 'read-write' });
    await io.allocate(file, 'punch-hole', holeStart, holeLength);
    assert.equal(await io.seekHole(file, 0), holeStart, 'the first hole starts where the punch did');
    assert.equal(await io.seekData(file, holeStart), holeStart + holeLength, 'data resumes after the punched range');
  }

  assert.equal(await statField(path, '%s'), content.length, 'the size is unchanged');
  const blocksAfter = await statField(path, '%b');
  assert.ok(blocksAfter <= blocksBefore - holeLength / statBlockBytes, `blocks went from ${blocksBefore} to ${blocksAfter}`);
  const expected = Buffer.from(content);
  expected.fill(0, holeStart, holeStart + holeLength);
  assert.ok((await readFile(path)).equals(expected), 'the punched range reads as zeros, the rest is unchanged');
});

test("allocate('keep-size') reserves blocks beyond the end without changing the size", async (t) => {
  if (!requireTools(t, 'stat')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'preallocated');
  await writeDurably(path, Buffer.from('small'));
  const blocksBefore = await statField(path, '%b');
  const reservedBytes = 4 * mebibyte;

  {
    await using file = await io.openFile(path, { access: 'read-write' });
    await io.allocate(file, 'keep-size', 0, reservedBytes);
  }

  assert.equal(await statField(path, '%s'), 'small'.length, 'the size is unchanged');
  const blocksAfter = await statField(path, '%b');
  assert.ok(blocksAfter >= blocksBefore + (reservedBytes - 4096) / statBlockBytes, `blocks went from ${blocksBefore} to ${blocksAfter}`);
  assert.equal(await readFile(path, 'utf8'), 'small');
});

test('allocate() on a read-only handle fails with HOLDFAST_NOT_WRITABLE before any I/O', async (t) => {
  if (!requireTools(t, 'stat')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'written');
  const content = randomBytes(2 * mebibyte);
  await writeDurably(path, content);
  const blocksBefore = await statField(path, '%b');
  await using file = await io.openFile(path, { access: 'read' });

  // The kernel would answer EBADF; HOLDFAST_NOT_WRITABLE shows holdfast refused before asking it.
  await assert.rejects(io.allocate(file, 'punch-hole', 0, mebibyte), (error) =>
    assertFailure(error, { code: 'HOLDFAST_NOT_WRITABLE', path, operation: /allocate/ }),
  );
  assert.equal(await statField(path, '%b'), blocksBefore);
  assert.ok((await readFile(path)).equals(content));
});

// ---------------------------------------------------------------------------------------------
// FICLONE

test('cloneFile() on ext4, which cannot share extents, fails with ENOTSUP naming the target', async (t) => {
  // A loop-mounted ext4 rather than the temporary directory, so the file system type is certain.
  if (!requireRoot(t) || !requireTools(t, 'mkfs.ext4', 'mount', 'umount')) return;
  await using filesystem = await mountLoopFilesystem('ext4', 16);
  const sourcePath = join(filesystem.mountPoint, 'source');
  const targetPath = join(filesystem.mountPoint, 'target');
  await writeDurably(sourcePath, randomBytes(mebibyte));
  await using source = await io.openFile(sourcePath);
  await using target = await io.openFile(targetPath, { access: 'write', create: true });

  // errno 95: Linux's EOPNOTSUPP and ENOTSUP are one number, which Node (libuv) names ENOTSUP.
  await assert.rejects(io.cloneFile(target, source), (error) => {
    assertFailure(error, { code: 'ENOTSUP', path: targetPath, operation: /clone/ });
    assert.equal((error as { errno?: unknown }).errno, constants.errno.EOPNOTSUPP);
    return true;
  });
  assert.equal(await statField(targetPath, '%s'), 0, 'the target stays empty');
});

for (const type of ['btrfs', 'xfs'] as const) {
  test(`cloneFile() on ${type} makes an equal file that shares the source's extents instead of copying`, async (t) => {
    if (!requireRoot(t) || !requireTools(t, `mkfs.${type}`, 'mount', 'umount', 'filefrag', 'cmp')) return;
    await using filesystem = await mountLoopFilesystem(type, type === 'xfs' ? 300 : 128);
    const sourcePath = join(filesystem.mountPoint, 'source');
    const clonePath = join(filesystem.mountPoint, 'clone');
    const copyPath = join(filesystem.mountPoint, 'copy');
    const content = randomBytes(4 * mebibyte);
    await writeDurably(sourcePath, content);
    // Written byte by byte (not fs.copyFile: copy_file_range may itself clone on these).
    await writeDurably(copyPath, content);

    {
      await using source = await io.openFile(sourcePath);
      await using clone = await io.openFile(clonePath, { access: 'write', create: true });
      await io.cloneFile(clone, source);
    }

    assert.equal((await runTool('cmp', [sourcePath, clonePath])).exitCode, 0, 'cmp finds the clone equal to the source');
    // Sharing is read from FIEMAP (filefrag): the clone's extents carry the "shared" flag and sit
    // at the source's physical offsets. That is exact right after the clone, where free space
    // (df) would need a commit first and changes with metadata too. The plain copy is the
    // control: equal bytes, but nothing shared.
    const cloneExtents = await filefragExtents(clonePath);
    const sourceExtents = await filefragExtents(sourcePath);
    assert.ok(cloneExtents.length > 0, 'filefrag lists the clone extents');
    for (const extent of cloneExtents) assert.ok(extent.flags.includes('shared'), `clone extent ${JSON.stringify(extent)} is shared`);
    const physical = (extents: FilefragExtent[]): number[][] => extents.map((extent) => [extent.logicalStart, extent.logicalEnd, extent.physicalStart]);
    assert.deepEqual(physical(cloneExtents), physical(sourceExtents), 'the clone uses the source blocks');
    for (const extent of await filefragExtents(copyPath)) assert.equal(extent.flags.includes('shared'), false, 'control: a plain copy shares nothing');
  });
}

// ---------------------------------------------------------------------------------------------
// FIFREEZE / FITHAW

test('freeze() and thaw() freeze and thaw the file system, as fsfreeze sees it', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'fsfreeze', 'mkfs.ext4', 'mount', 'umount')) return;
  await using filesystem = await mountLoopFilesystem('ext4', 16);
  const mountPoint = filesystem.mountPoint;
  await using directory = await io.openDirectory(mountPoint);

  await io.freeze(directory);
  try {
    const freezeAgain = await runTool('fsfreeze', ['--freeze', mountPoint]);
    assert.notEqual(freezeAgain.exitCode, 0, 'fsfreeze --freeze fails: holdfast already froze it');
    assert.match(freezeAgain.stderr, /busy/i, 'and fails with EBUSY');
  } finally {
    // A failing assertion must never leave the file system frozen.
    await io.thaw(directory);
  }
  const thawAgain = await runTool('fsfreeze', ['--unfreeze', mountPoint]);
  assert.notEqual(thawAgain.exitCode, 0, 'fsfreeze --unfreeze fails: holdfast already thawed it');
  assert.match(thawAgain.stderr, /invalid argument/i, 'and fails with EINVAL');
  // Control: fsfreeze itself works on this mount point once holdfast is done.
  await runToolOrFail('fsfreeze', ['--freeze', mountPoint]);
  await runToolOrFail('fsfreeze', ['--unfreeze', mountPoint]);
});

test('freeze() of a frozen file system fails with EBUSY and thaw() of a thawed one with EINVAL, naming the mount point', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'fsfreeze', 'mkfs.ext4', 'mount', 'umount')) return;
  await using filesystem = await mountLoopFilesystem('ext4', 16);
  const mountPoint = filesystem.mountPoint;
  await using directory = await io.openDirectory(mountPoint);

  await assert.rejects(io.thaw(directory), (error) => assertFailure(error, { code: 'EINVAL', path: mountPoint, operation: /thaw/ }));
  await runToolOrFail('fsfreeze', ['--freeze', mountPoint]);
  try {
    await assert.rejects(io.freeze(directory), (error) => assertFailure(error, { code: 'EBUSY', path: mountPoint, operation: /freeze/ }));
  } finally {
    await runTool('fsfreeze', ['--unfreeze', mountPoint]);
  }
});

test('freeze() of a file handle is a type error and fails with HOLDFAST_HANDLE_KIND before any ioctl', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  await writeFile(path, 'content');
  await using file = await io.openFile(path);

  // @ts-expect-error a file handle is not a mount point's directory handle
  const freezing = io.freeze(file);
  await assert.rejects(freezing, (error) => assertFailure(error, { code: 'HOLDFAST_HANDLE_KIND', path, operation: /freeze/ }));
});

// ---------------------------------------------------------------------------------------------
// fsync of a directory

test('sync() of a directory handle succeeds, so a new entry can be made durable', async () => {
  using directory = temporaryDirectory();
  const subdirectory = join(directory.path, 'entries');
  await mkdir(subdirectory);
  await writeFile(join(subdirectory, 'new-entry'), 'content');
  await using folder = await io.openDirectory(subdirectory);
  assert.equal(folder.kind, 'directory');

  await io.sync(folder);
  await io.sync(folder, { dataOnly: true });
});

