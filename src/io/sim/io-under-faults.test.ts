/**
 * Shows rule W2 over rules H1 and O1-O3: hundreds of seeded runs of IoCore on the simulator,
 * with late and reordered completions, short reads and writes, EAGAIN, EIO and ENOSPC, while
 * actors share handles, close them under each other's feet and cancel operations at random.
 * After every run: no lease was written while its holder had it, every operation settled once
 * with a truthful result, no call reached a closed or recycled fd, and every fd was released
 * exactly once. A failure prints its seed; HOLDFAST_SIM_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferPool, type Lease } from '../buffer-pool.js';
import { acquireHandle, type Handle } from '../handle.js';
import { isErrorCode } from '../../errors/holdfast-error.js';
import type { IoResult } from '../operation.js';
import { forEachSeed, Simulation, type SimulationOptions } from './simulation.js';

const faults: SimulationOptions['faults'] = { late: 0.15, shortRead: 0.1, shortWrite: 0.15, again: 0.2, ioError: 0.03, noSpace: 0.03 };
const fileSizeBytes = 16 * 1024;
const fileCount = 3;

function seedFiles(simulation: Simulation): Buffer[] {
  const fileSystem = simulation.backend.fileSystem;
  fileSystem.create('/data', 'directory');
  return Array.from({ length: fileCount }, (_, index) => {
    const content = Buffer.alloc(fileSizeBytes);
    simulation.prng.fill(content);
    const inode = fileSystem.create(`/data/f${index}`, 'file');
    fileSystem.write(inode, 0, content);
    fileSystem.syncFile(inode);
    return content;
  });
}

/** Holds a lease with a canary for a while: a late write into it by anyone shows here. */
async function checkCanary(simulation: Simulation, lease: Lease, handle: Handle | undefined): Promise<void> {
  const canary = simulation.prng.nextUint32() & 0xff;
  lease.bytes.fill(canary);
  if (handle !== undefined && !handle.isClosed) await simulation.io.stat(handle).catch(() => undefined);
  assert.ok(lease.bytes.every((byte) => byte === canary), 'a lease was written while its holder had it');
}

test('leases, shared handles and cancel stay correct under faults, for every seed', async () => {
  let operationsChecked = 0;
  const seeds = await forEachSeed(300, { faults, operationsInFlightMax: 3 }, async (simulation) => {
    const contents = seedFiles(simulation);
    const { io, prng } = simulation;
    const pool = new BufferPool({ bufferSizeBytes: 1024, bufferCountMax: 4 });
    const shared: { handle: Handle; index: number }[] = [];
    let submitted = 0;
    let settled = 0;

    const checkRead = (result: IoResult, index: number, position: number): void => {
      settled++;
      if (result.status === 'completed') {
        const expected = contents[index]?.subarray(position, position + result.bytesTransferred);
        assert.deepEqual(result.lease.bytes.subarray(0, result.bytesTransferred), expected, 'a completed read returned the wrong bytes');
      } else if (result.status === 'cancelled') {
        assert.equal(result.bytesTransferred, 0, 'a cancelled read claims to have transferred bytes');
      } else {
        assert.ok(isErrorCode(result.error, 'EIO'), `unexpected failure ${result.error.message}`);
      }
    };

    const actor = async (): Promise<void> => {
      for (let step = 0; step < 10; step++) {
        const choice = prng.nextInt(10);
        if (choice < 2 || shared.length === 0) {
          const index = prng.nextInt(fileCount);
          shared.push({ handle: await io.openFile(`/data/f${index}`), index });
          continue;
        }
        const entry = prng.pick(shared);
        if (choice === 2) {
          // Close a handle others may be reading: they must finish first, then nobody may start.
          await entry.handle.close();
          const lease = await pool.acquire();
          assert.throws(() => io.read(entry.handle, lease), { code: 'HOLDFAST_HANDLE_CLOSED' });
          lease.release();
          const index = shared.indexOf(entry);
          if (index >= 0) shared.splice(index, 1); // another actor may have closed it first
          continue;
        }
        const lease = await pool.acquire();
        if (entry.handle.isClosed) {
          assert.throws(() => io.read(entry.handle, lease), { code: 'HOLDFAST_HANDLE_CLOSED' });
          lease.release();
          continue;
        }
        const position = prng.nextInt(fileSizeBytes + 100);
        const operation = io.read(entry.handle, lease, { position });
        submitted++;
        let result: IoResult;
        if (choice < 6) {
          result = await operation.result;
        } else if (choice < 8) {
          result = await operation.cancel();
        } else {
          await io.stat(entry.handle).catch(() => undefined); // let the world move, then cancel
          result = await operation.cancel();
        }
        assert.equal(operation.state, 'settled');
        checkRead(result, entry.index, position);
        await checkCanary(simulation, result.lease, entry.handle);
        result.lease.release();
        operationsChecked++;
      }
    };

    await Promise.all(Array.from({ length: 5 }, () => actor()));
    await Promise.all(shared.map(({ handle }) => handle.close()));
    assert.equal(settled, submitted, 'an operation never settled');
    assert.equal(pool.leasesOutstanding, 0, 'a lease was not returned');
    assert.equal(simulation.backend.openCount, 0, 'a descriptor was never released');
    assert.equal(simulation.backend.opens, simulation.backend.releases, 'a descriptor was released more or less than once');
    assert.deepEqual(simulation.violations, [], 'a call reached a closed or recycled fd');
  });
  assert.ok(operationsChecked > seeds * 5, `too few operations were checked (${operationsChecked})`);
});

