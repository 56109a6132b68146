/**
 * What holdfast makes for itself is its owner's only whatever the umask: the unix socket of
 * `volume serve` (0600, or --socket-mode), and --trace files (0600). A path that is not a socket
 * is never replaced by one, and a socket in a directory every user may write gets a warning.
 *
 * How: this test process sets umask 000, which the CLI processes it starts inherit (as from
 * `sh -c 'umask 000; exec holdfast ...'`); the modes are read with stat.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runHoldfast } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';
import { serveVolume } from '../src/test-support/volume-server.js';

process.umask(0o000);

async function makeImage(path: string): Promise<void> {
  const file = await open(path, 'wx');
  try {
    await file.truncate(4 * 1024 * 1024);
  } finally {
    await file.close();
  }
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}

test('under umask 000 the socket of volume serve is 0600, or what --socket-mode says', async () => {
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image);
  const server = await serveVolume(image);
  try {
    assert.equal(modeOf(server.socketPath).toString(8), '600');
  } finally {
    await server.stop();
  }
  const shared = await serveVolume(image, { extraArgs: ['--socket-mode', '0660'] });
  try {
    assert.equal(modeOf(shared.socketPath).toString(8), '660');
  } finally {
    await shared.stop();
  }
});

test('a regular file where the socket should be is refused with a clear error and left as it was', async () => {
  using directory = temporaryDirectory();
  const image = join(directory.path, 'disk.img');
  await makeImage(image);
  const socketPath = join(directory.path, 'precious.txt');
  writeFileSync(socketPath, 'keep me\n', { mode: 0o644 });
  const run = await runHoldfast(['volume', 'serve', image, '--socket', socketPath]);
  assert.notEqual(run.exitCode, 0);
  assert.match(run.stderr, /precious\.txt.*not a socket/);
  assert.equal(readFileSync(socketPath, 'utf8'), 'keep me\n');
  assert.ok(statSync(socketPath).isFile());
});

test('a socket in a directory every user may write (mode 1777, as /tmp) gets a warning', async () => {
  using directory = temporaryDirectory();
  const shared = join(directory.path, 'tmp');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const image = join(shared, 'disk.img');
  await makeImage(image);
  const server = await serveVolume(image);
  try {
    const warning = server.lines.find((line) => line.event?.['type'] === 'warning');
    assert.ok(warning, `no warning among: ${server.lines.map((line) => line.text).join('\n')}`);
    assert.match(String(warning.event?.['message']), /writable by every user/);
  } finally {
    await server.stop();
  }
  using privateDirectory = temporaryDirectory();
  const quiet = join(privateDirectory.path, 'disk.img');
  await makeImage(quiet);
  const calm = await serveVolume(quiet);
  try {
    assert.equal(calm.lines.find((line) => line.event?.['type'] === 'warning'), undefined, 'a private directory gets no warning');
  } finally {
    await calm.stop();
  }
});

test('under umask 000 a --trace file is 0600', async () => {
  using directory = temporaryDirectory();
  const tracePath = join(directory.path, 'trace.json');
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_'))), HOLDFAST_PASSWORD: 'umask test' };
  const run = await runHoldfast(['init', '--repo', join(directory.path, 'repository'), '--trace', tracePath], { env });
  assert.equal(run.exitCode, 0, run.stderr);
  assert.equal(modeOf(tracePath).toString(8), '600');
});
