/**
 * tar throughput benchmark (not a test): are `holdfast export` and `holdfast import` within
 * 1.25x of GNU tar's wall time on the same tree, measured side by side in the same run?
 *
 * How it measures:
 * - One tree (about 1 GiB at scale 1: 4 random files of 128 MiB, one 256 MiB file of a repeating
 *   pattern, 20,000 random files of 1-16 KiB in 200 directories, one 1 GiB sparse file holding
 *   4 MiB of data) made from a fixed seed under HOLDFAST_BENCH_DIR, and reused while its marker
 *   file says it was made with the same seed, layout and scale. Random content is AES-128-CTR
 *   keystream, so neither tool gains from compression or deduplication.
 * - Every command runs through `sh -c` under `/usr/bin/time -v`: the wall time is taken around
 *   the child, the CPU time (user + sys) and the peak RSS come from time(1), and cover every
 *   process of the pipeline. The peak RSS is that of the largest single process.
 * - Exports go to /dev/null. GNU tar skips reading file data when its archive is /dev/null, so
 *   GNU tar always writes to a pipe into `cat > /dev/null`; holdfast is timed both ways.
 * - Imports read one archive made once per run by `tar --format=posix --sparse` (and holdfast's
 *   own stream, for reference) into a fresh empty directory, with `sync` run before, outside the
 *   timed region. The previous target is moved aside, not deleted: on ext4 without a journal,
 *   creating files shortly after deleting many made GNU tar 4x slower (kernel time in
 *   recently_deleted(); bench/README.md). All targets are deleted when the import step ends.
 * - Page caches are not dropped (we cannot, on a shared machine): one untimed warm-up run of
 *   each command comes first, so every command reads cached data. Then the commands of a step
 *   take turns run by run (ABCABC...), so that noise on a shared machine hits all of them.
 * - Honesty: every exit status is checked (in pipelines too); each export is run once untimed
 *   with its output counted, which must cover the tree's data; after the warm-up imports, the
 *   restored tree must have the source tree's file count, bytes and content digest.
 *
 * Run:  npm run build && node --import tsx bench/tar-throughput.ts [--scale 1] [--runs 5]
 * or the same through HOLDFAST_BENCH_SCALE, HOLDFAST_BENCH_RUNS (argv wins); the directory is
 * HOLDFAST_BENCH_DIR (default <tmp>/holdfast-tar-bench). Exits 1 only when a command or a check
 * fails, never on the numbers.
 */
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const kibibyte = 1024;
const mebibyte = 1024 * kibibyte;
const gibibyte = 1024 * mebibyte;
const pageBytes = 4096;
const goalRatioMax = 1.25;

/** Bump when the tree's layout changes, so an old tree is not reused. */
const treeLayoutVersion = 1;
const treeSeed = 0x5eed7a12;
const largeFileCount = 4;
const largeFileBytes = 128 * mebibyte;
const patternFileBytes = 256 * mebibyte;
/** A prime period, so the pattern never lines up with pages or blocks. */
const patternPeriodBytes = 65_521;
const smallFileCount = 20_000;
const smallFileBytesMin = 1 * kibibyte;
const smallFileBytesMax = 16 * kibibyte;
const smallDirectoryCount = 200;
const smallDirectoriesPerGroup = 10;
const sparseFileApparentBytes = 1 * gibibyte;
const sparseExtentCount = 4;
const sparseExtentBytes = 1 * mebibyte;
const generateChunkBytes = 4 * mebibyte;
const hashChunkBytes = 1 * mebibyte;
const zeroPage = Buffer.alloc(pageBytes);

const scaleMax = 16;
const runsMax = 100;
const childOutputBytesMax = 16 * mebibyte;
/** Free space to leave on the file system after all import targets are written. */
const importSpareBytes = 2 * gibibyte;

