/**
 * NbdExport: what the NBD server serves under one export name — the live volume (volume.ts) or a
 * read-only snapshot of it (snapshot-export.ts). The transmission loop (nbd-transmission.ts)
 * checks ranges, flags and modes before calling, so an export sees only well-formed requests.
 *
 * Failures of the underlying I/O are thrown with an errno name as `code` (EIO, ENOSPC, EPERM,
 * EINVAL, ENOTSUP, ESHUTDOWN); the server answers that request with it and keeps the connection.
 */
import type { StatusExtent } from '../format/nbd/transmission-codec.js';

export type ReadPiece = { kind: 'data'; offset: number; bytes: Buffer } | { kind: 'hole'; offset: number; lengthBytes: number };

export interface WriteZeroesOptions {
  /** NBD_CMD_FLAG_NO_HOLE: the range must stay allocated. */
  noHole: boolean;
  /** NBD_CMD_FLAG_FAST_ZERO: fail with ENOTSUP rather than write zeros slowly. */
  fastZero: boolean;
}

export interface NbdExport {
  readonly name: string;
  /** NBD_INFO_DESCRIPTION and the text of NBD_REP_SERVER. */
  readonly description: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /** The metadata contexts this export answers BLOCK_STATUS for. */
  readonly contextNames: readonly string[];
  /** False once the export is gone (an abandoned snapshot): new connections are refused. */
  readonly available: boolean;

  /** The range as data and hole pieces, in order; `detectHoles` false gives one data piece. */
  read(offset: number, lengthBytes: number, detectHoles: boolean): Promise<ReadPiece[]>;
  /** Writes `bytes`; `fua`: durable before it resolves. */
  write(offset: number, bytes: Buffer, fua: boolean): Promise<void>;
  trim(offset: number, lengthBytes: number, fua: boolean): Promise<void>;
  writeZeroes(offset: number, lengthBytes: number, options: WriteZeroesOptions, fua: boolean): Promise<void>;
  flush(): Promise<void>;
  /** Extents covering at least the first byte of the range, at most its whole length. */
  blockStatus(contextName: string, offset: number, lengthBytes: number): Promise<StatusExtent[]>;
}

/** An errno failure for the server to send back. */
export function errnoError(code: 'EIO' | 'ENOSPC' | 'EPERM' | 'EINVAL' | 'ENOTSUP' | 'ESHUTDOWN', message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** "key=value; key=value" of an export's description, holdfast's contract with its backups. */
export function describeExport(fields: Record<string, string | number>): string {
  return ['holdfast volume', ...Object.entries(fields).map(([key, value]) => `${key}=${value}`)].join('; ');
}
