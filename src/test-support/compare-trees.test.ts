/**
 * The tree comparer that round-trip tests rely on can fail: it finds no difference in a faithful
 * copy of the hard-case tree, and names the path and the field of every single change.
 *
 * How: as root, on a loop-mounted ext4, buildHardCaseTree() makes the tree and treeManifest()
 * shows that every hard case is there. Two copiers that share no code with holdfast or with the
 * comparer copy it: `cp -a --sparse=always` (which loses nothing, socket included) and GNU tar
 * with --xattrs --xattrs-include='*' --acls --sparse (which loses nothing but sockets, so its tree
 * has none). Then each change is made in a fresh cp copy, the mtimes the change moved as a side
 * effect (of the file, or of a directory whose entries changed) are put back with touch, and the
 * comparer must print exactly the expected lines, no more.
 */
import assert from 'node:assert/strict';
import { chmod, copyFile, lchown, open, rename, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareTrees, treeManifest, type TreeManifest } from './compare-trees.js';
import { buildHardCaseTree } from './hard-case-tree.js';
import { mountLoopFilesystem } from './loop-filesystem.js';
import { requireRoot, requireTools } from './requirements.js';
import { checkNoDescriptorLeaks, runToolOrFail } from './system-tools.js';

const mebibyte = 1024 * 1024;
const gibibyte = 1024 * mebibyte;
/** The tree and one copy are about 10 MiB of data; ext4 on 64 MiB leaves room for a tar archive. */
const filesystemSizeMiB = 64;
const capabilityNetBindServiceHex = '0100000200040000000000000000000000000000';
checkNoDescriptorLeaks();

interface Change {
  /** What the change is, for the test name. */
  description: string;
  apply(copy: string): Promise<void>;
  /** Paths (relative, ASCII) whose mtime the change moved and that get the source's back. */
  mtimesToRestore: string[];
  /** Every line the comparer must print: either whole, or its "PATH: FIELD" start. */
  expected: string[];
  allowMapDifference?: boolean;
}

const nonUtf8Name = Buffer.from([0xff, 0xfe, ...Buffer.from('-latin1-caf'), 0xe9]);
const renamedNonUtf8Name = Buffer.from([0xff, 0xfe, ...Buffer.from('-latin1-caf'), 0xe8]);

