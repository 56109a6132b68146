/**
 * Shows decodeTar() on damaged and hostile archives: a bad checksum, a lying pax length, input cut
 * inside data, padding, a header or before an entry's header, and sizes over tarLimits. Each fails
 * with its code, the entry's path and the byte, after every entry before it reached the sink
 * whole. Also the ends GNU tar 1.34 accepts (checked with it: a lone zero block, no zero blocks),
 * and paths passed raw for the restorer to judge. Damage is done to GNU tar's own archive
 * (gnu-tree.tar) at offsets found by a small scanner written here; hostile members are built
 * with the header codec.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { EntryHeader } from '../format/entry.js';
import { blockBytes, encodeHeader, type HeaderFields } from '../format/tar/header.js';
import { encodePaxRecords, type PaxRecord } from '../format/tar/pax.js';
import { bufferInput } from './byte-input.js';
import type { EntrySink } from './entry-pipe.js';
import { decodeTar } from './tar-decoder.js';

const gnuTree = readFileSync(new URL('../../test/fixtures/tar/gnu-tree.tar', import.meta.url));
const d150 = 'd'.repeat(150);

interface Member {
  offset: number;
  name: string;
  typeflag: string;
  sizeBytes: number;
}

/** The archive's members by a reading independent of the decoder: name field, typeflag, octal size. */
function members(archive: Buffer): Member[] {
  const found: Member[] = [];
  for (let offset = 0; offset + blockBytes <= archive.length; ) {
    const block = archive.subarray(offset, offset + blockBytes);
    if (block.every((byte) => byte === 0)) break;
    const name = block.toString('latin1', 0, 100).replace(/\0.*$/s, '');
    const sizeBytes = parseInt(block.toString('latin1', 124, 136), 8);
    found.push({ offset, name, typeflag: String.fromCharCode(block[156]!), sizeBytes });
    offset += blockBytes + Math.ceil(sizeBytes / blockBytes) * blockBytes;
  }
  return found;
}

function member(name: string, typeflag: string): Member {
  const found = members(gnuTree).find((item) => item.name === name && item.typeflag === typeflag);
  assert.ok(found !== undefined, `no member ${name}`);
  return found;
}

interface Recorded {
  complete: string[];
  /** An entry begun and not ended, and the data bytes it got so far. */
  begun: string | null;
  dataBytes: number;
}

function recordingSink(): EntrySink & { recorded: Recorded } {
  const recorded: Recorded = { complete: [], begun: null, dataBytes: 0 };
  return {
    recorded,
    beginEntry(header: EntryHeader) {
      recorded.begun = header.path.toString('latin1');
      recorded.dataBytes = 0;
      return Promise.resolve();
    },
    writeData(bytes: Buffer) {
      recorded.dataBytes += bytes.length;
      return Promise.resolve();
    },
    endEntry() {
      recorded.complete.push(recorded.begun!);
      recorded.begun = null;
      recorded.dataBytes = 0;
      return Promise.resolve();
    },
  };
}

/** The entries of gnu-tree.tar in order, as make-fixtures.sh made and sorted them. */
const treePaths = [
  'tree',
  'tree/before-1970',
  'tree/big-uid',
  'tree/blockdev',
  'tree/caf\xe9.txt',
  'tree/chardev',
  `tree/${d150}`,
  `tree/${d150}/${'e'.repeat(120)}`,
  `tree/${d150}/${'e'.repeat(120)}/long-file-name-that-makes-the-path-longer-than-255.txt`,
  `tree/${d150}/medium-name.txt`,
  'tree/fifo',
  'tree/hardlink',
  'tree/ns-mtime',
  'tree/original',
];

function pathsBefore(path: string): string[] {
  assert.ok(treePaths.includes(path));
  return treePaths.slice(0, treePaths.indexOf(path));
}

