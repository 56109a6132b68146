/**
 * The transmission phase, server side: requests read one after another, served concurrently (up
 * to limits.requestsInFlightMax per connection), each answered when it completes, in any order,
 * matched by its cookie.
 *
 * Memory (queued-bytes-budget.ts): before a WRITE's payload is read or a request is served, its
 * bytes (the payload, or the most data its reply can carry) are reserved from the connection's
 * account; while they cannot be, no further request is read. The reservation is settled to the
 * data the reply really carries when it is built, and released when the socket has handed the
 * reply to the kernel. Headers (a few dozen bytes a reply, 64 requests in flight) are not counted.
 *
 * Checks before an export is called: a bad magic, or a READ or WRITE longer than
 * limits.payloadBytesMax, ends this connection (the stream cannot be trusted any more); unknown
 * flags, a range past the end, BLOCK_STATUS without a selected context, or a change to a read-only
 * export get EINVAL/EPERM and the connection goes on. An I/O error is sent back as its errno
 * (EIO, ENOSPC, ...) and the connection goes on. Replies to READ are structured when negotiated:
 * data chunks, and hole chunks where the image has holes (not with NBD_CMD_FLAG_DF).
 */
import type { Socket } from 'node:net';
import { assert } from '../base/assert.js';
import { command, commandFlag, limits, nbdError, replyFlag, replyType, requestHeaderBytes } from '../format/nbd/protocol.js';
import { decodeRequest, encodeBlockStatusChunk, encodeChunkHeader, encodeDataChunkHeader, encodeErrorChunk, encodeHoleChunk, encodeSimpleReply, type NbdRequest, type StatusExtent } from '../format/nbd/transmission-codec.js';
import type { Negotiated } from './nbd-negotiation.js';
import { ProtocolViolation } from './nbd-negotiation.js';
import type { ReadPiece } from './nbd-export.js';
import type { QueuedBytesAccount } from './queued-bytes-budget.js';
import { SocketClosedError, type SocketReader } from './socket-reader.js';

/** Extents in one BLOCK_STATUS chunk. */
export const statusExtentsMax = 65536;

const knownFlags = commandFlag.fua | commandFlag.noHole | commandFlag.df | commandFlag.reqOne | commandFlag.fastZero;
const changing = new Set<number>([command.write, command.trim, command.writeZeroes]);

class RequestError extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.errno = errno;
  }
}

/** Serves requests until DISC or the end of the connection; throws ProtocolViolation on a broken stream. */
export async function serveTransmission(socket: Socket, reader: SocketReader, session: Negotiated, account: QueuedBytesAccount): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  try {
    for (;;) {
      while (inFlight.size >= limits.requestsInFlightMax) await Promise.race(inFlight);
      const request = decodeRequest(await reader.read(requestHeaderBytes));
      if (request === null) throw new ProtocolViolation('a request has the wrong magic');
      if ((request.type === command.write || request.type === command.read) && request.lengthBytes > limits.payloadBytesMax) {
        throw new ProtocolViolation(`a ${request.type === command.write ? 'WRITE' : 'READ'} of ${request.lengthBytes} bytes (at most ${limits.payloadBytesMax})`);
      }
      if (request.type === command.disconnect) break;
      const reservedBytes = bytesToReserve(session, request);
      await account.reserve(reservedBytes, () => new SocketClosedError('the connection was closed'));
      const payload = request.type === command.write ? await reader.read(request.lengthBytes) : null;
      const reply = new Reply(socket, account, reservedBytes);
      const served = serveOne(reply, session, request, payload).finally(() => inFlight.delete(served));
      inFlight.add(served);
    }
  } finally {
    await Promise.all(inFlight);
  }
}

/** The most data a request can hold: its payload, or the data of the largest reply it can get. */
function bytesToReserve(session: Negotiated, request: NbdRequest): number {
  if (request.type === command.write || request.type === command.read) return request.lengthBytes;
  if (request.type === command.blockStatus) return session.contexts.size * statusExtentBytes * statusExtentsMax;
  return 0;
}

