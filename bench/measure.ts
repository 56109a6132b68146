/**
 * What the benchmarks share (repo-backup.ts, scale.ts): running one command under
 * `/usr/bin/time -v` with wall time taken around the child, medians, markdown rows, the machine
 * and version facts printed above each table, and whether dist/ is older than src/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const stderrTailLinesMax = 12;
const gibibyte = 1024 * 1024 * 1024;
export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

export interface Measurement {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssKibibytes: number;
}

export interface CommandResult extends Measurement {
  /** '0' when the command succeeded; else its exit status, signal or why it did not start. */
  exit: string;
  stderrTail: string;
}

export interface TimedCommand {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where the command's stdout and stderr go (kept for the reader), and time(1)'s report. */
  stdoutPath: string;
  stderrPath: string;
  timeReportPath: string;
  timeoutMs: number;
}

/** Runs one command under /usr/bin/time -v without a shell; its output goes to the given files. */
export function runTimed(command: TimedCommand): CommandResult {
  const stdout = fs.openSync(command.stdoutPath, 'w');
  const stderr = fs.openSync(command.stderrPath, 'w');
  fs.rmSync(command.timeReportPath, { force: true });
  let child: ReturnType<typeof spawnSync>;
  let wallSeconds: number;
  try {
    const started = performance.now();
    child = spawnSync('/usr/bin/time', ['-v', '-o', command.timeReportPath, ...command.argv], { cwd: command.cwd, env: command.env, stdio: ['ignore', stdout, stderr], timeout: command.timeoutMs });
    wallSeconds = (performance.now() - started) / 1000;
  } finally {
    fs.closeSync(stdout);
    fs.closeSync(stderr);
  }
  const exit = child.error !== undefined ? `cannot run: ${child.error.message}` : child.status === null ? `signal ${child.signal ?? '?'}` : String(child.status);
  const report = fs.existsSync(command.timeReportPath) ? fs.readFileSync(command.timeReportPath, 'utf8') : '';
  const field = (label: string): number => Number(new RegExp(`${label}: ([\\d.]+)`).exec(report)?.[1] ?? NaN);
  const stderrText = fs.readFileSync(command.stderrPath, 'utf8').trimEnd();
  return {
    exit,
    wallSeconds,
    cpuSeconds: field('User time \\(seconds\\)') + field('System time \\(seconds\\)'),
    peakRssKibibytes: field('Maximum resident set size \\(kbytes\\)'),
    stderrTail: stderrText.split('\n').slice(-stderrTailLinesMax).join('\n'),
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

export function row(cells: string[]): string {
  return `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
}

export function ratio(value: number, base: number): string {
  return Number.isFinite(value) && Number.isFinite(base) && base > 0 ? `${(value / base).toFixed(2)}x` : '-';
}

/** The first line a command prints, or why it could not run. */
export function commandOutput(command: string, args: string[]): string {
  const child = spawnSync(command, args, { encoding: 'utf8' });
  return child.status === 0 ? `${child.stdout}${child.stderr}`.trim().split('\n')[0] ?? '' : `unavailable (${child.error?.message ?? `exit ${child.status}`})`;
}

export function machineFacts(): string {
  return `nproc ${os.availableParallelism()}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / gibibyte).toFixed(0)} GiB RAM, Linux ${os.release()}, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`;
}

/** holdfast is run from dist/: warn (not fail: others edit src/ while this runs) when it is stale. */
export function builtCliWarning(): string | null {
  const built = fs.statSync(join(repositoryRoot, 'dist/cli/main.js'), { throwIfNoEntry: false });
  if (built === undefined) return 'dist/cli/main.js is missing: run `npm run build`';
  const newestMs = newestSourceMtimeMs(join(repositoryRoot, 'src'));
  return built.mtimeMs < newestMs ? `dist/ is older than src/ by ${((newestMs - built.mtimeMs) / 1000).toFixed(0)} s: holdfast runs its last build` : null;
}

function newestSourceMtimeMs(directory: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtimeMs(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, fs.statSync(path).mtimeMs);
  }
  return newest;
}

/** `du -sb`, in bytes; 0 for a path that does not exist. */
export function directoryBytes(path: string): number {
  if (!fs.existsSync(path)) return 0;
  const child = spawnSync('du', ['-sb', path], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`Cannot measure "${path}" with du -sb: ${child.stderr}`);
  return Number(child.stdout.split('\t')[0]);
}
