/**
 * Read throughput benchmark (not a test): does a file read through holdfast's I/O core
 * (Io.read with leases from a BufferPool) reach at least 90% of plain fs.promises FileHandle
 * reads of the same file, measured in the same process run?
 *
 * How it measures:
 * - One file (default 1 GiB) of AES-128-CTR keystream under a fixed key, so its content is
 *   incompressible, not zeros, and recomputable at any offset. It is made once under
 *   HOLDFAST_BENCH_DIR (default the OS temp dir) and reused when it exists with the right size.
 * - One untimed full read warms the page cache, so both contenders read cached data: this
 *   measures the cost of each read path, not the disk.
 * - For each queue depth (the one asked for, default 1, and also 4), each contender gets one
 *   untimed warm-up run, then the contenders alternate run by run (ABAB...) so that noise on a
 *   shared machine hits both. At depth d, d workers share one handle and take the next block
 *   index in turn: d reads in flight at distinct positions, for both contenders alike.
 * - Both read into buffers that start at the same offsets within a 4 KiB page: holdfast's
 *   BufferPool places its buffers where malloc puts them, and fs.promises gets buffers at the
 *   same offsets. The offset alone can halve the kernel's copy speed (bench/README.md).
 * - Every run must read exactly the file's size, and the bytes of a few sampled blocks (copied
 *   during the run, hashed after the clock stops) must equal the generator's bytes, so neither
 *   contender can skip work. Every lease is released and every handle closed after each run.
 *
 * Run:  node --import tsx bench/read-throughput.ts [--size 1GiB] [--operation-size 1MiB]
 *                                                  [--runs 7] [--depth 1]
 * or the same through HOLDFAST_BENCH_SIZE, HOLDFAST_BENCH_OPERATION_SIZE, HOLDFAST_BENCH_RUNS,
 * HOLDFAST_BENCH_DEPTH (argv wins). Exits 1 only when a verification fails, never on the numbers.
 */
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import koffi from 'koffi';
import { BufferPool, type Lease } from '../src/io/buffer-pool.js';
import type { Handle } from '../src/io/handle.js';
import type { Io } from '../src/io/io.js';
import { createNodeIo } from '../src/io/node/create-node-io.js';

const mebibyte = 1024 * 1024;
const pageBytes = 4096;
const goalRatio = 0.9;
const extraDepth = 4;
const runsMax = 1000;
const depthMax = 64;
const operationBytesMax = 256 * mebibyte;
const sampleBlockCountMax = 8;
const generateChunkBytes = 4 * mebibyte;
const contentKey = Buffer.from('holdfast-bench-k');

interface Settings {
  directory: string;
  sizeBytes: number;
  operationBytes: number;
  runCount: number;
  depths: number[];
}

/** What one timed run reports; its sampled blocks are in the SampleSet it was given. */
interface RunReport {
  elapsedMs: number;
  bytesRead: number;
}

/** One way of reading: slot s owns one buffer; read() fills part of it at a file position. */
interface BlockReader {
  read(slot: number, position: number, offsetBytes: number, lengthBytes: number): Promise<number>;
  bytes(slot: number): Buffer;
}

interface Contender {
  readonly name: string;
  /** One pass over the whole file with `depth` reads in flight; releases everything it took. */
  run(path: string, depth: number, settings: Settings, samples: SampleSet): Promise<RunReport>;
}

// ---------------------------------------------------------------- settings

function parseSize(text: string, what: string, max: number): number {
  const match = /^(\d+)\s*(B|K|KiB|M|MiB|G|GiB)?$/i.exec(text.trim());
  if (match === null) throw new Error(`Cannot read ${what} "${text}": expected a number of bytes, optionally with KiB, MiB or GiB`);
  const unit = (match[2] ?? 'B').toLowerCase()[0];
  const factor = unit === 'k' ? 1024 : unit === 'm' ? mebibyte : unit === 'g' ? 1024 * mebibyte : 1;
  return positiveInteger(Number(match[1]) * factor, what, max);
}

