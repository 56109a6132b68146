/**
 * Repository benchmark (not a test): holdfast against restic and borg on one generated data set,
 * for first backup, no-change backup, 1%-change backup, full restore and check --read-data, with
 * wall time, CPU time, peak RSS and repository size. Goal: holdfast at least as fast (wall) as the
 * faster peer on every step, and its repository within 5% of restic's after every backup.
 *
 * How it measures:
 * - The data set comes from bench/make-dataset.py and a fixed seed, in one of two layouts
 *   (--dataset): "standard" (about 1 GiB at scale 1: 8 random files of 100 MiB, 5,000 text files
 *   of 1-30 KiB in 50 directories, a copy of one large file, 300 copied text files, a sparse file
 *   of 1 GiB apparent size with three 8 MiB extents) or "small-files" (100,000 files of 100-3,000
 *   bytes, half text and half random bytes, in 2,800 directories: per-file costs, not bytes).
 * - Tool by tool: the data set is made again from the seed, then init (not timed), first backup,
 *   no-change backup, the "1% change" (1% of the files by count, also from the seed), 1%-change
 *   backup, restore of the latest snapshot into an empty directory, check --read-data. So every
 *   tool sees the same bytes and metadata at each step: a digest over every path, type, mode,
 *   size, mtime and content sha256 is taken before the first and the third backup of each tool,
 *   and must be the same for every tool.
 * - Every timed command runs under `/usr/bin/time -v` without a shell: wall time is taken around
 *   the child, CPU (user + sys) and peak RSS come from time(1). The repository size is `du -sb`
 *   after each backup. `sync` runs before each step, outside the timed region.
 * - Page caches are not dropped by default (shared machine): every step is warm-cache, as the
 *   data was just written and the repository just read or written. HOLDFAST_BENCH_DROP_CACHES=1
 *   drops them (`sync; echo 3 > /proc/sys/vm/drop_caches`) before every step instead.
 * - Honesty: every exit status is checked (restic's 3, "some files unreadable", is a failure
 *   here); each restored tree must have the data set's paths, types, modes, sizes and contents.
 *   Nothing is deleted while tools run (deletes make later file creation slow on ext4: see
 *   bench/README.md, tar-throughput.ts); old trees are moved into trash/ and deleted at the end.
 * - A tool that fails (holdfast, while its repository verbs are being written) gets its exit
 *   status and the tail of its stderr printed; the other tools still run.
 *
 * Run:  npm run build && node --import tsx bench/repo-backup.ts [--dataset standard] [--scale 1] [--runs 1] [--tools holdfast,restic,borg]
 * or the same through HOLDFAST_BENCH_DATASET, HOLDFAST_BENCH_SCALE, HOLDFAST_BENCH_RUNS,
 * HOLDFAST_BENCH_TOOLS (argv wins);
 * the directory is HOLDFAST_BENCH_DIR (default /tmp/holdfast-repo-bench). Results are printed as
 * markdown tables and written to <directory>/results.json. Exits 1 when a command or a check
 * fails, never on the numbers.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { builtCliWarning, commandOutput, directoryBytes, machineFacts, median, ratio, row, runTimed, type CommandResult, type Measurement } from './measure.js';
import { datasetShapes, describeChange, describeGenerated, parseDatasetName, type DatasetName, type DatasetShape } from './repo-dataset.js';

const kibibyte = 1024;
const mebibyte = 1024 * kibibyte;
const gibibyte = 1024 * mebibyte;
const goalWallRatioMax = 1;
const goalSizeRatioMax = 1.05;
const datasetSeed = 0x5eed0b4c;
const spareBytes = 2 * gibibyte;
/** Inodes left free beside the trees': repositories, caches, logs. */
const spareInodeCount = 100_000;
const scaleMax = 16;
const runsMax = 25;
const hashChunkBytes = 1 * mebibyte;
const mismatchesShownMax = 5;
/** A command running longer than this at scale 1 (proportionally longer above) is killed. */
const commandSecondsMaxPerScale = 3600;
const toolNames = ['holdfast', 'restic', 'borg'] as const;
type ToolName = (typeof toolNames)[number];
const peerNames: readonly ToolName[] = ['restic', 'borg'];
const stepNames = ['first backup', 'no-change backup', '1%-change backup', 'restore', 'check --read-data'] as const;
type StepName = (typeof stepNames)[number];