/** An extent in a BLOCK_STATUS chunk: length and flags. */
const statusExtentBytes = 8;

/**
 * One request's reservation: settled to the reply's real size when the reply is written, and
 * released when the socket has handed it to the kernel (or failed to).
 */
class Reply {
  readonly socket: Socket;
  readonly #account: QueuedBytesAccount;
  readonly #reservedBytes: number;

  constructor(socket: Socket, account: QueuedBytesAccount, reservedBytes: number) {
    this.socket = socket;
    this.#account = account;
    this.#reservedBytes = reservedBytes;
  }

  /**
   * Writes the reply's buffers at once (corked); `dataBytes` of them (never more than reserved)
   * stay counted until they are out, the rest of the reservation is released now.
   */
  send(buffers: readonly Buffer[], dataBytes = 0): void {
    assert(dataBytes <= this.#reservedBytes, 'a reply carries more data than was reserved for it');
    this.#account.release(this.#reservedBytes - dataBytes);
    const socket = this.socket;
    socket.cork();
    buffers.forEach((buffer, index) => {
      if (index < buffers.length - 1 || dataBytes === 0) socket.write(buffer);
      else socket.write(buffer, () => this.#account.release(dataBytes));
    });
    socket.uncork();
  }
}

async function serveOne(reply: Reply, session: Negotiated, request: NbdRequest, payload: Buffer | null): Promise<void> {
  try {
    check(session, request);
    const exported = session.export;
    const offset = Number(request.offset);
    const fua = (request.flags & commandFlag.fua) !== 0;
    switch (request.type) {
      case command.read:
        return sendRead(reply, session, request, await exported.read(offset, request.lengthBytes, session.structuredReplies && (request.flags & commandFlag.df) === 0));
      case command.write:
        await exported.write(offset, payload!, fua);
        break;
      case command.flush:
        await exported.flush();
        break;
      case command.trim:
        await exported.trim(offset, request.lengthBytes, fua);
        break;
      case command.writeZeroes:
        await exported.writeZeroes(offset, request.lengthBytes, { noHole: (request.flags & commandFlag.noHole) !== 0, fastZero: (request.flags & commandFlag.fastZero) !== 0 }, fua);
        break;
      case command.cache:
        break;
      case command.blockStatus:
        return await sendBlockStatus(reply, session, request);
      default:
        throw new RequestError(nbdError.EINVAL, `command ${request.type} is not supported`);
    }
    reply.send([encodeSimpleReply(request.cookie, 0)]);
  } catch (error) {
    sendError(reply, session, request, error);
  }
}

function check(session: Negotiated, request: NbdRequest): void {
  const exported = session.export;
  if ((request.flags & ~knownFlags) !== 0) throw new RequestError(nbdError.EINVAL, `unknown flags 0x${request.flags.toString(16)}`);
  if (request.type === command.flush || request.type > command.blockStatus) return;
  if (request.offset + BigInt(request.lengthBytes) > BigInt(exported.sizeBytes)) throw new RequestError(nbdError.EINVAL, `the range ends past the export's ${exported.sizeBytes} bytes`);
  if (changing.has(request.type) && exported.readOnly) throw new RequestError(nbdError.EPERM, 'the export is read-only');
  if ((request.flags & commandFlag.df) !== 0 && request.type !== command.read) throw new RequestError(nbdError.EINVAL, 'DF is for READ only');
  if ((request.flags & commandFlag.reqOne) !== 0 && request.type !== command.blockStatus) throw new RequestError(nbdError.EINVAL, 'REQ_ONE is for BLOCK_STATUS only');
  if ((request.flags & commandFlag.noHole) !== 0 && request.type !== command.writeZeroes) throw new RequestError(nbdError.EINVAL, 'NO_HOLE is for WRITE_ZEROES only');
  if ((request.flags & commandFlag.fastZero) !== 0 && request.type !== command.writeZeroes) throw new RequestError(nbdError.EINVAL, 'FAST_ZERO is for WRITE_ZEROES only');
  if (request.type === command.blockStatus && session.contexts.size === 0) throw new RequestError(nbdError.EINVAL, 'no meta context was selected');
  if (request.type === command.blockStatus && request.lengthBytes === 0) throw new RequestError(nbdError.EINVAL, 'BLOCK_STATUS of 0 bytes');
}

function sendRead(reply: Reply, session: Negotiated, request: NbdRequest, pieces: ReadPiece[]): void {
  const buffers: Buffer[] = [];
  let dataBytes = 0;
  if (!session.structuredReplies) {
    buffers.push(encodeSimpleReply(request.cookie, 0));
    for (const piece of pieces) buffers.push(piece.kind === 'data' ? piece.bytes : Buffer.alloc(piece.lengthBytes));
    dataBytes = request.lengthBytes;
  } else if (pieces.length === 0) {
    buffers.push(encodeChunkHeader(request.cookie, replyFlag.done, replyType.none, 0));
  } else {
    pieces.forEach((piece, index) => {
      const flags = index === pieces.length - 1 ? replyFlag.done : 0;
      if (piece.kind === 'hole') buffers.push(encodeHoleChunk(request.cookie, flags, piece.offset, piece.lengthBytes));
      else {
        buffers.push(encodeDataChunkHeader(request.cookie, flags, piece.offset, piece.bytes.length), piece.bytes);
        dataBytes += piece.bytes.length;
      }
    });
  }
  reply.send(buffers, dataBytes);
}

async function sendBlockStatus(reply: Reply, session: Negotiated, request: NbdRequest): Promise<void> {
  const offset = Number(request.offset);
  const replies: Buffer[] = [];
  let dataBytes = 0;
  const contexts = [...session.contexts];
  for (const [index, [contextId, name]] of contexts.entries()) {
    let extents: StatusExtent[] = (await session.export.blockStatus(name, offset, request.lengthBytes)).slice(0, statusExtentsMax);
    if ((request.flags & commandFlag.reqOne) !== 0) extents = extents.slice(0, 1);
    extents = clip(extents, request.lengthBytes);
    replies.push(encodeBlockStatusChunk(request.cookie, index === contexts.length - 1 ? replyFlag.done : 0, contextId, extents));
    dataBytes += extents.length * statusExtentBytes;
  }
  reply.send(replies, dataBytes);
}

/** At most `lengthBytes` in total, no empty extent. */
function clip(extents: StatusExtent[], lengthBytes: number): StatusExtent[] {
  const clipped: StatusExtent[] = [];
  let total = 0;
  for (const extent of extents) {
    if (total >= lengthBytes || extent.lengthBytes === 0) break;
    const length = Math.min(extent.lengthBytes, lengthBytes - total);
    clipped.push({ lengthBytes: length, flags: extent.flags });
    total += length;
  }
  return clipped;
}

function sendError(reply: Reply, session: Negotiated, request: NbdRequest, error: unknown): void {
  const errno = error instanceof RequestError ? error.errno : errnoOf(error);
  const message = error instanceof Error ? error.message : String(error);
  reply.send([session.structuredReplies ? encodeErrorChunk(request.cookie, errno, message) : encodeSimpleReply(request.cookie, errno)]);
}

const errnoByCode: Record<string, number> = {
  EIO: nbdError.EIO,
  ENOSPC: nbdError.ENOSPC,
  EDQUOT: nbdError.ENOSPC,
  EFBIG: nbdError.ENOSPC,
  EPERM: nbdError.EPERM,
  EACCES: nbdError.EPERM,
  EROFS: nbdError.EPERM,
  EINVAL: nbdError.EINVAL,
  ENOTSUP: nbdError.ENOTSUP,
  EOPNOTSUPP: nbdError.ENOTSUP,
  ENOMEM: nbdError.ENOMEM,
  EOVERFLOW: nbdError.EOVERFLOW,
  ESHUTDOWN: nbdError.ESHUTDOWN,
};

function errnoOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? (errnoByCode[code] ?? nbdError.EIO) : nbdError.EIO;
}
