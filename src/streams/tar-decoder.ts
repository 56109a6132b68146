/**
 * A tar archive -> entries pushed into an EntrySink (a restorer). Reads POSIX ustar and pax
 * (GNU tar, bsdtar), GNU's own format ('L'/'K' long names, old 'S' sparse) and v7, as GNU tar
 * 1.34 reads them: pax 'x' records apply to the next member, 'g' records to all that follow.
 * Members that are no entries ('V' volume labels, 'M' continuations, 'N') are skipped. What it
 * reads leniently, as GNU tar does (blank or NUL-led numbers, hard links and directories with a
 * size but no data, a pax time with garbage after it, reported through onWarning), is listed
 * with the reasons in docs/tar-reading.md.
 *
 * It streams: an entry reaches the sink once its headers (and a sparse map) are complete, its data
 * then goes through in the input's own pieces (never a whole file in memory), so everything
 * before a bad spot has been delivered whole. Errors name the entry's path and the byte:
 * a bad checksum or pax record is HOLDFAST_FORMAT_INVALID, input that ends inside a member or a
 * header HOLDFAST_FORMAT_TRUNCATED, a size or count over tarLimits HOLDFAST_LIMIT_EXCEEDED.
 *
 * The end: two zero blocks; one zero block followed by anything or nothing is accepted too
 * (GNU tar warns "A lone zero block" and exits 0). Input that ends at a header boundary without
 * zero blocks is accepted, because GNU tar 1.34 accepts it silently; ending inside a header is
 * an error here although GNU tar ignores a partial last block.
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError, type ErrorContext } from '../errors/holdfast-error.js';
import type { Extent } from '../format/entry.js';
import type { IdLookup } from '../format/tar/acl-text.js';
import { memberContext } from '../format/tar/context.js';
import { planTarEntry, type EntryMetadata, type TarEntryPlan } from '../format/tar/entry-decoding.js';
import { paddedBytes } from '../format/tar/entry-encoding.js';
import { blockBytes, decodeHeader, isZeroBlock, typeflags, type TarHeader } from '../format/tar/header.js';
import { checkTarLimit } from '../format/tar/limits.js';
import { applyGlobalRecords } from '../format/tar/pax-attributes.js';
import { decodePaxRecords } from '../format/tar/pax.js';
import { decodeOldGnuSparseExtension, normalizeSparseMap, SparseMapReader } from '../format/tar/sparse.js';
import type { ByteInput, EntrySink } from './entry-pipe.js';

export interface TarDecoderOptions {
  /** Resolves owner names in ACLs that carry no id (GNU tar writes names only). */
  lookupId?: IdLookup;
  /** Names the archive in messages about a spot that belongs to no entry yet. */
  archiveName?: string;
  /** Something of an entry was read leniently, as GNU tar reads it (a pax time with garbage after it). */
  onWarning?: (path: string, message: string) => void;
}

const operation = 'read tar archive';

/** A meta-header ('x', 'L', 'K') waiting for the member it describes. */
interface PendingHeader {
  typeflag: string;
  /** The meta-header's own name: GNU tar's "dir/PaxHeaders/base" names the entry it is for. */
  name: Buffer;
  data: Buffer;
  positionBytes: number;
}

export async function decodeTar(input: ByteInput, sink: EntrySink, options: TarDecoderOptions = {}): Promise<{ entryCount: number }> {
  return new TarDecoder(input, sink, options).run();
}

class TarDecoder {
  readonly #input: ByteInput;
  readonly #sink: EntrySink;
  readonly #options: TarDecoderOptions;
  readonly #block = Buffer.alloc(blockBytes);
  readonly #global = new Map<string, Buffer>();
  #globalBytes = 0;
  #pending: PendingHeader[] = [];
  #pendingBytes = 0;
  #previousPath: Buffer | null = null;
  #entryCount = 0;

  constructor(input: ByteInput, sink: EntrySink, options: TarDecoderOptions) {
    this.#input = input;
    this.#sink = sink;
    this.#options = options;
  }

