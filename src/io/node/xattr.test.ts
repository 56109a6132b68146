/**
 * Extended attributes through holdfast (fgetxattr/lgetxattr and friends) on a real file system:
 * what holdfast writes, getfattr reads, and the reverse; binary and empty values survive; the
 * path forms never follow a final symlink; failures carry the errno name, operation and path.
 * After every test no file descriptor is left open.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { symlink, writeFile } from 'node:fs/promises';
import { requireRoot, requireTools } from '../../test-support/requirements.js';
import { assertFailure, checkNoDescriptorLeaks, getfattrDump, runTool, runToolOrFail } from '../../test-support/system-tools.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';
import type { Io } from '../io.js';
import { createNodeIo } from './create-node-io.js';

const io: Io = createNodeIo();
checkNoDescriptorLeaks();

test('setXattr() on a path stores the exact bytes, NULs and empty values included, as getfattr reads them', async (t) => {
  if (!requireTools(t, 'getfattr')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  await writeFile(path, 'content');
  // A view into a larger buffer: the call must send the view's bytes, not its backing store's.
  const backing = Buffer.from([0xaa, 0xbb, 0x00, 0x01, 0x00, 0xff, 0x00]);
  await io.setXattr(path, 'user.binary', backing.subarray(2));
  await io.setXattr(path, 'user.empty', new Uint8Array(0));
  await io.setXattr(path, 'user.text', Buffer.from('holdfast'));

  const dump = await getfattrDump(path);
  assert.equal(dump.get('user.binary'), '000100ff00');
  assert.equal(dump.get('user.empty'), '');
  assert.equal(dump.get('user.text'), Buffer.from('holdfast').toString('hex'));
});

test('setXattr() on an open file or directory handle stores the value on that inode', async (t) => {
  if (!requireTools(t, 'getfattr')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  await writeFile(path, 'content');
  await using file = await io.openFile(path);
  await using folder = await io.openDirectory(directory.path);

  await io.setXattr(file, 'user.on-file', Buffer.from([0x00, 0x42, 0x00]));
  await io.setXattr(folder, 'user.on-directory', Buffer.from([0x07]));

  const fileDump = await getfattrDump(path);
  const directoryDump = await getfattrDump(directory.path);
  assert.equal(fileDump.get('user.on-file'), '004200');
  assert.equal(fileDump.has('user.on-directory'), false);
  assert.equal(directoryDump.get('user.on-directory'), '07');
  assert.equal(directoryDump.has('user.on-file'), false);
});

test('getXattr() and listXattrs() read what setfattr wrote, through a path and through a handle', async (t) => {
  if (!requireTools(t, 'getfattr', 'setfattr')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  await writeFile(path, 'content');
  await runToolOrFail('setfattr', ['-n', 'user.binary', '-v', '0x00ff000102', path]);
  await runToolOrFail('setfattr', ['-n', 'user.empty', path]);
  const namesSeenByGetfattr = [...(await getfattrDump(path)).keys()].sort();
  await using file = await io.openFile(path);

  for (const subject of [path, file]) {
    const via = typeof subject === 'string' ? 'path' : 'handle';
    assert.deepEqual((await io.listXattrs(subject)).sort(), namesSeenByGetfattr, `listXattrs() through the ${via}`);
    assert.deepEqual(await io.getXattr(subject, 'user.binary'), Buffer.from([0x00, 0xff, 0x00, 0x01, 0x02]), `binary value through the ${via}`);
    assert.deepEqual(await io.getXattr(subject, 'user.empty'), Buffer.alloc(0), `empty value through the ${via}`);
  }
});

test('removeXattr() removes the name: getXattr() then returns null and getfattr no longer has it', async (t) => {
  if (!requireTools(t, 'getfattr', 'setfattr')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  await writeFile(path, 'content');
  await runToolOrFail('setfattr', ['-n', 'user.gone', '-v', '0x01', path]);
  await runToolOrFail('setfattr', ['-n', 'user.kept', '-v', '0x02', path]);
  await using file = await io.openFile(path);

  await io.removeXattr(path, 'user.gone');
  assert.equal(await io.getXattr(path, 'user.gone'), null);
  assert.equal(await io.getXattr(file, 'user.gone'), null);
  assert.deepEqual(await io.listXattrs(path), ['user.kept']);
  assert.deepEqual([...(await getfattrDump(path)).entries()], [['user.kept', '02']]);

  await io.removeXattr(file, 'user.kept');
  assert.deepEqual([...(await getfattrDump(path)).keys()], []);
});

test('getXattr() of a name the file does not have returns null instead of throwing', async (t) => {
  if (!requireTools(t, 'getfattr', 'setfattr')) return;
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  await writeFile(path, 'content');
  await runToolOrFail('setfattr', ['-n', 'user.present', '-v', '0x01', path]);
  assert.equal((await runTool('getfattr', ['-n', 'user.absent', path])).exitCode, 1, 'getfattr agrees the name is absent');
  await using file = await io.openFile(path);

  assert.equal(await io.getXattr(path, 'user.absent'), null);
  assert.equal(await io.getXattr(file, 'user.absent'), null);
  assert.deepEqual(await io.getXattr(path, 'user.present'), Buffer.from([0x01]));
});

test('listXattrs() and getXattr() of a symlink path do not follow it to the target', async (t) => {
  if (!requireTools(t, 'setfattr')) return;
  using directory = temporaryDirectory();
  const target = join(directory.path, 'target');
  const link = join(directory.path, 'link');
  await writeFile(target, 'content');
  await runToolOrFail('setfattr', ['-n', 'user.a', '-v', '0x61', target]);
  await symlink(target, link);

  assert.deepEqual(await io.listXattrs(target), ['user.a'], 'control: the target has user.a');
  assert.equal((await io.listXattrs(link)).includes('user.a'), false, 'the symlink itself has no user.a');
  assert.equal(await io.getXattr(link, 'user.a'), null);
});

test('setXattr() of a symlink path sets the attribute on the symlink itself, not on its target', async (t) => {
  // Only trusted.* and security.* can be set on a symlink, and trusted.* needs CAP_SYS_ADMIN.
  if (!requireRoot(t) || !requireTools(t, 'getfattr')) return;
  using directory = temporaryDirectory();
  const target = join(directory.path, 'target');
  const link = join(directory.path, 'link');
  await writeFile(target, 'content');
  await symlink(target, link);

  await io.setXattr(link, 'trusted.x', Buffer.from([0x00, 0x78]));

  assert.equal((await getfattrDump(link, { noDereference: true })).get('trusted.x'), '0078');
  assert.equal((await getfattrDump(target)).has('trusted.x'), false);
  assert.deepEqual(await io.getXattr(link, 'trusted.x'), Buffer.from([0x00, 0x78]));
});

test('xattr calls on a missing path fail with ENOENT, the operation and the path', async () => {
  using directory = temporaryDirectory();
  const missing = join(directory.path, 'missing');
  await assert.rejects(io.listXattrs(missing), (error) => assertFailure(error, { code: 'ENOENT', path: missing, operation: /list xattrs/ }));
  await assert.rejects(io.getXattr(missing, 'user.a'), (error) => assertFailure(error, { code: 'ENOENT', path: missing, operation: /get xattr "user.a"/ }));
  await assert.rejects(io.setXattr(missing, 'user.a', Buffer.from('v')), (error) => assertFailure(error, { code: 'ENOENT', path: missing, operation: /set xattr "user.a"/ }));
  await assert.rejects(io.removeXattr(missing, 'user.a'), (error) => assertFailure(error, { code: 'ENOENT', path: missing, operation: /remove xattr "user.a"/ }));
});