const changes: Change[] = [
  {
    description: 'one byte of content',
    apply: async (copy) => {
      await using file = await open(join(copy, 'files/size-0065536'), 'r+');
      const byte = Buffer.alloc(1);
      await file.read(byte, 0, 1, 30_000);
      byte[0] = (byte[0] ?? 0) ^ 0x01;
      await file.write(byte, 0, 1, 30_000);
    },
    mtimesToRestore: ['files/size-0065536'],
    expected: ['files/size-0065536: sha256'],
  },
  {
    description: 'the setuid bit',
    apply: (copy) => chmod(join(copy, 'modes/setuid'), 0o755),
    mtimesToRestore: [],
    expected: ['modes/setuid: mode: 0o4755 != 0o755'],
  },
  {
    description: 'an owner',
    apply: (copy) => lchown(join(copy, 'owners/unmapped'), 54_320, 54_322),
    mtimesToRestore: [],
    expected: ['owners/unmapped: uid: 54321 != 54320'],
  },
  {
    description: 'an mtime by one nanosecond',
    apply: (copy) => setMtime(join(copy, 'times/nanoseconds'), '1700000000123456790'),
    mtimesToRestore: [],
    expected: ['times/nanoseconds: mtime_ns: 1700000000123456789 != 1700000000123456790'],
  },
  {
    description: 'an xattr value',
    apply: async (copy) => void (await runToolOrFail('setfattr', ['-n', 'user.text', '-v', 'plain text valuE', join(copy, 'xattrs/file')])),
    mtimesToRestore: [],
    expected: [`xattrs/file: xattr user.text: ${hex('plain text value')} != ${hex('plain text valuE')}`],
  },
  {
    description: 'an ACL entry',
    // --no-mask keeps the mask, and with it the mode's group bits: only the entry changes.
    apply: async (copy) => void (await runToolOrFail('setfacl', ['--no-mask', '-m', 'u:54321:r--', join(copy, 'acls/file')])),
    mtimesToRestore: [],
    expected: [
      'acls/file: xattr system.posix_acl_access: acl user::rw-,user:54321:rw-,user:65534:r--,group::r--,group:54322:r--,mask::rw-,other::---' +
        ' != acl user::rw-,user:54321:r--,user:65534:r--,group::r--,group:54322:r--,mask::rw-,other::---',
    ],
  },
  {
    description: 'a capability cleared by chown to the same owner (an importer that sets xattrs before owners)',
    apply: (copy) => lchown(join(copy, 'xattrs/capability'), 0, 0),
    mtimesToRestore: [],
    expected: [`xattrs/capability: xattr security.capability: ${capabilityNetBindServiceHex} != absent`],
  },
  {
    description: 'a broken hard link (a copy of the file over one of its three names)',
    apply: async (copy) => {
      await unlink(join(copy, 'links/third/name-three'));
      await copyFile(join(copy, 'links/first/original'), join(copy, 'links/third/name-three'));
    },
    mtimesToRestore: ['links/third/name-three', 'links/third'],
    expected: ['links/third/name-three: link_group: links/first/original != links/third/name-three'],
  },
  {
    description: 'a symlink target',
    apply: async (copy) => {
      await unlink(join(copy, 'symlinks/relative'));
      await symlink('../files/text.txt.changed', join(copy, 'symlinks/relative'));
    },
    mtimesToRestore: ['symlinks/relative', 'symlinks'],
    expected: [`symlinks/relative: target: ${hex('../files/text.txt')} != ${hex('../files/text.txt.changed')}`],
  },
  {
    description: 'a hole filled with zeros',
    apply: (copy) => writeZeros(join(copy, 'sparse/gibibyte'), 100 * mebibyte, mebibyte),
    mtimesToRestore: ['sparse/gibibyte'],
    expected: [
      'sparse/gibibyte: data_map: [[0,65536],[314572800,1048576],[1073737728,4096]] != [[0,65536],[104857600,1048576],[314572800,1048576],[1073737728,4096]]',
      'sparse/gibibyte: sha256',
      'sparse/gibibyte: allocated_bytes',
    ],
  },
  {
    description: 'a hole filled with zeros, through allocated_bytes alone when the map may differ',
    apply: (copy) => writeZeros(join(copy, 'sparse/gibibyte'), 100 * mebibyte, mebibyte),
    mtimesToRestore: ['sparse/gibibyte'],
    expected: ['sparse/gibibyte: allocated_bytes'],
    allowMapDifference: true,
  },
  {
    description: 'a renamed non-UTF-8 name',
    apply: (copy) => rename(Buffer.concat([Buffer.from(join(copy, 'names/')), nonUtf8Name]), Buffer.concat([Buffer.from(join(copy, 'names/')), renamedNonUtf8Name])),
    mtimesToRestore: ['names'],
    expected: ['names/\\xff\\xfe-latin1-caf\\xe8: entry: missing != present', 'names/\\xff\\xfe-latin1-caf\\xe9: entry: present != missing'],
  },
];

