/**
 * An EntrySink that keeps what it is given, for codec tests: each entry's header and a copy of
 * its data, and whether the entry ended.
 */
import type { EntryHeader } from '../format/entry.js';
import type { EntrySink, SourceEntry } from '../streams/entry-pipe.js';

export interface CollectedEntry {
  header: EntryHeader;
  data: Buffer;
  ended: boolean;
}

export class CollectingSink implements EntrySink {
  readonly entries: CollectedEntry[] = [];
  #pieces: Buffer[] = [];

  beginEntry(header: EntryHeader): Promise<void> {
    this.#pieces = [];
    this.entries.push({ header: cloneHeader(header), data: Buffer.alloc(0), ended: false });
    return Promise.resolve();
  }

  writeData(bytes: Buffer): Promise<void> {
    this.#pieces.push(Buffer.from(bytes));
    this.entries.at(-1)!.data = Buffer.concat(this.#pieces);
    return Promise.resolve();
  }

  endEntry(): Promise<void> {
    this.entries.at(-1)!.ended = true;
    return Promise.resolve();
  }
}

/** SourceEntries from headers and whole data buffers, handed out in pieces of pieceBytes. */
export async function* sourceEntries(items: readonly { header: EntryHeader; data: Buffer }[], pieceBytes = 65536): AsyncGenerator<SourceEntry> {
  for (const item of items) {
    await Promise.resolve();
    yield {
      header: item.header,
      data: async function* () {
        for (let offset = 0; offset < item.data.length; offset += pieceBytes) {
          yield item.data.subarray(offset, offset + pieceBytes);
          await Promise.resolve();
        }
      },
    };
  }
}

/** A deep copy that keeps Buffers as Buffers (structuredClone would make them Uint8Arrays). */
export function cloneHeader(header: EntryHeader): EntryHeader {
  return {
    ...header,
    path: Buffer.from(header.path),
    linkTarget: header.linkTarget === null ? null : Buffer.from(header.linkTarget),
    xattrs: header.xattrs.map((xattr) => ({ name: xattr.name, value: Buffer.from(xattr.value) })),
    aclAccess: header.aclAccess === null ? null : header.aclAccess.map((entry) => ({ ...entry })),
    aclDefault: header.aclDefault === null ? null : header.aclDefault.map((entry) => ({ ...entry })),
    sparseMap: header.sparseMap === null ? null : header.sparseMap.map((extent) => ({ ...extent })),
  };
}
