/**
 * check's look at every pack's own header, without reading the pack's data: the header is read
 * from the pack's end (two ranged reads), authenticated and decoded, and compared with the index.
 *
 * Why plain check does this: a pack whose header is damaged (its last bytes cut off, a byte of the
 * header flipped, garbage appended) still restores through the index, but `repair index` cannot
 * read it, so the day the index is lost its blobs are lost with it. And an index entry that the
 * header contradicts (another offset, size or type, or a blob the pack does not hold) reads
 * wrong bytes. Neither shows in the sizes alone.
 *
 * For each pack the index names, every blob it names there must be in the header with the same
 * offset, stored size, raw size and type, and the header's blobs must end where the header
 * begins (so the pack's size is the header's end). A contradicted blob is marked damaged (when
 * that location is the one readers use). A pack whose header does not read is returned, so that
 * check can name the snapshots that need it. Packs no index names have their header read too:
 * a damaged one can never be indexed again.
 */
import { isErrorCode } from '../errors/holdfast-error.js';
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { loadPackLayout } from '../repo/pack-header.js';
import type { Repository } from '../repo/repository.js';
import { forEachIndexedPack, type CheckIndex } from './check-index.js';

export type PackProblem = (subject: string, message: string) => void;

/** A pack whose header could not be read: its number in the check index (-1 when no index names it). */
export interface UnreadableHeader {
  packName: string;
  packNumber: number;
  message: string;
}

/** Header entries listed in one message about a pack; the rest are counted. */
const mismatchesNamedMax = 5;

/**
 * Reads every stored pack's header and compares it with `index` (see above). Mismatches are
 * reported through `report` at once; the packs whose header does not read are returned for the
 * caller to report (with the snapshots that need them). A pack that vanished since `stored` was
 * listed is left alone (a prune beside check; the sizes check already saw it).
 */
export async function checkPackHeaders(repository: Repository, index: CheckIndex, stored: ReadonlyMap<string, number>, report: PackProblem, onProgress?: (done: number, total: number) => void): Promise<UnreadableHeader[]> {
  const unreadable = new Map<string, UnreadableHeader>();
  const done = new Set<string>();
  // The last header read: a pack normally comes once, but one split over index files comes again.
  let last: { name: string; blobs: Map<string, PackedBlob> } | null = null;
  const header = async (name: string, packNumber: number): Promise<Map<string, PackedBlob> | null> => {
    if (last?.name === name) return last.blobs;
    if (unreadable.has(name)) return null;
    onProgress?.(done.size, stored.size);
    done.add(name);
    try {
      const layout = await loadPackLayout(repository, name, stored.get(name));
      const end = layout.blobs.reduce((bytes, blob) => Math.max(bytes, blob.offsetBytes + blob.storedBytes), 0);
      if (end !== layout.headerOffsetBytes) report(`pack ${name.slice(0, 16)}`, `its header's blobs end at byte ${end} but the header begins at byte ${layout.headerOffsetBytes} (damaged)`);
      last = { name, blobs: new Map(layout.blobs.map((blob) => [blob.id.toString('hex'), blob])) };
      return last.blobs;
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return null;
      unreadable.set(name, { packName: name, packNumber, message: (error as Error).message });
      return null;
    }
  };
  await forEachIndexedPack(repository, index, async (name, blobs) => {
    if (!stored.has(name)) return;
    const packNumber = index.packNumbers.get(name)!;
    const fromHeader = await header(name, packNumber);
    if (fromHeader !== null) compareWithHeader(index, name, packNumber, blobs, fromHeader, report);
  });
  for (const name of stored.keys()) if (!done.has(name)) await header(name, index.packNumbers.get(name) ?? -1);
  return [...unreadable.values()];
}

/** Reports (and marks damaged) the index's blobs of one pack that its header contradicts. */
function compareWithHeader(index: CheckIndex, packName: string, packNumber: number, indexed: readonly PackedBlob[], fromHeader: ReadonlyMap<string, PackedBlob>, report: PackProblem): void {
  const wrong: string[] = [];
  for (const blob of indexed) {
    const hex = blob.id.toString('hex');
    const own = fromHeader.get(hex);
    let why: string | null = null;
    if (own === undefined) why = 'is not in the pack';
    else if (own.type !== blob.type || own.offsetBytes !== blob.offsetBytes || own.storedBytes !== blob.storedBytes || own.rawBytes !== blob.rawBytes) {
      why = `is indexed as ${describe(blob)} but the pack holds it as ${describe(own)}`;
    }
    if (why === null) continue;
    wrong.push(`blob ${hex.slice(0, 16)} ${why}`);
    // Only the first location counts: it is the one every reader uses.
    const entry = index.table.find(blob.id);
    if (entry >= 0 && index.table.packNumber(entry) === packNumber) index.table.mark(entry);
  }
  if (wrong.length === 0) return;
  const more = wrong.length > mismatchesNamedMax ? ` and ${wrong.length - mismatchesNamedMax} more` : '';
  report(`pack ${packName.slice(0, 16)}`, `its header contradicts the index: ${wrong.slice(0, mismatchesNamedMax).join('; ')}${more}`);
}

function describe(blob: PackedBlob): string {
  return `${blob.type} at ${blob.offsetBytes}, ${blob.storedBytes} bytes stored, ${blob.rawBytes} raw`;
}