const holdfastBin = fileURLToPath(new URL('../bin/holdfast', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

interface Settings {
  directory: string;
  scale: number;
  runCount: number;
}

/** What the tree holds; the marker file keeps it so a reused tree need not be read again. */
interface TreeFacts {
  fileCount: number;
  directoryCount: number;
  apparentBytes: number;
  /** Bytes outside holes: what an archive that keeps holes must carry. */
  dataBytes: number;
  contentSha256: string;
}

interface Marker {
  layoutVersion: number;
  seed: number;
  scale: number;
  facts: TreeFacts;
}

/** Paths of one scale's work directory; commands run with `directory` as their working directory. */
interface Work {
  directory: string;
  tree: string;
  marker: string;
  gnuArchive: string;
  streamArchive: string;
  target: string;
  /** Where each import's target is moved after its run, never deleted until the step ends. */
  usedTargets: string;
  status: string;
  timeReport: string;
}

// ---------------------------------------------------------------- settings

function readSettings(): Settings {
  const { values } = parseArgs({ options: { scale: { type: 'string' }, runs: { type: 'string' } } });
  const env = process.env;
  const scale = Number(values.scale ?? env['HOLDFAST_BENCH_SCALE'] ?? '1');
  if (!Number.isFinite(scale) || scale <= 0 || scale > scaleMax) throw new Error(`Cannot use scale ${scale}: expected a number above 0, up to ${scaleMax}`);
  const runCount = Number(values.runs ?? env['HOLDFAST_BENCH_RUNS'] ?? '5');
  if (!Number.isSafeInteger(runCount) || runCount < 1 || runCount > runsMax) throw new Error(`Cannot use runs ${runCount}: expected an integer from 1 to ${runsMax}`);
  return { directory: env['HOLDFAST_BENCH_DIR'] ?? join(os.tmpdir(), 'holdfast-tar-bench'), scale, runCount };
}

function workPaths(settings: Settings): Work {
  const directory = join(settings.directory, `scale-${settings.scale}`);
  const at = (name: string): string => join(directory, name);
  return {
    directory,
    tree: at('tree'),
    marker: at('tree.json'),
    gnuArchive: at('gnu-posix-sparse.tar'),
    streamArchive: at('holdfast.stream'),
    target: at('target'),
    usedTargets: at('used-targets'),
    status: at('pipeline-status'),
    timeReport: at('time-report.txt'),
  };
}

/** Fails unless dist/ was built after the last change to the sources the build compiles. */
function checkBuild(): void {
  const built = fs.statSync(join(repositoryRoot, 'dist/cli/main.js'), { throwIfNoEntry: false });
  const newestSourceMs = newestMtimeMs(join(repositoryRoot, 'src'));
  if (built === undefined || built.mtimeMs < newestSourceMs) {
    throw new Error('Cannot run the benchmark: dist/ is missing or older than src/; run `npm run build` first');
  }
}

/** The newest mtime of the files tsconfig.build.json compiles (no tests, test support or simulator). */
function newestMtimeMs(directory: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test-support' && !path.endsWith(join('src', 'io', 'sim'))) newest = Math.max(newest, newestMtimeMs(path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, fs.statSync(path).mtimeMs);
    }
  }
  return newest;
}

// ---------------------------------------------------------------- the tree

