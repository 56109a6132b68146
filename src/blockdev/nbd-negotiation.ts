/**
 * The handshake and option haggling of the NBD fixed newstyle protocol (doc/proto.md), server
 * side. Every option the protocol defines that holdfast does not implement (STARTTLS, the
 * extended headers...) gets NBD_REP_ERR_UNSUP and the haggling goes on. A violation of a MUST
 * (a wrong magic, unknown client flags, an option longer than limits.optionBytesMax, an unknown
 * export in NBD_OPT_EXPORT_NAME, which cannot answer with an error) ends the connection.
 *
 * Meta contexts: `base:allocation` and `qemu:dirty-bitmap:NAME` per tracked bitmap. In
 * NBD_OPT_LIST_META_CONTEXT, no query lists them all, and a namespace alone ("base:", "qemu:",
 * "qemu:dirty-bitmap:") lists all of that namespace; NBD_OPT_SET_META_CONTEXT selects exact names
 * only, as qemu-nbd does (the protocol leaves wildcards in SET to the server; selecting by exact
 * name keeps what a client gets what it named).
 */
import type { Socket } from 'node:net';
import { decodeGo, decodeMetaContext, matchContexts, encodeExportNameReply, encodeInfoBlockSize, encodeInfoExport, encodeInfoText, encodeMetaContext, encodeOptionReply, encodeServerEntry, NbdOptionError } from '../format/nbd/option-codec.js';
import { clientFlag, handshakeFlag, info, limits, magic, option, reply, transmissionFlag } from '../format/nbd/protocol.js';
import type { NbdExport } from './nbd-export.js';
import type { SocketReader } from './socket-reader.js';

/** What the server offers a connection while it haggles. */
export interface ExportRegistry {
  exports(): NbdExport[];
  find(name: string): NbdExport | null;
  /** holdfast's own options: the reply data (JSON) or a thrown error with a message. */
  control(optionCode: number, payload: Buffer): Promise<Buffer>;
}

export interface Negotiated {
  export: NbdExport;
  structuredReplies: boolean;
  /** Selected meta contexts by id. */
  contexts: Map<number, string>;
  transmissionFlags: number;
}

export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

const knownClientFlags = clientFlag.fixedNewstyle | clientFlag.noZeroes;

export function transmissionFlagsOf(exported: NbdExport, structuredReplies: boolean): number {
  let flags = transmissionFlag.hasFlags | transmissionFlag.sendFlush | transmissionFlag.sendFua | transmissionFlag.sendCache;
  // One process, one descriptor, one page cache: a FLUSH on any connection covers every connection's writes.
  flags |= transmissionFlag.canMultiConn;
  if (exported.readOnly) flags |= transmissionFlag.readOnly;
  else flags |= transmissionFlag.sendTrim | transmissionFlag.sendWriteZeroes | transmissionFlag.sendFastZero;
  if (structuredReplies) flags |= transmissionFlag.sendDf;
  return flags;
}

