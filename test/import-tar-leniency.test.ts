/**
 * `holdfast import` reads tar archives from old and odd writers as GNU tar 1.34 and bsdtar 3.6
 * extract them (issue 23): numeric fields of blanks, a leading NUL before octal digits, a V7 hard
 * link and a V7 directory whose size fields are not zero (neither has data in the archive), a pax
 * time with trailing garbage, and parent directories the archive does not list.
 *
 * How: each test writes its small golden archive here, header by header (512-byte blocks with
 * their checksums, fields given as raw bytes so that blanks and NULs can be put where the writers
 * put them), then extracts it as root with `tar -xpf --numeric-owner` and, where it agrees,
 * `bsdtar -xpf --numeric-owner`, and imports it with the CLI as a user runs it. tree-manifest.py
 * (no holdfast code) must read the same entries, types, modes, owners, ns mtimes, contents and
 * hard-link groups in all of them. Where GNU tar itself complains (exit 2) but extracts, the test
 * says so. The umask is 022 here, which the tools started inherit.
 */
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { treeManifest, type TreeManifest } from '../src/test-support/compare-trees.js';
import { requireRoot, requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runTool } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

process.umask(0o022);

const blockBytes = 512;
const mtimeSeconds = 1_700_000_000;

/** Header fields as the bytes a writer put there; a string is latin1 and must fill its field. */
interface RawHeader {
  name: string;
  typeflag?: string;
  mode?: string;
  uid?: string;
  gid?: string;
  size?: string;
  mtime?: string;
  linkName?: string;
  /** 'ustar' writes "ustar\0" "00"; 'v7' leaves magic and version NUL, as tars before POSIX. */
  magic?: 'ustar' | 'v7';
}

/** Zero-padded octal digits ended by a NUL, filling a field of fieldBytes. */
function octal(value: number, fieldBytes: number): string {
  return `${value.toString(8).padStart(fieldBytes - 1, '0')}\0`;
}

function putField(block: Buffer, offset: number, fieldBytes: number, text: string): void {
  assert.ok(text.length <= fieldBytes, `"${text}" is longer than its ${fieldBytes}-byte field`);
  block.write(text, offset, fieldBytes, 'latin1');
}

