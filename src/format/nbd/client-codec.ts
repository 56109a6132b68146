/**
 * The client's side of the NBD codecs: option requests encoded, option replies and reply chunk
 * payloads decoded. Pure: bytes in, values out. A payload that does not have the shape its type
 * requires is an NbdReplyError (the caller names the server and the operation); sizes are
 * checked by the caller before the bytes are read, so nothing here allocates more than it got.
 */
import { info, magic } from './protocol.js';
import type { StatusExtent } from './transmission-codec.js';

export class NbdReplyError extends Error {
  override name = 'NbdReplyError';
}

export const optionRequestHeaderBytes = 16;
export const optionReplyHeaderBytes = 20;
export const greetingBytes = 18;

export interface ServerGreeting {
  handshakeFlags: number;
}

/** "NBDMAGIC" | "IHAVEOPT" | u16 handshake flags; an oldstyle or foreign server is refused. */
export function decodeGreeting(bytes: Buffer): ServerGreeting {
  if (bytes.length !== greetingBytes || bytes.readBigUInt64BE(0) !== magic.init) throw new NbdReplyError('it is not an NBD server (no "NBDMAGIC" greeting)');
  if (bytes.readBigUInt64BE(8) !== magic.option) throw new NbdReplyError('it speaks only the oldstyle protocol (no "IHAVEOPT")');
  return { handshakeFlags: bytes.readUInt16BE(16) };
}

/** "IHAVEOPT" | u32 option | u32 length | data. */
export function encodeOptionRequest(optionCode: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(optionRequestHeaderBytes);
  header.writeBigUInt64BE(magic.option, 0);
  header.writeUInt32BE(optionCode >>> 0, 8);
  header.writeUInt32BE(data.length, 12);
  return Buffer.concat([header, data]);
}

function encodeName(exportName: string): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(name.length);
  return Buffer.concat([length, name]);
}

/** NBD_OPT_GO / NBD_OPT_INFO: u32 name length | name | u16 count | count x u16 info type. */
export function encodeGoPayload(exportName: string, infoRequests: readonly number[]): Buffer {
  const requests = Buffer.alloc(2 + infoRequests.length * 2);
  requests.writeUInt16BE(infoRequests.length, 0);
  infoRequests.forEach((type, index) => requests.writeUInt16BE(type, 2 + index * 2));
  return Buffer.concat([encodeName(exportName), requests]);
}

/** NBD_OPT_LIST/SET_META_CONTEXT: u32 name length | name | u32 count | count x (u32 length | query). */
export function encodeMetaContextPayload(exportName: string, queries: readonly string[]): Buffer {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length);
  const parts = [encodeName(exportName), count];
  for (const query of queries) parts.push(encodeName(query));
  return Buffer.concat(parts);
}

export interface OptionReplyHeader {
  optionCode: number;
  replyType: number;
  dataBytes: number;
}

export function decodeOptionReplyHeader(bytes: Buffer): OptionReplyHeader {
  if (bytes.length !== optionReplyHeaderBytes || bytes.readBigUInt64BE(0) !== magic.optionReply) throw new NbdReplyError('an option reply has a bad magic');
  return { optionCode: bytes.readUInt32BE(8), replyType: bytes.readUInt32BE(12), dataBytes: bytes.readUInt32BE(16) };
}

export type InfoReply =
  | { type: typeof info.export; sizeBytes: number; transmissionFlags: number }
  | { type: typeof info.name | typeof info.description; text: string }
  | { type: typeof info.blockSize; minimumBytes: number; preferredBytes: number; maximumBytes: number }
  | { type: 'unknown'; code: number };

/** NBD_REP_INFO data: u16 type | type-specific fields. Unknown types are returned as such (skipped). */
export function decodeInfoReply(data: Buffer): InfoReply {
  if (data.length < 2) throw new NbdReplyError('an info reply is shorter than its type');
  const type = data.readUInt16BE(0);
  switch (type) {
    case info.export: {
      if (data.length !== 12) throw new NbdReplyError(`NBD_INFO_EXPORT has ${data.length} bytes, not 12`);
      const size = data.readBigUInt64BE(2);
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new NbdReplyError(`the export size ${size} is beyond what this client handles`);
      return { type, sizeBytes: Number(size), transmissionFlags: data.readUInt16BE(10) };
    }
    case info.name:
    case info.description:
      return { type, text: data.toString('utf8', 2) };
    case info.blockSize:
      if (data.length !== 14) throw new NbdReplyError(`NBD_INFO_BLOCK_SIZE has ${data.length} bytes, not 14`);
      return { type, minimumBytes: data.readUInt32BE(2), preferredBytes: data.readUInt32BE(6), maximumBytes: data.readUInt32BE(10) };
    default:
      return { type: 'unknown', code: type };
  }
}

/** NBD_REP_META_CONTEXT data: u32 context id | name. */
export function decodeMetaContextReply(data: Buffer): { contextId: number; name: string } {
  if (data.length < 4) throw new NbdReplyError('a meta context reply is shorter than its id');
  return { contextId: data.readUInt32BE(0), name: data.toString('utf8', 4) };
}

export interface SimpleReply {
  errorNumber: number;
  cookie: bigint;
}

/** A simple reply's 16 bytes: magic | u32 error | u64 cookie (the magic was checked by the caller). */
export function decodeSimpleReply(header: Buffer): SimpleReply {
  return { errorNumber: header.readUInt32BE(4), cookie: header.readBigUInt64BE(8) };
}

/** NBD_REPLY_TYPE_OFFSET_HOLE: u64 offset | u32 hole size. */
export function decodeHoleChunk(payload: Buffer): { offset: bigint; holeBytes: number } {
  if (payload.length !== 12) throw new NbdReplyError(`a hole chunk has ${payload.length} bytes, not 12`);
  return { offset: payload.readBigUInt64BE(0), holeBytes: payload.readUInt32BE(8) };
}

/** NBD_REPLY_TYPE_ERROR(_OFFSET): u32 error | u16 message length | message [| u64 offset]. */
export function decodeErrorChunk(payload: Buffer): { errorNumber: number; message: string } {
  if (payload.length < 6) throw new NbdReplyError('an error chunk is shorter than 6 bytes');
  const messageBytes = payload.readUInt16BE(4);
  if (6 + messageBytes > payload.length) throw new NbdReplyError('an error chunk\'s message runs past its end');
  return { errorNumber: payload.readUInt32BE(0), message: payload.toString('utf8', 6, 6 + messageBytes) };
}

/** NBD_REPLY_TYPE_BLOCK_STATUS: u32 context id | n x (u32 length | u32 flags), n >= 1. */
export function decodeBlockStatusChunk(payload: Buffer): { contextId: number; extents: StatusExtent[] } {
  if (payload.length < 12 || (payload.length - 4) % 8 !== 0) throw new NbdReplyError(`a block status chunk of ${payload.length} bytes is not a context id and whole extents`);
  const extents: StatusExtent[] = [];
  for (let at = 4; at < payload.length; at += 8) extents.push({ lengthBytes: payload.readUInt32BE(at), flags: payload.readUInt32BE(at + 4) });
  return { contextId: payload.readUInt32BE(0), extents };
}
