/**
 * A stream as one regular file of a snapshot (`backup --stdin`, a database dump piped in): the
 * entry is named as the caller says, owned by this process's user, mode 0644, timed now. Its size
 * is not known before the stream ends, so the header's sizeBytes is set when the data has been
 * read to the end (backup stores the header after the data; an encoder that writes the header
 * first cannot take this source).
 */
import { emptyEntryHeader, type EntryHeader } from '../format/entry.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';
import { readOnce } from '../io/transfer.js';
import type { OwnerNames } from './owner-names.js';
import type { SourceEntry } from './source-entry.js';

export interface StreamEntryOptions {
  name: Buffer;
  ownerNames: OwnerNames;
  /** One lease is held while the stream is read. */
  pool: BufferPool;
}

/**
 * One entry whose data is everything `input` gives until its end. Takes ownership of `input`:
 * it is closed (a borrowed stdin detached) when its data has been read, or the reader stopped.
 */
export function streamEntry(io: Io, input: Handle, options: StreamEntryOptions): SourceEntry {
  const header: EntryHeader = emptyEntryHeader(options.name, 'file');
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  Object.assign(header, { mode: 0o644, uid, gid, userName: options.ownerNames.userName(uid), groupName: options.ownerNames.groupName(gid), atimeNs: nowNs, mtimeNs: nowNs, ctimeNs: nowNs });
  return {
    header,
    data: async function* () {
      const lease = await options.pool.acquire();
      try {
        for (;;) {
          const count = await readOnce(io, input, lease);
          if (count === 0) break;
          header.sizeBytes += count;
          yield lease.bytes.subarray(0, count);
        }
      } finally {
        lease.release();
        await input.close();
      }
    },
  };
}
