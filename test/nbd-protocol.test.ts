/**
 * `holdfast volume serve` against hostile and unlucky clients, at the byte level (rules D2, S3):
 * unknown options, broken requests, oversized writes, reads past the end, a full file system,
 * clients that flood the server with READs and never read the replies, more connections than
 * the server takes, and kill -9 of the server while writes are in flight.
 *
 * How: a raw client (src/test-support/raw-nbd-client.ts) built on the codecs of src/format/nbd/
 * sends exactly the bytes a case needs to the real CLI process; the server's own counters (bytes
 * held for clients, connections) come from holdfast's stats option, and its peak memory from
 * /proc/PID/status. The kill -9 case is seeded: each
 * seed draws the order of the blocks written and the acknowledgement after which the server is
 * killed; a failure prints the seed, and HOLDFAST_NBD_KILL_SEEDS=a,b,c (or a count, for that many
 * seeds from a random start) replays or widens it. CI runs three fixed seeds.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Prng } from '../src/base/prng.js';
import { requestServerStats, type ServerAddress } from '../src/blockdev/snapshot-request.js';
import { connectionsMaxDefault, type ServerStats } from '../src/blockdev/nbd-server.js';
import { command, limits, nbdError, option, reply } from '../src/format/nbd/protocol.js';
import { encodeRequest } from '../src/format/nbd/transmission-codec.js';
import { mountLoopFilesystem } from '../src/test-support/loop-filesystem.js';
import { RawNbdClient } from '../src/test-support/raw-nbd-client.js';
import { requireRoot, requireTools } from '../src/test-support/requirements.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';
import { dirtyBlocks, eventOf, granularityBytes, serveVolume, type VolumeServer } from '../src/test-support/volume-server.js';

const imageBytes = 16 * 1024 * 1024;
const mebibyte = 1024 * 1024;

async function makeImage(path: string, sizeBytes: number, content?: Buffer): Promise<void> {
  const file = await open(path, 'wx');
  try {
    await file.truncate(sizeBytes);
    if (content !== undefined) await file.write(content, 0, content.length, 0);
  } finally {
    await file.close();
  }
}

/** Serves a fresh image for the length of `body`; SIGTERM and exit 0 after, SIGKILL if body failed. */
async function withServedImage(body: (server: VolumeServer, content: Buffer) => Promise<void>): Promise<void> {
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  const content = randomBytes(mebibyte);
  await makeImage(image, imageBytes, content);
  const server = await serveVolume(image);
  try {
    await body(server, content);
  } catch (error) {
    await server.kill();
    throw error;
  }
  await server.stop();
}

let nextCookie = 1n;
function read(offset: number, lengthBytes: number): Parameters<RawNbdClient['send']>[0] {
  return { flags: 0, type: command.read, cookie: nextCookie++, offset: BigInt(offset), lengthBytes };
}
function write(offset: number, lengthBytes: number): Parameters<RawNbdClient['send']>[0] {
  return { flags: 0, type: command.write, cookie: nextCookie++, offset: BigInt(offset), lengthBytes };
}

async function readBack(client: RawNbdClient, offset: number, lengthBytes: number): Promise<Buffer> {
  const request = read(offset, lengthBytes);
  client.send(request);
  const answer = await client.readReply();
  assert.equal(answer.cookie, request.cookie);
  assert.equal(answer.errorNumber, 0, `READ of ${lengthBytes} bytes at ${offset} failed with errno ${answer.errorNumber}`);
  return answer.data;
}

test('an unknown option gets NBD_REP_ERR_UNSUP and the haggling goes on to GO', async () => {
  await withServedImage(async (server, content) => {
    const client = await RawNbdClient.connect(server.socketPath);
    try {
      client.sendOption(0x1234, Buffer.from('what is this'));
      const answer = await client.readOptionReply();
      assert.equal(answer.optionCode, 0x1234);
      assert.equal(answer.replyType, reply.errorUnsupported);
      client.sendOption(option.startTls);
      assert.equal((await client.readOptionReply()).replyType, reply.errorUnsupported);
      await client.go();
      assert.deepEqual(await readBack(client, 4096, 65536), content.subarray(4096, 4096 + 65536));
    } finally {
      await client.close();
    }
  });
});

