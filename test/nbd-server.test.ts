/**
 * `holdfast volume serve` against the real NBD clients (libnbd's nbdinfo and nbdcopy, qemu-io,
 * qemu-img): what they negotiate, what the maps say, what they read back, and what survives a
 * restart of the server.
 *
 * How: each test makes a fresh image in a temporary directory, starts the real CLI on it (from
 * the sources, `--json` unless the text is what is checked), drives it with the clients over its
 * unix socket, and stops it with SIGTERM, which must exit 0. Expectations are computed
 * independently of the server: dirty blocks from the list of commands the test sent, holes from
 * `qemu-img map`, contents from the bytes the test wrote and `cmp`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { mergeRanges, runTool, runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';
import { blocksOf, dirtyBlocks, eventOf, listExports, nbdinfoMap, serveVolume, type VolumeServer } from '../src/test-support/volume-server.js';

const imageBytes = 8 * 1024 * 1024;
const mebibyte = 1024 * 1024;

function tools(t: TestContext): boolean {
  return requireTools(t, 'nbdinfo', 'nbdcopy', 'qemu-io', 'qemu-img', 'cmp', 'cp', 'dd', 'truncate');
}

/** A sparse image of `sizeBytes` with random data at `dataRanges` ([offset, length]), the rest holes. */
async function makeImage(path: string, sizeBytes: number, dataRanges: ReadonlyArray<readonly [number, number]>): Promise<void> {
  const file = await open(path, 'wx');
  try {
    await file.truncate(sizeBytes);
    for (const [offset, lengthBytes] of dataRanges) await file.write(randomBytes(lengthBytes), 0, lengthBytes, offset);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Serves `image` for the length of `body`, then stops the server (SIGTERM, exit 0) whatever happened. */
async function withServer(image: string, options: Parameters<typeof serveVolume>[1], body: (server: VolumeServer) => Promise<void>): Promise<HoldfastRun> {
  const server = await serveVolume(image, options);
  try {
    await body(server);
  } catch (error) {
    await server.kill();
    throw error;
  }
  return server.stop();
}

async function snapshotOf(server: VolumeServer): Promise<{ name: string; event: Record<string, unknown> }> {
  const run = await runHoldfast(['volume', 'snapshot', '--socket', server.socketPath, '--json']);
  assert.equal(run.exitCode, 0, `volume snapshot exited ${run.exitCode}: ${run.stderr}`);
  const lines = run.stdout.toString('utf8').trim().split('\n');
  return { name: lines.at(-1)!, event: JSON.parse(lines.at(-2)!) as Record<string, unknown> };
}

async function qemuIo(uri: string, commands: readonly string[]): Promise<string> {
  const output = await runToolOrFail('qemu-io', ['-f', 'raw', ...commands.flatMap((command) => ['-c', command]), uri]);
  // qemu-io reports a failed command on stdout and may still exit 0.
  assert.doesNotMatch(output, /failed|error|Pattern verification/i, output);
  return output;
}

async function nbdcopyTo(uri: string, path: string): Promise<Buffer> {
  await runToolOrFail('nbdcopy', [uri, path]);
  return readFileSync(path);
}

async function cmp(first: string, second: string): Promise<void> {
  const result = await runTool('cmp', [first, second]);
  assert.equal(result.exitCode, 0, `cmp ${first} ${second}: ${result.stdout}${result.stderr}`);
}

test('nbdinfo lists the exports, sees every capability and a map that matches the image\'s holes', async (t) => {
  if (!tools(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image, imageBytes, [[100_000, 5_000], [mebibyte, 3 * mebibyte / 2], [7 * mebibyte + 12_345, 4096]]);
  await withServer(image, {}, async (server) => {
    assert.deepEqual(await listExports(server.uri()), ['']);
    for (const capability of ['flush', 'fua', 'trim', 'zero', 'fast-zero', 'cache', 'multi-conn', 'write']) {
      const result = await runTool('nbdinfo', ['--can', capability, server.uri()]);
      assert.equal(result.exitCode, 0, `nbdinfo --can ${capability} on the live export exited ${result.exitCode}: ${result.stderr}`);
    }

    // Independent witness: qemu-img reads the image file itself (SEEK_DATA/SEEK_HOLE).
    const qemuMap = JSON.parse(await runToolOrFail('qemu-img', ['map', '--output=json', '-f', 'raw', image])) as Array<{ start: number; length: number; data: boolean }>;
    const expectedData = mergeRanges(qemuMap.filter((entry) => entry.data).map((entry) => [entry.start, entry.start + entry.length] as const));
    const served = await nbdinfoMap(server.uri());
    assert.equal(served.reduce((sum, entry) => sum + entry.length, 0), imageBytes, 'the map covers the export');
    const servedData = mergeRanges(served.filter((entry) => (entry.type & 1) === 0).map((entry) => [entry.offset, entry.offset + entry.length] as const));
    assert.deepEqual(servedData, expectedData);
    assert.ok(servedData.length >= 3, `the image has three data runs: ${JSON.stringify(servedData)}`);
    for (const entry of served) if ((entry.type & 1) !== 0) assert.equal(entry.type & 2, 2, 'a hole reads as zeros');

    const snapshot = await snapshotOf(server);
    assert.equal(snapshot.name, 'snapshot-1');
    assert.deepEqual(await listExports(server.uri()), ['', 'snapshot-1']);
    const writeOnSnapshot = await runTool('nbdinfo', ['--can', 'write', server.uri('snapshot-1')]);
    assert.equal(writeOnSnapshot.exitCode, 2, `nbdinfo --can write on a snapshot exited ${writeOnSnapshot.exitCode}: ${writeOnSnapshot.stderr}`);
  });

  await withServer(image, { extraArgs: ['--read-only'] }, async (readOnly) => {
    const writeOnReadOnly = await runTool('nbdinfo', ['--can', 'write', readOnly.uri()]);
    assert.equal(writeOnReadOnly.exitCode, 2, `nbdinfo --can write on a --read-only server exited ${writeOnReadOnly.exitCode}: ${writeOnReadOnly.stderr}`);
    assert.equal((await runTool('nbdinfo', ['--can', 'flush', readOnly.uri()])).exitCode, 0);
  });
});

/** What each changing qemu-io command touches: [command, offset, length]; reads and flushes touch nothing. */
const changes: ReadonlyArray<readonly [string, number, number]> = [
  ['write -P 0x11 1000 70000', 1000, 70000],
  ['write -P 0x22 131071 2', 131071, 2],
  ['write -z 600001 1000', 600001, 1000],
  ['write -z -u 1048576 65536', 1048576, 65536],
  ['discard 2000000 70000', 2000000, 70000],
  ['write -P 0x33 8388000 608', 8388000, 608],
];
const readsAndFlushes = ['read 3000000 100000', 'read -P 0x11 1000 70000', 'flush', 'read 5242880 65536', 'flush'];

test('the dirty bitmap is exactly the blocks written, zeroed and discarded; a snapshot takes it and the live map starts empty', async (t) => {
  if (!tools(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image, imageBytes, [[2 * mebibyte, mebibyte]]);
  await withServer(image, {}, async (server) => {
    assert.deepEqual(await dirtyBlocks(server.uri()), [], 'a new map is empty');
    await qemuIo(server.uri(), [...changes.slice(0, 3).map(([command]) => command), ...readsAndFlushes, ...changes.slice(3).map(([command]) => command)]);
    const expected = [...new Set(changes.flatMap(([, offset, lengthBytes]) => blocksOf(offset, lengthBytes)))].sort((a, b) => a - b);
    assert.deepEqual(await dirtyBlocks(server.uri()), expected);

    // Reading everything (nbdcopy) and more reads and flushes mark nothing.
    await qemuIo(server.uri(), readsAndFlushes);
    await nbdcopyTo(server.uri(), join(directory.path, 'copy.img'));
    assert.deepEqual(await dirtyBlocks(server.uri()), expected);

    const snapshot = await snapshotOf(server);
    assert.equal(snapshot.event['changedBlocks'], expected.length);
    assert.deepEqual(await dirtyBlocks(server.uri(snapshot.name)), expected, 'the snapshot\'s map');
    assert.deepEqual(await dirtyBlocks(server.uri()), [], 'the live map after the snapshot');

    await qemuIo(server.uri(), ['write -P 0x44 4194300 10']);
    assert.deepEqual(await dirtyBlocks(server.uri()), blocksOf(4194300, 10));
    assert.deepEqual(await dirtyBlocks(server.uri(snapshot.name)), expected, 'a later write does not mark the snapshot');
  });
});

test('nbdcopy reads the live export as the image and a snapshot export as the image was when it was taken', async (t) => {
  if (!tools(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image, imageBytes, [[0, 300_000], [3 * mebibyte, 2 * mebibyte], [imageBytes - 4096, 4096]]);
  await withServer(image, {}, async (server) => {
    const live = join(directory.path, 'live.img');
    await nbdcopyTo(server.uri(), live);
    await cmp(live, image);
    const compared = await runToolOrFail('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', server.uri(), image]);
    assert.match(compared, /Images are identical/);

    const snapshot = await snapshotOf(server);
    const atSnapshot = join(directory.path, 'at-snapshot.img');
    await runToolOrFail('cp', ['--sparse=always', image, atSnapshot]);
    await qemuIo(server.uri(), ['write -P 0x5a 100 200000', 'write -z 3145728 131072', 'discard 4194304 65536', 'write -P 0xa5 8388600 8', 'write -P 0x77 6291456 1048576']);
    const afterWrites = readFileSync(image);
    assert.notDeepEqual(afterWrites, readFileSync(atSnapshot), 'the writes changed the image');

    const snapshotCopy = join(directory.path, 'snapshot.img');
    await nbdcopyTo(server.uri(snapshot.name), snapshotCopy);
    await cmp(snapshotCopy, atSnapshot);
    assert.match(await runToolOrFail('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', server.uri(snapshot.name), atSnapshot]), /Images are identical/);
    await nbdcopyTo(server.uri(), join(directory.path, 'live-after.img'));
    await cmp(join(directory.path, 'live-after.img'), image);
  });
});

test('a snapshot whose store outgrows --snapshot-space is abandoned and the volume keeps working', async (t) => {
  if (!tools(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image, 4 * mebibyte, [[0, 4 * mebibyte]]);
  await withServer(image, { extraArgs: ['--snapshot-space', '256K'] }, async (server) => {
    const snapshot = await snapshotOf(server);
    assert.deepEqual(await listExports(server.uri()), ['', snapshot.name]);
    await qemuIo(server.uri(), ['write -P 0xc3 65536 1M']);
    const abandoned = await server.waitFor((line) => line.event?.['type'] === 'snapshot-abandoned');
    assert.equal(abandoned.event?.['name'], snapshot.name);
    assert.deepEqual(await listExports(server.uri()), ['']);

    const expected = Buffer.alloc(mebibyte, 0xc3);
    const live = await nbdcopyTo(server.uri(), join(directory.path, 'live.img'));
    assert.deepEqual(live.subarray(65536, 65536 + mebibyte), expected);
    await cmp(join(directory.path, 'live.img'), image);
    await qemuIo(server.uri(), ['read -P 0xc3 65536 1M']);
  });
});

test('a restart resumes the map after a clean stop and resets it after the image changed or was resized', async (t) => {
  if (!tools(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image, imageBytes, [[0, mebibyte]]);

  let generation: unknown;
  const marked = [...blocksOf(70000, 10), ...blocksOf(5000000, 100000)];
  await withServer(image, {}, async (server) => {
    const tracking = eventOf(server, 'tracking');
    generation = tracking['generation'];
    assert.match(String(tracking['resetReason']), /no change map yet/);
    await qemuIo(server.uri(), ['write -P 1 70000 10', 'write -P 2 5000000 100000']);
    assert.deepEqual(await dirtyBlocks(server.uri()), marked);
  });

  // Text output this time: what a person reads.
  const stopped = await withServer(image, { json: false }, async (server) => {
    const resumed = await server.waitFor((line) => line.text.startsWith('change tracking'));
    assert.equal(resumed.text, `change tracking resumed: generation ${String(generation)}, after snapshot 0`);
    assert.deepEqual(await dirtyBlocks(server.uri()), marked, 'the map was kept');
  });
  assert.match(stopped.stdout.toString('utf8'), /\nstopped cleanly; the change map is saved\n$/);

  await runToolOrFail('dd', ['if=/dev/urandom', `of=${image}`, 'bs=4096', 'count=1', 'seek=100', 'conv=notrunc,fsync', 'status=none']);
  let changedGeneration: unknown;
  await withServer(image, {}, async (server) => {
    const tracking = eventOf(server, 'tracking');
    assert.match(String(tracking['resetReason']), /changed while no holdfast server had it open/);
    changedGeneration = tracking['generation'];
    assert.notEqual(changedGeneration, generation);
    assert.deepEqual(await dirtyBlocks(server.uri()), []);
  });

  await runToolOrFail('truncate', ['-s', String(imageBytes + mebibyte), image]);
  await withServer(image, {}, async (server) => {
    const tracking = eventOf(server, 'tracking');
    assert.match(String(tracking['resetReason']), /resized/);
    assert.notEqual(tracking['generation'], changedGeneration);
    assert.deepEqual(await dirtyBlocks(server.uri()), []);
  });
});
