/**
 * A damaged repository, as a user meets it: `check --read-data` names exactly the snapshots and
 * files a missing, truncated or bit-flipped pack, index file, snapshot file or key file damages;
 * `restore` of a damaged snapshot restores every intact file byte for byte and names (and leaves
 * out) the others with exit code 3; `repair index` rebuilds a lost index from the packs' own
 * headers (and a kill between writing the new index and removing the old one leaves duplicates
 * that check accepts); `repair index` + `repair snapshots --forget` after a lost pack leave a
 * repository that check accepts and whose repaired snapshot restores the intact files exactly.
 *
 * How: the real CLI (its own process, from the sources) backs up a small tree twice into one
 * repository: snapshot 1 = big.bin (1.5 MiB of random bytes, so a few chunks of 0.5 to 1 MiB),
 * a.txt and sub/c.txt; snapshot 2 changes a.txt and adds sub/d.txt, so it shares big.bin and
 * c.txt with snapshot 1. Each backup writes one pack and one index file of its own, so "pack 1"
 * holds big.bin, a.txt (first version), c.txt and snapshot 1's tree. A second password adds a
 * second key file. Each case damages a fresh copy (cp -a) of that repository.
 *
 * The expected damage comes from the test's own design, not from holdfast's tracing: the
 * repository is opened through the library only to learn where each blob sits in pack 1 (its
 * offset, stored size, type and raw size); a blob is then known by its type and raw size alone
 * (the tree blob; big.bin's chunks are the only ones over 1,000 bytes; a.txt and c.txt have
 * distinct sizes), which says which files of which snapshot a lost blob damages.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TraceRecorder, withRepository } from '../src/api/internal.js';
import { decodeIndex, encodeIndex } from '../src/format/repo/index-codec.js';
import { compareTrees } from '../src/test-support/compare-trees.js';
import { type HoldfastRun, jsonLines, runHoldfast, summaryOf } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const password = 'corruption test password';
const secondPassword = 'the second key';
const exitFatal = 1;
const exitPartial = 3;
const exitWrongPassword = 12;

/** What a blob of pack 1 is, by the test's design. */
type Meaning = 'tree 1' | 'big.bin' | 'a.txt 1' | 'c.txt';

interface BlobPlace {
  meaning: Meaning;
  offsetBytes: number;
  storedBytes: number;
}

interface Expected {
  exitCode: number;
  damagedSnapshots: string[];
  /** "snapshot id:path". */
  damagedFiles: string[];
  /** Subjects of problems that must be among those reported ("pack 3fa1...", "key 9c2e..."). */
  subjects: string[];
}

const contents = {
  aFirst: 'alpha, first version\n',
  aSecond: 'alpha, second and longer version\n',
  c: 'gamma, unchanged\n',
  d: 'delta, added\n',
};

function environment(repository: string, directory: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(directory, 'cache'), ...extra };
}

function namesIn(directory: string): string[] {
  return readdirSync(directory).filter((name) => /^[0-9a-f]{64}$/.test(name));
}

function packPath(repository: string, name: string): string {
  return join(repository, 'data', name.slice(0, 2), name);
}

function allPacks(repository: string): string[] {
  return readdirSync(join(repository, 'data')).flatMap((prefix) => namesIn(join(repository, 'data', prefix)));
}

async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0x10;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** Where each blob of `packName` sits, read through the library, and what it is by the test's design. */
async function layoutOf(repository: string, packName: string): Promise<BlobPlace[]> {
  const recorder = new TraceRecorder();
  try {
    return await withRepository({ location: repository, password: Buffer.from(password), recorder }, (session) => {
      const places: BlobPlace[] = [];
      for (const blob of session.repository.index.entries()) {
        if (blob.packId.toString('hex') !== packName) continue;
        const meaning: Meaning | null = blob.type === 'tree' ? 'tree 1' : blob.rawBytes > 1000 ? 'big.bin' : blob.rawBytes === contents.aFirst.length ? 'a.txt 1' : blob.rawBytes === contents.c.length ? 'c.txt' : null;
        assert.ok(meaning !== null, `pack 1 holds a blob the test did not make (${blob.type}, ${blob.rawBytes} bytes)`);
        places.push({ meaning, offsetBytes: blob.offsetBytes, storedBytes: blob.storedBytes });
      }
      return Promise.resolve(places.sort((a, b) => a.offsetBytes - b.offsetBytes));
    });
  } finally {
    recorder.close();
  }
}

