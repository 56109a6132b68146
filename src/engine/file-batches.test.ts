/**
 * The walker's batched path (names stat-ed and small files read on worker threads, with blocking
 * calls) gives exactly what its call-by-call path through Io gives, on the hard-case tree; and a
 * file changed between its lstat and its batch is reported or read afresh, never stored torn.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EntryHeader } from '../format/entry.js';
import { BufferPool } from '../io/buffer-pool.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import { siblingModuleUrl } from '../pool/sibling-module-url.js';
import { WorkerPool } from '../pool/worker-pool.js';
import { scanStatsMax, type FileBatches } from '../source/file-batches.js';
import { OwnerNames } from '../source/owner-names.js';
import { walkTrees, type WalkOptions } from '../source/tree-walker.js';
import { buildHardCaseTree } from '../test-support/hard-case-tree.js';
import { mountLoopFilesystem } from '../test-support/loop-filesystem.js';
import { requireRoot, requireTools } from '../test-support/requirements.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { TraceRecorder } from '../trace/trace-recorder.js';
import { workerFileBatches } from './file-batches.js';

interface Walked {
  header: EntryHeader;
  data: Buffer;
}

async function walk(root: string, options: Partial<WalkOptions>): Promise<{ entries: Walked[]; problems: string[] }> {
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: 1 << 20, bufferCountMax: 8, label: 'test' });
  const problems: string[] = [];
  const entries: Walked[] = [];
  const walkOptions: WalkOptions = { ownerNames: await OwnerNames.load(), pool, onProblem: (path, error) => problems.push(`${path}: ${(error as { code?: string }).code}`), ...options };
  for await (const entry of walkTrees(io, [root], walkOptions)) {
    const pieces: Buffer[] = [];
    for await (const piece of entry.data()) pieces.push(Buffer.from(piece));
    entries.push({ header: entry.header, data: Buffer.concat(pieces) });
  }
  return { entries, problems };
}

async function startWorkers(recorder = new TraceRecorder()): Promise<WorkerPool> {
  return WorkerPool.start({ name: 'file batch workers', workerUrl: siblingModuleUrl(import.meta.url, 'worker-jobs'), workerCount: 2, recorder });
}

/** FileBatches that count what became of each file sent to read(). */
function counting(batches: FileBatches): { batches: FileBatches; outcomes: Map<string, number> } {
  const outcomes = new Map<string, number>();
  return {
    outcomes,
    batches: {
      fileBytesMax: batches.fileBytesMax,
      scan: (directory) => batches.scan(directory),
      lstat: (directory, names) => batches.lstat(directory, names),
      read: async (files) => {
        const read = await batches.read(files);
        for (const outcome of read) outcomes.set(outcome.kind, (outcomes.get(outcome.kind) ?? 0) + 1);
        return read;
      },
    },
  };
}

