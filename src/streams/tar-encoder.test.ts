/**
 * Shows encodeTar() writing what GNU tar 1.34 writes. Golden bytes: a fixed set of entries encodes
 * to test/fixtures/tar/holdfast-encoded.tar exactly; after a deliberate format change, regenerate
 * it with
 *   HOLDFAST_REGENERATE_FIXTURES=1 node --import tsx --test src/streams/tar-encoder.test.ts
 * and review the change (python3 or `tar --format=posix -tvvf` show it). Against GNU tar itself:
 * decoding GNU tar's own archives and encoding them again gives back GNU tar's bytes, but for the
 * two differences holdfast makes on purpose (hdrcharset for a name that is not UTF-8, pid 0 in a
 * sparse member's name). Round trip: decodeTar(encodeTar(x)) gives x back. Also: sockets and
 * entries over the limits go to onSkip; data pieces pass through uncopied; a short source fails.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { emptyEntryHeader, type EntryHeader, type EntryType } from '../format/entry.js';
import { blockBytes } from '../format/tar/header.js';
import { bufferInput } from './byte-input.js';
import type { EntrySink, SourceEntry } from './entry-pipe.js';
import { decodeTar } from './tar-decoder.js';
import { encodeTar } from './tar-encoder.js';

const fixtures = new URL('../../test/fixtures/tar/', import.meta.url);
const goldenUrl = new URL('holdfast-encoded.tar', fixtures);

interface Item {
  header: EntryHeader;
  data: Buffer[];
}

function item(path: string, type: EntryType, fields: Partial<EntryHeader> = {}, data: Buffer[] = []): Item {
  const header: EntryHeader = {
    ...emptyEntryHeader(Buffer.from(path, 'latin1'), type),
    uid: 1000,
    gid: 100,
    mtimeNs: 1704164645_000000000n,
    atimeNs: 1704164645_500000000n,
    ctimeNs: 1704164646_123456789n,
    sizeBytes: data.reduce((sum, piece) => sum + piece.length, 0),
    ...fields,
  };
  return { header, data };
}

const access = [
  { tag: 'user-owner', id: null, permissions: 7 },
  { tag: 'user', id: 1000, permissions: 5 },
  { tag: 'group-owner', id: null, permissions: 5 },
  { tag: 'group', id: 100, permissions: 6 },
  { tag: 'mask', id: null, permissions: 7 },
  { tag: 'other', id: null, permissions: 0 },
] as const;

/** Every case the encoder has a rule for; the same set serves the golden and round-trip tests. */
function goldenItems(): Item[] {
  const long = `golden/${'d'.repeat(150)}/${'e'.repeat(120)}/long-file-name.txt`;
  return [
    item('golden', 'directory', { mode: 0o2775, aclAccess: [...access], aclDefault: [...access] }),
    item('golden/file.txt', 'file', {
      mode: 0o640,
      userName: 'root',
      groupName: 'root',
      uid: 0,
      gid: 0,
      mtimeNs: 1614834367_123456789n,
      xattrs: [
        { name: 'user.comment', value: Buffer.from('hello world') },
        { name: 'user.empty', value: Buffer.alloc(0) },
        { name: 'user.binary', value: Buffer.from([0x0a, 0x3d, 0x00, 0xff]) },
        { name: 'user.odd=name%', value: Buffer.from('escaped') },
        { name: 'trusted.holdfast', value: Buffer.from('trusted') },
      ],
      aclAccess: [...access],
    }, [Buffer.from('hello\n')]),
    item('golden/before-1970', 'file', { mtimeNs: -302486399_750000000n, atimeNs: -250000000n, ctimeNs: -2208988800_000000000n }, [Buffer.from('old\n')]),
    item('golden/after-2242', 'file', { mtimeNs: 13569465600_000000000n }),
    item('golden/big-uid', 'file', { uid: 3000000000, gid: 3000000001, userName: 'a-user-name-longer-than-thirty-two-bytes', groupName: 'grüppe' }),
    item(long, 'file', {}, [Buffer.from('deep\n')]),
    item(`golden/${'n'.repeat(93)}`, 'file'), // 100 bytes: GNU tar wants a pax path
    item(`golden/${'m'.repeat(92)}`, 'file'), // 99 bytes: fits with its NUL
    item('golden/caf\xe9', 'file', {}, [Buffer.from('not UTF-8\n')]),
    item('golden/setuid', 'file', { mode: 0o4755 }, [Buffer.alloc(512, 0x53)]),
    item('golden/pieces', 'file', {}, [Buffer.alloc(400, 0x31), Buffer.alloc(300, 0x32), Buffer.alloc(300, 0x33)]),
    item('golden/sticky', 'directory', { mode: 0o1777 }),
    item('golden/symlink', 'symlink', { mode: 0o777, linkTarget: Buffer.from(`${'t'.repeat(150)}/target`) }),
    item('golden/symlink-100', 'symlink', { mode: 0o777, linkTarget: Buffer.alloc(100, 0x74) }),
    item('golden/hardlink', 'hardlink', { linkTarget: Buffer.from('golden/file.txt') }),
    item('golden/fifo', 'fifo', { mode: 0o640 }),
    item('golden/chardev', 'character-device', { mode: 0o620, deviceMajor: 1, deviceMinor: 3 }),
    item('golden/blockdev', 'block-device', { mode: 0o660, deviceMajor: 259, deviceMinor: 1048575 }),
    item('golden/sparse', 'file', { sizeBytes: 3 * 1048576, sparseMap: [{ offsetBytes: 1048576, lengthBytes: 4096 }, { offsetBytes: 2097152, lengthBytes: 8192 }] }, [
      Buffer.alloc(4096, 0x41),
      Buffer.alloc(8192, 0x42),
    ]),
    item('golden/all-hole', 'file', { sizeBytes: 1048576, sparseMap: [] }),
  ];
}

