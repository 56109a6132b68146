/**
 * NBD server benchmark (not a test): `holdfast volume serve` against `qemu-nbd` on the same image
 * file, in the same run, through the same real clients. Goal: holdfast's median throughput at
 * least 0.70x qemu-nbd's on every row, and a flush-and-hold snapshot taken under a running writer
 * holds writes for less than 100 ms (median and max).
 *
 * How it measures:
 * - One image of HOLDFAST_BENCH_SIZE (default 1 GiB), fully written with AES-128-CTR keystream
 *   (no holes, not compressible), and two source files for the sequential writes (the image's
 *   size, and 128 MiB for 4 KiB requests), in a fresh directory under HOLDFAST_BENCH_DIR
 *   (default os.tmpdir(), the main disk here), deleted at the end.
 * - Both servers serve that one file at once, each on its own unix socket, for the whole run:
 *   `bin/holdfast volume serve IMG --socket S --json` (built, from dist/) and
 *   `qemu-nbd -f raw -k S -t --cache=writeback --aio=threads --fork IMG` (its defaults otherwise:
 *   one client at a time, so no multi-conn, and at most 16 requests in flight per client).
 * - Sequential rows: `nbdcopy --connections=1 --threads=1 --requests=16 -S 0 --request-size=N`
 *   from the export to `null:` (reads; the whole image) or from a source file to the export
 *   (writes). One connection because qemu-nbd does not offer multi-conn by default. The time is
 *   the wall time around nbdcopy (connect and negotiation included, for both).
 * - Random rows: `qemu-img bench -f raw -d 16 -s N -S STEP [-w --pattern=0xa5] URI`. qemu-img
 *   bench has no random mode, so STEP is N times a large odd number: offsets walk the image
 *   modulo its size, and since the image is a power-of-two count of N-byte blocks, the walk is a
 *   permutation of all of them, each jump hundreds of MiB. The time is qemu-img's own "Run
 *   completed in" (startup excluded, for both).
 * - "first writes since a snapshot": the 1 MiB sequential write again, but holdfast takes and
 *   drops a snapshot before each run (untimed), so every block's first write marks it durably in
 *   the change map (a write and fdatasync of the map per group of marks). In the other write rows
 *   the blocks are already marked and marking costs nothing.
 * - Per row: one untimed warm-up per server, then `runs` timed runs per server, interleaved
 *   (holdfast, qemu-nbd, holdfast, ...); `sync` before each run, outside the timed region, so one
 *   run's writeback is not charged to the next. Median MiB/s, min-max, and the median CPU time the
 *   server process spent in the run (utime + stime from /proc/PID/stat, before and after).
 * - Snapshot hold: nbdcopy writes the 1 GiB source into the live export with 1 MiB requests, again
 *   and again; meanwhile `holdfast volume snapshot --socket S --json` runs `snapshots` times (each
 *   dropped right after with --drop), and the median and max holdMs are printed.
 * - Flood (holdfast only): a separate server on a sparse 1 GiB image; 6 raw clients each send 200
 *   READs of 32 MiB with simple replies and never read one. Printed: the server's peak resident
 *   memory (VmHWM), its own counters (bytes held for clients, at most), and the wall time of a
 *   `qemu-io -c 'read -P 0xab 0 1M'` (process start included), idle and during the flood.
 * - Honesty: every exit status is checked; before the timed rows both servers' exports read back
 *   (`nbdcopy URI -`) with the image's sha256; after the sequential 1 MiB writes the image must
 *   equal the source file; a server that reports a connection error or does not stop cleanly fails
 *   the run.
 *
 * Run:  npm run bench:nbd   (npm run build && node --import tsx bench/nbd.ts)
 *       [--size 1GiB] [--runs 3] [--snapshots 10], or HOLDFAST_BENCH_SIZE, HOLDFAST_BENCH_RUNS,
 *       HOLDFAST_BENCH_SNAPSHOTS (argv wins); HOLDFAST_BENCH_DIR. Exits 1 when a command or a
 *       check fails, never on the numbers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { requestServerStats } from '../src/blockdev/snapshot-request.js';
import { command } from '../src/format/nbd/protocol.js';
import { RawNbdClient } from '../src/test-support/raw-nbd-client.js';
import { builtCliWarning, commandOutput, machineFacts, median, ratio, repositoryRoot, row } from './measure.js';

const kibibyte = 1024;
const mebibyte = 1024 * kibibyte;
const gibibyte = 1024 * mebibyte;
const goalRatioMin = 0.7;
const goalHoldMsMax = 100;
const runsMax = 25;
const snapshotsMax = 100;
const requestsInFlight = 16;
const smallWriteSourceBytes = 128 * mebibyte;
const generateChunkBytes = 4 * mebibyte;
const commandTimeoutMs = 10 * 60 * 1000;
const serverStartTimeoutMs = 30 * 1000;
/** Odd multipliers of the request size: the random rows' step (see above). */
const stepBlocks4KiB = 40_503;
const stepBlocks1MiB = 397;
const clockTicksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const holdfastBin = join(repositoryRoot, 'bin/holdfast');