/** Runs the handshake; null when the client ended it (ABORT, or it hung up). */
export async function negotiate(socket: Socket, reader: SocketReader, registry: ExportRegistry): Promise<Negotiated | null> {
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(magic.init, 0);
  greeting.writeBigUInt64BE(magic.option, 8);
  greeting.writeUInt16BE(handshakeFlag.fixedNewstyle | handshakeFlag.noZeroes, 16);
  socket.write(greeting);
  const flags = (await reader.read(4)).readUInt32BE(0);
  if ((flags & ~knownClientFlags) !== 0) throw new ProtocolViolation(`the client set unknown flags 0x${flags.toString(16)}`);
  const noZeroes = (flags & clientFlag.noZeroes) !== 0;
  let structuredReplies = false;
  let selected = { exportName: '', contexts: new Map<number, string>() };
  for (let count = 0; count < limits.optionCountMax; count++) {
    const header = await reader.read(16);
    if (header.readBigUInt64BE(0) !== magic.option) throw new ProtocolViolation('an option request has the wrong magic');
    const code = header.readUInt32BE(8);
    const lengthBytes = header.readUInt32BE(12);
    if (lengthBytes > limits.optionBytesMax) throw new ProtocolViolation(`option ${code} is ${lengthBytes} bytes (at most ${limits.optionBytesMax})`);
    const payload = await reader.read(lengthBytes);
    const send = (type: number, data?: Buffer): boolean => socket.write(encodeOptionReply(code, type, data));
    try {
      switch (code) {
        case option.exportName: {
          const exported = registry.find(payload.toString('utf8'));
          if (exported === null) throw new ProtocolViolation(`the client chose export "${payload.toString('utf8')}", which does not exist`);
          const transmissionFlags = transmissionFlagsOf(exported, structuredReplies);
          socket.write(encodeExportNameReply(exported.sizeBytes, transmissionFlags, noZeroes));
          return { export: exported, structuredReplies, contexts: contextsFor(selected, exported.name), transmissionFlags };
        }
        case option.abort:
          send(reply.ack);
          return null;
        case option.list:
          if (lengthBytes !== 0) throw invalidOption('NBD_OPT_LIST takes no data');
          for (const exported of registry.exports()) send(reply.server, encodeServerEntry(exported.name, exported.description));
          send(reply.ack);
          break;
        case option.info:
        case option.go: {
          const request = decodeGo(payload);
          const exported = registry.find(request.exportName);
          if (exported === null) throw new NbdOptionError(reply.errorUnknown, `there is no export "${request.exportName}"`);
          const transmissionFlags = transmissionFlagsOf(exported, structuredReplies);
          send(reply.info, encodeInfoExport(exported.sizeBytes, transmissionFlags));
          if (request.infoRequests.includes(info.name)) send(reply.info, encodeInfoText(info.name, exported.name));
          if (request.infoRequests.includes(info.description)) send(reply.info, encodeInfoText(info.description, exported.description));
          if (request.infoRequests.includes(info.blockSize)) send(reply.info, encodeInfoBlockSize(1, 4096, limits.payloadBytesMax));
          send(reply.ack);
          if (code === option.go) return { export: exported, structuredReplies, contexts: contextsFor(selected, exported.name), transmissionFlags };
          break;
        }
        case option.structuredReply:
          if (lengthBytes !== 0) throw invalidOption('NBD_OPT_STRUCTURED_REPLY takes no data');
          structuredReplies = true;
          send(reply.ack);
          break;
        case option.listMetaContext:
        case option.setMetaContext: {
          if (!structuredReplies) throw invalidOption('meta contexts need structured replies (NBD_OPT_STRUCTURED_REPLY) first');
          const request = decodeMetaContext(payload);
          const exported = registry.find(request.exportName);
          if (exported === null) throw new NbdOptionError(reply.errorUnknown, `there is no export "${request.exportName}"`);
          const listing = code === option.listMetaContext;
          const matches = matchContexts(exported.contextNames, request.queries, listing);
          if (!listing) selected = { exportName: exported.name, contexts: new Map(matches.map((name) => [exported.contextNames.indexOf(name) + 1, name])) };
          for (const name of matches) send(reply.metaContext, encodeMetaContext(listing ? 0 : exported.contextNames.indexOf(name) + 1, name));
          send(reply.ack);
          break;
        }
        case option.holdfastSnapshot:
        case option.holdfastDropSnapshot:
        case option.holdfastStats:
          send(reply.ack, await registry.control(code, payload));
          break;
        default:
          send(reply.errorUnsupported, Buffer.from(`option ${code} is not supported by holdfast`, 'utf8'));
      }
    } catch (error) {
      if (error instanceof ProtocolViolation) throw error;
      const type = error instanceof NbdOptionError ? error.replyType : reply.errorInvalid;
      send(type, Buffer.from(error instanceof Error ? error.message : String(error), 'utf8'));
    }
  }
  throw new ProtocolViolation(`more than ${limits.optionCountMax} options`);
}

function invalidOption(message: string): NbdOptionError {
  return new NbdOptionError(reply.errorInvalid, message);
}

/** Contexts selected with SET_META_CONTEXT belong to the export they named; another export gets none. */
function contextsFor(selected: { exportName: string; contexts: Map<number, string> }, exportName: string): Map<number, string> {
  return selected.exportName === exportName ? selected.contexts : new Map();
}
