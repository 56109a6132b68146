/**
 * Rule D4: `holdfast restore` and `holdfast import` write nothing outside their target while
 * another process swaps a directory of the target for a symlink to the outside and back, every
 * few milliseconds, for the whole run (issue 16: 19 runs of 19 escaped when parents were checked
 * by path string).
 *
 * How: a tree src/a/b/... of 160 files in nested directories is backed up to a repository and
 * exported as a backup stream and as a tar. An `outside/` directory holds files of the very
 * names that are restored below b (other bytes), so a write that goes through the symlink
 * replaces or changes one. For each seed, a Python process (src/test-support/swap-directory.py,
 * its waits drawn from the seed) renames target/src/a/b away, puts a symlink to outside/ in its
 * place, and puts b back, until it is stopped after the run. Every path under outside/ is listed
 * before and after (type, mode, size, mtime, ctime, SHA-256): they must be the same, every seed
 * and every verb. The run may refuse entries it met while b was a symlink (exit 3), never fail
 * (exit 1). HOLDFAST_SWAP_SEEDS sets the number of seeds per verb (default 4 each: 8 runs).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const swapScript = fileURLToPath(new URL('../src/test-support/swap-directory.py', import.meta.url));
const seedCount = Number(process.env['HOLDFAST_SWAP_SEEDS'] ?? '4');
const password = 'swap test';
const directoriesUnderB = 8;
const filesPerDirectory = 20;

interface Scene {
  root: string;
  source: string;
  outside: string;
  repository: string;
  streamArchive: string;
  tarArchive: string;
  env: NodeJS.ProcessEnv;
}

/** Files below b and files of the same names in outside/, with different bytes. */
async function makeScene(root: string): Promise<Scene> {
  const source = join(root, 'source', 'src');
  const outside = join(root, 'outside');
  const b = join(source, 'a', 'b');
  for (let directory = 0; directory < directoriesUnderB; directory++) {
    for (const base of [b, outside]) await mkdir(join(base, `d${directory}`, 'deeper'), { recursive: true });
    for (let file = 0; file < filesPerDirectory; file++) {
      const name = join(`d${directory}`, file % 4 === 0 ? 'deeper' : '', `f${file}.txt`);
      await writeFile(join(b, name), `restored ${name}\n`.repeat(1 + file));
      await writeFile(join(outside, name), `outside ${name}\n`);
    }
  }
  await writeFile(join(b, 'top.txt'), 'restored top\n');
  await writeFile(join(outside, 'top.txt'), 'outside top\n');
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(root, 'cache'), XDG_DATA_HOME: join(root, 'data') };
  const scene: Scene = { root, source, outside, repository: join(root, 'repository'), streamArchive: join(root, 'src.stream'), tarArchive: join(root, 'src.tar'), env };
  await holdfastOk(['init', '--repo', scene.repository], env);
  await holdfastOk(['backup', '--repo', scene.repository, source], env);
  await holdfastOk(['export', source, '-o', scene.streamArchive], env);
  await holdfastOk(['export', source, '--format', 'tar', '-o', scene.tarArchive], env);
  return scene;
}

async function holdfastOk(args: string[], env: NodeJS.ProcessEnv): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env });
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run;
}

/** Every path under directory: type, mode, size, times and a hash of the bytes. */
async function manifest(directory: string): Promise<Map<string, string>> {
  const listing = new Map<string, string>();
  const pending = ['.'];
  for (let relative = pending.pop(); relative !== undefined; relative = pending.pop()) {
    const path = join(directory, relative);
    const stats = await lstat(path, { bigint: true });
    const hash = stats.isFile() ? createHash('sha256').update(await readFile(path)).digest('hex') : '';
    listing.set(relative, `${stats.mode.toString(8)} ${stats.size} ${stats.mtimeNs} ${stats.ctimeNs} ${hash}`);
    if (stats.isDirectory()) for (const name of await readdir(path)) pending.push(join(relative, name));
  }
  return listing;
}

function differences(before: Map<string, string>, after: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [relative, state] of after) {
    const was = before.get(relative);
    if (was === undefined) found.push(`created ${relative}`);
    else if (was !== state) found.push(`changed ${relative}`);
  }
  for (const relative of before.keys()) if (!after.has(relative)) found.push(`removed ${relative}`);
  return found;
}

interface SwappedRun {
  run: HoldfastRun;
  swaps: number;
  escapes: string[];
}

/** Runs holdfast with `args` into `target` while the swapper, seeded, swaps target/src/a/b. */
async function runWhileSwapping(scene: Scene, args: (target: string) => string[], seed: number, label: string): Promise<SwappedRun> {
  const target = join(scene.root, `${label}-${seed}`);
  await mkdir(target);
  const before = await manifest(scene.outside);
  const swapper = spawn('python3', [swapScript, join(target, 'src', 'a', 'b'), scene.outside, String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  swapper.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const exited = new Promise<void>((resolve) => swapper.on('close', () => resolve()));
  let run: HoldfastRun;
  try {
    run = await runHoldfast(args(target), { env: scene.env });
  } finally {
    swapper.kill('SIGTERM');
    await exited;
  }
  return { run, swaps: Number(printed.trim() || '0'), escapes: differences(before, await manifest(scene.outside)) };
}

async function checkSeeds(t: TestContext, scene: Scene, verb: string, args: (target: string) => string[]): Promise<void> {
  const escaped: string[] = [];
  let swaps = 0;
  let refusedRuns = 0;
  for (let seed = 1; seed <= seedCount; seed++) {
    const { run, swaps: runSwaps, escapes } = await runWhileSwapping(scene, args, seed, verb);
    swaps += runSwaps;
    if (run.exitCode === 3) refusedRuns++;
    if (escapes.length > 0) escaped.push(`seed ${seed}: ${escapes.length} paths outside changed, e.g. ${escapes.slice(0, 5).join('; ')}`);
    assert.ok(run.exitCode === 0 || run.exitCode === 3 || escapes.length > 0, `seed ${seed}: ${verb} exits 0 or 3 (refused entries), not ${run.exitCode}:\n${run.stderr}`);
  }
  t.diagnostic(`${verb}: ${escaped.length} of ${seedCount} runs wrote outside; ${swaps} swaps; ${refusedRuns} runs refused entries`);
  assert.deepEqual(escaped, [], `${verb} wrote outside its target in ${escaped.length} of ${seedCount} runs`);
  assert.ok(swaps > 0, `${verb}: the swapper found target/src/a/b to swap (else this proves nothing)`);
}

test('restore and import write nothing outside the target while a directory in it is swapped for a symlink', async (t) => {
  if (!requireTools(t, 'python3')) return;
  using directory = temporaryDirectory('holdfast-swap-');
  const scene = await makeScene(directory.path);

  await t.test('restore, for every seed', (tt) => checkSeeds(tt, scene, 'restore', (target) => ['restore', `latest:${scene.source}`, '--repo', scene.repository, '--target', target]));
  await t.test('import of a backup stream, for every seed', (tt) => checkSeeds(tt, scene, 'import-stream', (target) => ['import', scene.streamArchive, '--target', target]));
  await t.test('import of a tar, for every seed', (tt) => checkSeeds(tt, scene, 'import-tar', (target) => ['import', scene.tarArchive, '--target', target]));
});
