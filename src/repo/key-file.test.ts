/**
 * Shows that a key file opens with its password and only with it (HOLDFAST_WRONG_PASSWORD), that
 * its unencrypted fields can be listed without the password, and that malformed, truncated,
 * future-version and hostile files (kdf parameters that would allocate terabytes or spin for
 * hours) are refused with the stable codes before any key derivation, and that a key whose kdf
 * is within the format's limits but costs more than holdfast opens (a planted key) is readable
 * and listed but never derived (HOLDFAST_LIMIT_EXCEEDED). Uses testKdfParameters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateMasterKey } from './master-key.js';
import { createKeyFile, defaultKdfParameters, kdfOpenMemoryKiBMax, kdfOpenWorkKiBMax, keyFileBytesMax, openKeyFile, readKeyFileSummary, testKdfParameters } from './key-file.js';

const context = { path: 'keys/test' };
const password = Buffer.from('correct horse battery staple');
const master = generateMasterKey();
const keyFile = await createKeyFile(master, password, { kdf: testKdfParameters, hostname: 'host', username: 'user' });

function edited(change: (json: Record<string, unknown>) => void): Buffer {
  const json = JSON.parse(keyFile.toString('utf8')) as Record<string, unknown>;
  change(json);
  return Buffer.from(JSON.stringify(json));
}

test('openKeyFile() opens with the right password and returns the master key', async () => {
  assert.deepEqual(await openKeyFile(keyFile, password, context), master);
});

test('openKeyFile() refuses a wrong password with HOLDFAST_WRONG_PASSWORD', async () => {
  await assert.rejects(openKeyFile(keyFile, Buffer.from('wrong'), context), {
    code: 'HOLDFAST_WRONG_PASSWORD',
    message: 'Cannot open key file "keys/test": the password does not open this key',
  });
  await assert.rejects(openKeyFile(keyFile, Buffer.alloc(0), context), { code: 'HOLDFAST_WRONG_PASSWORD' });
});

test('readKeyFileSummary() lists the unencrypted fields', () => {
  const summary = readKeyFileSummary(keyFile);
  assert.deepEqual({ ...summary, created: '' }, {
    version: 1,
    created: '',
    hostname: 'host',
    username: 'user',
    kdf: { name: 'argon2id', memoryKiB: 8192, iterations: 1, parallelism: 1 },
  });
  assert.ok(Math.abs(Date.parse(summary.created) - Date.now()) < 60_000);
});

test('a tampered salt, kdf or data does not open (HOLDFAST_WRONG_PASSWORD)', async () => {
  const salt = Buffer.from(String(JSON.parse(keyFile.toString('utf8')).salt), 'base64');
  salt[0]! ^= 1;
  const tampered = [
    edited((json) => (json.salt = salt.toString('base64'))),
    edited((json) => (json.kdf = { name: 'argon2id', memoryKiB: 8192, iterations: 2, parallelism: 1 })),
    edited((json) => {
      const data = Buffer.from(String(json.data), 'base64');
      data[40]! ^= 0x80;
      json.data = data.toString('base64');
    }),
  ];
  for (const file of tampered) await assert.rejects(openKeyFile(file, password, context), { code: 'HOLDFAST_WRONG_PASSWORD' });
});

test('key files cut short (or empty) are HOLDFAST_FORMAT_TRUNCATED, named by their path', async () => {
  const truncated: [string, Buffer][] = [
    ['half', keyFile.subarray(0, keyFile.length >> 1)],
    ['all but the closing brace', keyFile.subarray(0, keyFile.lastIndexOf('}'))],
    ['empty', Buffer.alloc(0)],
    ['only white space', Buffer.from(' \n')],
  ];
  for (const [what, file] of truncated) {
    assert.throws(() => readKeyFileSummary(file, context), { code: 'HOLDFAST_FORMAT_TRUNCATED', path: context.path }, what);
    await assert.rejects(openKeyFile(file, password, context), { code: 'HOLDFAST_FORMAT_TRUNCATED', path: context.path }, what);
  }
});

test('malformed key files are HOLDFAST_FORMAT_INVALID', async () => {
  const malformed: [string, Buffer][] = [
    ['not JSON', Buffer.from('version: 1')],
    ['garbage', Buffer.from([0x8f, 0x00, 0x67, 0xff])],
    ['a JSON object and more', Buffer.concat([keyFile, Buffer.from('}')])],
    ['an array', Buffer.from('[1]')],
    ['no version', edited((json) => delete json.version)],
    ['a version string', edited((json) => (json.version = '1'))],
    ['no salt', edited((json) => delete json.salt)],
    ['no data', edited((json) => delete json.data)],
    ['no kdf', edited((json) => delete json.kdf)],
    ['another kdf', edited((json) => (json.kdf = { name: 'scrypt', memoryKiB: 8192, iterations: 1, parallelism: 1 }))],
    ['a kdf field as a string', edited((json) => (json.kdf = { name: 'argon2id', memoryKiB: '8192', iterations: 1, parallelism: 1 }))],
    ['a fractional iteration count', edited((json) => (json.kdf = { name: 'argon2id', memoryKiB: 8192, iterations: 1.5, parallelism: 1 }))],
    ['a salt that is a number', edited((json) => (json.salt = 12))],
    ['a salt of 8 bytes', edited((json) => (json.salt = Buffer.alloc(8).toString('base64')))],
    ['a salt that is not base64', edited((json) => (json.salt = '!!!!not base64!!!!!!!!!!'))],
    ['data cut short', edited((json) => (json.data = Buffer.from(String(json.data), 'base64').subarray(0, 100).toString('base64')))],
    ['no hostname', edited((json) => delete json.hostname)],
    ['a created that is not a date', edited((json) => (json.created = 'yesterday'))],
  ];
  for (const [what, file] of malformed) {
    assert.throws(() => readKeyFileSummary(file, context), { code: 'HOLDFAST_FORMAT_INVALID' }, what);
    await assert.rejects(openKeyFile(file, password, context), { code: 'HOLDFAST_FORMAT_INVALID' }, what);
  }
});

test('hostile kdf parameters are refused before any derivation', async () => {
  const hostile = [
    { memoryKiB: 2 ** 40, iterations: 1, parallelism: 1 },
    { memoryKiB: 4 * 1024 * 1024 + 1, iterations: 1, parallelism: 1 },
    { memoryKiB: 1024, iterations: 1, parallelism: 1 },
    { memoryKiB: 8192, iterations: 1e9, parallelism: 1 },
    { memoryKiB: 8192, iterations: 0, parallelism: 1 },
    { memoryKiB: 8192, iterations: 1, parallelism: 0 },
    { memoryKiB: 8192, iterations: 1, parallelism: 255 },
  ];
  for (const kdf of hostile) {
    const started = performance.now();
    await assert.rejects(openKeyFile(edited((json) => (json.kdf = { name: 'argon2id', ...kdf })), password, context), { code: 'HOLDFAST_FORMAT_INVALID' }, JSON.stringify(kdf));
    assert.ok(performance.now() - started < 1000, 'the refusal took a derivation');
    await assert.rejects(createKeyFile(master, password, { kdf, hostname: 'h', username: 'u' }), { code: 'HOLDFAST_FORMAT_INVALID' });
  }
});

test('another version is HOLDFAST_FORMAT_VERSION; an oversized file HOLDFAST_LIMIT_EXCEEDED', async () => {
  const future = edited((json) => {
    json.version = 2;
    delete json.kdf;
  });
  assert.throws(() => readKeyFileSummary(future, context), { code: 'HOLDFAST_FORMAT_VERSION' });
  await assert.rejects(openKeyFile(future, password, context), { code: 'HOLDFAST_FORMAT_VERSION' });
  const huge = edited((json) => (json.padding = 'x'.repeat(keyFileBytesMax)));
  await assert.rejects(openKeyFile(huge, password, context), { code: 'HOLDFAST_LIMIT_EXCEEDED' });
});

test('a key within the format limits but over the opening bound is listed, never derived, and never written', async () => {
  // The bound: four times what init writes, in memory and in work.
  assert.equal(kdfOpenMemoryKiBMax, 4 * defaultKdfParameters.memoryKiB);
  assert.equal(kdfOpenWorkKiBMax, 4 * defaultKdfParameters.memoryKiB * defaultKdfParameters.iterations);
  const costly = [
    { memoryKiB: 4 * 1024 * 1024, iterations: 100, parallelism: 1 },
    { memoryKiB: kdfOpenMemoryKiBMax + 1024, iterations: 1, parallelism: 1 },
    { memoryKiB: defaultKdfParameters.memoryKiB, iterations: 4 * defaultKdfParameters.iterations + 1, parallelism: 1 },
  ];
  for (const kdf of costly) {
    const file = edited((json) => (json.kdf = { name: 'argon2id', ...kdf }));
    assert.deepEqual(readKeyFileSummary(file, context).kdf, { name: 'argon2id', ...kdf });
    const started = performance.now();
    await assert.rejects(openKeyFile(file, password, context), { code: 'HOLDFAST_LIMIT_EXCEEDED', message: /^Cannot open key file "keys\/test": its kdf asks for .* so it was not tried/ }, JSON.stringify(kdf));
    assert.ok(performance.now() - started < 1000, 'the refusal took a derivation');
    await assert.rejects(createKeyFile(master, password, { kdf, hostname: 'h', username: 'u' }), { code: 'HOLDFAST_LIMIT_EXCEEDED' });
  }
  // The heaviest key holdfast opens opens.
  const heaviest = { memoryKiB: defaultKdfParameters.memoryKiB, iterations: 4 * defaultKdfParameters.iterations, parallelism: 1 };
  assert.deepEqual(await openKeyFile(await createKeyFile(master, password, { kdf: heaviest, hostname: 'h', username: 'u' }), password, context), master);
});
