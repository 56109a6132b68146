/**
 * TreeWriter: a snapshot's entries, in walk order, into tree blobs (format/repo/tree-codec.ts).
 *
 * Blobs are cut at entry boundaries chosen by content: after an entry whose keyed checksum has
 * its low six bits zero (about every 64 entries, once the blob holds 16 KiB), or at 1 MiB. So an
 * entry that changes changes only its own blob, and the blobs of an unchanged stretch of the
 * tree are the same blobs as last time: a no-change backup stores almost no new metadata.
 */
import { crc32 } from 'node:zlib';
import { encodeTreeEntry, treeBlobStart, type TreeEntry } from '../format/repo/tree-codec.js';
import type { BlobSaver } from './blob-saver.js';

export const treeBlobBytesMin = 16 * 1024;
export const treeBlobBytesMax = 1024 * 1024;
const boundaryMask = 0x3f;

export class TreeWriter {
  readonly #saver: BlobSaver;
  readonly #seed: number;
  #pieces: Buffer[] = [];
  #bytes = 0;
  readonly #ids: string[] = [];

  /** `chunkerKey` keys the boundary choice, so blob sizes do not tell which entries they hold. */
  constructor(saver: BlobSaver, chunkerKey: Buffer) {
    this.#saver = saver;
    this.#seed = chunkerKey.readUInt32LE(0);
  }

  async add(entry: TreeEntry): Promise<void> {
    const encoded = encodeTreeEntry(entry);
    this.#pieces.push(encoded);
    this.#bytes += encoded.length;
    const boundary = (crc32(encoded, this.#seed) & boundaryMask) === 0 && this.#bytes >= treeBlobBytesMin;
    if (boundary || this.#bytes >= treeBlobBytesMax) await this.#cut();
  }

  /** The ids (hex) of the snapshot's tree blobs, in order. */
  async finish(): Promise<string[]> {
    await this.#cut();
    return this.#ids;
  }

  async #cut(): Promise<void> {
    if (this.#pieces.length === 0) return;
    const start = treeBlobStart();
    const blob = Buffer.from(new ArrayBuffer(start.length + this.#bytes));
    let at = start.copy(blob, 0);
    for (const piece of this.#pieces) at += piece.copy(blob, at);
    this.#pieces = [];
    this.#bytes = 0;
    const reference = await this.#saver.save('tree', blob);
    this.#ids.push(reference.id.toString('hex'));
  }
}
