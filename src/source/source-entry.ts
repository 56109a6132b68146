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
}
