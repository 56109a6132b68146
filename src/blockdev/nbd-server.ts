/**
 * NbdServer: `holdfast volume serve`. Serves one image file as a writable NBD export (or a
 * read-only one), its snapshots as read-only exports beside it, on a unix socket or TCP.
 *
 * Lifetime: start() opens the image, the change map (change-map.ts, in the state directory
 * outside the volume) and the listener; close() stops taking connections, lets every request in
 * flight complete, ends the connections, flushes the image, records a clean stop in the change
 * map and closes everything, in that order, and resolves only when all of it is done.
 *
 * Hostile clients (rule D2): at most `connectionsMax` connections (more are closed as they
 * arrive), and the bytes held for clients are bounded per connection and in total
 * (queued-bytes-budget.ts), so clients that never read their replies cost bounded memory while a
 * client that does is still served. stats() (and the holdfastStats option) reports the counters.
 * A unix socket is created with `socketMode` (0600 by default) whatever the umask; a path that is
 * not a socket is never replaced.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { unlinkSync, lstatSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FilePath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { option } from '../format/nbd/protocol.js';
import { BufferPool } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import { BlockFile } from './block-file.js';
import { ChangeMap } from './change-map.js';
import { holdTimeoutMsDefault, takeSnapshot } from './flush-and-hold.js';
import { negotiate, ProtocolViolation, type ExportRegistry } from './nbd-negotiation.js';
import type { NbdExport } from './nbd-export.js';
import { QueuedBytesBudget, type QueuedBytesStats } from './queued-bytes-budget.js';
import { serveTransmission } from './nbd-transmission.js';
import { SocketClosedError, SocketReader } from './socket-reader.js';
import { Volume } from './volume.js';

export const granularityBytesDefault = 64 * 1024;
/** How long a stopping server waits for a client to hang up after the end of the stream. */
export const disconnectGraceMs = 5000;
/**
 * Connections served at once; more are closed as they arrive. With the queued-bytes budget this
 * bounds the total held for clients: 256 MiB, plus one 32 MiB request per connection that holds
 * nothing (always served), so 768 MiB at the most. nbdcopy uses 4 connections, qemu one per
 * device; qemu-nbd serves one client unless told otherwise.
 */
export const connectionsMaxDefault = 16;
/** The unix socket's permission bits unless told otherwise: its owner only. */
export const socketModeDefault = 0o600;

export interface ServeOptions {
  image: FilePath;
  /** A unix socket path, or a TCP address. */
  listen: { socketPath: string } | { host: string; port: number };
  exportName: string;
  bitmapName: string;
  readOnly: boolean;
  /** Where the change map and the snapshots' copy-on-write stores live; default IMAGE.holdfast. */
  stateDirectory?: FilePath;
  granularityBytes?: number;
  /** The most a snapshot may preserve before it is abandoned; default the volume's size. */
  snapshotStoreBytesMax?: number;
  /** The unix socket's permission bits, whatever the umask; default socketModeDefault. */
  socketMode?: number;
  /** Default connectionsMaxDefault. */
  connectionsMax?: number;
  /** Defaults in queued-bytes-budget.ts. */
  connectionQueuedBytesMax?: number;
  totalQueuedBytesMax?: number;
  onEvent: (event: ServerEvent) => void;
}

export interface ServerStats extends QueuedBytesStats {
  connections: number;
  connectionsPeak: number;
  /** Connections closed at once because `connectionsMax` were open. */
  connectionsRefused: number;
  connectionsMax: number;
  connectionQueuedBytesMax: number;
  totalQueuedBytesMax: number;
}

export type ServerEvent =
  | { type: 'tracking'; generation: string; sequence: number; resetReason: string | null; resumedAfterUncleanStop: boolean }
  | { type: 'listening'; address: string; exportName: string; sizeBytes: number }
  | { type: 'snapshot'; name: string; sequence: number; holdMs: number; writesQueued: number; changedBlocks: number }
  | { type: 'snapshot-abandoned'; name: string; reason: string }
  | { type: 'connection-error'; message: string }
  | { type: 'connection-refused'; message: string; connectionsRefused: number }
  | { type: 'warning'; message: string };

export interface SnapshotReply {
  name: string;
  sequence: number;
  generation: string;
  holdMs: number;
  writesQueued: number;
  changedBlocks: number;
}

export class NbdServer {
  readonly #io: Io;
  readonly #options: ServeOptions;
  readonly #volume: Volume;
  readonly #pool: BufferPool;
  readonly #stateDirectory: FilePath;
  readonly #server: Server;
  readonly #connections = new Set<{ socket: Socket; done: Promise<void> }>();
  readonly #budget: QueuedBytesBudget;
  readonly #connectionsMax: number;
  #connectionsPeak = 0;
  #connectionsRefused = 0;
  #closing: Promise<void> | null = null;

