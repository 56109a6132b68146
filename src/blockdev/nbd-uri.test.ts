/**
 * parseNbdUri() reads the two URI forms the NBD client uses (Unix socket and TCP, with the
 * default port, IPv6 hosts and percent-encoded export names) and refuses, with HOLDFAST_USAGE
 * naming the URI, every form it cannot serve. Pure function, plain cases.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatNbdAddress, isNbdUri, parseNbdUri } from './nbd-uri.js';

test('parseNbdUri() reads a Unix socket URI, with and without an export name', () => {
  assert.deepEqual(parseNbdUri('nbd+unix:///disk0?socket=/run/holdfast/nbd.sock'), { transport: 'unix', socketPath: '/run/holdfast/nbd.sock', exportName: 'disk0' });
  assert.deepEqual(parseNbdUri('nbd+unix://?socket=/tmp/s'), { transport: 'unix', socketPath: '/tmp/s', exportName: '' });
  assert.deepEqual(parseNbdUri('nbd+unix:///my%20disk%2Fa?socket=/tmp/x%20y'), { transport: 'unix', socketPath: '/tmp/x y', exportName: 'my disk/a' });
});

test('parseNbdUri() reads a TCP URI with the default port, a given port and an IPv6 host', () => {
  assert.deepEqual(parseNbdUri('nbd://backup.example/vol'), { transport: 'tcp', host: 'backup.example', port: 10809, exportName: 'vol' });
  assert.deepEqual(parseNbdUri('nbd://127.0.0.1:10900/'), { transport: 'tcp', host: '127.0.0.1', port: 10900, exportName: '' });
  assert.deepEqual(parseNbdUri('nbd+tcp://[::1]:2000/a'), { transport: 'tcp', host: '::1', port: 2000, exportName: 'a' });
});

test('parseNbdUri() refuses URIs it cannot serve, naming the URI', () => {
  const refused = (uri: string, reason: RegExp): void => {
    assert.throws(
      () => parseNbdUri(uri),
      (error: Error & { code?: string; path?: string }) => error.code === 'HOLDFAST_USAGE' && error.path === uri && reason.test(error.message) && error.message.includes(`"${uri}"`),
      uri,
    );
  };
  refused('nbds://host/x', /TLS/);
  refused('nbd+unix:///x', /socket=PATH/);
  refused('nbd+unix://host/x?socket=/s', /no host/);
  refused('nbd+unix:///x?socket=/s&tls=on', /unknown query parameter "tls"/);
  refused('nbd:///x', /needs a host/);
  refused('nbd://host/x?socket=/s', /takes none/);
  refused('nbd://host:99999/x', /port|well-formed/);
  refused('nbd://user:pw@host/x', /passwords/);
  refused('http://host/x', /scheme "http"/);
  refused('/var/lib/disk.img', /not an NBD URI/);
  refused(`nbd://host/${'a'.repeat(4097)}`, /longer than 4096 bytes/);
});

test('isNbdUri() tells URIs from image paths, and formatNbdAddress() writes them back', () => {
  assert.equal(isNbdUri('nbd://h/e'), true);
  assert.equal(isNbdUri('NBD+UNIX:///e?socket=/s'), true);
  assert.equal(isNbdUri('./nbd://x'), false);
  assert.equal(isNbdUri('/images/disk.raw'), false);
  for (const uri of ['nbd+unix:///disk0?socket=/run/s', 'nbd://h/e', 'nbd://[::1]:2000/a/b']) assert.equal(formatNbdAddress(parseNbdUri(uri)), uri);
});
