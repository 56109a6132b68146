/**
 * The repository verbs a user reads a repository with (snapshots, ls, diff, find, stats,
 * restore of a sub-path, backup --exclude) and the key verbs, as a user runs them.
 *
 * How: a small tree (files, a subdirectory, a symlink, a .log file) made with node:fs in a
 * temporary directory is backed up, then one file is changed, one added and one deleted and it
 * is backed up again. The real CLI runs from the sources (runHoldfast), and each verb's output
 * must agree with what the test did to the tree: exactly these names, these changes, these
 * sizes. The key verbs then change which passwords open the repository; the checker runs last.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const exitWrongPassword = 12;

function lines(run: HoldfastRun): string[] {
  return run.stdout.toString('utf8').split('\n').filter((line) => line !== '');
}

function jsonLines(run: HoldfastRun): Record<string, unknown>[] {
  return lines(run).map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('the repository verbs show what was backed up, and the key verbs change who can open it', async (t) => {
  using directory = temporaryDirectory();
  const root = join(directory.path, 'tree');
  const repository = join(directory.path, 'repository');
  let password = 'first password';
  const run = (args: string[], environment: Record<string, string> = {}): Promise<HoldfastRun> => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(directory.path, 'cache'), ...environment };
    delete env['HOLDFAST_PASSWORD_FILE'];
    if (environment['HOLDFAST_NEW_PASSWORD'] === undefined) delete env['HOLDFAST_NEW_PASSWORD'];
    return runHoldfast(args, { env });
  };
  const ok = async (args: string[], environment: Record<string, string> = {}): Promise<HoldfastRun> => {
    const result = await run(args, environment);
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };

  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'alpha, first version\n');
  writeFileSync(join(root, 'b.txt'), 'beta, to be deleted\n');
  writeFileSync(join(root, 'sub', 'c.txt'), 'gamma, unchanged\n');
  writeFileSync(join(root, 'x.log'), 'a log line\n');
  symlinkSync('a.txt', join(root, 'link'));
  await ok(['init']);
  await ok(['backup', root]);
  writeFileSync(join(root, 'a.txt'), 'alpha, second and longer version\n');
  writeFileSync(join(root, 'sub', 'd.txt'), 'delta, added\n');
  rmSync(join(root, 'b.txt'));
  await ok(['backup', root]);

  const snapshots = jsonLines(await ok(['snapshots', '--json']));
  assert.equal(snapshots.length, 2);
  const [first, second] = snapshots.map((snapshot) => String(snapshot['id']));
  // ls, diff and find show absolute paths: `named` gives them from this test's directory on, and
  // `ours` keeps the lines about what is below it (not the directories above the root).
  const base = `${directory.path}/`;
  const named = (line: string): string => line.replaceAll(base, '');
  const ours = (listed: string[]): string[] => listed.filter((line) => line.includes(base)).map(named);
  const directoriesAbove = directory.path.split('/').length - 1;
  const treeNames = ['tree', 'tree/a.txt', 'tree/link', 'tree/sub', 'tree/sub/c.txt', 'tree/sub/d.txt', 'tree/x.log'];
  const fileSizes = ['a.txt', 'sub/c.txt', 'sub/d.txt', 'x.log'].map((name) => lstatSync(join(root, name)).size);

  await t.test('ls lists exactly the tree, a sub-path, and ls -l shows modes and link targets', async () => {
    const [whole, sub, longRun] = await Promise.all([ok(['ls', 'latest']), ok(['ls', `latest:${root}/sub`]), ok(['ls', '--long', second!.slice(0, 4)])]);
    assert.deepEqual(ours(lines(whole)).sort(), treeNames);
    assert.equal(lines(whole).length, treeNames.length + directoriesAbove, 'each directory above the root once');
    assert.deepEqual(lines(sub), [`${root}/sub`, `${root}/sub/c.txt`, `${root}/sub/d.txt`]);
    const long = ours(lines(longRun));
    assert.match(long.find((line) => line.endsWith(' tree/sub'))!, /^drwx/);
    assert.match(long.find((line) => line.includes(' tree/link'))!, /^lrwxrwxrwx .* tree\/link -> a\.txt$/);
    assert.match(long.find((line) => line.endsWith(' tree/a.txt'))!, new RegExp(`^-rw.* ${fileSizes[0]} \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z tree/a\\.txt$`));
  });

  await t.test('diff shows the added, removed and changed files by short ids', async () => {
    const output = lines(await ok(['diff', first!.slice(0, 4), second!.slice(0, 6)]));
    const summary = output.pop()!;
    assert.deepEqual(output.filter((line) => !line.startsWith('U ')).map(named), ['M tree/a.txt', '- tree/b.txt', '+ tree/sub/d.txt']);
    // A directory's times change with its entries: the root, sub, and those above the root.
    for (const line of output.filter((line) => line.startsWith('U '))) assert.ok(['U tree', 'U tree/sub'].includes(named(line)) || base.startsWith(`${line.slice(2)}/`), line);
    assert.match(summary, /1 added, 1 removed, 1 modified, 0 type changed/);
  });

  await t.test('find finds the .txt files in both snapshots', async () => {
    const found = lines(await ok(['find', '*.txt'])).map((line) => named(line.split('  ').slice(0, 2).join(' ')));
    const expected = [...['a.txt', 'b.txt', 'sub/c.txt'].map((name) => `${first!.slice(0, 8)} tree/${name}`), ...['a.txt', 'sub/c.txt', 'sub/d.txt'].map((name) => `${second!.slice(0, 8)} tree/${name}`)];
    assert.deepEqual(found, expected);
  });

  await t.test('stats counts the files and data bytes of the tree', async () => {
    const [latestRun, allRun] = await Promise.all([ok(['stats', '--json', 'latest']), ok(['stats', '--json'])]);
    const [latest] = jsonLines(latestRun);
    assert.equal(latest!['snapshots'], 1);
    assert.equal(latest!['entries'], treeNames.length + directoriesAbove);
    assert.equal(latest!['files'], fileSizes.length);
    assert.equal(latest!['dataBytes'], fileSizes.reduce((sum, size) => sum + size, 0));
    assert.equal(latest!['uniqueChunkBytes'], latest!['dataBytes'], 'distinct small files are one chunk each');
    const [all] = jsonLines(allRun);
    assert.equal(all!['snapshots'], 2);
    assert.equal(all!['files'], 8);
    assert.ok((all!['blobs'] as number) >= (all!['uniqueChunks'] as number) && (all!['packBytes'] as number) > 0);
  });

  await t.test('an unknown snapshot id fails with the reason', async () => {
    const unknown = ['0000', 'ffff', '1234'].find((id) => !first!.startsWith(id) && !second!.startsWith(id))!;
    const result = await run(['ls', unknown]);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /no snapshot has this id \[HOLDFAST_NO_SNAPSHOT\]/);
  });

  await t.test('backup --exclude leaves the .log file out; restore of a sub-path restores only it', async () => {
    await ok(['backup', root, '--exclude', '*.log']);
    assert.deepEqual(ours(lines(await ok(['ls', 'latest']))).sort(), treeNames.filter((name) => !name.endsWith('.log')));
    const target = join(directory.path, 'restored');
    await ok(['restore', `latest:${root}/sub`, '--target', target]);
    assert.deepEqual(readdirSync(target), ['sub']);
    assert.deepEqual(readdirSync(join(target, 'sub')).sort(), ['c.txt', 'd.txt']);
    assert.equal(readFileSync(join(target, 'sub', 'd.txt'), 'utf8'), 'delta, added\n');
  });

  await t.test('key add, key passwd and key remove change which passwords open the repository', async () => {
    assert.match(lines(await ok(['key', 'add'], { HOLDFAST_NEW_PASSWORD: 'added password' }))[0]!, /^added key [0-9a-f]{8}$/);
    assert.equal(jsonLines(await ok(['snapshots', '--json'], { HOLDFAST_PASSWORD: 'added password' })).length, 3);
    await ok(['key', 'passwd'], { HOLDFAST_NEW_PASSWORD: 'new password' });
    assert.equal((await run(['snapshots'])).exitCode, exitWrongPassword);
    password = 'new password';
    const keys = jsonLines(await ok(['key', 'list', '--json']));
    assert.equal(keys.length, 2, 'the new password opens it; the added key and the new one are left');
    const current = keys.find((key) => key['current'] === true)!;
    const refused = await run(['key', 'remove', String(current['shortId'])]);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /key in use/);
    await ok(['check']);
  });
});
