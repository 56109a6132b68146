/**
 * The Restorer's batched path (small files created many at a time on worker threads, in a held
 * directory lent by Io) leaves exactly what its call-by-call path leaves: the same files, modes,
 * owners, xattrs and times, the same refusals, and the same care with names already taken (a
 * file, a symlink leading out of the target, a FIFO, an empty directory).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { emptyEntryHeader, type EntryHeader } from '../format/entry.js';
import { BufferPool } from '../io/buffer-pool.js';
import { createNodeIo } from '../io/node/create-node-io.js';
import { siblingModuleUrl } from '../pool/sibling-module-url.js';
import { WorkerPool } from '../pool/worker-pool.js';
import { OwnerNames } from '../source/owner-names.js';
import type { RestoreBatches } from '../streams/restore-batches.js';
import { Restorer } from '../streams/restorer.js';
import { requireRoot, requireTools } from '../test-support/requirements.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { TraceRecorder } from '../trace/trace-recorder.js';
import { workerRestoreBatches } from './restore-batches.js';

interface Input {
  header: EntryHeader;
  data: Buffer[];
}

function file(path: string, content: string, extra: Partial<EntryHeader> = {}): Input {
  const header = { ...emptyEntryHeader(Buffer.from(path), 'file'), mode: 0o640, uid: 1234, gid: 2345, mtimeNs: 1_234_567_890_123_456_789n, atimeNs: 987_654_321_000_000_001n, sizeBytes: Buffer.byteLength(content), ...extra };
  return { header, data: content === '' ? [] : [Buffer.from(content)] };
}

function inputs(): Input[] {
  const entries: Input[] = [{ header: { ...emptyEntryHeader(Buffer.from('d'), 'directory'), mode: 0o755 }, data: [] }];
  for (let index = 0; index < 70; index++) entries.push(file(`d/f${String(index).padStart(2, '0')}`, `content of ${index}\n`.repeat(index % 5)));
  entries.push(file('d/xattrs', 'with xattrs\n', { xattrs: [{ name: 'user.note', value: Buffer.from('kept') }], mode: 0o4755 }));
  entries.push(file('d/acl', 'with an ACL\n', { aclAccess: [{ tag: 'user-owner', id: null, permissions: 6 }, { tag: 'user', id: 4321, permissions: 4 }, { tag: 'group-owner', id: null, permissions: 4 }, { tag: 'mask', id: null, permissions: 4 }, { tag: 'other', id: null, permissions: 0 }] }));
  const short = file('d/short', 'five!', { sizeBytes: 10 });
  const long = file('d/long', 'far more than promised', { sizeBytes: 3 });
  entries.push(short, long, file('e/g', 'in another directory\n'));
  return entries;
}

/** Where names are taken before the restore: a file, a symlink out of the target, a FIFO, an empty directory. */
function obstacles(target: string, outside: string): void {
  mkdirSync(join(target, 'd'), { recursive: true });
  writeFileSync(join(target, 'd', 'f01'), 'was here before');
  writeFileSync(join(outside, 'victim'), 'must not change');
  symlinkSync(join(outside, 'victim'), join(target, 'd', 'f02'));
  execFileSync('mkfifo', [join(target, 'd', 'f03')]);
  mkdirSync(join(target, 'd', 'f04'));
}

async function restore(target: string, batches: RestoreBatches | undefined): Promise<{ refused: string[]; warnings: string[] }> {
  const io = createNodeIo();
  const pool = new BufferPool({ bufferSizeBytes: 1 << 20, bufferCountMax: 4, label: 'test' });
  const refused: string[] = [];
  const warnings: string[] = [];
  const restorer = new Restorer(io, Buffer.from(target), pool, {
    owners: true,
    numericOwner: true,
    acls: true,
    xattrs: true,
    privilegedXattrs: true,
    ownerNames: await OwnerNames.load(),
    onWarning: (path, message) => warnings.push(`${path}: ${message}`),
    onRefused: (path, error) => refused.push(`${path}: ${(error as { code?: string }).code}`),
    ...(batches === undefined ? {} : { batches }),
  });
  for (const { header, data } of inputs()) {
    await restorer.beginEntry(header);
    for (const piece of data) await restorer.writeData(piece);
    await restorer.endEntry();
  }
  await restorer.finish();
  return { refused, warnings };
}

function describe(root: string, path: string): string {
  const stat = lstatSync(join(root, path), { bigint: true });
  const kind = stat.isFile() ? `file ${readFileSync(join(root, path), 'latin1')}` : stat.isSymbolicLink() ? `link ${readlinkSync(join(root, path))}` : stat.isDirectory() ? 'directory' : 'other';
  let xattrs = '';
  try {
    xattrs = execFileSync('getfattr', ['-h', '-d', '-m', '-', '--absolute-names', join(root, path)], { encoding: 'utf8' }).split('\n').slice(1).sort().join(' ');
  } catch {
    xattrs = 'none';
  }
  return `${kind} mode ${(stat.mode & 0o7777n).toString(8)} owner ${stat.uid}:${stat.gid} mtime ${stat.mtimeNs} atime ${stat.atimeNs} ${xattrs}`;
}

test('small files restored in batches equal those restored one by one, obstacles, refusals and all', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'mkfifo', 'getfattr')) return;
  using work = temporaryDirectory();
  const outside = join(work.path, 'outside');
  mkdirSync(outside);
  const plain = join(work.path, 'plain');
  const batched = join(work.path, 'batched');
  obstacles(plain, outside);
  const one = await restore(plain, undefined);
  obstacles(batched, outside);
  const workers = await WorkerPool.start({ name: 'restore batch workers', workerUrl: siblingModuleUrl(import.meta.url, 'worker-jobs'), workerCount: 2, recorder: new TraceRecorder() });
  let created = 0;
  const real = workerRestoreBatches(createNodeIo(), workers);
  const counting: RestoreBatches = {
    fileBytesMax: real.fileBytesMax,
    createFiles: async (directory, files) => {
      const outcomes = await real.createFiles(directory, files);
      created += outcomes?.filter((outcome) => outcome.kind === 'created').length ?? 0;
      return outcomes;
    },
  };
  let other;
  try {
    other = await restore(batched, counting);
  } finally {
    await workers.close();
  }
  assert.deepEqual(other.refused, one.refused);
  assert.deepEqual(one.refused.sort(), ['d/long: HOLDFAST_SIZE_MISMATCH', 'd/short: HOLDFAST_SIZE_MISMATCH']);
  assert.deepEqual(other.warnings.map((warning) => warning.replace(batched, '')), one.warnings.map((warning) => warning.replace(plain, '')));
  const names = inputs()
    .map(({ header }) => header.path.toString())
    .filter((name) => name !== 'd/short' && name !== 'd/long');
  for (const name of names) assert.equal(describe(batched, name), describe(plain, name), name);
  assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'must not change', 'the symlink was not followed');
  assert.equal(describe(batched, 'd/f02').startsWith('file content of 2'), true, 'the symlink was replaced by the file');
  assert.match(describe(batched, 'd/acl'), /system.posix_acl_access/);
  assert.equal(lstatSync(join(batched, 'd', 'xattrs')).mode & 0o7777, 0o4755, 'setuid kept after the owner was set');
  assert.ok(created >= 66, `most files were made in batches (${created})`);
});
