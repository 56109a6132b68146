/**
 * A real ext4 on a holdfast volume, end to end: the image is served by `holdfast volume serve`,
 * reached through nbdfuse (a FUSE file backed by the NBD export) and a loop device, and mounted.
 * Files are written; a snapshot is taken with --freeze while a writer keeps appending to a log;
 * the snapshot export is backed up; more is written; a second snapshot is backed up
 * incrementally, reading only the blocks its change map marks; both are restored as images, and
 * each passes `e2fsck -fn` and holds exactly the files of its moment (the log a whole-line prefix
 * of what the writer wrote).
 *
 * How: as root; nbdfuse and the loop device are the kernel's and libnbd's, the CLI runs from the
 * sources in its own processes. Each file's SHA-256 is recorded before its snapshot (the other
 * files do not change during the freeze) and compared with the restored image's, read through a
 * read-only loop mount of the restored image.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireRoot, requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, startHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runTool, runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const password = 'volume test password';
const volumeMiB = 256;
const granularity = 65536;

function environment(repository: string): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_')));
  return { ...clean, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password };
}

async function holdfastOk(args: string[], env: NodeJS.ProcessEnv): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env });
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run;
}

function jsonLines(run: HoldfastRun): Record<string, unknown>[] {
  return run.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function until(what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (await ready()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** SHA-256 of every regular file under `root` but the log, by relative path. */
async function manifest(root: string, prefix = ''): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const name = join(prefix, entry.name);
    if (entry.name === 'lost+found' || entry.name === 'log.txt') continue;
    if (entry.isDirectory()) for (const [path, hash] of await manifest(root, name)) files.set(path, hash);
    else files.set(name, createHash('sha256').update(await readFile(join(root, name))).digest('hex'));
  }
  return files;
}

/** The blocks a dirty-bitmap map marks, from `nbdinfo --map` lines "offset length flags description". */
async function dirtyBlocks(uri: string): Promise<number> {
  const output = await runToolOrFail('nbdinfo', ['--map=qemu:dirty-bitmap:holdfast', uri]);
  let blocks = 0;
  for (const line of output.split('\n')) {
    const [, length, flags] = line.trim().split(/\s+/);
    if (flags === '1') blocks += Math.ceil(Number(length) / granularity);
  }
  return blocks;
}

function randomFile(bytes: number, seed: number): Buffer {
  const data = Buffer.alloc(bytes);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < bytes; index += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data.writeUInt32LE(state >>> 0, index);
  }
  return data;
}

