/**
 * Memory at scale (issue 5; not a test): peak RSS and time of
 *   (a) a first backup of 1,000,000 generated small files (0-4 KiB, 1,000 directories of 1,000),
 *       holdfast beside restic, and each tool's `check` of the repository it made;
 *   (b) `holdfast check` and `holdfast check --read-data-subset 1%` on a synthetic repository of
 *       10,000,000 index entries (bench/make-big-repo.ts; restic has no such repository to run on);
 *   (c) `holdfast forget` of one of its two snapshots, then `holdfast prune` (every pack is then
 *       60% used), then `holdfast check` of the result, when the CLI has a prune verb.
 * Goal: under 500 MB (500,000,000 bytes) peak RSS for each holdfast step.
 *
 * How it measures: every step runs under `/usr/bin/time -v` (bench/measure.ts, shared with
 * repo-backup.ts), wall time around the child; medians over HOLDFAST_BENCH_RUNS runs (default 1:
 * the steps are heavy). `sync` before each step, outside the timed region; caches are not dropped
 * (shared machine): the files were just written and are in the page cache, as for every tool.
 * Every exit status is checked; a failing step prints the tail of its stderr and the run goes on.
 * The file tree is made once (from a seed, byte for byte the same each time) and kept for the next
 * run of the bench when its description matches; the synthetic repository is made again for each
 * run of prune, since prune changes it.
 *
 * Run:  npm run bench:scale
 * or:   npm run build && HOLDFAST_BENCH_SCALE=0.01 node --import tsx bench/scale.ts
 * Environment: HOLDFAST_BENCH_DIR (default /tmp/holdfast-scale-bench), HOLDFAST_BENCH_SCALE
 * (default 1: 1,000,000 files and 10,000,000 entries; counts scale linearly), HOLDFAST_BENCH_RUNS,
 * HOLDFAST_BENCH_TOOLS (holdfast,restic), HOLDFAST_BENCH_PARTS (backup,entries: (a), and (b) with (c)),
 * HOLDFAST_BENCH_CLI (a holdfast main.js to run with node
 * instead of bin/holdfast, e.g. a private build). Exits 1 when a command fails, never on the numbers.
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Prng } from '../src/base/prng.js';
import { builtCliWarning, commandOutput, directoryBytes, machineFacts, median, row, runTimed, type CommandResult } from './measure.js';

const kibibyte = 1024;
const mebibyte = 1024 * kibibyte;
const rssGoalBytes = 500_000_000;
const filesAtScale1 = 1_000_000;
const entriesAtScale1 = 10_000_000;
const filesPerDirectory = 1000;
const fileBytesMax = 4 * kibibyte;
const fileSeed = 0x5ca1e;
const scaleMax = 4;
const runsMax = 9;
const commandSecondsMax = 4 * 3600;
const toolNames = ['holdfast', 'restic'] as const;
type ToolName = (typeof toolNames)[number];
/** backup: (a), the file tree; entries: (b) and (c), the synthetic repository. */
const partNames = ['backup', 'entries'] as const;
type PartName = (typeof partNames)[number];

const holdfastBin = fileURLToPath(new URL('../bin/holdfast', import.meta.url));
const makeBigRepoScript = fileURLToPath(new URL('./make-big-repo.ts', import.meta.url));
/** tsx resolved from here, so that make-big-repo.ts runs with the work directory as its cwd. */
const tsxLoader = import.meta.resolve('tsx');

interface Settings {
  directory: string;
  scale: number;
  runCount: number;
  tools: ToolName[];
  /** argv that starts holdfast. */
  holdfast: string[];
  parts: PartName[];
}

interface StepResult {
  step: string;
  tool: ToolName;
  run: number;
  result: CommandResult;
  note?: string;
}

const results: StepResult[] = [];
const failures: string[] = [];

