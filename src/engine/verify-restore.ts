/**
 * restore --verify: reads every restored regular file back and checks that it cuts into the
 * very chunks the snapshot names (same key, same cut points, same keyed ids), so the data on
 * disk is proven equal to what was backed up, holes included (a hole must read as zeros where
 * the snapshot had a hole; the data map of the snapshot says which bytes are data).
 */
import { displayPath, joinPath } from '../base/file-path.js';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import { readOnce } from '../io/transfer.js';
import { blobId } from '../repo/blob-id.js';
import { Chunker } from '../repo/chunker.js';
import type { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';

export interface VerifySummary {
  filesVerified: number;
  filesDiffering: number;
}

export async function verifyRestoredFiles(io: Io, repository: Repository, snapshot: Snapshot, target: Buffer, subPath: Buffer | null, pool: BufferPool, onMismatch: (path: string, message: string) => void): Promise<VerifySummary> {
  const summary: VerifySummary = { filesVerified: 0, filesDiffering: 0 };
  const cut = subPath === null ? 0 : subPath.lastIndexOf(0x2f) + 1;
  const chunker = new Chunker(repository.master.chunkerKey);
  for await (const entry of snapshotEntries(repository, snapshot)) {
    const path = entry.header.path;
    if (entry.header.type !== 'file') continue;
    if (subPath !== null && !(path.equals(subPath) || (path.subarray(0, subPath.length).equals(subPath) && path[subPath.length] === 0x2f))) continue;
    const name = displayPath(path.subarray(cut));
    let ids: Buffer[];
    try {
      const sizeBytes = (await io.lstat(joinPath(target, path.subarray(cut)))).sizeBytes;
      if (sizeBytes !== entry.header.sizeBytes) throw new Error(`it has ${sizeBytes} bytes, the snapshot ${entry.header.sizeBytes}`);
      ids = await chunkIdsOf(io, joinPath(target, path.subarray(cut)), entry.header.sparseMap ?? [{ offsetBytes: 0, lengthBytes: entry.header.sizeBytes }], chunker, repository.master.idKey, pool);
    } catch (error) {
      summary.filesDiffering++;
      onMismatch(name, `cannot be read back: ${(error as Error).message}`);
      continue;
    }
    const same = ids.length === entry.chunks.length && ids.every((id, index) => id.equals(entry.chunks[index]!.id));
    if (same) summary.filesVerified++;
    else {
      summary.filesDiffering++;
      onMismatch(name, 'the restored data differs from the snapshot');
    }
  }
  return summary;
}

async function chunkIdsOf(io: Io, path: Buffer, extents: readonly { offsetBytes: number; lengthBytes: number }[], chunker: Chunker, idKey: Buffer, pool: BufferPool): Promise<Buffer[]> {
  const ids: Buffer[] = [];
  const handle = await io.openFile(path, { noFollow: true });
  const lease = await pool.acquire();
  try {
    for (const extent of extents) {
      for (let position = extent.offsetBytes; position < extent.offsetBytes + extent.lengthBytes; ) {
        const count = await readOnce(io, handle, lease, { position, lengthBytes: Math.min(lease.sizeBytes, extent.offsetBytes + extent.lengthBytes - position) });
        if (count === 0) throw new Error(`the file ends at byte ${position}`);
        for (const chunk of chunker.push(lease.bytes.subarray(0, count))) ids.push(blobId(idKey, chunk));
        position += count;
      }
    }
    const last = chunker.finish();
    if (last !== null) ids.push(blobId(idKey, last));
  } finally {
    lease.release();
    await handle.close();
  }
  return ids;
}
