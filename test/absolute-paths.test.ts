/**
 * Snapshots keep absolute paths (issue 15 item 2): two roots with the same last name are both
 * kept and both restorable; a restore recreates /a/conf as TARGET/a/conf; ls, restore and dump
 * take the absolute path; a root inside another is stored once; "backup /" works, and leaves the
 * repository out when it lies below; snapshots of holdfast 0.1 (version 1, names from each
 * root's own name) stay readable.
 *
 * How: the real CLI on real directories under a temporary directory. "/" is backed up with
 * extglob excludes ("/!(tmp)", "/tmp/!(holdfast-test-…)") that leave out everything but this
 * test's directory, so the walk starts at "/" and reads only what the test made. The version 1
 * repository is test/fixtures/repo-v1 (see its README), made by holdfast 0.1.0.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jsonLines, runHoldfast, summaryOf, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const fixtureV1 = fileURLToPath(new URL('fixtures/repo-v1/repo', import.meta.url));

function cli(root: string, repository: string, password = 'absolute paths'): (args: string[]) => Promise<HoldfastRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: root, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(root, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  return (args) => runHoldfast(args, { env });
}

async function ok(run: Promise<HoldfastRun>, what: string): Promise<HoldfastRun> {
  const done = await run;
  assert.equal(done.exitCode, 0, `${what} exited ${done.exitCode}: ${done.stderr}`);
  return done;
}

function lines(run: HoldfastRun): string[] {
  return run.stdout.toString('utf8').split('\n').filter((line) => line !== '');
}

/** /base/a/conf/x = "one", /base/b/conf/x = "two", /base/a mode 0750. */
function twoConfs(base: string): void {
  mkdirSync(join(base, 'a', 'conf'), { recursive: true });
  mkdirSync(join(base, 'b', 'conf'), { recursive: true });
  writeFileSync(join(base, 'a', 'conf', 'x'), 'one\n');
  writeFileSync(join(base, 'b', 'conf', 'x'), 'two\n');
  chmodSync(join(base, 'a'), 0o750);
}

test('backup /a/conf /b/conf keeps both; restore, ls, restore SNAPSHOT:PATH and dump take absolute paths', async () => {
  using directory = temporaryDirectory();
  const base = realpathSync(directory.path);
  twoConfs(join(base, 'src'));
  const run = cli(base, join(base, 'repository'));
  await ok(run(['init']), 'init');
  const a = join(base, 'src', 'a', 'conf');
  const b = join(base, 'src', 'b', 'conf');
  const first = summaryOf(await ok(run(['backup', '--json', a, b]), 'backup'));
  assert.equal(first['files'], 2);

  const listed = lines(await ok(run(['ls', 'latest']), 'ls'));
  assert.ok(listed.includes(`${a}/x`) && listed.includes(`${b}/x`), listed.join('\n'));
  assert.equal(listed.filter((line) => line.endsWith('/conf/x')).length, 2);
  // Every directory above the roots is an entry, each once.
  assert.equal(listed.filter((line) => line === join(base, 'src')).length, 1);

  const target = join(base, 'target');
  await ok(run(['restore', 'latest', '--target', target]), 'restore');
  assert.equal(readFileSync(join(target, a, 'x'), 'utf8'), 'one\n');
  assert.equal(readFileSync(join(target, b, 'x'), 'utf8'), 'two\n');
  assert.equal(statSync(join(target, base, 'src', 'a')).mode & 0o7777, 0o750, 'a directory above a root keeps its mode');

  const onlyA = lines(await ok(run(['ls', `latest:${a}`]), 'ls PATH'));
  assert.deepEqual(onlyA, [a, `${a}/x`]);

  const sub = join(base, 'sub-target');
  await ok(run(['restore', `latest:${b}`, '--target', sub]), 'restore SNAPSHOT:PATH');
  assert.deepEqual(readdirSync(sub), ['conf']);
  assert.equal(readFileSync(join(sub, 'conf', 'x'), 'utf8'), 'two\n');

  const dumped = await ok(run(['dump', 'latest', `${b}/x`]), 'dump');
  assert.equal(dumped.stdout.toString('utf8'), 'two\n');

  const included = join(base, 'included');
  await ok(run(['restore', 'latest', '--target', included, '--include', b]), 'restore --include');
  assert.equal(readFileSync(join(included, b, 'x'), 'utf8'), 'two\n');
  assert.throws(() => statSync(join(included, a)), /ENOENT/);

  const second = summaryOf(await ok(run(['backup', '--json', b, a]), 'second backup'));
  assert.equal(second['parent'], first['snapshot'], 'the same paths in another order find their parent');
  assert.equal(second['filesUnchanged'], 2);
});

test('a root inside another root is stored once, and the snapshot restores without a conflict', async () => {
  using directory = temporaryDirectory();
  const base = realpathSync(directory.path);
  twoConfs(join(base, 'src'));
  const run = cli(base, join(base, 'repository'));
  await ok(run(['init']), 'init');
  const outer = join(base, 'src', 'a');
  await ok(run(['backup', `${outer}/conf`, outer, `${outer}/conf/x`]), 'backup');
  const listed = lines(await ok(run(['ls', 'latest']), 'ls'));
  assert.equal(listed.filter((line) => line === `${outer}/conf/x`).length, 1, listed.join('\n'));
  await ok(run(['restore', 'latest', '--target', join(base, 'target')]), 'restore');
  assert.equal(readFileSync(join(base, 'target', outer, 'conf', 'x'), 'utf8'), 'one\n');
});