/** mulberry32: a small seeded PRNG for sizes and positions (content comes from keystreams). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Keystream number `stream` of the tree's seed: distinct content for each file. */
function keystream(stream: number): (lengthBytes: number) => Buffer {
  const key = createHash('sha256').update(`holdfast-tar-bench:${treeSeed}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(stream, 0);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  return (lengthBytes) => cipher.update(Buffer.alloc(lengthBytes));
}

function scaled(bytes: number, scale: number, multipleBytes = 1): number {
  return Math.max(multipleBytes, Math.round((bytes * scale) / multipleBytes) * multipleBytes);
}

function writeChunked(path: string, sizeBytes: number, chunk: (position: number, lengthBytes: number) => Buffer): void {
  const fd = fs.openSync(path, 'w', 0o644);
  try {
    for (let position = 0; position < sizeBytes; ) {
      const bytes = chunk(position, Math.min(generateChunkBytes, sizeBytes - position));
      fs.writeSync(fd, bytes, 0, bytes.length, position);
      position += bytes.length;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function makeTree(tree: string, scale: number): void {
  const random = seededRandom(treeSeed);
  let stream = 0;
  fs.mkdirSync(join(tree, 'large'), { recursive: true });
  for (let index = 0; index < largeFileCount; index++) {
    const next = keystream(stream++);
    writeChunked(join(tree, 'large', `large-${index}.bin`), scaled(largeFileBytes, scale), (_, lengthBytes) => next(lengthBytes));
  }
  const period = keystream(stream++)(patternPeriodBytes);
  const repeated = Buffer.alloc(generateChunkBytes + patternPeriodBytes);
  for (let position = 0; position < repeated.length; position += period.length) period.copy(repeated, position);
  writeChunked(join(tree, 'pattern.bin'), scaled(patternFileBytes, scale), (position, lengthBytes) => {
    const phase = position % patternPeriodBytes;
    return repeated.subarray(phase, phase + lengthBytes);
  });
  const directoryCount = Math.max(1, Math.round(smallDirectoryCount * scale));
  const directories = Array.from({ length: directoryCount }, (_, index) => {
    const group = String(Math.floor(index / smallDirectoriesPerGroup)).padStart(3, '0');
    return join(tree, 'small', `g${group}`, `d${String(index % smallDirectoriesPerGroup).padStart(2, '0')}`);
  });
  for (const directory of directories) fs.mkdirSync(directory, { recursive: true });
  const fileCount = Math.max(1, Math.round(smallFileCount * scale));
  for (let index = 0; index < fileCount; index++) {
    const sizeBytes = smallFileBytesMin + Math.floor(random() * (smallFileBytesMax - smallFileBytesMin + 1));
    fs.writeFileSync(join(directories[index % directoryCount] ?? tree, `f${String(index).padStart(5, '0')}.bin`), keystream(stream++)(sizeBytes));
  }
  makeSparseFile(join(tree, 'sparse.bin'), scale, random, keystream(stream++));
}

/** Extents of data at page-aligned seeded positions, one in each equal part of the file. */
function makeSparseFile(path: string, scale: number, random: () => number, next: (lengthBytes: number) => Buffer): void {
  const apparentBytes = scaled(sparseFileApparentBytes, scale, pageBytes);
  const extentBytes = scaled(sparseExtentBytes, scale, pageBytes);
  const partBytes = Math.floor(apparentBytes / sparseExtentCount / pageBytes) * pageBytes;
  const fd = fs.openSync(path, 'w', 0o644);
  try {
    for (let index = 0; index < sparseExtentCount; index++) {
      const slackPages = Math.max(0, Math.floor((partBytes - extentBytes) / pageBytes));
      const position = index * partBytes + Math.floor(random() * slackPages) * pageBytes;
      fs.writeSync(fd, next(extentBytes), 0, extentBytes, position);
    }
    fs.ftruncateSync(fd, apparentBytes);
  } finally {
    fs.closeSync(fd);
  }
}

/** Walks a tree in name order: counts, bytes, and one sha256 over every name, size and content. */
function describeTree(root: string): TreeFacts & { allocatedBytes: number } {
  const facts = { fileCount: 0, directoryCount: 0, apparentBytes: 0, dataBytes: 0, allocatedBytes: 0, contentSha256: '' };
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(hashChunkBytes);
  const visit = (path: string, name: string): void => {
    const stat = fs.lstatSync(path);
    if (stat.isDirectory()) {
      facts.directoryCount++;
      hash.update(`${name}\0directory\n`);
      for (const child of fs.readdirSync(path).sort()) visit(join(path, child), `${name}/${child}`);
      return;
    }
    if (!stat.isFile()) throw new Error(`Cannot describe tree "${root}": "${path}" is neither a file nor a directory`);
    facts.fileCount++;
    facts.apparentBytes += stat.size;
    facts.allocatedBytes += stat.blocks * 512;
    hash.update(`${name}\0file\0${stat.size}\n`);
    facts.dataBytes += hashFile(path, hash, buffer);
  };
  visit(root, '.');
  facts.contentSha256 = hash.digest('hex');
  return facts;
}

/** Hashes a file's content and returns its bytes outside all-zero pages (what a sparse-aware archive carries). */
function hashFile(path: string, hash: Hash, buffer: Buffer): number {
  const fd = fs.openSync(path, 'r');
  let nonZeroBytes = 0;
  try {
    for (let count = fs.readSync(fd, buffer, 0, buffer.length, null); count > 0; count = fs.readSync(fd, buffer, 0, buffer.length, null)) {
      const bytes = buffer.subarray(0, count);
      hash.update(bytes);
      for (let page = 0; page < count; page += pageBytes) {
        const view = bytes.subarray(page, page + pageBytes);
        if (!view.equals(zeroPage.subarray(0, view.length))) nonZeroBytes += view.length;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return nonZeroBytes;
}

/** The tree, made once per seed, layout and scale, and reused while its marker says so. */
function ensureTree(work: Work, scale: number): { facts: TreeFacts; made: boolean; seconds: number } {
  const started = performance.now();
  const marker = readMarker(work.marker);
  if (marker !== null && marker.layoutVersion === treeLayoutVersion && marker.seed === treeSeed && marker.scale === scale && fs.existsSync(work.tree)) {
    return { facts: marker.facts, made: false, seconds: 0 };
  }
  fs.rmSync(work.marker, { force: true });
  fs.rmSync(work.tree, { recursive: true, force: true });
  fs.mkdirSync(work.directory, { recursive: true });
  makeTree(work.tree, scale);
  const described = describeTree(work.tree);
  const facts: TreeFacts = {
    fileCount: described.fileCount,
    directoryCount: described.directoryCount,
    apparentBytes: described.apparentBytes,
    dataBytes: described.dataBytes,
    contentSha256: described.contentSha256,
  };
  const written: Marker = { layoutVersion: treeLayoutVersion, seed: treeSeed, scale, facts };
  // Written last: a tree whose making was interrupted has no marker and is made again.
  fs.writeFileSync(work.marker, `${JSON.stringify(written, null, 2)}\n`);
  return { facts, made: true, seconds: (performance.now() - started) / 1000 };
}

function removeTargets(work: Work): void {
  fs.rmSync(work.target, { recursive: true, force: true });
  fs.rmSync(work.usedTargets, { recursive: true, force: true });
}

function readMarker(path: string): Marker | null {
  try {
    return JSON.parse(fs.readFileSync(path, 'utf8')) as Marker;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- commands and measurement

function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** A command of one step; `script` runs under `sh -c` in the work directory. */
interface Command {
  tool: string;
  script: string;
  /** Untimed, before every run (the warm-up too). */
  prepare?: () => void;
  /** Untimed, once, before the warm-up: runs a variant that counts the output, returns its bytes. */
  countOutput?: () => number;
  /** Untimed, once, after the warm-up run. */
  checkAfterWarmUp?: () => string;
}

interface Step {
  name: string;
  /** commands[0] is GNU tar, the one the others are compared with. */
  commands: Command[];
}

interface Measurement {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssKibibytes: number;
}

/** Runs `sh -c script` (under time(1) when a report path is given); throws on any failure. */
function runShell(work: Work, script: string, timeReport: string | null): { stdout: string; wallSeconds: number } {
  const argv = timeReport === null ? ['sh', '-c', script] : ['/usr/bin/time', '-v', '-o', timeReport, 'sh', '-c', script];
  fs.rmSync(work.status, { force: true });
  const started = performance.now();
  const child = spawnSync(argv[0] ?? 'sh', argv.slice(1), { cwd: work.directory, encoding: 'utf8', maxBuffer: childOutputBytesMax, stdio: ['ignore', 'pipe', 'pipe'] });
  const wallSeconds = (performance.now() - started) / 1000;
  if (child.error !== undefined) throw new Error(`Cannot run "${script}": ${child.error.message}`);
  if (child.status !== 0) throw new Error(`Command failed with exit status ${child.status ?? child.signal}: ${script}\n${child.stderr}`);
  // A pipeline's status is its last command's: the producer writes its own to the status file.
  if (script.includes(work.status)) {
    const producerStatus = fs.readFileSync(work.status, 'utf8').trim();
    if (producerStatus !== '0') throw new Error(`Command failed with exit status ${producerStatus} before the pipe: ${script}\n${child.stderr}`);
  }
  return { stdout: child.stdout, wallSeconds };
}

function measure(work: Work, command: Command): Measurement {
  command.prepare?.();
  const { wallSeconds } = runShell(work, command.script, work.timeReport);
  const report = fs.readFileSync(work.timeReport, 'utf8');
  const field = (label: string): number => {
    const match = new RegExp(`${label}: ([\\d.]+)`).exec(report);
    if (match === null) throw new Error(`Cannot read "${label}" from /usr/bin/time -v:\n${report}`);
    return Number(match[1]);
  };
  return {
    wallSeconds,
    cpuSeconds: field('User time \\(seconds\\)') + field('System time \\(seconds\\)'),
    peakRssKibibytes: field('Maximum resident set size \\(kbytes\\)'),
  };
}

/** A producer piped into `cat > /dev/null`, with the producer's status kept (dash has no pipefail). */
function piped(work: Work, producer: string, sink: string): string {
  return `{ ${producer}; echo $? > ${quote(work.status)}; } | ${sink}`;
}

function exportCommand(work: Work, tool: string, producer: string, output: 'pipe' | 'dev-null'): Command {
  if (output === 'pipe') {
    return { tool, script: piped(work, producer, 'cat > /dev/null'), countOutput: () => Number(runShell(work, piped(work, producer, 'wc -c'), null).stdout.trim()) };
  }
  return {
    tool,
    script: `${producer} -o /dev/null`,
    countOutput: () => {
      const lines = runShell(work, `${producer} -o /dev/null --json`, null).stdout.trim().split('\n');
      const summary = JSON.parse(lines.at(-1) ?? '{}') as { type?: string; outputBytes?: number };
      if (summary.type !== 'summary' || summary.outputBytes === undefined) throw new Error(`Cannot read holdfast's summary: ${lines.join('\n')}`);
      return summary.outputBytes;
    },
  };
}