  private constructor(io: Io, options: ServeOptions, volume: Volume, pool: BufferPool, stateDirectory: FilePath) {
    this.#io = io;
    this.#options = options;
    this.#volume = volume;
    this.#pool = pool;
    this.#stateDirectory = stateDirectory;
    this.#budget = new QueuedBytesBudget({
      ...(options.connectionQueuedBytesMax === undefined ? {} : { connectionQueuedBytesMax: options.connectionQueuedBytesMax }),
      ...(options.totalQueuedBytesMax === undefined ? {} : { totalQueuedBytesMax: options.totalQueuedBytesMax }),
    });
    this.#connectionsMax = options.connectionsMax ?? connectionsMaxDefault;
    this.#server = createServer((socket) => this.#accept(socket));
    // Node closes a connection beyond maxConnections as it is accepted, before any byte is read.
    this.#server.maxConnections = this.#connectionsMax;
    this.#server.on('drop', () => this.#refused());
  }

  /** The counters: connections now and at most, bytes held for clients now and at most. */
  stats(): ServerStats {
    return {
      connections: this.#connections.size,
      connectionsPeak: this.#connectionsPeak,
      connectionsRefused: this.#connectionsRefused,
      connectionsMax: this.#connectionsMax,
      ...this.#budget.limits,
      ...this.#budget.stats(),
    };
  }

  get volume(): Volume {
    return this.#volume;
  }

  static async start(io: Io, options: ServeOptions): Promise<NbdServer> {
    const pool = new BufferPool({ bufferSizeBytes: 1024 * 1024, bufferCountMax: 256, label: 'nbd server' });
    const handle = await io.openFile(options.image, { access: options.readOnly ? 'read' : 'read-write' });
    let changeMap: ChangeMap | null = null;
    try {
      const stat = await io.stat(handle);
      const stateDirectory = options.stateDirectory ?? Buffer.concat([Buffer.from(options.image), Buffer.from('.holdfast')]);
      if (!options.readOnly) {
        await io.makeDirectory(stateDirectory, { mode: 0o700 }).catch((error: unknown) => {
          if ((error as { code?: string }).code !== 'EEXIST') throw error;
        });
        changeMap = await ChangeMap.open(io, stateDirectory, pool, { granularityBytes: options.granularityBytes ?? granularityBytesDefault, image: stat, isAlive });
        options.onEvent({ type: 'tracking', generation: changeMap.generation, sequence: changeMap.sequence, resetReason: changeMap.resetReason, resumedAfterUncleanStop: changeMap.resumedAfterUncleanStop });
      }
      const volume = new Volume(new BlockFile(io, handle, pool), stat, { name: options.exportName, bitmapName: options.bitmapName, readOnly: options.readOnly, changeMap });
      const server = new NbdServer(io, options, volume, pool, stateDirectory);
      await server.#listen();
      return server;
    } catch (error) {
      await changeMap?.close(null);
      await handle.close();
      throw error;
    }
  }

  /** Takes a flush-and-hold snapshot and exports it (what `volume snapshot` asks for). */
  async snapshot(holdTimeoutMs: number = holdTimeoutMsDefault): Promise<SnapshotReply> {
    const volume = this.#volume;
    const granularity = volume.changeMap?.granularityBytes ?? granularityBytesDefault;
    const taken = await takeSnapshot(
      {
        io: this.#io,
        pool: this.#pool,
        volume,
        stateDirectory: this.#stateDirectory,
        storeBlocksMax: Math.ceil((this.#options.snapshotStoreBytesMax ?? volume.sizeBytes) / granularity),
        onAbandon: (snapshot, reason) => this.#options.onEvent({ type: 'snapshot-abandoned', name: snapshot.name, reason }),
      },
      holdTimeoutMs,
    );
    const reply = { name: taken.snapshot.name, sequence: taken.snapshot.sequence, generation: volume.changeMap!.generation, holdMs: taken.holdMs, writesQueued: taken.writesQueued, changedBlocks: (await taken.snapshot.blockStatus('qemu:dirty-bitmap:' + volume.bitmapName, 0, volume.sizeBytes)).filter((extent) => extent.flags !== 0).reduce((sum, extent) => sum + Math.ceil(extent.lengthBytes / granularity), 0) };
    this.#options.onEvent({ type: 'snapshot', ...reply });
    return reply;
  }

  /** Drops a snapshot export and its store. */
  dropSnapshot(name: string): void {
    const snapshot = this.#volume.snapshots.find((candidate) => candidate.name === name);
    if (snapshot === undefined) throw holdfastError('HOLDFAST_NO_SNAPSHOT', { operation: 'drop snapshot', path: name }, 'there is no such snapshot export');
    snapshot.abandon('it was dropped');
  }

  /** Stops serving: see the lifetime above. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // net.Server.close() calls back only when every connection has ended, so it is awaited last.
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all(
      [...this.#connections].map(async (connection) => {
        // The client sees the end of the stream and hangs up; one that does not is cut off.
        connection.socket.end();
        const timer = setTimeout(() => connection.socket.destroy(), disconnectGraceMs);
        await connection.done;
        clearTimeout(timer);
      }),
    );
    await listenerClosed;
    for (const snapshot of [...this.#volume.snapshots]) snapshot.abandon('the server stopped');
    const handle: Handle<'file'> = this.#volume.image.handle;
    let stat = null;
    if (!this.#volume.readOnly) {
      await this.#volume.image.sync();
      stat = await this.#io.stat(handle);
    }
    await this.#volume.changeMap?.close(stat);
    await handle.close();
  }

  #registry(): ExportRegistry {
    const all = (): NbdExport[] => [this.#volume, ...this.#volume.snapshots.filter((snapshot) => snapshot.available)];
    return {
      exports: all,
      find: (name) => (name === '' ? this.#volume : (all().find((candidate) => candidate.name === name) ?? null)),
      control: async (code, payload) => {
        const request = parseControl(payload);
        if (code === option.holdfastSnapshot) return Buffer.from(JSON.stringify(await this.snapshot(request.holdTimeoutMs ?? holdTimeoutMsDefault)), 'utf8');
        if (code === option.holdfastStats) return Buffer.from(JSON.stringify(this.stats()), 'utf8');
        this.dropSnapshot(request.name ?? '');
        return Buffer.from('{}', 'utf8');
      },
    };
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    const reader = new SocketReader(socket);
    // What is held for this client is given back when its connection is gone, read or not.
    const account = this.#budget.open();
    socket.once('close', () => account.close());
    const done = (async (): Promise<void> => {
      try {
        const session = await negotiate(socket, reader, this.#registry());
        if (session !== null) await serveTransmission(socket, reader, session, account);
      } catch (error) {
        if (!(error instanceof SocketClosedError) && (error as { code?: string }).code !== 'ECONNRESET' && (error as { code?: string }).code !== 'EPIPE') {
          this.#options.onEvent({ type: 'connection-error', message: error instanceof ProtocolViolation ? `protocol violation: ${error.message}; connection closed` : String(error) });
        }
      } finally {
        socket.end();
      }
    })();
    const connection = { socket, done };
    this.#connections.add(connection);
    this.#connectionsPeak = Math.max(this.#connectionsPeak, this.#connections.size);
    void done.finally(() => this.#connections.delete(connection));
  }

  /** Says so for the 1st, 2nd, 4th, 8th... refused connection, so a flood of them is not a flood of lines. */
  #refused(): void {
    this.#connectionsRefused++;
    if ((this.#connectionsRefused & (this.#connectionsRefused - 1)) !== 0) return;
    this.#options.onEvent({ type: 'connection-refused', message: `${this.#connectionsMax} connections are open; a new one was closed at once (${this.#connectionsRefused} so far)`, connectionsRefused: this.#connectionsRefused });
  }

  async #listen(): Promise<void> {
    const listen = this.#options.listen;
    let address: string;
    if ('socketPath' in listen) {
      await removeStaleSocket(listen.socketPath);
      const directoryWarning = othersMayWrite(dirname(listen.socketPath));
      if (directoryWarning !== null) this.#options.onEvent({ type: 'warning', message: directoryWarning });
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        // bind() makes the socket file 0777 less the umask, synchronously inside listen(): with
        // this umask it is born with exactly `mode`, never wider for a moment, whatever the caller's umask.
        const mode = this.#options.socketMode ?? socketModeDefault;
        const umask = process.umask(0o777 & ~mode);
        try {
          this.#server.listen(listen.socketPath, () => resolve());
        } finally {
          process.umask(umask);
        }
      });
      address = `unix:${listen.socketPath}`;
    } else {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(listen.port, listen.host, () => resolve());
      });
      const bound = this.#server.address();
      address = typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : `${listen.host}:${listen.port}`;
    }
    this.#options.onEvent({ type: 'listening', address, exportName: this.#volume.name, sizeBytes: this.#volume.sizeBytes });
  }
}

