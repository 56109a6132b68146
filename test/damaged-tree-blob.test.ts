/**
 * A damaged tree blob costs only the entries it holds (issue 16 item 7): every file of the other
 * tree blobs restores with its exact bytes, nothing is refused (no "EEXIST" for a directory the
 * damaged blob would have made), the damaged blob is named, and the exit code is 3.
 *
 * How: the real CLI backs up 20 directories of 60 small files (about ten tree blobs). `ls --json`
 * gives the entries in walk order; `cat snapshot` and `cat index` say where the fourth tree blob
 * lies in its pack, and one byte in its middle is flipped. The files that do not come back must
 * then be exactly one unbroken run of the walk order (the entries of one blob), and every file
 * that comes back must hold what was written.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { jsonLines, runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const exitPartial = 3;

test('a damaged tree blob costs only its own entries: every other file restores exactly and nothing is refused', async () => {
  using directory = temporaryDirectory();
  const source = join(directory.path, 'src');
  const content = (d: number, f: number): string => `file ${d} ${f}\n`.repeat(3);
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(source, `d${String(d).padStart(2, '0')}`, 'inner'), { recursive: true });
    for (let f = 0; f < 60; f++) writeFileSync(join(source, `d${String(d).padStart(2, '0')}`, 'inner', `f${String(f).padStart(3, '0')}.txt`), content(d, f));
  }
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: join(directory.path, 'repository'), HOLDFAST_PASSWORD: 'tree blob', XDG_CACHE_HOME: join(directory.path, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const run = await runHoldfast(args, { env });
    assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
    return run;
  };
  await ok(['init']);
  await ok(['backup', source]);
  const walkOrder = jsonLines(await ok(['ls', '--json', 'latest'])).filter((entry) => entry['type'] === 'file').map((entry) => String(entry['path']));
  const snapshot = JSON.parse((await ok(['cat', 'snapshot', 'latest'])).stdout.toString('utf8')) as { trees: string[] };
  assert.ok(snapshot.trees.length >= 5, `several tree blobs (${snapshot.trees.length})`);
  const damagedTree = snapshot.trees[3]!;
  // One backup wrote one index file; it places every blob.
  const indexFile = readdirSync(join(String(env['HOLDFAST_REPOSITORY']), 'index'))[0]!;
  const index = JSON.parse((await ok(['cat', 'index', indexFile.slice(0, 8)])).stdout.toString('utf8')) as { packs: { id: string; blobs: { id: string; offsetBytes: number; storedBytes: number }[] }[] };
  const pack = index.packs.find((candidate) => candidate.blobs.some((blob) => blob.id === damagedTree))!;
  const blob = pack.blobs.find((candidate) => candidate.id === damagedTree)!;
  const packPath = join(String(env['HOLDFAST_REPOSITORY']), 'data', pack.id.slice(0, 2), pack.id);
  const bytes = readFileSync(packPath);
  bytes[blob.offsetBytes + Math.floor(blob.storedBytes / 2)]! ^= 0xff;
  writeFileSync(packPath, bytes);

  const target = join(directory.path, 'restored');
  const run = await runHoldfast(['restore', 'latest', '--target', target], { env });
  assert.equal(run.exitCode, exitPartial, run.stderr);
  assert.match(run.stderr, new RegExp(`tree ${damagedTree.slice(0, 16)} cannot be read`));
  assert.doesNotMatch(run.stderr, /refused|EEXIST/, 'no intact entry is refused');
  const restored = walkOrder.map((path) => existsSync(join(target, path)));
  const first = restored.indexOf(false);
  const last = restored.lastIndexOf(false);
  assert.ok(first > 0 && last < walkOrder.length - 1, `the files lost are inside the walk, not all of it (${first}..${last} of ${walkOrder.length})`);
  assert.ok(restored.slice(first, last + 1).every((present) => !present), 'the files lost are one unbroken run: the entries of the damaged blob alone');
  for (const [position, path] of walkOrder.entries()) {
    if (!restored[position]) continue;
    const [d, f] = /d(\d+)\/inner\/f(\d+)\.txt$/.exec(path)!.slice(1).map(Number) as [number, number];
    assert.equal(readFileSync(join(target, path), 'utf8'), content(d, f), path);
  }
});
