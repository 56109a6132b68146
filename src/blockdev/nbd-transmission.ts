/**
 * The transmission phase, server side: requests read one after another, served concurrently (up
 * to limits.requestsInFlightMax per connection), each answered when it completes, in any order,
 * matched by its cookie.
 *
 * Checks before an export is called: a bad magic, or a READ or WRITE longer than
 * limits.payloadBytesMax, ends this connection (the stream cannot be trusted any more); unknown
 * flags, a range past the end, BLOCK_STATUS without a selected context, or a change to a read-only
 * export get EINVAL/EPERM and the connection goes on. An I/O error is sent back as its errno
 * (EIO, ENOSPC, ...) and the connection goes on. Replies to READ are structured when negotiated:
 * data chunks, and hole chunks where the image has holes (not with NBD_CMD_FLAG_DF).
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { command, commandFlag, limits, nbdError, replyFlag, replyType, requestHeaderBytes } from '../format/nbd/protocol.js';
import { decodeRequest, encodeBlockStatusChunk, encodeChunkHeader, encodeDataChunkHeader, encodeErrorChunk, encodeHoleChunk, encodeSimpleReply, type NbdRequest, type StatusExtent } from '../format/nbd/transmission-codec.js';
import type { Negotiated } from './nbd-negotiation.js';
import { ProtocolViolation } from './nbd-negotiation.js';
import type { ReadPiece } from './nbd-export.js';
import type { SocketReader } from './socket-reader.js';

/** Bytes of replies waiting in the socket before the loop stops taking requests. */
export const replyBytesQueuedMax = 64 * 1024 * 1024;
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
export async function serveTransmission(socket: Socket, reader: SocketReader, session: Negotiated): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  try {
    for (;;) {
      while (inFlight.size >= limits.requestsInFlightMax) await Promise.race(inFlight);
      if (socket.writableLength > replyBytesQueuedMax) await once(socket, 'drain');
      const request = decodeRequest(await reader.read(requestHeaderBytes));
      if (request === null) throw new ProtocolViolation('a request has the wrong magic');
      if ((request.type === command.write || request.type === command.read) && request.lengthBytes > limits.payloadBytesMax) {
        throw new ProtocolViolation(`a ${request.type === command.write ? 'WRITE' : 'READ'} of ${request.lengthBytes} bytes (at most ${limits.payloadBytesMax})`);
      }
      const payload = request.type === command.write ? await reader.read(request.lengthBytes) : null;
      if (request.type === command.disconnect) break;
      const served = serveOne(socket, session, request, payload).finally(() => inFlight.delete(served));
      inFlight.add(served);
    }
  } finally {
    await Promise.all(inFlight);
  }
}

async function serveOne(socket: Socket, session: Negotiated, request: NbdRequest, payload: Buffer | null): Promise<void> {
  try {
    check(session, request);
    const exported = session.export;
    const offset = Number(request.offset);
    const fua = (request.flags & commandFlag.fua) !== 0;
    switch (request.type) {
      case command.read:
        return sendRead(socket, session, request, await exported.read(offset, request.lengthBytes, session.structuredReplies && (request.flags & commandFlag.df) === 0));
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
        return await sendBlockStatus(socket, session, request);
      default:
        throw new RequestError(nbdError.EINVAL, `command ${request.type} is not supported`);
    }
    socket.write(encodeSimpleReply(request.cookie, 0));
  } catch (error) {
    sendError(socket, session, request, error);
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

function sendRead(socket: Socket, session: Negotiated, request: NbdRequest, pieces: ReadPiece[]): void {
  socket.cork();
  if (!session.structuredReplies) {
    socket.write(encodeSimpleReply(request.cookie, 0));
    for (const piece of pieces) socket.write(piece.kind === 'data' ? piece.bytes : Buffer.alloc(piece.lengthBytes));
  } else if (pieces.length === 0) {
    socket.write(encodeChunkHeader(request.cookie, replyFlag.done, replyType.none, 0));
  } else {
    pieces.forEach((piece, index) => {
      const flags = index === pieces.length - 1 ? replyFlag.done : 0;
      if (piece.kind === 'hole') socket.write(encodeHoleChunk(request.cookie, flags, piece.offset, piece.lengthBytes));
      else {
        socket.write(encodeDataChunkHeader(request.cookie, flags, piece.offset, piece.bytes.length));
        socket.write(piece.bytes);
      }
    });
  }
  socket.uncork();
}

async function sendBlockStatus(socket: Socket, session: Negotiated, request: NbdRequest): Promise<void> {
  const offset = Number(request.offset);
  const replies: Buffer[] = [];
  const contexts = [...session.contexts];
  for (const [index, [contextId, name]] of contexts.entries()) {
    let extents: StatusExtent[] = (await session.export.blockStatus(name, offset, request.lengthBytes)).slice(0, statusExtentsMax);
    if ((request.flags & commandFlag.reqOne) !== 0) extents = extents.slice(0, 1);
    extents = clip(extents, request.lengthBytes);
    replies.push(encodeBlockStatusChunk(request.cookie, index === contexts.length - 1 ? replyFlag.done : 0, contextId, extents));
  }
  socket.cork();
  for (const chunk of replies) socket.write(chunk);
  socket.uncork();
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

function sendError(socket: Socket, session: Negotiated, request: NbdRequest, error: unknown): void {
  const errno = error instanceof RequestError ? error.errno : errnoOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (session.structuredReplies) socket.write(encodeErrorChunk(request.cookie, errno, message));
  else socket.write(encodeSimpleReply(request.cookie, errno));
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
