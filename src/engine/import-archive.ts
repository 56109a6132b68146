/**
 * import: a backup stream or a tar (plain, gzip or zstd) read from a handle, restored under a
 * target directory. The format is told by the first bytes unless the caller says it.
 */
import type { BufferPool } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import { iterableInput } from '../streams/byte-input.js';
import type { ByteInput } from '../streams/entry-pipe.js';
import { Restorer, type RestoreOptions, type RestoreSummary } from '../streams/restorer.js';
import { decodeStream } from '../streams/stream-decoder.js';
import { decodeTar } from '../streams/tar-decoder.js';
import { streamMagic } from '../format/stream/record.js';
import { detectCompression, gunzipPieces, handlePieces, remainingPieces, zstdPieces, type Compression } from './input-pieces.js';

export type ImportFormat = 'auto' | 'stream' | 'tar';

export interface ImportOptions extends RestoreOptions {
  format: ImportFormat;
  /** Two leases are held: one for input, one for file data. */
  pool: BufferPool;
  /** Names the input in messages ("stdin", a path). */
  inputName: string;
}

export interface ImportSummary extends RestoreSummary {
  format: 'stream' | 'tar';
  compression: Compression;
}

const pieceBytesMax = 1024 * 1024;

/**
 * Restores everything the input holds. A corrupt or truncated input throws after every complete
 * entry before the break was restored (and directories got their modes and times).
 */
export async function importArchive(io: Io, input: Handle, target: Buffer, options: ImportOptions): Promise<ImportSummary> {
  const raw = iterableInput(handlePieces(io, input, options.pool), options.inputName);
  let decoded: ByteInput & { close(): Promise<void> } = raw;
  try {
    const compression = await detectCompression(raw);
    if (compression === 'gzip') decoded = iterableInput(gunzipPieces(remainingPieces(raw, pieceBytesMax)), options.inputName);
    if (compression === 'zstd') decoded = iterableInput(zstdPieces(remainingPieces(raw, pieceBytesMax), options.inputName), options.inputName);
    const format = options.format === 'auto' ? await detectFormat(decoded) : options.format;
    const restorer = new Restorer(io, target, options.pool, options);
    let decoderWarnings = 0;
    const onWarning = (path: string, message: string): void => {
      decoderWarnings++;
      options.onWarning(path, message);
    };
    let failure: unknown = null;
    try {
      if (format === 'stream') await decodeStream(decoded, restorer, options.inputName);
      else await decodeTar(decoded, restorer, { lookupId: (kind, name) => options.ownerNames.idOf(kind, name), onWarning });
    } catch (error) {
      failure = error;
    }
    const summary = await restorer.finish();
    if (failure !== null) throw failure;
    return { ...summary, warnings: summary.warnings + decoderWarnings, format, compression };
  } finally {
    await decoded.close();
    if (decoded !== raw) await raw.close();
  }
}

async function detectFormat(input: ByteInput): Promise<'stream' | 'tar'> {
  const head = await input.peek(streamMagic.length);
  return head.equals(streamMagic) ? 'stream' : 'tar';
}
