/**
 * `holdfast volume serve` as a test runs it: a real CLI process (from the sources) on an image,
 * its output collected line by line (JSON events with --json, text lines without), started when
 * it says it is listening, stopped with SIGTERM (exit 0 expected) or killed with SIGKILL.
 * And the nbdinfo views a test compares: export names, maps as sets of blocks or data ranges.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { startHoldfast, type HoldfastRun } from './run-holdfast.js';
import { runToolOrFail } from './system-tools.js';

export const granularityBytes = 64 * 1024;

export interface ServerLine {
  text: string;
  /** The parsed object when the line is JSON (with --json), else null. */
  event: Record<string, unknown> | null;
}

export interface VolumeServer {
  readonly child: ChildProcess;
  readonly socketPath: string;
  /** Every line printed so far. */
  readonly lines: ServerLine[];
  /** `nbd+unix:///EXPORT?socket=...`; the default export without a name. */
  uri(exportName?: string): string;
  /** Resolves with the first line (now or later) that `matches`; rejects if the process ends first. */
  waitFor(matches: (line: ServerLine) => boolean): Promise<ServerLine>;
  /** SIGTERM, then asserts the clean exit (0). */
  stop(): Promise<HoldfastRun>;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<HoldfastRun>;
}

/** Starts `holdfast volume serve IMAGE --socket IMAGE.sock [--json] ...extra` and waits until it listens. */
export async function serveVolume(image: string, options: { json?: boolean; extraArgs?: readonly string[] } = {}): Promise<VolumeServer> {
  const json = options.json ?? true;
  const socketPath = `${image}.sock`;
  const lines: ServerLine[] = [];
  const watchers: Array<{ matches: (line: ServerLine) => boolean; resolve: (line: ServerLine) => void }> = [];
  let partial = '';
  const onLine = (text: string): void => {
    let event: Record<string, unknown> | null = null;
    if (text.startsWith('{')) event = JSON.parse(text) as Record<string, unknown>;
    const line = { text, event };
    lines.push(line);
    for (const watcher of [...watchers]) {
      if (!watcher.matches(line)) continue;
      watchers.splice(watchers.indexOf(watcher), 1);
      watcher.resolve(line);
    }
  };
  const args = ['volume', 'serve', image, '--socket', socketPath, ...(json ? ['--json'] : []), ...(options.extraArgs ?? [])];
  const { child, done } = startHoldfast(args, {
    onStdout: (chunk) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      parts.forEach(onLine);
    },
  });
  const waitFor = (matches: (line: ServerLine) => boolean): Promise<ServerLine> => {
    const found = lines.find(matches);
    if (found !== undefined) return Promise.resolve(found);
    return Promise.race([
      new Promise<ServerLine>((resolve) => watchers.push({ matches, resolve })),
      done.then((run) => {
        // A line may have come with the last chunk.
        const late = lines.find(matches);
        if (late !== undefined) return late;
        throw new Error(`the server exited (${run.exitCode}) before printing the line awaited; stdout:\n${run.stdout.toString('utf8')}\nstderr:\n${run.stderr}`);
      }),
    ]);
  };
  await waitFor((line) => line.event?.['type'] === 'listening' || line.text.startsWith('serving export'));
  return {
    child,
    socketPath,
    lines,
    uri: (exportName = '') => `nbd+unix:///${exportName}?socket=${socketPath}`,
    waitFor,
    stop: async () => {
      child.kill('SIGTERM');
      const run = await done;
      assert.equal(run.exitCode, 0, `the server exited ${run.exitCode} on SIGTERM; stderr:\n${run.stderr}`);
      return run;
    },
    kill: () => {
      child.kill('SIGKILL');
      return done;
    },
  };
}

/** The first JSON event of `type` the server printed. */
export function eventOf(server: VolumeServer, type: string): Record<string, unknown> {
  const found = server.lines.find((line) => line.event?.['type'] === type);
  assert.ok(found?.event, `the server printed no "${type}" event: ${server.lines.map((line) => line.text).join('\n')}`);
  return found.event;
}

interface MapEntry {
  offset: number;
  length: number;
  type: number;
}

/** `nbdinfo --map[=CONTEXT] --json URI`. */
export async function nbdinfoMap(uri: string, context?: string): Promise<MapEntry[]> {
  return JSON.parse(await runToolOrFail('nbdinfo', [context === undefined ? '--map' : `--map=${context}`, '--json', uri])) as MapEntry[];
}

/** The 64 KiB blocks `qemu:dirty-bitmap:holdfast` reports dirty, as nbdinfo sees them, ascending. */
export async function dirtyBlocks(uri: string): Promise<number[]> {
  const blocks: number[] = [];
  for (const entry of await nbdinfoMap(uri, 'qemu:dirty-bitmap:holdfast')) {
    if ((entry.type & 1) === 0) continue;
    assert.equal(entry.offset % granularityBytes, 0, `a dirty extent starts inside a block: ${JSON.stringify(entry)}`);
    for (let offset = entry.offset; offset < entry.offset + entry.length; offset += granularityBytes) blocks.push(offset / granularityBytes);
  }
  return blocks;
}

/** The export names `nbdinfo --list --json` shows. */
export async function listExports(uri: string): Promise<string[]> {
  const listing = JSON.parse(await runToolOrFail('nbdinfo', ['--list', '--json', uri])) as { exports: Array<{ 'export-name': string }> };
  return listing.exports.map((entry) => entry['export-name']);
}

/** The blocks a byte range touches. */
export function blocksOf(offset: number, lengthBytes: number): number[] {
  const blocks: number[] = [];
  for (let block = Math.floor(offset / granularityBytes); block * granularityBytes < offset + lengthBytes; block++) blocks.push(block);
  return blocks;
}
