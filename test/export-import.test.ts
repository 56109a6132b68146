/**
 * The whole self of every file survives `holdfast export` and `holdfast import`, in both formats,
 * and holdfast's tar is the tar that GNU tar and bsdtar know.
 *
 * How: as root, on a loop-mounted ext4, buildHardCaseTree() makes the tree of hard cases (sizes
 * around block edges, a 1 GiB file with three data extents, xattrs of every namespace, ACLs,
 * hardlinks across directories, dangling and looping symlinks, a FIFO, devices, setuid/setgid/
 * sticky, owners without a passwd entry, ns times before 1970 and after 2038, non-UTF-8 names,
 * newlines, 255-byte names, a path of ~3900 bytes). The CLI runs as a user runs it, from the
 * sources. compareTrees() then reads source and result with Python, sharing no code with holdfast,
 * and must report zero differences in type, content, data map, allocation, mode, owner, ns mtime,
 * xattrs, ACLs, link targets and hardlink groups. tar cannot carry sockets, so the tar trees have none.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareTrees, treeManifest } from '../src/test-support/compare-trees.js';
import { buildHardCaseTree } from '../src/test-support/hard-case-tree.js';
import { mountLoopFilesystem } from '../src/test-support/loop-filesystem.js';
import { requireRoot, requireTools } from '../src/test-support/requirements.js';
import { runHoldfast } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';

const filesystemSizeMiB = 512;
const gnuTarCreate = ['--format=posix', '--xattrs', '--xattrs-include=*', '--acls', '--sparse', '--numeric-owner'];
const gnuTarExtract = ['--xattrs', '--xattrs-include=*', '--acls', '--preserve-permissions', '--same-owner', '--numeric-owner', '--warning=no-timestamp'];

const nanosecondsPerSecond = 1_000_000_000n;

/** How libarchive 3.6 reads the pax time holdfast writes for timeNs < 0: "-S.F" as -S + 0.F. */
function libarchive36Reading(timeNs: bigint): bigint {
  const magnitude = -timeNs;
  return -(magnitude / nanosecondsPerSecond) * nanosecondsPerSecond + (magnitude % nanosecondsPerSecond);
}

async function holdfastOk(args: string[], stdin?: Buffer): Promise<Buffer> {
  const run = await runHoldfast(args, stdin === undefined ? {} : { stdin });
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run.stdout;
}

async function assertSameTree(source: string, target: string, what: string): Promise<void> {
  const differences = await compareTrees(source, target);
  assert.deepEqual(differences, [], `${what}: ${differences.length} differences`);
}