function exportStep(work: Work): Step {
  const holdfast = `${quote(holdfastBin)} export tree`;
  return {
    name: 'export',
    commands: [
      exportCommand(work, 'GNU tar --sparse | cat', 'tar --sparse -cf - tree', 'pipe'),
      exportCommand(work, 'GNU tar (no --sparse) | cat', 'tar -cf - tree', 'pipe'),
      exportCommand(work, 'GNU tar pax --sparse --xattrs --acls | cat', 'tar --format=posix --sparse --xattrs --acls -cf - tree', 'pipe'),
      exportCommand(work, 'holdfast tar -o /dev/null', `${holdfast} --format tar`, 'dev-null'),
      exportCommand(work, 'holdfast tar | cat', `${holdfast} --format tar`, 'pipe'),
      exportCommand(work, 'holdfast stream -o /dev/null', `${holdfast} --format stream`, 'dev-null'),
    ],
  };
}

function importStep(work: Work, facts: TreeFacts): Step {
  let usedCount = 0;
  const prepare = (): void => {
    // Moved aside, not deleted: deleting 20,000 files here makes the next run's creates slow.
    if (fs.existsSync(work.target)) fs.renameSync(work.target, join(work.usedTargets, `run-${usedCount++}`));
    fs.mkdirSync(work.target);
    // Writes of the previous run go to disk now, not during the next timed run.
    runShell(work, 'sync', null);
  };
  const checkAfterWarmUp = (): string => {
    const restored = describeTree(join(work.target, 'tree'));
    for (const key of ['fileCount', 'directoryCount', 'apparentBytes', 'contentSha256'] as const) {
      if (restored[key] !== facts[key]) throw new Error(`The restored tree differs from the source: ${key} is ${restored[key]}, expected ${facts[key]}`);
    }
    return `same ${restored.fileCount} files, ${restored.directoryCount} directories, ${restored.apparentBytes} bytes and content sha256; ${(restored.allocatedBytes / mebibyte).toFixed(0)} MiB allocated`;
  };
  const target = quote(work.target);
  return {
    name: 'import',
    commands: [
      { tool: 'GNU tar -xf', script: `tar -xf ${quote(work.gnuArchive)} -C ${target}`, prepare, checkAfterWarmUp },
      { tool: 'holdfast import (GNU tar archive)', script: `${quote(holdfastBin)} import ${quote(work.gnuArchive)} --target ${target}`, prepare, checkAfterWarmUp },
      { tool: 'holdfast import (holdfast stream)', script: `${quote(holdfastBin)} import ${quote(work.streamArchive)} --target ${target}`, prepare, checkAfterWarmUp },
    ],
  };
}