interface Fixture {
  directory: string;
  root: string;
  built: string;
  first: string;
  second: string;
  pack1: string;
  index1: string;
  keyFirst: string;
  keySecond: string;
  layout: BlobPlace[];
  /** Copies damaged by earlier tests that later ones use again. */
  flippedData: string;
  flippedTree: string;
}

let fixture: Fixture;
let directoryHandle: { path: string; [Symbol.dispose](): void } | null = null;
let copies = 0;

async function ok(args: string[], repository = fixture.built, extra: NodeJS.ProcessEnv = {}): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env: environment(repository, fixture.directory, extra) });
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run;
}

async function damagedCopy(damage: (repository: string) => Promise<void> | void): Promise<string> {
  const copy = join(fixture.directory, `copy-${copies++}`);
  await runToolOrFail('cp', ['-a', fixture.built, copy]);
  await damage(copy);
  return copy;
}

/** Which snapshots and files losing these blobs of pack 1 damages, by the test's design. */
function damageOf(lost: ReadonlySet<Meaning>): Pick<Expected, 'damagedSnapshots' | 'damagedFiles'> {
  const { first, second } = fixture;
  const snapshots: string[] = [];
  const files: string[] = [];
  // check names a file by its absolute path, as the snapshot keeps it.
  const firstFiles: [Meaning, string][] = [['big.bin', `${fixture.root}/big.bin`], ['a.txt 1', `${fixture.root}/a.txt`], ['c.txt', `${fixture.root}/sub/c.txt`]];
  const secondFiles: [Meaning, string][] = [['big.bin', `${fixture.root}/big.bin`], ['c.txt', `${fixture.root}/sub/c.txt`]];
  if (lost.has('tree 1')) snapshots.push(first);
  else if (firstFiles.some(([meaning]) => lost.has(meaning))) {
    snapshots.push(first);
    for (const [meaning, path] of firstFiles) if (lost.has(meaning)) files.push(`${first}:${path}`);
  }
  if (secondFiles.some(([meaning]) => lost.has(meaning))) {
    snapshots.push(second);
    for (const [meaning, path] of secondFiles) if (lost.has(meaning)) files.push(`${second}:${path}`);
  }
  return { damagedSnapshots: snapshots, damagedFiles: files };
}

const everything: ReadonlySet<Meaning> = new Set<Meaning>(['tree 1', 'big.bin', 'a.txt 1', 'c.txt']);
const nothing = { damagedSnapshots: [], damagedFiles: [] };

/** Damages a fresh copy, runs check --read-data --json (or `args`) on it and compares with `expected`; returns the copy. */
async function checkDamaged(damage: (repository: string) => Promise<void> | void, expected: () => Expected, args = ['check', '--read-data', '--json']): Promise<string> {
  const copy = await damagedCopy(damage);
  const wanted = expected();
  const run = await runHoldfast(args, { env: environment(copy, fixture.directory) });
  assert.equal(run.exitCode, wanted.exitCode, `check exited ${run.exitCode}: ${run.stderr}`);
  if (wanted.exitCode === exitWrongPassword) return copy;
  const summary = summaryOf(run);
  assert.deepEqual([...(summary['damagedSnapshots'] as string[])].sort(), [...wanted.damagedSnapshots].sort(), 'the damaged snapshots');
  const files = (summary['damagedFiles'] as { snapshotId: string; path: string }[]).map((file) => `${file.snapshotId}:${file.path}`);
  assert.deepEqual(files.sort(), [...wanted.damagedFiles].sort(), 'the damaged files');
  const subjects = jsonLines(run).filter((line) => line['type'] === 'refused').map((line) => String(line['path']));
  for (const subject of wanted.subjects) assert.ok(subjects.includes(subject), `"${subject}" is among the problems: ${JSON.stringify(subjects)}`);
  if (wanted.exitCode === 0) assert.equal(summary['problems'], 0);
  return copy;
}