const holdfastBin = fileURLToPath(new URL('../bin/holdfast', import.meta.url));
const datasetScript = fileURLToPath(new URL('./make-dataset.py', import.meta.url));

interface Settings {
  directory: string;
  dataset: DatasetName;
  scale: number;
  runCount: number;
  tools: ToolName[];
  dropCaches: boolean;
}

interface Work {
  directory: string;
  data: string;
  runs: string;
  logs: string;
  trash: string;
  timeReport: string;
  results: string;
}

interface ToolPaths {
  repository: string;
  restore: string;
  cache: string;
  config: string;
  logs: string;
}

interface Invocation {
  argv: string[];
  cwd?: string;
}

interface Tool {
  name: ToolName;
  env: NodeJS.ProcessEnv;
  init: Invocation;
  /** Untimed, after init: what the repository was made with. */
  describe?: Invocation;
  backup(snapshotNumber: number): Invocation;
  restore(snapshotNumber: number, target: string): Invocation;
  check: Invocation;
}

interface StepResult {
  step: StepName;
  status: 'ok' | 'failed' | 'skipped';
  exit?: string;
  measurement?: Measurement;
  repositoryBytes?: number;
  note?: string;
}

interface ToolRun {
  tool: ToolName;
  run: number;
  initExit: string;
  steps: StepResult[];
  cacheBytes: number;
  restoredSparseAllocatedBytes?: number | undefined;
}

interface ManifestEntry {
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  sizeBytes: number;
  mtimeNs: bigint;
  allocatedBytes: number;
  sha256: string;
}

/** Path relative to the tree's root ('.' is the root) -> entry, in walk (name) order. */
type Manifest = Map<string, ManifestEntry>;

interface Reference {
  generatedDigest?: string;
  changedDigest?: string;
  generated?: Record<string, unknown>;
  change?: Record<string, unknown>;
  sourceSparseAllocatedBytes?: number | undefined;
}

/** Failures of checks of our own (not of a tool): they make the exit status 1. */
const failures: string[] = [];

// ---------------------------------------------------------------- settings

function readSettings(): Settings {
  const { values } = parseArgs({ options: { dataset: { type: 'string' }, scale: { type: 'string' }, runs: { type: 'string' }, tools: { type: 'string' } } });
  const env = process.env;
  const dataset = parseDatasetName(values.dataset ?? env['HOLDFAST_BENCH_DATASET'] ?? 'standard');
  const scale = Number(values.scale ?? env['HOLDFAST_BENCH_SCALE'] ?? '1');
  if (!Number.isFinite(scale) || scale <= 0 || scale > scaleMax) throw new Error(`Cannot use scale ${scale}: expected a number above 0, up to ${scaleMax}`);
  const runCount = Number(values.runs ?? env['HOLDFAST_BENCH_RUNS'] ?? '1');
  if (!Number.isSafeInteger(runCount) || runCount < 1 || runCount > runsMax) throw new Error(`Cannot use runs ${runCount}: expected an integer from 1 to ${runsMax}`);
  const tools = (values.tools ?? env['HOLDFAST_BENCH_TOOLS'] ?? toolNames.join(',')).split(',').map((name) => name.trim());
  for (const name of tools) {
    if (!toolNames.includes(name as ToolName)) throw new Error(`Cannot use tool "${name}": expected some of ${toolNames.join(', ')}`);
  }
  const dropCaches = env['HOLDFAST_BENCH_DROP_CACHES'] === '1';
  return { directory: resolve(env['HOLDFAST_BENCH_DIR'] ?? '/tmp/holdfast-repo-bench'), dataset, scale, runCount, tools: tools as ToolName[], dropCaches };
}

function workPaths(settings: Settings): Work {
  const at = (name: string): string => join(settings.directory, name);
  return { directory: settings.directory, data: at('data'), runs: at('runs'), logs: at('logs'), trash: at('trash'), timeReport: at('time-report.txt'), results: at('results.json') };
}

/** Moves a path into trash/ (deleted at the end), so that nothing is deleted while tools run. */
function moveToTrash(work: Work, path: string): void {
  if (!fs.existsSync(path)) return;
  fs.mkdirSync(work.trash, { recursive: true });
  fs.renameSync(path, join(work.trash, `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`));
}

