/**
 * Bad input where a repository is wanted (rule D2): a foreign directory, a repository of another
 * format version, a config that is not JSON or was cut short, and damaged key files. Each is a
 * clear error with a stable code, the operation and the path, and the documented exit code, and
 * the directory given is left exactly as it was.
 *
 * How: the real CLI (runHoldfast) on real directories. Before and after each refused run the
 * directory is listed recursively with each entry's type, mode, size, mtime and content hash, and
 * the two listings must be equal. Damaged key files are made from real ones (cut short, or
 * replaced by garbage) in a repository with two passwords, so that the test can tell "another
 * key still opens it" from "no key opens it" and from "the password is wrong".
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const exitFatal = 1;
const exitNoRepository = 10;
const exitWrongPassword = 12;

/** Every entry below `root` with what a change would show: type, mode, size, mtime, content. */
function listing(root: string, skip: (name: string) => boolean = () => false): string[] {
  const lines: string[] = [];
  const walk = (relative: string): void => {
    const path = join(root, relative);
    const stat = lstatSync(path, { bigint: true });
    const content = stat.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16) : '';
    lines.push(`${relative || '.'} mode=${stat.mode.toString(8)} size=${stat.size} mtime=${stat.mtimeNs} ${content}`);
    if (stat.isDirectory()) for (const name of readdirSync(path).sort()) if (!skip(join(relative, name))) walk(join(relative, name));
  };
  walk('');
  return lines;
}

function environment(directory: string, password: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(directory, 'cache'), XDG_DATA_HOME: join(directory, 'xdg-data'), ...extra };
  delete env['HOLDFAST_REPOSITORY'];
  delete env['HOLDFAST_PASSWORD_FILE'];
  return env;
}

function describe(run: HoldfastRun, args: readonly string[]): string {
  return `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`;
}

/** Runs `args`, which must fail with `exitCode` and `code` naming `path`; `root` must not change. */
async function refused(root: string, args: string[], env: NodeJS.ProcessEnv, expected: { exitCode: number; code: string; path: string; message: RegExp }): Promise<HoldfastRun> {
  const before = listing(root);
  const run = await runHoldfast(args, { env });
  assert.equal(run.exitCode, expected.exitCode, describe(run, args));
  assert.ok(run.stderr.includes(`[${expected.code}]`), `no ${expected.code}: ${describe(run, args)}`);
  assert.ok(run.stderr.includes(`"${expected.path}"`), `the message does not name ${expected.path}: ${run.stderr}`);
  assert.match(run.stderr, expected.message);
  assert.deepEqual(listing(root), before, `holdfast ${args.join(' ')} changed ${root}`);
  return run;
}

