/**
 * Shows decodeTar() reading real archives: the fixtures GNU tar 1.34 and bsdtar 3.6 made of known
 * trees (test/fixtures/tar/make-fixtures.sh) decode to exactly the fields and data written out
 * below by hand: from how each file was made (touch -d, chmod, mknod, setfattr, setfacl) and, for
 * the atime and ctime no one can set, from the archives' pax records as Python printed them.
 * Every archive is read whole and again one byte at a time, with the same result.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { emptyEntryHeader, type AclEntry, type EntryHeader, type EntryType } from '../format/entry.js';
import type { IdLookup } from '../format/tar/acl-text.js';
import { encodeHeader } from '../format/tar/header.js';
import { encodePaxRecords } from '../format/tar/pax.js';
import { bufferInput } from './byte-input.js';
import type { EntrySink } from './entry-pipe.js';
import { decodeTar } from './tar-decoder.js';

const fixtures = new URL('../../test/fixtures/tar/', import.meta.url);

interface Decoded {
  header: EntryHeader;
  dataSha256: string;
}

/** Records every entry with a digest of its data, and checks the sink's call order. */
function collectingSink(): EntrySink & { entries: Decoded[] } {
  const entries: Decoded[] = [];
  let hash: ReturnType<typeof createHash> | null = null;
  let current: EntryHeader | null = null;
  return {
    entries,
    beginEntry(header) {
      assert.equal(current, null, 'beginEntry() before the last entry ended');
      current = header;
      hash = createHash('sha256');
      return Promise.resolve();
    },
    writeData(bytes) {
      assert.ok(hash !== null, 'writeData() outside an entry');
      hash.update(bytes);
      return Promise.resolve();
    },
    endEntry() {
      assert.ok(current !== null && hash !== null, 'endEntry() outside an entry');
      entries.push({ header: current, dataSha256: hash.digest('hex') });
      current = null;
      hash = null;
      return Promise.resolve();
    },
  };
}

/** The fixtures' user database: uid 1000 was "cloudsdk" and gid 100 "users" where they were made. */
const lookupId: IdLookup = (kind, name) => (kind === 'user' && name === 'cloudsdk' ? 1000 : kind === 'group' && name === 'users' ? 100 : null);