/**
 * Fails when the import step's targets (kept until the step ends) would not fit: each run
 * restores the whole tree, a little more than its data, into a directory of its own.
 */
function checkSpace(work: Work, facts: TreeFacts, targetCount: number): void {
  const space = fs.statfsSync(work.directory);
  const neededBytes = targetCount * (facts.dataBytes + (facts.fileCount + facts.directoryCount) * pageBytes) + importSpareBytes;
  const neededInodes = targetCount * (facts.fileCount + facts.directoryCount);
  if (space.bavail * space.bsize < neededBytes || space.ffree < neededInodes) {
    throw new Error(
      `Cannot run the import step in ${work.directory}: its ${targetCount} targets need ${(neededBytes / gibibyte).toFixed(1)} GiB and ${neededInodes} inodes, ` +
        `and ${(space.bavail * space.bsize / gibibyte).toFixed(1)} GiB and ${space.ffree} inodes are free; lower HOLDFAST_BENCH_RUNS or HOLDFAST_BENCH_SCALE`,
    );
  }
}

/** Untimed checks and one warm-up run per command, then `runCount` rounds in turn. */
function measureStep(work: Work, step: Step, facts: TreeFacts, runCount: number): Measurement[][] {
  for (const command of step.commands) {
    if (command.countOutput === undefined) continue;
    const outputBytes = command.countOutput();
    if (outputBytes < facts.dataBytes) throw new Error(`${command.tool} wrote ${outputBytes} bytes, less than the tree's ${facts.dataBytes} bytes of data: it skipped work`);
    console.log(`checked: ${command.tool} wrote ${outputBytes} bytes (${(outputBytes / mebibyte).toFixed(1)} MiB; the tree has ${(facts.dataBytes / mebibyte).toFixed(1)} MiB of data)`);
  }
  for (const command of step.commands) {
    const warmUp = measure(work, command);
    const checked = command.checkAfterWarmUp?.();
    console.log(`warm-up: ${command.tool} ${warmUp.wallSeconds.toFixed(2)} s${checked === undefined ? '' : `; checked: ${checked}`}`);
  }
  const results: Measurement[][] = step.commands.map(() => []);
  for (let round = 0; round < runCount; round++) {
    step.commands.forEach((command, index) => results[index]?.push(measure(work, command)));
    process.stdout.write(`${step.name}: round ${round + 1} of ${runCount} done\n`);
  }
  return results;
}