async function decodeExpectingFailure(archive: Buffer, expected: { code: string; path: string; message: RegExp }): Promise<Recorded> {
  const sink = recordingSink();
  await assert.rejects(decodeTar(bufferInput(archive, 'damaged.tar', 100), sink, { archiveName: 'damaged.tar' }), (error: Error & { code?: string; path?: string }) => {
    assert.equal(error.code, expected.code, error.message);
    assert.equal(error.path, expected.path);
    assert.match(error.message, expected.message);
    return true;
  });
  return sink.recorded;
}

test('decodeTar() rejects a corrupted checksum, naming the entry and byte, after delivering the entries before it', async () => {
  const fifo = member('tree/fifo', '6');
  const archive = Buffer.from(gnuTree);
  archive[fifo.offset + 60] = 0x41;
  const recorded = await decodeExpectingFailure(archive, {
    code: 'HOLDFAST_FORMAT_INVALID',
    path: 'tree/fifo',
    message: new RegExp(`^Cannot read tar archive "tree/fifo": the header at byte ${fifo.offset} has checksum 12674 \\(octal\\) but its bytes sum to 12775$`),
  });
  assert.deepEqual(recorded, { complete: pathsBefore('tree/fifo'), begun: null, dataBytes: 0 });
});

test('decodeTar() rejects a pax length that lies, naming the entry and the record\'s byte', async () => {
  const pax = member('tree/PaxHeaders/ns-mtime', 'x');
  const archive = Buffer.from(gnuTree);
  const dataOffset = pax.offset + blockBytes;
  assert.equal(archive.toString('latin1', dataOffset, dataOffset + 9), '30 mtime=');
  archive.write('31', dataOffset, 'latin1');
  const recorded = await decodeExpectingFailure(archive, {
    code: 'HOLDFAST_FORMAT_INVALID',
    path: 'tree/ns-mtime',
    message: new RegExp(`malformed pax record at byte ${dataOffset}: its length 31 does not end at a newline$`),
  });
  assert.deepEqual(recorded.complete, pathsBefore('tree/ns-mtime'));
  assert.equal(recorded.begun, null);
});

test('decodeTar() rejects input cut inside an entry\'s data; the entry was begun, not ended', async () => {
  const hardlink = member('tree/hardlink', '0');
  const cut = hardlink.offset + blockBytes + 5;
  const recorded = await decodeExpectingFailure(gnuTree.subarray(0, cut), {
    code: 'HOLDFAST_FORMAT_TRUNCATED',
    path: 'tree/hardlink',
    message: new RegExp(`the archive ends at byte ${cut} inside its data \\(5 of 13 bytes\\)$`),
  });
  assert.deepEqual(recorded, { complete: pathsBefore('tree/hardlink'), begun: 'tree/hardlink', dataBytes: 5 });
});

test('decodeTar() rejects input cut inside the padding after an entry\'s data', async () => {
  const hardlink = member('tree/hardlink', '0');
  const cut = hardlink.offset + blockBytes + 13 + 100;
  await decodeExpectingFailure(gnuTree.subarray(0, cut), {
    code: 'HOLDFAST_FORMAT_TRUNCATED',
    path: 'tree/hardlink',
    message: new RegExp(`the archive ends at byte ${cut} inside the padding after its data \\(100 of 499 bytes\\)$`),
  });
});

test('decodeTar() rejects input cut inside a header, naming what the header holds and the entry before', async () => {
  const fifo = member('tree/fifo', '6');
  const recorded = await decodeExpectingFailure(gnuTree.subarray(0, fifo.offset + 200), {
    code: 'HOLDFAST_FORMAT_TRUNCATED',
    path: 'tree/fifo',
    message: new RegExp(`the archive ends at byte ${fifo.offset + 200} inside a header \\(200 of 512 bytes\\), after the entry "tree/d{150}/medium-name.txt"$`),
  });
  assert.deepEqual(recorded.complete, pathsBefore('tree/fifo'));
});

