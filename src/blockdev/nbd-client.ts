/**
 * NbdClient: a minimal NBD client (fixed newstyle, structured replies, metadata contexts) over
 * a Unix socket or TCP, for reading a volume an NBD server exports.
 *
 * Negotiation: greeting; client flags FIXED_NEWSTYLE (and NO_ZEROES when offered);
 * NBD_OPT_STRUCTURED_REPLY; NBD_OPT_LIST_META_CONTEXT for `base:allocation` and every
 * `qemu:dirty-bitmap:*`; NBD_OPT_SET_META_CONTEXT of those found; NBD_OPT_GO asking for
 * NBD_INFO_DESCRIPTION and NBD_INFO_BLOCK_SIZE. Then READ and BLOCK_STATUS requests, several in
 * flight at once (matched by cookie), and NBD_CMD_DISC at close().
 *
 * The server is not trusted: every size it sends is checked against a limit before anything is
 * allocated for it, and every reply must fit the request it answers. A server that breaks the
 * protocol fails the connection (every request in flight rejects); a server that answers one
 * request with an error fails that request only. Errors are HoldfastErrors whose path is the URI.
 */
import { connect, type Socket } from 'node:net';
import { errnoName, fromNodeError, HoldfastError, holdfastError, type HoldfastErrorCode } from '../errors/holdfast-error.js';
import {
  decodeBlockStatusChunk,
  decodeErrorChunk,
  decodeGreeting,
  decodeHoleChunk,
  decodeInfoReply,
  decodeMetaContextReply,
  decodeOptionReplyHeader,
  decodeSimpleReply,
  encodeGoPayload,
  encodeMetaContextPayload,
  encodeOptionRequest,
  greetingBytes,
  NbdReplyError,
  optionReplyHeaderBytes,
} from '../format/nbd/client-codec.js';
import { clientFlag, command, contextName, handshakeFlag, info, magic, option, reply, replyFlag, replyType, simpleReplyHeaderBytes, structuredReplyHeaderBytes, transmissionFlag } from '../format/nbd/protocol.js';
import { decodeChunkHeader, encodeRequest, type StatusExtent } from '../format/nbd/transmission-codec.js';
import { parseNbdUri, type NbdAddress } from './nbd-uri.js';
import { SocketReader } from './socket-reader.js';

/** The data of one option reply (an export description, a context name, an error message). */
export const optionReplyBytesMax = 64 * 1024;
/** Replies to one option (contexts listed, infos) before the server is cut off. */
export const optionRepliesMax = 1024;
/** Metadata contexts the client asks for. */
export const metaContextsMax = 64;
/** The largest READ this client sends (the server's maximum block size may lower it). */
export const readBytesMax = 32 * 1024 * 1024;
/** The largest BLOCK_STATUS request (the protocol's length is 32 bits). */
export const blockStatusRequestBytesMax = 1024 * 1024 * 1024;
/** One block status chunk: qemu sends at most 1 MiB of extents. */
export const blockStatusPayloadBytesMax = 4 * 1024 * 1024 + 4;
/** Any other chunk payload (errors, holes). */
export const otherChunkBytesMax = 64 * 1024;
/** Requests in flight on one connection. */
export const requestsInFlightDefault = 16;
export const requestsInFlightMax = 64;

export interface NbdExportInfo {
  exportName: string;
  sizeBytes: number;
  transmissionFlags: number;
  readOnly: boolean;
  /** NBD_INFO_DESCRIPTION, or null when the server gave none. */
  description: string | null;
  blockSize: { minimumBytes: number; preferredBytes: number; maximumBytes: number } | null;
  structuredReplies: boolean;
  /** The metadata contexts in use, by name: BLOCK_STATUS reports each of them. */
  metaContexts: readonly string[];
}

export interface NbdConnectOptions {
  /** Meta-context queries to list and then set; default base:allocation and every qemu dirty bitmap. */
  metaContextQueries?: readonly string[];
  /** Requests in flight at once (1 to requestsInFlightMax); default requestsInFlightDefault. */
  requestsInFlight?: number;
}

/** Extents of one context over a range, each with its offset. */
export interface StatusRange {
  offsetBytes: number;
  lengthBytes: number;
  flags: number;
}

