/**
 * What a backup stores, chosen as a restic user chooses it: absolute and case-insensitive exclude
 * patterns, directories marked by CACHEDIR.TAG or a named file, files over a size, paths listed
 * in a file (lines, or NUL-separated from find -print0), and a stream given on stdin.
 *
 * How: a tree made with node:fs is backed up with the real CLI and `ls --json` of the snapshot
 * must hold exactly the expected names (compared as sorted lists); the stdin backup is dumped
 * back and compared byte for byte, and a second one finds the first as its parent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const cacheTag = 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n';

test('exclude options, --files-from and --stdin choose what a backup stores', async (t) => {
  using directory = temporaryDirectory();
  const root = join(directory.path, 'tree');
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: join(directory.path, 'repository'), HOLDFAST_PASSWORD: 'selection', XDG_CACHE_HOME: join(directory.path, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const ok = async (args: string[], stdin?: Uint8Array): Promise<HoldfastRun> => {
    const result = await runHoldfast(args, { env, ...(stdin === undefined ? {} : { stdin }) });
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };
  /** The stored names below this test's directory (ls shows absolute paths), from there on. */
  const stored = async (): Promise<string[]> => {
    const listing = await ok(['ls', '--json', 'latest']);
    const paths = listing.stdout.toString('utf8').split('\n').filter((line) => line !== '').map((line) => String((JSON.parse(line) as { path: string }).path));
    return paths.filter((path) => path.startsWith(`${directory.path}/`)).map((path) => path.slice(directory.path.length + 1)).sort();
  };
  const files: Record<string, string | Buffer> = {
    'keep.txt': 'kept\n',
    'Notes.TMP': 'a temporary file in capitals\n',
    'secret/key.pem': 'private\n',
    'build/cache/CACHEDIR.TAG': cacheTag,
    'build/cache/blob': 'cached\n',
    'build/out.o': 'object\n',
    'fake-cache/CACHEDIR.TAG': 'no signature here\n',
    'fake-cache/data': 'not a cache: the tag has no signature\n',
    'vm/.nobackup': '',
    'vm/disk.img': 'a disk\n',
    'big.bin': Buffer.alloc(300 * 1024, 1),
  };
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), content);
  }
  await ok(['init']);

  await t.test('absolute, case-insensitive, marker and size rules leave out exactly what they name', async () => {
    await ok(['backup', root, '--exclude', join(root, 'secret'), '--iexclude', '*.tmp', '--exclude-caches', '--exclude-if-present', '.nobackup', '--exclude-larger-than', '200K']);
    assert.deepEqual(await stored(), [
      'tree',
      'tree/build',
      'tree/build/cache',
      'tree/build/cache/CACHEDIR.TAG',
      'tree/build/out.o',
      'tree/fake-cache',
      'tree/fake-cache/CACHEDIR.TAG',
      'tree/fake-cache/data',
      'tree/keep.txt',
      'tree/vm',
      'tree/vm/.nobackup',
    ]);
  });

  await t.test('an absolute pattern matches only where it points, not a relative path of the same shape', async () => {
    await ok(['backup', root, '--exclude', '/tree/keep.txt', '--exclude', `${root}/build/*.o`]);
    const names = await stored();
    assert.ok(names.includes('tree/keep.txt'), 'the pattern "/tree/keep.txt" names a file at the root of the file system, not this one');
    assert.ok(!names.includes('tree/build/out.o'));
    assert.ok(names.includes('tree/build/cache/blob'));
  });

  await t.test('--files-from reads paths by line (with comments) and --files-from-raw by NUL', async () => {
    const list = join(directory.path, 'list.txt');
    writeFileSync(list, `# what to keep\n${join(root, 'keep.txt')}\n\n${join(root, 'vm')}\n`);
    await ok(['backup', '--files-from', list]);
    // The directory above the paths is kept too (as an entry of its own), not what else it holds.
    assert.deepEqual(await stored(), ['tree', 'tree/keep.txt', 'tree/vm', 'tree/vm/.nobackup', 'tree/vm/disk.img']);
    const found = spawnSync('find', [join(root, 'secret'), join(root, 'Notes.TMP'), '-maxdepth', '0', '-print0']);
    const raw = join(directory.path, 'list.raw');
    writeFileSync(raw, found.stdout);
    await ok(['backup', '--files-from-raw', raw]);
    assert.deepEqual(await stored(), ['tree', 'tree/Notes.TMP', 'tree/secret', 'tree/secret/key.pem']);
  });

  await t.test('--stdin stores a stream as one file that dump gives back, and the next one has it as parent', async () => {
    const dump = Buffer.concat([Buffer.from('-- a database dump\n'), Buffer.alloc(3 * 1024 * 1024, 7), Buffer.from('-- end\n')]);
    const first = await ok(['backup', '--stdin', '--stdin-filename', 'db.sql', '--json'], dump);
    const summary = JSON.parse(first.stdout.toString('utf8').split('\n').filter((line) => line.includes('"summary"')).at(-1)!) as { snapshot: string; dataBytes: number; files: number };
    assert.equal(summary.dataBytes, dump.length);
    assert.equal(summary.files, 1);
    assert.ok((await ok(['dump', 'latest', '/db.sql'])).stdout.equals(dump));
    const second = await ok(['backup', '--stdin', '--stdin-filename', 'db.sql', '--json'], dump);
    const again = JSON.parse(second.stdout.toString('utf8').split('\n').filter((line) => line.includes('"summary"')).at(-1)!) as { parent: string; rawBytesAdded: number };
    assert.equal(again.parent, summary.snapshot);
    assert.ok(again.rawBytesAdded < 4096, `the same dump again adds no data, only its tree blob (added ${again.rawBytesAdded} bytes)`);
    const refused = await runHoldfast(['backup', '--stdin', root], { env });
    assert.equal(refused.exitCode, 1);
  });

  await ok(['check']);
});
