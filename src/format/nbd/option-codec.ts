/**
 * The option haggling of fixed newstyle negotiation: option payloads parsed, replies encoded.
 * Pure codec; a malformed payload is an NbdOptionError, which the server answers with
 * NBD_REP_ERR_INVALID while keeping the connection.
 */
import { magic, info, limits, reply } from './protocol.js';

export class NbdOptionError extends Error {
  override name = 'NbdOptionError';
  readonly replyType: number;
  constructor(replyType: number, message: string) {
    super(message);
    this.replyType = replyType;
  }
}

function invalid(message: string): NbdOptionError {
  return new NbdOptionError(reply.errorInvalid, message);
}

/** Reads big-endian fields of an option payload, failing as NBD_REP_ERR_INVALID past its end. */
class PayloadCursor {
  #at = 0;
  constructor(readonly bytes: Buffer) {}
  u16(): number {
    this.#need(2);
    const value = this.bytes.readUInt16BE(this.#at);
    this.#at += 2;
    return value;
  }
  u32(): number {
    this.#need(4);
    const value = this.bytes.readUInt32BE(this.#at);
    this.#at += 4;
    return value;
  }
  string(length: number): string {
    this.#need(length);
    const text = this.bytes.toString('utf8', this.#at, this.#at + length);
    this.#at += length;
    return text;
  }
  end(): void {
    if (this.#at !== this.bytes.length) throw invalid(`the option has ${this.bytes.length - this.#at} bytes too many`);
  }
  #need(count: number): void {
    if (this.#at + count > this.bytes.length) throw invalid('the option ends early');
  }
}

export interface GoRequest {
  exportName: string;
  /** NBD_INFO_* types the client asked for. */
  infoRequests: number[];
}

/** NBD_OPT_INFO and NBD_OPT_GO: u32 name length | name | u16 count | count x u16. */
export function decodeGo(payload: Buffer): GoRequest {
  const cursor = new PayloadCursor(payload);
  const nameBytes = cursor.u32();
  if (nameBytes > limits.exportNameBytesMax) throw invalid(`the export name is ${nameBytes} bytes (at most ${limits.exportNameBytesMax})`);
  const exportName = cursor.string(nameBytes);
  const count = cursor.u16();
  const infoRequests: number[] = [];
  for (let index = 0; index < count; index++) infoRequests.push(cursor.u16());
  cursor.end();
  return { exportName, infoRequests };
}

export interface MetaContextRequest {
  exportName: string;
  queries: string[];
}

/** NBD_OPT_LIST/SET_META_CONTEXT: u32 name length | name | u32 count | count x (u32 length | query). */
export function decodeMetaContext(payload: Buffer): MetaContextRequest {
  const cursor = new PayloadCursor(payload);
  const nameBytes = cursor.u32();
  if (nameBytes > limits.exportNameBytesMax) throw invalid(`the export name is ${nameBytes} bytes (at most ${limits.exportNameBytesMax})`);
  const exportName = cursor.string(nameBytes);
  const count = cursor.u32();
  if (count > limits.queryCountMax) throw new NbdOptionError(reply.errorTooBig, `${count} queries (at most ${limits.queryCountMax})`);
  const queries: string[] = [];
  for (let index = 0; index < count; index++) queries.push(cursor.string(cursor.u32()));
  cursor.end();
  return { exportName, queries };
}

/** The option reply header and its data. */
export function encodeOptionReply(optionCode: number, replyType: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(magic.optionReply, 0);
  header.writeUInt32BE(optionCode >>> 0, 8);
  header.writeUInt32BE(replyType >>> 0, 12);
  header.writeUInt32BE(data.length, 16);
  return Buffer.concat([header, data]);
}

/** NBD_REP_SERVER data: u32 name length | name | description. */
export function encodeServerEntry(name: string, description: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(nameBytes.length);
  return Buffer.concat([length, nameBytes, Buffer.from(description, 'utf8')]);
}

/** NBD_INFO_EXPORT: u16 type | u64 size | u16 transmission flags. */
export function encodeInfoExport(sizeBytes: number, transmissionFlags: number): Buffer {
  const data = Buffer.alloc(12);
  data.writeUInt16BE(info.export, 0);
  data.writeBigUInt64BE(BigInt(sizeBytes), 2);
  data.writeUInt16BE(transmissionFlags, 10);
  return data;
}

/** NBD_INFO_NAME or NBD_INFO_DESCRIPTION: u16 type | text. */
export function encodeInfoText(type: typeof info.name | typeof info.description, text: string): Buffer {
  const data = Buffer.alloc(2);
  data.writeUInt16BE(type, 0);
  return Buffer.concat([data, Buffer.from(text, 'utf8')]);
}

/** NBD_INFO_BLOCK_SIZE: u16 type | u32 minimum | u32 preferred | u32 maximum. */
export function encodeInfoBlockSize(minimumBytes: number, preferredBytes: number, maximumBytes: number): Buffer {
  const data = Buffer.alloc(14);
  data.writeUInt16BE(info.blockSize, 0);
  data.writeUInt32BE(minimumBytes, 2);
  data.writeUInt32BE(preferredBytes, 6);
  data.writeUInt32BE(maximumBytes, 10);
  return data;
}

/** NBD_REP_META_CONTEXT data: u32 context id | name. */
export function encodeMetaContext(contextId: number, name: string): Buffer {
  const data = Buffer.alloc(4);
  data.writeUInt32BE(contextId, 0);
  return Buffer.concat([data, Buffer.from(name, 'utf8')]);
}

/** The reply to NBD_OPT_EXPORT_NAME: u64 size | u16 flags | 124 zero bytes unless NO_ZEROES. */
export function encodeExportNameReply(sizeBytes: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const data = Buffer.alloc(noZeroes ? 10 : 134);
  data.writeBigUInt64BE(BigInt(sizeBytes), 0);
  data.writeUInt16BE(transmissionFlags, 8);
  return data;
}

/** The context names a list of queries picks; namespace-only queries are wildcards when listing. */
export function matchContexts(available: readonly string[], queries: readonly string[], listing: boolean): string[] {
  if (queries.length === 0) return listing ? [...available] : [];
  const picked = new Set<string>();
  for (const query of queries) {
    for (const name of available) {
      const wildcard = listing && query.endsWith(':') && name.startsWith(query);
      if (wildcard || name === query) picked.add(name);
    }
  }
  return available.filter((name) => picked.has(name));
}
