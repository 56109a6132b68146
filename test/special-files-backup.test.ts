/**
 * A backup never reads what never ends (issue 16 item 11): a FIFO with no writer and a character
 * device that gives bytes forever (/dev/zero's numbers) are stored as what they are, a FIFO and a
 * device, from lstat alone, whether inside a tree or given as the PATH itself; the backup finishes
 * at once (a hang would fail by the test's timeout) and a restore makes them again (as root).
 *
 * How: mkfifo and mknod in a temporary tree; the real CLI backs it up, `ls --json` must show the
 * types with size 0, and (as root) the restored nodes must be a FIFO and device 1:5 again.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireRoot } from '../src/test-support/requirements.js';
import { jsonLines, runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

test('a FIFO without a writer and an endless character device are stored as nodes, never read', async (t) => {
  if (!requireRoot(t)) return;
  using directory = temporaryDirectory();
  const tree = join(directory.path, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a.txt'), 'alpha\n');
  await runToolOrFail('mkfifo', [join(tree, 'pipe')]);
  await runToolOrFail('mknod', [join(tree, 'zero'), 'c', '1', '5']);
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: join(directory.path, 'repository'), HOLDFAST_PASSWORD: 'nodes', XDG_CACHE_HOME: join(directory.path, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const run = await runHoldfast(args, { env });
    assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
    return run;
  };
  await ok(['init']);
  await ok(['backup', tree]);
  const entries = jsonLines(await ok(['ls', '--json', 'latest']));
  const byPath = new Map(entries.map((entry) => [String(entry['path']), entry]));
  assert.equal(byPath.get(`${tree}/pipe`)?.['type'], 'fifo');
  assert.equal(byPath.get(`${tree}/zero`)?.['type'], 'character-device');
  assert.equal(byPath.get(`${tree}/zero`)?.['size'], 0);
  await ok(['backup', join(tree, 'pipe')]);
  await ok(['backup', join(tree, 'zero')]);
  const restoredTree = join(directory.path, 'restored-tree');
  const first = String(jsonLines(await ok(['snapshots', '--json']))[0]!['id']);
  await ok(['restore', first.slice(0, 8), '--target', restoredTree]);
  assert.ok(lstatSync(join(restoredTree, tree, 'pipe')).isFIFO());
  const device = lstatSync(join(restoredTree, tree, 'zero'));
  assert.ok(device.isCharacterDevice());
  assert.equal(device.rdev, lstatSync('/dev/zero').rdev);
});