test('writes report exactly what reached the file under short writes, ENOSPC and EIO', async () => {
  await forEachSeed(200, { faults, operationsInFlightMax: 2 }, async (simulation) => {
    const { io, prng } = simulation;
    const pool = new BufferPool({ bufferSizeBytes: 2048, bufferCountMax: 2 });
    const handle = await io.openFile('/scratch', { access: 'read-write', create: true });
    const model = Buffer.alloc(8192);
    for (let step = 0; step < 12; step++) {
      const lease = await pool.acquire();
      const length = 1 + prng.nextInt(2048);
      const position = prng.nextInt(8192 - length);
      prng.fill(lease.bytes.subarray(0, length));
      const operation = io.write(handle, lease, { position, lengthBytes: length });
      const result = prng.chance(0.2) ? await operation.cancel() : await operation.result;
      if (result.status === 'completed') assert.equal(result.bytesTransferred, length);
      if (result.status === 'failed') assert.ok(['EIO', 'ENOSPC'].includes(String((result.error as { code?: string }).code)));
      result.lease.bytes.copy(model, position, 0, result.bytesTransferred);
      const actual = simulation.backend.fileSystem.lookup('/scratch')?.data ?? Buffer.alloc(0);
      assert.deepEqual(actual.subarray(position, position + result.bytesTransferred), model.subarray(position, position + result.bytesTransferred), 'the reported bytes are not what the file holds');
      result.lease.release();
    }
    await handle.close();
    assert.deepEqual(simulation.violations, []);
  });
});

test('a non-blocking pipe is read whole through EAGAIN, and a cancel ends a wait for data', async () => {
  await forEachSeed(200, { faults: { ...faults, ioError: 0, noSpace: 0 } }, async (simulation) => {
    const { io, prng } = simulation;
    simulation.backend.makePipe('/pipe');
    const pool = new BufferPool({ bufferSizeBytes: 512, bufferCountMax: 3 });
    const writer = await io.open('/pipe', { access: 'write', nonBlocking: true });
    const reader = await io.open('/pipe', { access: 'read', nonBlocking: true });
    const sent = Buffer.alloc(4000);
    prng.fill(sent);

    // A read waiting for data is cancelled: it ends as cancelled and leaves its buffer alone.
    const waiting = await pool.acquire();
    waiting.bytes.fill(0xee);
    const early = io.read(reader, waiting);
    const cancelled = await early.cancel();
    if (cancelled.status === 'cancelled') assert.ok(cancelled.lease.bytes.every((byte) => byte === 0xee));
    else assert.fail(`a read of an empty pipe ended ${cancelled.status}`);
    cancelled.lease.release();

    const send = async (): Promise<void> => {
      for (let offset = 0; offset < sent.length; ) {
        const lease = await pool.acquire();
        const length = Math.min(1 + prng.nextInt(512), sent.length - offset);
        sent.copy(lease.bytes, 0, offset, offset + length);
        const result = await io.write(writer, lease, { lengthBytes: length }).result;
        assert.equal(result.status, 'completed');
        offset += length;
        result.lease.release();
      }
      await writer.close();
    };
    const receive = async (): Promise<Buffer> => {
      const parts: Buffer[] = [];
      for (;;) {
        const lease = await pool.acquire();
        const result = await io.read(reader, lease).result;
        assert.equal(result.status, 'completed');
        parts.push(Buffer.from(result.lease.bytes.subarray(0, result.bytesTransferred)));
        result.lease.release();
        if (result.bytesTransferred === 0) return Buffer.concat(parts);
      }
    };
    const [received] = await Promise.all([receive(), send()]);
    assert.deepEqual(received, sent);
    await reader.close();
  });
});