interface Settings {
  directory: string;
  sizeBytes: number;
  runCount: number;
  snapshotCount: number;
}

interface Server {
  name: 'holdfast' | 'qemu-nbd';
  socket: string;
  uri: string;
  pid: number;
}

interface Workload {
  name: string;
  client: string;
  bytes: number;
  argv: (server: Server) => string[];
  /** Seconds as the client reports them; else the wall time around the client. */
  seconds?: (stdout: string) => number;
  /** Untimed, before every run of that server (the warm-up too). */
  prepare?: (server: Server) => void;
}

interface Run {
  mibPerSecond: number;
  serverCpuSeconds: number;
}

function readSettings(): Settings {
  const { values } = parseArgs({ options: { size: { type: 'string' }, runs: { type: 'string' }, snapshots: { type: 'string' } } });
  const env = process.env;
  const sizeBytes = parseSize(values.size ?? env['HOLDFAST_BENCH_SIZE'] ?? '1GiB');
  if (sizeBytes < 64 * mebibyte || (sizeBytes & (sizeBytes - 1)) !== 0) throw new Error(`Cannot use size ${sizeBytes}: expected a power of two of at least 64 MiB (the random rows need it)`);
  const runCount = Number(values.runs ?? env['HOLDFAST_BENCH_RUNS'] ?? '3');
  if (!Number.isSafeInteger(runCount) || runCount < 1 || runCount > runsMax) throw new Error(`Cannot use runs ${runCount}: expected an integer from 1 to ${runsMax}`);
  const snapshotCount = Number(values.snapshots ?? env['HOLDFAST_BENCH_SNAPSHOTS'] ?? '10');
  if (!Number.isSafeInteger(snapshotCount) || snapshotCount < 1 || snapshotCount > snapshotsMax) throw new Error(`Cannot use snapshots ${snapshotCount}: expected an integer from 1 to ${snapshotsMax}`);
  return { directory: env['HOLDFAST_BENCH_DIR'] ?? os.tmpdir(), sizeBytes, runCount, snapshotCount };
}

function parseSize(text: string): number {
  const match = /^(\d+)(KiB|MiB|GiB)?$/.exec(text.trim());
  if (match === null) throw new Error(`Cannot read size "${text}": expected a number with KiB, MiB or GiB`);
  return Number(match[1]) * ({ KiB: kibibyte, MiB: mebibyte, GiB: gibibyte }[match[2] ?? ''] ?? 1);
}

// ---------------------------------------------------------------- files and commands

function writeKeystreamFile(path: string, sizeBytes: number, stream: number): void {
  const key = createHash('sha256').update('holdfast-nbd-bench').digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(stream, 0);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const zeros = Buffer.alloc(generateChunkBytes);
  const fd = fs.openSync(path, 'w', 0o644);
  try {
    for (let position = 0; position < sizeBytes; position += generateChunkBytes) fs.writeSync(fd, cipher.update(zeros.subarray(0, Math.min(generateChunkBytes, sizeBytes - position))), 0, undefined, position);
  } finally {
    fs.closeSync(fd);
  }
}

