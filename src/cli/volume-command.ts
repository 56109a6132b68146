/**
 * holdfast volume serve IMAGE [--socket PATH | --listen HOST:PORT] [--export NAME] [--bitmap NAME]
 *                       [--read-only] [--state-dir DIR] [--snapshot-space SIZE] [--socket-mode MODE]
 * holdfast volume snapshot (--socket PATH | --listen HOST:PORT) [--freeze MOUNTPOINT]
 *                          [--hold-timeout 10s] [--drop NAME]
 */
import { parseArgs } from 'node:util';
import { createNodeIo, holdTimeoutMsDefault, NbdServer, requestDropSnapshot, requestSnapshot, type ServerAddress, type ServerEvent } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { formatBytes } from './reporter.js';
import { exitCodeOf, parseDuration } from './repository-options.js';

export const volumeUsage = `Usage: holdfast volume serve IMAGE [--socket PATH | --listen HOST:PORT] [--export NAME]
                             [--bitmap NAME] [--read-only] [--state-dir DIR] [--snapshot-space SIZE]
                             [--socket-mode MODE]
       holdfast volume snapshot (--socket PATH | --listen HOST:PORT) [--freeze MOUNTPOINT]
                                [--hold-timeout 10s] [--drop NAME]

serve: exports IMAGE (a regular file) over NBD (fixed newstyle, structured replies,
base:allocation and qemu:dirty-bitmap:NAME) until SIGINT or SIGTERM. Every block written
(64 KiB granularity) is marked durably in a change map before the write reaches the image; the
map lives in --state-dir (default IMAGE.holdfast), outside the volume. A map that cannot be
proven complete starts a new generation, and says so. Default: --socket IMAGE.sock,
--export "" (the default export), --bitmap holdfast, --snapshot-space = the volume's size.
The socket is created with --socket-mode (octal, default 0600: its owner only) whatever the
umask; a path that exists and is not a socket is refused, and a directory other users may write
(as /tmp) gets a warning. Limits against clients that never read their replies: 16 connections
(more are closed at once), 64 MiB held per connection (write payloads and replies not yet
read: the server stops reading its requests) and 256 MiB in total (beyond that, a connection
holding nothing still gets one request served, so a client that reads its replies goes on).

snapshot: asks the server for a flush-and-hold snapshot: new writes are held (queued, never
failed), writes in flight drain, the image is flushed, the change map is frozen into the
snapshot and a fresh one starts, and writes are released; on --hold-timeout (default 10s) the
snapshot is abandoned and writes released. --freeze freezes the file system mounted there around
the hold (and always thaws it). The snapshot is served read-only beside the live export through
a copy-on-write store; if the store outgrows --snapshot-space the snapshot is abandoned, never the
volume. The last line printed is the snapshot's export name. --drop NAME removes a snapshot.

Options:
  --json   one JSON object per line
`;

export async function volumeCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h') {
    process.stdout.write(volumeUsage);
    return exitCodes.ok;
  }
  if (action === 'serve') return serve(rest);
  if (action === 'snapshot') return snapshot(rest);
  throw new UsageError(`"${action}" is not a volume action; use serve or snapshot`);
}

const addressOptions = { socket: { type: 'string' }, listen: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } as const;

function parseAddress(values: { socket?: string | undefined; listen?: string | undefined }, fallbackSocket: string | null): ServerAddress {
  if (values.socket !== undefined && values.listen !== undefined) throw new UsageError('give --socket or --listen, not both');
  if (values.listen !== undefined) {
    const match = /^(.*):(\d+)$/.exec(values.listen);
    if (match === null) throw new UsageError(`--listen takes HOST:PORT, not "${values.listen}"`);
    return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
  }
  const socketPath = values.socket ?? fallbackSocket;
  if (socketPath === null) throw new UsageError('give the server with --socket PATH or --listen HOST:PORT');
  return { socketPath };
}

/** Permission bits in octal, such as 0600 or 660. */
function parseMode(text: string, option: string): number {
  if (!/^0?[0-7]{3}$/.test(text.trim())) throw new UsageError(`${option} takes permission bits in octal such as 0600 or 0660, not "${text}"`);
  return Number.parseInt(text.trim(), 8);
}

export function parseSize(text: string, option: string): number {
  const match = /^(\d+)([KMGT]i?B?|B)?$/i.exec(text.trim());
  if (match === null) throw new UsageError(`${option} takes a size such as 512M or 4G, not "${text}"`);
  const unit = (match[2] ?? 'B').toUpperCase().charAt(0);
  return Number(match[1]) * ({ B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 } as Record<string, number>)[unit]!;
}