function positiveInteger(value: number, what: string, max: number): number {
  if (!Number.isSafeInteger(value) || value <= 0 || value > max) throw new Error(`Cannot use ${what} ${value}: expected an integer from 1 to ${max}`);
  return value;
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' },
      'operation-size': { type: 'string' },
      runs: { type: 'string' },
      depth: { type: 'string' },
    },
  });
  const env = process.env;
  const depth = positiveInteger(Number(values.depth ?? env['HOLDFAST_BENCH_DEPTH'] ?? '1'), 'depth', depthMax);
  return {
    directory: env['HOLDFAST_BENCH_DIR'] ?? os.tmpdir(),
    sizeBytes: parseSize(values.size ?? env['HOLDFAST_BENCH_SIZE'] ?? '1GiB', 'size', Number.MAX_SAFE_INTEGER),
    operationBytes: parseSize(values['operation-size'] ?? env['HOLDFAST_BENCH_OPERATION_SIZE'] ?? '1MiB', 'operation size', operationBytesMax),
    runCount: positiveInteger(Number(values.runs ?? env['HOLDFAST_BENCH_RUNS'] ?? '7'), 'runs', runsMax),
    depths: [...new Set([depth, extraDepth])].sort((a, b) => a - b),
  };
}

// ---------------------------------------------------------------- the file and its content

/** The keystream from byte `position` on: the file's content is this from 0 to its size. */
function contentCipher(position: number): { update(zeros: Buffer): Buffer; skip: number } {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(position / 16)), 8);
  const cipher = createCipheriv('aes-128-ctr', contentKey, iv);
  return { update: (zeros) => cipher.update(zeros), skip: position % 16 };
}

function expectedBytes(position: number, lengthBytes: number): Buffer {
  const cipher = contentCipher(position);
  return cipher.update(Buffer.alloc(cipher.skip + lengthBytes)).subarray(cipher.skip);
}