test('the tree comparer finds no difference in faithful copies of the hard-case tree, and every single change', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'python3', 'mkfs.ext4', 'mount', 'umount', 'setfacl', 'setfattr', 'cp', 'tar', 'touch', 'rm')) return;
  await using filesystem = await mountLoopFilesystem('ext4', filesystemSizeMiB);
  const source = join(filesystem.mountPoint, 'source');
  const summary = await buildHardCaseTree(source, { withSocket: true });
  t.diagnostic(`hard-case tree: ${summary.entryCount} entries, ${summary.dataBytes} bytes of data`);
  assert.deepEqual(summary.skipped, [], 'ext4 as root takes every case');
  const manifest = await treeManifest(source);

  await t.test('treeManifest() reads every hard case buildHardCaseTree() made', () => {
    checkHardCases(manifest);
  });

  await t.test('compareTrees() finds no difference in a copy by cp -a --sparse=always', async () => {
    const copy = join(filesystem.mountPoint, 'cp-copy');
    await runToolOrFail('cp', ['-a', '--sparse=always', source, copy]);
    assert.deepEqual(await compareTrees(source, copy), []);
    assert.deepEqual(await compareTrees(source, copy, { allowMapDifference: true }), []);
    await runToolOrFail('rm', ['-rf', copy]);
  });

  await t.test('compareTrees() finds no difference in a copy through a tar archive with xattrs, ACLs and sparse files', async () => {
    const tarSource = join(filesystem.mountPoint, 'tar-source');
    const archive = join(filesystem.mountPoint, 'tree.tar');
    const copy = join(filesystem.mountPoint, 'tar-copy');
    await buildHardCaseTree(tarSource);
    assert.equal(Object.keys((await treeManifest(tarSource)).entries).length, Object.keys(manifest.entries).length - 1, 'the same tree but for the socket');
    const tarOptions = ['--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner'];
    await runToolOrFail('tar', ['--create', '--sparse', ...tarOptions, '--file', archive, '--directory', tarSource, '.']);
    await runToolOrFail('mkdir', [copy]);
    await runToolOrFail('tar', ['--extract', ...tarOptions, '--preserve-permissions', '--same-owner', '--warning=no-timestamp', '--file', archive, '--directory', copy]);
    assert.deepEqual(await compareTrees(tarSource, copy), []);
    await runToolOrFail('rm', ['-rf', copy, tarSource, archive]);
  });

  for (const change of changes) {
    await t.test(`compareTrees() reports ${change.description}, with its path and field`, async () => {
      const copy = join(filesystem.mountPoint, 'changed-copy');
      await runToolOrFail('cp', ['-a', '--sparse=always', source, copy]);
      try {
        await change.apply(copy);
        for (const path of change.mtimesToRestore) await setMtime(join(copy, path), mtimeOf(manifest, path));
        const differences = await compareTrees(source, copy, { allowMapDifference: change.allowMapDifference === true });
        assertLines(differences, change.expected);
      } finally {
        await runToolOrFail('rm', ['-rf', copy]);
      }
    });
  }
});

