/**
 * The client side of `holdfast volume snapshot`: connects to a running `volume serve`, asks for
 * a flush-and-hold snapshot with holdfast's own NBD option (protocol.ts: option.holdfastSnapshot),
 * and returns what the server answered. With a mount point, the file system on the volume is
 * frozen (FIFREEZE) around the request, so its own dirty data is on the volume and the snapshot is
 * of a clean file system; it is thawed whatever happens. The same channel reads the server's counters.
 */
import { connect, type Socket } from 'node:net';
import { holdfastError } from '../errors/holdfast-error.js';
import { clientFlag, limits, magic, option, reply } from '../format/nbd/protocol.js';
import type { Io } from '../io/io.js';
import { SocketReader } from './socket-reader.js';
import type { ServerStats, SnapshotReply } from './nbd-server.js';

export type ServerAddress = { socketPath: string } | { host: string; port: number };

export interface SnapshotRequestOptions {
  holdTimeoutMs?: number;
  /** Freeze this mount point's file system around the hold. */
  freezeMountPoint?: string;
}

export async function requestSnapshot(io: Io, address: ServerAddress, options: SnapshotRequestOptions = {}): Promise<SnapshotReply & { frozenMs: number | null }> {
  const payload = Buffer.from(JSON.stringify(options.holdTimeoutMs === undefined ? {} : { holdTimeoutMs: options.holdTimeoutMs }), 'utf8');
  if (options.freezeMountPoint === undefined) return { ...(JSON.parse((await controlOption(address, option.holdfastSnapshot, payload)).toString('utf8')) as SnapshotReply), frozenMs: null };
  const mountPoint = await io.openDirectory(options.freezeMountPoint);
  try {
    const frozenAt = performance.now();
    await io.freeze(mountPoint);
    try {
      const answer = JSON.parse((await controlOption(address, option.holdfastSnapshot, payload)).toString('utf8')) as SnapshotReply;
      return { ...answer, frozenMs: performance.now() - frozenAt };
    } finally {
      await io.thaw(mountPoint);
    }
  } finally {
    await mountPoint.close();
  }
}

export async function requestDropSnapshot(address: ServerAddress, name: string): Promise<void> {
  await controlOption(address, option.holdfastDropSnapshot, Buffer.from(JSON.stringify({ name }), 'utf8'));
}

/** The server's counters (nbd-server.ts stats()): connections, bytes held for clients. */
export async function requestServerStats(address: ServerAddress): Promise<ServerStats> {
  return JSON.parse((await controlOption(address, option.holdfastStats, Buffer.alloc(0))).toString('utf8')) as ServerStats;
}

function describe(address: ServerAddress): string {
  return 'socketPath' in address ? address.socketPath : `${address.host}:${address.port}`;
}

/** One holdfast option on a fresh connection; the reply's data, or its error message thrown. */
async function controlOption(address: ServerAddress, code: number, payload: Buffer): Promise<Buffer> {
  const where = describe(address);
  const operation = code === option.holdfastSnapshot ? 'take a snapshot at' : code === option.holdfastDropSnapshot ? 'drop a snapshot at' : 'read the counters of';
  const socket: Socket = 'socketPath' in address ? connect(address.socketPath) : connect(address.port, address.host);
  const reader = new SocketReader(socket);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const greeting = await reader.read(18);
    if (greeting.readBigUInt64BE(0) !== magic.init || greeting.readBigUInt64BE(8) !== magic.option) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation, path: where }, 'the server does not speak newstyle NBD');
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlag.fixedNewstyle | clientFlag.noZeroes);
    const request = Buffer.alloc(16);
    request.writeBigUInt64BE(magic.option, 0);
    request.writeUInt32BE(code, 8);
    request.writeUInt32BE(payload.length, 12);
    socket.write(Buffer.concat([flags, request, payload]));
    const header = await reader.read(20);
    if (header.readBigUInt64BE(0) !== magic.optionReply) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation, path: where }, 'the reply has the wrong magic');
    const type = header.readUInt32BE(12);
    const lengthBytes = header.readUInt32BE(16);
    if (lengthBytes > limits.optionBytesMax) throw holdfastError('HOLDFAST_LIMIT_EXCEEDED', { operation, path: where }, `a reply of ${lengthBytes} bytes`);
    const data = await reader.read(lengthBytes);
    const abort = Buffer.alloc(16);
    abort.writeBigUInt64BE(magic.option, 0);
    abort.writeUInt32BE(option.abort, 8);
    socket.end(abort);
    if (type === reply.errorUnsupported) throw holdfastError('HOLDFAST_USAGE', { operation, path: where }, 'the server is not a holdfast volume server');
    if (type !== reply.ack) throw holdfastError('HOLDFAST_USAGE', { operation, path: where }, data.toString('utf8'));
    return data;
  } finally {
    socket.destroy();
  }
}