test('a request with a bad magic closes its connection and another connection keeps working', async () => {
  await withServedImage(async (server, content) => {
    const broken = await RawNbdClient.connect(server.socketPath);
    const healthy = await RawNbdClient.connect(server.socketPath);
    try {
      await broken.go();
      await healthy.go();
      const header = encodeRequest(read(0, 512));
      header.writeUInt32BE(0xdeadbeef, 0);
      broken.socket.write(header);
      await broken.closed();
      assert.deepEqual(await readBack(healthy, 0, 4096), content.subarray(0, 4096));
      await server.waitFor((line) => /wrong magic/.test(line.text));
    } finally {
      await Promise.all([broken.close(), healthy.close()]);
    }
  });
});

test('a WRITE longer than 32 MiB closes the connection; the server goes on', async () => {
  await withServedImage(async (server, content) => {
    const client = await RawNbdClient.connect(server.socketPath);
    try {
      await client.go();
      // The header alone: the server must refuse before it reads (or buffers) the payload.
      client.socket.write(encodeRequest(write(0, 32 * mebibyte + 1)));
      await client.closed();
    } finally {
      await client.close();
    }
    const next = await RawNbdClient.connect(server.socketPath);
    try {
      await next.go();
      assert.deepEqual(await readBack(next, 0, 4096), content.subarray(0, 4096));
    } finally {
      await next.close();
    }
  });
});

test('a READ past the end gets EINVAL and the connection goes on, with simple and with structured replies', async () => {
  await withServedImage(async (server, content) => {
    for (const structured of [false, true]) {
      const client = await RawNbdClient.connect(server.socketPath);
      try {
        await client.go('', { structured });
        const past = read(imageBytes - 4096, 8192);
        client.send(past);
        const answer = await client.readReply();
        assert.equal(answer.cookie, past.cookie);
        assert.equal(answer.errorNumber, nbdError.EINVAL);
        assert.deepEqual(await readBack(client, 100, 1000), content.subarray(100, 1100));
      } finally {
        await client.close();
      }
    }
  });
});

test('writes onto a full file system get ENOSPC and the connection still answers', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'mkfs.ext4', 'mount', 'umount')) return;
  await using filesystem = await mountLoopFilesystem('ext4', 16);
  const image = join(filesystem.mountPoint, 'disk.img');
  const content = randomBytes(mebibyte);
  await makeImage(image, 64 * mebibyte, content); // four times the file system
  const server = await serveVolume(image);
  try {
    const client = await RawNbdClient.connect(server.socketPath);
    try {
      await client.go();
      const chunk = randomBytes(mebibyte);
      let errorNumber = 0;
      let offset = mebibyte;
      for (; offset < 64 * mebibyte && errorNumber === 0; offset += mebibyte) {
        const request = write(offset, chunk.length);
        client.send(request, chunk);
        const answer = await client.readReply();
        assert.equal(answer.cookie, request.cookie);
        errorNumber = answer.errorNumber;
      }
      assert.equal(errorNumber, nbdError.ENOSPC, `the writes up to ${offset} bytes ended with errno ${errorNumber}`);
      assert.deepEqual(await readBack(client, 0, mebibyte), content);
      assert.deepEqual(await readBack(client, 2 * mebibyte, mebibyte), chunk, 'an acknowledged write reads back');
    } finally {
      await client.close();
    }
  } catch (error) {
    await server.kill();
    throw error;
  }
  await server.stop();
});