/** Nothing is deleted before the end, so every tool and run needs room of its own, in bytes and inodes. */
function checkSpace(work: Work, settings: Settings): void {
  const space = fs.statfsSync(work.directory);
  const shape = datasetShapes[settings.dataset];
  const toolRunCount = settings.tools.length * settings.runCount;
  // Per tool and run: the data set, the repository, the restored tree (the sparse file maybe filled).
  const neededBytes = toolRunCount * settings.scale * (2 * shape.treeBytesPerScale + shape.repositoryBytesPerScale + shape.sparseApparentBytesPerScale) + spareBytes;
  const freeBytes = space.bavail * space.bsize;
  if (freeBytes < neededBytes) {
    throw new Error(`Cannot run in ${work.directory}: it needs about ${(neededBytes / gibibyte).toFixed(1)} GiB and ${(freeBytes / gibibyte).toFixed(1)} GiB are free; lower HOLDFAST_BENCH_RUNS or HOLDFAST_BENCH_SCALE`);
  }
  // Per tool and run: an inode for every entry of the data set and of the restored tree. Some file
  // systems (btrfs) have no fixed inode count and report 0.
  const neededInodeCount = Math.ceil(toolRunCount * settings.scale * 2 * shape.entriesPerScale) + spareInodeCount;
  if (space.files > 0 && space.ffree < neededInodeCount) {
    throw new Error(`Cannot run in ${work.directory}: it needs about ${neededInodeCount} inodes and ${space.ffree} are free; lower HOLDFAST_BENCH_RUNS or HOLDFAST_BENCH_SCALE`);
  }
}

// ---------------------------------------------------------------- tools

function makeTool(name: ToolName, paths: ToolPaths, data: string): Tool {
  const repository = paths.repository;
  switch (name) {
    case 'holdfast':
      return {
        name,
        env: { ...process.env, HOLDFAST_PASSWORD: 'bench', XDG_CACHE_HOME: paths.cache },
        init: { argv: [holdfastBin, 'init', '--repo', repository] },
        backup: () => ({ argv: [holdfastBin, 'backup', '--repo', repository, data] }),
        restore: (_, target) => ({ argv: [holdfastBin, 'restore', 'latest', '--repo', repository, '--target', target] }),
        check: { argv: [holdfastBin, 'check', '--repo', repository, '--read-data'] },
      };
    case 'restic':
      return {
        name,
        env: { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: paths.cache },
        init: { argv: ['restic', '-r', repository, 'init'] },
        describe: { argv: ['restic', '-r', repository, 'cat', 'config'] },
        backup: () => ({ argv: ['restic', '-r', repository, 'backup', data] }),
        restore: (_, target) => ({ argv: ['restic', '-r', repository, 'restore', 'latest', '--target', target] }),
        check: { argv: ['restic', '-r', repository, 'check', '--read-data'] },
      };
    case 'borg':
      return {
        name,
        env: {
          ...process.env,
          BORG_PASSPHRASE: 'bench',
          BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
          BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
          BORG_CACHE_DIR: paths.cache,
          BORG_CONFIG_DIR: paths.config,
        },
        init: { argv: ['borg', 'init', '-e', 'repokey-blake2', repository] },
        backup: (snapshotNumber) => ({ argv: ['borg', 'create', '--compression', 'zstd,3', `${repository}::snap${snapshotNumber}`, data] }),
        restore: (snapshotNumber, target) => ({ argv: ['borg', 'extract', `${repository}::snap${snapshotNumber}`], cwd: target }),
        check: { argv: ['borg', 'check', '--verify-data', repository] },
      };
  }
}

/** Runs one command under /usr/bin/time -v, its output into logs/<logName>.stdout/.stderr. */
function runCommand(work: Work, tool: Tool, paths: ToolPaths, invocation: Invocation, logName: string, scale: number): CommandResult {
  return runTimed({
    argv: invocation.argv,
    cwd: invocation.cwd ?? work.directory,
    env: tool.env,
    stdoutPath: join(paths.logs, `${logName}.stdout`),
    stderrPath: join(paths.logs, `${logName}.stderr`),
    timeReportPath: work.timeReport,
    timeoutMs: commandSecondsMaxPerScale * Math.max(1, scale) * 1000,
  });
}

function prepareStep(work: Work, settings: Settings): void {
  const child = spawnSync('sync', { stdio: 'ignore' });
  if (child.status !== 0) throw new Error('Cannot run sync');
  if (settings.dropCaches) fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  fs.rmSync(work.timeReport, { force: true });
}

