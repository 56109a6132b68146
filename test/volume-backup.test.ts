/**
 * Volumes, as a user backs them up and restores them: `backup --volume IMAGE` and `backup
 * --volume nbd+unix://...` store a volume, `restore SNAPSHOT --volume-target IMAGE` gives back a
 * byte-identical, sparse image, `check --read-data` accepts the repository, a second backup of
 * the unchanged volume stores nothing new, and a snapshot that is not a volume (or a target that
 * is not a regular file) is refused with exit code 1 and a clear message.
 *
 * How: the image is made with real writes, truncate and fallocate -p; qemu-nbd (qemu-utils)
 * exports a copy read-only on a Unix socket. The CLI runs from the sources in its own process;
 * cmp and stat (coreutils) are the witnesses. qemu-nbd gives no holdfast description, so that
 * backup must say it read every data block.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runTool, runToolOrFail, statField } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const mib = 1024 * 1024;
const blockBytes = 65536;
const imageBytes = 32 * mib - 4096;

function summaryOf(run: HoldfastRun): Record<string, unknown> {
  const lines = run.stdout.toString('utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
  const summary = lines.find((line) => line['type'] === 'summary');
  assert.ok(summary !== undefined, `no summary line in ${run.stdout.toString('utf8')}`);
  return summary;
}

/** Data, a punched hole inside it, allocated zeros, scattered data and a short last block. */
async function makeImage(path: string): Promise<void> {
  writeFileSync(path, randomBytes(4 * mib));
  await runToolOrFail('truncate', ['-s', String(imageBytes), path]);
  await runToolOrFail('fallocate', ['-p', '-o', String(mib + 4096), '-l', String(mib), path]);
  const file = await open(path, 'r+');
  try {
    await file.write(Buffer.alloc(2 * mib), 0, 2 * mib, 8 * mib); // written zeros: data on disk, a hole in the snapshot
    for (const offset of [12 * mib + 100, 20 * mib, 31 * mib + 65536 - 10]) await file.write(randomBytes(70_000), 0, 70_000, offset);
    await file.write(randomBytes(100), 0, 100, imageBytes - 100);
    await file.sync();
  } finally {
    await file.close();
  }
}

function cli(directory: string): { run: (args: string[]) => Promise<HoldfastRun>; ok: (args: string[]) => Promise<HoldfastRun> } {
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: join(directory, 'repository'), HOLDFAST_PASSWORD: 'volume test', XDG_CACHE_HOME: join(directory, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const run = (args: string[]): Promise<HoldfastRun> => runHoldfast(args, { env });
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const result = await run(args);
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };
  return { run, ok };
}

async function assertIdenticalAndSparse(source: string, restored: string): Promise<void> {
  const compared = await runTool('cmp', [source, restored]);
  assert.equal(compared.exitCode, 0, `cmp: ${compared.stdout}${compared.stderr}`);
  const allocatedBytes = (await statField(restored, '%b')) * 512;
  assert.ok(allocatedBytes < imageBytes / 4, `the restored image is sparse: ${allocatedBytes} bytes allocated of ${imageBytes}`);
}

test('backup --volume IMAGE and restore --volume-target give the image back, sparse; a second backup stores nothing new', async (t) => {
  if (!requireTools(t, 'fallocate', 'truncate', 'cmp', 'stat')) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image);
  const { ok, run } = cli(directory.path);
  await ok(['init']);
  const first = summaryOf(await ok(['backup', '--volume', image, '--json']));
  assert.match(String(first['reason']), /image file has no change map/);
  assert.equal(first['blocksUnchanged'], 0);
  assert.equal(first['sizeBytes'], imageBytes);
  // 64 KiB blocks: the 4 MiB written less the 1 MiB hole (48 blocks; the hole's edges are blocks
  // with data), 3 x 70,000 bytes each over 2 or 3 blocks, the last block. Written zeros are read but
  // not stored; blocks that are holes are not read at all.
  const bytesRead = Number(first['bytesRead']);
  assert.ok(bytesRead < 8 * mib + 2 * mib + 10 * blockBytes && bytesRead >= 3 * mib, `read ${bytesRead} bytes`);
  assert.ok(Number(first['dataBytes']) < 4 * mib, `the zero blocks are holes: ${Number(first['dataBytes'])} data bytes`);

  const restored = join(directory.path, 'restored.img');
  writeFileSync(restored, randomBytes(1000)); // an existing file is truncated and rewritten
  await ok(['restore', 'latest', '--volume-target', restored, '--json']);
  await assertIdenticalAndSparse(image, restored);
  await ok(['check', '--read-data']);

  const second = summaryOf(await ok(['backup', '--volume', image, '--json']));
  assert.equal(second['chunksAdded'], 0, 'the second backup of the unchanged image stores no new blob');
  assert.equal(second['rawBytesAdded'], 0);
  const snapshots = (await ok(['snapshots', '--json'])).stdout.toString('utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { tags: string[]; paths: string[] });
  assert.equal(snapshots.length, 2);
  for (const snapshot of snapshots) {
    assert.ok(snapshot.tags.includes('volume'), `tagged volume: ${JSON.stringify(snapshot.tags)}`);
    assert.deepEqual(snapshot.paths, [image]);
  }

  // A directory as the target is refused.
  mkdirSync(join(directory.path, 'a-directory'));
  const refused = await run(['restore', 'latest', '--volume-target', join(directory.path, 'a-directory')]);
  assert.equal(refused.exitCode, 1);
  assert.match(refused.stderr, /not a regular file/);
});

test('backup --volume of a qemu-nbd export reads everything (no change map) and restores identical', async (t) => {
  if (!requireTools(t, 'qemu-nbd', 'fallocate', 'truncate', 'cmp', 'stat')) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image);
  const exported = join(directory.path, 'exported.img');
  copyFileSync(image, exported);
  const socket = join(directory.path, 'nbd.sock');
  const pidFile = join(directory.path, 'qemu-nbd.pid');
  await runToolOrFail('qemu-nbd', ['--fork', '--pid-file', pidFile, '-f', 'raw', '-r', '-t', '-e', '4', '-k', socket, '-x', 'disk0', exported]);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    const { ok } = cli(directory.path);
    await ok(['init']);
    const uri = `nbd+unix:///disk0?socket=${socket}`;
    const summary = summaryOf(await ok(['backup', '--volume', uri, '--json']));
    assert.match(String(summary['reason']), /^read every data block: no change map/);
    assert.equal(summary['blocksUnchanged'], 0);
    assert.equal(summary['source'], uri);
    assert.ok(Number(summary['blocksRead']) > 0);
    const restored = join(directory.path, 'restored.img');
    await ok(['restore', 'latest', '--volume-target', restored]);
    await assertIdenticalAndSparse(image, restored);
    await ok(['check', '--read-data']);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
});

test('restore --volume-target of a snapshot that is not a volume exits 1 and says so', async () => {
  using directory = temporaryDirectory();
  const tree = join(directory.path, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a.txt'), 'a file, not a volume\n');
  const { ok, run } = cli(directory.path);
  await ok(['init']);
  await ok(['backup', tree]);
  const target = join(directory.path, 'out.img');
  const refused = await run(['restore', 'latest', '--volume-target', target]);
  assert.equal(refused.exitCode, 1, refused.stderr);
  assert.match(refused.stderr, /not a volume backup \(it was not made by "backup --volume"\); restore it with --target DIR/);
  const usage = await run(['backup', tree, '--volume', target]);
  assert.equal(usage.exitCode, 1);
  assert.match(usage.stderr, /either PATH\.\.\. or --volume/);
});