test('a foreign directory is no repository: every verb that opens one says so, and init refuses to fill it', async () => {
  using directory = temporaryDirectory();
  const foreign = join(directory.path, 'etc-like');
  mkdirSync(join(foreign, 'ssh'), { recursive: true });
  writeFileSync(join(foreign, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(foreign, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(foreign, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  const source = join(directory.path, 'source');
  mkdirSync(source);
  writeFileSync(join(source, 'file.txt'), 'to back up\n');
  const env = environment(directory.path, 'a password');
  const notRepository = /Cannot open repository ".*": it is not a holdfast repository: it has no config file and holds other files \("hosts", "passwd", "ssh"\)/;
  const expected = { exitCode: exitNoRepository, code: 'HOLDFAST_NO_REPOSITORY', path: foreign, message: notRepository };
  await Promise.all([
    refused(foreign, ['snapshots', '--repo', foreign], env, expected),
    refused(foreign, ['check', '--repo', foreign], env, expected),
    refused(foreign, ['restore', 'latest', '--repo', foreign, '--target', join(directory.path, 'restored')], env, expected),
    refused(foreign, ['backup', '--repo', foreign, source], env, expected),
  ]);
  await refused(foreign, ['init', '--repo', foreign], env, {
    exitCode: exitFatal,
    code: 'HOLDFAST_NOT_EMPTY',
    path: foreign,
    message: /Cannot init repository ".*": the directory is not empty \(it holds "hosts", "passwd", "ssh"\)/,
  });

  // The control: an empty directory is a fine place for a new repository.
  const empty = join(directory.path, 'empty');
  mkdirSync(empty);
  const made = await runHoldfast(['init', '--repo', empty], { env });
  assert.equal(made.exitCode, 0, describe(made, ['init']));
  assert.ok(readdirSync(empty).includes('config'));
});

test('a repository of another format version, and a config that is not JSON, are refused and left alone', async () => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const env = environment(directory.path, 'a password');
  const made = await runHoldfast(['init', '--repo', repository], { env });
  assert.equal(made.exitCode, 0, describe(made, ['init']));
  const configPath = join(repository, 'config');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  assert.equal(config['version'], 1);

  writeFileSync(configPath, `${JSON.stringify({ ...config, version: 2 })}\n`);
  await refused(repository, ['snapshots', '--repo', repository], env, {
    exitCode: exitFatal,
    code: 'HOLDFAST_FORMAT_VERSION',
    path: configPath,
    message: /it is a repository of format version 2; this holdfast reads version 1 only/,
  });

  const whole = `${JSON.stringify(config)}\n`;
  writeFileSync(configPath, whole.slice(0, 30));
  await refused(repository, ['check', '--repo', repository], env, { exitCode: exitFatal, code: 'HOLDFAST_FORMAT_INVALID', path: configPath, message: /it is not valid JSON/ });
  writeFileSync(configPath, 'not json at all\n');
  await refused(repository, ['snapshots', '--repo', repository], env, { exitCode: exitFatal, code: 'HOLDFAST_FORMAT_INVALID', path: configPath, message: /it is not valid JSON/ });
  await refused(repository, ['init', '--repo', repository], env, { exitCode: exitFatal, code: 'HOLDFAST_FORMAT_INVALID', path: configPath, message: /it is not valid JSON/ });

  // The control: the same repository with its config restored opens.
  writeFileSync(configPath, whole);
  const opened = await runHoldfast(['snapshots', '--repo', repository], { env });
  assert.equal(opened.exitCode, 0, describe(opened, ['snapshots']));
});

test('a damaged key file does not hide a good one, and is named; with no good key the damage is the error, not the password', async () => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const keysDirectory = join(repository, 'keys');
  const made = await runHoldfast(['init', '--repo', repository], { env: environment(directory.path, 'first password') });
  assert.equal(made.exitCode, 0, describe(made, ['init']));
  const [firstKey] = readdirSync(keysDirectory);
  const added = await runHoldfast(['key', 'add', '--repo', repository], { env: environment(directory.path, 'first password', { HOLDFAST_NEW_PASSWORD: 'second password' }) });
  assert.equal(added.exitCode, 0, describe(added, ['key', 'add']));
  const secondKey = readdirSync(keysDirectory).find((name) => name !== firstKey)!;
  const firstPath = join(keysDirectory, firstKey!);
  const secondPath = join(keysDirectory, secondKey);
  const pristine = join(directory.path, 'pristine');
  cpSync(repository, pristine, { recursive: true, preserveTimestamps: true });
  const run = (password: string): Promise<HoldfastRun> => runHoldfast(['snapshots', '--repo', repository], { env: environment(directory.path, password) });

  // Intact files and a wrong password: exit 12, as before.
  await refused(repository, ['snapshots', '--repo', repository], environment(directory.path, 'wrong password'), {
    exitCode: exitWrongPassword,
    code: 'HOLDFAST_WRONG_PASSWORD',
    path: repository,
    message: /the password opens none of its 2 keys/,
  });

  for (const damage of [
    { name: 'cut short', code: 'HOLDFAST_FORMAT_TRUNCATED', reason: /the key file ends in the middle of its JSON \(200 bytes\): it was cut short/, apply: (path: string) => truncateSync(path, 200) },
    { name: 'garbage', code: 'HOLDFAST_FORMAT_INVALID', reason: /the key file is not JSON/, apply: (path: string) => writeFileSync(path, Buffer.from('\x8f\x00garbage, not a key\xff')) },
  ]) {
    // The first key is damaged: the second password still opens the repository, and the damaged
    // file is named on stderr as a warning.
    damage.apply(firstPath);
    const before = listing(repository, (name) => name.startsWith('locks'));
    const opened = await run('second password');
    assert.equal(opened.exitCode, 0, `${damage.name}: ${describe(opened, ['snapshots'])}`);
    assert.match(opened.stderr, new RegExp(`warning "${firstPath}": Cannot read key file "${firstPath}": ${damage.reason.source}`), `${damage.name}: ${opened.stderr}`);
    assert.deepEqual(listing(repository, (name) => name.startsWith('locks')), before, `${damage.name}: opening with a damaged key changed the repository`);

    // Its own password: the error says the key file is damaged (exit 1), not that the password is wrong.
    const own = await refused(repository, ['snapshots', '--repo', repository], environment(directory.path, 'first password'), {
      exitCode: exitFatal,
      code: damage.code,
      path: firstPath,
      message: new RegExp(`the password opens none of its 1 intact key, and 1 key file cannot be read \\(the password may be one of theirs\\): Cannot read key file "${firstPath}": ${damage.reason.source}`),
    });
    assert.doesNotMatch(own.stderr, /WRONG_PASSWORD/);

    // Both damaged: no key can be read at all.
    damage.apply(secondPath);
    await refused(repository, ['snapshots', '--repo', repository], environment(directory.path, 'second password'), {
      exitCode: exitFatal,
      code: damage.code,
      path: secondPath,
      message: /none of its 2 key files can be read/,
    });
    cpSync(join(pristine, 'keys'), keysDirectory, { recursive: true, preserveTimestamps: true });
  }

  // The control: with the key files repaired, both passwords open it again.
  for (const password of ['first password', 'second password']) {
    const opened = await run(password);
    assert.equal(opened.exitCode, 0, describe(opened, ['snapshots']));
    assert.doesNotMatch(opened.stderr, /warning/);
  }
});