/** One header block with its checksum: the byte sum with the checksum field as 8 spaces, "%06o\0 ". */
function header(raw: RawHeader, sizeBytes: number): Buffer {
  const block = Buffer.alloc(blockBytes);
  putField(block, 0, 100, raw.name);
  putField(block, 100, 8, raw.mode ?? octal(0o644, 8));
  putField(block, 108, 8, raw.uid ?? octal(1000, 8));
  putField(block, 116, 8, raw.gid ?? octal(1000, 8));
  putField(block, 124, 12, raw.size ?? octal(sizeBytes, 12));
  putField(block, 136, 12, raw.mtime ?? octal(mtimeSeconds, 12));
  putField(block, 148, 8, ' '.repeat(8));
  putField(block, 156, 1, raw.typeflag ?? '0');
  putField(block, 157, 100, raw.linkName ?? '');
  if ((raw.magic ?? 'ustar') === 'ustar') putField(block, 257, 8, 'ustar\x0000');
  let sum = 0;
  for (const byte of block) sum += byte;
  putField(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** A member: its header, then its data padded to whole blocks (none when data is empty). */
function member(raw: RawHeader, data = ''): Buffer {
  const bytes = Buffer.from(data, 'latin1');
  const padding = Buffer.alloc((blockBytes - (bytes.length % blockBytes)) % blockBytes);
  return Buffer.concat([header(raw, bytes.length), bytes, padding]);
}

/** A pax record "%d %s=%s\n", its length counting its own digits. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`.length;
  let length = rest + String(rest).length;
  if (String(length).length > String(rest).length) length++;
  return `${length} ${key}=${value}\n`;
}

function archive(...members: Buffer[]): Buffer {
  return Buffer.concat([...members, Buffer.alloc(2 * blockBytes)]);
}

interface Extractions {
  gnuTar: TreeManifest;
  bsdtar: TreeManifest;
  holdfast: TreeManifest;
  holdfastRun: HoldfastRun;
  gnuTarStderr: string;
}

/**
 * Writes `bytes` as an archive, extracts it with GNU tar (which must exit gnuTarExitCode) and
 * bsdtar, and imports it with holdfast (`extraArgs` added), which must exit 0.
 */
async function extractAll(directory: string, bytes: Buffer, gnuTarExitCode: 0 | 2, extraArgs: string[] = []): Promise<Extractions> {
  const archivePath = join(directory, 'golden.tar');
  writeFileSync(archivePath, bytes);
  const gnuTarTarget = join(directory, 'gnu-tar');
  const bsdtarTarget = join(directory, 'bsdtar');
  const holdfastTarget = join(directory, 'holdfast');
  const gnu = await runTool('sh', ['-c', `mkdir "$1" && tar -xpf "$2" -C "$1" --numeric-owner`, 'sh', gnuTarTarget, archivePath]);
  assert.equal(gnu.exitCode, gnuTarExitCode, `GNU tar: ${gnu.stderr}`);
  const bsd = await runTool('sh', ['-c', `mkdir "$1" && bsdtar -xpf "$2" -C "$1" --numeric-owner`, 'sh', bsdtarTarget, archivePath]);
  assert.equal(bsd.exitCode, 0, `bsdtar: ${bsd.stderr}`);
  const holdfastRun = await runHoldfast(['import', archivePath, '--target', holdfastTarget, '--numeric-owner', ...extraArgs]);
  assert.equal(holdfastRun.exitCode, 0, `holdfast import: ${holdfastRun.stderr}`);
  return {
    gnuTar: await treeManifest(gnuTarTarget),
    bsdtar: await treeManifest(bsdtarTarget),
    holdfast: await treeManifest(holdfastTarget),
    holdfastRun,
    gnuTarStderr: gnu.stderr,
  };
}

/** The manifest without the mtimes of `paths` (directories made at extraction, whose mtime is then). */
function withoutMtimes(manifest: TreeManifest, paths: string[]): TreeManifest['entries'] {
  const entries = structuredClone(manifest.entries);
  for (const path of paths) {
    const entry = entries[path];
    assert.ok(entry !== undefined, `no entry ${path}`);
    entry.mtime_ns = '';
  }
  return entries;
}

function needsTools(t: TestContext): boolean {
  return requireRoot(t) && requireTools(t, 'tar', 'bsdtar', 'python3');
}

test('import reads numeric fields of blanks as 0, as GNU tar and bsdtar do', async (t) => {
  if (!needsTools(t)) return;
  using directory = temporaryDirectory();
  const bytes = archive(
    // A Java archiver's uid: eight blanks. GNU tar says "Blanks in header" (exit 2) and extracts.
    member({ name: 'uid-of-blanks.txt', uid: ' '.repeat(8) }, 'blank uid\n'),
    // Blanks ended by a NUL: GNU tar reads 0 silently.
    member({ name: 'gid-of-blanks.txt', gid: `${' '.repeat(7)}\0` }, 'blank gid\n'),
    member({ name: 'mtime-of-blanks.txt', mtime: `${' '.repeat(11)}\0` }, 'blank mtime\n'),
    member({ name: 'size-of-blanks.txt', size: `${' '.repeat(11)}\0` }),
    member({ name: 'after.txt' }, 'after\n'),
  );
  const seen = await extractAll(directory.path, bytes, 2);
  assert.match(seen.gnuTarStderr, /Blanks in header where numeric uid_t value expected/);
  assert.deepEqual(seen.holdfast.entries, seen.gnuTar.entries);
  assert.deepEqual(seen.holdfast.entries, seen.bsdtar.entries);
  assert.deepEqual(Object.keys(seen.holdfast.entries).sort(), ['after.txt', 'gid-of-blanks.txt', 'mtime-of-blanks.txt', 'size-of-blanks.txt', 'uid-of-blanks.txt']);
  assert.equal(seen.holdfast.entries['uid-of-blanks.txt']?.uid, 0);
  assert.equal(seen.holdfast.entries['gid-of-blanks.txt']?.gid, 0);
  assert.equal(seen.holdfast.entries['mtime-of-blanks.txt']?.mtime_ns, '0');
  assert.equal(seen.holdfast.entries['size-of-blanks.txt']?.size, 0);
});

test('import skips one leading NUL before octal digits and reads a field that opens with more NULs as 0, as GNU tar does', async (t) => {
  if (!needsTools(t)) return;
  await t.test('one NUL, then 11 digits filling the size field: GNU tar reads 14 (bsdtar reads 0 and disagrees)', async () => {
    using directory = temporaryDirectory();
    const bytes = archive(member({ name: 'one-nul.txt', size: `\0${'16'.padStart(11, '0')}` }, 'fourteen bytes'), member({ name: 'after.txt' }, 'after\n'));
    const seen = await extractAll(directory.path, bytes, 0);
    assert.deepEqual(seen.holdfast.entries, seen.gnuTar.entries);
    assert.equal(seen.holdfast.entries['one-nul.txt']?.size, 14);
  });
  await t.test('NULs, then digits: the NUL after the first ends the number, both tools read 0', async () => {
    using directory = temporaryDirectory();
    const bytes = archive(
      member({ name: 'nul-uid.txt', uid: '\x00\x00\x001750\x00' }, 'uid\n'),
      member({ name: 'nul-size.txt', size: '\0\0\0\0\0\0\0' + '0000\0' }),
      member({ name: 'after.txt' }, 'after\n'),
    );
    const seen = await extractAll(directory.path, bytes, 0);
    assert.deepEqual(seen.holdfast.entries, seen.gnuTar.entries);
    assert.deepEqual(seen.holdfast.entries, seen.bsdtar.entries);
    assert.equal(seen.holdfast.entries['nul-uid.txt']?.uid, 0);
    assert.deepEqual(Object.keys(seen.holdfast.entries).sort(), ['after.txt', 'nul-size.txt', 'nul-uid.txt']);
  });
});

test('import reads a V7 hard link whose size field is not zero as a link without data', async (t) => {
  if (!needsTools(t)) return;
  using directory = temporaryDirectory();
  const bytes = archive(
    member({ name: 'original.txt', magic: 'v7' }, 'linked data\n'),
    // The size field repeats the original's size; no data follows, the next header does.
    header({ name: 'link.txt', typeflag: '1', linkName: 'original.txt', magic: 'v7' }, 12),
    member({ name: 'after.txt', magic: 'v7' }, 'after\n'),
  );
  const seen = await extractAll(directory.path, bytes, 0);
  assert.deepEqual(seen.holdfast.entries, seen.gnuTar.entries);
  assert.deepEqual(seen.holdfast.entries, seen.bsdtar.entries);
  assert.equal(seen.holdfast.entries['link.txt']?.link_group, 'link.txt');
  assert.equal(seen.holdfast.entries['original.txt']?.link_group, 'link.txt');
  assert.equal(seen.holdfast.entries['after.txt']?.size, 6);
});

test('import reads a V7 directory (a regular-file typeflag, a name ending in "/", a non-zero size) without data', async (t) => {
  if (!needsTools(t)) return;
  using directory = temporaryDirectory();
  const bytes = archive(
    header({ name: 'old-directory/', typeflag: '\0', mode: octal(0o750, 8), magic: 'v7' }, 512),
    member({ name: 'old-directory/inside.txt', typeflag: '\0', magic: 'v7' }, 'inside\n'),
    header({ name: 'zero-typeflag-directory/', typeflag: '0', mode: octal(0o755, 8), magic: 'v7' }, 4096),
    member({ name: 'zero-typeflag-directory/inside.txt', typeflag: '0', magic: 'v7' }, 'inside too\n'),
  );
  const seen = await extractAll(directory.path, bytes, 0);
  assert.deepEqual(seen.holdfast.entries, seen.gnuTar.entries);
  assert.deepEqual(seen.holdfast.entries, seen.bsdtar.entries);
  assert.deepEqual(Object.keys(seen.holdfast.entries).sort(), ['old-directory', 'old-directory/inside.txt', 'zero-typeflag-directory', 'zero-typeflag-directory/inside.txt']);
  assert.equal(seen.holdfast.entries['old-directory']?.type, 'directory');
  assert.equal(seen.holdfast.entries['old-directory']?.mode, 0o750);
});

test('import reads a pax mtime with trailing garbage by its number, as GNU tar and bsdtar do, and warns naming the entry', async (t) => {
  if (!needsTools(t)) return;
  using directory = temporaryDirectory();
  const records = paxRecord('mtime', '1748089464.951928467a');
  const bytes = archive(member({ name: 'PaxHeaders/garbage-mtime.txt', typeflag: 'x' }, records), member({ name: 'garbage-mtime.txt' }, 'pax\n'), member({ name: 'after.txt' }, 'after\n'));
  const seen = await extractAll(directory.path, bytes, 0);
  assert.deepEqual(seen.holdfast.entries, seen.gnuTar.entries);
  assert.deepEqual(seen.holdfast.entries, seen.bsdtar.entries);
  assert.equal(seen.holdfast.entries['garbage-mtime.txt']?.mtime_ns, '1748089464951928467');
  assert.match(seen.holdfastRun.stderr, /garbage-mtime\.txt.*pax record mtime.*"a"/);
});

test('import creates parent directories the archive does not list 0777 less the umask, as tar does, and 0700 with --private-parents', async (t) => {
  if (!needsTools(t)) return;
  using directory = temporaryDirectory();
  const bytes = archive(member({ name: 'implicit/deeper/file.txt' }, 'deep\n'), member({ name: 'listed/', typeflag: '5', mode: octal(0o711, 8) }), member({ name: 'listed/implicit/file.txt' }, 'deep too\n'));
  const implicit = ['implicit', 'implicit/deeper', 'listed/implicit'];
  const seen = await extractAll(directory.path, bytes, 0);
  assert.deepEqual(withoutMtimes(seen.holdfast, implicit), withoutMtimes(seen.gnuTar, implicit));
  assert.deepEqual(withoutMtimes(seen.holdfast, implicit), withoutMtimes(seen.bsdtar, implicit));
  for (const path of implicit) assert.equal(seen.holdfast.entries[path]?.mode, 0o755, path);

  const strictTarget = join(directory.path, 'private');
  const run = await runHoldfast(['import', join(directory.path, 'golden.tar'), '--target', strictTarget, '--private-parents']);
  assert.equal(run.exitCode, 0, run.stderr);
  for (const path of implicit) assert.equal(statSync(join(strictTarget, path)).mode & 0o7777, 0o700, path);
  assert.equal(statSync(join(strictTarget, 'listed')).mode & 0o7777, 0o711);
});
