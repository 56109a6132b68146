/**
 * A repository on a full disk (rules D1, D2): a backup that runs out of space fails with a clear
 * ENOSPC error, leaves no temporary file and no half-written snapshot, and the repository still
 * passes `check --read-data`; once there is room, the same backup succeeds and restores byte for
 * byte.
 *
 * How: a 128 MiB ext4 image on a loop device holds the repository; a filler file takes all but
 * 24 MiB of it. The source, on /tmp, is 40 MiB of random (incompressible) data, so the backup
 * must fail after a pack or so. Then the filler is removed and the backup run again. Everything
 * runs through the real CLI.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { mountLoopFilesystem } from '../src/test-support/loop-filesystem.js';
import { requireRoot, requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const filesystemSizeMiB = 128;
const freeBytesLeft = 24 * 1024 * 1024;
const sourceFileBytes = 10 * 1024 * 1024;
const sourceFileCount = 4;

/** Every name below `root` (recursively) that begins with `.tmp-`. */
function temporaryFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).filter((name) => name.split('/').some((part) => part.startsWith('.tmp-')));
}

/** Writes a file of zeros (ext4 allocates them) until only `leaveBytes` of the file system stay free. */
async function fill(path: string, directory: string, leaveBytes: number): Promise<void> {
  // bfree, not bavail: root may use the blocks ext4 reserves, and holdfast runs as root here.
  const stat = statfsSync(directory);
  const fillBytes = stat.bfree * stat.bsize - leaveBytes;
  assert.ok(fillBytes > 0, 'the file system is smaller than expected');
  const chunk = Buffer.alloc(1024 * 1024);
  const file = await open(path, 'wx');
  try {
    for (let written = 0; written < fillBytes; written += chunk.length) await file.write(chunk, 0, Math.min(chunk.length, fillBytes - written));
    await file.sync();
  } finally {
    await file.close();
  }
}

test('a backup onto a full disk fails with ENOSPC and leaves a repository that checks; with room again it succeeds', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'mkfs.ext4', 'mount', 'umount')) return;
  await using filesystem = await mountLoopFilesystem('ext4', filesystemSizeMiB);
  using directory = temporaryDirectory();
  const repository = join(filesystem.mountPoint, 'repository');
  const source = join(directory.path, 'source');
  mkdirSync(source);
  const contents = Array.from({ length: sourceFileCount }, (_, index) => {
    const bytes = randomBytes(sourceFileBytes);
    writeFileSync(join(source, `random-${index}.bin`), bytes);
    return bytes;
  });
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: 'full disk', XDG_CACHE_HOME: join(directory.path, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const run = (args: string[]): Promise<HoldfastRun> => runHoldfast(args, { env });
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const result = await run(args);
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };

  await ok(['init']);
  const filler = join(filesystem.mountPoint, 'filler');
  await fill(filler, filesystem.mountPoint, freeBytesLeft);

  const failed = await run(['backup', source]);
  assert.equal(failed.exitCode, 1, `the backup onto a full disk exited ${failed.exitCode}: ${failed.stderr}`);
  // One line: the operation, the pack's temporary file and the errno; no unhandled rejection after it.
  assert.match(failed.stderr, new RegExp(`^holdfast backup: Cannot (write|sync) "${repository}/data/[0-9a-f]{2}/\\.tmp-[0-9a-f]{64}-[0-9a-f]{12}": ENOSPC \\((write|fsync) failed\\)\\n$`), failed.stderr);
  assert.deepEqual(temporaryFiles(repository), [], 'a failed save left its temporary file');
  const afterFailure = (await ok(['check', '--read-data', '--json'])).stdout.toString('utf8');
  assert.match(afterFailure, /"problems":0/, afterFailure);
  const snapshotsAfterFailure = (await ok(['snapshots', '--json'])).stdout.toString('utf8').split('\n').filter((line) => line !== '');
  assert.deepEqual(snapshotsAfterFailure, [], 'the failed backup left a snapshot');

  rmSync(filler);
  const backedUp = await ok(['backup', source, '--json']);
  assert.match(backedUp.stdout.toString('utf8'), /"type":"summary"/);
  assert.deepEqual(temporaryFiles(repository), []);
  const target = join(directory.path, 'restored');
  await ok(['restore', 'latest', '--target', target]);
  contents.forEach((bytes, index) => {
    assert.ok(readFileSync(join(target, source, `random-${index}.bin`)).equals(bytes), `random-${index}.bin was not restored byte for byte`);
  });
  const final = (await ok(['check', '--read-data', '--json'])).stdout.toString('utf8');
  assert.match(final, /"problems":0/, final);
  assert.equal((await ok(['snapshots', '--json'])).stdout.toString('utf8').split('\n').filter((line) => line !== '').length, 1);
});