test('decodeTar() rejects input cut after a pax header, naming the entry by its path record or the header', async () => {
  const deep = members(gnuTree).filter((item) => item.typeflag === 'x')[8]!;
  const deepPath = `tree/${d150}/${'e'.repeat(120)}/long-file-name-that-makes-the-path-longer-than-255.txt`;
  const cut = deep.offset + blockBytes + Math.ceil(deep.sizeBytes / blockBytes) * blockBytes;
  await decodeExpectingFailure(gnuTree.subarray(0, cut), {
    code: 'HOLDFAST_FORMAT_TRUNCATED',
    path: deepPath,
    message: new RegExp(`the archive ends at byte ${cut} after a pax or long-name header, before the member it describes$`),
  });
  const fifoPax = member('tree/PaxHeaders/fifo', 'x');
  const afterFifoPax = fifoPax.offset + 2 * blockBytes;
  await decodeExpectingFailure(Buffer.concat([gnuTree.subarray(0, afterFifoPax), Buffer.alloc(2 * blockBytes)]), {
    code: 'HOLDFAST_FORMAT_TRUNCATED',
    path: 'tree/PaxHeaders/fifo',
    message: new RegExp(`the end-of-archive block at byte ${afterFifoPax} follows a pax or long-name header`),
  });
});

test('decodeTar() accepts the ends GNU tar 1.34 accepts: one zero block, or none at a header boundary', async () => {
  const end = members(gnuTree).at(-1)!;
  const afterLast = end.offset + blockBytes;
  for (const archive of [gnuTree.subarray(0, afterLast + blockBytes), gnuTree.subarray(0, afterLast), Buffer.concat([gnuTree.subarray(0, afterLast + blockBytes), Buffer.from('junk after a zero block')])]) {
    const sink = recordingSink();
    assert.deepEqual(await decodeTar(bufferInput(archive), sink), { entryCount: 18 });
  }
  assert.deepEqual(await decodeTar(bufferInput(Buffer.alloc(0)), recordingSink()), { entryCount: 0 });
});

/** One member: a header with these fields, then its data padded to 512. */
function built(fields: Omit<Partial<HeaderFields>, 'name'> & { name: string }, data: Buffer = Buffer.alloc(0)): Buffer {
  const block = Buffer.alloc(blockBytes);
  encodeHeader(
    { mode: 0o644, uid: 0, gid: 0, sizeBytes: data.length, mtimeSeconds: 0n, typeflag: '0', linkName: null, userName: null, groupName: null, deviceMajor: 0, deviceMinor: 0, ...fields, name: Buffer.from(fields.name, 'latin1') },
    block,
  );
  return Buffer.concat([block, data, Buffer.alloc(Math.ceil(data.length / blockBytes) * blockBytes - data.length)]);
}

function paxMember(name: string, records: PaxRecord[], typeflag = 'x'): Buffer {
  return built({ name, typeflag }, encodePaxRecords(records));
}

const end = Buffer.alloc(2 * blockBytes);

test('decodeTar() refuses a pax header over paxHeaderBytesMax before reading it', async () => {
  const header = built({ name: 'PaxHeaders/huge', typeflag: 'x', sizeBytes: 2 * 1024 * 1024 });
  const recorded = await decodeExpectingFailure(Buffer.concat([built({ name: 'first' }, Buffer.from('x')), header]), {
    code: 'HOLDFAST_LIMIT_EXCEEDED',
    path: 'PaxHeaders/huge',
    message: /the pax header at byte 1024 is 2097152, over the limit paxHeaderBytesMax = 1048576$/,
  });
  assert.deepEqual(recorded.complete, ['first']);
});

test('decodeTar() refuses an xattr record over xattrValueBytesMax, naming the entry', async () => {
  const archive = Buffer.concat([paxMember('PaxHeaders/big', [{ key: 'SCHILY.xattr.user.big', value: Buffer.alloc(70_000, 0x61) }]), built({ name: 'big' }), end]);
  await decodeExpectingFailure(archive, { code: 'HOLDFAST_LIMIT_EXCEEDED', path: 'big', message: /the value of xattr "user.big" is 70000, over the limit xattrValueBytesMax = 65536$/ });
});