test('the batched walk of the hard-case tree equals the call-by-call walk, entry by entry and byte by byte', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'python3', 'mkfs.ext4', 'setfattr', 'setfacl')) return;
  await using filesystem = await mountLoopFilesystem('ext4', 64);
  const tree = join(filesystem.mountPoint, 'tree');
  const built = await buildHardCaseTree(tree);
  assert.deepEqual(built.skipped, []);
  // Enough small files for full batches, and one above the batched size.
  mkdirSync(join(tree, 'many'));
  for (let index = 0; index < 300; index++) writeFileSync(join(tree, 'many', `f${index}`), `file ${index} `.repeat(index));
  execFileSync('setfattr', ['-n', 'user.note', '-v', 'kept', join(tree, 'many', 'f7')]);
  execFileSync('setfacl', ['-m', 'u:1234:r', join(tree, 'many', 'f8')]);
  writeFileSync(join(tree, 'many', 'large'), Buffer.alloc(300 * 1024, 7));
  // More names than one scan stats: they come by lstat batches instead.
  mkdirSync(join(tree, 'crowded'));
  for (let index = 0; index <= scanStatsMax; index++) writeFileSync(join(tree, 'crowded', `n${index}`), index % 7 === 0 ? `${index}` : '');
  mkdirSync(join(tree, 'crowded', 'zz-subdirectory'));

  const workers = await startWorkers();
  try {
    const plain = await walk(tree, {});
    const counted = counting(workerFileBatches(workers));
    const batched = await walk(tree, { batches: counted.batches });
    assert.deepEqual(batched.problems, plain.problems);
    assert.equal(batched.entries.length, plain.entries.length);
    assert.ok(plain.entries.length > 300 + scanStatsMax);
    for (const [index, entry] of plain.entries.entries()) {
      const other = batched.entries[index]!;
      // The first walk's reads moved the atime of what it read (relatime): all else is equal.
      assert.deepEqual({ ...other.header, atimeNs: 0n }, { ...entry.header, atimeNs: 0n }, `the header of ${entry.header.path.toString('latin1')}`);
      assert.ok(other.data.equals(entry.data), `the data of ${entry.header.path.toString('latin1')}`);
    }
    const withAcl = batched.entries.find((entry) => entry.header.path.toString() === 'tree/many/f8')!;
    assert.ok(withAcl.header.aclAccess?.some((acl) => acl.id === 1234), 'the ACL read in a batch');
    assert.ok((counted.outcomes.get('read') ?? 0) >= 300, 'the small files were read in batches');
  } finally {
    await workers.close();
  }
});

test('a file replaced, removed, turned into a FIFO or grown after its lstat is reported or read afresh, never stored torn', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'mkfifo')) return;
  using work = temporaryDirectory();
  const tree = join(work.path, 'tree');
  mkdirSync(tree);
  for (let index = 0; index < 40; index++) writeFileSync(join(tree, `f${String(index).padStart(2, '0')}`), `original ${index}\n`);
  writeFileSync(join(work.path, 'other'), 'another file\n');
  // The walker asks exclude() of each name right after its lstat and before its batch is read.
  const changes: Record<string, () => void> = {
    'tree/f03': () => renameSync(join(work.path, 'other'), join(tree, 'f03')),
    'tree/f10': () => unlinkSync(join(tree, 'f10')),
    'tree/f17': () => {
      unlinkSync(join(tree, 'f17'));
      execFileSync('mkfifo', [join(tree, 'f17')]);
    },
    'tree/f25': () => appendFileSync(join(tree, 'f25'), 'and more, written after the lstat\n'),
  };
  // Once each: a file sent back to the call-by-call path is judged again from a new lstat.
  const exclude = (name: Buffer): boolean => {
    const change = changes[name.toString()];
    delete changes[name.toString()];
    change?.();
    return false;
  };
  const workers = await startWorkers();
  try {
    const counted = counting(workerFileBatches(workers));
    const { entries, problems } = await walk(tree, { batches: counted.batches, exclude });
    assert.deepEqual(problems.sort(), [`${join(tree, 'f03')}: HOLDFAST_SIZE_MISMATCH`, `${join(tree, 'f10')}: ENOENT`, `${join(tree, 'f17')}: HOLDFAST_SIZE_MISMATCH`]);
    const names = entries.map((entry) => entry.header.path.toString());
    assert.equal(names.length, 1 + 40 - 3);
    assert.ok(!names.includes('tree/f03') && !names.includes('tree/f10') && !names.includes('tree/f17'));
    const grown = entries.find((entry) => entry.header.path.toString() === 'tree/f25')!;
    assert.equal(grown.data.toString(), 'original 25\nand more, written after the lstat\n');
    assert.equal(grown.header.sizeBytes, grown.data.length);
    for (const entry of entries.filter((each) => each.header.type === 'file' && each !== grown)) {
      assert.equal(entry.data.toString(), `original ${Number(entry.header.path.toString().slice(-2))}\n`);
    }
    assert.equal(counted.outcomes.get('elsewhere'), 1, 'the grown file went back to the call-by-call path');
  } finally {
    await workers.close();
  }
});
