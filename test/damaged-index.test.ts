/**
 * One damaged index file does not block a restore: the verbs that load the index leave the
 * damaged file out with a warning naming it and `holdfast repair index`, and find the blobs only
 * it named from the packs' own headers. `restore latest` then restores every file exactly, `ls`
 * lists them and a backup goes on; `check` still names the damaged file (exit 1); after
 * `repair index` check passes.
 *
 * How: the real CLI (its own process, from the sources) backs up a small tree twice into one
 * repository, so there are two packs and two index files; the second snapshot needs blobs that
 * only the first index file names (big.bin, sub/c.txt). Each case damages that first index file
 * in a fresh copy (cp -a) of the repository in its own way: cut in half, overwritten with random
 * bytes, a flipped byte, replaced by a sealed snapshot file, emptied.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compareTrees } from '../src/test-support/compare-trees.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const password = 'damaged index test password';
const exitFatal = 1;

let directory = '';
let root = '';
let built = '';
let firstIndex = '';
let firstSnapshot = '';
let copies = 0;
let directoryHandle: { path: string; [Symbol.dispose](): void } | null = null;

function environment(repository: string): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(directory, 'cache') };
}

async function holdfast(args: string[], repository: string): Promise<HoldfastRun> {
  return runHoldfast(args, { env: environment(repository) });
}

async function ok(args: string[], repository: string): Promise<HoldfastRun> {
  const run = await holdfast(args, repository);
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run;
}

function namesIn(folder: string): string[] {
  return readdirSync(folder).filter((name) => /^[0-9a-f]{64}$/.test(name));
}

before(async () => {
  directoryHandle = temporaryDirectory();
  directory = directoryHandle.path;
  root = join(directory, 'tree');
  built = join(directory, 'built');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'big.bin'), randomBytes(1536 * 1024));
  writeFileSync(join(root, 'a.txt'), 'alpha, first version\n');
  writeFileSync(join(root, 'sub', 'c.txt'), 'gamma, unchanged\n');
  await ok(['init'], built);
  await ok(['backup', root], built);
  firstIndex = namesIn(join(built, 'index'))[0]!;
  firstSnapshot = namesIn(join(built, 'snapshots'))[0]!;
  writeFileSync(join(root, 'a.txt'), 'alpha, second and longer version\n');
  writeFileSync(join(root, 'sub', 'd.txt'), 'delta, added\n');
  await ok(['backup', root], built);
  assert.equal(namesIn(join(built, 'index')).length, 2, 'each backup wrote one index file');
});

after(() => directoryHandle?.[Symbol.dispose]());

async function damagedCopy(damage: (indexFile: string, repository: string) => void): Promise<string> {
  const copy = join(directory, `copy-${copies++}`);
  await runToolOrFail('cp', ['-a', built, copy]);
  damage(join(copy, 'index', firstIndex), copy);
  return copy;
}

/** Restore works and warns, check names the file, repair index mends it. */
async function restoresThroughDamage(damage: (indexFile: string, repository: string) => void): Promise<void> {
  const copy = await damagedCopy(damage);
  const target = join(directory, `restore-${copies}`);
  const restored = await ok(['restore', 'latest', '--target', target], copy);
  assert.deepEqual(await compareTrees(root, join(target, root)), [], 'every file restores exactly');
  assert.match(restored.stderr, new RegExp(`warning "[^"]*index/${firstIndex}"`), 'the damaged index file is named');
  assert.match(restored.stderr, /holdfast repair index/, 'the warning says what to run');

  const checked = await holdfast(['check', '--json'], copy);
  assert.equal(checked.exitCode, exitFatal, `check exited ${checked.exitCode}: ${checked.stderr}`);
  assert.ok(checked.stdout.toString('utf8').includes(`"path":"index ${firstIndex.slice(0, 16)}"`), `check names the index file: ${checked.stdout.toString('utf8')}`);
  assert.ok(checked.stdout.toString('utf8').includes('holdfast repair index'), 'check says what mends it');

  await ok(['repair', 'index'], copy);
  await ok(['check', '--read-data'], copy);
  const again = join(directory, `restore-repaired-${copies}`);
  const repaired = await ok(['restore', 'latest', '--target', again], copy);
  assert.doesNotMatch(repaired.stderr, /warning/, 'no warning after repair index');
  assert.deepEqual(await compareTrees(root, join(again, root)), []);
}

test('an index file cut in half: restore restores every file and warns; repair index mends it', async () => {
  await restoresThroughDamage((file) => truncateSync(file, Math.floor(statSync(file).size / 2)));
});

test('an index file overwritten with random bytes: restore restores every file and warns; repair index mends it', async () => {
  await restoresThroughDamage((file) => writeFileSync(file, randomBytes(statSync(file).size)));
});

test('an index file with a flipped byte: restore restores every file and warns; repair index mends it', async () => {
  await restoresThroughDamage((file) => {
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0x10;
    writeFileSync(file, bytes);
  });
});

test('an index file replaced by a sealed snapshot file: restore restores every file and warns; repair index mends it', async () => {
  await restoresThroughDamage((file, repository) => writeFileSync(file, readFileSync(join(repository, 'snapshots', firstSnapshot))));
});

test('an empty index file: restore restores every file and warns; repair index mends it', async () => {
  await restoresThroughDamage((file) => writeFileSync(file, Buffer.alloc(0)));
});

test('with a damaged index file, ls lists every file and a backup stores a snapshot that restores exactly', async () => {
  const copy = await damagedCopy((file) => truncateSync(file, Math.floor(statSync(file).size / 2)));
  const listed = (await ok(['ls', 'latest'], copy)).stdout.toString('utf8');
  for (const name of ['big.bin', 'a.txt', 'c.txt', 'd.txt']) assert.ok(listed.includes(name), `ls lists ${name}: ${listed}`);
  writeFileSync(join(root, 'e.txt'), 'epsilon, after the damage\n');
  try {
    await ok(['backup', root], copy);
    const target = join(directory, 'restore-after-backup');
    await ok(['restore', 'latest', '--target', target], copy);
    assert.deepEqual(await compareTrees(root, join(target, root)), []);
  } finally {
    // The fixture tree is shared with the other cases.
    truncateSync(join(root, 'e.txt'), 0);
    await runToolOrFail('rm', [join(root, 'e.txt')]);
  }
});