interface PendingRequest {
  type: number;
  offset: number;
  lengthBytes: number;
  /** READ: the data, zeros where the server says hole. */
  data: Buffer | null;
  bytesCovered: number;
  /** BLOCK_STATUS: extents by context name. */
  status: Map<string, StatusExtent[]>;
  error: Error | null;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class NbdClient {
  readonly uri: string;
  readonly info: NbdExportInfo;
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  readonly #contextNames: ReadonlyMap<number, string>;
  readonly #requestsInFlightMax: number;
  readonly #pending = new Map<bigint, PendingRequest>();
  readonly #slotWaiters: (() => void)[] = [];
  /** Every request made and not yet settled, including those waiting for a slot. */
  readonly #inFlight = new Set<Promise<PendingRequest>>();
  #nextCookie = 1n;
  #failure: Error | null = null;
  #closing = false;
  #receiving: Promise<void> | null = null;
  #closed: Promise<void> | null = null;

  private constructor(uri: string, socket: Socket, reader: SocketReader, exportInfo: NbdExportInfo, contextNames: ReadonlyMap<number, string>, requestsInFlight: number) {
    this.uri = uri;
    this.#socket = socket;
    this.#reader = reader;
    this.info = exportInfo;
    this.#contextNames = contextNames;
    this.#requestsInFlightMax = requestsInFlight;
  }

  /** Connects to the export `uri` names and negotiates; the caller must close() the client. */
  static async connect(uri: string, options: NbdConnectOptions = {}): Promise<NbdClient> {
    const address = parseNbdUri(uri);
    const requestsInFlight = options.requestsInFlight ?? requestsInFlightDefault;
    if (!Number.isInteger(requestsInFlight) || requestsInFlight < 1 || requestsInFlight > requestsInFlightMax) {
      throw holdfastError('HOLDFAST_USAGE', { operation: 'connect to NBD server', path: uri }, `requestsInFlight must be 1 to ${requestsInFlightMax}`);
    }
    const socket = await openSocket(address, uri);
    const reader = new SocketReader(socket, { closedError: (cause) => holdfastError('HOLDFAST_FORMAT_TRUNCATED', { operation: 'talk to NBD server', path: uri, cause }, cause === null ? 'the server closed the connection' : `the connection failed: ${cause.message}`) });
    try {
      const negotiation = new Negotiation(uri, address.exportName, socket, reader);
      const { exportInfo, contextNames } = await negotiation.run(options.metaContextQueries ?? [contextName.allocation, contextName.dirtyBitmapPrefix]);
      const client = new NbdClient(uri, socket, reader, exportInfo, contextNames, requestsInFlight);
      client.#receiving = client.#receive();
      return client;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  /** The largest read() this client sends in one request. */
  get readBytesMax(): number {
    const maximum = this.info.blockSize?.maximumBytes ?? 0;
    return maximum > 0 ? Math.min(maximum, readBytesMax) : readBytesMax;
  }

  /** `lengthBytes` from `offset`, holes as zeros, in a Buffer of its own. */
  async read(offset: number, lengthBytes: number): Promise<Buffer> {
    this.#checkRange('read from NBD export', offset, lengthBytes, this.readBytesMax);
    const data = Buffer.alloc(lengthBytes);
    await this.#request(command.read, offset, lengthBytes, data);
    return data;
  }

  /**
   * One BLOCK_STATUS request: for each context in use, extents from `offset` that cover at least
   * part of the range (the server may stop early). Extents are clipped to the export's end.
   */
  async blockStatus(offset: number, lengthBytes: number): Promise<Map<string, StatusExtent[]>> {
    if (this.info.metaContexts.length === 0) throw holdfastError('HOLDFAST_MODE_UNSUPPORTED', { operation: 'query block status of NBD export', path: this.uri }, 'the server agreed to no metadata context');
    this.#checkRange('query block status of NBD export', offset, lengthBytes, blockStatusRequestBytesMax);
    const pending = await this.#request(command.blockStatus, offset, lengthBytes, null);
    return pending.status;
  }

  /** Every extent of `context` over [offset, offset + lengthBytes), with BLOCK_STATUS requests as needed. */
  async statusMap(context: string, offset = 0, lengthBytes = this.info.sizeBytes - offset): Promise<StatusRange[]> {
    if (!this.info.metaContexts.includes(context)) throw holdfastError('HOLDFAST_MODE_UNSUPPORTED', { operation: 'query block status of NBD export', path: this.uri }, `the server does not offer the context "${context}"`);
    const end = offset + lengthBytes;
    const ranges: StatusRange[] = [];
    let at = offset;
    while (at < end) {
      const extents = (await this.blockStatus(at, Math.min(end - at, blockStatusRequestBytesMax))).get(context);
      if (extents === undefined || extents.length === 0) throw this.#protocolError('query block status of NBD export', `a block status reply has no extents of "${context}"`);
      for (const extent of extents) {
        if (at >= end) break;
        const lengthBytes = Math.min(extent.lengthBytes, end - at);
        const last = ranges.at(-1);
        if (last !== undefined && last.flags === extent.flags && last.offsetBytes + last.lengthBytes === at) last.lengthBytes += lengthBytes;
        else ranges.push({ offsetBytes: at, lengthBytes, flags: extent.flags });
        at += lengthBytes;
      }
    }
    return ranges;
  }

  /** Waits for the requests in flight, sends NBD_CMD_DISC and closes the connection. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    // close() drains: the requests already made complete (or fail) first.
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    this.#closing = true;
    if (this.#failure === null && !this.#socket.destroyed) {
      this.#socket.write(encodeRequest({ flags: 0, type: command.disconnect, cookie: 0n, offset: 0n, lengthBytes: 0 }));
      this.#socket.end();
    } else {
      this.#socket.destroy();
    }
    await this.#receiving;
    if (!this.#socket.destroyed) this.#socket.destroy();
  }

  #checkRange(operation: string, offset: number, lengthBytes: number, lengthMax: number): void {
    const context = { operation, path: this.uri };
    if (this.#closing || this.#closed !== null) throw holdfastError('HOLDFAST_HANDLE_CLOSED', context, 'the client is closed');
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(lengthBytes) || offset < 0 || lengthBytes < 1 || lengthBytes > lengthMax) {
      throw holdfastError('HOLDFAST_USAGE', context, `a request of ${lengthBytes} bytes at ${offset} (1 to ${lengthMax} bytes)`);
    }
    if (offset + lengthBytes > this.info.sizeBytes) throw holdfastError('HOLDFAST_USAGE', context, `the range ${offset}+${lengthBytes} ends past the export's ${this.info.sizeBytes} bytes`);
  }

  #request(type: number, offset: number, lengthBytes: number, data: Buffer | null): Promise<PendingRequest> {
    const request = this.#send(type, offset, lengthBytes, data);
    this.#inFlight.add(request);
    void request.then(
      () => this.#inFlight.delete(request),
      () => this.#inFlight.delete(request),
    );
    return request;
  }

  async #send(type: number, offset: number, lengthBytes: number, data: Buffer | null): Promise<PendingRequest> {
    while (this.#pending.size >= this.#requestsInFlightMax) await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    if (this.#failure !== null) throw this.#failure;
    const cookie = this.#nextCookie++;
    let pending!: PendingRequest;
    const done = new Promise<void>((resolve, reject) => {
      pending = { type, offset, lengthBytes, data, bytesCovered: 0, status: new Map(), error: null, resolve, reject };
    });
    this.#pending.set(cookie, pending);
    this.#socket.write(encodeRequest({ flags: 0, type, cookie, offset: BigInt(offset), lengthBytes }));
    try {
      await done;
    } finally {
      this.#slotWaiters.shift()?.();
    }
    return pending;
  }

  /** The receive loop: one reply (or chunk) at a time, until the connection ends. */
  async #receive(): Promise<void> {
    try {
      for (;;) {
        const header = await this.#reader.read(4);
        const replyMagic = header.readUInt32BE(0);
        if (replyMagic === magic.simpleReply) await this.#simpleReply(Buffer.concat([header, await this.#reader.read(simpleReplyHeaderBytes - 4)]));
        else if (replyMagic === magic.structuredReply) await this.#chunk(Buffer.concat([header, await this.#reader.read(structuredReplyHeaderBytes - 4)]));
        else throw this.#protocolError('read NBD reply', `a reply has the bad magic 0x${replyMagic.toString(16)}`);
      }
    } catch (error) {
      if (this.#closing && this.#pending.size === 0) return;
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #take(cookie: bigint, what: string): PendingRequest {
    const pending = this.#pending.get(cookie);
    if (pending === undefined) throw this.#protocolError('read NBD reply', `${what} answers cookie ${cookie}, which no request in flight has`);
    return pending;
  }

  async #simpleReply(header: Buffer): Promise<void> {
    const { errorNumber, cookie } = decodeSimpleReply(header);
    const pending = this.#take(cookie, 'a simple reply');
    if (errorNumber !== 0) pending.error = this.#serverError(pending, errorNumber, '');
    else if (pending.type === command.read) {
      await this.#reader.readInto(pending.data!);
      pending.bytesCovered = pending.lengthBytes;
    } else if (pending.type === command.blockStatus) {
      throw this.#protocolError('query block status of NBD export', 'the server answered BLOCK_STATUS with a simple reply');
    }
    this.#settle(cookie, pending);
  }

  async #chunk(header: Buffer): Promise<void> {
    const chunk = decodeChunkHeader(header)!;
    const pending = this.#take(chunk.cookie, 'a reply chunk');
    const operation = pending.type === command.read ? 'read from NBD export' : 'query block status of NBD export';
    const payloadMax = chunk.type === replyType.offsetData ? pending.lengthBytes + 8 : chunk.type === replyType.blockStatus ? blockStatusPayloadBytesMax : otherChunkBytesMax;
    if (chunk.payloadBytes > payloadMax) throw this.#limitError(operation, `a reply chunk of type ${chunk.type} carries ${chunk.payloadBytes} bytes (at most ${payloadMax})`);
    if (chunk.type === replyType.offsetData) {
      if (pending.type !== command.read || chunk.payloadBytes < 8) throw this.#protocolError(operation, 'an unexpected data chunk');
      const offset = Number((await this.#reader.read(8)).readBigUInt64BE(0));
      const dataBytes = chunk.payloadBytes - 8;
      this.#checkInside(pending, offset, dataBytes, operation);
      await this.#reader.readInto(pending.data!.subarray(offset - pending.offset, offset - pending.offset + dataBytes));
      pending.bytesCovered += dataBytes;
    } else {
      const payload = await this.#reader.read(chunk.payloadBytes);
      this.#applyChunk(pending, chunk.type, payload, operation);
    }
    if ((chunk.flags & replyFlag.done) !== 0) this.#settle(chunk.cookie, pending);
  }

  #applyChunk(pending: PendingRequest, type: number, payload: Buffer, operation: string): void {
    try {
      if (type === replyType.none) {
        if (payload.length !== 0) throw new NbdReplyError('a NONE chunk carries a payload');
      } else if (type === replyType.offsetHole) {
        if (pending.type !== command.read) throw new NbdReplyError('a hole chunk answers a request that is not a READ');
        const hole = decodeHoleChunk(payload);
        this.#checkInside(pending, Number(hole.offset), hole.holeBytes, operation);
        pending.bytesCovered += hole.holeBytes;
      } else if (type === replyType.blockStatus) {
        if (pending.type !== command.blockStatus) throw new NbdReplyError('a block status chunk answers a request that is not a BLOCK_STATUS');
        const status = decodeBlockStatusChunk(payload);
        const name = this.#contextNames.get(status.contextId);
        if (name === undefined) throw new NbdReplyError(`a block status chunk names context ${status.contextId}, which was not agreed`);
        if (status.extents.some((extent) => extent.lengthBytes === 0)) throw new NbdReplyError('a block status chunk has an extent of length 0');
        pending.status.set(name, [...(pending.status.get(name) ?? []), ...status.extents]);
      } else if ((type & 0x8000) !== 0) {
        const failure = decodeErrorChunk(payload);
        pending.error ??= this.#serverError(pending, failure.errorNumber, failure.message);
      } else {
        throw new NbdReplyError(`a reply chunk of unknown type ${type}`);
      }
    } catch (error) {
      if (error instanceof NbdReplyError) throw this.#protocolError(operation, error.message);
      throw error;
    }
  }

  #checkInside(pending: PendingRequest, offset: number, lengthBytes: number, operation: string): void {
    if (offset < pending.offset || offset + lengthBytes > pending.offset + pending.lengthBytes) {
      throw this.#protocolError(operation, `a reply chunk covers ${offset}+${lengthBytes}, outside the request ${pending.offset}+${pending.lengthBytes}`);
    }
  }

  #settle(cookie: bigint, pending: PendingRequest): void {
    this.#pending.delete(cookie);
    if (pending.error !== null) pending.reject(pending.error);
    else if (pending.type === command.read && pending.bytesCovered !== pending.lengthBytes) {
      // The reply broke the protocol, but its bytes were read whole: the stream is still in step.
      pending.reject(this.#protocolError('read from NBD export', `the reply covered ${pending.bytesCovered} of ${pending.lengthBytes} bytes at ${pending.offset}`));
    } else if (pending.type === command.blockStatus && this.info.metaContexts.some((name) => !pending.status.has(name))) {
      pending.reject(this.#protocolError('query block status of NBD export', 'the reply lacks the extents of a context in use'));
    } else pending.resolve();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const [cookie, pending] of this.#pending) {
      this.#pending.delete(cookie);
      pending.reject(this.#failure);
    }
    for (const wake of this.#slotWaiters.splice(0)) wake();
    this.#socket.destroy();
  }

  #serverError(pending: PendingRequest, errorNumber: number, message: string): Error {
    const name = errnoName(errorNumber);
    const what = pending.type === command.read ? 'read from NBD export' : 'query block status of NBD export';
    return new HoldfastError(name.startsWith('errno') ? 'EIO' : name, { operation: what, path: this.uri }, `the server answered ${name} for ${pending.offset}+${pending.lengthBytes}${message === '' ? '' : `: ${message}`}`);
  }

  #protocolError(operation: string, reason: string): HoldfastError {
    return holdfastError('HOLDFAST_FORMAT_INVALID', { operation, path: this.uri }, `the server broke the NBD protocol: ${reason}`);
  }

  #limitError(operation: string, reason: string): HoldfastError {
    return holdfastError('HOLDFAST_LIMIT_EXCEEDED', { operation, path: this.uri }, reason);
  }
}

function openSocket(address: NbdAddress, uri: string): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = address.transport === 'unix' ? connect({ path: address.socketPath }) : connect({ host: address.host, port: address.port });
    socket.setNoDelay?.(true);
    const onError = (error: Error): void => reject(fromNodeError(error, 'connect', { operation: 'connect to NBD server', path: uri }));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** The handshake, one option at a time. */
class Negotiation {
  readonly #uri: string;
  readonly #exportName: string;
  readonly #socket: Socket;
  readonly #reader: SocketReader;