test('decodeTar() refuses a path over pathBytesMax', async () => {
  const archive = Buffer.concat([paxMember('PaxHeaders/long', [{ key: 'path', value: Buffer.alloc(5000, 0x61) }]), built({ name: 'long' }), end]);
  await decodeExpectingFailure(archive, { code: 'HOLDFAST_LIMIT_EXCEEDED', path: 'a'.repeat(5000), message: /the path length in bytes is 5000, over the limit pathBytesMax = 4096$/ });
});

test('decodeTar() rejects a NUL byte in a pax path, which no Linux name can hold', async () => {
  const archive = Buffer.concat([paxMember('PaxHeaders/nul', [{ key: 'path', value: Buffer.from('safe\0/../../etc') }]), built({ name: 'nul' }), end]);
  await decodeExpectingFailure(archive, { code: 'HOLDFAST_FORMAT_INVALID', path: 'safe\\x00/../../etc', message: /its path holds a NUL byte$/ });
});

test('decodeTar() rejects an ACL naming someone the lookup does not know, when no numeric form is there', async () => {
  const acl = Buffer.from('user::rw-\nuser:nobody-here:r--\ngroup::r--\nmask::r--\nother::---\n');
  const archive = Buffer.concat([paxMember('PaxHeaders/f', [{ key: 'SCHILY.acl.access', value: acl }]), built({ name: 'f' }), end]);
  await decodeExpectingFailure(archive, { code: 'HOLDFAST_FORMAT_INVALID', path: 'f', message: /its ACL names user "nobody-here", whom this system does not know/ });
});

test('decodeTar() rejects a sparse map whose extents do not add up to the member\'s data', async () => {
  const map = Buffer.alloc(blockBytes);
  map.write('1\n0\n100\n', 'latin1');
  const records = [
    { key: 'GNU.sparse.major', value: Buffer.from('1') },
    { key: 'GNU.sparse.minor', value: Buffer.from('0') },
    { key: 'GNU.sparse.name', value: Buffer.from('sparse') },
    { key: 'GNU.sparse.realsize', value: Buffer.from('1000') },
  ];
  const archive = Buffer.concat([paxMember('PaxHeaders/sparse', records), built({ name: 'GNUSparseFile.0/sparse' }, Buffer.concat([map, Buffer.alloc(50)])), end]);
  await decodeExpectingFailure(archive, { code: 'HOLDFAST_FORMAT_INVALID', path: 'sparse', message: /its sparse map holds 100 bytes of data but the member at byte 1024 has 50$/ });
});

async function decodePaths(archive: Buffer): Promise<EntryHeader[]> {
  const headers: EntryHeader[] = [];
  const sink: EntrySink = {
    beginEntry: (header) => (headers.push(header), Promise.resolve()),
    writeData: () => Promise.resolve(),
    endEntry: () => Promise.resolve(),
  };
  await decodeTar(bufferInput(archive), sink);
  return headers;
}

test('decodeTar() passes ".." and a leading "/" through raw for the restorer, and drops trailing slashes', async () => {
  const archive = Buffer.concat([
    built({ name: '../escape' }),
    built({ name: '/absolute/file' }),
    built({ name: 'directory///', typeflag: '5' }),
    built({ name: 'old-style-directory/' }),
    end,
  ]);
  const headers = await decodePaths(archive);
  assert.deepEqual(headers.map((header) => [header.path.toString(), header.type]), [
    ['../escape', 'file'],
    ['/absolute/file', 'file'],
    ['directory', 'directory'],
    ['old-style-directory', 'directory'],
  ]);
});