before(async () => {
  directoryHandle = temporaryDirectory();
  const directory = directoryHandle.path;
  const root = join(directory, 'tree');
  const built = join(directory, 'built');
  fixture = { directory, root, built, first: '', second: '', pack1: '', index1: '', keyFirst: '', keySecond: '', layout: [], flippedData: '', flippedTree: '' };
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'big.bin'), randomBytes(1536 * 1024));
  writeFileSync(join(root, 'a.txt'), contents.aFirst);
  writeFileSync(join(root, 'sub', 'c.txt'), contents.c);
  await ok(['init']);
  fixture.keyFirst = namesIn(join(built, 'keys'))[0]!;
  fixture.first = String(summaryOf(await ok(['backup', root, '--json']))['snapshot']);
  fixture.pack1 = allPacks(built)[0]!;
  fixture.index1 = namesIn(join(built, 'index'))[0]!;
  writeFileSync(join(root, 'a.txt'), contents.aSecond);
  writeFileSync(join(root, 'sub', 'd.txt'), contents.d);
  fixture.second = String(summaryOf(await ok(['backup', root, '--json']))['snapshot']);
  await ok(['key', 'add'], built, { HOLDFAST_NEW_PASSWORD: secondPassword });
  fixture.keySecond = namesIn(join(built, 'keys')).find((name) => name !== fixture.keyFirst)!;
  assert.equal(allPacks(built).length, 2, 'each backup wrote one pack');
  assert.equal(namesIn(join(built, 'index')).length, 2, 'each backup wrote one index file');
  fixture.layout = await layoutOf(built, fixture.pack1);
  assert.deepEqual([...new Set(fixture.layout.map((place) => place.meaning))].sort(), ['a.txt 1', 'big.bin', 'c.txt', 'tree 1']);
});

after(() => directoryHandle?.[Symbol.dispose]());

const packFile = (copy: string): string => packPath(copy, fixture.pack1);
const packSubject = (): string => `pack ${fixture.pack1.slice(0, 16)}`;
const largestBlob = (): BlobPlace => fixture.layout.reduce((a, b) => (b.storedBytes > a.storedBytes ? b : a));
/** The middle of big.bin's largest chunk. */
const cutBytes = (): number => largestBlob().offsetBytes + Math.floor(largestBlob().storedBytes / 2);
const treeBlob = (): BlobPlace => fixture.layout.find((place) => place.meaning === 'tree 1')!;

test('the intact repository passes check --read-data', async () => {
  const summary = summaryOf(await ok(['check', '--read-data', '--json']));
  assert.equal(summary['problems'], 0);
  assert.equal(summary['keyFiles'], 2);
});

test('check: a missing pack damages every file that needs one of its blobs', async () => {
  await checkDamaged((copy) => rmSync(packFile(copy)), () => ({ exitCode: exitFatal, ...damageOf(everything), subjects: [packSubject()] }));
});

test('check: a truncated pack damages the files whose blobs lay past the cut', async () => {
  const cutOff = new Set(fixture.layout.filter((place) => place.offsetBytes + place.storedBytes > cutBytes()).map((place) => place.meaning));
  await checkDamaged((copy) => truncateSync(packFile(copy), cutBytes()), () => ({ exitCode: exitFatal, ...damageOf(cutOff), subjects: [packSubject()] }));
});

test('check: a flipped byte in a chunk damages the files of that chunk', async () => {
  fixture.flippedData = await checkDamaged((copy) => flipByte(packFile(copy), cutBytes()), () => ({ exitCode: exitFatal, ...damageOf(new Set(['big.bin'])), subjects: [packSubject()] }));
});

