/**
 * The NBD codecs (option-codec.ts, transmission-codec.ts) against golden bytes written out by hand
 * from the layouts of the NBD protocol document (doc/proto.md: option replies, NBD_INFO_*, the
 * NBD_OPT_EXPORT_NAME reply, the request header, simple replies and structured reply chunks), so
 * a field at the wrong offset, width or byte order fails here and not only against a real client.
 * Option payload decoders must refuse truncated, overlong and oversized payloads with an
 * NbdOptionError carrying the reply type the server sends (ERR_INVALID, ERR_TOO_BIG). Last,
 * matchContexts() (blockdev/nbd-negotiation.ts): namespace wildcards in LIST, every context for a
 * LIST without queries, exact names only in SET.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeGo, decodeMetaContext, matchContexts, encodeExportNameReply, encodeInfoBlockSize, encodeInfoExport, encodeInfoText, encodeMetaContext, encodeOptionReply, encodeServerEntry, NbdOptionError } from './option-codec.js';
import { info, option, reply, transmissionFlag } from './protocol.js';
import { decodeChunkHeader, decodeRequest, encodeBlockStatusChunk, encodeChunkHeader, encodeDataChunkHeader, encodeErrorChunk, encodeHoleChunk, encodeRequest, encodeSimpleReply, mergeExtents } from './transmission-codec.js';

/** Hex with spaces between fields, as the layouts are read. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function ascii(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

const cookie = 0x0102030405060708n;
const cookieHex = '0102030405060708';

test('encodeOptionReply() writes magic, option, reply type and length, then the data', () => {
  // u64 0x3e889045565a9 | u32 option | u32 reply type | u32 length | data
  assert.deepEqual(encodeOptionReply(option.go, reply.ack), hex('0003e889045565a9 00000007 00000001 00000000'));
  assert.deepEqual(encodeOptionReply(option.list, reply.server, encodeServerEntry('disk', 'a volume')), hex(`0003e889045565a9 00000003 00000002 00000010 00000004 ${ascii('disk')} ${ascii('a volume')}`));
  assert.deepEqual(encodeOptionReply(0x48460001, reply.errorUnsupported, Buffer.from('no')), hex(`0003e889045565a9 48460001 80000001 00000002 ${ascii('no')}`));
  assert.deepEqual(encodeOptionReply(option.setMetaContext, reply.metaContext, encodeMetaContext(2, 'qemu:dirty-bitmap:holdfast')), hex(`0003e889045565a9 0000000a 00000004 0000001e 00000002 ${ascii('qemu:dirty-bitmap:holdfast')}`));
});

test('encodeInfoExport() and the other NBD_INFO replies follow the protocol layouts', () => {
  const flags = transmissionFlag.hasFlags | transmissionFlag.sendFlush | transmissionFlag.sendFua | transmissionFlag.canMultiConn | transmissionFlag.sendCache;
  assert.equal(flags, 0x050d);
  // u16 NBD_INFO_EXPORT (0) | u64 size | u16 transmission flags
  assert.deepEqual(encodeInfoExport(0x1_0000_0200, flags), hex('0000 0000000100000200 050d'));
  // u16 NBD_INFO_NAME (1) | name;  u16 NBD_INFO_DESCRIPTION (2) | text
  assert.deepEqual(encodeInfoText(info.name, 'vol'), hex(`0001 ${ascii('vol')}`));
  assert.deepEqual(encodeInfoText(info.description, 'd'), hex(`0002 ${ascii('d')}`));
  // u16 NBD_INFO_BLOCK_SIZE (3) | u32 minimum | u32 preferred | u32 maximum
  assert.deepEqual(encodeInfoBlockSize(1, 4096, 32 * 1024 * 1024), hex('0003 00000001 00001000 02000000'));
});

test('encodeExportNameReply() has 124 zero bytes after size and flags unless NO_ZEROES was agreed', () => {
  const withZeroes = encodeExportNameReply(0x12345678_9a, 0x0003, false);
  assert.deepEqual(withZeroes, Buffer.concat([hex('000000123456789a 0003'), Buffer.alloc(124)]));
  assert.equal(withZeroes.length, 134);
  assert.deepEqual(encodeExportNameReply(0x12345678_9a, 0x0003, true), hex('000000123456789a 0003'));
});

test('a request header decodes from its golden bytes and encodes back to them', () => {
  // u32 0x25609513 | u16 flags | u16 type | u64 cookie | u64 offset | u32 length
  const bytes = hex(`25609513 0001 0001 ${cookieHex} 0000000200010000 00001000`);
  const request = { flags: 1, type: 1, cookie, offset: 0x2_0001_0000n, lengthBytes: 0x1000 };
  assert.deepEqual(decodeRequest(bytes), request);
  assert.deepEqual(encodeRequest(request), bytes);
});

test('decodeRequest() returns null for a wrong magic or a header of the wrong length', () => {
  assert.equal(decodeRequest(hex(`25609514 0000 0000 ${cookieHex} 0000000000000000 00000000`)), null);
  assert.equal(decodeRequest(hex(`25609513 0000 0000 ${cookieHex} 0000000000000000 000000`)), null);
});

test('encodeSimpleReply() writes magic, error and cookie', () => {
  // u32 0x67446698 | u32 error | u64 cookie
  assert.deepEqual(encodeSimpleReply(cookie, 0), hex(`67446698 00000000 ${cookieHex}`));
  assert.deepEqual(encodeSimpleReply(cookie, 5), hex(`67446698 00000005 ${cookieHex}`));
});

test('structured chunks: the header, OFFSET_DATA, OFFSET_HOLE, ERROR and BLOCK_STATUS follow the protocol layouts', () => {
  // u32 0x668e33ef | u16 flags | u16 type | u64 cookie | u32 payload length
  assert.deepEqual(encodeChunkHeader(cookie, 1, 0, 0), hex(`668e33ef 0001 0000 ${cookieHex} 00000000`));
  // OFFSET_DATA (1): payload u64 offset | data; the header counts the offset's 8 bytes.
  assert.deepEqual(encodeDataChunkHeader(cookie, 0, 0x2000, 0x200), hex(`668e33ef 0000 0001 ${cookieHex} 00000208 0000000000002000`));
  // OFFSET_HOLE (2): u64 offset | u32 hole size
  assert.deepEqual(encodeHoleChunk(cookie, 1, 0x3000, 0x1000), hex(`668e33ef 0001 0002 ${cookieHex} 0000000c 0000000000003000 00001000`));
  // ERROR (0x8001), always with DONE: u32 error | u16 message length | message
  assert.deepEqual(encodeErrorChunk(cookie, 5, 'bad'), hex(`668e33ef 0001 8001 ${cookieHex} 00000009 00000005 0003 ${ascii('bad')}`));
  // BLOCK_STATUS (5): u32 context id | n x (u32 length | u32 flags)
  const status = encodeBlockStatusChunk(cookie, 0, 2, [
    { lengthBytes: 0x10000, flags: 3 },
    { lengthBytes: 0x20000, flags: 0 },
  ]);
  assert.deepEqual(status, hex(`668e33ef 0000 0005 ${cookieHex} 00000014 00000002 00010000 00000003 00020000 00000000`));
  assert.deepEqual(decodeChunkHeader(status), { flags: 0, type: 5, cookie, payloadBytes: 0x14 });
  assert.equal(decodeChunkHeader(encodeSimpleReply(cookie, 0)), null);
});

test('mergeExtents() joins neighbours with equal flags and drops empty extents', () => {
  const merged = mergeExtents([
    { lengthBytes: 0, flags: 1 },
    { lengthBytes: 10, flags: 0 },
    { lengthBytes: 5, flags: 0 },
    { lengthBytes: 7, flags: 1 },
  ]);
  assert.deepEqual(merged, [
    { lengthBytes: 15, flags: 0 },
    { lengthBytes: 7, flags: 1 },
  ]);
});

function assertOptionError(work: () => unknown, replyType: number, message: RegExp): void {
  assert.throws(work, (error: unknown) => {
    assert.ok(error instanceof NbdOptionError, `not an NbdOptionError: ${String(error)}`);
    assert.equal(error.replyType, replyType);
    assert.match(error.message, message);
    return true;
  });
}

test('decodeGo() reads name and info requests from golden bytes', () => {
  // u32 name length | name | u16 count | count x u16
  assert.deepEqual(decodeGo(hex(`00000004 ${ascii('disk')} 0002 0001 0003`)), { exportName: 'disk', infoRequests: [1, 3] });
  assert.deepEqual(decodeGo(hex('00000000 0000')), { exportName: '', infoRequests: [] });
});

test('decodeGo() rejects truncated, overlong and oversized payloads with ERR_INVALID', () => {
  const whole = hex(`00000004 ${ascii('disk')} 0002 0001 0003`);
  for (let length = 0; length < whole.length; length++) assertOptionError(() => decodeGo(whole.subarray(0, length)), reply.errorInvalid, /ends early/);
  assertOptionError(() => decodeGo(Buffer.concat([whole, hex('00')])), reply.errorInvalid, /1 bytes too many/);
  assertOptionError(() => decodeGo(hex('00001001')), reply.errorInvalid, /4097 bytes \(at most 4096\)/);
  assertOptionError(() => decodeGo(hex('ffffffff 00')), reply.errorInvalid, /at most 4096/);
});

test('decodeMetaContext() reads name and queries from golden bytes', () => {
  // u32 name length | name | u32 count | count x (u32 length | query)
  const payload = hex(`00000000 00000002 0000000f ${ascii('base:allocation')} 00000005 ${ascii('qemu:')}`);
  assert.deepEqual(decodeMetaContext(payload), { exportName: '', queries: ['base:allocation', 'qemu:'] });
  assert.deepEqual(decodeMetaContext(hex(`00000001 ${ascii('x')} 00000000`)), { exportName: 'x', queries: [] });
});

test('decodeMetaContext() rejects truncated payloads with ERR_INVALID and too many queries with ERR_TOO_BIG', () => {
  const whole = hex(`00000000 00000002 0000000f ${ascii('base:allocation')} 00000005 ${ascii('qemu:')}`);
  for (let length = 0; length < whole.length; length++) assertOptionError(() => decodeMetaContext(whole.subarray(0, length)), reply.errorInvalid, /ends early/);
  assertOptionError(() => decodeMetaContext(Buffer.concat([whole, hex('0000')])), reply.errorInvalid, /2 bytes too many/);
  // A query longer than what is left: its length field is believed only as far as the payload goes.
  assertOptionError(() => decodeMetaContext(hex('00000000 00000001 ffffffff 61')), reply.errorInvalid, /ends early/);
  assertOptionError(() => decodeMetaContext(hex('00002000')), reply.errorInvalid, /8192 bytes \(at most 4096\)/);
  assertOptionError(() => decodeMetaContext(hex('00000000 00000081')), reply.errorTooBig, /129 queries \(at most 128\)/);
  assert.doesNotThrow(() => decodeMetaContext(Buffer.concat([hex('00000000 00000080'), Buffer.alloc(128 * 4)])));
});

const available = ['base:allocation', 'qemu:dirty-bitmap:holdfast'];

test('matchContexts() lists every context for a LIST without queries, and none for a SET without', () => {
  assert.deepEqual(matchContexts(available, [], true), available);
  assert.deepEqual(matchContexts(available, [], false), []);
});

test('matchContexts() takes a namespace as a wildcard in LIST', () => {
  assert.deepEqual(matchContexts(available, ['base:'], true), ['base:allocation']);
  assert.deepEqual(matchContexts(available, ['qemu:'], true), ['qemu:dirty-bitmap:holdfast']);
  assert.deepEqual(matchContexts(available, ['qemu:dirty-bitmap:'], true), ['qemu:dirty-bitmap:holdfast']);
  // In the export's order, each once, whatever the order and repetition of the queries.
  assert.deepEqual(matchContexts(available, ['qemu:', 'base:allocation', 'base:'], true), available);
  // A prefix that is not a namespace (no trailing colon) is no wildcard; unknown namespaces match nothing.
  assert.deepEqual(matchContexts(available, ['qemu:dirty-bitmap:hold', 'base', 'other:'], true), []);
});

test('matchContexts() selects exact names only in SET', () => {
  assert.deepEqual(matchContexts(available, ['base:', 'qemu:', 'qemu:dirty-bitmap:'], false), []);
  assert.deepEqual(matchContexts(available, ['qemu:dirty-bitmap:holdfast'], false), ['qemu:dirty-bitmap:holdfast']);
  assert.deepEqual(matchContexts(available, ['qemu:dirty-bitmap:other', 'base:allocation'], false), ['base:allocation']);
});
