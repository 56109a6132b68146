/**
 * SourceEntry: what a walker of the file system (or any other source) hands to an encoder.
 */
import type { EntryHeader } from '../format/entry.js';

export interface SourceEntry {
  header: EntryHeader;
  /**
   * The entry's data in order: exactly entryDataBytes(header) bytes over all pieces. Each piece
   * is valid until the next pull. Leaving the loop early releases what the entry holds.
   */
  data(): AsyncIterable<Buffer>;
  /** The source file's device and inode, where the source is a file system. */
  identity?: { device: bigint; inode: bigint };
  /**
   * The walker was told this file has not changed since the last backup and did not open it:
   * the header has only what lstat gives (no xattrs, ACLs or data map) and there is no data.
   */
  unchanged?: boolean;
}