test('check: a flipped byte in a tree blob damages its snapshot, whose files are then unknown', async () => {
  fixture.flippedTree = await checkDamaged(
    (copy) => flipByte(packFile(copy), treeBlob().offsetBytes + Math.floor(treeBlob().storedBytes / 2)),
    () => ({ exitCode: exitFatal, ...damageOf(new Set(['tree 1'])), subjects: [packSubject()] }),
  );
});

// Plain check (no --read-data) reads every pack's header from its end and compares it with the
// index: a pack whose header does not read restores through the index today, but `repair index`
// could not rebuild its entries, so it is damage, named with the snapshots that need the pack.
// Only a flipped byte inside a blob needs --read-data (the test above).
const plainCheck = ['check', '--json'];

/** Plain check of a damaged copy: exit 1, and the pack named as unreadable with both snapshots (pack 1 holds blobs of each). */
async function checkHeaderDamage(damage: (repository: string) => Promise<void> | void, lost: ReadonlySet<Meaning>): Promise<void> {
  const copy = await checkDamaged(damage, () => ({ exitCode: exitFatal, ...damageOf(lost), subjects: [packSubject()] }), plainCheck);
  const run = await runHoldfast(plainCheck, { env: environment(copy, fixture.directory) });
  const unreadable = jsonLines(run).filter((line) => line['type'] === 'refused' && line['path'] === packSubject() && String(line['message']).includes('header cannot be read'));
  assert.equal(unreadable.length, 1, JSON.stringify(jsonLines(run)));
  const message = String(unreadable[0]!['message']);
  for (const id of [fixture.first, fixture.second]) assert.ok(message.includes(id.slice(0, 8)), `snapshot ${id.slice(0, 8)} is named: ${message}`);
}

test('check without --read-data: a pack cut short by its last 4 bytes is named with the snapshots that need it', async () => {
  await checkHeaderDamage((copy) => truncateSync(packFile(copy), statSync(packFile(copy)).size - 4), new Set());
});

test('check without --read-data: a pack cut in half is named, and the files past the cut are damaged', async () => {
  const cutOff = new Set(fixture.layout.filter((place) => place.offsetBytes + place.storedBytes > cutBytes()).map((place) => place.meaning));
  await checkHeaderDamage((copy) => truncateSync(packFile(copy), cutBytes()), cutOff);
});

test('check without --read-data: a flipped byte in a pack header is named', async () => {
  await checkHeaderDamage((copy) => flipByte(packFile(copy), statSync(packFile(copy)).size - 10), new Set());
});

test('check without --read-data: garbage appended to a pack is named', async () => {
  await checkHeaderDamage((copy) => writeFileSync(packFile(copy), randomBytes(100), { flag: 'a' }), new Set());
});

/** Rewrites pack 1's index file (sealed anew) with a.txt's first version placed where c.txt is. */
async function misplaceInIndex(copy: string): Promise<void> {
  const recorder = new TraceRecorder();
  try {
    await withRepository({ location: copy, password: Buffer.from(password), recorder, loadIndex: false }, async ({ repository }) => {
      const packs = decodeIndex(await repository.loadSealed('index', fixture.index1), fixture.index1);
      const c = fixture.layout.find((place) => place.meaning === 'c.txt')!;
      const a = fixture.layout.find((place) => place.meaning === 'a.txt 1')!;
      const blob = packs.flatMap((pack) => pack.blobs).find((entry) => entry.offsetBytes === a.offsetBytes)!;
      blob.offsetBytes = c.offsetBytes;
      await repository.saveSealed('index', encodeIndex(packs));
      await repository.backend.remove('index', fixture.index1);
    });
  } finally {
    recorder.close();
  }
}