  async run(): Promise<{ entryCount: number }> {
    for (;;) {
      const positionBytes = this.#input.positionBytes;
      const filled = await readInto(this.#input, this.#block);
      if (filled === 0 || (filled === blockBytes && isZeroBlock(this.#block))) {
        this.#checkNothingPending(filled === 0 ? `the archive ends at byte ${positionBytes} after` : `the end-of-archive block at byte ${positionBytes} follows`);
        return { entryCount: this.#entryCount };
      }
      if (filled < blockBytes) throw this.#partialHeader(positionBytes, filled);
      const tar = decodeHeader(this.#block, positionBytes, operation);
      if (await this.#readMetaHeader(tar, positionBytes)) continue;
      await this.#readEntry(tar, positionBytes);
    }
  }

  /** Handles members that are not entries; false for an entry. */
  async #readMetaHeader(tar: TarHeader, positionBytes: number): Promise<boolean> {
    const context = memberContext(operation, tar.name);
    switch (tar.typeflag) {
      case typeflags.paxExtended:
      case typeflags.gnuLongName:
      case typeflags.gnuLongLink: {
        const isPax = tar.typeflag === typeflags.paxExtended;
        const limit = isPax ? 'paxHeaderBytesMax' : tar.typeflag === typeflags.gnuLongName ? 'pathBytesMax' : 'linkTargetBytesMax';
        // 'L' and 'K' data end in a NUL, one byte over the name itself.
        checkTarLimit(limit, isPax ? tar.sizeBytes : tar.sizeBytes - 1, `the ${isPax ? 'pax header' : 'long name'} at byte ${positionBytes}`, context);
        this.#pendingBytes += tar.sizeBytes;
        checkTarLimit('paxHeaderBytesMax', this.#pendingBytes, 'the pax and long-name headers of one member together', context);
        const data = await this.#readMetaData(tar, context);
        this.#pending.push({ typeflag: tar.typeflag, name: tar.name, data, positionBytes: positionBytes + blockBytes });
        return true;
      }
      case typeflags.paxGlobal: {
        checkTarLimit('paxHeaderBytesMax', tar.sizeBytes, `the global pax header at byte ${positionBytes}`, context);
        const data = await this.#readMetaData(tar, context);
        applyGlobalRecords(this.#global, decodePaxRecords(data, positionBytes + blockBytes, context));
        this.#globalBytes += data.length;
        checkTarLimit('paxHeaderBytesMax', this.#globalBytes, 'the global pax headers together', context);
        return true;
      }
      case typeflags.gnuVolumeLabel:
      case typeflags.gnuMultiVolume:
      case typeflags.gnuNames:
        await this.#pass(tar.sizeBytes, context, false, 'the data of a member that is no entry');
        await this.#pass(paddedBytes(tar.sizeBytes) - tar.sizeBytes, context, false, 'the padding after a member');
        return true;
      default:
        return false;
    }
  }

  async #readMetaData(tar: TarHeader, context: ErrorContext): Promise<Buffer> {
    const data = Buffer.allocUnsafe(tar.sizeBytes);
    const filled = await readInto(this.#input, data);
    if (filled < data.length) {
      throw truncated(context, `the archive ends at byte ${this.#input.positionBytes} inside a header's data (${filled} of ${data.length} bytes)`);
    }
    await this.#pass(paddedBytes(data.length) - data.length, context, false, 'the padding after a header');
    return data;
  }

  #takeMetadata(tar: TarHeader): EntryMetadata {
    // A malformed record is reported under the name the member's own header gives it.
    const context = memberContext(operation, tar.name);
    const metadata: EntryMetadata = { localRecords: [], longName: null, longLink: null };
    for (const pending of this.#pending) {
      if (pending.typeflag === typeflags.paxExtended) metadata.localRecords.push(...decodePaxRecords(pending.data, pending.positionBytes, context));
      else if (pending.typeflag === typeflags.gnuLongName) metadata.longName = untilNul(pending.data);
      else metadata.longLink = untilNul(pending.data);
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    return metadata;
  }

  async #readEntry(tar: TarHeader, positionBytes: number): Promise<void> {
    const plan = planTarEntry(tar, this.#block, this.#takeMetadata(tar), this.#global, this.#options.lookupId, operation);
    const context = memberContext(operation, plan.header.path);
    for (const warning of plan.warnings) this.#options.onWarning?.(context.path, warning);
    const mapBytes = plan.header.type === 'file' ? await this.#readSparseMap(plan, context) : 0;
    const dataBytes = plan.memberBytes - mapBytes;
    if (plan.header.sparseMap !== null) {
      const extentBytes = plan.header.sparseMap.reduce((sum, extent) => sum + extent.lengthBytes, 0);
      if (extentBytes !== dataBytes) {
        throw holdfastError('HOLDFAST_FORMAT_INVALID', context, `its sparse map holds ${extentBytes} bytes of data but the member at byte ${positionBytes} has ${dataBytes}`);
      }
    }
    await this.#sink.beginEntry(plan.header);
    await this.#pass(dataBytes, context, plan.header.type === 'file', 'its data');
    await this.#pass(paddedBytes(plan.memberBytes) - plan.memberBytes, context, false, 'the padding after its data');
    await this.#sink.endEntry();
    this.#entryCount++;
    this.#previousPath = plan.header.path;
  }

  /** Completes plan.header.sparseMap; returns the bytes of the member the map took. */
  async #readSparseMap(plan: TarEntryPlan, context: ErrorContext): Promise<number> {
    const { sparse } = plan;
    if (sparse.kind === 'none') return 0;
    let extents: Extent[];
    let mapBytes = 0;
    if (sparse.kind === 'map-in-data') {
      const reader = new SparseMapReader(context);
      do {
        if (reader.blockCount * blockBytes >= plan.memberBytes) throw holdfastError('HOLDFAST_FORMAT_INVALID', context, 'its sparse map runs past the member');
        await this.#readBlock(context, 'its sparse map');
      } while (!reader.push(this.#block));
      extents = reader.extents();
      mapBytes = reader.blockCount * blockBytes;
    } else {
      extents = [...sparse.extents];
      for (let more = sparse.extensionBlocksFollow; more; ) {
        await this.#readBlock(context, 'an old GNU sparse extension block');
        const part = decodeOldGnuSparseExtension(this.#block, context);
        extents.push(...part.extents);
        checkTarLimit('sparseExtentCountMax', extents.length, 'the number of extents in the sparse map', context);
        more = part.isExtended;
      }
    }
    plan.header.sparseMap = normalizeSparseMap(extents, plan.header.sizeBytes, context);
    return mapBytes;
  }

  async #readBlock(context: ErrorContext, what: string): Promise<void> {
    const filled = await readInto(this.#input, this.#block);
    if (filled < blockBytes) throw truncated(context, `the archive ends at byte ${this.#input.positionBytes} inside ${what}`);
  }

  /** Reads lengthBytes of the current member, handing them to the sink when `deliver`. */
  async #pass(lengthBytes: number, context: ErrorContext, deliver: boolean, what: string): Promise<void> {
    let remaining = lengthBytes;
    while (remaining > 0) {
      const piece = await this.#input.readUpTo(remaining);
      if (piece === null) {
        throw truncated(context, `the archive ends at byte ${this.#input.positionBytes} inside ${what} (${lengthBytes - remaining} of ${lengthBytes} bytes)`);
      }
      remaining -= piece.length;
      if (deliver) await this.#sink.writeData(piece);
    }
  }

  /** At the end of the input or archive: pax or long-name headers must not be left waiting. */
  #checkNothingPending(where: string): void {
    if (this.#pending.length === 0) return;
    throw truncated(memberContext(operation, this.#pendingPath()), `${where} a pax or long-name header, before the member it describes`);
  }

  #partialHeader(positionBytes: number, filled: number): Error {
    const name = untilNul(this.#block.subarray(0, Math.min(filled, 100)));
    const after = this.#previousPath === null ? '' : `, after the entry "${displayPath(this.#previousPath)}"`;
    const context = memberContext(operation, name.length > 0 ? name : Buffer.from(this.#options.archiveName ?? 'archive'));
    return truncated(context, `the archive ends at byte ${positionBytes + filled} inside a header (${filled} of ${blockBytes} bytes)${after}`);
  }

  /** The path the pending headers give their member: a path record, an 'L' name, else a header's name. */
  #pendingPath(): Buffer {
    let path: Buffer | null = null;
    for (const pending of this.#pending) {
      path ??= pending.name;
      if (pending.typeflag === typeflags.gnuLongName) path = untilNul(pending.data);
      if (pending.typeflag !== typeflags.paxExtended) continue;
      try {
        const records = decodePaxRecords(pending.data, pending.positionBytes, { operation, path: '' });
        path = records.findLast((record) => record.key === 'path')?.value ?? path;
      } catch {
        // A malformed header gives no path; the header's own name stands.
      }
    }
    return path === null || path.length === 0 ? Buffer.from(this.#options.archiveName ?? 'archive') : path;
  }
}

function truncated(context: ErrorContext, reason: string): Error {
  return holdfastError('HOLDFAST_FORMAT_TRUNCATED', context, reason);
}

/** Fills target from the input; returns how many bytes it got (fewer only at the end). */
async function readInto(input: ByteInput, target: Buffer): Promise<number> {
  let filled = 0;
  while (filled < target.length) {
    const piece = await input.readUpTo(target.length - filled);
    if (piece === null) break;
    piece.copy(target, filled);
    filled += piece.length;
  }
  return filled;
}

function untilNul(data: Buffer): Buffer {
  const nul = data.indexOf(0);
  return nul === -1 ? data : data.subarray(0, nul);
}
