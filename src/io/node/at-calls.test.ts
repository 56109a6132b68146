/**
 * The *at calls (rule D4) reach names through a held directory handle, never through a path
 * string: a directory renamed after it was opened still gets what is created through its handle,
 * a symlink swapped in for a directory is refused (ELOOP) instead of followed, wherever it is on
 * the way, and names that would leave the directory are refused before any system call.
 *
 * How: real files in a temporary directory; every effect is checked with plain node:fs (lstat,
 * readFile, readdir), which shares no code with the calls under test. After every test no file
 * descriptor of this process is left open (/proc/self/fd).
 */
import assert from 'node:assert/strict';
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { errnoNumber } from '../../errors/holdfast-error.js';
import { checkNoDescriptorLeaks } from '../../test-support/system-tools.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';
import type { Io } from '../io.js';
import { createNodeIo } from './create-node-io.js';
import { openPerComponent } from './open-beneath.js';

const io: Io = createNodeIo();
checkNoDescriptorLeaks();

const name = (text: string): Buffer => Buffer.from(text);

test('openFileAt() creates in the directory the handle was opened on, after that directory was renamed and replaced by a symlink', async () => {
  using directory = temporaryDirectory();
  const held = join(directory.path, 'held');
  const outside = join(directory.path, 'outside');
  await mkdir(held);
  await mkdir(outside);
  const handle = await io.openDirectory(held);
  try {
    await rename(held, join(directory.path, 'moved'));
    await symlink(outside, held);
    const file = await io.openFileAt(handle, name('new.txt'), { access: 'write', create: 'exclusive', mode: 0o600 });
    await file.close();
    await io.makeDirectoryAt(handle, name('sub'), { mode: 0o700 });
    await io.makeSymlinkAt('anything', handle, name('link'));
    await io.setTimes({ directory: handle, name: name('link') }, 1_000_000_123n, 2_000_000_456n);
    assert.deepEqual((await readdir(join(directory.path, 'moved'))).sort(), ['link', 'new.txt', 'sub']);
    assert.deepEqual(await readdir(outside), [], 'nothing reached the symlink');
    assert.equal((await lstat(join(directory.path, 'moved', 'link'), { bigint: true })).mtimeNs, 2_000_000_456n, 'the symlink got its own times');
  } finally {
    await handle.close();
  }
});

test('openDirectoryAt() refuses a symlink on the way (ELOOP) or at the end (ENOTDIR, not a directory), and a file (ENOTDIR)', async () => {
  using directory = temporaryDirectory();
  await mkdir(join(directory.path, 'root', 'a', 'b'), { recursive: true });
  await mkdir(join(directory.path, 'outside', 'b'), { recursive: true });
  await symlink(join(directory.path, 'outside'), join(directory.path, 'root', 'swapped'));
  await writeFile(join(directory.path, 'root', 'file'), 'x');
  const root = await io.openDirectory(join(directory.path, 'root'));
  try {
    const deep = await io.openDirectoryAt(root, name('a/b'));
    await deep.close();
    // O_DIRECTORY | O_NOFOLLOW on a final symlink: the kernel answers ENOTDIR (it is not a directory).
    await assert.rejects(io.openDirectoryAt(root, name('swapped')), { code: 'ENOTDIR' });
    await assert.rejects(io.openFileAt(root, name('swapped'), { access: 'write' }), { code: 'ELOOP' });
    await assert.rejects(io.openDirectoryAt(root, name('swapped/b')), { code: 'ELOOP' });
    await assert.rejects(io.openFileAt(root, name('swapped/b/new'), { access: 'write', create: 'exclusive' }), { code: 'ELOOP' });
    await assert.rejects(io.openDirectoryAt(root, name('file/b')), { code: 'ENOTDIR' });
    await assert.rejects(io.openDirectoryAt(root, name('file')), { code: 'ENOTDIR' });
    assert.deepEqual(await readdir(join(directory.path, 'outside', 'b')), []);
  } finally {
    await root.close();
  }
});