test('check without --read-data: an index entry its pack header contradicts is named, and its files are damaged', async () => {
  const copy = await checkDamaged(misplaceInIndex, () => ({ exitCode: exitFatal, ...damageOf(new Set(['a.txt 1'])), subjects: [packSubject()] }), plainCheck);
  const run = await runHoldfast(plainCheck, { env: environment(copy, fixture.directory) });
  assert.ok(
    jsonLines(run).some((line) => line['path'] === packSubject() && String(line['message']).includes('its header contradicts the index')),
    JSON.stringify(jsonLines(run)),
  );
});

test('check without --read-data: a flipped byte inside a blob is not seen (only --read-data reads blobs)', async () => {
  await checkDamaged((copy) => flipByte(packFile(copy), cutBytes()), () => ({ exitCode: 0, ...nothing, subjects: [] }), plainCheck);
});

// Index files: the blobs only the damaged one named are missing.
const indexPath = (copy: string): string => join(copy, 'index', fixture.index1);
const indexSubject = (): string => `index ${fixture.index1.slice(0, 16)}`;

test('check: a missing index file: the blobs it alone named are missing', async () => {
  await checkDamaged((copy) => rmSync(indexPath(copy)), () => ({ exitCode: exitFatal, ...damageOf(everything), subjects: [] }));
});

test('check: a truncated index file is named, and the blobs it alone named are missing', async () => {
  await checkDamaged((copy) => truncateSync(indexPath(copy), Math.floor(statSync(indexPath(copy)).size / 2)), () => ({ exitCode: exitFatal, ...damageOf(everything), subjects: [indexSubject()] }));
});

test('check: a flipped byte in an index file is named, and the blobs it alone named are missing', async () => {
  await checkDamaged((copy) => flipByte(indexPath(copy), Math.floor(statSync(indexPath(copy)).size / 2)), () => ({ exitCode: exitFatal, ...damageOf(everything), subjects: [indexSubject()] }));
});

// Snapshot files. A missing one cannot be told from a forgotten one: nothing refers to it.
const snapshotPath = (copy: string): string => join(copy, 'snapshots', fixture.first);
const snapshotSubject = (): string => `snapshot ${fixture.first.slice(0, 8)}`;

test('check: a missing snapshot file is not damage check can see (as after forget)', async () => {
  await checkDamaged((copy) => rmSync(snapshotPath(copy)), () => ({ exitCode: 0, ...nothing, subjects: [] }));
});

test('check: a truncated snapshot file is named by its id', async () => {
  await checkDamaged((copy) => truncateSync(snapshotPath(copy), Math.floor(statSync(snapshotPath(copy)).size / 2)), () => ({ exitCode: exitFatal, damagedSnapshots: [fixture.first], damagedFiles: [], subjects: [snapshotSubject()] }));
});

test('check: a flipped byte in a snapshot file is named by its id', async () => {
  await checkDamaged((copy) => flipByte(snapshotPath(copy), Math.floor(statSync(snapshotPath(copy)).size / 2)), () => ({ exitCode: exitFatal, damagedSnapshots: [fixture.first], damagedFiles: [], subjects: [snapshotSubject()] }));
});

// Key files: a damaged one damages no snapshot, but is a problem; the other key still opens.
const keyPath = (copy: string, name: string): string => join(copy, 'keys', name);
const keySubject = (): string => `key ${fixture.keySecond.slice(0, 16)}`;

test('check: a missing key file of the password given: the repository does not open (exit 12)', async () => {
  await checkDamaged((copy) => rmSync(keyPath(copy, fixture.keyFirst)), () => ({ exitCode: exitWrongPassword, ...nothing, subjects: [] }));
});

test('check: a missing key file of another password is not damage check can see (as after key remove)', async () => {
  await checkDamaged((copy) => rmSync(keyPath(copy, fixture.keySecond)), () => ({ exitCode: 0, ...nothing, subjects: [] }));
});

test('check: a truncated key file is named, and the other key still opens the repository', async () => {
  await checkDamaged((copy) => truncateSync(keyPath(copy, fixture.keySecond), Math.floor(statSync(keyPath(copy, fixture.keySecond)).size / 2)), () => ({ exitCode: exitFatal, ...nothing, subjects: [keySubject()] }));
});