function checkHardCases(manifest: TreeManifest): void {
  const entry = (path: string) => {
    const found = manifest.entries[path];
    assert.ok(found !== undefined, `the manifest has ${path}`);
    return found;
  };
  assert.equal(entry('sparse/gibibyte').size, gibibyte);
  assert.deepEqual(entry('sparse/gibibyte').data_map, [[0, 65_536], [300 * mebibyte, mebibyte], [gibibyte - 4096, 4096]]);
  assert.deepEqual(entry('sparse/ends-in-hole').data_map, [[mebibyte, 131_072]]);
  assert.deepEqual(entry('sparse/only-hole').data_map, []);
  assert.equal(entry('files/size-1048577').size, 1_048_577);
  for (const name of ['links/first/original', 'links/second/name-two', 'links/third/name-three']) {
    assert.equal(entry(name).link_group, 'links/first/original');
  }
  assert.equal(entry('xattrs/capability').xattrs['security.capability'], capabilityNetBindServiceHex);
  assert.deepEqual(Object.keys(entry('xattrs/file').xattrs), ['security.holdfast-test', 'trusted.holdfast', 'user.binary', 'user.empty', 'user.large', 'user.text']);
  assert.equal(entry('xattrs/file').xattrs['user.empty'], '');
  assert.equal(entry('xattrs/file').xattrs['user.binary'], '00ff0062696e617279feff00');
  assert.equal(entry('xattrs').xattrs['user.directory-note'], hex('a user xattr on a directory'));
  assert.equal(entry('symlinks/with-xattr').xattrs['trusted.holdfast-symlink'], hex('an xattr on the link itself'));
  assert.ok(entry('acls/file').xattrs['system.posix_acl_access'] !== undefined);
  assert.ok(entry('acls/directory').xattrs['system.posix_acl_default'] !== undefined);
  assert.ok(entry('acls/directory/inherited-directory').xattrs['system.posix_acl_default'] !== undefined, 'a child made later inherits the default ACL');
  assert.equal(entry('modes/setuid').mode, 0o4755);
  assert.equal(entry('modes/setgid-directory').mode, 0o2755);
  assert.equal(entry('modes/setgid-directory/inherits-group').gid, 54_322);
  assert.equal(entry('modes/sticky-directory').mode, 0o1777);
  assert.equal(entry('modes/no-permissions').mode, 0);
  assert.equal(entry('modes/read-only-directory').mode, 0o444);
  assert.deepEqual([entry('owners/unmapped').uid, entry('owners/unmapped').gid], [54_321, 54_322]);
  assert.deepEqual([entry('symlinks/owned').uid, entry('symlinks/owned').gid], [54_321, 54_322]);
  assert.equal(entry('times/before-1970').mtime_ns, '-2000000000123456789');
  assert.equal(entry('times/after-2038').mtime_ns, '4102444800500000000');
  assert.equal(entry('times/symlink-nanoseconds').mtime_ns, '1234567890987654321');
  assert.equal(entry('symlinks/non-utf8-target').target, 'fffe2d636166e92f80656e64');
  assert.equal(entry('symlinks/long-target').target?.length, 2000);
  assert.deepEqual([entry('special/char-1-3').type, entry('special/char-1-3').rdev_major, entry('special/char-1-3').rdev_minor], ['char', 1, 3]);
  assert.deepEqual([entry('special/block-7-200').type, entry('special/block-7-200').rdev_major, entry('special/block-7-200').rdev_minor], ['block', 7, 200]);
  assert.equal(entry('special/fifo').type, 'fifo');
  assert.equal(entry('special/socket').type, 'socket');
  for (const name of ['\\xff\\xfe-latin1-caf\\xe9', 'new\\x0aline', 'back\\\\slash with spaces "double" \'single\'', 'caf\\xc3\\xa9-nfc', 'cafe\\xcc\\x81-nfd']) {
    assert.equal(entry(`names/${name}`).type, 'file');
  }
  const longestPath = Object.keys(manifest.entries).reduce((longest, path) => (path.length > longest.length ? path : longest), '');
  assert.equal(longestPath.length, 3900);
  assert.equal(entry(longestPath).type, 'file');
  assert.ok(Object.keys(manifest.entries).some((path) => path.split('/').at(-1)?.length === 255), 'a 255-byte name');
}

/** Each expected line matches one line, whole or by its "PATH: FIELD" start, and no line is left. */
function assertLines(lines: readonly string[], expected: readonly string[]): void {
  const unmatched = [...lines];
  for (const wanted of expected) {
    const index = unmatched.findIndex((line) => line === wanted || line.startsWith(`${wanted}: `));
    assert.ok(index >= 0, `expected a line "${wanted}" in:\n${lines.join('\n')}`);
    unmatched.splice(index, 1);
  }
  assert.deepEqual(unmatched, [], 'no other differences');
}

function mtimeOf(manifest: TreeManifest, path: string): string {
  const entry = manifest.entries[path];
  assert.ok(entry !== undefined, `the source has ${path}`);
  return entry.mtime_ns;
}

/** Sets the mtime (not following a symlink) to the nanosecond, which node:fs cannot. */
async function setMtime(path: string, mtimeNs: string): Promise<void> {
  const nanoseconds = BigInt(mtimeNs);
  assert.ok(nanoseconds >= 0n, 'touch -d @S.N takes times after 1970 here');
  const fraction = (nanoseconds % 1_000_000_000n).toString().padStart(9, '0');
  await runToolOrFail('touch', ['--no-dereference', '-m', '-d', `@${nanoseconds / 1_000_000_000n}.${fraction}`, path]);
}

async function writeZeros(path: string, offsetBytes: number, lengthBytes: number): Promise<void> {
  await using file = await open(path, 'r+');
  await file.write(Buffer.alloc(lengthBytes), 0, lengthBytes, offsetBytes);
  await file.sync();
}

function hex(text: string): string {
  return Buffer.from(text).toString('hex');
}