/** Runs a command to its end; throws on any failure. */
function run(argv: string[], options: { cwd: string; input?: 'ignore' } = { cwd: os.tmpdir() }): { stdout: string; wallSeconds: number } {
  const started = performance.now();
  const child = spawnSync(argv[0] ?? 'false', argv.slice(1), { cwd: options.cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: commandTimeoutMs, maxBuffer: 16 * mebibyte });
  const wallSeconds = (performance.now() - started) / 1000;
  if (child.error !== undefined) throw new Error(`Cannot run ${argv.join(' ')}: ${child.error.message}`);
  if (child.status !== 0) throw new Error(`Command failed with exit status ${child.status ?? child.signal}: ${argv.join(' ')}\n${child.stderr}`);
  return { stdout: child.stdout, wallSeconds };
}

function sha256Of(script: string): string {
  const child = spawnSync('sh', ['-c', `set -e; ${script} | sha256sum`], { encoding: 'utf8', timeout: commandTimeoutMs });
  if (child.status !== 0) throw new Error(`Command failed with exit status ${child.status ?? child.signal}: ${script}\n${child.stderr}`);
  return child.stdout.split(' ')[0] ?? '';
}

/** utime + stime of a process so far, in seconds. */
function cpuSecondsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
}

// ---------------------------------------------------------------- servers

class HoldfastServer {
  readonly child: ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  readonly exited: Promise<number | string>;
  #stdout = '';