// ---------------------------------------------------------------- reporting

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

function printTable(steps: { step: Step; results: Measurement[][] }[]): void {
  console.log('| step | tool | median wall s | wall min-max s | median CPU s | median peak RSS MiB | wall vs GNU tar | CPU vs GNU tar | within 1.25x |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |');
  const verdicts: string[] = [];
  for (const { step, results } of steps) {
    const peerWall = median(results[0]?.map((run) => run.wallSeconds) ?? []);
    const peerCpu = median(results[0]?.map((run) => run.cpuSeconds) ?? []);
    step.commands.forEach((command, index) => {
      const runs = results[index] ?? [];
      const walls = runs.map((run) => run.wallSeconds);
      const wall = median(walls);
      const cpu = median(runs.map((run) => run.cpuSeconds));
      const verdict = !command.tool.startsWith('holdfast') ? '' : wall / peerWall <= goalRatioMax ? 'yes' : 'NO';
      if (verdict !== '') verdicts.push(verdict);
      const cells = [
        step.name,
        command.tool + (index === 0 ? ' (peer)' : ''),
        wall.toFixed(2),
        `${Math.min(...walls).toFixed(2)}-${Math.max(...walls).toFixed(2)}`,
        cpu.toFixed(2),
        (median(runs.map((run) => run.peakRssKibibytes)) / kibibyte).toFixed(1),
        `${(wall / peerWall).toFixed(2)}x`,
        `${(cpu / peerCpu).toFixed(2)}x`,
        verdict,
      ];
      // A pipe in a cell would end it: markdown wants it escaped.
      console.log(`| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`);
    });
  }
  const met = verdicts.filter((verdict) => verdict === 'yes').length;
  console.log('');
  console.log(`goal: within ${goalRatioMax}x of GNU tar's time (median wall): met by ${met} of ${verdicts.length} holdfast rows`);
}

