/**
 * Security regression tests for `holdfast import`, each named after the published advisory whose
 * archive it replays (rule D2: hostile input has a limit on every size and count and can never
 * write outside the target it was given).
 *
 * How: src/test-support/hostile-archives.py crafts each archive from raw header bytes with the
 * Python standard library, so the archives share no code with holdfast's reader. GNU tar's
 * `--list` is the witness that an archive carries exactly the hostile names the test expects
 * (or, for a corrupt one, that GNU tar rejects it too). Each test builds a scene: a temporary
 * directory holding `outside/` (a sentinel file and a file to hard-link), the archives, and an
 * empty `target/`. It lists everything outside the target (type, mode, owner, size, link count,
 * inode, mtime, ctime, SHA-256, symlink value), runs `holdfast import ARCHIVE --target target`
 * as a user would, and then shows that:
 * - nothing outside the target was created, removed or changed; a hard link made to an outside
 *   file and removed again still shows, because it changes that file's ctime;
 * - no file in the target shares an inode with a file outside;
 * - the exit code and the stderr code are the contract's (0; 3 with HOLDFAST_UNSAFE_PATH and the
 *   entry's name for each refused entry; 1 with a FORMAT or LIMIT code naming the entry);
 * - the harmless before.txt was restored, and after.txt, placed after the hostile entries, too
 *   (unless the archive is corrupt, which stops the import).
 *
 * Where the contract is silent, these tests expect what GNU tar does (checked with GNU tar 1.34):
 * a later entry replaces an earlier one of the same name (an empty directory, a symlink, a hard
 * link); a file entry replaces whatever is at its name and never writes through it; symlink
 * values are restored verbatim, absolute or with "..", because a restore must reproduce them,
 * and only following them is refused; names are bytes, never Unicode-normalized or case-folded.
 * Where GNU tar 1.34 itself is vulnerable (a symlink already in the target, CVE-2025-45582), or
 * escapes once its protections are off (`-P`), the test's comment says so.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { link, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireTools } from '../src/test-support/requirements.js';
import { runHoldfast } from '../src/test-support/run-holdfast.js';
import type { HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runTool, runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const hostileArchivesScript = fileURLToPath(new URL('../src/test-support/hostile-archives.py', import.meta.url));
/** A refusal by limit must come before the work it refuses: far below the CLI's own time limit. */
const limitRefusalDurationMsMax = 20_000;
/** 100,000 nested directories: refused by a limit, or created, but never a hang. */
const deepNestingDurationMsMax = 30_000;
/** How deep the target is searched for inodes shared with the outside; hostile links are shallow. */
const targetWalkDepthMax = 32;
/** What a crashed Node process leaves on stderr, as opposed to a handled error with a code. */
const crashPattern = /RangeError|Maximum call stack size exceeded|FATAL ERROR|heap out of memory|Segmentation fault|Aborted/;

interface Scene {
  root: string;
  target: string;
  outside: string;
  archives: string;
}

interface PathState {
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: string;
  uid: bigint;
  gid: bigint;
  sizeBytes: bigint;
  linkCount: bigint;
  inode: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  sha256: string | null;
  symlinkValue: string | null;
}

/** Every path under the scene's root except the target, by path relative to the root. */
type OutsideListing = Map<string, PathState>;

interface ImportRun extends HoldfastRun {
  durationMs: number;
}

interface HostileImport {
  scene: Scene;
  archivePath: string;
  outsideBefore: OutsideListing;
  run: ImportRun;
}

async function makeScene(root: string): Promise<Scene> {
  const scene = { root, target: join(root, 'target'), outside: join(root, 'outside'), archives: join(root, 'archives') };
  for (const directory of [scene.target, scene.outside, join(scene.outside, 'nested'), scene.archives]) await mkdir(directory);
  await writeFile(join(scene.outside, 'sentinel.txt'), 'sentinel\n');
  await writeFile(join(scene.outside, 'linked.txt'), 'linked\n');
  await writeFile(join(scene.outside, 'nested', 'deeper.txt'), 'deeper\n');
  return scene;
}

async function craft(scene: Scene, caseName: string): Promise<string> {
  const archivePath = join(scene.archives, `${caseName}.tar`);
  await runToolOrFail('python3', [hostileArchivesScript, caseName, archivePath, '--outside', scene.outside]);
  return archivePath;
}

async function importArchive(scene: Scene, archive: string, stdin?: Uint8Array): Promise<ImportRun> {
  const started = performance.now();
  const run = await runHoldfast(['import', archive, '--target', scene.target], stdin === undefined ? {} : { stdin });
  return { ...run, durationMs: performance.now() - started };
}

/** Crafts `caseName`, lets `prepare` set up the target, lists the outside, and imports. */
async function importHostile(root: string, caseName: string, prepare?: (scene: Scene) => Promise<void>): Promise<HostileImport> {
  const scene = await makeScene(root);
  const archivePath = await craft(scene, caseName);
  await prepare?.(scene);
  const outsideBefore = await listOutside(scene);
  return { scene, archivePath, outsideBefore, run: await importArchive(scene, archivePath) };
}

