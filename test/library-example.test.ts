/**
 * The library's example in docs/library.md runs as written: the code block is taken from the
 * document, its `from 'holdfast'` pointed at the sources (tests need no build), and run in a
 * process of its own against a new repository, a small tree and a restore target. Its output must
 * show a first backup of every file, a second that found them unchanged, and a restore of them.
 * The package's public surface is checked too: what api/index.ts exports and nothing internal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import * as publicSurface from '../src/api/index.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

test('the example of docs/library.md backs up, lists, restores, forgets, prunes and checks', () => {
  using directory = temporaryDirectory();
  const document = readFileSync(new URL('../docs/library.md', import.meta.url), 'utf8');
  const example = /```ts\n([\s\S]*?)```/.exec(document)?.[1];
  assert.ok(example !== undefined, 'docs/library.md has a ts example');
  const sources = fileURLToPath(new URL('../src/api/index.ts', import.meta.url));
  const script = join(directory.path, 'example.mts');
  writeFileSync(script, example.replace("from 'holdfast'", `from ${JSON.stringify(sources)}`));
  const source = join(directory.path, 'source');
  mkdirSync(join(source, 'sub'), { recursive: true });
  for (let index = 0; index < 5; index++) writeFileSync(join(source, index % 2 === 0 ? 'sub' : '', `file-${index}.txt`), `file ${index}\n`);
  const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), script], {
    cwd: directory.path,
    encoding: 'utf8',
    env: { ...process.env, BACKUP_REPOSITORY: join(directory.path, 'repository'), BACKUP_PASSWORD: 'example password', BACKUP_SOURCE: source, RESTORE_TARGET: join(directory.path, 'restored') },
    timeout: 240_000,
  });
  assert.equal(run.status, 0, `the example failed: ${run.stderr}`);
  assert.match(run.stdout, /^snapshot [0-9a-f]{8}: 5 files$/m);
  assert.match(run.stdout, /^again: 5 files unchanged since [0-9a-f]{8}$/m);
  assert.match(run.stdout, /^restored 7 entries$/m, 'the root, sub and the 5 files');
  assert.match(run.stdout, /^kept \d+, pruned \d+ packs, 0 problems$/m);
  assert.equal(readFileSync(join(directory.path, 'restored', 'source', 'sub', 'file-0.txt'), 'utf8'), 'file 0\n');
});

test('the package exports the documented surface and none of the machinery', () => {
  assert.deepEqual(Object.keys(publicSurface).sort(), ['Holdfast', 'HoldfastError', 'defaultKdfParameters', 'parseKeepDuration']);
  const internals = ['BufferPool', 'Handle', 'Operation', 'createNodeIo', 'withRepository', 'Repository'];
  for (const name of internals) assert.ok(!(name in publicSurface), `${name} is internal`);
});