test('backup / works, and leaves out the repository it writes to', async () => {
  using directory = temporaryDirectory();
  const base = realpathSync(directory.path);
  const data = join(base, 'data');
  twoConfs(data);
  const repository = join(base, 'repository');
  const run = cli(base, repository);
  await ok(run(['init']), 'init');
  // Leave out everything but `base`: at each level above it, every other name (extglob).
  const parts = base.split('/').filter((part) => part !== '');
  const excludes = parts.flatMap((part, index) => ['--exclude', `/${parts.slice(0, index).map((above) => `${above}/`).join('')}!(${part})`]);
  const backup = await ok(run(['backup', '--json', '/', ...excludes]), 'backup /');
  const notes = jsonLines(backup).filter((line) => line['type'] === 'repository-left-out');
  assert.deepEqual(notes.map((note) => note['path']), [repository]);
  const summary = summaryOf(backup);
  assert.equal(summary['files'], 2);

  const snapshots = jsonLines(await ok(run(['snapshots', '--json']), 'snapshots'));
  assert.deepEqual(snapshots[0]!['paths'], ['/']);
  const listed = lines(await ok(run(['ls', 'latest']), 'ls'));
  assert.equal(listed[0], `/${parts[0]}`);
  assert.ok(listed.includes(`${data}/b/conf/x`), listed.join('\n'));
  assert.ok(!listed.some((line) => line.startsWith(repository)), 'the repository is not in its own snapshot');

  const target = join(base, 'target');
  await ok(run(['restore', 'latest', '--target', target]), 'restore');
  assert.equal(readFileSync(join(target, data, 'a', 'conf', 'x'), 'utf8'), 'one\n');
  const again = summaryOf(await ok(run(['backup', '--json', '/', ...excludes]), 'second backup /'));
  assert.equal(again['filesUnchanged'], 2);
});

test('a version 1 snapshot (holdfast 0.1) still lists, restores, dumps and checks, by its paths as backed up', async () => {
  using directory = temporaryDirectory();
  const base = realpathSync(directory.path);
  const repository = join(base, 'repository');
  // As git keeps it: without the empty directories (locks/, most of data/), which holdfast makes
  // again when it first saves there.
  cpSync(fixtureV1, repository, { recursive: true });
  await runToolOrFail('find', [repository, '-depth', '-type', 'd', '-empty', '-delete']);
  assert.ok(!existsSync(join(repository, 'locks')));
  const run = cli(base, repository, 'fixture');
  const [snapshot] = jsonLines(await ok(run(['snapshots', '--json']), 'snapshots'));
  assert.deepEqual(snapshot!['paths'], ['/tmp/hf-v1/srv/www', '/tmp/hf-v1/etc/app']);
  assert.deepEqual(lines(await ok(run(['ls', 'latest']), 'ls')), ['www', 'www/docs', 'www/docs/readme.txt', 'www/home.html', 'www/index.html', 'www/same.html', 'app', 'app/app.conf']);
  assert.deepEqual(lines(await ok(run(['ls', 'latest:/tmp/hf-v1/srv/www/docs']), 'ls PATH')), ['www/docs', 'www/docs/readme.txt']);

  const target = join(base, 'target');
  await ok(run(['restore', 'latest', '--target', target]), 'restore');
  assert.equal(readFileSync(join(target, 'www', 'index.html'), 'utf8'), 'hello from version 1\n');
  assert.equal(statSync(join(target, 'www', 'same.html')).ino, statSync(join(target, 'www', 'index.html')).ino, 'the hard link is restored as one');
  assert.equal(statSync(join(target, 'app', 'app.conf')).mode & 0o777, 0o640);

  const sub = join(base, 'sub');
  await ok(run(['restore', 'latest:/tmp/hf-v1/srv/www/docs', '--target', sub]), 'restore SNAPSHOT:PATH');
  assert.equal(readFileSync(join(sub, 'docs', 'readme.txt'), 'utf8'), 'docs\n');
  assert.equal((await ok(run(['dump', 'latest', '/tmp/hf-v1/etc/app/app.conf']), 'dump')).stdout.toString('utf8'), 'key=value\n');
  await ok(run(['check', '--read-data']), 'check');

  // A new snapshot beside it is version 2; diff compares the two by absolute names.
  const www = join(base, 'tmp', 'hf-v1', 'srv', 'www');
  cpSync(join(target, 'www'), www, { recursive: true });
  const added = summaryOf(await ok(run(['backup', '--json', www]), 'backup'));
  const diff = await run(['diff', String(snapshot!['id']), String(added['snapshot'])]);
  assert.equal(diff.exitCode, 0, diff.stderr);
  assert.ok(lines(diff).includes('- /tmp/hf-v1/etc/app/app.conf'), lines(diff).join('\n'));
  assert.ok(lines(diff).includes(`+ ${www}/index.html`), lines(diff).join('\n'));
});