async function listOutside(scene: Scene): Promise<OutsideListing> {
  const listing: OutsideListing = new Map();
  const pending = ['.'];
  for (let relative = pending.pop(); relative !== undefined; relative = pending.pop()) {
    const path = join(scene.root, relative);
    const stats = await lstat(path, { bigint: true });
    listing.set(relative, await pathState(path, stats));
    if (!stats.isDirectory()) continue;
    for (const name of await readdir(path)) {
      const child = join(relative, name);
      if (child !== 'target') pending.push(child);
    }
  }
  return listing;
}

async function pathState(path: string, stats: BigIntStats): Promise<PathState> {
  const type = stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : stats.isSymbolicLink() ? 'symlink' : 'other';
  return {
    type,
    mode: (stats.mode & 0o7777n).toString(8),
    uid: stats.uid,
    gid: stats.gid,
    sizeBytes: stats.size,
    linkCount: stats.nlink,
    inode: stats.ino,
    mtimeNs: stats.mtimeNs,
    ctimeNs: stats.ctimeNs,
    sha256: type === 'file' ? createHash('sha256').update(await readFile(path)).digest('hex') : null,
    symlinkValue: type === 'symlink' ? await readlink(path) : null,
  };
}

interface OutsideCheckOptions {
  /** Paths outside whose link count (and so ctime) may change: a pre-existing hard link in the target is replaced. */
  linkCountMayChange?: readonly string[];
}