  constructor(image: string, socket: string) {
    this.child = spawn(holdfastBin, ['volume', 'serve', image, '--socket', socket, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(code ?? `signal ${signal ?? '?'}`)));
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (text: string) => {
      this.#stdout += text;
      const lines = this.#stdout.split('\n');
      this.#stdout = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.events.push(JSON.parse(line) as Record<string, unknown>);
    });
  }

  async listening(): Promise<void> {
    const started = performance.now();
    while (!this.events.some((event) => event['type'] === 'listening')) {
      if (this.child.exitCode !== null) throw new Error(`holdfast volume serve exited with ${this.child.exitCode} before listening`);
      if (performance.now() - started > serverStartTimeoutMs) throw new Error('holdfast volume serve did not listen in time');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  errors(): Record<string, unknown>[] {
    return this.events.filter((event) => event['type'] === 'connection-error' || (event['type'] === 'snapshot-abandoned' && event['reason'] !== 'it was dropped'));
  }

  async stop(): Promise<void> {
    this.child.kill('SIGINT');
    const status = await this.exited;
    if (status !== 0) throw new Error(`holdfast volume serve exited with ${status} on SIGINT, not 0`);
  }
}

function startQemuNbd(image: string, socket: string, pidFile: string): number {
  run(['qemu-nbd', '-f', 'raw', '-k', socket, '-t', '--cache=writeback', '--aio=threads', '--fork', `--pid-file=${pidFile}`, image]);
  return Number(fs.readFileSync(pidFile, 'utf8').trim());
}

function uriOf(socket: string): string {
  return `nbd+unix:///?socket=${socket}`;
}

// ---------------------------------------------------------------- workloads

function nbdcopy(requestBytes: number, source: string, target: string): string[] {
  return ['nbdcopy', '--connections=1', '--threads=1', `--requests=${requestsInFlight}`, '-S', '0', `--request-size=${requestBytes}`, source, target];
}

function qemuImgBench(server: Server, requestBytes: number, stepBlocks: number, count: number, write: boolean): string[] {
  const writing = write ? ['-w', '--pattern=165'] : [];
  return ['qemu-img', 'bench', '-f', 'raw', '-d', String(requestsInFlight), '-c', String(count), '-s', String(requestBytes), '-S', String(requestBytes * stepBlocks), ...writing, server.uri];
}

function benchSeconds(stdout: string): number {
  const match = /Run completed in ([\d.]+) seconds/.exec(stdout);
  if (match === null) throw new Error(`Cannot read qemu-img bench's time from:\n${stdout}`);
  return Number(match[1]);
}

function workloads(settings: Settings, source: string, smallSource: string, resetChangeMap: (server: Server) => void): Workload[] {
  const size = settings.sizeBytes;
  const random4KiBCount = Math.min(65_536, size / (4 * kibibyte));
  const random1MiBCount = size / mebibyte;
  const sequential = `nbdcopy -C 1 -T 1 -R ${requestsInFlight}`;
  const bench = `qemu-img bench -d ${requestsInFlight}`;
  return [
    { name: 'sequential read 1 MiB', client: `${sequential} URI null:`, bytes: size, argv: (server) => nbdcopy(mebibyte, server.uri, 'null:') },
    { name: 'sequential read 4 KiB', client: `${sequential} URI null:`, bytes: size, argv: (server) => nbdcopy(4 * kibibyte, server.uri, 'null:') },
    { name: 'random read 4 KiB', client: `${bench} -c ${random4KiBCount}`, bytes: random4KiBCount * 4 * kibibyte, argv: (server) => qemuImgBench(server, 4 * kibibyte, stepBlocks4KiB, random4KiBCount, false), seconds: benchSeconds },
    { name: 'random read 1 MiB', client: `${bench} -c ${random1MiBCount}`, bytes: size, argv: (server) => qemuImgBench(server, mebibyte, stepBlocks1MiB, random1MiBCount, false), seconds: benchSeconds },
    { name: 'sequential write 1 MiB', client: `${sequential} FILE URI`, bytes: size, argv: (server) => nbdcopy(mebibyte, source, server.uri) },
    { name: 'sequential write 4 KiB', client: `${sequential} FILE(128 MiB) URI`, bytes: smallWriteSourceBytes, argv: (server) => nbdcopy(4 * kibibyte, smallSource, server.uri) },
    { name: 'random write 4 KiB', client: `${bench} -w -c ${random4KiBCount}`, bytes: random4KiBCount * 4 * kibibyte, argv: (server) => qemuImgBench(server, 4 * kibibyte, stepBlocks4KiB, random4KiBCount, true), seconds: benchSeconds },
    { name: 'random write 1 MiB', client: `${bench} -w -c ${random1MiBCount}`, bytes: size, argv: (server) => qemuImgBench(server, mebibyte, stepBlocks1MiB, random1MiBCount, true), seconds: benchSeconds },
    { name: 'sequential write 1 MiB, first writes since a snapshot', client: `${sequential} FILE URI`, bytes: size, argv: (server) => nbdcopy(mebibyte, source, server.uri), prepare: resetChangeMap },
  ];
}

function measureOnce(workload: Workload, server: Server, cwd: string): Run {
  workload.prepare?.(server);
  run(['sync'], { cwd });
  const cpuBefore = cpuSecondsOf(server.pid);
  const { stdout, wallSeconds } = run(workload.argv(server), { cwd });
  const serverCpuSeconds = cpuSecondsOf(server.pid) - cpuBefore;
  const seconds = workload.seconds?.(stdout) ?? wallSeconds;
  return { mibPerSecond: workload.bytes / mebibyte / seconds, serverCpuSeconds };
}

// ---------------------------------------------------------------- snapshot hold

interface SnapshotResult {
  holdMs: number[];
  writesQueued: number[];
  writerPasses: number;
}

async function measureSnapshotHold(server: Server, source: string, count: number): Promise<SnapshotResult> {
  let stopping = false;
  let passes = 0;
  const writer = (async (): Promise<void> => {
    while (!stopping) {
      const child = spawn(nbdcopy(mebibyte, source, server.uri)[0]!, nbdcopy(mebibyte, source, server.uri).slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const status = await new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? `signal ${signal ?? '?'}`)));
      if (status !== 0) throw new Error(`The writer (nbdcopy) failed during snapshots with ${status}:\n${stderr}`);
      passes++;
    }
  })();
  const result: SnapshotResult = { holdMs: [], writesQueued: [], writerPasses: 0 };
  try {
    // Let the writer get going before the first snapshot.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let index = 0; index < count; index++) {
      const lines = (await runAsync([holdfastBin, 'volume', 'snapshot', '--socket', server.socket, '--json'])).trim().split('\n');
      const taken = JSON.parse(lines.at(-2) ?? '{}') as { type?: string; name?: string; holdMs?: number; writesQueued?: number };
      if (taken.type !== 'snapshot' || taken.holdMs === undefined || taken.name === undefined || taken.name !== lines.at(-1)) throw new Error(`Cannot read the snapshot's reply:\n${lines.join('\n')}`);
      result.holdMs.push(taken.holdMs);
      result.writesQueued.push(taken.writesQueued ?? 0);
      await runAsync([holdfastBin, 'volume', 'snapshot', '--socket', server.socket, '--drop', taken.name]);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    stopping = true;
    await writer;
  }
  result.writerPasses = passes;
  return result;
}