/** The server's counters; retried while the server is still closing connections beyond its maximum. */
async function serverStats(address: ServerAddress): Promise<ServerStats> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await requestServerStats(address);
    } catch (error) {
      if (attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Polls the counters until `done` says so (or fails after 20 s, showing the last ones). */
async function statsWhen(address: ServerAddress, done: (stats: ServerStats) => boolean, what: string): Promise<ServerStats> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const stats = await serverStats(address);
    if (done(stats)) return stats;
    assert.ok(Date.now() < deadline, `${what}: not after 20 s; the counters: ${JSON.stringify(stats)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The most memory the process ever had resident (VmHWM). */
function residentBytesPeak(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

const gibibyte = 1024 * mebibyte;
const flooderCount = 6;
const floodReadCount = 200;

test('clients that send 32 MiB READs and never read the replies hold bounded memory, and qemu-io is served meanwhile', async (t) => {
  if (!requireTools(t, 'qemu-io')) return;
  using directory = temporaryDirectory();
  const image = join(directory.path, 'big.img');
  // Sparse but for 1 MiB of a pattern the reading client checks: the flood's reads cost no disk.
  await makeImage(image, gibibyte, Buffer.alloc(mebibyte, 0xab));
  const server = await serveVolume(image);
  const address = { socketPath: server.socketPath };
  const flooders: RawNbdClient[] = [];
  const readPattern = async (): Promise<number> => {
    const started = performance.now();
    const output = await runToolOrFail('qemu-io', ['-f', 'raw', '-c', 'read -P 0xab 0 1M', server.uri()]);
    assert.match(output, /read 1048576\/1048576 bytes at offset 0/, output);
    assert.doesNotMatch(output, /failed|error|Pattern verification/i, output);
    return performance.now() - started;
  };
  try {
    const idleMs = await readPattern();
    for (let index = 0; index < flooderCount; index++) {
      const client = await RawNbdClient.connect(server.socketPath);
      flooders.push(client);
      // Simple replies: every READ is answered with its whole 32 MiB, holes or not.
      await client.go('', { structured: false });
      client.stopReading();
    }
    for (const client of flooders) {
      for (let index = 0; index < floodReadCount; index++) client.send(read((index % 32) * limits.payloadBytesMax, limits.payloadBytesMax));
    }
    // At the height of the flood every flooder waits for room (6 x 64 MiB wanted, 256 MiB in all).
    await statsWhen(address, (stats) => stats.waiting >= flooderCount, 'every flooding connection waits');

    const latencyMs = await readPattern();

    const stats = await serverStats(address);
    const residentPeak = residentBytesPeak(server.child.pid!);
    t.diagnostic(`qemu-io read 1 MiB in ${latencyMs.toFixed(0)} ms during the flood (${idleMs.toFixed(0)} ms before it); server peak RSS ${(residentPeak / mebibyte).toFixed(0)} MiB; counters ${JSON.stringify(stats)}`);
    assert.ok(stats.connectionQueuedBytesPeak <= stats.connectionQueuedBytesMax, `one connection held ${stats.connectionQueuedBytesPeak} bytes, over ${stats.connectionQueuedBytesMax}`);
    assert.ok(stats.queuedBytesPeak >= stats.totalQueuedBytesMax, `the flood never reached the total limit (${stats.queuedBytesPeak} bytes held at most): it tests nothing`);
    // The documented bound: the total, plus one request for each connection that held nothing.
    const totalBound = stats.totalQueuedBytesMax + stats.connectionsPeak * limits.payloadBytesMax;
    assert.ok(stats.queuedBytesPeak <= totalBound, `the server held ${stats.queuedBytesPeak} bytes, over ${totalBound}`);
    assert.ok(stats.connectionsPeak <= stats.connectionsMax);
    assert.ok(residentPeak < gibibyte, `the server's resident memory reached ${residentPeak} bytes`);
  } catch (error) {
    await Promise.all(flooders.map((client) => client.close()));
    await server.kill();
    throw error;
  }
  await Promise.all(flooders.map((client) => client.close()));
  // What was held for the flooders is given back once they are gone; only the asking connection is left.
  await statsWhen(address, (stats) => stats.queuedBytes === 0 && stats.connections === 1 && stats.waiting === 0, 'everything is released after the flooders closed');
  await server.stop();
});