test('check: a flipped byte in a key file is named', async () => {
  await checkDamaged((copy) => flipByte(keyPath(copy, fixture.keySecond), Math.floor(statSync(keyPath(copy, fixture.keySecond)).size / 2)), () => ({ exitCode: exitFatal, ...nothing, subjects: [keySubject()] }));
});

test('restore of a damaged snapshot restores every intact file exactly and names the others (exit 3)', async () => {
  const { directory, root, first } = fixture;
  const copy = fixture.flippedData !== '' ? fixture.flippedData : await damagedCopy((repository) => flipByte(packFile(repository), cutBytes()));
  const target = join(directory, 'restore-damaged');
  const run = await runHoldfast(['restore', 'latest', '--target', target, '--json'], { env: environment(copy, directory) });
  assert.equal(run.exitCode, exitPartial, run.stderr);
  const notRestored = jsonLines(run).filter((line) => line['type'] === 'not-restored');
  assert.deepEqual(
    notRestored.map((line) => line['path']),
    // Named as restored below the target: the absolute path without its leading "/".
    [`${root.slice(1)}/big.bin`],
  );
  assert.equal(notRestored[0]!['code'], 'HOLDFAST_INTEGRITY');
  assert.equal(existsSync(join(target, fixture.root, 'big.bin')), false, 'no half-written file is left');
  for (const name of ['a.txt', 'sub/c.txt', 'sub/d.txt']) assert.deepEqual(readFileSync(join(target, fixture.root, name)), readFileSync(join(root, name)), name);
  assert.equal(summaryOf(run)['entriesNotRestored'], 1);

  const older = join(directory, 'restore-damaged-first');
  const text = await runHoldfast(['restore', first.slice(0, 8), '--target', older], { env: environment(copy, directory) });
  assert.equal(text.exitCode, exitPartial, text.stderr);
  assert.deepEqual(
    text.stderr
      .split('\n')
      .filter((line) => line.startsWith('not restored: '))
      .map((line) => line.split(': ').slice(0, 2).join(': ')),
    [`not restored: ${root.slice(1)}/big.bin`],
  );
  assert.equal(readFileSync(join(older, fixture.root, 'a.txt'), 'utf8'), contents.aFirst);
  assert.equal(readFileSync(join(older, fixture.root, 'sub', 'c.txt'), 'utf8'), contents.c);
  assert.equal(existsSync(join(older, fixture.root, 'big.bin')), false);
});

test('restore of a snapshot whose tree cannot be read says so (exit 3)', async () => {
  const copy = fixture.flippedTree !== '' ? fixture.flippedTree : await damagedCopy((repository) => flipByte(packFile(repository), treeBlob().offsetBytes + Math.floor(treeBlob().storedBytes / 2)));
  const run = await runHoldfast(['restore', fixture.first.slice(0, 8), '--target', join(fixture.directory, 'restore-tree'), '--json'], { env: environment(copy, fixture.directory) });
  assert.equal(run.exitCode, exitPartial, run.stderr);
  const unreadable = jsonLines(run).filter((line) => line['type'] === 'tree-unreadable');
  assert.equal(unreadable.length, 1, JSON.stringify(jsonLines(run)));
  assert.equal(summaryOf(run)['treesUnreadable'], 1);
});

test('repair index rebuilds a lost index from the packs: check passes and restore is exact', async () => {
  const copy = await damagedCopy((repository) => {
    for (const name of namesIn(join(repository, 'index'))) rmSync(join(repository, 'index', name));
  });
  const repaired = summaryOf(await ok(['repair', 'index', '--json'], copy));
  assert.equal(repaired['packsRead'], 2);
  assert.equal(repaired['indexFilesWritten'], 1);
  assert.equal(summaryOf(await ok(['check', '--read-data', '--json'], copy))['problems'], 0);
  const target = join(fixture.directory, 'restore-reindexed');
  await ok(['restore', 'latest', '--target', target], copy);
  assert.deepEqual(await compareTrees(fixture.root, join(target, fixture.root)), []);
});

