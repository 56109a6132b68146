/**
 * A read-only repository (a backup disk mounted read-only, a file system snapshot of one) can be
 * read: snapshots, ls, restore and check work on it, going on without a lock with a warning that
 * says so (no lock file can be written: EROFS), or silently with --no-lock. A verb that writes
 * still fails there, and refuses --no-lock: prune must see its lock.
 *
 * How: the real CLI (its own process, from the sources) backs up a small tree into a repository,
 * which is then bind-mounted read-only elsewhere (mount --bind, then remount ro; needs root) and
 * named by that mount point; the restored tree is compared with the source by compareTrees().
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareTrees } from '../src/test-support/compare-trees.js';
import { requireRoot, requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runTool, runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const password = 'read-only repository test password';
const exitFatal = 1;

test('a read-only repository can be read without a lock; a verb that writes fails there', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'mount', 'umount')) return;
  using directory = temporaryDirectory();
  const source = join(directory.path, 'tree');
  const writable = join(directory.path, 'repository');
  const readOnly = join(directory.path, 'mounted');
  mkdirSync(join(source, 'sub'), { recursive: true });
  writeFileSync(join(source, 'a.txt'), 'alpha\n');
  writeFileSync(join(source, 'sub', 'b.txt'), 'beta\n');
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  const holdfast = (repository: string, args: string[]): Promise<HoldfastRun> =>
    runHoldfast(args, { env: { ...clean, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(directory.path, 'cache') } });
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const run = await holdfast(readOnly, args);
    assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
    return run;
  };
  for (const args of [['init'], ['backup', source]]) assert.equal((await holdfast(writable, args)).exitCode, 0);

  mkdirSync(readOnly);
  await runToolOrFail('mount', ['--bind', writable, readOnly]);
  try {
    await runToolOrFail('mount', ['-o', 'remount,ro,bind', readOnly]);
    const lockWarning = /cannot write a lock \(EROFS\): going on without one/;
    const listed = await ok(['snapshots', '--json']);
    assert.match(listed.stderr === '' ? listed.stdout.toString('utf8') : listed.stderr, /EROFS/, 'the fallback is said');
    assert.match((await ok(['ls', 'latest'])).stderr, lockWarning);
    const target = join(directory.path, 'restored');
    assert.match((await ok(['restore', 'latest', '--target', target])).stderr, lockWarning);
    assert.deepEqual(await compareTrees(source, join(target, source)), []);
    assert.match((await ok(['check', '--read-data'])).stderr, lockWarning);
    assert.equal((await ok(['snapshots', '--no-lock'])).stderr, '', '--no-lock reads without a word');
    assert.deepEqual(readdirSync(join(readOnly, 'locks')), [], 'no lock was left');

    const backup = await holdfast(readOnly, ['backup', source]);
    assert.equal(backup.exitCode, exitFatal, backup.stderr);
    assert.match(backup.stderr, /EROFS|read-only/i);
    const unlocked = await holdfast(readOnly, ['backup', '--no-lock', source]);
    assert.notEqual(unlocked.exitCode, 0);
    assert.match(unlocked.stderr, /--no-lock is only for verbs that only read/);
  } finally {
    await runTool('umount', [readOnly]);
  }
});