function commandOutput(command: string, args: string[]): string {
  const child = spawnSync(command, args, { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`Cannot run ${command} ${args.join(' ')}: ${child.stderr}`);
  return child.stdout.trim();
}

function printFacts(settings: Settings, work: Work, facts: TreeFacts, tree: { made: boolean; seconds: number }): void {
  console.log('holdfast export/import vs GNU tar, same tree, same run; goal: within 1.25x of GNU tar\'s time');
  console.log(`machine: nproc ${commandOutput('nproc', [])}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / gibibyte).toFixed(0)} GiB RAM, Linux ${os.release()}, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
  console.log(`node ${process.version}; ${commandOutput('tar', ['--version']).split('\n')[0] ?? 'tar'}; sh is ${fs.realpathSync('/bin/sh')}`);
  console.log(`work directory ${work.directory} (${commandOutput('findmnt', ['-n', '-o', 'FSTYPE', '-T', work.directory])})`);
  const treeState = tree.made ? `made now in ${tree.seconds.toFixed(0)} s` : 'reused (marker tree.json matched)';
  console.log(`tree: scale ${settings.scale}, seed 0x${treeSeed.toString(16)}, ${facts.fileCount} files, ${facts.directoryCount} directories, ${facts.apparentBytes} bytes apparent (${(facts.apparentBytes / mebibyte).toFixed(0)} MiB), ${(facts.dataBytes / mebibyte).toFixed(0)} MiB outside holes; ${treeState}`);
  console.log(`runs: ${settings.runCount} timed runs per command, the commands of a step in turn (ABCABC...), after one untimed warm-up run of each`);
  console.log('page cache: NOT dropped (not possible on a shared machine); the warm-up runs put the tree and the archives in it, so every command reads cached data');
  console.log('wall: around the child; CPU (user+sys) and peak RSS: /usr/bin/time -v over the whole `sh -c` (peak RSS is the largest single process)');
  console.log('');
}

function main(): void {
  const settings = readSettings();
  checkBuild();
  const work = workPaths(settings);
  const tree = ensureTree(work, settings.scale);
  printFacts(settings, work, tree.facts, tree);
  // Left by an interrupted run. Deleted now, before the export step, not right before imports.
  removeTargets(work);
  runShell(work, `tar --format=posix --sparse -cf ${quote(work.gnuArchive)} tree`, null);
  runShell(work, `${quote(holdfastBin)} export tree --format stream -o ${quote(work.streamArchive)}`, null);
  runShell(work, 'sync', null);
  console.log(`archives for import: ${work.gnuArchive} (${(fs.statSync(work.gnuArchive).size / mebibyte).toFixed(0)} MiB), ${work.streamArchive} (${(fs.statSync(work.streamArchive).size / mebibyte).toFixed(0)} MiB)`);
  const exported = exportStep(work);
  const imported = importStep(work, tree.facts);
  checkSpace(work, tree.facts, imported.commands.length * (settings.runCount + 1));
  const measured = [{ step: exported, results: measureStep(work, exported, tree.facts, settings.runCount) }];
  fs.mkdirSync(work.usedTargets);
  try {
    measured.push({ step: imported, results: measureStep(work, imported, tree.facts, settings.runCount) });
  } finally {
    removeTargets(work);
  }
  console.log('');
  printTable(measured);
}

try {
  main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
