/**
 * Pack files kept open between ranged reads. A restore of many small files loads one blob at a
 * time from a few packs: opening, checking and closing the pack for each blob cost three trips
 * through the thread pool more than the read itself (issue 17's small-file restore). Here each
 * pack stays open, up to `openMax` of them in order of last use; one in use is never closed
 * under its reader (a count of readers per file), and close() closes every one (Handle.close
 * waits for a read still holding it).
 *
 * Packs never change once saved, so the size the open took (Handle.openedStat) stays true; a
 * pack deleted meanwhile (prune in another process) reads as it was, which is what it held.
 */
import { assert } from '../../base/assert.js';
import type { Handle } from '../../io/handle.js';
import type { Io } from '../../io/io.js';
import type { ByteRange } from './backend.js';

interface KeptFile {
  handle: Promise<Handle<'file'>>;
  readers: number;
  /** The open failed (the reader that asked got the error). */
  failedOpen: boolean;
}

/** Reads a range of an open file, checking it against the file's size (LocalBackend's). */
export type RangeRead = (handle: Handle<'file'>, range: ByteRange) => Promise<Buffer>;

export class OpenPackFiles {
  readonly #io: Io;
  readonly #openMax: number;
  readonly #read: RangeRead;
  /** By path, in order of last use (a Map keeps insertion order; a used file is put last). */
  readonly #kept = new Map<string, KeptFile>();
  readonly #closing = new Set<Promise<void>>();
  /** The first close that failed, thrown by close(). */
  #closeFailure: unknown = null;
  #closed = false;

  constructor(io: Io, openMax: number, read: RangeRead) {
    assert(openMax >= 1, 'at least one pack file is kept open');
    this.#io = io;
    this.#openMax = openMax;
    this.#read = read;
  }

  /** `range` of the file at `path`; HOLDFAST_FORMAT_TRUNCATED past its end, ENOENT when it is missing. */
  async read(path: string, range: ByteRange): Promise<Buffer> {
    assert(!this.#closed, 'a pack file read after close()');
    const kept = this.#use(path);
    kept.readers++;
    try {
      return await this.#read(await kept.handle, range);
    } finally {
      kept.readers--;
      this.#trim();
    }
  }

  /** Closes every kept file; resolves when all are closed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const kept of this.#kept.values()) this.#close(kept);
    this.#kept.clear();
    while (this.#closing.size > 0) await Promise.all(this.#closing);
    if (this.#closeFailure !== null) throw this.#closeFailure;
  }

  #use(path: string): KeptFile {
    let kept = this.#kept.get(path);
    if (kept === undefined) {
      const opened: KeptFile = { handle: this.#io.openFile(path), readers: 0, failedOpen: false };
      // A file that did not open is forgotten, so that the next read tries again.
      opened.handle.catch(() => {
        opened.failedOpen = true;
        if (this.#kept.get(path) === opened) this.#kept.delete(path);
      });
      kept = opened;
    } else {
      this.#kept.delete(path);
    }
    this.#kept.set(path, kept);
    return kept;
  }

  /** Closes the least recently used files that nobody reads, down to openMax. */
  #trim(): void {
    for (const [path, kept] of this.#kept) {
      if (this.#kept.size <= this.#openMax) return;
      if (kept.readers > 0) continue;
      this.#kept.delete(path);
      this.#close(kept);
    }
  }

  #close(kept: KeptFile): void {
    const closing = kept.handle
      .then((handle) => handle.close())
      .catch((error: unknown) => {
        // A file that never opened has nothing to close (its reader got the error).
        if (!kept.failedOpen) this.#closeFailure ??= error;
      })
      .finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }
}
