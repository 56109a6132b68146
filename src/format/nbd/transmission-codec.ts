/**
 * The transmission phase: request headers parsed, simple and structured replies encoded. Pure
 * codec. A request with a bad magic cannot be resynchronised: the server closes that connection.
 */
import { magic, replyType, requestHeaderBytes } from './protocol.js';

export interface NbdRequest {
  flags: number;
  type: number;
  /** The client's opaque 64-bit cookie, echoed in every reply to this request. */
  cookie: bigint;
  offset: bigint;
  lengthBytes: number;
}

/** A request header; null when its magic is wrong (the stream is lost). */
export function decodeRequest(header: Buffer): NbdRequest | null {
  if (header.length !== requestHeaderBytes || header.readUInt32BE(0) !== magic.request) return null;
  return {
    flags: header.readUInt16BE(4),
    type: header.readUInt16BE(6),
    cookie: header.readBigUInt64BE(8),
    offset: header.readBigUInt64BE(16),
    lengthBytes: header.readUInt32BE(24),
  };
}

export function encodeRequest(request: NbdRequest): Buffer {
  const header = Buffer.alloc(requestHeaderBytes);
  header.writeUInt32BE(magic.request, 0);
  header.writeUInt16BE(request.flags, 4);
  header.writeUInt16BE(request.type, 6);
  header.writeBigUInt64BE(request.cookie, 8);
  header.writeBigUInt64BE(request.offset, 16);
  header.writeUInt32BE(request.lengthBytes, 24);
  return header;
}

export function encodeSimpleReply(cookie: bigint, errorNumber: number): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(magic.simpleReply, 0);
  header.writeUInt32BE(errorNumber, 4);
  header.writeBigUInt64BE(cookie, 8);
  return header;
}

/** A structured reply chunk's header; the payload of `payloadBytes` follows it. */
export function encodeChunkHeader(cookie: bigint, flags: number, type: number, payloadBytes: number): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt32BE(magic.structuredReply, 0);
  header.writeUInt16BE(flags, 4);
  header.writeUInt16BE(type, 6);
  header.writeBigUInt64BE(cookie, 8);
  header.writeUInt32BE(payloadBytes, 16);
  return header;
}

/** NBD_REPLY_TYPE_OFFSET_DATA's prefix: u64 offset, then the data. */
export function encodeDataChunkHeader(cookie: bigint, flags: number, offset: number, dataBytes: number): Buffer {
  const header = Buffer.alloc(28);
  encodeChunkHeader(cookie, flags, replyType.offsetData, 8 + dataBytes).copy(header, 0);
  header.writeBigUInt64BE(BigInt(offset), 20);
  return header;
}

/** NBD_REPLY_TYPE_OFFSET_HOLE: u64 offset | u32 hole size. */
export function encodeHoleChunk(cookie: bigint, flags: number, offset: number, holeBytes: number): Buffer {
  const chunk = Buffer.alloc(32);
  encodeChunkHeader(cookie, flags, replyType.offsetHole, 12).copy(chunk, 0);
  chunk.writeBigUInt64BE(BigInt(offset), 20);
  chunk.writeUInt32BE(holeBytes, 28);
  return chunk;
}

/** NBD_REPLY_TYPE_ERROR: u32 error | u16 message length | message. */
export function encodeErrorChunk(cookie: bigint, errorNumber: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 1024), 'utf8');
  const chunk = Buffer.alloc(26 + text.length);
  encodeChunkHeader(cookie, 1, replyType.error, 6 + text.length).copy(chunk, 0);
  chunk.writeUInt32BE(errorNumber, 20);
  chunk.writeUInt16BE(text.length, 24);
  text.copy(chunk, 26);
  return chunk;
}

export interface StatusExtent {
  lengthBytes: number;
  flags: number;
}

/** NBD_REPLY_TYPE_BLOCK_STATUS: u32 context id | n x (u32 length | u32 flags). */
export function encodeBlockStatusChunk(cookie: bigint, flags: number, contextId: number, extents: readonly StatusExtent[]): Buffer {
  const payloadBytes = 4 + extents.length * 8;
  const chunk = Buffer.alloc(20 + payloadBytes);
  encodeChunkHeader(cookie, flags, replyType.blockStatus, payloadBytes).copy(chunk, 0);
  chunk.writeUInt32BE(contextId, 20);
  extents.forEach((extent, index) => {
    chunk.writeUInt32BE(extent.lengthBytes, 24 + index * 8);
    chunk.writeUInt32BE(extent.flags, 28 + index * 8);
  });
  return chunk;
}

export interface ReplyChunkHeader {
  flags: number;
  type: number;
  cookie: bigint;
  payloadBytes: number;
}

/** The first 4 bytes of any reply tell simple from structured. */
export function decodeChunkHeader(header: Buffer): ReplyChunkHeader | null {
  if (header.readUInt32BE(0) !== magic.structuredReply) return null;
  return { flags: header.readUInt16BE(4), type: header.readUInt16BE(6), cookie: header.readBigUInt64BE(8), payloadBytes: header.readUInt32BE(16) };
}

/** Merges neighbouring extents with equal flags, so a map says each run once. */
export function mergeExtents(extents: readonly StatusExtent[]): StatusExtent[] {
  const merged: StatusExtent[] = [];
  for (const extent of extents) {
    const last = merged.at(-1);
    if (last !== undefined && last.flags === extent.flags && last.lengthBytes + extent.lengthBytes <= 0xffffffff) last.lengthBytes += extent.lengthBytes;
    else if (extent.lengthBytes > 0) merged.push({ ...extent });
  }
  return merged;
}