test(`a connection beyond the ${connectionsMaxDefault} the server takes is closed at once; the others go on and a later one is served`, async () => {
  await withServedImage(async (server, content) => {
    const clients: RawNbdClient[] = [];
    try {
      for (let index = 0; index < connectionsMaxDefault; index++) clients.push(await RawNbdClient.connect(server.socketPath));
      await assert.rejects(RawNbdClient.connect(server.socketPath), 'the connection over the limit got a greeting');
      await server.waitFor((line) => line.event?.['type'] === 'connection-refused');
      const first = clients.shift()!;
      await first.go();
      assert.deepEqual(await readBack(first, 0, 4096), content.subarray(0, 4096));
      await first.close();
      const stats = await serverStats({ socketPath: server.socketPath });
      assert.equal(stats.connectionsPeak, connectionsMaxDefault);
      assert.ok(stats.connectionsRefused >= 1);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
    const later = await RawNbdClient.connect(server.socketPath);
    try {
      await later.go();
      assert.deepEqual(await readBack(later, 4096, 4096), content.subarray(4096, 8192));
    } finally {
      await later.close();
    }
  });
});

/** The seeds of the kill -9 case: three fixed ones, or HOLDFAST_NBD_KILL_SEEDS (a list, or a count). */
function killSeeds(): number[] {
  const given = process.env['HOLDFAST_NBD_KILL_SEEDS'];
  if (given === undefined || given === '') return [1, 2, 3];
  if (/^\d+$/.test(given)) {
    const start = Math.floor(Math.random() * 0x7fffffff);
    return Array.from({ length: Number(given) }, (_, index) => start + index);
  }
  return given.split(',').map((seed) => Number(seed.trim()));
}

const killBlockCount = imageBytes / granularityBytes;
const killInFlightMax = 8;

/**
 * Writes distinct blocks in a seeded order, `killInFlightMax` at a time, and kills the server
 * with SIGKILL once `killAfterAcks` writes were acknowledged. Returns what was sent and acknowledged.
 */
async function writeUntilKilled(server: VolumeServer, prng: Prng, killAfterAcks: number): Promise<{ sent: Set<number>; acknowledged: Set<number> }> {
  const order = Array.from({ length: killBlockCount }, (_, index) => index);
  for (let index = order.length - 1; index > 0; index--) {
    const other = Math.floor(prng.nextFloat() * (index + 1));
    [order[index], order[other]] = [order[other]!, order[index]!];
  }
  const client = await RawNbdClient.connect(server.socketPath);
  const sent = new Set<number>();
  const acknowledged = new Set<number>();
  const blockByCookie = new Map<bigint, number>();
  const payload = randomBytes(granularityBytes);
  let killed: Promise<unknown> | null = null;
  try {
    await client.go('', { structured: false });
    const sendNext = (): void => {
      const block = order[sent.size];
      if (block === undefined) return;
      const request = write(block * granularityBytes, granularityBytes);
      blockByCookie.set(request.cookie, block);
      sent.add(block);
      client.send(request, payload);
    };
    for (let index = 0; index < killInFlightMax; index++) sendNext();
    while (killed === null) {
      const answer = await client.readReply();
      assert.equal(answer.errorNumber, 0, `a WRITE failed with errno ${answer.errorNumber}`);
      acknowledged.add(blockByCookie.get(answer.cookie)!);
      if (acknowledged.size >= killAfterAcks) killed = server.kill();
      else sendNext();
    }
    await killed;
  } finally {
    await client.close();
  }
  return { sent, acknowledged };
}

test('after kill -9 during writes the restarted server resumes with every acknowledged write marked', async (t) => {
  if (!requireTools(t, 'nbdinfo')) return;
  for (const seed of killSeeds()) {
    await t.test(`seed ${seed}`, async () => {
      using directory = temporaryDirectory();
      const image = join(directory.path, 'disk.img');
      await makeImage(image, imageBytes);
      const prng = new Prng(seed);
      const killAfterAcks = 1 + Math.floor(prng.nextFloat() * (killBlockCount - killInFlightMax - 1));
      t.diagnostic(`seed ${seed}: kill after ${killAfterAcks} acknowledged writes (replay with HOLDFAST_NBD_KILL_SEEDS=${seed})`);
      const first = await serveVolume(image);
      const generation = eventOf(first, 'tracking')['generation'];
      let outcome: { sent: Set<number>; acknowledged: Set<number> };
      try {
        outcome = await writeUntilKilled(first, prng, killAfterAcks);
      } catch (error) {
        await first.kill();
        throw error;
      }

      const second = await serveVolume(image);
      try {
        const tracking = eventOf(second, 'tracking');
        assert.equal(tracking['resetReason'], null, `seed ${seed}: the map was reset: ${String(tracking['resetReason'])}`);
        assert.equal(tracking['resumedAfterUncleanStop'], true, `seed ${seed}`);
        assert.equal(tracking['generation'], generation, `seed ${seed}`);
        const dirty = new Set(await dirtyBlocks(second.uri()));
        const missed = [...outcome.acknowledged].filter((block) => !dirty.has(block));
        assert.deepEqual(missed, [], `seed ${seed}: acknowledged writes the map misses`);
        const neverSent = [...dirty].filter((block) => !outcome.sent.has(block));
        assert.deepEqual(neverSent, [], `seed ${seed}: blocks marked that no write touched`);
      } catch (error) {
        await second.kill();
        throw error;
      }
      await second.stop();
    });
  }
});