async function* sourceOf(items: Item[]): AsyncGenerator<SourceEntry> {
  for (const { header, data } of items) {
    // Each entry arrives when the source has it, as from a walker.
    yield await Promise.resolve({
      header,
      async *data() {
        for (const piece of data) yield await Promise.resolve(piece);
      },
    });
  }
}

async function encodeAll(items: Item[], skipped: string[] = []): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of encodeTar(sourceOf(items), { onSkip: (header, reason) => skipped.push(`${header.path.toString('latin1')}: ${reason}`) })) {
    pieces.push(Buffer.from(piece)); // a yielded buffer is valid only until the next pull
  }
  return Buffer.concat(pieces);
}

async function decodeAll(archive: Buffer, pieceBytesMax?: number): Promise<Item[]> {
  const items: Item[] = [];
  const sink: EntrySink = {
    beginEntry: (header) => (items.push({ header, data: [] }), Promise.resolve()),
    writeData: (bytes) => (items.at(-1)!.data.push(Buffer.from(bytes)), Promise.resolve()),
    endEntry: () => Promise.resolve(),
  };
  await decodeTar(bufferInput(archive, 'archive', pieceBytesMax), sink, {});
  return items;
}

const concatenated = (items: Item[]): Array<{ header: EntryHeader; data: Buffer }> => items.map(({ header, data }) => ({ header, data: Buffer.concat(data) }));

test('encodeTar() writes the golden archive byte for byte', async () => {
  const archive = await encodeAll(goldenItems());
  if (process.env['HOLDFAST_REGENERATE_FIXTURES'] === '1') writeFileSync(goldenUrl, archive);
  assert.equal(archive.length % 10240, 0, 'padded to whole records of 20 blocks');
  assert.ok(archive.equals(readFileSync(goldenUrl)), 'differs from test/fixtures/tar/holdfast-encoded.tar');
});

test('decodeTar(encodeTar(entries)) gives the entries and their data back', async () => {
  const items = goldenItems();
  const archive = await encodeAll(items);
  assert.deepEqual(concatenated(await decodeAll(archive)), concatenated(items));
  assert.deepEqual(concatenated(await decodeAll(archive, 7)), concatenated(items));
});

/** An archive's members: header block and data, by a reading independent of the codecs. */
function members(archive: Buffer): Array<{ header: Buffer; data: Buffer }> {
  const found: Array<{ header: Buffer; data: Buffer }> = [];
  for (let offset = 0; offset < archive.length && !archive.subarray(offset, offset + blockBytes).every((byte) => byte === 0); ) {
    const header = archive.subarray(offset, offset + blockBytes);
    const paddedBytes = Math.ceil(parseInt(header.toString('latin1', 124, 136), 8) / blockBytes) * blockBytes;
    found.push({ header, data: archive.subarray(offset + blockBytes, offset + blockBytes + paddedBytes) });
    offset += blockBytes + paddedBytes;
  }
  return found;
}

async function reencode(name: string): Promise<{ original: Buffer; ours: Buffer }> {
  const original = readFileSync(new URL(name, fixtures));
  return { original, ours: await encodeAll(await decodeAll(original)) };
}