async function serve(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...addressOptions,
      export: { type: 'string', default: '' },
      bitmap: { type: 'string', default: 'holdfast' },
      'read-only': { type: 'boolean', default: false },
      'state-dir': { type: 'string' },
      'snapshot-space': { type: 'string' },
      'socket-mode': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(volumeUsage);
    return exitCodes.ok;
  }
  if (positionals.length !== 1) throw new UsageError('give one IMAGE to serve');
  const image = positionals[0]!;
  const listen = parseAddress(values, `${image}.sock`);
  const say = (event: ServerEvent): void => {
    if (values.json) {
      process.stdout.write(`${JSON.stringify(event)}\n`);
      return;
    }
    if (event.type === 'warning') process.stderr.write(`holdfast volume serve: warning: ${event.message}\n`);
    else process.stdout.write(`${describeEvent(event)}\n`);
  };
  // The CLI's own SIGINT handler exits at once; a server must first finish its requests and
  // record a clean stop in the change map. Listened for before the server says it listens, so a
  // client that stops it at once is heard.
  process.removeAllListeners('SIGINT');
  const stopRequested = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  let server: NbdServer;
  try {
    server = await NbdServer.start(createNodeIo(), {
      image,
      listen,
      exportName: values.export,
      bitmapName: values.bitmap,
      readOnly: values['read-only'],
      ...(values['state-dir'] === undefined ? {} : { stateDirectory: values['state-dir'] }),
      ...(values['snapshot-space'] === undefined ? {} : { snapshotStoreBytesMax: parseSize(values['snapshot-space'], '--snapshot-space') }),
      ...(values['socket-mode'] === undefined ? {} : { socketMode: parseMode(values['socket-mode'], '--socket-mode') }),
      onEvent: say,
    });
  } catch (error) {
    process.stderr.write(`holdfast volume serve: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCodeOf(error);
  }
  await stopRequested;
  await server.close();
  if (!values.json) process.stdout.write('stopped cleanly; the change map is saved\n');
  return exitCodes.ok;
}

function describeEvent(event: ServerEvent): string {
  switch (event.type) {
    case 'tracking':
      if (event.resetReason !== null) return `change tracking reset: ${event.resetReason}; new generation ${event.generation}, so the next backup reads everything`;
      return `change tracking resumed: generation ${event.generation}, after snapshot ${event.sequence}${event.resumedAfterUncleanStop ? ' (after an unclean stop: the map is complete, since every mark was durable before its write)' : ''}`;
    case 'listening':
      return `serving export "${event.exportName}" (${formatBytes(event.sizeBytes)}) on ${event.address}`;
    case 'snapshot':
      return `snapshot ${event.name}: held writes for ${event.holdMs.toFixed(1)} ms (${event.writesQueued} queued), ${event.changedBlocks} blocks changed since the previous snapshot`;
    case 'snapshot-abandoned':
      return `snapshot ${event.name} abandoned: ${event.reason}`;
    case 'connection-error':
      return `connection closed: ${event.message}`;
    case 'connection-refused':
      return `connection refused: ${event.message}`;
    case 'warning':
      return `warning: ${event.message}`;
  }
}

async function snapshot(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: { ...addressOptions, freeze: { type: 'string' }, 'hold-timeout': { type: 'string' }, drop: { type: 'string' } },
  });
  if (values.help) {
    process.stdout.write(volumeUsage);
    return exitCodes.ok;
  }
  const address = parseAddress(values, null);
  try {
    if (values.drop !== undefined) {
      await requestDropSnapshot(address, values.drop);
      process.stdout.write(values.json ? `${JSON.stringify({ type: 'dropped', name: values.drop })}\n` : `dropped ${values.drop}\n`);
      return exitCodes.ok;
    }
    const holdTimeoutMs = values['hold-timeout'] === undefined ? holdTimeoutMsDefault : parseDuration(values['hold-timeout'], '--hold-timeout');
    const taken = await requestSnapshot(createNodeIo(), address, { holdTimeoutMs, ...(values.freeze === undefined ? {} : { freezeMountPoint: values.freeze }) });
    if (values.json) process.stdout.write(`${JSON.stringify({ type: 'snapshot', ...taken })}\n`);
    else process.stdout.write(`held writes for ${taken.holdMs.toFixed(1)} ms${taken.frozenMs === null ? '' : `, file system frozen for ${taken.frozenMs.toFixed(1)} ms`}; ${taken.changedBlocks} blocks changed since the previous snapshot\n`);
    process.stdout.write(`${taken.name}\n`);
    return exitCodes.ok;
  } catch (error) {
    process.stderr.write(`holdfast volume snapshot: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCodeOf(error);
  }
}