/** Nothing outside the target was created, removed or changed, and nothing inside shares an outside inode. */
async function assertOutsideUnchanged(hostile: HostileImport, options: OutsideCheckOptions = {}): Promise<void> {
  const after = await listOutside(hostile.scene);
  const differences: string[] = [];
  for (const [relative, state] of after) {
    const before = hostile.outsideBefore.get(relative);
    if (before === undefined) {
      differences.push(`created ${relative} (${state.type})`);
      continue;
    }
    const linkCountMayChange = options.linkCountMayChange?.includes(relative) === true;
    for (const field of Object.keys(state) as Array<keyof PathState>) {
      if (linkCountMayChange && (field === 'linkCount' || field === 'ctimeNs')) continue;
      if (state[field] !== before[field]) differences.push(`${relative}: ${field} ${String(before[field])} -> ${String(state[field])}`);
    }
  }
  for (const relative of hostile.outsideBefore.keys()) if (!after.has(relative)) differences.push(`removed ${relative}`);
  assert.deepEqual(differences, [], `nothing outside the target changes:\n${differences.join('\n')}\nstderr:\n${hostile.run.stderr}`);

  const outsideInodes = new Set([...after.values()].filter((state) => state.type === 'file').map((state) => state.inode));
  const pending: Array<[string, number]> = [[hostile.scene.target, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [path, depth] = next;
    const stats = await lstat(path, { bigint: true });
    assert.ok(!(stats.isFile() && outsideInodes.has(stats.ino)), `"${path}" is not a hard link of a file outside the target`);
    if (stats.isDirectory() && depth < targetWalkDepthMax) {
      for (const name of await readdir(path)) pending.push([join(path, name), depth + 1]);
    }
  }
}

/** The forms a name may take on stderr: as is, JSON-escaped, or for unusual bytes its last component. */
function nameForms(name: string): string[] {
  const forms = [name, JSON.stringify(name).slice(1, -1)];
  if (/[^\x20-\x7e]|\\/.test(name)) forms.push(name.split('/').at(-1) ?? name);
  return forms;
}

function assertReported(run: HoldfastRun, code: string, name: string | null): void {
  const lines = run.stderr.split('\n').filter((line) => line.includes(code));
  const named = name === null ? lines : lines.filter((line) => nameForms(name).some((form) => line.includes(form)));
  assert.ok(named.length > 0, `stderr reports ${code}${name === null ? '' : ` for "${name}"`}:\n${run.stderr}`);
}

/** Exit 3, and one HOLDFAST_UNSAFE_PATH line naming each refused entry. */
function assertRefused(run: HoldfastRun, names: readonly string[]): void {
  assert.equal(run.exitCode, 3, `an import that refused entries exits with 3; stderr:\n${run.stderr}`);
  for (const name of names) assertReported(run, 'HOLDFAST_UNSAFE_PATH', name);
  const refusals = run.stderr.split('\n').filter((line) => line.includes('HOLDFAST_UNSAFE_PATH'));
  assert.ok(refusals.length >= names.length, `one refusal per entry (${names.length}):\n${run.stderr}`);
}

function assertCleanImport(run: HoldfastRun): void {
  assert.equal(run.exitCode, 0, `the import succeeds; stderr:\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /HOLDFAST_UNSAFE_PATH/);
}

/** Exit 1 with `code` naming the entry (or, with name null, the code alone), quickly and without a crash. */
function assertStopped(run: ImportRun, code: string, name: string | null): void {
  assert.equal(run.exitCode, 1, `a corrupt archive stops the import with exit code 1; stderr:\n${run.stderr}`);
  assertReported(run, code, name);
  assert.doesNotMatch(run.stderr, crashPattern, 'a handled error, not a crash');
  assert.ok(run.durationMs < limitRefusalDurationMsMax, `stopped after ${Math.round(run.durationMs)} ms`);
}

/** `name` (relative to the target, '/'-separated) is a regular file below real directories only. */
async function assertFile(scene: Scene, name: string, content: string): Promise<void> {
  const components = name.split('/');
  let path = scene.target;
  for (const [index, component] of components.entries()) {
    path = `${path}/${component}`;
    const stats = await lstat(path).catch(() => null);
    assert.ok(stats !== null, `"${name}" is restored ("${path}" exists)`);
    if (index < components.length - 1) assert.ok(stats.isDirectory(), `"${path}" is a real directory, not a symlink`);
    else assert.ok(stats.isFile(), `"${name}" is a regular file`);
  }
  assert.equal(await readFile(path, 'utf8'), content, `content of "${name}"`);
}

async function assertSymlink(scene: Scene, name: string, value: string): Promise<void> {
  const path = `${scene.target}/${name}`;
  assert.ok((await lstat(path)).isSymbolicLink(), `"${name}" is a symlink`);
  assert.equal(await readlink(path), value, `"${name}" keeps its value verbatim`);
}

async function assertAbsent(scene: Scene, name: string): Promise<void> {
  const error = await lstat(`${scene.target}/${name}`).then(
    () => null,
    (failure: unknown) => failure,
  );
  assert.ok(error !== null, `"${name}" was not created in the target`);
}

async function assertBookends(scene: Scene, afterRestored: boolean): Promise<void> {
  await assertFile(scene, 'before.txt', 'before\n');
  if (afterRestored) await assertFile(scene, 'after.txt', 'after\n');
  else await assertAbsent(scene, 'after.txt');
}

/** The names GNU tar lists, raw: the witness that the archive holds what the test says. */
async function gnuTarNames(archivePath: string): Promise<string[]> {
  return (await runToolOrFail('tar', ['--list', '--quoting-style=literal', '--file', archivePath])).split('\n').filter((line) => line !== '');
}

async function assertGnuTarRejects(archivePath: string): Promise<void> {
  const result = await runTool('tar', ['--list', '--file', archivePath]);
  assert.notEqual(result.exitCode, 0, 'GNU tar rejects this archive too');
}

function bookended(...names: string[]): string[] {
  return ['before.txt', ...names, 'after.txt'];
}

function ready(t: TestContext, ...extraTools: string[]): boolean {
  return requireTools(t, 'python3', 'tar', ...extraTools);
}

const nfc = 'caf\u00e9';
const nfd = 'cafe\u0301';

// ---------------------------------------------------------------------------------------------
// node-tar (npm "tar") advisories

/** The checks of the CVE-2021-32803 archive, shared by the plain, compressed and stdin imports. */
async function assertDirectoryReplacedBySymlinkIsSafe(hostile: HostileImport): Promise<void> {
  assertRefused(hostile.run, ['foo/planted-32803']);
  await assertSymlink(hostile.scene, 'foo', '../outside');
  await assertBookends(hostile.scene, true);
  await assertOutsideUnchanged(hostile);
}

test('CVE-2021-32803 (node-tar): a directory replaced by a symlink mid-archive does not redirect later entries', async (t) => {
  // Directory foo, then symlink foo -> ../outside, then foo/planted-32803. node-tar cached foo as
  // a directory and wrote through the symlink. GNU tar 1.34 replaces the directory and refuses the
  // file ("Not a directory"); with -P it writes outside/planted-32803.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2021-32803');
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('foo', 'foo', 'foo/planted-32803'));
  await assertDirectoryReplacedBySymlinkIsSafe(hostile);
});

test('CVE-2021-32803 (node-tar), compressed with gzip or zstd, or read from stdin: the same entries are refused', async (t) => {
  if (!ready(t, 'gzip', 'zstd')) return;
  for (const variant of ['gzip', 'zstd', 'stdin'] as const) {
    await t.test(variant, async () => {
      using directory = temporaryDirectory('holdfast-import-security-');
      const scene = await makeScene(directory.path);
      const archivePath = await craft(scene, 'cve-2021-32803');
      let importPath = archivePath;
      if (variant === 'gzip') await runToolOrFail('gzip', ['--keep', archivePath]);
      if (variant === 'gzip') importPath = `${archivePath}.gz`;
      if (variant === 'zstd') await runToolOrFail('zstd', ['--quiet', archivePath, '-o', `${archivePath}.zst`]);
      if (variant === 'zstd') importPath = `${archivePath}.zst`;
      const outsideBefore = await listOutside(scene);
      const run = variant === 'stdin' ? await importArchive(scene, '-', await readFile(archivePath)) : await importArchive(scene, importPath);
      await assertDirectoryReplacedBySymlinkIsSafe({ scene, archivePath, outsideBefore, run });
    });
  }
});

test('CVE-2021-32804 (node-tar): absolute names, with one or many leading slashes, are restored inside the target with a warning', async (t) => {
  // node-tar stripped one '/' from "////home/user/.bashrc", leaving it absolute. The names here
  // are the absolute path of this test's outside/ with 1, 3 and 5 slashes; GNU tar -P writes all
  // three into outside/, GNU tar strips every leading '/' and warns, and exits 0.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2021-32804');
  const { scene, run } = hostile;
  const names = ['planted-one-slash', 'planted-two-slashes', 'planted-five-slashes'];
  const slashes = ['', '//', '////'];
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended(...names.map((name, index) => `${slashes[index] ?? ''}${scene.outside}/${name}`)));
  assertCleanImport(run);
  assert.match(run.stderr, /: warning "/, 'stripping a leading "/" is reported with a warning');
  for (const name of names) await assertFile(scene, `${scene.outside.slice(1)}/${name}`, 'planted\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2021-37701 (node-tar): a backslash is a name byte on Linux, so a directory "a\\b" replaced by a symlink does not redirect "a\\b/..."', async (t) => {
  // node-tar's directory cache split names on both '\' and '/', so replacing the directory "a\b"
  // by a symlink pruned the wrong cache key and "a\b/planted" went through the symlink. On Linux
  // "a\b" is one name: "c\d" must land as one file, not as c/d. The advisory's other half (FOO
  // then foo on a case-insensitive file system) becomes, on a case-sensitive one: FOO stays a real
  // directory beside the symlink foo. GNU tar 1.34 does exactly this and refuses a\b/planted-37701.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2021-37701');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('a\\b', 'a\\b', 'a\\b/planted-37701', 'c\\d', 'FOO', 'foo', 'FOO/case-37701'));
  assertRefused(run, ['a\\b/planted-37701']);
  await assertSymlink(scene, 'a\\b', '../outside');
  await assertFile(scene, 'c\\d', 'one name with a backslash\n');
  await assertAbsent(scene, 'c');
  await assertSymlink(scene, 'foo', '../outside');
  await assertFile(scene, 'FOO/case-37701', 'in the real directory FOO\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2021-37712 (node-tar): names are never Unicode-normalized, so a symlink named "café" (NFC) does not redirect "café" (NFD)', async (t) => {
  // node-tar's cache normalized names, so two directories whose names normalize alike, then a
  // symlink in the first form, then a file in the second form, went through the symlink (and on
  // Windows likewise an 8.3 short name and its long name, which have no Linux analogue). On Linux
  // the NFC and NFD names are two directories: the NFD file lands in its real directory, and only
  // the file through the NFC symlink is refused. GNU tar 1.34 agrees; with -P it writes outside.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2021-37712');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended(nfc, nfd, nfc, `${nfd}/nfd-37712`, `${nfc}/planted-37712`));
  assertRefused(run, [`${nfc}/planted-37712`]);
  await assertSymlink(scene, nfc, '../outside');
  await assertFile(scene, `${nfd}/nfd-37712`, 'in the NFD directory\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2021-37713 (node-tar): drive-relative "C:../" and backslashed "..\\" names are ordinary Linux names restored inside the target', async (t) => {
  // On Windows node-tar stripped "C:" as a root and left "../x", or took '\' as a separator. On
  // Linux "C:.." is a name component (not ".."), and "..\..\outside\x" is one name. Nothing is
  // refused; everything lands inside the target, as GNU tar 1.34 does.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2021-37713');
  const { scene, run } = hostile;
  const names = ['C:../outside/drive-relative-37713', '..\\..\\outside\\backslashes-37713', 'C:\\..\\outside\\drive-absolute-37713'];
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended(...names));
  assertCleanImport(run);
  await assertFile(scene, names[0] ?? '', 'drive-relative\n');
  await assertFile(scene, names[1] ?? '', 'backslashes\n');
  await assertFile(scene, names[2] ?? '', 'drive-absolute\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2018-20834 (node-tar): a file after a hardlink of the same name replaces the link instead of writing into the linked file', async (t) => {
  // data-20834.txt, then hardlink link-20834 -> data-20834.txt, then a file link-20834. node-tar
  // opened the existing link for writing and so overwrote data-20834.txt.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2018-20834-linked-file');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('data-20834.txt', 'link-20834', 'link-20834'));
  assertCleanImport(run);
  await assertFile(scene, 'data-20834.txt', 'original\n');
  await assertFile(scene, 'link-20834', 'replacement\n');
  const [data, replaced] = await Promise.all([lstat(join(scene.target, 'data-20834.txt')), lstat(join(scene.target, 'link-20834'))]);
  assert.notEqual(replaced.ino, data.ino, 'the replacement is a file of its own');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2018-20834 (node-tar): a hardlink to a file outside the target is refused, and a file of its name is created afresh', async (t) => {
  // Hardlinks to <outside>/sentinel.txt (absolute) and ../outside/sentinel.txt, each followed by
  // a file of the same name. GNU tar 1.34 refuses both links; with -P it links the sentinel and
  // then replaces the link, which leaves the sentinel's ctime changed: the listing catches that.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2018-20834-link-outside');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('escape-absolute-20834', 'escape-relative-20834', 'escape-absolute-20834', 'escape-relative-20834'));
  assertRefused(run, ['escape-absolute-20834', 'escape-relative-20834']);
  await assertFile(scene, 'escape-absolute-20834', 'replacement\n');
  await assertFile(scene, 'escape-relative-20834', 'replacement\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2024-28863 (node-tar): a file 100,000 directories deep neither crashes nor hangs the import', async (t) => {
  // node-tar created every level without a limit and ran out of memory. One entry "d/d/.../d/
  // deep-28863" (a 200 KB pax path). A refusal by a limit is fine (exit 1, or 3 going on);
  // restoring it is fine too. GNU tar 1.34 fails the entry at once ("File name too long").
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2024-28863');
  const { scene, run } = hostile;
  try {
    assert.equal((await gnuTarNames(hostile.archivePath)).length, 3);
    assert.ok(run.durationMs < deepNestingDurationMsMax, `finished in ${Math.round(run.durationMs)} ms`);
    assert.doesNotMatch(run.stderr, crashPattern, 'a handled error, not a crash');
    assert.ok([0, 1, 3].includes(run.exitCode), `exit code ${run.exitCode}; stderr:\n${run.stderr}`);
    if (run.exitCode === 0) {
      const found = await runToolOrFail('find', [scene.target, '-name', 'deep-28863', '-type', 'f']);
      assert.notEqual(found.trim(), '', 'an import that succeeds restored the deep file');
    } else {
      assertReported(run, 'HOLDFAST_LIMIT_EXCEEDED', null);
    }
    await assertBookends(scene, run.exitCode !== 1);
    await assertOutsideUnchanged(hostile);
  } finally {
    // node:fs cannot remove a tree deeper than PATH_MAX; GNU rm walks it with openat.
    await runToolOrFail('rm', ['-rf', '--', scene.target]);
  }
});

test('CVE-2026-23745 (node-tar): an absolute hardlink target is refused; an absolute symlink is restored verbatim but never followed', async (t) => {
  // node-tar <= 7.5.2 did not sanitize link targets: a hardlink to /abs/path linked an outside
  // file, and an absolute symlink was written through. Here: hardlink -> <outside>/sentinel.txt,
  // symlink -> <outside>/sentinel.txt followed by a file of its name (replaces the symlink), and
  // symlink -> <outside> followed by a file below it (refused). GNU tar -P changes outside/; GNU
  // tar 1.34 defers symlinks that point outside and so ends with the symlink, losing the file.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2026-23745');
  const { scene, run } = hostile;
  assertRefused(run, ['absolute-hardlink-23745', 'absolute-directory-symlink-23745/planted-23745']);
  await assertAbsent(scene, 'absolute-hardlink-23745');
  await assertFile(scene, 'absolute-symlink-23745', 'replacement\n');
  await assertSymlink(scene, 'absolute-directory-symlink-23745', scene.outside);
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2026-24842 (node-tar): a hardlink target names an earlier entry from the archive root, never from the link\'s directory', async (t) => {
  // node-tar checked "../outside/sentinel.txt" against the link's directory a/b (inside: there is
  // a decoy a/outside/sentinel.txt) but created the link against the root (outside). It is not an
  // entry restored earlier, so it is refused; the decoy and the outside sentinel stay as they are.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2026-24842');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('a', 'a/b', 'a/outside', 'a/outside/sentinel.txt', 'a/b/link-24842', 'a/b/link-24842'));
  assertRefused(run, ['a/b/link-24842']);
  await assertFile(scene, 'a/b/link-24842', 'replacement\n');
  await assertFile(scene, 'a/outside/sentinel.txt', 'decoy inside the target\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2026-26960 (node-tar): a hardlink whose target goes through a chain of symlinks out of the target is refused', async (t) => {
  // a/b/c/up -> ../.. and a/b/escape -> c/up/../.. make a/b/escape the target's parent; the
  // hardlink exfil-26960 -> a/b/escape/outside/sentinel.txt passed node-tar's string checks. GNU
  // tar 1.34 fails it ("Not a directory"); with -P it links the sentinel (its ctime changes).
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2026-26960');
  const { scene, run } = hostile;
  assertRefused(run, ['exfil-26960']);
  await assertSymlink(scene, 'a/b/c/up', '../..');
  await assertSymlink(scene, 'a/b/escape', 'c/up/../..');
  await assertFile(scene, 'exfil-26960', 'replacement\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2026-29786 and CVE-2026-31802 (node-tar): drive-relative "C:../" link targets neither link nor lead outside', async (t) => {
  // node-tar checked for ".." before stripping "C:", so "C:../outside/sentinel.txt" became
  // "../outside/sentinel.txt" for a hardlink (29786) and a symlink (31802). On Linux "C:.." is a
  // name: the hardlink names no earlier entry and is refused; the symlink keeps its value, and
  // the file below it is refused because it goes through a symlink.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2026-29786-31802');
  const { scene, run } = hostile;
  assertRefused(run, ['drive-hardlink-29786', 'drive-symlink-31802/planted-31802']);
  await assertFile(scene, 'drive-hardlink-29786', 'replacement\n');
  await assertSymlink(scene, 'drive-symlink-31802', 'C:../outside');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2026-23950 (node-tar): "ß" and "ss" are two names, and entries are applied in archive order', async (t) => {
  // On APFS "ß" and "ss" are one file, and node-tar's path reservations did not serialize them,
  // so a symlink and a file below the other name raced. On Linux they are two names: ss/ss-23950
  // lands in the real directory ss, and ß/planted-23950 is refused because ß is a symlink by the
  // time it comes, whatever the importer does in parallel.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2026-23950');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('ss', '\u00df', 'ss/ss-23950', '\u00df/planted-23950'));
  assertRefused(run, ['\u00df/planted-23950']);
  await assertSymlink(scene, '\u00df', '../outside');
  await assertFile(scene, 'ss/ss-23950', 'in the real directory ss\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

// ---------------------------------------------------------------------------------------------
// GNU tar advisories, and the same ideas in other readers

test('CVE-2001-1267 (GNU tar): a name with a ".." component anywhere is refused, a ".." directory entry too', async (t) => {
  // GNU tar 1.13.19 extracted "../x"-style names outside the directory. With -P, GNU tar 1.34
  // writes the three files into outside/ and the two directory entries chmod the scene's root and
  // outside/ to 0777; without -P it refuses them ("Member name contains '..'").
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2001-1267');
  const { scene, run } = hostile;
  const names = ['../outside/planted-1267-a', './../outside/planted-1267-b', 'misc/../../outside/planted-1267-c', '..', '../outside'];
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended(...names));
  assertRefused(run, names);
  await assertAbsent(scene, 'misc');
  await assertAbsent(scene, 'outside');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2016-6321 (GNU tar, POINTYFEATHER): a name like "etc/../../x" is refused, not rewritten to another name in the target', async (t) => {
  // GNU tar up to 1.29 removed everything up to the last "../", so "etc/motd/../etc/shadow"
  // matched a request for etc/motd yet was written as etc/shadow. Refusing the whole entry leaves
  // no name to rewrite: neither etc/shadow-6321 nor outside/planted-6321 appears in the target.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2016-6321');
  const { scene, run } = hostile;
  const names = ['etc/motd/../etc/shadow-6321', 'etc/../../outside/planted-6321'];
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended(...names));
  assertRefused(run, names);
  await assertAbsent(scene, 'etc');
  await assertAbsent(scene, 'outside');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2025-45582 (GNU tar): a symlink planted by one import does not redirect a later import into the same target', async (t) => {
  // The first archive holds x -> ../outside, the second x/planted-45582. Each alone looks
  // harmless; GNU tar 1.34 follows the symlink the first left and writes outside/planted-45582
  // (checked: it is vulnerable, and exits 0 both times).
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const scene = await makeScene(directory.path);
  const first = await craft(scene, 'cve-2025-45582-first');
  const second = await craft(scene, 'cve-2025-45582-second');
  assert.deepEqual(await gnuTarNames(second), bookended('x/planted-45582'));
  const outsideBefore = await listOutside(scene);

  const firstRun = await importArchive(scene, first);
  assertCleanImport(firstRun);
  await assertSymlink(scene, 'x', '../outside');

  const run = await importArchive(scene, second);
  assertRefused(run, ['x/planted-45582']);
  await assertSymlink(scene, 'x', '../outside');
  await assertBookends(scene, true);
  await assertOutsideUnchanged({ scene, archivePath: second, outsideBefore, run });
});

test('CVE-2025-62518 (TARmageddon, tokio-tar): a pax "size" overrides the header\'s, so an entry\'s data cannot smuggle entries', async (t) => {
  // carrier-62518 has size 0 in its ustar header and size=2048 in its pax header; its data is an
  // inner archive (smuggled-62518 and an absolute name into outside/). A reader that trusts the
  // ustar size reads those as entries (checked with a ten-line walker of ustar sizes); GNU tar
  // and Python's tarfile read one 2048-byte file.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2025-62518');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('carrier-62518'));
  assertCleanImport(run);
  const carrier = await readFile(join(scene.target, 'carrier-62518'));
  assert.equal(carrier.length, 2048, 'the carrier holds the whole inner archive as data');
  assert.ok(carrier.includes('smuggled-62518'));
  await assertAbsent(scene, 'smuggled-62518');
  await assertAbsent(scene, scene.outside.slice(1));
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2019-9923 (GNU tar): a pax sparse entry cut off before its map stops with HOLDFAST_FORMAT_TRUNCATED', async (t) => {
  // GNU tar before 1.32 dereferenced NULL in pax_decode_header when the block holding a pax 1.0
  // sparse map (GNU.sparse.major=1) was missing. The archive ends right after the header.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2019-9923-truncated-sparse-map');
  await assertGnuTarRejects(hostile.archivePath);
  assertStopped(hostile.run, 'HOLDFAST_FORMAT_TRUNCATED', 'sparse-9923');
  await assertBookends(hostile.scene, false);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2019-9923 (GNU tar): a pax record without "=" stops with HOLDFAST_FORMAT_INVALID', async (t) => {
  // The malformed extended header of the advisory's title: "NN pathmissing-equals-9923\n".
  // GNU tar 1.34 reports "Malformed extended header: missing equal sign".
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2019-9923-missing-equals');
  await assertGnuTarRejects(hostile.archivePath);
  assertStopped(hostile.run, 'HOLDFAST_FORMAT_INVALID', 'missing-equals-9923');
  await assertBookends(hostile.scene, false);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2022-48303 (GNU tar): an mtime of blanks only is read as 0; blanks before a base-256 marker stop with HOLDFAST_FORMAT_INVALID', async (t) => {
  // GNU tar through 1.34 read one byte past the mtime field after skipping its blanks (the
  // advisory's V7 header; these are ustar headers, so the numeric field is the only fault).
  // Blanks are read as 0 here, as bsdtar reads them and old writers mean them (issue 23); GNU tar
  // 1.34 says "Blanks in header" and extracts the member all the same. What matters is that the
  // field is read within its 12 bytes and nothing outside the target changes.
  if (!ready(t)) return;
  await t.test('cve-2022-48303-blank-mtime', async () => {
    using directory = temporaryDirectory('holdfast-import-security-');
    const hostile = await importHostile(directory.path, 'cve-2022-48303-blank-mtime');
    await assertGnuTarRejects(hostile.archivePath);
    assertCleanImport(hostile.run);
    await assertBookends(hostile.scene, true);
    await assertFile(hostile.scene, 'blank-mtime-48303', 'content\n');
    assert.equal((await lstat(join(hostile.scene.target, 'blank-mtime-48303'), { bigint: true })).mtimeNs, 0n);
    await assertOutsideUnchanged(hostile);
  });
  await t.test('cve-2022-48303-base-256-last-byte', async () => {
    using directory = temporaryDirectory('holdfast-import-security-');
    const hostile = await importHostile(directory.path, 'cve-2022-48303-base-256-last-byte');
    await assertGnuTarRejects(hostile.archivePath);
    assertStopped(hostile.run, 'HOLDFAST_FORMAT_INVALID', 'base-256-48303');
    await assertBookends(hostile.scene, false);
    await assertOutsideUnchanged(hostile);
  });
});

test('CVE-2023-39804 (GNU tar): 100,000 xattrs, or one xattr name of 1 MiB, in a pax header stop with HOLDFAST_LIMIT_EXCEEDED', async (t) => {
  // GNU tar before 1.35 crashed on such extended attributes. Linux allows 255-byte xattr names
  // and a 64 KiB list; these exceed both. GNU tar 1.34 (patched) tries 100,000 setxattr calls.
  if (!ready(t)) return;
  for (const [caseName, name] of [
    ['cve-2023-39804-xattr-count', 'xattrs-39804'],
    ['cve-2023-39804-xattr-name', 'xattr-name-39804'],
  ] as const) {
    await t.test(caseName, async () => {
      using directory = temporaryDirectory('holdfast-import-security-');
      const hostile = await importHostile(directory.path, caseName);
      assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended(name));
      assertStopped(hostile.run, 'HOLDFAST_LIMIT_EXCEEDED', name);
      await assertBookends(hostile.scene, false);
      await assertOutsideUnchanged(hostile);
    });
  }
});

test('CVE-2022-2879 (Go archive/tar): a pax header or pax record declaring 10 GiB stops quickly with HOLDFAST_LIMIT_EXCEEDED', async (t) => {
  // Go's reader allocated whatever a header declared. One archive declares a 10 GiB pax header
  // (base-256 size field) and holds one block; the other holds a 36-byte record that says
  // "10737418240". Refused from the declared size, before reading or allocating it.
  if (!ready(t)) return;
  for (const [caseName, name] of [
    ['cve-2022-2879-pax-size', 'huge-pax-2879'],
    ['cve-2022-2879-pax-record-length', 'huge-record-2879'],
  ] as const) {
    await t.test(caseName, async () => {
      using directory = temporaryDirectory('holdfast-import-security-');
      const hostile = await importHostile(directory.path, caseName);
      await assertGnuTarRejects(hostile.archivePath);
      assertStopped(hostile.run, 'HOLDFAST_LIMIT_EXCEEDED', name);
      await assertBookends(hostile.scene, false);
      await assertOutsideUnchanged(hostile);
    });
  }
});

test('CVE-2025-58183 (Go archive/tar): a pax sparse map declaring 10^9 regions stops with HOLDFAST_LIMIT_EXCEEDED', async (t) => {
  // Go read every declared region of a GNU pax 1.0 sparse map into memory. The map declares
  // 1,000,000,000 regions and lists 16; GNU tar 1.34 reports a numeric overflow.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'cve-2025-58183');
  await assertGnuTarRejects(hostile.archivePath);
  assertStopped(hostile.run, 'HOLDFAST_LIMIT_EXCEEDED', 'sparse-regions-58183');
  await assertBookends(hostile.scene, false);
  await assertOutsideUnchanged(hostile);
});

// ---------------------------------------------------------------------------------------------
// Links, and what is already in the target

test('a symlink chain (a -> b, b -> ../outside) does not redirect a/planted-chain', async (t) => {
  // GNU tar 1.34 refuses a/planted-chain ("Not a directory"); with -P it writes outside/.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'symlink-chain');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('a', 'b', 'a/planted-chain'));
  assertRefused(run, ['a/planted-chain']);
  await assertSymlink(scene, 'a', 'b');
  await assertSymlink(scene, 'b', '../outside');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('a symlink already in the target before the import is not followed', async (t) => {
  // target/preexisting-link -> ../outside exists; the archive holds preexisting-link/planted-
  // preexisting. GNU tar 1.34 follows it and writes outside/planted-preexisting (checked).
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'preexisting-symlink', async (scene) => {
    await symlink('../outside', join(scene.target, 'preexisting-link'));
  });
  const { scene, run } = hostile;
  assertRefused(run, ['preexisting-link/planted-preexisting']);
  await assertSymlink(scene, 'preexisting-link', '../outside');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('a hardlink to a symlink, then a file of the link\'s name: the file replaces the link and never writes through it', async (t) => {
  // symlink-to-sentinel -> ../outside/sentinel.txt, hardlink-to-symlink -> symlink-to-sentinel
  // (on Linux, link(2) links the symlink itself; following it would link the outside sentinel),
  // then a file hardlink-to-symlink. The last entry wins. (GNU tar 1.34 defers symlinks that point
  // up and ends with hardlink-to-symlink as a symlink, losing the file; it writes nothing outside.)
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'hardlink-to-symlink');
  const { scene, run } = hostile;
  assert.deepEqual(await gnuTarNames(hostile.archivePath), bookended('symlink-to-sentinel', 'hardlink-to-symlink', 'hardlink-to-symlink'));
  assertCleanImport(run);
  await assertSymlink(scene, 'symlink-to-sentinel', '../outside/sentinel.txt');
  await assertFile(scene, 'hardlink-to-symlink', 'replacement\n');
  await assertBookends(scene, true);
  await assertOutsideUnchanged(hostile);
});

test('a file entry named like a symlink already in the target that points outside replaces the symlink', async (t) => {
  // target/existing-symlink -> ../outside/sentinel.txt exists; the archive holds a file
  // existing-symlink. Opening it for writing would overwrite the sentinel. GNU tar 1.34 replaces it.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'file-over-existing-symlink', async (scene) => {
    await symlink('../outside/sentinel.txt', join(scene.target, 'existing-symlink'));
  });
  assertCleanImport(hostile.run);
  await assertFile(hostile.scene, 'existing-symlink', 'replacement\n');
  await assertBookends(hostile.scene, true);
  await assertOutsideUnchanged(hostile);
});

test('CVE-2018-20834 (node-tar), as a file already in the target: a hard link of an outside file is replaced, not written into', async (t) => {
  // The advisory's "hardlink to a file that already exists on the system", made before the
  // import: target/existing-hardlink is a hard link of outside/linked.txt. Replacing it lowers the
  // outside file's link count (and so changes its ctime); its content, mode and mtime stay.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'file-over-existing-hardlink', async (scene) => {
    await link(join(scene.outside, 'linked.txt'), join(scene.target, 'existing-hardlink'));
  });
  assertCleanImport(hostile.run);
  await assertFile(hostile.scene, 'existing-hardlink', 'replacement\n');
  await assertBookends(hostile.scene, true);
  await assertOutsideUnchanged(hostile, { linkCountMayChange: ['outside/linked.txt'] });
});

// ---------------------------------------------------------------------------------------------
// Truncation

test('an archive cut off in the middle of an entry\'s data stops with HOLDFAST_FORMAT_TRUNCATED naming the entry', async (t) => {
  // truncated-entry declares 10,000 bytes and 3,000 follow. GNU tar: "Unexpected EOF in archive".
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'truncated-data');
  await assertGnuTarRejects(hostile.archivePath);
  assertStopped(hostile.run, 'HOLDFAST_FORMAT_TRUNCATED', 'truncated-entry');
  await assertBookends(hostile.scene, false);
  await assertOutsideUnchanged(hostile);
});

test('an archive cut off in the middle of a header stops with HOLDFAST_FORMAT_TRUNCATED', async (t) => {
  // 200 bytes of a 512-byte header. GNU tar 1.34 ignores the partial block and exits 0; the
  // contract is stricter. No entry name is required: a partial header names nothing reliably.
  if (!ready(t)) return;
  using directory = temporaryDirectory('holdfast-import-security-');
  const hostile = await importHostile(directory.path, 'truncated-header');
  assertStopped(hostile.run, 'HOLDFAST_FORMAT_TRUNCATED', null);
  await assertBookends(hostile.scene, false);
  await assertOutsideUnchanged(hostile);
});