/** The file, made once (written to a temporary name, synced, renamed) and then reused. */
async function ensureFile(settings: Settings): Promise<{ path: string; made: boolean }> {
  fs.mkdirSync(settings.directory, { recursive: true });
  const path = join(settings.directory, `holdfast-read-bench-${settings.sizeBytes}.bin`);
  const existing = fs.statSync(path, { throwIfNoEntry: false });
  if (existing?.isFile() === true && existing.size === settings.sizeBytes) return { path, made: false };
  const temporary = `${path}.${process.pid}.partial`;
  try {
    const handle = await fs.promises.open(temporary, 'w', 0o644);
    try {
      const cipher = contentCipher(0);
      const zeros = Buffer.alloc(generateChunkBytes);
      for (let position = 0; position < settings.sizeBytes; ) {
        const bytes = cipher.update(zeros.subarray(0, Math.min(generateChunkBytes, settings.sizeBytes - position)));
        for (let done = 0; done < bytes.length; ) {
          done += (await handle.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
        }
        position += bytes.length;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    fs.renameSync(temporary, path);
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  return { path, made: true };
}

/** Reads the whole file once so that every timed run reads cached pages. */
function warmPageCache(path: string, operationBytes: number): number {
  const started = performance.now();
  const buffer = Buffer.allocUnsafeSlow(operationBytes);
  const fd = fs.openSync(path, 'r');
  try {
    while (fs.readSync(fd, buffer, 0, buffer.length, null) > 0);
  } finally {
    fs.closeSync(fd);
  }
  return performance.now() - started;
}

/** "resident N of M bytes" from util-linux fincore, or null when it is not installed. */
function residency(path: string): string | null {
  const call = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES,SIZE', path], { encoding: 'utf8' });
  if (call.status !== 0) return null;
  const [resident, size] = call.stdout.trim().split(/\s+/);
  return `${resident} of ${size} bytes resident (fincore)`;
}

// ---------------------------------------------------------------- verification

/**
 * Copies of a few blocks taken during a run: first, last, and evenly spread between. The copies
 * live in buffers allocated once, so that runs do not churn 1 MiB allocations (which moves where
 * malloc places later buffers; see placedBuffer()).
 */
class SampleSet {
  readonly #copies = new Map<number, Buffer>();
  readonly #lengths = new Map<number, number>();

  constructor(blockCount: number, operationBytes: number) {
    // Buffer.alloc fills them now, so the first touch of these pages is not in the timed loop.
    for (const blockIndex of sampleBlockIndexes(blockCount)) this.#copies.set(blockIndex, Buffer.alloc(operationBytes));
  }

  get blockCount(): number {
    return this.#copies.size;
  }

  reset(): void {
    this.#lengths.clear();
  }

  /** Cheap enough for the timed loop: a map lookup, and a copy for the sampled blocks only. */
  record(blockIndex: number, bytes: Buffer, lengthBytes: number): void {
    const copy = this.#copies.get(blockIndex);
    if (copy !== undefined) this.#lengths.set(blockIndex, bytes.copy(copy, 0, 0, lengthBytes));
  }

  /** Throws when a sampled block was not read or differs from the generator's bytes. */
  check(contender: string, operationBytes: number): void {
    for (const [blockIndex, copy] of this.#copies) {
      const lengthBytes = this.#lengths.get(blockIndex);
      if (lengthBytes === undefined) throw new Error(`${contender}: block ${blockIndex} was never read`);
      const expected = expectedBytes(blockIndex * operationBytes, lengthBytes);
      if (digest(copy.subarray(0, lengthBytes)) !== digest(expected)) throw new Error(`${contender}: block ${blockIndex} does not hold the file's content`);
    }
  }
}

function sampleBlockIndexes(blockCount: number): Set<number> {
  const indexes = new Set<number>();
  for (let index = 0; index < sampleBlockCountMax; index++) indexes.add(Math.round(((blockCount - 1) * index) / (sampleBlockCountMax - 1)));
  return indexes;
}

function digest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// ---------------------------------------------------------------- the contenders

/** The same loop for both contenders: `depth` workers take the next block index in turn. */
async function readWholeFile(reader: BlockReader, depth: number, settings: Settings, samples: SampleSet): Promise<RunReport> {
  const blockCount = Math.ceil(settings.sizeBytes / settings.operationBytes);
  samples.reset();
  let nextBlockIndex = 0;
  let bytesRead = 0;
  const worker = async (slot: number): Promise<void> => {
    for (let blockIndex = nextBlockIndex++; blockIndex < blockCount; blockIndex = nextBlockIndex++) {
      const position = blockIndex * settings.operationBytes;
      const lengthBytes = Math.min(settings.operationBytes, settings.sizeBytes - position);
      let done = 0;
      while (done < lengthBytes) {
        const count = await reader.read(slot, position + done, done, lengthBytes - done);
        if (count === 0) throw new Error(`the file ended early, at byte ${position + done}`);
        done += count;
      }
      bytesRead += done;
      samples.record(blockIndex, reader.bytes(slot), done);
    }
  };
  const started = performance.now();
  const outcomes = await Promise.allSettled(Array.from({ length: depth }, (_, slot) => worker(slot)));
  const elapsedMs = performance.now() - started;
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return { elapsedMs, bytesRead };
}

/**
 * Where a buffer starts within its 4 KiB page. It matters: on some CPUs the kernel's copy from
 * the page cache runs at half speed into one unlucky offset (see bench/README.md), and malloc
 * decides the offset, so both contenders must read into buffers at the same offsets.
 */
function pageOffset(buffer: Buffer): number {
  return Number(koffi.address(buffer) % BigInt(pageBytes));
}

/** A buffer of sizeBytes that starts at the given offset within a page. */
function placedBuffer(sizeBytes: number, offset: number): Buffer {
  const slab = Buffer.allocUnsafeSlow(sizeBytes + pageBytes);
  const start = (offset - pageOffset(slab) + pageBytes) % pageBytes;
  return slab.subarray(start, start + sizeBytes).fill(0);
}

class HoldfastContender implements Contender {
  readonly name = 'holdfast';
  readonly #io: Io = createNodeIo();
  readonly #pools = new Map<number, BufferPool>();

  /** Makes the pool's buffers for this depth (BufferPool places them) and says where they start. */
  async prepare(depth: number, operationBytes: number): Promise<number[]> {
    const pool = new BufferPool({ bufferSizeBytes: operationBytes, bufferCountMax: depth, label: `bench pool, depth ${depth}` });
    this.#pools.set(depth, pool);
    const leases: Lease[] = [];
    try {
      while (leases.length < depth) leases.push(await pool.acquire());
      return leases.map((lease) => pageOffset(lease.bytes));
    } finally {
      for (const lease of leases) lease.release();
    }
  }

  async run(path: string, depth: number, settings: Settings, samples: SampleSet): Promise<RunReport> {
    const pool = this.#pools.get(depth);
    if (pool === undefined) throw new Error(`holdfast: no pool prepared for depth ${depth}`);
    const handle = await this.#io.openFile(path);
    const leases: Lease[] = [];
    try {
      while (leases.length < depth) leases.push(await pool.acquire());
      return await readWholeFile(this.#reader(handle, leases), depth, settings, samples);
    } finally {
      for (const lease of leases) lease.release();
      await handle.close();
      if (pool.leasesOutstanding !== 0) throw new Error(`holdfast: ${pool.leasesOutstanding} leases still outstanding`);
    }
  }

  #reader(handle: Handle<'file'>, leases: Lease[]): BlockReader {
    const io = this.#io;
    return {
      async read(slot, position, offsetBytes, lengthBytes) {
        const result = await io.read(handle, leaseAt(leases, slot), { position, offsetBytes, lengthBytes }).result;
        leases[slot] = result.lease;
        if (result.status === 'failed') throw result.error;
        if (result.status === 'cancelled') throw new Error('holdfast: a read was cancelled');
        return result.bytesTransferred;
      },
      bytes: (slot) => leaseAt(leases, slot).bytes,
    };
  }
}

class FsPromisesContender implements Contender {
  readonly name = 'fs.promises';
  readonly #buffers = new Map<number, Buffer[]>();

  /** Buffers for this depth at the same page offsets as holdfast's, so placement is no factor. */
  prepare(depth: number, operationBytes: number, pageOffsets: number[]): void {
    this.#buffers.set(depth, pageOffsets.map((offset) => placedBuffer(operationBytes, offset)));
  }

  async run(path: string, depth: number, settings: Settings, samples: SampleSet): Promise<RunReport> {
    const buffers = this.#buffers.get(depth);
    if (buffers?.length !== depth) throw new Error(`fs.promises: no buffers prepared for depth ${depth}`);
    const handle = await fs.promises.open(path, 'r');
    try {
      const reader: BlockReader = {
        async read(slot, position, offsetBytes, lengthBytes) {
          return (await handle.read(bufferAt(buffers, slot), offsetBytes, lengthBytes, position)).bytesRead;
        },
        bytes: (slot) => bufferAt(buffers, slot),
      };
      return await readWholeFile(reader, depth, settings, samples);
    } finally {
      await handle.close();
    }
  }
}

function leaseAt(leases: Lease[], slot: number): Lease {
  const lease = leases[slot];
  if (lease === undefined) throw new Error(`no lease in slot ${slot}`);
  return lease;
}

function bufferAt(buffers: Buffer[], slot: number): Buffer {
  const buffer = buffers[slot];
  if (buffer === undefined) throw new Error(`no buffer in slot ${slot}`);
  return buffer;
}

// ---------------------------------------------------------------- running and reporting

/** Throughputs in MiB/s, one per timed run, in run order. */
type Throughputs = Map<string, number[]>;

interface Contenders {
  holdfast: HoldfastContender;
  plain: FsPromisesContender;
}

async function measureDepth(contenders: Contenders, path: string, depth: number, settings: Settings, samples: SampleSet): Promise<Throughputs> {
  const pageOffsets = await contenders.holdfast.prepare(depth, settings.operationBytes);
  contenders.plain.prepare(depth, settings.operationBytes, pageOffsets);
  console.log(`depth ${depth}: buffers start at page offsets ${pageOffsets.join(', ')} (holdfast's BufferPool chose; fs.promises gets the same)`);
  const order: Contender[] = [contenders.holdfast, contenders.plain];
  const throughputs: Throughputs = new Map(order.map((contender) => [contender.name, []]));
  for (let round = -1; round < settings.runCount; round++) {
    for (const contender of order) {
      const report = await contender.run(path, depth, settings, samples);
      if (report.bytesRead !== settings.sizeBytes) throw new Error(`${contender.name}: read ${report.bytesRead} of ${settings.sizeBytes} bytes`);
      samples.check(contender.name, settings.operationBytes);
      // Round -1 is the untimed warm-up: the JIT, the pools and the buffers settle in.
      if (round >= 0) throughputs.get(contender.name)?.push(report.bytesRead / mebibyte / (report.elapsedMs / 1000));
    }
  }
  return throughputs;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

function printTables(results: Map<number, Throughputs>): void {
  const row = (cells: string[]): string => cells.map((cell, index) => (index === 1 ? cell.padEnd(12) : cell.padStart(index === 0 ? 5 : 14))).join('  ');
  console.log(row(['depth', 'contender', 'median MiB/s', 'min MiB/s', 'max MiB/s']));
  for (const [depth, throughputs] of results) {
    for (const [name, values] of throughputs) {
      console.log(row([String(depth), name, median(values).toFixed(0), Math.min(...values).toFixed(0), Math.max(...values).toFixed(0)]));
    }
  }
  console.log('');
  console.log(row(['depth', 'compared', 'median ratio', 'pair min', 'pair max', 'goal 90%']));
  for (const [depth, throughputs] of results) {
    const holdfast = throughputs.get('holdfast') ?? [];
    const plain = throughputs.get('fs.promises') ?? [];
    const ratio = median(holdfast) / median(plain);
    // Each run of holdfast against the fs.promises run right after it: how noisy the pairs are.
    const pairs = holdfast.map((value, index) => value / (plain[index] ?? NaN));
    const verdict = ratio >= goalRatio ? 'PASS' : 'BELOW';
    console.log(row([String(depth), 'holdfast/fs', `${(ratio * 100).toFixed(1)}%`, `${(Math.min(...pairs) * 100).toFixed(1)}%`, `${(Math.max(...pairs) * 100).toFixed(1)}%`, verdict]));
  }
}

async function main(): Promise<void> {
  const settings = readSettings();
  const { path, made } = await ensureFile(settings);
  const warmMs = warmPageCache(path, settings.operationBytes);
  const contenders: Contenders = { holdfast: new HoldfastContender(), plain: new FsPromisesContender() };
  const samples = new SampleSet(Math.ceil(settings.sizeBytes / settings.operationBytes), settings.operationBytes);
  console.log('holdfast read throughput: Io.read (holdfast) vs fs.promises FileHandle.read');
  console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.platform()} ${os.arch()}), UV_THREADPOOL_SIZE ${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}`);
  console.log(`file ${path} (${(settings.sizeBytes / mebibyte).toFixed(0)} MiB, ${made ? 'made now' : 'reused'})`);
  console.log(`${(settings.operationBytes / 1024).toFixed(0)} KiB per read, ${settings.runCount} timed runs per contender and depth, alternating ABAB...; one untimed warm-up run each first`);
  console.log(`page cache: warmed by one full read (${warmMs.toFixed(0)} ms) before timing, so both contenders read cached data; ${residency(path) ?? 'fincore not installed'}`);
  console.log('');
  const results = new Map<number, Throughputs>();
  for (const depth of settings.depths) results.set(depth, await measureDepth(contenders, path, depth, settings, samples));
  console.log('');
  printTables(results);
  console.log(`verified: every run of both contenders read ${settings.sizeBytes} bytes, and ${samples.blockCount} sampled blocks held the generator's bytes (sha256)`);
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