test('a crash keeps everything synced and only whole sectors of unsynced writes', async () => {
  let torn = 0;
  let lostNewFile = 0;
  await forEachSeed(200, { faults: { late: 0.2 } }, async (simulation) => {
    const pool = new BufferPool({ bufferSizeBytes: 4096, bufferCountMax: 1 });
    const write = async (handle: Handle, fill: number, position = 0): Promise<void> => {
      const lease = await pool.acquire();
      lease.bytes.fill(fill);
      const result = await simulation.io.write(handle, lease, { position, lengthBytes: 4096 }).result;
      assert.equal(result.status, 'completed');
      result.lease.release();
    };
    const { io } = simulation;
    const root = await io.openDirectory('/');
    const kept = await io.openFile('/kept', { access: 'read-write', create: true });
    await write(kept, 0x11);
    await io.sync(kept);
    await io.sync(root);
    await write(kept, 0x22); // never synced
    const fresh = await io.openFile('/fresh', { access: 'read-write', create: true });
    await write(fresh, 0x33);
    await io.sync(fresh); // data synced, but its name was never committed by a directory fsync
    // Closing syncs nothing; it only keeps the dead process's handles from warning when collected.
    await Promise.all([kept.close(), fresh.close(), root.close()]);

    simulation.crash();
    const after = simulation.backend.fileSystem;
    const data = after.lookup('/kept')?.data;
    assert.ok(data !== undefined && data.length === 4096, 'a synced file was lost');
    for (let sector = 0; sector < 4096; sector += 512) {
      const bytes = data.subarray(sector, sector + 512);
      assert.ok(bytes.every((b) => b === 0x11) || bytes.every((b) => b === 0x22), 'a sector holds bytes that were never written');
    }
    if (data.includes(0x11) && data.includes(0x22)) torn++;
    if (after.lookup('/fresh') === undefined) lostNewFile++;
  });
  // The model must really tear writes and lose uncommitted names, or the tests above prove little.
  assert.ok(torn > 10, `only ${torn} runs saw a torn write`);
  assert.ok(lostNewFile > 10, `only ${lostNewFile} runs lost an uncommitted name`);
});

test('the same seed replays the same run; other seeds differ', async () => {
  const trace = async (seed: number): Promise<string> => {
    const simulation = new Simulation(seed, { faults });
    const log: string[] = [];
    seedFiles(simulation);
    const pool = new BufferPool({ bufferSizeBytes: 256, bufferCountMax: 4 });
    const handle = await simulation.run(simulation.io.openFile('/data/f0'));
    const reads = Array.from({ length: 4 }, async (_, index) => {
      const lease = await pool.acquire();
      const result = await simulation.io.read(handle, lease, { position: index * 100 }).result;
      log.push(`${index}:${result.status}:${result.bytesTransferred}`);
      result.lease.release();
    });
    await simulation.run(Promise.all(reads));
    await simulation.run(handle.close());
    return log.join(' ');
  };
  assert.equal(await trace(42), await trace(42));
  const others = new Set(await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => trace(seed))));
  assert.ok(others.size > 1, 'different seeds gave the same interleaving');
});

test('the detectors bite: a call on a released descriptor is a violation, a late completion writes a buffer', async () => {
  const simulation = new Simulation(7);
  seedFiles(simulation);
  const handle = await simulation.run(simulation.io.openFile('/data/f1'));
  const reference = acquireHandle(handle, 'test');
  const descriptor = reference.descriptor;
  reference.release();
  await simulation.run(handle.close());
  const stale = Buffer.alloc(64, 0xaa);
  const late = simulation.backend.read(descriptor, stale, 0, 64, 0);
  await assert.rejects(simulation.run(late), { code: 'EBADF' });
  assert.equal(simulation.violations.length, 1);

  // A raw backend read whose buffer the caller "gets back" early is written when it completes.
  const reopened = await simulation.run(simulation.io.openFile('/data/f1'));
  const raw = acquireHandle(reopened, 'test');
  const buffer = Buffer.alloc(64, 0x55);
  const pending = simulation.backend.read(raw.descriptor, buffer, 0, 64, 0);
  assert.ok(buffer.every((byte) => byte === 0x55), 'the simulated read completed at submission');
  await simulation.run(pending);
  assert.ok(!buffer.every((byte) => byte === 0x55), 'the late completion never wrote the buffer');
  raw.release();
  await simulation.run(reopened.close());
});