test('export and import round-trip the hard-case tree with zero differences, in both formats and through pipes', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'python3', 'mkfs.ext4')) return;
  await using filesystem = await mountLoopFilesystem('ext4', filesystemSizeMiB);
  const work = filesystem.mountPoint;
  const withSocket = join(work, 'with-socket', 'tree');
  const summary = await buildHardCaseTree(withSocket, { withSocket: true });
  assert.deepEqual(summary.skipped, [], 'every hard case was made');

  await t.test('stream format through a file', async () => {
    const archive = join(work, 'tree.hfstream');
    await holdfastOk(['export', withSocket, '-o', archive]);
    await holdfastOk(['import', archive, '--target', join(work, 'stream-file')]);
    await assertSameTree(withSocket, join(work, 'stream-file', 'tree'), 'stream through a file');
  });

  await t.test('stream format through stdout and stdin', async () => {
    const stream = await holdfastOk(['export', withSocket]);
    await holdfastOk(['import', '-', '--target', join(work, 'stream-pipe')], stream);
    await assertSameTree(withSocket, join(work, 'stream-pipe', 'tree'), 'stream through pipes');
  });

  const tree = join(work, 'no-socket', 'tree');
  await buildHardCaseTree(tree);
  const holdfastTar = join(work, 'holdfast.tar');
  await holdfastOk(['export', tree, '--format', 'tar', '-o', holdfastTar]);

  await t.test('tar format through a file, also gzip- and zstd-compressed', async () => {
    await holdfastOk(['import', holdfastTar, '--target', join(work, 'tar-file')]);
    await assertSameTree(tree, join(work, 'tar-file', 'tree'), 'holdfast tar');
    const tarBytes = await readFile(holdfastTar);
    await runToolOrFail('gzip', ['-k', '-f', holdfastTar]);
    await runToolOrFail('zstd', ['-q', '-f', holdfastTar, '-o', `${holdfastTar}.zst`]);
    await holdfastOk(['import', `${holdfastTar}.gz`, '--target', join(work, 'tar-gzip')]);
    await assertSameTree(tree, join(work, 'tar-gzip', 'tree'), 'holdfast tar.gz');
    await holdfastOk(['import', '-', '--target', join(work, 'tar-zstd')], await readFile(`${holdfastTar}.zst`));
    await assertSameTree(tree, join(work, 'tar-zstd', 'tree'), 'holdfast tar.zst from stdin');
    assert.ok(tarBytes.length < 16 * 1024 * 1024, `the tar is ${tarBytes.length} bytes: the 1 GiB file's holes are not in it`);
  });

  await t.test('GNU tar extracts holdfast tar with zero differences; bsdtar too, but for its known misreading of negative fractional times', async (t) => {
    if (!requireTools(t, 'tar', 'bsdtar')) return;
    const gnu = join(work, 'gnu-extract');
    await runToolOrFail('mkdir', ['-p', gnu]);
    await runToolOrFail('tar', ['-x', ...gnuTarExtract, '-f', holdfastTar, '-C', gnu]);
    await assertSameTree(tree, join(gnu, 'tree'), 'GNU tar extracting holdfast tar');
    const bsd = join(work, 'bsdtar-extract');
    await runToolOrFail('mkdir', ['-p', bsd]);
    await runToolOrFail('bsdtar', ['-x', '-p', '--acls', '--xattrs', '--numeric-owner', '-f', holdfastTar, '-C', bsd]);
    // bsdtar 3.6 (libarchive before 3.8) misreads a negative pax time with a fraction: it takes
    // "-2000000000.123456789" as -2000000000 s plus 0.123456789 s (libarchive issue 2562, fixed by
    // pull request 2634). POSIX and GNU tar read it as the number it is, which is what holdfast
    // writes, so these mtimes, and nothing else, differ; each exactly as libarchive 3.6 misreads it.
    const expected = Object.entries((await treeManifest(tree)).entries)
      .filter(([, entry]) => BigInt(entry.mtime_ns) < 0n && BigInt(entry.mtime_ns) % nanosecondsPerSecond !== 0n)
      .map(([path, entry]) => `${path}: mtime_ns: ${entry.mtime_ns} != ${libarchive36Reading(BigInt(entry.mtime_ns))}`);
    assert.ok(expected.length >= 2, 'the tree has times before 1970 with nanoseconds');
    assert.deepEqual(await compareTrees(tree, join(bsd, 'tree')), expected, 'bsdtar extracting holdfast tar');
  });

  await t.test('holdfast imports the archives of GNU tar and bsdtar with zero differences', async (t) => {
    if (!requireTools(t, 'tar', 'bsdtar')) return;
    const gnuTar = join(work, 'gnu.tar');
    await runToolOrFail('tar', ['-c', ...gnuTarCreate, '-f', gnuTar, '-C', join(work, 'no-socket'), 'tree']);
    await holdfastOk(['import', gnuTar, '--target', join(work, 'from-gnu')]);
    await assertSameTree(tree, join(work, 'from-gnu', 'tree'), 'holdfast importing GNU tar');
    const bsdTar = join(work, 'bsd.tar');
    await runToolOrFail('bsdtar', ['-c', '--format=pax', '--acls', '--xattrs', '--read-sparse', '-f', bsdTar, '-C', join(work, 'no-socket'), 'tree']);
    await holdfastOk(['import', bsdTar, '--target', join(work, 'from-bsdtar')]);
    await assertSameTree(tree, join(work, 'from-bsdtar', 'tree'), 'holdfast importing bsdtar');
  });

  await t.test('--json prints a summary line an operator can parse', async () => {
    const run = await runHoldfast(['import', holdfastTar, '--target', join(work, 'json'), '--json']);
    assert.equal(run.exitCode, 0, run.stderr);
    const summaryLine = run.stdout.toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line['type'] === 'summary');
    assert.ok(summaryLine !== undefined);
    assert.equal(summaryLine['format'], 'tar');
    assert.equal(summaryLine['entriesRefused'], 0);
    assert.ok((summaryLine['entriesRestored'] as number) > 90);
    await writeFile(join(work, 'done'), '');
  });
});
