/**
 * Shows rule O4 and H3 on the real machine: an API that needs a mode checks it from the OS and
 * fails with a stable code before any I/O (the pipe still holds its bytes, the file is unchanged,
 * the lease never left its holder); kinds come from fstat; a non-blocking stdin is read whole
 * from the event loop, as a pipe from a shell and as a socket from Node's child_process.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BufferPool } from '../buffer-pool.js';
import { createNodeIo } from './create-node-io.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';

const fixtures = fileURLToPath(new URL('../../test-support/fixtures/', import.meta.url));
const io = createNodeIo();

test('a position on a pipe throws HOLDFAST_NOT_SEEKABLE before any I/O', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'pipe');
  execFileSync('mkfifo', [path]);
  const writer = fs.openSync(path, fs.constants.O_RDWR);
  fs.writeSync(writer, 'abc');
  const handle = await io.open(path);
  const pool = new BufferPool({ bufferSizeBytes: 16, bufferCountMax: 1 });
  const lease = await pool.acquire();
  try {
    assert.equal(handle.modes.seekable, false);
    assert.throws(() => io.read(handle, lease, { position: 0 }), { code: 'HOLDFAST_NOT_SEEKABLE', message: /Cannot read ".*pipe": a fifo has no positions/ });
    assert.equal(lease.state, 'held');
    const result = await io.read(handle, lease).result;
    assert.equal(result.lease.bytes.subarray(0, result.bytesTransferred).toString(), 'abc', 'the refused read consumed bytes');
  } finally {
    lease.release();
    await handle.close();
    fs.closeSync(writer);
  }
});

test('writing a read-only handle throws HOLDFAST_NOT_WRITABLE and leaves the file alone', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'file');
  fs.writeFileSync(path, 'original');
  const handle = await io.openFile(path);
  const pool = new BufferPool({ bufferSizeBytes: 16, bufferCountMax: 1 });
  const lease = await pool.acquire();
  lease.bytes.write('changed!');
  assert.throws(() => io.write(handle, lease, { position: 0, lengthBytes: 8 }), { code: 'HOLDFAST_NOT_WRITABLE' });
  assert.equal(lease.state, 'held');
  lease.release();
  await handle.close();
  assert.equal(fs.readFileSync(path, 'utf8'), 'original');
});

test('reading a write-only handle and a positional write on an append-only handle are refused', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'log');
  fs.writeFileSync(path, 'line 1\n');
  const pool = new BufferPool({ bufferSizeBytes: 16, bufferCountMax: 1 });
  const lease = await pool.acquire();
  const writeOnly = await io.openFile(path, { access: 'write' });
  assert.throws(() => io.read(writeOnly, lease), { code: 'HOLDFAST_NOT_READABLE' });
  await writeOnly.close();
  const appending = await io.openFile(path, { access: 'write', append: true });
  assert.equal(appending.modes.append, true);
  assert.throws(() => io.write(appending, lease, { position: 0, lengthBytes: 4 }), { code: 'HOLDFAST_MODE_UNSUPPORTED' });
  await appending.close();
  lease.release();
  assert.equal(fs.readFileSync(path, 'utf8'), 'line 1\n');
});

test('a directory where a file is wanted throws HOLDFAST_HANDLE_KIND, and the type system says so too', async () => {
  using directory = temporaryDirectory();
  await assert.rejects(io.openFile(directory.path), { code: 'HOLDFAST_HANDLE_KIND', message: /a file handle is wanted, this is a directory/ });
  const handle = await io.openDirectory(directory.path);
  const pool = new BufferPool({ bufferSizeBytes: 16, bufferCountMax: 1 });
  const lease = await pool.acquire();
  assert.throws(() => io.read(handle, lease), { code: 'HOLDFAST_HANDLE_KIND' });
  // @ts-expect-error a directory handle is not a Handle<'file'>
  await assert.rejects(io.seekData(handle, 0), { code: 'HOLDFAST_HANDLE_KIND' });
  lease.release();
  await handle.close();
});

test('handle kinds come from fstat, not from the caller', async () => {
  using directory = temporaryDirectory();
  const fifo = join(directory.path, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const file = join(directory.path, 'file');
  fs.writeFileSync(file, '');
  const kinds: string[] = [];
  for (const path of [file, directory.path, fifo, '/dev/null']) {
    const handle = await io.open(path, { nonBlocking: true });
    kinds.push(handle.kind);
    await handle.close();
  }
  assert.deepEqual(kinds, ['file', 'directory', 'fifo', 'char-device']);
});

interface StdinReport {
  kind: string;
  nonBlocking: boolean;
  bytes: number;
  sha256: string;
  ticks: number;
  cpuMs: number;
  wallMs: number;
  stillNonBlocking: boolean;
}

async function runStdinChild(command: string, args: string[], feed?: (stdin: NodeJS.WritableStream) => Promise<void>): Promise<StdinReport> {
  const child = spawn(command, args, { stdio: [feed === undefined ? 'ignore' : 'pipe', 'pipe', 'inherit'] });
  let output = '';
  assert.ok(child.stdout !== null);
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  if (feed !== undefined && child.stdin !== null) await feed(child.stdin);
  assert.equal(await exited, 0, `the child failed: ${output}`);
  return JSON.parse(output) as StdinReport;
}

test('a non-blocking stdin pipe from a shell is read whole, without blocking the event loop', async () => {
  using directory = temporaryDirectory();
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const path = join(directory.path, 'data');
  fs.writeFileSync(path, data);
  // The producer pauses halfway, so the reader meets an empty non-blocking pipe (EAGAIN).
  const script = `{ head -c 1000000 "$1"; sleep 0.3; tail -c +1000001 "$1"; } | exec "$2" --import tsx "$3"`;
  const report = await runStdinChild('sh', ['-c', script, 'sh', path, process.execPath, join(fixtures, 'stdin-digest.ts')]);
  assert.equal(report.kind, 'fifo');
  assert.equal(report.nonBlocking, true);
  assert.equal(report.bytes, data.length);
  assert.equal(report.sha256, createHash('sha256').update(data).digest('hex'));
  assert.ok(report.ticks > 0, 'the event loop never turned while stdin was read');
  // The producer pauses 300 ms: a reader that spins on EAGAIN burns CPU through the pause, one
  // that waits on epoll does not. Load on the machine only widens the gap.
  assert.ok(report.wallMs - report.cpuMs > 150, `the reader spun: ${report.cpuMs} ms of CPU in ${report.wallMs} ms`);
  assert.equal(report.stillNonBlocking, true, 'holdfast changed the mode of a description it only borrowed');
});

test('a non-blocking stdin socket from child_process is read whole', async () => {
  const data = randomBytes(2 * 1024 * 1024 + 3);
  const report = await runStdinChild(process.execPath, ['--import', 'tsx', join(fixtures, 'stdin-digest.ts')], async (stdin) => {
    for (let offset = 0; offset < data.length; offset += 256 * 1024) {
      const more = stdin.write(data.subarray(offset, offset + 256 * 1024));
      if (!more) await new Promise((resolve) => stdin.once('drain', resolve));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    stdin.end();
  });
  assert.equal(report.kind, 'socket');
  assert.equal(report.bytes, data.length);
  assert.equal(report.sha256, createHash('sha256').update(data).digest('hex'));
});

test('leak: a buffered writer dropped without close has its data on disk after GC, and the warning names its open site', async () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'dropped');
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(fixtures, 'dropped-writer.ts'), path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let warnings = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (warnings += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, warnings);
  assert.equal((JSON.parse(output) as { sizeBeforeCollection: number }).sizeBeforeCollection, 0, 'the bytes were on disk before the collection: the test proves nothing');
  assert.equal(fs.readFileSync(path, 'utf8'), 'every acknowledged byte reaches the file\n');
  assert.match(warnings, /HOLDFAST_HANDLE_LEAKED/);
  assert.match(warnings, /garbage-collected without close\(\); flushed and closed/);
  assert.match(warnings, /writeAndForget .*dropped-writer\.ts/);
});