function readSettings(): Settings {
  const env = process.env;
  const scale = Number(env['HOLDFAST_BENCH_SCALE'] ?? '1');
  if (!Number.isFinite(scale) || scale <= 0 || scale > scaleMax) throw new Error(`Cannot use scale ${scale}: expected a number above 0, up to ${scaleMax}`);
  const runCount = Number(env['HOLDFAST_BENCH_RUNS'] ?? '1');
  if (!Number.isSafeInteger(runCount) || runCount < 1 || runCount > runsMax) throw new Error(`Cannot use runs ${runCount}: expected an integer from 1 to ${runsMax}`);
  const tools = (env['HOLDFAST_BENCH_TOOLS'] ?? toolNames.join(',')).split(',').map((name) => name.trim());
  for (const name of tools) if (!toolNames.includes(name as ToolName)) throw new Error(`Cannot use tool "${name}": expected some of ${toolNames.join(', ')}`);
  const cli = env['HOLDFAST_BENCH_CLI'];
  const parts = (env['HOLDFAST_BENCH_PARTS'] ?? partNames.join(',')).split(',').map((name) => name.trim());
  for (const name of parts) if (!partNames.includes(name as PartName)) throw new Error(`Cannot run part "${name}": expected some of ${partNames.join(', ')}`);
  return {
    directory: resolve(env['HOLDFAST_BENCH_DIR'] ?? '/tmp/holdfast-scale-bench'),
    scale,
    runCount,
    tools: tools as ToolName[],
    holdfast: cli === undefined ? [holdfastBin] : [process.execPath, resolve(cli)],
    parts: parts as PartName[],
  };
}

// ---------------------------------------------------------------- the file tree

/**
 * `fileCount` files of 0-4 KiB in directories of 1,000 (d0000/f000000), from a seed: each file
 * begins with its number (so no two are equal) and goes on with bytes of a seeded random pool.
 * Kept when `files.json` says it was made with the same count and seed.
 */
function makeFileTree(root: string, fileCount: number): { fileCount: number; dataBytes: number } {
  const descriptionPath = `${root}.json`;
  const wanted = { fileCount, seed: fileSeed, fileBytesMax };
  if (fs.existsSync(descriptionPath)) {
    const found = JSON.parse(fs.readFileSync(descriptionPath, 'utf8')) as typeof wanted & { dataBytes: number };
    if (found.fileCount === fileCount && found.seed === fileSeed && found.fileBytesMax === fileBytesMax) return found;
  }
  fs.rmSync(descriptionPath, { force: true });
  fs.rmSync(root, { recursive: true, force: true });
  const prng = new Prng(fileSeed);
  const pool = Buffer.alloc(4 * mebibyte);
  prng.fill(pool);
  let dataBytes = 0;
  for (let file = 0; file < fileCount; file++) {
    const directory = join(root, `d${String(Math.floor(file / filesPerDirectory)).padStart(4, '0')}`);
    if (file % filesPerDirectory === 0) fs.mkdirSync(directory, { recursive: true });
    const sizeBytes = prng.nextInt(fileBytesMax + 1);
    const content = Buffer.alloc(sizeBytes);
    const offset = prng.nextInt(pool.length - fileBytesMax);
    pool.copy(content, 0, offset, offset + sizeBytes);
    if (sizeBytes >= 8) content.writeBigUInt64LE(BigInt(file), 0);
    fs.writeFileSync(join(directory, `f${String(file).padStart(7, '0')}`), content);
    dataBytes += sizeBytes;
    if (file % 100_000 === 99_999) process.stderr.write(`scale: ${file + 1} files written\n`);
  }
  const description = { ...wanted, dataBytes };
  fs.writeFileSync(descriptionPath, `${JSON.stringify(description)}\n`);
  return description;
}

// ---------------------------------------------------------------- steps

function syncDisks(): void {
  if (spawnSync('sync', { stdio: 'ignore' }).status !== 0) throw new Error('Cannot run sync');
}

/** Where a step's stdout (.stdout) or stderr (.stderr) is kept. */
function logPath(settings: Settings, run: number, tool: ToolName, step: string, extension: 'stdout' | 'stderr'): string {
  return join(settings.directory, 'logs', `run-${run}`, tool, `${step.replaceAll(/[^a-z0-9]+/gi, '-')}.${extension}`);
}

function runStep(settings: Settings, step: string, tool: ToolName, run: number, argv: string[], env: NodeJS.ProcessEnv): CommandResult {
  fs.mkdirSync(join(settings.directory, 'logs', `run-${run}`, tool), { recursive: true });
  syncDisks();
  process.stderr.write(`scale: run ${run}, ${tool}: ${step}\n`);
  const result = runTimed({
    argv,
    cwd: settings.directory,
    env,
    stdoutPath: logPath(settings, run, tool, step, 'stdout'),
    stderrPath: logPath(settings, run, tool, step, 'stderr'),
    timeReportPath: join(settings.directory, 'time-report.txt'),
    timeoutMs: commandSecondsMax * 1000,
  });
  results.push({ step, tool, run, result });
  if (result.exit !== '0') {
    failures.push(`run ${run}, ${tool}: ${step} failed (exit ${result.exit})`);
    console.log(`${tool}: ${step} FAILED (exit ${result.exit}); stderr tail:\n${result.stderrTail.replace(/^/gm, '  ')}`);
  }
  return result;
}

function holdfastEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_PASSWORD: 'bench', XDG_CACHE_HOME: cache };
  delete env['HOLDFAST_PASSWORD_FILE'];
  delete env['HOLDFAST_REPOSITORY'];
  return env;
}

/** (a) first backup of the file tree, then check of that repository, for each tool. */
function backupSteps(settings: Settings, run: number, files: string, fileCount: number): void {
  const backupStep = `backup ${fileCount} files`;
  for (const tool of settings.tools) {
    const place = join(settings.directory, 'runs', `run-${run}`, tool);
    fs.rmSync(place, { recursive: true, force: true });
    fs.mkdirSync(place, { recursive: true });
    const repository = join(place, 'repository');
    const cache = join(place, 'cache');
    if (tool === 'holdfast') {
      const env = holdfastEnv(cache);
      const init = spawnSync(settings.holdfast[0]!, [...settings.holdfast.slice(1), 'init', '--repo', repository], { env, encoding: 'utf8' });
      if (init.status !== 0) {
        failures.push(`run ${run}, holdfast: init failed: ${init.stderr.trim()}`);
        continue;
      }
      const backup = runStep(settings, backupStep, tool, run, [...settings.holdfast, 'backup', '--repo', repository, files], env);
      if (backup.exit === '0') runStep(settings, `check (${fileCount}-file repository)`, tool, run, [...settings.holdfast, 'check', '--repo', repository], env);
    } else {
      const env = { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: cache };
      const init = spawnSync('restic', ['-r', repository, 'init'], { env, encoding: 'utf8' });
      if (init.status !== 0) {
        failures.push(`run ${run}, restic: init failed: ${init.stderr.trim()}`);
        continue;
      }
      const backup = runStep(settings, backupStep, tool, run, ['restic', '-r', repository, 'backup', files], env);
      if (backup.exit === '0') runStep(settings, `check (${fileCount}-file repository)`, tool, run, ['restic', '-r', repository, 'check'], env);
    }
    const backup = results.find((result) => result.step === backupStep && result.tool === tool && result.run === run);
    if (backup !== undefined) backup.note = `repository ${(directoryBytes(repository) / mebibyte).toFixed(0)} MiB`;
    // The repositories are large (1M files): each run's goes once measured.
    fs.rmSync(place, { recursive: true, force: true });
  }
}

/** Makes the synthetic repository; returns its two snapshot ids (oldest first) or null. */
function makeBigRepository(settings: Settings, run: number, repository: string, entries: number): string[] | null {
  fs.rmSync(repository, { recursive: true, force: true });
  const step = `make ${entries} entries (make-big-repo.ts, not measured for the goal)`;
  const result = runStep(settings, step, 'holdfast', run, [process.execPath, '--import', tsxLoader, makeBigRepoScript, '--repo', repository, '--blobs', String(entries)], holdfastEnv(join(settings.directory, 'cache')));
  if (result.exit !== '0') return null;
  const stdout = fs.readFileSync(logPath(settings, run, 'holdfast', step, 'stdout'), 'utf8');
  return (JSON.parse(stdout.trim()) as { snapshots: string[] }).snapshots;
}

function hasVerb(settings: Settings, verb: string): boolean {
  const child = spawnSync(settings.holdfast[0]!, [...settings.holdfast.slice(1), verb, '--help'], { encoding: 'utf8' });
  return child.status === 0;
}