test('ext4 on a served volume: frozen snapshots backed up (the second incrementally) restore to images that pass e2fsck and hold their files', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'nbdfuse', 'nbdinfo', 'fusermount3', 'losetup', 'mkfs.ext4', 'e2fsck', 'mount', 'umount')) return;
  using directory = temporaryDirectory('holdfast-volume-');
  const root = directory.path;
  const image = join(root, 'volume.img');
  const socket = join(root, 'volume.sock');
  const fuseDirectory = join(root, 'fuse');
  const mountPoint = join(root, 'mnt');
  const repository = join(root, 'repository');
  const env = environment(repository);
  await mkdir(fuseDirectory);
  await mkdir(mountPoint);
  await runToolOrFail('truncate', ['-s', `${volumeMiB}M`, image]);
  await runToolOrFail('mkfs.ext4', ['-q', '-F', image]);
  await holdfastOk(['init'], env);

  const serverOutput: string[] = [];
  const server = startHoldfast(['volume', 'serve', image, '--socket', socket], { env, onStdout: (chunk) => serverOutput.push(chunk.toString('utf8')) });
  let fuse: ChildProcess | null = null;
  let loopDevice: string | null = null;
  let writer: ChildProcess | null = null;
  let mounted = false;
  try {
    await until('the server to listen', () => serverOutput.join('').includes('serving export'));
    fuse = spawn('nbdfuse', [fuseDirectory, '--unix', socket], { stdio: 'ignore' });
    await until('nbdfuse', () => existsSync(join(fuseDirectory, 'nbd')));
    loopDevice = (await runToolOrFail('losetup', ['-f', '--show', join(fuseDirectory, 'nbd')])).trim();
    await runToolOrFail('mount', [loopDevice, mountPoint]);
    mounted = true;

    // Point in time 1: some files, and a log the writer keeps appending to.
    await mkdir(join(mountPoint, 'documents'));
    for (let index = 0; index < 12; index++) await writeFile(join(mountPoint, 'documents', `file-${index}.bin`), randomFile(37_000 * (index + 1), index + 1));
    await writeFile(join(mountPoint, 'small.txt'), 'first version\n');
    writer = spawn('sh', ['-c', 'i=0; while :; do echo "line $i of the log" >> "$1/log.txt"; i=$((i+1)); done', 'writer', mountPoint], { stdio: 'ignore' });
    await until('the writer to start', () => existsSync(join(mountPoint, 'log.txt')));
    await sleep(300);
    const expected1 = await manifest(mountPoint);
    const snapshot1 = await holdfastOk(['volume', 'snapshot', '--socket', socket, '--freeze', mountPoint, '--json'], env);
    const name1 = snapshot1.stdout.toString('utf8').trim().split('\n').at(-1)!;
    const taken1 = jsonLines(snapshot1).find((line) => line['type'] === 'snapshot')!;
    assert.equal(name1, 'snapshot-1');
    assert.ok(typeof taken1['holdMs'] === 'number' && typeof taken1['frozenMs'] === 'number', JSON.stringify(taken1));
    const uri1 = `nbd+unix:///${name1}?socket=${socket}`;
    const backup1 = await holdfastOk(['backup', '--volume', uri1, '--json'], env);

    // Point in time 2: more files, one changed, one removed, the log still growing.
    for (let index = 0; index < 6; index++) await writeFile(join(mountPoint, `new-${index}.bin`), randomFile(91_000, 100 + index));
    await writeFile(join(mountPoint, 'small.txt'), 'second version, longer than the first\n');
    await unlink(join(mountPoint, 'documents', 'file-3.bin'));
    await sleep(300);
    const expected2 = await manifest(mountPoint);
    const snapshot2 = await holdfastOk(['volume', 'snapshot', '--socket', socket, '--freeze', mountPoint], env);
    const name2 = snapshot2.stdout.toString('utf8').trim().split('\n').at(-1)!;
    assert.equal(name2, 'snapshot-2');
    const uri2 = `nbd+unix:///${name2}?socket=${socket}`;
    const changed = await dirtyBlocks(uri2);
    const backup2 = await holdfastOk(['backup', '--volume', uri2, '--json'], env);
    writer.kill('SIGTERM');
    await new Promise((resolve) => writer!.once('close', resolve));
    writer = null;
    const finalLog = await readFile(join(mountPoint, 'log.txt'), 'utf8');

    // The incremental backup read exactly the blocks the change map marks, a small part of the volume.
    const volume2 = jsonLines(backup2).find((line) => line['type'] === 'summary')!;
    const volume1 = jsonLines(backup1).find((line) => line['type'] === 'summary')!;
    assert.ok(changed > 0 && changed < (volumeMiB * 1024 * 1024) / granularity / 4, `${changed} blocks changed`);
    assert.equal(volume2['blocksRead'], changed, `incremental backup: ${JSON.stringify(volume2)}; ${changed} blocks dirty`);
    assert.ok(Number(volume2['blocksUnchanged']) > 0, JSON.stringify(volume2));
    assert.equal(volume1['blocksUnchanged'], 0, `the first backup reads every data block: ${JSON.stringify(volume1)}`);
    assert.equal(volume2['parent'], volume1['snapshot'], `the second backup's parent is the first: ${JSON.stringify(volume2)}`);

    await runToolOrFail('umount', [mountPoint]);
    mounted = false;
    await runToolOrFail('losetup', ['-d', loopDevice]);
    loopDevice = null;

    const snapshots = jsonLines(await holdfastOk(['snapshots', '--json'], env));
    const ids = snapshots.flatMap((line) => (Array.isArray(line['snapshots']) ? (line['snapshots'] as { id: string }[]).map((entry) => entry.id) : typeof line['id'] === 'string' ? [line['id'] as string] : []));
    assert.equal(ids.length, 2, JSON.stringify(snapshots));
    for (const [index, expected] of [expected1, expected2].entries()) {
      const restored = join(root, `restored-${index + 1}.img`);
      await holdfastOk(['restore', ids[index]!, '--volume-target', restored], env);
      const fsck = await runTool('e2fsck', ['-fn', restored]);
      assert.equal(fsck.exitCode, 0, `e2fsck -fn of restored image ${index + 1}: ${fsck.stdout}${fsck.stderr}`);
      const look = join(root, `look-${index + 1}`);
      await mkdir(look);
      await runToolOrFail('mount', ['-o', 'ro,loop,noload', restored, look]);
      try {
        assert.deepEqual(await manifest(look), expected, `restored image ${index + 1} holds the files of its moment`);
        const log = await readFile(join(look, 'log.txt'), 'utf8');
        assert.ok(log.length > 0 && log.endsWith('\n') && finalLog.startsWith(log), `restored log ${index + 1} is a whole-line prefix of the final log (${log.length} of ${finalLog.length} bytes)`);
      } finally {
        await runToolOrFail('umount', [look]);
      }
    }
    await holdfastOk(['check', '--read-data'], env);
  } finally {
    writer?.kill('SIGKILL');
    if (mounted) await runTool('umount', ['-l', mountPoint]);
    if (loopDevice !== null) await runTool('losetup', ['-d', loopDevice]);
    if (fuse !== null) {
      await runTool('fusermount3', ['-u', fuseDirectory]);
      await new Promise((resolve) => (fuse!.exitCode === null ? fuse!.once('close', resolve) : resolve(null)));
    }
    server.child.kill('SIGTERM');
    const stopped = await server.done;
    assert.equal(stopped.exitCode, 0, `the server exited ${stopped.exitCode}: ${stopped.stderr}`);
    await rm(join(root, 'repository'), { recursive: true, force: true });
  }
});