  constructor(uri: string, exportName: string, socket: Socket, reader: SocketReader) {
    this.#uri = uri;
    this.#exportName = exportName;
    this.#socket = socket;
    this.#reader = reader;
  }

  async run(queries: readonly string[]): Promise<{ exportInfo: NbdExportInfo; contextNames: Map<number, string> }> {
    let greeting;
    try {
      greeting = decodeGreeting(await this.#reader.read(greetingBytes));
    } catch (error) {
      throw this.#wrap(error);
    }
    if ((greeting.handshakeFlags & handshakeFlag.fixedNewstyle) === 0) throw this.#fail('HOLDFAST_MODE_UNSUPPORTED', 'the server does not speak fixed newstyle negotiation');
    const noZeroes = (greeting.handshakeFlags & handshakeFlag.noZeroes) !== 0;
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlag.fixedNewstyle | (noZeroes ? clientFlag.noZeroes : 0));
    this.#socket.write(flags);

    const structured = await this.#option(option.structuredReply, Buffer.alloc(0), () => {});
    const contextNames = new Map<number, string>();
    if (structured.ok && queries.length > 0) {
      const listed: string[] = [];
      const list = await this.#option(option.listMetaContext, encodeMetaContextPayload(this.#exportName, queries), (type, data) => {
        if (type !== reply.metaContext) return false;
        if (listed.length < metaContextsMax) listed.push(decodeMetaContextReply(data).name);
        return true;
      });
      if (list.ok && listed.length > 0) {
        await this.#option(option.setMetaContext, encodeMetaContextPayload(this.#exportName, listed), (type, data) => {
          if (type !== reply.metaContext) return false;
          const context = decodeMetaContextReply(data);
          if (!listed.includes(context.name)) throw new NbdReplyError(`the server set the context "${context.name}", which was not asked for`);
          contextNames.set(context.contextId, context.name);
          return true;
        });
      }
    }

    let exportPart: { sizeBytes: number; transmissionFlags: number } | null = null;
    let description: string | null = null;
    let blockSize: NbdExportInfo['blockSize'] = null;
    const go = await this.#option(option.go, encodeGoPayload(this.#exportName, [info.description, info.blockSize]), (type, data) => {
      if (type !== reply.info) return false;
      const item = decodeInfoReply(data);
      if (item.type === info.export) exportPart = { sizeBytes: item.sizeBytes, transmissionFlags: item.transmissionFlags };
      else if (item.type === info.description) description = item.text;
      else if (item.type === info.blockSize) blockSize = { minimumBytes: item.minimumBytes, preferredBytes: item.preferredBytes, maximumBytes: item.maximumBytes };
      return true;
    });
    if (!go.ok) {
      const code: HoldfastErrorCode = go.replyType === reply.errorUnknown ? 'HOLDFAST_MISSING' : 'HOLDFAST_MODE_UNSUPPORTED';
      const what = go.replyType === reply.errorUnknown ? 'the server has no export of that name' : `the server refused the export (reply 0x${go.replyType.toString(16)})`;
      throw this.#fail(code, `${what}${go.message === '' ? '' : `: ${go.message}`}`);
    }
    const exported = exportPart as { sizeBytes: number; transmissionFlags: number } | null;
    if (exported === null) throw this.#fail('HOLDFAST_FORMAT_INVALID', 'the server broke the NBD protocol: NBD_OPT_GO ended without NBD_INFO_EXPORT');
    return {
      exportInfo: {
        exportName: this.#exportName,
        sizeBytes: exported.sizeBytes,
        transmissionFlags: exported.transmissionFlags,
        readOnly: (exported.transmissionFlags & transmissionFlag.readOnly) !== 0,
        description,
        blockSize,
        structuredReplies: structured.ok,
        metaContexts: [...contextNames.values()],
      },
      contextNames,
    };
  }

  /**
   * Sends one option and reads its replies until ACK or an error reply. `onReply` takes the
   * replies of the option's own types (returns false for a type it does not expect).
   */
  async #option(optionCode: number, payload: Buffer, onReply: (type: number, data: Buffer) => boolean | void): Promise<{ ok: boolean; replyType: number; message: string }> {
    this.#socket.write(encodeOptionRequest(optionCode, payload));
    try {
      for (let replies = 0; replies < optionRepliesMax; replies++) {
        const header = decodeOptionReplyHeader(await this.#reader.read(optionReplyHeaderBytes));
        if (header.dataBytes > optionReplyBytesMax) throw this.#fail('HOLDFAST_LIMIT_EXCEEDED', `an option reply carries ${header.dataBytes} bytes (at most ${optionReplyBytesMax})`);
        const data = await this.#reader.read(header.dataBytes);
        if (header.optionCode !== optionCode) throw new NbdReplyError(`a reply to option ${header.optionCode} came for option ${optionCode}`);
        if (header.replyType === reply.ack) {
          if (data.length !== 0) throw new NbdReplyError('an ACK carries data');
          return { ok: true, replyType: header.replyType, message: '' };
        }
        if ((header.replyType & 0x80000000) !== 0) return { ok: false, replyType: header.replyType, message: data.toString('utf8').slice(0, 1024) };
        if (onReply(header.replyType, data) === false) throw new NbdReplyError(`reply type ${header.replyType} does not answer option ${optionCode}`);
      }
      throw this.#fail('HOLDFAST_LIMIT_EXCEEDED', `more than ${optionRepliesMax} replies to option ${optionCode}`);
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  #wrap(error: unknown): unknown {
    return error instanceof NbdReplyError ? this.#fail('HOLDFAST_FORMAT_INVALID', `the server broke the NBD protocol: ${error.message}`) : error;
  }

  #fail(code: HoldfastErrorCode, reason: string): HoldfastError {
    return holdfastError(code, { operation: 'negotiate with NBD server', path: this.#uri }, reason);
  }
}