/** (b) check and check --read-data-subset 1% on the synthetic repository; (c) forget, prune, check. */
function bigRepositorySteps(settings: Settings, run: number, entries: number, notes: string[]): void {
  const repository = join(settings.directory, 'big-repository');
  const env = holdfastEnv(join(settings.directory, 'cache'));
  const snapshots = makeBigRepository(settings, run, repository, entries);
  if (snapshots === null) return;
  const holdfast = (step: string, args: string[]): CommandResult => runStep(settings, step, 'holdfast', run, [...settings.holdfast, ...args, '--repo', repository], env);
  holdfast(`check (${entries} entries)`, ['check']);
  holdfast(`check --read-data-subset 1% (${entries} entries)`, ['check', '--read-data-subset', '1%']);
  if (!hasVerb(settings, 'prune') || !hasVerb(settings, 'forget')) {
    notes.push('prune: skipped, this holdfast has no prune (or forget) verb');
    return;
  }
  const forget = holdfast('forget 1 of 2 snapshots', ['forget', snapshots[0]!]);
  if (forget.exit !== '0') return;
  const pruneStep = `prune (${entries} entries, every pack 60% used)`;
  const prune = holdfast(pruneStep, ['prune']);
  if (prune.exit !== '0') return;
  const said = fs.readFileSync(logPath(settings, run, 'holdfast', pruneStep, 'stdout'), 'utf8').trim().split('\n').at(-1);
  results.at(-1)!.note = said ?? '';
  holdfast('check after prune', ['check']);
}

// ---------------------------------------------------------------- report

function printTable(): void {
  console.log('| step | tool | wall s | wall min-max s | CPU s | peak RSS MiB | peak RSS < 500 MB | note |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | :---: | --- |');
  const steps = [...new Set(results.map((result) => `${result.step}\u0000${result.tool}`))];
  for (const key of steps) {
    const [step, tool] = key.split('\u0000') as [string, ToolName];
    const runs = results.filter((result) => result.step === step && result.tool === tool);
    const failed = runs.find((result) => result.result.exit !== '0');
    const note = runs.map((result) => result.note).find((candidate) => candidate !== undefined) ?? '';
    if (failed !== undefined) {
      console.log(row([step, tool, `failed (exit ${failed.result.exit})`, '-', '-', '-', '-', note]));
      continue;
    }
    const walls = runs.map((result) => result.result.wallSeconds);
    const rssBytes = median(runs.map((result) => result.result.peakRssKibibytes)) * kibibyte;
    const goal = step.startsWith('make ') || tool !== 'holdfast' ? '' : rssBytes < rssGoalBytes ? 'yes' : 'NO';
    console.log(
      row([step, tool, median(walls).toFixed(1), `${Math.min(...walls).toFixed(1)}-${Math.max(...walls).toFixed(1)}`, median(runs.map((result) => result.result.cpuSeconds)).toFixed(1), (rssBytes / mebibyte).toFixed(0), goal, note]),
    );
  }
}

function main(): void {
  const settings = readSettings();
  fs.mkdirSync(settings.directory, { recursive: true });
  const fileCount = Math.round(filesAtScale1 * settings.scale);
  const entries = Math.round(entriesAtScale1 * settings.scale);
  console.log(`memory at scale: backup of ${fileCount} small files (holdfast and restic), check and prune on ${entries} index entries; goal: every holdfast step under 500 MB peak RSS`);
  console.log(`machine: ${machineFacts()}`);
  const holdfastVersion = commandOutput(settings.holdfast[0]!, [...settings.holdfast.slice(1), '--version']);
  console.log(`versions: ${holdfastVersion} (${settings.holdfast.join(' ')}); ${commandOutput('restic', ['version'])}; node ${process.version}`);
  if (settings.holdfast[0] === holdfastBin) console.log(`holdfast build: ${builtCliWarning() ?? 'dist/ is newer than src/'}`);
  console.log(`work directory ${settings.directory}; runs: ${settings.runCount}; page cache not dropped (warm); wall around the child, CPU and peak RSS from /usr/bin/time -v`);
  const files = join(settings.directory, 'files');
  if (settings.parts.includes('backup')) {
    const tree = makeFileTree(files, fileCount);
    console.log(`file tree: ${tree.fileCount} files of 0-${fileBytesMax} bytes in directories of ${filesPerDirectory}, ${(tree.dataBytes / mebibyte).toFixed(0)} MiB, seed 0x${fileSeed.toString(16)}`);
  }
  const notes: string[] = [];
  for (let run = 1; run <= settings.runCount; run++) {
    if (settings.parts.includes('backup')) backupSteps(settings, run, files, fileCount);
    if (settings.parts.includes('entries')) bigRepositorySteps(settings, run, entries, notes);
  }
  console.log('');
  printTable();
  for (const note of new Set(notes)) console.log(`- ${note}`);
  fs.writeFileSync(join(settings.directory, 'results.json'), `${JSON.stringify({ settings, results, failures }, null, 2)}\n`);
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