test('a repair index killed before it removed the old index files leaves a repository check accepts', async () => {
  const copy = await damagedCopy(() => undefined);
  const old = namesIn(join(copy, 'index')).map((name) => [name, readFileSync(join(copy, 'index', name))] as const);
  await ok(['repair', 'index'], copy);
  // The old files back beside the new one: what a kill after the new index was durable leaves.
  for (const [name, bytes] of old) writeFileSync(join(copy, 'index', name), bytes, { mode: 0o600 });
  assert.equal(namesIn(join(copy, 'index')).length, 3, 'every blob is indexed twice');
  assert.equal(summaryOf(await ok(['check', '--read-data', '--json'], copy))['problems'], 0);
  const target = join(fixture.directory, 'restore-duplicates');
  await ok(['restore', 'latest', '--target', target], copy);
  assert.deepEqual(await compareTrees(fixture.root, join(target, fixture.root)), []);
});

test('repair index keeps the old index entries of a pack whose header is damaged', async () => {
  const copy = await damagedCopy((repository) => flipByte(packFile(repository), statSync(packFile(repository)).size - 10));
  const run = await ok(['repair', 'index', '--json'], copy);
  const summary = summaryOf(run);
  assert.equal(summary['packsRead'], 1);
  assert.equal(summary['packsKeptFromOldIndex'], 1);
  assert.equal(summary['packsLost'], 0);
  assert.ok(jsonLines(run).some((line) => line['type'] === 'skipped' && line['path'] === packSubject()), 'the pack is named');
  const target = join(fixture.directory, 'restore-salvaged');
  await ok(['restore', 'latest', '--target', target], copy);
  assert.deepEqual(await compareTrees(fixture.root, join(target, fixture.root)), []);
});

test('after a lost pack, repair index and repair snapshots --forget: check passes, the repaired snapshot restores the intact files', async () => {
  const { first, second, root } = fixture;
  const copy = await damagedCopy((repository) => rmSync(packFile(repository)));
  await ok(['repair', 'index'], copy);
  const dryRun = await ok(['repair', 'snapshots', '--dry-run', '--json'], copy);
  assert.equal(summaryOf(dryRun)['snapshotsDamaged'], 2);
  assert.deepEqual(namesIn(join(copy, 'snapshots')).sort(), [first, second].sort(), 'a dry run changes nothing');
  const run = await ok(['repair', 'snapshots', '--forget', '--json'], copy);
  const leftOut = jsonLines(run)
    .filter((line) => line['type'] === 'left-out')
    .map((line) => `${String(line['snapshot'])}:${String(line['path'])}`);
  assert.deepEqual(leftOut.sort(), [`${second}:${root}/big.bin`, `${second}:${root}/sub/c.txt`].sort());
  assert.equal(jsonLines(run).filter((line) => line['type'] === 'tree-unreadable' && line['snapshot'] === first).length, 1, "snapshot 1's tree was in the lost pack");
  const snapshots = jsonLines(await ok(['snapshots', '--json'], copy));
  assert.equal(snapshots.length, 1, 'snapshot 1 had nothing readable left and is forgotten; snapshot 2 is replaced');
  assert.ok((snapshots[0]!['tags'] as string[]).includes('repaired'));
  assert.notEqual(snapshots[0]!['id'], second);
  assert.equal(summaryOf(await ok(['check', '--read-data', '--json'], copy))['problems'], 0);
  const target = join(fixture.directory, 'restore-repaired');
  await ok(['restore', 'latest', '--target', target], copy);
  assert.deepEqual(readdirSync(join(target, fixture.root)).sort(), ['a.txt', 'sub']);
  assert.deepEqual(readdirSync(join(target, fixture.root, 'sub')), ['d.txt']);
  for (const name of ['a.txt', 'sub/d.txt']) assert.deepEqual(readFileSync(join(target, fixture.root, name)), readFileSync(join(root, name)), name);
});
