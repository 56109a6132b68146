/**
 * ChangeMap on real files (rules S2, S3): the map in a temporary state directory beside a
 * temporary image. Shows that marks survive a server killed with SIGKILL (a child process marks
 * blocks and is killed; the next open, whose isAlive stub says the child is gone, resumes with
 * resumedAfterUncleanStop and every mark), that a clean stop resumes, that an image changed while
 * no server had it (mtime), a resized image and a damaged header each start a new generation
 * with an empty map and say why, that commit() hands back the marks, starts an empty map with the
 * next sequence and that this survives a reopen, and that a map whose server is alive is refused
 * with HOLDFAST_LOCKED (and left as it was).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { BufferPool } from '../io/buffer-pool.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { ChangeMap, changeMapFileName } from './change-map.js';

const granularityBytes = 64 * 1024;
/** 17 blocks, the last one short. */
const imageBytes = 16 * granularityBytes + 1000;
const marks: [offset: number, lengthBytes: number][] = [
  [0, 1],
  [3 * granularityBytes - 1, 2],
  [16 * granularityBytes + 10, 5],
];
const markedBlocks = [0, 2, 3, 16];

interface OpenedMap {
  map: ChangeMap;
  /** clean: record a clean stop (with the image's stat now), else just close the file. */
  close(clean: boolean): Promise<void>;
}

async function openMap(imagePath: string, stateDirectory: string, isAlive: (pid: number) => boolean = () => false): Promise<OpenedMap> {
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: 64 * 1024, bufferCountMax: 8 });
  const handle = await io.openFile(imagePath, { access: 'read-write' });
  try {
    const map = await ChangeMap.open(io, stateDirectory, pool, { granularityBytes, image: await io.stat(handle), isAlive });
    return {
      map,
      close: async (clean) => {
        await map.close(clean ? await io.stat(handle) : null);
        await handle.close();
        assert.equal(pool.leasesOutstanding, 0, 'the change map kept a buffer lease');
      },
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

function setBlocks(map: ChangeMap): number[] {
  return Array.from({ length: map.bits.blockCount }, (_, block) => block).filter((block) => map.bits.has(block));
}

function world(): { image: string; state: string; [Symbol.dispose](): void } {
  const directory = temporaryDirectory('holdfast-change-map-');
  const image = join(directory.path, 'image');
  writeFileSync(image, '');
  truncateSync(image, imageBytes);
  return { image, state: directory.path, [Symbol.dispose]: () => directory[Symbol.dispose]() };
}

async function markAll(map: ChangeMap): Promise<void> {
  await Promise.all(marks.map(([offset, lengthBytes]) => map.mark(offset, lengthBytes)));
}

test('a first open starts a new generation, with an empty map, and says there was none', async () => {
  using files = world();
  const opened = await openMap(files.image, files.state);
  assert.match(opened.map.resetReason ?? '', /there was no change map yet/);
  assert.equal(opened.map.resumedAfterUncleanStop, false);
  assert.equal(opened.map.sequence, 0);
  assert.equal(opened.map.bits.blockCount, 17);
  assert.deepEqual(setBlocks(opened.map), []);
  await opened.close(true);
});

test('after a clean stop the map resumes with its generation and its marks', async () => {
  using files = world();
  const first = await openMap(files.image, files.state);
  await markAll(first.map);
  const generation = first.map.generation;
  await first.close(true);
  const second = await openMap(files.image, files.state);
  assert.equal(second.map.resetReason, null);
  assert.equal(second.map.resumedAfterUncleanStop, false);
  assert.equal(second.map.generation, generation);
  assert.deepEqual(setBlocks(second.map), markedBlocks);
  await second.close(true);
});

/** A server process that opens the map, marks `marks`, says "marked" and waits to be killed. */
function startMarkingProcess(imagePath: string, stateDirectory: string): Promise<{ pid: number; kill(): Promise<void> }> {
  const url = (path: string): string => pathToFileURL(join(import.meta.dirname, path)).href;
  const script = `
    const { createNodeIo } = await import(${JSON.stringify(url('../io/node/create-node-io.ts'))});
    const { BufferPool } = await import(${JSON.stringify(url('../io/buffer-pool.ts'))});
    const { ChangeMap } = await import(${JSON.stringify(url('./change-map.ts'))});
    const io = createNodeIo();
    const handle = await io.openFile(${JSON.stringify(imagePath)}, { access: 'read-write' });
    const pool = new BufferPool({ bufferSizeBytes: 65536, bufferCountMax: 8 });
    const map = await ChangeMap.open(io, ${JSON.stringify(stateDirectory)}, pool, { granularityBytes: ${granularityBytes}, image: await io.stat(handle), isAlive: () => false });
    await Promise.all(${JSON.stringify(marks)}.map(([offset, length]) => map.mark(offset, length)));
    process.stdout.write('marked\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('marked\n')) {
        resolve({
          pid: child.pid!,
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`the marking process exited (${code}) before it had marked: ${output}`)));
  });
}

test('a map whose server is alive is refused with HOLDFAST_LOCKED; once it was killed, the next open resumes with every mark', async () => {
  using files = world();
  const server = await startMarkingProcess(files.image, files.state);
  let killed = false;
  try {
    const mapBytes = readFileSync(join(files.state, changeMapFileName));
    await assert.rejects(openMap(files.image, files.state, (pid) => pid === server.pid), (error: unknown) => {
      assert.equal((error as { code?: string }).code, 'HOLDFAST_LOCKED');
      assert.match((error as Error).message, new RegExp(`server process ${server.pid} still has this image's change map open`));
      return true;
    });
    assert.deepEqual(readFileSync(join(files.state, changeMapFileName)), mapBytes, 'the refused open changed the map');
    await server.kill();
    killed = true;
  } finally {
    if (!killed) await server.kill();
  }
  const asked: number[] = [];
  const reopened = await openMap(files.image, files.state, (pid) => {
    asked.push(pid);
    return false;
  });
  assert.deepEqual(asked, [server.pid], 'the open did not ask whether the killed server is alive');
  assert.equal(reopened.map.resetReason, null);
  assert.equal(reopened.map.resumedAfterUncleanStop, true);
  assert.deepEqual(setBlocks(reopened.map), markedBlocks);
  await reopened.close(true);
});

