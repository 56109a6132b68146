/**
 * Independent witnesses for tests of holdfast's system calls: tools that share no code with
 * holdfast (getfattr, stat, filefrag), run without a shell, and checks every such test needs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { afterEach, beforeEach } from 'node:test';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
/** No tool run by a test takes this long; a hung one fails the test. */
const toolDurationMsMax = 60_000;

/** Fails any test of the calling file that leaves a file descriptor of this process open. */
export function checkNoDescriptorLeaks(): void {
  let descriptorsBefore: string[] = [];
  beforeEach(() => {
    descriptorsBefore = openDescriptors();
  });
  afterEach(() => {
    // Only descriptors the test opened count: one that was open before may close meanwhile (a
    // pipe of a child process an earlier test ran, closed late by libuv), which leaks nothing.
    const before = new Set(descriptorsBefore);
    assert.deepEqual(openDescriptors().filter((fd) => !before.has(fd)), [], 'a test left a file descriptor open');
  });
}

function openDescriptors(): string[] {
  return readdirSync('/proc/self/fd').sort();
}

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool without a shell; a non-zero exit is a result, not an exception. */
export async function runTool(command: string, args: readonly string[]): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { timeout: toolDurationMsMax });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failure.code !== 'number') throw error;
    return { exitCode: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

export async function runToolOrFail(command: string, args: readonly string[]): Promise<string> {
  const result = await runTool(command, args);
  assert.equal(result.exitCode, 0, `${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Every xattr of `path` as getfattr dumps it: name -> value in hex (no 0x). */
export async function getfattrDump(path: string, options: { noDereference?: boolean } = {}): Promise<Map<string, string>> {
  const args = ['--absolute-names', '-d', '-m', '-', '-e', 'hex', ...(options.noDereference === true ? ['-h'] : []), path];
  const dump = new Map<string, string>();
  for (const line of (await runToolOrFail('getfattr', args)).split('\n')) {
    const match = /^([^#=\s][^=]*)=0x([0-9a-f]*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) dump.set(match[1], match[2]);
  }
  return dump;
}

export async function statField(path: string, format: '%s' | '%b'): Promise<number> {
  return Number((await runToolOrFail('stat', ['-c', format, path])).trim());
}

export interface FilefragExtent {
  logicalStart: number;
  logicalEnd: number;
  physicalStart: number;
  flags: string[];
}

/** The extents filefrag (FIEMAP) reports, in bytes; logicalEnd is exclusive. */
export async function filefragExtents(path: string): Promise<FilefragExtent[]> {
  const extents: FilefragExtent[] = [];
  for (const line of (await runToolOrFail('filefrag', ['-v', '-b1', path])).split('\n')) {
    const match = /^\s*\d+:\s*(\d+)\.\.\s*(\d+):\s*(\d+)\.\.\s*\d+:\s*\d+:[\s\d]*:?\s*(\S*)\s*$/.exec(line);
    if (match === null) continue;
    extents.push({
      logicalStart: Number(match[1]),
      logicalEnd: Number(match[2]) + 1,
      physicalStart: Number(match[3]),
      flags: (match[4] ?? '').split(',').filter((flag) => flag !== ''),
    });
  }
  return extents;
}

/** Joins extents that touch, so physical fragmentation does not change the data ranges. */
export function mergeRanges(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const merged: Array<[number, number]> = [];
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last !== undefined && last[1] >= start) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}


/** Writes `content` with plain node:fs and makes it durable, so its blocks are allocated. */
export async function writeDurably(path: string, content: Uint8Array): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Checks an operating failure: its errno name, operation, and path (in the message too). */
export function assertFailure(error: unknown, expected: { code: string; path: string; operation?: RegExp }): true {
  assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
  const fields = error as Error & { code?: unknown; path?: unknown; operation?: unknown };
  assert.equal(fields.code, expected.code, `code of: ${error.message}`);
  assert.equal(fields.path, expected.path);
  assert.ok(error.message.includes(`"${expected.path}"`), `the message names the path: ${error.message}`);
  if (expected.operation !== undefined) {
    assert.equal(typeof fields.operation, 'string');
    assert.match(fields.operation as string, expected.operation);
  }
  return true;
}