function parseControl(payload: Buffer): { holdTimeoutMs?: number; name?: string } {
  if (payload.length === 0) return {};
  const value: unknown = JSON.parse(payload.toString('utf8'));
  if (typeof value !== 'object' || value === null) throw new Error('the request is not a JSON object');
  return value as { holdTimeoutMs?: number; name?: string };
}

/**
 * A socket file left by a server that is gone is removed; one a live server answers on is
 * refused, and so is anything that is not a socket (it is left as it is).
 */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!lstatSync(path).isSocket()) throw holdfastError('HOLDFAST_USAGE', { operation: 'listen on', path }, 'it exists and is not a socket (it is left as it is; give another --socket path)');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return;
    throw error;
  }
  const answered = await new Promise<boolean>((resolve) => {
    const probe = connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
  if (answered) throw holdfastError('HOLDFAST_LOCKED', { operation: 'listen on', path }, 'another server is listening on this socket');
  unlinkSync(path);
}

/** A warning when users other than the owner may write to `directory` (and so remove or replace the socket), else null. */
function othersMayWrite(directory: string): string | null {
  const mode = statSync(directory).mode;
  if ((mode & 0o002) === 0) return null;
  return `the socket's directory "${directory}" is writable by every user (mode ${(mode & 0o7777).toString(8)}): ${(mode & 0o1000) === 0 ? 'another user can replace the socket' : 'another user can take the socket\'s name while no server holds it'}; prefer a directory only you can write, such as $XDG_RUNTIME_DIR`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

