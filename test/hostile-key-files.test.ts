/**
 * Key files planted or changed by someone with write access to the repository (issue 16): a
 * planted key whose kdf asks for 4 GiB × 100 passes (inside the format's limits) stalls no
 * command: it is not derived, `snapshots` with the real password finishes (exit 0) and names it
 * with HOLDFAST_LIMIT_EXCEEDED; when no key opens, the error is that key, not "wrong password"
 * (exit 1, not 12). A key file changed in place (its kdf edited) or swapped for another key's
 * bytes no longer hashes to its name: it is named as damaged (HOLDFAST_INTEGRITY), another key
 * still opens, and its own password gets that error, not "wrong password".
 *
 * How: the real CLI (runHoldfast) on a real repository with two keys. Planted key files are
 * real key files of the repository with their JSON edited and written under the hash of their
 * new bytes (BLAKE3, as holdfast names files), so they pass every check but the cost bound.
 * There is no timing assertion: a stall is caught by the test's timeout.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { storageName } from '../src/repo/blob-id.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const exitFatal = 1;
const exitWrongPassword = 12;

function environment(directory: string, password: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(directory, 'cache'), XDG_DATA_HOME: join(directory, 'xdg-data'), ...extra };
}

function describe(run: HoldfastRun, args: readonly string[]): string {
  return `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`;
}

async function holdfast(directory: string, args: string[], password: string, exitCode: number, extra: Record<string, string> = {}): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env: environment(directory, password, extra) });
  assert.equal(run.exitCode, exitCode, describe(run, args));
  return run;
}

/** A repository with a snapshot and two keys ("first password", "second password"); returns the key names. */
async function twoKeyRepository(directory: string, repository: string): Promise<{ first: string; second: string }> {
  await holdfast(directory, ['init', '--repo', repository], 'first password', 0);
  const first = readdirSync(join(repository, 'keys'))[0]!;
  await holdfast(directory, ['key', 'add', '--repo', repository], 'first password', 0, { HOLDFAST_NEW_PASSWORD: 'second password' });
  const second = readdirSync(join(repository, 'keys')).find((name) => name !== first)!;
  return { first, second };
}

/** Writes `bytes` as a key file under the name holdfast would give it; returns its path. */
function plantKey(repository: string, bytes: Buffer): string {
  const path = join(repository, 'keys', storageName(bytes));
  writeFileSync(path, bytes);
  return path;
}

function editedKey(path: string, change: (json: Record<string, unknown>) => void): Buffer {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  change(json);
  return Buffer.from(`${JSON.stringify(json, null, 2)}\n`);
}

const hugeKdf = { name: 'argon2id', memoryKiB: 4 * 1024 * 1024, iterations: 100, parallelism: 1 };

test('a planted key with huge kdf parameters is not derived: the real password opens, the planted key is named, and no password is "wrong"', async () => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const { first, second } = await twoKeyRepository(directory.path, repository);
  rmSync(join(repository, 'keys', second));
  const planted = plantKey(
    repository,
    editedKey(join(repository, 'keys', first), (json) => {
      json['kdf'] = hugeKdf;
      json['hostname'] = 'planted';
    }),
  );

  // The real password: exit 0, the planted key named as a warning with its code.
  const opened = await holdfast(directory.path, ['snapshots', '--repo', repository], 'first password', 0);
  assert.match(opened.stderr, new RegExp(`warning "${planted}": Cannot open key file "${planted}": its kdf asks for 4096 MiB × 100 passes, more than holdfast opens .* \\[HOLDFAST_LIMIT_EXCEEDED\\]`), opened.stderr);

  // A wrong password: the planted key might have been its key, so the error is the planted key.
  const wrong = await holdfast(directory.path, ['snapshots', '--repo', repository], 'wrong password', exitFatal);
  assert.match(wrong.stderr, /the password opens none of its 1 intact key, and 1 key file cannot be read or tried \(the password may be one of theirs\)/);
  assert.match(wrong.stderr, new RegExp(`Cannot open key file "${planted}"`));
  assert.doesNotMatch(wrong.stderr, /WRONG_PASSWORD/);

  // Only the planted key left: no password is "wrong", the planted key is the error.
  rmSync(join(repository, 'keys', first));
  const alone = await holdfast(directory.path, ['snapshots', '--repo', repository], 'first password', exitFatal);
  assert.match(alone.stderr, new RegExp(`none of its 1 key file can be read or tried: Cannot open key file "${planted}": .*\\[HOLDFAST_LIMIT_EXCEEDED\\]`), alone.stderr);
});

test('a key file changed in place or swapped for another key no longer matches its name: named as damaged, never "wrong password"', async () => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const { first, second } = await twoKeyRepository(directory.path, repository);
  const firstPath = join(repository, 'keys', first);
  const pristine = readFileSync(firstPath);
  const mismatch = `Cannot read key file "${firstPath}": the file's content does not match its name`;

  for (const change of [
    // Within the cost bound, so before names were checked it derived another key: "wrong password".
    { name: 'kdf edited in place', bytes: () => editedKey(firstPath, (json) => ((json['kdf'] as { iterations: number }).iterations += 1)) },
    { name: 'the other key copied over it', bytes: () => readFileSync(join(repository, 'keys', second)) },
  ]) {
    writeFileSync(firstPath, change.bytes());
    const other = await holdfast(directory.path, ['snapshots', '--repo', repository], 'second password', 0);
    assert.match(other.stderr, new RegExp(`warning "${firstPath}": ${mismatch}.*\\[HOLDFAST_INTEGRITY\\]`), `${change.name}: ${other.stderr}`);
    const own = await runHoldfast(['snapshots', '--repo', repository], { env: environment(directory.path, 'first password') });
    assert.notEqual(own.exitCode, exitWrongPassword, `${change.name}: ${describe(own, ['snapshots'])}`);
    assert.equal(own.exitCode, exitFatal, `${change.name}: ${describe(own, ['snapshots'])}`);
    assert.match(own.stderr, new RegExp(`1 key file cannot be read \\(the password may be one of theirs\\): ${mismatch}`), `${change.name}: ${own.stderr}`);
    writeFileSync(firstPath, pristine);
  }

  // The control: the pristine file opens with its password again.
  await holdfast(directory.path, ['snapshots', '--repo', repository], 'first password', 0);
});