test('names that would leave the held directory are refused before any system call', async () => {
  using directory = temporaryDirectory();
  const root = await io.openDirectory(directory.path);
  try {
    for (const bad of ['..', '.', '', 'a/../..', '/etc', 'a\0b']) {
      await assert.rejects(io.openDirectoryAt(root, name(bad)), { code: 'HOLDFAST_UNSAFE_PATH' }, JSON.stringify(bad));
    }
    for (const bad of ['a/b', '..', '.', '']) {
      await assert.rejects(io.makeDirectoryAt(root, name(bad)), { code: 'HOLDFAST_UNSAFE_PATH' }, JSON.stringify(bad));
      await assert.rejects(io.unlinkAt(root, name(bad)), { code: 'HOLDFAST_UNSAFE_PATH' }, JSON.stringify(bad));
    }
  } finally {
    await root.close();
  }
});

test('lstatAt() describes a symlink itself; unlinkAt, removeDirectoryAt, makeHardLinkAt and makeNodeAt act on the name in the held directory', async () => {
  using directory = temporaryDirectory();
  await writeFile(join(directory.path, 'file'), 'data');
  await symlink('/etc/passwd', join(directory.path, 'link'));
  await mkdir(join(directory.path, 'empty'));
  const root = await io.openDirectory(directory.path);
  try {
    const linkStat = await io.lstatAt(root, name('link'));
    assert.equal(linkStat.kind, 'symlink');
    const fileStat = await io.lstatAt(root, name('file'));
    assert.equal(fileStat.kind, 'file');
    assert.equal(fileStat.sizeBytes, 4);
    assert.equal(fileStat.inode, (await lstat(join(directory.path, 'file'), { bigint: true })).ino);
    await io.makeHardLinkAt({ directory: root, name: name('file') }, root, name('second'));
    assert.equal(await readFile(join(directory.path, 'second'), 'utf8'), 'data');
    await io.makeNodeAt(root, name('fifo'), 'fifo', { mode: 0o640 });
    await io.setMode({ directory: root, name: name('fifo') }, 0o600);
    assert.equal((await lstat(join(directory.path, 'fifo'))).mode & 0o7777, 0o600);
    await assert.rejects(io.setMode({ directory: root, name: name('link') }, 0o600), { code: 'ENOTSUP' }, 'a symlink is never followed by setMode');
    await io.unlinkAt(root, name('link'));
    await io.removeDirectoryAt(root, name('empty'));
    await assert.rejects(io.unlinkAt(root, name('missing')), { code: 'ENOENT' });
    assert.deepEqual((await readdir(directory.path)).sort(), ['fifo', 'file', 'second']);
  } finally {
    await root.close();
  }
});

test('without openat2, each component is opened with O_NOFOLLOW from the one before: a symlink on the way (ENOTDIR) or at the end (ELOOP) is refused, and nothing is left open', async () => {
  using directory = temporaryDirectory();
  await mkdir(join(directory.path, 'a', 'b'), { recursive: true });
  await mkdir(join(directory.path, 'outside'));
  await symlink(join(directory.path, 'outside'), join(directory.path, 'a', 'swapped'));
  const root = openSync(directory.path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const directoryFlags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
    const opened = await openPerComponent(root, [name('a'), name('b')], directoryFlags, 0);
    assert.ok(opened.result >= 0, `errno ${opened.errno}`);
    assert.equal(fstatSync(opened.result).ino, (await lstat(join(directory.path, 'a', 'b'))).ino);
    closeSync(opened.result);
    const created = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const throughSymlink = await openPerComponent(root, [name('a'), name('swapped'), name('new')], created, 0o600);
    assert.equal(throughSymlink.errno, errnoNumber('ENOTDIR'), 'O_DIRECTORY | O_NOFOLLOW on the way: a symlink is not a directory');
    const atSymlink = await openPerComponent(root, [name('a'), name('swapped')], created & ~constants.O_EXCL, 0o600);
    assert.equal(atSymlink.errno, errnoNumber('ELOOP'));
    assert.deepEqual(await readdir(join(directory.path, 'outside')), []);
  } finally {
    closeSync(root);
  }
});