test('encodeTar() gives back GNU tar\'s archive of the tree, but for hdrcharset on the name that is not UTF-8', async () => {
  const { original, ours } = await reencode('gnu-tree.tar');
  assert.equal(ours.length, original.length);
  const originalMembers = members(original);
  const ourMembers = members(ours);
  assert.equal(ourMembers.length, originalMembers.length);
  for (const [index, member] of ourMembers.entries()) {
    const theirs = originalMembers[index]!;
    if (!theirs.header.subarray(0, 100).toString('latin1').startsWith('tree/PaxHeaders/caf\xe9.txt')) {
      assert.ok(member.header.equals(theirs.header) && member.data.equals(theirs.data), `member ${index}: ${theirs.header.toString('latin1', 0, 100)}`);
      continue;
    }
    // GNU tar 1.34 writes the raw name alone; bsdtar refuses to extract that in a UTF-8 locale.
    const hdrcharset = Buffer.from('21 hdrcharset=BINARY\n');
    const theirRecords = theirs.data.toString('latin1').replace(/\0+$/, '');
    assert.equal(member.data.toString('latin1').replace(/\0+$/, ''), hdrcharset.toString('latin1') + theirRecords);
  }
});

test('encodeTar() gives back GNU tar\'s sparse archive, but for pid 0 in the sparse member\'s name', async () => {
  const { original, ours } = await reencode('gnu-sparse.tar');
  const pid = /GNUSparseFile\.(\d+)\//.exec(original.toString('latin1'))?.[1];
  assert.ok(pid !== undefined);
  const ourMembers = members(ours);
  const originalMembers = members(original);
  assert.equal(ours.length, original.length);
  for (const [index, member] of ourMembers.entries()) {
    const theirs = originalMembers[index]!;
    assert.ok(member.data.equals(theirs.data), `data of member ${index}`);
    // Outside the name (0-100) and the checksum (148-156) the header blocks are equal.
    assert.ok(member.header.subarray(100, 148).equals(theirs.header.subarray(100, 148)));
    assert.ok(member.header.subarray(156).equals(theirs.header.subarray(156)));
    const name = (header: Buffer): string => header.toString('latin1', 0, 100).replace(/\0+$/, '');
    assert.equal(name(member.header), name(theirs.header).replace(`GNUSparseFile.${pid}/`, 'GNUSparseFile.0/'));
  }
});

test('encodeTar() reports sockets and entries over the limits to onSkip and leaves them out', async () => {
  const skipped: string[] = [];
  const items = [
    item('socket', 'socket'),
    item('x'.repeat(5000), 'file'),
    item('big-xattr', 'file', { xattrs: [{ name: 'user.big', value: Buffer.alloc(70_000) }] }),
    item('kept', 'file', {}, [Buffer.from('kept')]),
  ];
  const archive = await encodeAll(items, skipped);
  assert.deepEqual(skipped, [
    'socket: a socket cannot be stored in a tar archive',
    `${'x'.repeat(5000)}: its path length in bytes is 5000, over the tar limit pathBytesMax = 4096`,
    'big-xattr: the value length of xattr "user.big" is 70000, over the tar limit xattrValueBytesMax = 65536',
  ]);
  assert.deepEqual((await decodeAll(archive)).map((decoded) => decoded.header.path.toString()), ['kept']);
});

test('encodeTar() passes data pieces through as they are, never gathering them', async () => {
  const pieces = [Buffer.alloc(100_000, 1), Buffer.alloc(3, 2)];
  const yielded: Buffer[] = [];
  for await (const piece of encodeTar(sourceOf([item('f', 'file', {}, pieces)]), { onSkip: () => assert.fail('nothing is skipped') })) yielded.push(piece);
  assert.equal(yielded[1], pieces[0]);
  assert.equal(yielded[2], pieces[1]);
  // headers, two pieces, padding to 512, then the end blocks and the record's padding.
  assert.equal(yielded.length, 5);
  assert.equal(yielded[3]!.length, 512 - (100_003 % 512));
  assert.equal(yielded.reduce((sum, piece) => sum + piece.length, 0) % 10_240, 0);
});

test('encodeTar() fails with HOLDFAST_SIZE_MISMATCH when a file gives fewer or more bytes than its size', async () => {
  for (const data of [[Buffer.alloc(10)], [Buffer.alloc(30)]]) {
    const items = [{ ...item('changed', 'file', {}, data), header: { ...item('changed', 'file').header, sizeBytes: 20 } }];
    await assert.rejects(encodeAll(items), (error: Error & { code?: string; path?: string }) => {
      assert.equal(error.code, 'HOLDFAST_SIZE_MISMATCH');
      assert.equal(error.path, 'changed');
      assert.match(error.message, /^Cannot write tar archive "changed": the source gave (more than )?\d+ data bytes for 20 promised$/);
      return true;
    });
  }
});