test('decodeTar() reads unknown typeflags as files, skips volume labels, and applies global pax records', async () => {
  const archive = Buffer.concat([
    built({ name: 'volume label', typeflag: 'V' }),
    paxMember('GlobalHead', [{ key: 'uname', value: Buffer.from('everyone') }, { key: 'mtime', value: Buffer.from('100.5') }], 'g'),
    built({ name: 'vendor-type', typeflag: 'Z' }, Buffer.from('data')),
    paxMember('PaxHeaders/own', [{ key: 'uname', value: Buffer.from('mine') }]),
    built({ name: 'own', userName: Buffer.from('field') }),
    paxMember('PaxHeaders/cleared', [{ key: 'uname', value: Buffer.alloc(0) }]),
    built({ name: 'cleared', userName: Buffer.from('field') }),
    end,
  ]);
  const headers = await decodePaths(archive);
  assert.deepEqual(
    headers.map((header) => [header.path.toString(), header.type, header.userName, header.mtimeNs, header.sizeBytes]),
    [
      ['vendor-type', 'file', 'everyone', 100_500_000_000n, 4],
      ['own', 'file', 'mine', 100_500_000_000n, 0],
      // An empty value removes the global record: the header's field counts again.
      ['cleared', 'file', 'field', 100_500_000_000n, 0],
    ],
  );
});

test('decodeTar() reads no data after a hard link or a directory whatever their size says, as GNU tar 1.34; a dump directory keeps its listing', async () => {
  const delivered: Array<[string, string, number]> = [];
  const sink: EntrySink = {
    beginEntry: (header) => (delivered.push([header.path.toString(), header.type, 0]), Promise.resolve()),
    writeData: (bytes) => ((delivered.at(-1)![2] += bytes.length), Promise.resolve()),
    endEntry: () => Promise.resolve(),
  };
  const archive = Buffer.concat([
    built({ name: 'original' }, Buffer.from('abc')),
    built({ name: 'link', typeflag: '1', linkName: Buffer.from('original'), sizeBytes: 3 }),
    built({ name: 'v7-directory/', typeflag: '\0', sizeBytes: 512 }),
    built({ name: 'directory', typeflag: '5', sizeBytes: 1024 }),
    built({ name: 'dump', typeflag: 'D' }, Buffer.from('Yfile\0\0')),
    built({ name: 'after' }, Buffer.from('z')),
    end,
  ]);
  assert.deepEqual(await decodeTar(bufferInput(archive), sink), { entryCount: 6 });
  assert.deepEqual(delivered, [
    ['original', 'file', 3],
    ['link', 'hardlink', 0],
    ['v7-directory', 'directory', 0],
    ['directory', 'directory', 0],
    ['dump', 'directory', 0],
    ['after', 'file', 1],
  ]);
});

test('decodeTar() reads a pax time with garbage after its number as GNU tar and bsdtar do, warning with the entry; no number is still refused', async () => {
  const warnings: string[] = [];
  const garbage = Buffer.concat([paxMember('PaxHeaders/late', [{ key: 'mtime', value: Buffer.from('1748089464.951928467a') }]), built({ name: 'late', mtimeSeconds: 7n }), end]);
  const headers: EntryHeader[] = [];
  const sink: EntrySink = { beginEntry: (header) => (headers.push(header), Promise.resolve()), writeData: () => Promise.resolve(), endEntry: () => Promise.resolve() };
  await decodeTar(bufferInput(garbage), sink, { onWarning: (path, message) => warnings.push(`${path}: ${message}`) });
  assert.equal(headers[0]?.mtimeNs, 1748089464_951928467n);
  assert.deepEqual(warnings, ['late: pax record mtime has "1748089464.951928467a": read as 1748089464.951928467, the "a" after it ignored, as GNU tar and bsdtar do']);
  const noNumber = Buffer.concat([paxMember('PaxHeaders/bad', [{ key: 'mtime', value: Buffer.from('a1748089464') }]), built({ name: 'bad' }), end]);
  await decodeExpectingFailure(noNumber, { code: 'HOLDFAST_FORMAT_INVALID', path: 'bad', message: /pax record mtime has "a1748089464", not a time in seconds/ });
});
