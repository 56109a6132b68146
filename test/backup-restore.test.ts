/**
 * The main job, as a user runs it: `holdfast backup` into an encrypted repository and `holdfast
 * restore` back give the hard-case tree with zero differences, the first time and after an
 * incremental backup of a changed tree; `check --read-data` finds a flipped byte in a pack and
 * names the snapshots and files it damages; a wrong password exits 12; and a new user with
 * nothing configured gets a working default repository and is told where it and its key are.
 *
 * How: as root, on a loop-mounted ext4, buildHardCaseTree() makes the tree of every hard case
 * (see test/export-import.test.ts). The CLI runs from the sources in its own process.
 * compareTrees() reads source and result with Python, sharing no code with holdfast.
 */
import assert from 'node:assert/strict';
import { appendFile, chmod, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareTrees } from '../src/test-support/compare-trees.js';
import { buildHardCaseTree } from '../src/test-support/hard-case-tree.js';
import { mountLoopFilesystem } from '../src/test-support/loop-filesystem.js';
import { requireRoot, requireTools } from '../src/test-support/requirements.js';
import { type HoldfastRun, jsonLines, runHoldfast, summaryOf } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const filesystemSizeMiB = 768;
const password = 'correct horse battery staple';

function environment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, ...extra };
}

async function holdfastOk(args: string[], env: NodeJS.ProcessEnv): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env });
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run;
}

async function assertSameTree(source: string, target: string, what: string): Promise<void> {
  const differences = await compareTrees(source, target);
  assert.deepEqual(differences, [], `${what}: ${differences.length} differences`);
}

async function packFiles(repository: string): Promise<string[]> {
  const found: string[] = [];
  for (const prefix of await readdir(join(repository, 'data'))) {
    for (const name of await readdir(join(repository, 'data', prefix))) found.push(join(repository, 'data', prefix, name));
  }
  return found.sort();
}

async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0x10;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

