/**
 * Reading a pack's own header: the sealed list of its blobs at its end, followed by the header's
 * length (u32 little-endian). With it a pack can be understood without any index (repair, prune,
 * check --read-data).
 */
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { decodePackHeader } from '../format/repo/pack-codec.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { packHeaderAssociatedData } from './pack-writer.js';
import type { Repository } from './repository.js';
import { open } from './seal.js';

const lengthBytes = 4;

/** The blobs of a pack whose bytes are all in `bytes`; throws HOLDFAST_INTEGRITY/FORMAT_* when damaged. */
export function openPackHeader(repository: Repository, bytes: Buffer, name: string): PackedBlob[] {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read pack header of', path: name }, reason);
  if (bytes.length < lengthBytes) throw fail('the pack is shorter than its header length');
  const headerBytes = bytes.readUInt32LE(bytes.length - lengthBytes);
  if (headerBytes > bytes.length - lengthBytes) throw fail(`its header length ${headerBytes} is larger than the pack`);
  const start = bytes.length - lengthBytes - headerBytes;
  const plain = open(repository.master.encryptionKey, bytes.subarray(start, bytes.length - lengthBytes), packHeaderAssociatedData, { operation: 'read pack header of', path: name });
  return decodePackHeader(plain, start, name);
}

/** The blobs of a stored pack, reading only its end. */
export async function loadPackHeader(repository: Repository, packName: string): Promise<PackedBlob[]> {
  return (await loadPackLayout(repository, packName)).blobs;
}

export interface PackLayout {
  blobs: PackedBlob[];
  /** Where the sealed header begins: the pack's blobs, written back to back, end here. */
  headerOffsetBytes: number;
}

/**
 * The blobs of a stored pack and where its header begins, reading only its end (two ranged
 * reads); `sizeBytes` when the caller has it from a listing, else the backend is asked.
 */
export async function loadPackLayout(repository: Repository, packName: string, sizeBytes?: number): Promise<PackLayout> {
  const packBytes = sizeBytes ?? (await repository.backend.stat('data', packName)).sizeBytes;
  const path = `pack ${packName}`;
  if (packBytes < lengthBytes) throw holdfastError('HOLDFAST_FORMAT_TRUNCATED', { operation: 'read pack header of', path }, 'the pack is shorter than its header length');
  const tail = await repository.backend.load('data', packName, { offsetBytes: packBytes - lengthBytes, lengthBytes });
  const headerBytes = tail.readUInt32LE(0);
  if (headerBytes > packBytes - lengthBytes) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read pack header of', path }, `its header length ${headerBytes} is larger than the pack`);
  const start = packBytes - lengthBytes - headerBytes;
  const sealed = await repository.backend.load('data', packName, { offsetBytes: start, lengthBytes: headerBytes });
  const plain = open(repository.master.encryptionKey, sealed, packHeaderAssociatedData, { operation: 'read pack header of', path });
  return { blobs: decodePackHeader(plain, start, path), headerOffsetBytes: start };
}
