/**
 * NbdClient against the real qemu-nbd (Debian qemu-utils): it negotiates fixed newstyle with
 * structured replies and metadata contexts, reads a raw image with holes byte for byte (many
 * READs in flight, OFFSET_DATA and OFFSET_HOLE chunks), and its BLOCK_STATUS maps agree with
 * what libnbd's nbdinfo --map reports for base:allocation and for a qcow2 dirty bitmap written
 * through qemu-io. A missing export, a missing socket and a request past the end are clear
 * errors naming the URI.
 *
 * How: images are made with real writes, truncate and fallocate -p (raw) or qemu-img and
 * qemu-io (qcow2); qemu-nbd serves them read-only on a Unix socket (--fork returns once it
 * listens; it is stopped by its pid). nbdinfo shares no code with holdfast.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { requireTools } from '../test-support/requirements.js';
import { runToolOrFail } from '../test-support/system-tools.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { NbdClient, type StatusRange } from './nbd-client.js';

const mib = 1024 * 1024;

/** Starts qemu-nbd on a Unix socket; returns the URI and a stop function (kills it by its pid). */
async function serve(directory: string, image: string, format: 'raw' | 'qcow2', extra: string[] = []): Promise<{ uri: string; stop: () => void }> {
  const socket = join(directory, `${format}.sock`);
  const pidFile = join(directory, `${format}.pid`);
  await runToolOrFail('qemu-nbd', ['--fork', '--pid-file', pidFile, '-f', format, '-r', '-t', '-e', '4', '-k', socket, '-x', 'disk', ...extra, image]);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return {
    uri: `nbd+unix:///disk?socket=${socket}`,
    stop: () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}

/** nbdinfo --map of a context, as merged ranges (nbdinfo prints qemu's extents as they come). */
async function nbdinfoMap(uri: string, context: string): Promise<StatusRange[]> {
  const ranges: StatusRange[] = [];
  for (const line of (await runToolOrFail('nbdinfo', [`--map=${context}`, uri])).split('\n')) {
    const match = /^\s*(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (match === null) continue;
    const range = { offsetBytes: Number(match[1]), lengthBytes: Number(match[2]), flags: Number(match[3]) };
    const last = ranges.at(-1);
    if (last !== undefined && last.flags === range.flags && last.offsetBytes + last.lengthBytes === range.offsetBytes) last.lengthBytes += range.lengthBytes;
    else ranges.push(range);
  }
  return ranges;
}

function requireQemu(t: TestContext): boolean {
  return requireTools(t, 'qemu-nbd', 'qemu-img', 'qemu-io', 'nbdinfo', 'fallocate');
}

test('NbdClient reads a raw image with holes from qemu-nbd exactly, and its allocation map agrees with nbdinfo', async (t) => {
  if (!requireQemu(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.raw');
  // 24 MiB: data at the start, a punched hole inside it, data at 10 MiB, a short tail at the end.
  writeFileSync(image, randomBytes(6 * mib));
  // qemu rounds a raw image's size up to 512-byte sectors: this one is whole sectors, not MiB.
  await runToolOrFail('truncate', ['-s', String(24 * mib - 4608), image]);
  await runToolOrFail('fallocate', ['-p', '-o', String(2 * mib), '-l', String(mib + 4096), image]);
  const file = await open(image, 'r+');
  await file.write(randomBytes(3 * mib + 77), 0, 3 * mib + 77, 10 * mib + 333);
  await file.write(randomBytes(1000), 0, 1000, 24 * mib - 6000);
  await file.sync();
  await file.close();
  const expected = readFileSync(image);
  const server = await serve(directory.path, image, 'raw');
  try {
    await using client = await NbdClient.connect(server.uri, { requestsInFlight: 8 });
    assert.equal(client.info.sizeBytes, expected.length);
    assert.equal(client.info.readOnly, true);
    assert.equal(client.info.structuredReplies, true);
    assert.deepEqual(client.info.metaContexts, ['base:allocation']);
    assert.equal(client.info.exportName, 'disk');
    // Every MiB at once: more requests than may be in flight, answered out of order or not.
    const pieces = await Promise.all(Array.from({ length: Math.ceil(expected.length / mib) }, (_, index) => client.read(index * mib, Math.min(mib, expected.length - index * mib))));
    assert.ok(Buffer.concat(pieces).equals(expected), 'the bytes read equal the image');
    // An odd range across data and hole.
    assert.ok((await client.read(2 * mib - 100, 5000)).equals(expected.subarray(2 * mib - 100, 2 * mib + 4900)));
    const map = await client.statusMap('base:allocation');
    assert.deepEqual(map, await nbdinfoMap(server.uri, 'base:allocation'));
    assert.ok(map.some((range) => range.flags === 3 && range.offsetBytes <= 2 * mib + 4096 && range.offsetBytes + range.lengthBytes >= 3 * mib), `the punched hole is a hole: ${JSON.stringify(map)}`);
    await assert.rejects(client.read(expected.length - 10, 11), (error: Error & { code?: string; path?: string }) => error.code === 'HOLDFAST_USAGE' && error.path === server.uri && /ends past/.test(error.message));
  } finally {
    server.stop();
  }
});

test('NbdClient reports a qcow2 dirty bitmap exposed by qemu-nbd -B as nbdinfo does', async (t) => {
  if (!requireQemu(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.qcow2');
  await runToolOrFail('qemu-img', ['create', '-q', '-f', 'qcow2', image, '8M']);
  await runToolOrFail('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 512k', image]);
  await runToolOrFail('qemu-img', ['bitmap', '--add', image, 'changes']);
  // Written after the bitmap was added: these, and only these, are dirty (64 KiB granularity).
  await runToolOrFail('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x55 1M 64k', '-c', 'write -P 0x66 3M 4k', '-c', 'write -P 0x77 7340000 1000', image]);
  const server = await serve(directory.path, image, 'qcow2', ['-B', 'changes']);
  try {
    await using client = await NbdClient.connect(server.uri);
    assert.deepEqual([...client.info.metaContexts].sort(), ['base:allocation', 'qemu:dirty-bitmap:changes']);
    const dirty = await client.statusMap('qemu:dirty-bitmap:changes');
    assert.deepEqual(dirty, await nbdinfoMap(server.uri, 'qemu:dirty-bitmap:changes'));
    const dirtyRanges = dirty.filter((range) => range.flags === 1).map((range) => [range.offsetBytes, range.lengthBytes]);
    assert.deepEqual(dirtyRanges, [
      [mib, 65536],
      [3 * mib, 65536],
      // 7340000 + 1000 crosses a 64 KiB boundary: two blocks.
      [7340000 - (7340000 % 65536), 2 * 65536],
    ]);
    assert.deepEqual(await client.statusMap('base:allocation'), await nbdinfoMap(server.uri, 'base:allocation'));
    const data = await client.read(mib - 512, 1024);
    assert.ok(data.subarray(0, 512).equals(Buffer.alloc(512)) && data.subarray(512).equals(Buffer.alloc(512, 0x55)), 'qcow2 data reads through');
  } finally {
    server.stop();
  }
});

test('NbdClient names the URI when the export or the socket is missing', async (t) => {
  if (!requireQemu(t)) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'small.raw');
  writeFileSync(image, Buffer.alloc(65536, 1));
  const server = await serve(directory.path, image, 'raw');
  try {
    const wrongExport = server.uri.replace('///disk?', '///other?');
    await assert.rejects(NbdClient.connect(wrongExport), (error: Error & { code?: string; path?: string }) => error.code === 'HOLDFAST_MISSING' && error.path === wrongExport && /no export of that name/.test(error.message));
  } finally {
    server.stop();
  }
  const noSocket = `nbd+unix:///disk?socket=${join(directory.path, 'none.sock')}`;
  await assert.rejects(NbdClient.connect(noSocket), (error: Error & { code?: string; path?: string }) => error.code === 'ENOENT' && error.path === noSocket && /connect to NBD server/.test(error.message));
});