function reportFailure(tool: ToolName, what: string, result: CommandResult): void {
  console.log(`${tool}: ${what} FAILED (exit ${result.exit}); stderr tail:`);
  console.log(result.stderrTail === '' ? '  (empty)' : result.stderrTail.replace(/^/gm, '  '));
}

// ---------------------------------------------------------------- data set and manifests

function runDatasetScript(work: Work, settings: Settings, action: 'generate' | 'change'): Record<string, unknown> {
  const argv = [datasetScript, action, '--dir', work.data, '--seed', String(datasetSeed), '--scale', String(settings.scale), '--layout', settings.dataset];
  const child = spawnSync('python3', argv, { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`Cannot ${action} the data set (exit ${child.status ?? child.signal}): ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

/** Walks a tree in name order: type, mode, size, mtime and content sha256 of every entry. */
function readManifest(root: string): Manifest {
  const manifest: Manifest = new Map();
  const buffer = Buffer.allocUnsafe(hashChunkBytes);
  const visit = (path: string, name: string): void => {
    const stat = fs.lstatSync(path, { bigint: true });
    const base = { mode: Number(stat.mode & 0o7777n), mtimeNs: stat.mtimeNs, allocatedBytes: Number(stat.blocks) * 512 };
    if (stat.isDirectory()) {
      manifest.set(name, { ...base, type: 'directory', sizeBytes: 0, sha256: '' });
      for (const child of fs.readdirSync(path).sort()) visit(join(path, child), name === '.' ? child : `${name}/${child}`);
    } else if (stat.isFile()) {
      manifest.set(name, { ...base, type: 'file', sizeBytes: Number(stat.size), sha256: hashFile(path, buffer) });
    } else if (stat.isSymbolicLink()) {
      manifest.set(name, { ...base, type: 'symlink', sizeBytes: Number(stat.size), sha256: createHash('sha256').update(fs.readlinkSync(path)).digest('hex') });
    } else {
      manifest.set(name, { ...base, type: 'other', sizeBytes: 0, sha256: '' });
    }
  };
  visit(root, '.');
  return manifest;
}

function hashFile(path: string, buffer: Buffer): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  try {
    for (let count = fs.readSync(fd, buffer, 0, buffer.length, null); count > 0; count = fs.readSync(fd, buffer, 0, buffer.length, null)) hash.update(buffer.subarray(0, count));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** One sha256 over every path, type, mode, size, mtime and content: equal trees, equal digests. */
function manifestDigest(manifest: Manifest): string {
  const hash = createHash('sha256');
  for (const [name, entry] of manifest) hash.update(`${name}\0${entry.type}\0${entry.mode.toString(8)}\0${entry.sizeBytes}\0${entry.mtimeNs}\0${entry.sha256}\n`);
  return hash.digest('hex');
}

/** Checks that every tool saw the same tree at this point; the first tool's digest is the reference. */
function checkSameData(reference: Reference, key: 'generatedDigest' | 'changedDigest', manifest: Manifest, tool: ToolName): void {
  const digest = manifestDigest(manifest);
  const known = reference[key];
  if (known === undefined) reference[key] = digest;
  else if (known !== digest) failures.push(`${tool} saw a different data set (${key} ${digest.slice(0, 16)}, expected ${known.slice(0, 16)})`);
}

/** Where the data set's root landed under the restore target (tools keep all or part of its path): the first candidate with every marker of the layout. */
function locateRestoredRoot(target: string, data: string, shape: DatasetShape): string | null {
  const candidates = [join(target, data.replace(/^\/+/, '')), join(target, 'data'), target];
  return candidates.find((path) => shape.rootMarkers.every((marker) => fs.existsSync(join(path, marker)))) ?? null;
}

/** Compares type, mode, size and content (not mtime, only counted) of every entry. */
function compareTrees(expected: Manifest, restored: Manifest): { mismatches: string[]; mtimeDifferenceCount: number } {
  const mismatches: string[] = [];
  let mtimeDifferenceCount = 0;
  for (const [name, entry] of expected) {
    const found = restored.get(name);
    if (found === undefined) {
      mismatches.push(`${name}: missing`);
      continue;
    }
    for (const key of ['type', 'mode', 'sizeBytes', 'sha256'] as const) {
      if (found[key] !== entry[key]) mismatches.push(`${name}: ${key} is ${String(found[key])}, expected ${String(entry[key])}`);
    }
    if (found.mtimeNs !== entry.mtimeNs) mtimeDifferenceCount++;
  }
  for (const name of restored.keys()) if (!expected.has(name)) mismatches.push(`${name}: not in the data set`);
  return { mismatches, mtimeDifferenceCount };
}

// ---------------------------------------------------------------- one tool, one run

function toolPaths(work: Work, run: number, tool: ToolName): ToolPaths {
  const root = join(work.runs, `run-${run}`, tool);
  const paths = { repository: join(root, 'repository'), restore: join(root, 'restore'), cache: join(root, 'cache'), config: join(root, 'config'), logs: join(work.logs, `run-${run}`, tool) };
  for (const path of [root, paths.cache, paths.config, paths.restore]) fs.mkdirSync(path, { recursive: true });
  fs.rmSync(paths.logs, { recursive: true, force: true });
  fs.mkdirSync(paths.logs, { recursive: true });
  return paths;
}

function runTool(work: Work, settings: Settings, name: ToolName, run: number, reference: Reference): ToolRun {
  const paths = toolPaths(work, run, name);
  const tool = makeTool(name, paths, work.data);
  moveToTrash(work, work.data);
  const generated = runDatasetScript(work, settings, 'generate');
  reference.generated ??= generated;
  checkSameData(reference, 'generatedDigest', readManifest(work.data), name);
  const result: ToolRun = { tool: name, run, initExit: '', steps: [], cacheBytes: 0 };
  const init = runCommand(work, tool, paths, tool.init, 'init', settings.scale);
  result.initExit = init.exit;
  if (init.exit !== '0') {
    reportFailure(name, 'init', init);
    result.steps = stepNames.map((step) => ({ step, status: 'skipped', note: `init exited ${init.exit}` }));
    return result;
  }
  if (tool.describe !== undefined) {
    const described = runCommand(work, tool, paths, tool.describe, 'describe', settings.scale);
    console.log(`${name}: repository config: ${fs.readFileSync(join(paths.logs, 'describe.stdout'), 'utf8').replace(/\s+/g, ' ').trim()} (exit ${described.exit})`);
  }
  const timed = (step: StepName, invocation: Invocation, logName: string): StepResult => {
    prepareStep(work, settings);
    const command = runCommand(work, tool, paths, invocation, logName, settings.scale);
    if (command.exit !== '0') {
      reportFailure(name, step, command);
      return { step, status: 'failed', exit: command.exit };
    }
    const { wallSeconds, cpuSeconds, peakRssKibibytes } = command;
    console.log(`${name} run ${run}: ${step} ${wallSeconds.toFixed(2)} s wall, ${cpuSeconds.toFixed(2)} s CPU, ${(peakRssKibibytes / kibibyte).toFixed(0)} MiB peak RSS`);
    return { step, status: 'ok', exit: command.exit, measurement: { wallSeconds, cpuSeconds, peakRssKibibytes } };
  };
  const backup = (step: StepName, snapshotNumber: number): boolean => {
    const stepResult = timed(step, tool.backup(snapshotNumber), `backup-${snapshotNumber}`);
    if (stepResult.status === 'ok') stepResult.repositoryBytes = directoryBytes(paths.repository);
    result.steps.push(stepResult);
    return stepResult.status === 'ok';
  };
  const skipRest = (note: string): ToolRun => {
    for (const step of stepNames.slice(result.steps.length)) result.steps.push({ step, status: 'skipped', note });
    return result;
  };
  if (!backup('first backup', 1) || !backup('no-change backup', 2)) return skipRest('an earlier backup failed');
  // Applied to this tool's own fresh copy of the data set: the same change every time.
  const change = runDatasetScript(work, settings, 'change');
  reference.change ??= change;
  const changed = readManifest(work.data);
  checkSameData(reference, 'changedDigest', changed, name);
  const sparsePath = datasetShapes[settings.dataset].sparsePath;
  if (sparsePath !== undefined) reference.sourceSparseAllocatedBytes ??= changed.get(sparsePath)?.allocatedBytes;
  if (!backup('1%-change backup', 3)) return skipRest('an earlier backup failed');
  const restored = timed('restore', tool.restore(3, paths.restore), 'restore');
  if (restored.status === 'ok') verifyRestore(work, datasetShapes[settings.dataset], name, paths, changed, restored, result);
  result.steps.push(restored);
  result.steps.push(timed('check --read-data', tool.check, 'check'));
  result.cacheBytes = directoryBytes(paths.cache);
  return result;
}

/** The restored tree must have the data set's entries, types, modes, sizes and contents. */
function verifyRestore(work: Work, shape: DatasetShape, name: ToolName, paths: ToolPaths, expected: Manifest, step: StepResult, run: ToolRun): void {
  const root = locateRestoredRoot(paths.restore, work.data, shape);
  if (root === null) {
    step.status = 'failed';
    step.note = `restored tree not found; the target holds: ${fs.readdirSync(paths.restore).slice(0, 10).join(', ')}`;
    console.log(`${name}: restore check FAILED: ${step.note}`);
    return;
  }
  const restored = readManifest(root);
  const { mismatches, mtimeDifferenceCount } = compareTrees(expected, restored);
  if (shape.sparsePath !== undefined) run.restoredSparseAllocatedBytes = restored.get(shape.sparsePath)?.allocatedBytes;
  if (mismatches.length > 0) {
    step.status = 'failed';
    step.note = `restored tree differs in ${mismatches.length} entries: ${mismatches.slice(0, mismatchesShownMax).join('; ')}`;
    console.log(`${name}: restore check FAILED: ${step.note}`);
    return;
  }
  step.note = `same ${expected.size} entries (type, mode, size, content) at <target>${root.slice(paths.restore.length)}; ${mtimeDifferenceCount} mtimes differ`;
  console.log(`${name}: restore checked: ${step.note}`);
}

// ---------------------------------------------------------------- reporting

interface Summary {
  status: 'ok' | 'failed' | 'skipped';
  /** For a step that did not succeed in every run: why, for the table. */
  reason: string;
  wallSeconds: number;
  wallSecondsMin: number;
  wallSecondsMax: number;
  cpuSeconds: number;
  peakRssMebibytes: number;
  repositoryBytes: number;
}

/** Medians over the runs; a step that failed or was skipped in any run is reported as such. */
function summarize(toolRuns: ToolRun[], tool: ToolName, step: StepName): Summary {
  const results = toolRuns.filter((run) => run.tool === tool).map((run) => ({ run, step: run.steps.find((candidate) => candidate.step === step) }));
  const notOk = results.find(({ step: result }) => result?.status !== 'ok');
  const measured = results.flatMap(({ step: result }) => (result?.measurement === undefined ? [] : [{ ...result.measurement, repositoryBytes: result.repositoryBytes ?? NaN }]));
  const walls = measured.map((measurement) => measurement.wallSeconds);
  let reason = '';
  if (notOk !== undefined) {
    const result = notOk.step;
    if (notOk.run.initExit !== '0') reason = `not available (init exit ${notOk.run.initExit})`;
    else if (result?.status === 'skipped') reason = 'skipped';
    else reason = result?.exit === '0' ? 'restore differs' : `failed (exit ${result?.exit ?? '?'})`;
  }
  return {
    status: notOk === undefined ? 'ok' : (notOk.step?.status ?? 'skipped'),
    reason,
    wallSeconds: median(walls),
    wallSecondsMin: Math.min(...walls),
    wallSecondsMax: Math.max(...walls),
    cpuSeconds: median(measured.map((measurement) => measurement.cpuSeconds)),
    peakRssMebibytes: median(measured.map((measurement) => measurement.peakRssKibibytes)) / kibibyte,
    repositoryBytes: median(measured.map((measurement) => measurement.repositoryBytes)),
  };
}

/** The step table; returns the goal verdicts of holdfast's rows. */
function printStepTable(settings: Settings, toolRuns: ToolRun[]): string[] {
  console.log('| step | tool | wall s | wall min-max s | CPU s | peak RSS MiB | wall / faster peer | CPU / lower peer | holdfast goal |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |');
  const verdicts: string[] = [];
  for (const step of stepNames) {
    const summaries = settings.tools.map((tool) => ({ tool, summary: summarize(toolRuns, tool, step) }));
    const peers = summaries.filter(({ tool, summary }) => peerNames.includes(tool) && summary.status === 'ok');
    const peerWall = Math.min(...peers.map(({ summary }) => summary.wallSeconds));
    const peerCpu = Math.min(...peers.map(({ summary }) => summary.cpuSeconds));
    for (const { tool, summary } of summaries) {
      let verdict = '';
      if (tool === 'holdfast') verdict = summary.status !== 'ok' ? 'n/a' : !Number.isFinite(peerWall) ? 'no peer' : summary.wallSeconds <= peerWall * goalWallRatioMax ? 'yes' : 'NO';
      if (verdict !== '') verdicts.push(verdict);
      if (summary.status !== 'ok') {
        console.log(row([step, tool, summary.reason, '-', '-', '-', '-', '-', verdict]));
        continue;
      }
      console.log(
        row([
          step,
          tool,
          summary.wallSeconds.toFixed(2),
          `${summary.wallSecondsMin.toFixed(2)}-${summary.wallSecondsMax.toFixed(2)}`,
          summary.cpuSeconds.toFixed(2),
          summary.peakRssMebibytes.toFixed(0),
          ratio(summary.wallSeconds, peerWall),
          ratio(summary.cpuSeconds, peerCpu),
          verdict,
        ]),
      );
    }
  }
  return verdicts;
}

/** The repository size table; returns the goal verdicts (holdfast within 5% of restic). */
function printSizeTable(settings: Settings, toolRuns: ToolRun[]): string[] {
  const backups = stepNames.slice(0, 3);
  console.log(`| repository size after | ${settings.tools.map((tool) => `${tool} MiB`).join(' | ')} | holdfast / restic | holdfast goal |`);
  console.log(`| --- | ${settings.tools.map(() => '---:').join(' | ')} | ---: | :---: |`);
  const verdicts: string[] = [];
  for (const step of backups) {
    const sizes = new Map(settings.tools.map((tool) => [tool, summarize(toolRuns, tool, step)]));
    const cells = settings.tools.map((tool) => {
      const summary = sizes.get(tool);
      return summary?.status === 'ok' ? (summary.repositoryBytes / mebibyte).toFixed(1) : (summary?.reason ?? '-');
    });
    const holdfast = sizes.get('holdfast');
    const restic = sizes.get('restic');
    const comparable = holdfast?.status === 'ok' && restic?.status === 'ok';
    const sizeRatio = comparable ? holdfast.repositoryBytes / restic.repositoryBytes : NaN;
    const verdict = !comparable ? 'n/a' : sizeRatio <= goalSizeRatioMax ? 'yes' : 'NO';
    verdicts.push(verdict);
    console.log(row([step, ...cells, comparable ? `${sizeRatio.toFixed(3)}x` : '-', verdict]));
  }
  return verdicts;
}

function printRestoreFacts(settings: Settings, toolRuns: ToolRun[], reference: Reference): void {
  const sparsePath = datasetShapes[settings.dataset].sparsePath;
  const mib = (bytes: number | undefined): string => (bytes === undefined ? '?' : (bytes / mebibyte).toFixed(1));
  if (sparsePath === undefined) console.log('per tool (median over runs):');
  else console.log(`sparse file ${sparsePath}: ${mib(reference.sourceSparseAllocatedBytes)} MiB allocated in the data set; allocated after restore (median over runs):`);
  for (const tool of settings.tools) {
    const runs = toolRuns.filter((run) => run.tool === tool);
    const allocated = runs.flatMap((run) => (run.restoredSparseAllocatedBytes === undefined ? [] : [run.restoredSparseAllocatedBytes]));
    const sparse = sparsePath === undefined ? '' : `sparse file ${allocated.length === 0 ? 'not restored' : `${mib(median(allocated))} MiB allocated`}; `;
    const cache = median(runs.map((run) => run.cacheBytes));
    const notes = runs.map((run) => run.steps.find((step) => step.step === 'restore')?.note).filter((note) => note !== undefined);
    console.log(`- ${tool}: ${sparse}local cache after the run ${mib(cache)} MiB; restore check: ${notes[0] ?? 'none'}`);
  }
}

// ---------------------------------------------------------------- main

function printFacts(settings: Settings, work: Work): void {
  console.log(
    `holdfast vs restic and borg on the ${settings.dataset} data set (scale ${settings.scale}): backup, no-change backup, 1%-change backup, restore, check --read-data; goal: holdfast at least as fast as the faster peer on every step, repository within 5% of restic's`,
  );
  console.log(`machine: ${machineFacts()}`);
  console.log(`versions: ${commandOutput(holdfastBin, ['--version'])}; ${commandOutput('restic', ['version'])}; ${commandOutput('borg', ['--version'])}; ${commandOutput('python3', ['--version'])}; node ${process.version}`);
  if (settings.tools.includes('holdfast')) console.log(`holdfast build: ${builtCliWarning() ?? 'dist/ is newer than src/'}`);
  console.log(`work directory ${work.directory} (${commandOutput('findmnt', ['-n', '-o', 'FSTYPE', '-T', work.directory])}); tools: ${settings.tools.join(', ')}; runs: ${settings.runCount} (tool by tool, in that order, each run; the table shows medians)`);
  console.log('settings: holdfast defaults; restic init defaults (repository version 2, checked with `restic cat config`; compression auto, the 0.14 default: zstd through klauspost/compress, documented as "compress very fast"); borg repokey-blake2, `--compression zstd,3` (zstd level 3, to match holdfast and restic)');
  console.log(
    settings.dropCaches
      ? 'page cache: DROPPED before every step (`sync; echo 3 > /proc/sys/vm/drop_caches`): cold-cache runs'
      : 'page cache: NOT dropped (shared machine; HOLDFAST_BENCH_DROP_CACHES=1 drops it): warm-cache runs, the data set and repository are in the page cache',
  );
  console.log('wall: around the child; CPU (user+sys) and peak RSS: /usr/bin/time -v; `sync` before every step, outside the timed region; repository: `du -sb` after each backup');
  console.log('');
}

function printDataset(settings: Settings, reference: Reference): void {
  const generated = reference.generated ?? {};
  console.log(
    `data set ${settings.dataset}: seed 0x${datasetSeed.toString(16)}, scale ${String(generated['scale'])}: ${describeGenerated(settings.dataset, generated)}; digest ${reference.generatedDigest?.slice(0, 16) ?? '?'} for every tool`,
  );
  console.log(`1% change, 1% of the files by count: ${describeChange(settings.dataset, reference.change ?? {})}; digest ${reference.changedDigest?.slice(0, 16) ?? '?'} for every tool`);
  console.log('');
}

function main(): void {
  const settings = readSettings();
  const work = workPaths(settings);
  fs.mkdirSync(work.directory, { recursive: true });
  if (settings.dropCaches) fs.accessSync('/proc/sys/vm/drop_caches', fs.constants.W_OK);
  // Left by an earlier run: moved aside now, deleted at the end (never between tools).
  moveToTrash(work, work.runs);
  moveToTrash(work, work.data);
  checkSpace(work, settings);
  printFacts(settings, work);
  const reference: Reference = {};
  const toolRuns: ToolRun[] = [];
  try {
    for (let run = 1; run <= settings.runCount; run++) {
      for (const tool of settings.tools) toolRuns.push(runTool(work, settings, tool, run, reference));
    }
  } finally {
    moveToTrash(work, work.runs);
    moveToTrash(work, work.data);
    fs.rmSync(work.trash, { recursive: true, force: true });
  }
  for (const run of toolRuns) {
    for (const step of run.steps) if (step.status === 'failed') failures.push(`${run.tool} run ${run.run}: ${step.step} failed (exit ${step.exit ?? '?'}${step.note === undefined ? '' : `; ${step.note}`})`);
    if (run.initExit !== '0') failures.push(`${run.tool} run ${run.run}: init failed (exit ${run.initExit}); logs in ${join(work.logs, `run-${run.run}`, run.tool)}`);
  }
  console.log('');
  printDataset(settings, reference);
  const stepVerdicts = printStepTable(settings, toolRuns);
  console.log('');
  const sizeVerdicts = printSizeTable(settings, toolRuns);
  console.log('');
  printRestoreFacts(settings, toolRuns, reference);
  console.log('');
  if (settings.tools.includes('holdfast')) {
    const count = (verdicts: string[], wanted: string): number => verdicts.filter((verdict) => verdict === wanted).length;
    console.log(`goal, holdfast at least as fast as the faster peer (median wall): met on ${count(stepVerdicts, 'yes')} of ${stepVerdicts.length} steps (${count(stepVerdicts, 'n/a')} not measured)`);
    console.log(`goal, holdfast's repository within 5% of restic's: met after ${count(sizeVerdicts, 'yes')} of ${sizeVerdicts.length} backups (${count(sizeVerdicts, 'n/a')} not measured)`);
  }
  fs.writeFileSync(work.results, `${JSON.stringify({ settings, reference: { ...reference }, toolRuns, failures }, null, 2)}\n`);
  console.log(`results: ${work.results}; command logs: ${work.logs}`);
  if (failures.length > 0) {
    console.log(`\n${failures.length} failures:\n${failures.map((failure) => `- ${failure}`).join('\n')}`);
    process.exitCode = 1;
  }
}

try {
  main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