test('an image changed while no server had it open (another mtime) resets the map', async () => {
  using files = world();
  const first = await openMap(files.image, files.state);
  await markAll(first.map);
  const generation = first.map.generation;
  await first.close(true);
  utimesSync(files.image, new Date(), new Date(Date.UTC(2001, 0, 1)));
  const second = await openMap(files.image, files.state);
  assert.match(second.map.resetReason ?? '', /the image was changed while no holdfast server had it open/);
  assert.notEqual(second.map.generation, generation);
  assert.equal(second.map.sequence, 0);
  assert.deepEqual(setBlocks(second.map), []);
  await second.close(true);
});

test('a resized image resets the map', async () => {
  using files = world();
  const first = await openMap(files.image, files.state);
  await markAll(first.map);
  const generation = first.map.generation;
  await first.close(true);
  truncateSync(files.image, imageBytes + granularityBytes);
  const second = await openMap(files.image, files.state);
  assert.match(second.map.resetReason ?? '', new RegExp(`the volume was resized from ${imageBytes} to ${imageBytes + granularityBytes} bytes`));
  assert.notEqual(second.map.generation, generation);
  assert.equal(second.map.bits.blockCount, 18);
  assert.deepEqual(setBlocks(second.map), []);
  await second.close(true);
});

test('a damaged header (one byte flipped) resets the map as damaged', async () => {
  using files = world();
  const first = await openMap(files.image, files.state);
  await markAll(first.map);
  await first.close(true);
  const path = join(files.state, changeMapFileName);
  const bytes = readFileSync(path);
  bytes[41]! ^= 0x01; // the sequence, covered by the header's crc32
  writeFileSync(path, bytes);
  const second = await openMap(files.image, files.state);
  assert.match(second.map.resetReason ?? '', /the change map is damaged/);
  assert.deepEqual(setBlocks(second.map), []);
  await second.close(true);
});

test('commit() hands back the marks, starts an empty map with the next sequence, and both survive a reopen', async () => {
  using files = world();
  const first = await openMap(files.image, files.state);
  await markAll(first.map);
  const generation = first.map.generation;
  const committed = await first.map.commit();
  assert.equal(committed.sequence, 1);
  assert.equal(committed.generation, generation);
  assert.deepEqual(Array.from({ length: 17 }, (_, block) => block).filter((block) => committed.frozen.has(block)), markedBlocks);
  assert.equal(first.map.sequence, 1);
  assert.deepEqual(setBlocks(first.map), []);
  // A mark after the commit lands in the new map, and the frozen one does not see it.
  await first.map.mark(5 * granularityBytes, 1);
  assert.equal(committed.frozen.has(5), false);
  await first.close(false); // as if killed: no clean stop recorded
  const second = await openMap(files.image, files.state);
  assert.equal(second.map.resetReason, null);
  assert.equal(second.map.resumedAfterUncleanStop, true);
  assert.equal(second.map.generation, generation);
  assert.equal(second.map.sequence, 1);
  assert.deepEqual(setBlocks(second.map), [5]);
  await second.close(true);
});
