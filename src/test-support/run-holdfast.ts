/**
 * Runs the holdfast CLI from the TypeScript sources (no build needed), as a user would run
 * ./bin/holdfast: a separate process, its exit code, its stdout and stderr as bytes and text.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const cliPath = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
/** tsx resolved from here, so the CLI runs from any working directory. */
const tsxLoader = import.meta.resolve('tsx');
/** No CLI run in a test takes this long; a hung one is killed and fails. */
const runDurationMsMax = 240_000;

export interface HoldfastRun {
  /** The exit code; 128 + the signal's number when a signal ended the process. */
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

export interface HoldfastRunOptions {
  /** Bytes for the CLI's stdin; without it stdin is empty. */
  stdin?: Uint8Array;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** The command line that runs the CLI with `args` (for a runner of its own, such as a terminal). */
export function holdfastCommandLine(args: readonly string[]): string[] {
  return [process.execPath, '--import', tsxLoader, cliPath, ...args];
}

export function runHoldfast(args: readonly string[], options: HoldfastRunOptions = {}): Promise<HoldfastRun> {
  return startHoldfast(args, options).done;
}

/**
 * Starts the CLI and returns its process at once (to stop, continue or kill it, or to watch its
 * stdout as it comes through `onStdout`), with `done` resolving like runHoldfast.
 */
export function startHoldfast(args: readonly string[], options: HoldfastRunOptions & { onStdout?: (chunk: Buffer) => void } = {}): { child: ChildProcess; done: Promise<HoldfastRun> } {
  let child!: ChildProcess;
  const done = new Promise<HoldfastRun>((resolve, reject) => {
    child = spawn(process.execPath, ['--import', tsxLoader, cliPath, ...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: runDurationMsMax,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      options.onStdout?.(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({
        // Killed by a signal: 128 + its number, as a shell reports it (SIGINT 130, SIGABRT 134).
        exitCode: code ?? (signal === null ? -1 : 128 + (constants.signals[signal] ?? 0)),
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    child.stdin!.on('error', () => {}); // the CLI may exit before reading all of stdin
    child.stdin!.end(options.stdin ?? Buffer.alloc(0));
  });
  return { child, done };
}

/** The JSON lines a --json run printed on stdout. */
export function jsonLines(run: HoldfastRun): Record<string, unknown>[] {
  return run.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The summary line of a --json run; fails the test when there is none. */
export function summaryOf(run: HoldfastRun): Record<string, unknown> {
  const summary = jsonLines(run).find((line) => line['type'] === 'summary');
  assert.ok(summary !== undefined, `no summary line in ${run.stdout.toString('utf8')} / ${run.stderr}`);
  return summary;
}
