/**
 * `key passwd` ends with exactly one key for the new password and none for the old: when two keys
 * share the old password both go; when a key for the new password is already there (what a
 * passwd killed after adding it leaves) a rerun uses it rather than adding a second one; the
 * same password as new and old is refused and changes nothing.
 *
 * How: the real CLI (its own process, from the sources) on a fresh repository per case with one
 * snapshot; which passwords open it is asked of the CLI (`key list`, exit 12 for a wrong
 * password), and the key files are counted in keys/. The kill -9 side is in
 * test/crash-kill-keys.test.ts (a killed passwd, then a rerun, leaves one key for the new password).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const oldPassword = 'the old password';
const newPassword = 'the new password';
const exitFatal = 1;
const exitWrongPassword = 12;

let directory = '';
let repositories = 0;
let directoryHandle: { path: string; [Symbol.dispose](): void } | null = null;

before(() => {
  directoryHandle = temporaryDirectory();
  directory = directoryHandle.path;
  mkdirSync(join(directory, 'tree'));
  writeFileSync(join(directory, 'tree', 'a.txt'), 'alpha\n');
});

after(() => directoryHandle?.[Symbol.dispose]());

async function holdfast(repository: string, args: string[], password: string, newOne?: string): Promise<HoldfastRun> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  const env = { ...clean, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(directory, 'cache'), ...(newOne === undefined ? {} : { HOLDFAST_NEW_PASSWORD: newOne }) };
  return runHoldfast(args, { env });
}

async function ok(repository: string, args: string[], password: string, newOne?: string): Promise<HoldfastRun> {
  const run = await holdfast(repository, args, password, newOne);
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run;
}

async function newRepository(): Promise<string> {
  const repository = join(directory, `repository-${repositories++}`);
  await ok(repository, ['init'], oldPassword);
  await ok(repository, ['backup', join(directory, 'tree')], oldPassword);
  return repository;
}

function keyFiles(repository: string): number {
  return readdirSync(join(repository, 'keys')).filter((name) => /^[0-9a-f]{64}$/.test(name)).length;
}

/** The old password opens nothing; the new one opens the repository, which has one key left. */
async function assertChanged(repository: string): Promise<void> {
  assert.equal((await holdfast(repository, ['key', 'list'], oldPassword)).exitCode, exitWrongPassword, 'the old password opens nothing');
  await ok(repository, ['snapshots'], newPassword);
  assert.equal(keyFiles(repository), 1, 'exactly one key is left: the new password opens it');
}

test('key passwd removes every key of the old password, also a second key sharing it', async () => {
  const repository = await newRepository();
  await ok(repository, ['key', 'add'], oldPassword, oldPassword);
  assert.equal(keyFiles(repository), 2);
  const run = await ok(repository, ['key', 'passwd', '--json'], oldPassword, newPassword);
  await assertChanged(repository);
  const changed = run.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => line['type'] === 'changed');
  assert.equal((changed?.['removed'] as string[] | undefined)?.length, 2, `both old keys are named as removed: ${run.stdout.toString('utf8')}`);
});

test('a key passwd run again after one interrupted once the new key was added finishes the change with that key', async () => {
  const repository = await newRepository();
  // What a passwd killed between adding the new key and removing the old leaves: both open.
  await ok(repository, ['key', 'add'], oldPassword, newPassword);
  const run = await ok(repository, ['key', 'passwd'], oldPassword, newPassword);
  assert.match(run.stderr, /already opens with the new password/);
  await assertChanged(repository);
});

test('key passwd to the same password is refused and changes nothing', async () => {
  const repository = await newRepository();
  const run = await holdfast(repository, ['key', 'passwd'], oldPassword, oldPassword);
  assert.equal(run.exitCode, exitFatal, run.stderr);
  assert.match(run.stderr, /the new password is the one given/);
  await ok(repository, ['snapshots'], oldPassword);
  assert.equal(keyFiles(repository), 1);
});