async function decodeFixture(name: string, pieceBytesMax?: number): Promise<Decoded[]> {
  const bytes = readFileSync(new URL(name, fixtures));
  const sink = collectingSink();
  const result = await decodeTar(bufferInput(bytes, name, pieceBytesMax), sink, { lookupId });
  assert.equal(result.entryCount, sink.entries.length);
  return sink.entries;
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const seconds = (value: number): bigint => BigInt(value) * 1_000_000_000n;
/** 2024-01-02 03:04:05 UTC, the mtime every fixture file was touched to. */
const jan2024 = seconds(1704164645);
const d150 = 'd'.repeat(150);
const e120 = 'e'.repeat(120);

function entry(path: string, type: EntryType, fields: Partial<EntryHeader>, data: Buffer | string = ''): Decoded {
  return {
    header: {
      ...emptyEntryHeader(Buffer.from(path, 'latin1'), type),
      userName: 'root',
      groupName: 'root',
      atimeNs: jan2024,
      mtimeNs: jan2024,
      ctimeNs: jan2024,
      sizeBytes: type === 'file' ? Buffer.byteLength(data) : 0,
      ...fields,
    },
    dataSha256: sha256(data),
  };
}

/** The tree of make-fixtures.sh, in its sorted order, with each archive's atime and ctime. */
function treeEntries(times: (path: string) => { atimeNs: bigint; ctimeNs: bigint }): Decoded[] {
  const at = (path: string, type: EntryType, fields: Partial<EntryHeader>, data?: string): Decoded => entry(path, type, { ...times(path), ...fields }, data);
  return [
    at('tree', 'directory', { mode: 0o755 }),
    at('tree/before-1970', 'file', { mtimeNs: -302486399_750000000n }, 'old\n'),
    at('tree/big-uid', 'file', { uid: 3000000000, gid: 3000000001, userName: null, groupName: null }, 'big owner\n'),
    at('tree/blockdev', 'block-device', { mode: 0o660, deviceMajor: 7, deviceMinor: 200 }),
    at('tree/caf\xe9.txt', 'file', {}, 'not UTF-8\n'),
    at('tree/chardev', 'character-device', { mode: 0o620, deviceMajor: 1, deviceMinor: 3 }),
    at(`tree/${d150}`, 'directory', { mode: 0o755 }),
    at(`tree/${d150}/${e120}`, 'directory', { mode: 0o755 }),
    at(`tree/${d150}/${e120}/long-file-name-that-makes-the-path-longer-than-255.txt`, 'file', {}, 'deep file\n'),
    at(`tree/${d150}/medium-name.txt`, 'file', {}, 'prefix split\n'),
    at('tree/fifo', 'fifo', { mode: 0o640 }),
    at('tree/hardlink', 'file', {}, 'linked twice\n'),
    at('tree/ns-mtime', 'file', { mtimeNs: 1614834367_123456789n }, 'ns\n'),
    at('tree/original', 'hardlink', { linkTarget: Buffer.from('tree/hardlink') }),
    at('tree/setgid', 'directory', { mode: 0o2750 }),
    at('tree/setuid', 'file', { mode: 0o4755 }, 'setuid\n'),
    at('tree/sticky', 'directory', { mode: 0o1777 }),
    at('tree/symlink', 'symlink', { mode: 0o777, linkTarget: Buffer.from(`${d150}/${e120}/target-of-a-symlink-longer-than-100-bytes`) }),
  ];
}

const ctimeOfTree = 1795218396_438769711n;
/** before-1970 and ns-mtime were touched last, so their inodes changed a little earlier. */
const ctimeOfTouched = 1795218396_435668657n;
const isDirectory = (path: string): boolean => ['tree', `tree/${d150}`, `tree/${d150}/${e120}`, 'tree/setgid', 'tree/sticky'].includes(path);
const unread = ['tree/blockdev', 'tree/chardev', 'tree/fifo'];

async function assertFixture(name: string, expected: Decoded[]): Promise<void> {
  const decoded = await decodeFixture(name);
  assert.deepEqual(decoded.map((item) => item.header.path.toString('latin1')), expected.map((item) => item.header.path.toString('latin1')));
  for (const [index, item] of decoded.entries()) assert.deepEqual(item, expected[index], `entry ${item.header.path.toString('latin1')}`);
  assert.deepEqual(await decodeFixture(name, 1), decoded, 'read one byte at a time');
}

test('decodeTar() reads GNU tar\'s pax archive of the tree exactly', async () => {
  await assertFixture(
    'gnu-tree.tar',
    treeEntries((path) => {
      const ctimeNs = path === 'tree/before-1970' || path === 'tree/ns-mtime' ? ctimeOfTouched : ctimeOfTree;
      if (path === 'tree/before-1970') return { atimeNs: -302486399_750000000n, ctimeNs };
      if (path === 'tree/ns-mtime') return { atimeNs: 1614834367_123456789n, ctimeNs };
      if (path === 'tree/original') return { atimeNs: 1795218396_478769711n, ctimeNs };
      return { atimeNs: isDirectory(path) ? 1795218396_474769711n : jan2024, ctimeNs };
    }),
  );
});

test('decodeTar() reads bsdtar\'s pax archive of the tree, its pre-1970 time the way bsdtar meant it', async () => {
  // bsdtar wrote "mtime=-302486400.25" for 1960-06-01 00:00:00.25; it reads as the same instant.
  await assertFixture(
    'bsdtar-tree.tar',
    treeEntries((path) => ({
      atimeNs: isDirectory(path) ? 1795218396_474769711n : unread.includes(path) ? jan2024 : 1795218396_478769711n,
      ctimeNs: path === 'tree/before-1970' || path === 'tree/ns-mtime' ? ctimeOfTouched : ctimeOfTree,
    })),
  );
});

test('decodeTar() reads GNU tar\'s own format: L and K long names, base-256, whole seconds', async () => {
  const expected = treeEntries(() => ({ atimeNs: jan2024, ctimeNs: jan2024 })).map((item) => {
    const path = item.header.path.toString('latin1');
    // No pax records: times are whole seconds, floored, and atime and ctime are the mtime.
    if (path === 'tree/before-1970') return { ...item, header: { ...item.header, mtimeNs: seconds(-302486400), atimeNs: seconds(-302486400), ctimeNs: seconds(-302486400) } };
    if (path === 'tree/ns-mtime') return { ...item, header: { ...item.header, mtimeNs: seconds(1614834367), atimeNs: seconds(1614834367), ctimeNs: seconds(1614834367) } };
    return item;
  });
  await assertFixture('gnu-format-tree.tar', expected);
});

const fileAcl: AclEntry[] = [
  { tag: 'user-owner', id: null, permissions: 6 },
  { tag: 'user', id: 1000, permissions: 4 },
  { tag: 'group-owner', id: null, permissions: 4 },
  { tag: 'group', id: 100, permissions: 6 },
  { tag: 'mask', id: null, permissions: 6 },
  { tag: 'other', id: null, permissions: 0 },
];
const directoryAcl: AclEntry[] = [
  { tag: 'user-owner', id: null, permissions: 7 },
  { tag: 'user', id: 1000, permissions: 7 },
  { tag: 'group-owner', id: null, permissions: 5 },
  { tag: 'mask', id: null, permissions: 7 },
  { tag: 'other', id: null, permissions: 0 },
];
const directoryDefaultAcl: AclEntry[] = [
  { tag: 'user-owner', id: null, permissions: 7 },
  { tag: 'user', id: 1000, permissions: 5 },
  { tag: 'group-owner', id: null, permissions: 5 },
  { tag: 'group', id: 100, permissions: 5 },
  { tag: 'mask', id: null, permissions: 5 },
  { tag: 'other', id: null, permissions: 0 },
];
const xattrs = {
  comment: { name: 'user.comment', value: Buffer.from('hello world') },
  empty: { name: 'user.empty', value: Buffer.alloc(0) },
  binary: { name: 'user.binary', value: Buffer.from([0x0a, 0x3d, 0x00, 0xff, 0x80, 0xfe]) },
  trusted: { name: 'trusted.holdfast', value: Buffer.from('trusted value') },
};
const metaCtime = 1795218396_454769711n;

test('decodeTar() reads GNU tar\'s xattrs and ACLs, names resolved by the lookup', async () => {
  const directoryAtime = 1795218396_478769711n;
  await assertFixture('gnu-xattrs-acls.tar', [
    entry('meta', 'directory', { atimeNs: directoryAtime, ctimeNs: metaCtime }),
    // GNU tar stores the mode with the ACL mask as its group bits.
    entry('meta/acl-directory', 'directory', { mode: 0o770, atimeNs: directoryAtime, ctimeNs: metaCtime, aclAccess: directoryAcl, aclDefault: directoryDefaultAcl }),
    entry('meta/acl-file', 'file', { mode: 0o660, ctimeNs: metaCtime, aclAccess: fileAcl }, 'with an access ACL\n'),
    entry('meta/xattrs', 'file', { ctimeNs: metaCtime, xattrs: [xattrs.comment, xattrs.empty, xattrs.binary, xattrs.trusted] }, 'with xattrs\n'),
  ]);
});

test('decodeTar() reads GNU tar\'s ACLs from their binary xattrs when no lookup knows the names', async () => {
  const sink = collectingSink();
  await decodeTar(bufferInput(readFileSync(new URL('gnu-xattrs-acls.tar', fixtures))), sink, {});
  assert.deepEqual(sink.entries[1]?.header.aclDefault, directoryDefaultAcl);
  assert.deepEqual(sink.entries[2]?.header.aclAccess, fileAcl);
});

test('decodeTar() reads bsdtar\'s xattrs (each written twice) and ACLs with ids', async () => {
  const atime = 1795218396_482769711n;
  await assertFixture('bsdtar-xattrs-acls.tar', [
    entry('meta', 'directory', { atimeNs: 1795218396_478769711n, ctimeNs: metaCtime }),
    // bsdtar stores the mode with the group owner's bits, not the mask.
    entry('meta/acl-directory', 'directory', { mode: 0o750, atimeNs: 1795218396_478769711n, ctimeNs: metaCtime, aclAccess: directoryAcl, aclDefault: directoryDefaultAcl }),
    entry('meta/acl-file', 'file', { mode: 0o640, atimeNs: atime, ctimeNs: metaCtime, aclAccess: fileAcl }, 'with an access ACL\n'),
    entry('meta/xattrs', 'file', { atimeNs: atime, ctimeNs: metaCtime, xattrs: [xattrs.trusted, xattrs.binary, xattrs.empty, xattrs.comment] }, 'with xattrs\n'),
  ]);
});

/** 3 MiB with 4096 'A' at 1 MiB and 5000 'B' at 2 MiB + 100: the file system's 4 KiB blocks hold them. */
const sparseMap = [
  { offsetBytes: 1048576, lengthBytes: 4096 },
  { offsetBytes: 2097152, lengthBytes: 8192 },
];
const sparseData = Buffer.concat([Buffer.alloc(4096, 'A'), Buffer.alloc(100), Buffer.alloc(5000, 'B'), Buffer.alloc(8192 - 5100)]);

function sparseEntries(directoryAtime: bigint, fileAtime: bigint, ctimeNs: bigint): Decoded[] {
  return [
    entry('sparse', 'directory', { atimeNs: directoryAtime, ctimeNs }),
    { ...entry('sparse/sparse-file', 'file', { atimeNs: fileAtime, ctimeNs, sizeBytes: 3145728, sparseMap }), dataSha256: sha256(sparseData) },
  ];
}

test('decodeTar() reads GNU.sparse 1.0 as GNU tar and bsdtar write it: the extents\' data only', async () => {
  const ctimeNs = 1795218396_474769711n;
  await assertFixture('gnu-sparse.tar', sparseEntries(1795218396_485786042n, jan2024, ctimeNs));
  await assertFixture('bsdtar-sparse.tar', sparseEntries(1795218396_485786042n, 1795218396_486769711n, ctimeNs));
});

test('decodeTar() reads GNU.sparse 0.1 and GNU tar\'s old \'S\' sparse headers', async () => {
  await assertFixture('gnu-sparse-0.1.tar', sparseEntries(1795218396_485786042n, 1795218396_486769711n, 1795218396_474769711n));
  await assertFixture('gnu-format-sparse.tar', sparseEntries(jan2024, jan2024, jan2024));
});

test('decodeTar() reads GNU.sparse 0.0: offset and numbytes records in pairs, as --sparse-version=0.0 writes', async () => {
  // In the form GNU tar 1.34 writes with --sparse-version=0.0 (seen for a file of one extent),
  // for the fixture's file; the member's name is the real one and no map precedes the data.
  const records = encodePaxRecords([
    { key: 'GNU.sparse.size', value: Buffer.from('3145728') },
    { key: 'GNU.sparse.numblocks', value: Buffer.from('3') },
    ...sparseMap.flatMap((extent) => [
      { key: 'GNU.sparse.offset', value: Buffer.from(String(extent.offsetBytes)) },
      { key: 'GNU.sparse.numbytes', value: Buffer.from(String(extent.lengthBytes)) },
    ]),
    { key: 'GNU.sparse.offset', value: Buffer.from('3145728') },
    { key: 'GNU.sparse.numbytes', value: Buffer.from('0') },
  ]);
  const block = (name: string, typeflag: string, sizeBytes: number): Buffer => {
    const header = Buffer.alloc(512);
    encodeHeader({ name: Buffer.from(name), mode: 0o644, uid: 0, gid: 0, sizeBytes, mtimeSeconds: 1704164645n, typeflag, linkName: null, userName: Buffer.from('root'), groupName: Buffer.from('root'), deviceMajor: 0, deviceMinor: 0 }, header);
    return header;
  };
  const padding = (lengthBytes: number): Buffer => Buffer.alloc(Math.ceil(lengthBytes / 512) * 512 - lengthBytes);
  const archive = Buffer.concat([
    block('./PaxHeaders/sparse-file', 'x', records.length),
    records,
    padding(records.length),
    block('sparse/sparse-file', '0', sparseData.length),
    sparseData,
    Buffer.alloc(1024),
  ]);
  const sink = collectingSink();
  await decodeTar(bufferInput(archive), sink, {});
  assert.deepEqual(sink.entries, [{ ...entry('sparse/sparse-file', 'file', { sizeBytes: 3145728, sparseMap }), dataSha256: sha256(sparseData) }]);
});