// ---------------------------------------------------------------- flood

const floodClientCount = 6;
const floodReadCount = 200;
const floodReadBytes = 32 * mebibyte;

interface FloodResult {
  residentBytesPeak: number;
  queuedBytesPeak: number;
  connectionQueuedBytesPeak: number;
  idleReadMs: number;
  floodReadMs: number;
}

/** Wall time of a 1 MiB qemu-io read checked against the pattern at offset 0. */
function qemuIoReadMs(socket: string): number {
  const { stdout, wallSeconds } = run(['qemu-io', '-f', 'raw', '-c', 'read -P 0xab 0 1M', uriOf(socket)]);
  if (!/read 1048576\/1048576 bytes/.test(stdout) || /failed|error|Pattern verification/i.test(stdout)) throw new Error(`qemu-io read the wrong bytes:\n${stdout}`);
  return wallSeconds * 1000;
}

async function measureFlood(directory: string): Promise<FloodResult> {
  const image = join(directory, 'flood.raw');
  const socket = join(directory, 'flood.sock');
  const fd = fs.openSync(image, 'w', 0o644);
  try {
    fs.ftruncateSync(fd, gibibyte);
    fs.writeSync(fd, Buffer.alloc(mebibyte, 0xab), 0, mebibyte, 0);
  } finally {
    fs.closeSync(fd);
  }
  const server = new HoldfastServer(image, socket);
  const flooders: RawNbdClient[] = [];
  try {
    await server.listening();
    const idleReadMs = qemuIoReadMs(socket);
    for (let index = 0; index < floodClientCount; index++) {
      const client = await RawNbdClient.connect(socket);
      flooders.push(client);
      await client.go('', { structured: false });
      client.stopReading();
      for (let request = 0; request < floodReadCount; request++) {
        client.send({ flags: 0, type: command.read, cookie: BigInt(request + 1), offset: BigInt((request % 32) * floodReadBytes), lengthBytes: floodReadBytes });
      }
    }
    const started = performance.now();
    while ((await requestServerStats({ socketPath: socket })).waiting < floodClientCount) {
      if (performance.now() - started > serverStartTimeoutMs) throw new Error('The flooding clients never all waited for room');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const floodReadMs = qemuIoReadMs(socket);
    const stats = await requestServerStats({ socketPath: socket });
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${server.child.pid!}/status`, 'utf8'));
    return { residentBytesPeak: Number(match?.[1] ?? Number.NaN) * 1024, queuedBytesPeak: stats.queuedBytesPeak, connectionQueuedBytesPeak: stats.connectionQueuedBytesPeak, idleReadMs, floodReadMs };
  } finally {
    await Promise.all(flooders.map((client) => client.close()));
    await server.stop();
  }
}

async function runAsync(argv: string[]): Promise<string> {
  const child = spawn(argv[0] ?? 'false', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const status = await new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? `signal ${signal ?? '?'}`)));
  if (status !== 0) throw new Error(`Command failed with exit status ${status}: ${argv.join(' ')}\n${stderr}`);
  return stdout;
}

// ---------------------------------------------------------------- main

function printFacts(settings: Settings, directory: string): void {
  console.log('holdfast volume serve vs qemu-nbd, same image, same run; goal: holdfast >= 0.70x qemu-nbd on every row, snapshot hold < 100 ms');
  console.log(`machine: ${machineFacts()}`);
  console.log(`node ${process.version}; ${commandOutput('qemu-nbd', ['--version'])}; ${commandOutput('nbdcopy', ['--version'])}; ${commandOutput('qemu-img', ['--version'])}`);
  console.log(`image: ${settings.sizeBytes} bytes of keystream in ${directory} (${commandOutput('findmnt', ['-n', '-o', 'FSTYPE', '-T', directory])})`);
  console.log(`servers: ${holdfastBin} volume serve IMG --socket S --json; qemu-nbd -f raw -k S -t --cache=writeback --aio=threads IMG`);
  console.log(`runs: ${settings.runCount} timed per server per row, interleaved, after one untimed warm-up each; sync before each run (untimed)`);
  const warning = builtCliWarning();
  if (warning !== null) console.log(`WARNING: ${warning}`);
  console.log('');
}

function printTable(rows: { workload: Workload; results: Record<Server['name'], Run[]> }[]): void {
  console.log(row(['row', 'client', 'holdfast MiB/s', 'min-max', 'server CPU s', 'qemu-nbd MiB/s', 'min-max', 'server CPU s', 'holdfast / qemu-nbd', `>= ${goalRatioMin}`]));
  console.log(row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', ':---:']));
  let met = 0;
  for (const { workload, results } of rows) {
    const cells = (runs: Run[]): string[] => {
      const speeds = runs.map((entry) => entry.mibPerSecond);
      return [median(speeds).toFixed(0), `${Math.min(...speeds).toFixed(0)}-${Math.max(...speeds).toFixed(0)}`, median(runs.map((entry) => entry.serverCpuSeconds)).toFixed(2)];
    };
    const holdfast = median(results.holdfast.map((entry) => entry.mibPerSecond));
    const qemu = median(results['qemu-nbd'].map((entry) => entry.mibPerSecond));
    const meets = holdfast / qemu >= goalRatioMin;
    if (meets) met++;
    console.log(row([workload.name, workload.client, ...cells(results.holdfast), ...cells(results['qemu-nbd']), ratio(holdfast, qemu), meets ? 'yes' : 'NO']));
  }
  console.log('');
  console.log(`goal: holdfast >= ${goalRatioMin}x qemu-nbd (median MiB/s): met by ${met} of ${rows.length} rows`);
}

async function main(): Promise<void> {
  const settings = readSettings();
  const directory = fs.mkdtempSync(join(settings.directory, 'holdfast-nbd-bench-'));
  let holdfast: HoldfastServer | null = null;
  let qemuPid: number | null = null;
  try {
    printFacts(settings, directory);
    const image = join(directory, 'image.raw');
    const source = join(directory, 'source.bin');
    const smallSource = join(directory, 'source-small.bin');
    writeKeystreamFile(image, settings.sizeBytes, 1);
    writeKeystreamFile(source, settings.sizeBytes, 2);
    writeKeystreamFile(smallSource, Math.min(smallWriteSourceBytes, settings.sizeBytes), 3);
    run(['sync'], { cwd: directory });
    holdfast = new HoldfastServer(image, join(directory, 'holdfast.sock'));
    await holdfast.listening();
    qemuPid = startQemuNbd(image, join(directory, 'qemu.sock'), join(directory, 'qemu.pid'));
    const servers: Server[] = [
      { name: 'holdfast', socket: join(directory, 'holdfast.sock'), uri: uriOf(join(directory, 'holdfast.sock')), pid: holdfast.child.pid! },
      { name: 'qemu-nbd', socket: join(directory, 'qemu.sock'), uri: uriOf(join(directory, 'qemu.sock')), pid: qemuPid },
    ];
    const imageSha256 = sha256Of(`cat '${image}'`);
    for (const server of servers) {
      const served = sha256Of(`nbdcopy '${server.uri}' -`);
      if (served !== imageSha256) throw new Error(`${server.name} served content with sha256 ${served}, the image has ${imageSha256}`);
    }
    console.log(`checked: both exports read back with the image's sha256 ${imageSha256.slice(0, 16)}...`);
    const resetChangeMap = (server: Server): void => {
      if (server.name !== 'holdfast') return;
      const name = run([holdfastBin, 'volume', 'snapshot', '--socket', server.socket]).stdout.trim().split('\n').at(-1) ?? '';
      run([holdfastBin, 'volume', 'snapshot', '--socket', server.socket, '--drop', name]);
    };
    const measured: { workload: Workload; results: Record<Server['name'], Run[]> }[] = [];
    for (const workload of workloads(settings, source, smallSource, resetChangeMap)) {
      const results: Record<Server['name'], Run[]> = { holdfast: [], 'qemu-nbd': [] };
      for (const server of servers) measureOnce(workload, server, directory);
      if (workload.name === 'sequential write 1 MiB' && sha256Of(`cat '${image}'`) !== sha256Of(`cat '${source}'`)) throw new Error('After the sequential writes the image differs from the source file');
      for (let round = 0; round < settings.runCount; round++) for (const server of servers) results[server.name].push(measureOnce(workload, server, directory));
      console.log(`${workload.name}: holdfast ${results.holdfast.map((entry) => entry.mibPerSecond.toFixed(0)).join(', ')} MiB/s; qemu-nbd ${results['qemu-nbd'].map((entry) => entry.mibPerSecond.toFixed(0)).join(', ')} MiB/s`);
      measured.push({ workload, results });
    }
    const servedHoldfast = servers[0]!;
    const snapshots = await measureSnapshotHold(servedHoldfast, source, settings.snapshotCount);
    const errors = holdfast.errors();
    if (errors.length > 0) throw new Error(`holdfast reported: ${JSON.stringify(errors)}`);
    console.log('');
    printTable(measured);
    const holdMedian = median(snapshots.holdMs);
    const holdMax = Math.max(...snapshots.holdMs);
    console.log('');
    const flood = await measureFlood(directory);
    const inMiB = (bytes: number): string => (bytes / mebibyte).toFixed(0);
    console.log('');
    console.log(row(['flood row', 'holdfast']));
    console.log(row(['---', '---:']));
    console.log(row([`server peak RSS (VmHWM), ${floodClientCount} clients x ${floodReadCount} READs of 32 MiB never read`, `${inMiB(flood.residentBytesPeak)} MiB`]));
    console.log(row(['bytes held for clients at most: all / one connection (limits 256 / 64 MiB)', `${inMiB(flood.queuedBytesPeak)} / ${inMiB(flood.connectionQueuedBytesPeak)} MiB`]));
    console.log(row(['qemu-io read of 1 MiB (wall, process start included): idle', `${flood.idleReadMs.toFixed(0)} ms`]));
    console.log(row(['qemu-io read of 1 MiB (wall, process start included): during the flood', `${flood.floodReadMs.toFixed(0)} ms`]));
    console.log('');
    console.log(`snapshot hold under a 1 MiB nbdcopy writer (${snapshots.holdMs.length} snapshots, ${snapshots.writerPasses} full writer passes): holdMs median ${holdMedian.toFixed(1)}, max ${holdMax.toFixed(1)} (all: ${snapshots.holdMs.map((ms) => ms.toFixed(1)).join(', ')}); writes queued median ${median(snapshots.writesQueued)}; goal < ${goalHoldMsMax} ms: ${holdMax < goalHoldMsMax ? 'yes' : holdMedian < goalHoldMsMax ? 'median yes, max NO' : 'NO'}`);
  } finally {
    if (qemuPid !== null) process.kill(qemuPid, 'SIGTERM');
    await holdfast?.stop();
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
