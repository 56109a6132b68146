/**
 * Files planted in a repository that claim a huge length (issue 16 item 11) are refused by their
 * size before anything is read: a 10 GiB (sparse) file in snapshots/ is named and skipped while
 * every other snapshot lists and restores; one in locks/ blocks no backup; a 10 GiB config is a
 * clear error (HOLDFAST_LIMIT_EXCEEDED), not an allocation of 10 GiB. Without the limit each of
 * these reads the whole file into memory (and fails, or takes the machine's memory).
 *
 * How: the real CLI on a real repository; the planted files are made sparse with truncate(1), so
 * they cost no disk; each run is checked for its exit code and what it says.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const plantedBytes = 10 * 1024 * 1024 * 1024;

test('files that claim a huge length are refused by their size: a planted snapshot, lock or config', async () => {
  using directory = temporaryDirectory();
  const source = join(directory.path, 'tree');
  const repository = join(directory.path, 'repository');
  mkdirSync(source);
  writeFileSync(join(source, 'a.txt'), 'alpha\n');
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: 'sizes', XDG_CACHE_HOME: join(directory.path, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const run = (args: string[]): Promise<HoldfastRun> => runHoldfast(args, { env });
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const result = await run(args);
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };
  await ok(['init']);
  await ok(['backup', source]);
  const plant = (kind: string): string => {
    const path = join(repository, kind, randomBytes(32).toString('hex'));
    writeFileSync(path, '');
    truncateSync(path, plantedBytes);
    return path;
  };

  const snapshot = plant('snapshots');
  const listed = await run(['snapshots']);
  assert.equal(listed.exitCode, 3, listed.stderr);
  assert.match(listed.stderr, /HOLDFAST_LIMIT_EXCEEDED/);
  assert.ok(listed.stderr.includes(snapshot.slice(-64)), `the planted file is named: ${listed.stderr}`);
  assert.match(listed.stdout.toString('utf8'), /^1 snapshot \(1 damaged left out\)$/m);
  await ok(['restore', 'latest', '--target', join(directory.path, 'restored')]);
  rmSync(snapshot);

  plant('locks');
  await ok(['backup', source]);
  const unlocked = await ok(['unlock']);
  assert.match(unlocked.stderr, /1 unreadable lock file kept/);
  for (const name of readdirSync(join(repository, 'locks'))) rmSync(join(repository, 'locks', name));

  copyFileSync(join(repository, 'config'), join(directory.path, 'config.saved'));
  truncateSync(join(repository, 'config'), plantedBytes);
  const opened = await run(['snapshots']);
  assert.notEqual(opened.exitCode, 0);
  assert.match(opened.stderr, /HOLDFAST_LIMIT_EXCEEDED/);
  copyFileSync(join(directory.path, 'config.saved'), join(repository, 'config'));
  await ok(['check']);
});