test('backup and restore keep the hard-case tree exactly, first and incremental; check finds damage', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'python3', 'mkfs.ext4', 'setfattr')) return;
  await using filesystem = await mountLoopFilesystem('ext4', filesystemSizeMiB);
  const work = filesystem.mountPoint;
  const tree = join(work, 'source', 'tree');
  const built = await buildHardCaseTree(tree, { withSocket: true });
  assert.deepEqual(built.skipped, [], 'every hard case was made');
  const repository = join(work, 'repository');
  const env = environment({ HOLDFAST_PASSWORD: password });
  await holdfastOk(['init', '--repo', repository], env);

  const first = summaryOf(await holdfastOk(['backup', '--repo', repository, tree, '--json'], env));
  const firstId = String(first['snapshot']);
  assert.equal(first['filesUnchanged'], 0);
  assert.equal(first['problems'], 0);

  await t.test('the first snapshot restores with zero differences', async () => {
    await holdfastOk(['restore', 'latest', '--repo', repository, '--target', join(work, 'restore-1'), '--verify'], env);
    await assertSameTree(tree, join(work, 'restore-1', tree), 'first restore');
  });

  await t.test('after changing some files, the incremental backup reads only them and restores exactly', async () => {
    const changed = ['files/size-0000511', 'files/text.txt', 'files/size-0004097'];
    await appendFile(join(tree, changed[0]!), 'appended');
    await writeFile(join(tree, changed[1]!), 'rewritten\n');
    await runToolOrFail('setfattr', ['-n', 'user.changed', '-v', 'yes', join(tree, changed[2]!)]);
    await chmod(join(tree, 'files', 'size-0000512'), 0o600);
    changed.push('files/size-0000512');
    const second = summaryOf(await holdfastOk(['backup', '--repo', repository, tree, '--json'], env));
    assert.equal(second['parent'], firstId, 'the first snapshot is the parent');
    assert.equal(second['filesUnchanged'], Number(second['files']) - changed.length, `only the ${changed.length} changed files are read again`);
    assert.ok(Number(second['rawBytesAdded']) < 1024 * 1024, `little new data is stored (${second['rawBytesAdded']} bytes)`);
    await holdfastOk(['restore', 'latest', '--repo', repository, '--target', join(work, 'restore-2'), '--verify'], env);
    await assertSameTree(tree, join(work, 'restore-2', tree), 'incremental restore');
    const older = await holdfastOk(['restore', firstId.slice(0, 8), '--repo', repository, '--target', join(work, 'restore-old')], env);
    assert.equal(older.exitCode, 0);
    assert.notEqual(await readFile(join(work, 'restore-old', tree, 'files', 'text.txt'), 'utf8'), 'rewritten\n', 'the first snapshot keeps the old content');
  });

  await t.test('check --read-data passes on the intact repository', async () => {
    const check = summaryOf(await holdfastOk(['check', '--repo', repository, '--read-data', '--json'], env));
    assert.equal(check['problems'], 0);
    assert.ok(Number(check['blobsRead']) > 0);
  });

  await t.test('check --read-data finds a flipped byte in each pack and names the damaged snapshots and files', async () => {
    const packs = await packFiles(repository);
    assert.ok(packs.length >= 1);
    for (const pack of packs) {
      const offset = Math.floor((await stat(pack)).size / 3);
      await flipByte(pack, offset);
      const run = await runHoldfast(['check', '--repo', repository, '--read-data', '--json'], { env });
      await flipByte(pack, offset);
      assert.equal(run.exitCode, 1, `check must fail for a flipped byte in ${pack}`);
      const summary = summaryOf(run);
      const problems = jsonLines(run).filter((line) => line['type'] === 'refused');
      assert.ok(problems.some((line) => String(line['path']).startsWith('pack ')), 'the pack is named');
      const damagedFiles = summary['damagedFiles'] as { snapshotId: string; path: string }[];
      if (damagedFiles.length === 0) {
        // The byte fell in the pack's header: then the pack is named, and nothing else is lost.
        assert.ok(problems.some((line) => String(line['message']).includes('header') || String(line['message']).includes('hash')), JSON.stringify(problems));
        continue;
      }
      for (const file of damagedFiles) {
        assert.ok((summary['damagedSnapshots'] as string[]).includes(file.snapshotId));
        assert.ok(file.path.startsWith(`${tree}/`), `a damaged file is named by its absolute path: ${file.path}`);
      }
    }
    const clean = summaryOf(await holdfastOk(['check', '--repo', repository, '--read-data', '--json'], env));
    assert.equal(clean['problems'], 0, 'the repository is whole again once the byte is back');
  });

  await t.test('a wrong password exits 12 with a clear message', async () => {
    const run = await runHoldfast(['snapshots', '--repo', repository], { env: environment({ HOLDFAST_PASSWORD: 'wrong' }) });
    assert.equal(run.exitCode, 12);
    assert.match(run.stderr, /password opens none of its 1 key/);
  });

  await t.test('--trace writes a Chrome trace with one event per sealing job', async () => {
    await appendFile(join(tree, 'files', 'size-0000001'), 'x');
    const tracePath = join(work, 'trace.json');
    await holdfastOk(['backup', '--repo', repository, tree, '--trace', tracePath], env);
    const events = JSON.parse(await readFile(tracePath, 'utf8')) as { name: string; ph: string; tid: number; args?: Record<string, unknown> }[];
    // A small chunk is sealed in a batch with others (blob-saver.ts): a "sealBatch" job.
    const seals = events.filter((event) => event.ph === 'X' && (event.name === 'seal' || event.name === 'sealBatch'));
    assert.ok(seals.length >= 1, 'the new chunk was sealed by a traced job');
    assert.ok(seals.every((event) => event.tid !== 1), 'on a worker row');
  });
});

test('a new user runs "holdfast backup DIR" with nothing configured: a default repository, and where it is', async (t) => {
  using home = temporaryDirectory();
  const source = join(home.path, 'documents');
  await runToolOrFail('mkdir', ['-p', join(source, 'notes')]);
  await writeFile(join(source, 'notes', 'todo.txt'), 'buy milk\n');
  const env = environment({ HOME: home.path });
  const first = await holdfastOk(['backup', source], env);
  const repositoryPath = join(home.path, '.local', 'share', 'holdfast', 'repository');
  const keyPath = join(home.path, '.local', 'share', 'holdfast', 'repository.key');
  assert.ok(first.stderr.includes(repositoryPath), `it says where the repository is: ${first.stderr}`);
  assert.ok(first.stderr.includes(keyPath), 'and where the key file is');
  assert.equal((await stat(keyPath)).mode & 0o777, 0o600, 'the key file is for its owner only');
  const second = await holdfastOk(['backup', source], env);
  assert.ok(!second.stderr.includes(keyPath), 'it says so once, not on every backup');
  const listed = jsonLines(await holdfastOk(['snapshots', '--json'], env));
  assert.equal(listed.length, 2);
  await holdfastOk(['restore', 'latest', '--target', join(home.path, 'back')], env);
  assert.equal(await readFile(join(home.path, 'back', source, 'notes', 'todo.txt'), 'utf8'), 'buy milk\n', 'a whole snapshot restores by absolute path');
  const elsewhere = await runHoldfast(['snapshots', '--repo', join(home.path, 'nothing-here')], { env: environment({ HOME: home.path, HOLDFAST_PASSWORD: 'x' }) });
  assert.equal(elsewhere.exitCode, 10, 'no repository exits 10');
  t.diagnostic(first.stderr.trim());
});
